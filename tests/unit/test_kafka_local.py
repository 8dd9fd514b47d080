"""Apache Kafka's installer and cluster layout (stream/kafka_local.py), without starting Java."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from stream import kafka_local
from stream.kafka_local import KafkaCluster, KafkaMissing, cluster_id, install, installed


def test_install_names_the_package_when_java_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(kafka_local.shutil, "which", lambda name: None)
    with pytest.raises(KafkaMissing, match="apt-get install openjdk-17-jre-headless"):
        install(cache=tmp_path)
    assert not installed(cache=tmp_path)


def test_install_names_the_package_when_maven_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(kafka_local.shutil, "which",
                        lambda name: "/usr/bin/java" if name == "java" else None)
    monkeypatch.setattr(kafka_local, "java_major", lambda java: 17)
    with pytest.raises(KafkaMissing, match="apt-get install maven"):
        install(cache=tmp_path)


def test_install_refuses_an_old_java(monkeypatch, tmp_path):
    monkeypatch.setattr(kafka_local.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(kafka_local, "java_major", lambda java: 11)
    with pytest.raises(KafkaMissing, match="Java 11; Apache Kafka 4 needs Java 17"):
        install(cache=tmp_path)


def test_a_complete_install_is_left_alone(monkeypatch, tmp_path):
    home = tmp_path / "4.4.0"
    (home / "libs").mkdir(parents=True)
    (home / ".complete").write_text("4.4.0\n")

    def no_run(*args, **kwargs):
        raise AssertionError(f"installed Kafka ran {args}")

    monkeypatch.setattr(kafka_local.subprocess, "run", no_run)
    assert install("4.4.0", cache=tmp_path) == home


def test_an_interrupted_download_is_not_installed(monkeypatch, tmp_path):
    """Maven failing half-way leaves no folder that looks installed."""
    monkeypatch.setattr(kafka_local.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(kafka_local, "java_major", lambda java: 17)

    def failing_maven(cmd, **kwargs):
        out = Path(next(a for a in cmd if a.startswith("-DoutputDirectory=")).split("=", 1)[1])
        out.mkdir(parents=True)
        (out / "kafka-clients-4.4.0.jar").write_bytes(b"half")
        return subprocess.CompletedProcess(cmd, 1, stdout="[ERROR] network", stderr="")

    monkeypatch.setattr(kafka_local.subprocess, "run", failing_maven)
    with pytest.raises(kafka_local.BrokerError, match="Maven could not fetch Apache Kafka"):
        install("4.4.0", cache=tmp_path, quiet=True)
    assert not installed("4.4.0", cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("banner, major", [('openjdk version "17.0.15" 2025-04-15', 17),
                                           ('java version "1.8.0_392"', 8),
                                           ('openjdk version "21" 2023-09-19', 21)])
def test_java_major(monkeypatch, banner, major):
    monkeypatch.setattr(kafka_local.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, stdout="", stderr=banner + "\n"))
    assert kafka_local.java_major("java") == major


def test_cluster_id_is_what_kafka_storage_random_uuid_prints():
    cid = cluster_id()
    assert len(cid) == 22 and "=" not in cid
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16
    assert cid != cluster_id()


def test_three_nodes_are_one_quorum_on_their_own_ports_and_folders(tmp_path):
    cluster = KafkaCluster(tmp_path, brokers=3)
    props = [cluster.properties(n) for n in cluster.nodes]
    ports = [p for n in cluster.nodes for p in (n.port, n.controller_port)]
    assert len(set(ports)) == 6
    assert len({p["controller.quorum.voters"] for p in props}) == 1
    assert props[0]["controller.quorum.voters"].count("@127.0.0.1:") == 3
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert len({p["log.dirs"] for p in props}) == 3
    assert all(p["offsets.topic.replication.factor"] == "3" for p in props)
    assert cluster.url == "kafka://" + ";".join(f"127.0.0.1:{n.port}" for n in cluster.nodes)
    single = KafkaCluster(tmp_path / "one").properties(KafkaCluster(tmp_path / "one").nodes[0])
    assert single["offsets.topic.replication.factor"] == "1"
    assert single["transaction.state.log.min.isr"] == "1"


def test_without_the_jars_the_error_says_make_kafka(tmp_path):
    with pytest.raises(KafkaMissing, match="run `make kafka`"):
        kafka_local.classpath("4.4.0", cache=tmp_path)


class _Running:
    """A stand-in for a live process (poll() is None)."""

    def poll(self):
        return None


def test_started_reads_only_the_current_run_and_finds_a_line_cut_between_reads(tmp_path):
    node = kafka_local.KafkaNode(1, "127.0.0.1", 1, 2, tmp_path)
    node.dir.mkdir(parents=True)
    node.log_path.write_bytes(b"[t] INFO [KafkaRaftServer nodeId=1] Kafka Server started\n")
    # a restart: launch() marks where the new run's output begins
    node._run_start = node._read_to = node.log_path.stat().st_size
    node.proc = _Running()
    assert not node.started()  # the previous run's line does not count
    with open(node.log_path, "ab") as log:
        log.write(b"[t] INFO [KafkaRaftServer nodeId=1] Kafka Ser")
    assert not node.started()
    with open(node.log_path, "ab") as log:
        log.write(b"ver started (kafka.server.KafkaRaftServer)\n")
    assert node.started()
