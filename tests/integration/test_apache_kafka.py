"""The worker on Apache Kafka (the ``kafka`` fixture: one KRaft broker for the session).

The whole integration folder runs on this broker (``conftest.py``); these tests check aiokafka
and ``chatwatch worker`` on it as such: its figures and records equal a backfill of what it
read, the changelog faust creates is compacted (as the admin API and Kafka's own tools see
it) and one that is not stops the worker with the fix, and a broker restart that keeps its data, while traffic is sent, leaves the
figures exact. Then a client matrix (aiokafka, confluent-kafka, kafka-python, Debian's kcat,
Kafka's console producer: what each sends, the worker counts) and ``make run BROKER=kafka``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from prometheus_client.parser import text_string_to_metric_families

from stream.broker import free_ports
from stream.config import settings_from_mapping
from stream.kafka import changelog_topic
from stream.kafka_local import CONFIG_COMMAND, CONSOLE_PRODUCER, TOPIC_COMMAND, KafkaCluster
from stream.testing import WorkerProcess, consume, event_key, produce, run, topic_config, wait_for
from tests.chaos.cluster import read_topic
from tests.integration.test_live_equals_backfill import COUNTERS, SHOPS, backfill, seeded_log

pytestmark = pytest.mark.slow

# Apache Kafka refuses a session timeout below its group.min.session.timeout.ms (6 s by
# default) with InvalidSessionTimeoutError, and the worker then never joins: the 3 s that test
# workers use on the embedded broker (stream/testing.py) is too short here. Kafka hands out
# partitions as soon as the group has formed, so 6 s costs nothing at start-up.
ON_KAFKA = {"CHATWATCH_SESSION_TIMEOUT_SECONDS": "6"}


def records(msgs: list[Any]) -> list[dict[str, Any]]:
    return sorted((json.loads(m.value) for m in msgs), key=lambda r: r["id"])


async def group_round(bootstrap: str, topic: str, group: str, n: int) -> dict[str, Any]:
    """Two consumers of one group share ``topic``'s partitions and read ``n`` records once."""
    consumers = [AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                  auto_offset_reset="earliest", enable_auto_commit=False,
                                  session_timeout_ms=6000, heartbeat_interval_ms=500)
                 for _ in range(2)]
    for consumer in consumers:
        await consumer.start()
    seen: list[list[bytes]] = [[], []]
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while sum(map(len, seen)) < n or not all(c.assignment() for c in consumers):
            assert loop.time() < deadline, f"read {sum(map(len, seen))} of {n}"
            batches = await asyncio.gather(*(c.getmany(timeout_ms=200) for c in consumers))
            for i, batch in enumerate(batches):
                seen[i].extend(m.value for msgs in batch.values() for m in msgs)
        for consumer in consumers:
            await consumer.commit()
        return {"assignments": [{tp.partition for tp in c.assignment()} for c in consumers],
                "seen": seen}
    finally:
        for consumer in consumers:
            await consumer.stop()


async def committed_lag(bootstrap: str, topic: str, partitions: int, group: str) -> int:
    """Records of ``topic`` past ``group``'s committed offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        return sum([ends[tp] - (await consumer.committed(tp) or 0) for tp in tps])
    finally:
        await consumer.stop()


def test_aiokafka_produces_consumes_and_shares_a_group(kafka: KafkaCluster,
                                                       unique: str) -> None:
    """aiokafka, the project's client: produce, consume, a group of two, committed offsets."""
    topic, group = f"clients.{unique}", f"group-{unique}"

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 4, 1)])
        finally:
            await admin.close()

    run(create())
    sent = [(f"k{i % 50}".encode(), f"v{i}".encode()) for i in range(2000)]
    assert run(produce(kafka.url, topic, sent)) == len(sent)
    result = run(group_round(kafka.bootstrap, topic, group, len(sent)))
    a, b = result["assignments"]
    assert a and b and not a & b and a | b == {0, 1, 2, 3}  # the group split the partitions
    assert sorted(result["seen"][0] + result["seen"][1]) == sorted(v for _, v in sent)
    assert run(committed_lag(kafka.bootstrap, topic, 4, group)) == 0


def test_worker_on_apache_kafka_publishes_what_backfill_reports(kafka: KafkaCluster,
                                                                tmp_path: Path,
                                                                unique: str) -> None:
    log = seeded_log(29, 400)
    cfg = topic_config(unique, shops=SHOPS)
    expected = backfill(log, cfg, tmp_path)
    assert expected["breaches"] and expected["violations"]  # the log exercises both
    with WorkerProcess(tmp_path, kafka.url, cfg, env=ON_KAFKA) as worker:
        run(produce(kafka.url, cfg["events_topic"], log))
        breaches = run(consume(kafka.url, cfg["breaches_topic"],
                               expect=len(expected["breaches"]), timeout=60))
        violations = run(consume(kafka.url, cfg["violations_topic"],
                                 expect=len(expected["violations"]), timeout=30))
        wait_for(lambda: worker.figures() == expected["report"], timeout=30,
                 what="the worker's figures equal the backfill report")
        metrics = worker.metrics()
    assert records(breaches) == expected["breaches"]
    assert records(violations) == expected["violations"]
    live = {key: value for key, value in metrics.items()
            if key[0].removesuffix("_total").removesuffix("_bucket").removesuffix("_count")
            .removesuffix("_sum") in COUNTERS and not key[0].endswith("_created")}
    # sums of response times are floats added in another order: equal to rounding
    assert live == pytest.approx(expected["counters"], rel=1e-12)


async def topic_configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    """``{topic: {key: value}}`` as the broker describes them (DescribeConfigs)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    finally:
        await admin.close()
    out: dict[str, dict[str, str]] = {}
    for response in responses:
        for error, message, _type, name, entries in response.resources:
            assert error == 0, f"DescribeConfigs {name}: error {error} {message}"
            out[name] = {entry[0]: entry[1] for entry in entries}
    return out


def test_changelog_is_compacted_on_apache_kafka(kafka: KafkaCluster, tmp_path: Path,
                                                unique: str) -> None:
    cfg = topic_config(unique)
    changelog = f"{cfg['app_id']}-conversations-changelog"
    with WorkerProcess(tmp_path, kafka.url, cfg, env=ON_KAFKA):
        configs = run(topic_configs(kafka.bootstrap, [changelog, cfg["events_topic"]]))
    assert configs[changelog]["cleanup.policy"] == "compact"
    # the input is a log, never compacted: only the state's changelog is
    assert configs[cfg["events_topic"]]["cleanup.policy"] == "delete"

    # Kafka's own tools (kafka-configs, kafka-topics) see the same
    described = kafka.tool(CONFIG_COMMAND, "--bootstrap-server", kafka.bootstrap,
                           "--entity-type", "topics", "--entity-name", changelog, "--describe")
    assert described.returncode == 0, described.stderr
    assert f"Dynamic configs for topic {changelog} are:" in described.stdout
    assert "cleanup.policy=compact" in described.stdout, described.stdout
    topics = kafka.tool(TOPIC_COMMAND, "--bootstrap-server", kafka.bootstrap,
                        "--describe", "--topic", changelog)
    assert topics.returncode == 0, topics.stderr
    header = next(line for line in topics.stdout.splitlines() if "PartitionCount" in line)
    assert "PartitionCount: 4" in header and "cleanup.policy=compact" in header, header

    # and the chat.* topics chatwatch creates: its partitions, one replica on one broker
    chat = kafka.tool(TOPIC_COMMAND, "--bootstrap-server", kafka.bootstrap,
                      "--describe", "--topic", rf"chat\..*\.{unique}")
    assert chat.returncode == 0, chat.stderr
    headers = {line.split()[1]: line for line in chat.stdout.splitlines()
               if "PartitionCount" in line}
    assert set(headers) == {cfg[k] for k in ("events_topic", "dlq_topic", "breaches_topic",
                                             "violations_topic")}, chat.stdout
    for line in headers.values():
        assert "PartitionCount: 4" in line and "ReplicationFactor: 1" in line, line


def test_worker_refuses_a_changelog_that_is_not_compacted(kafka: KafkaCluster, tmp_path: Path,
                                                          unique: str) -> None:
    """A changelog created by hand with ``cleanup.policy=delete``: the worker stops at start-up,
    naming the topic, its policy and the command that fixes it; after that fix it runs."""
    cfg = topic_config(unique)
    changelog = changelog_topic(settings_from_mapping(cfg, {}))

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(changelog, 4, 1,
                                                topic_configs={"cleanup.policy": "delete"})])
        finally:
            await admin.close()

    run(create())
    worker = WorkerProcess(tmp_path, kafka.url, cfg, env=ON_KAFKA)
    with pytest.raises(RuntimeError, match="exited with 2") as refused:
        worker.start(timeout=60)
    last = worker.tail().strip().splitlines()[-1]
    assert last.startswith(f"chatwatch: the changelog topic {changelog} has "
                           "cleanup.policy=delete, not compact"), last
    fix = last.split("Fix it with Kafka's tool: kafka-configs.sh ", 1)[1].split()
    assert fix == ["--bootstrap-server", kafka.bootstrap, "--alter", "--entity-type", "topics",
                   "--entity-name", changelog, "--add-config", "cleanup.policy=compact"]
    assert "Traceback" not in str(refused.value)

    done = kafka.tool(CONFIG_COMMAND, *fix)  # the fix the message gives, as given
    assert done.returncode == 0, done.stderr
    assert run(topic_configs(kafka.bootstrap, [changelog]))[changelog]["cleanup.policy"] == \
        "compact"
    with worker:  # now it starts, owns its partitions and serves
        assert worker.get_json("/health")["partitions"]


def test_worker_whose_group_join_is_refused_exits_saying_why(kafka: KafkaCluster,
                                                              tmp_path: Path,
                                                              unique: str) -> None:
    """A session timeout below the broker's minimum: the worker exits (78) with one line that
    names the setting, instead of running on without partitions."""
    worker = WorkerProcess(tmp_path, kafka.url, topic_config(unique),
                           env={"CHATWATCH_SESSION_TIMEOUT_SECONDS": "3"})
    with pytest.raises(RuntimeError, match="exited with 78"):
        worker.start(timeout=60)
    text = worker.log_path.read_text(encoding="utf-8", errors="replace")
    [line] = [line for line in text.splitlines() if "CRITICAL" in line]
    assert line.rstrip().endswith(f"the broker refused this worker's consumer group join (group "
                         f"chatwatch-{unique}): the session timeout of 3 s is outside the "
                         "broker's group.min.session.timeout.ms..group.max.session.timeout.ms "
                         "(6 s to 30 min on Apache Kafka by default); set "
                         "CHATWATCH_SESSION_TIMEOUT_SECONDS within them; exiting with code 78"
                         ), line
    assert "Traceback" not in text


class Sender(threading.Thread):
    """Sends ``events`` from a thread once :attr:`go` is set, its producer connected before.

    ``acks=all`` and idempotent: a send made while the broker is away is retried until it is
    back (within ``request_timeout_ms``), and a retry never writes an event twice.
    """

    def __init__(self, bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
        super().__init__(name="sender", daemon=True)
        self.bootstrap, self.topic, self.events = bootstrap, topic, events
        self.connected, self.go = threading.Event(), threading.Event()
        self.acked = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._send())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.connected.set()

    async def _send(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                    enable_idempotence=True, linger_ms=5,
                                    request_timeout_ms=120_000, retry_backoff_ms=200)
        await producer.start()
        self.connected.set()
        try:
            while not self.go.is_set():
                await asyncio.sleep(0.05)
            sent = [await producer.send(self.topic, json.dumps(e, ensure_ascii=False).encode(),
                                        key=event_key(e)) for e in self.events]
            for future in sent:
                await future
                self.acked += 1
        finally:
            await producer.stop()


def next_day(log: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    """``log`` one day later under other event ids: the same conversations, new traffic."""
    return [{**e, "ts": e["ts"] + 86_400_000, "event_id": f"{tag}-{e['event_id']}"}
            for e in log]


def test_broker_restart_with_data_kept_leaves_figures_exact(kafka: KafkaCluster,
                                                            tmp_path: Path,
                                                            unique: str) -> None:
    """The broker stops while traffic is being sent and comes back on its data folder.

    Day one is sent and processed. The broker then stops (SIGTERM) and stays down past the
    worker's session timeout, so the worker stops itself (exit 75: the group has dropped it);
    day two is sent meanwhile, the producer retrying until the broker is back on the same data
    folder and ports. The worker, started again as its supervisor would, reads its state back
    from the changelog and its position from the offsets the broker kept. A broker that lost
    them would leave day two's replies without their waits, and the figures would differ.
    """
    day_one = seeded_log(2029, 300)
    day_two = next_day(seeded_log(2030, 300), "d2")
    cfg = topic_config(unique, shops=SHOPS)
    worker = WorkerProcess(tmp_path, kafka.url, cfg, env=ON_KAFKA).start()
    try:
        run(produce(kafka.url, cfg["events_topic"], day_one))
        (tmp_path / "day-one").mkdir()
        first = backfill(day_one, cfg, tmp_path / "day-one")
        wait_for(lambda: worker.figures() == first["report"], timeout=30,
                 what="day one's figures")
        sender = Sender(kafka.bootstrap, cfg["events_topic"], day_two)
        sender.start()
        assert sender.connected.wait(30) and sender.error is None, sender.error

        kafka.stop_node(0)  # SIGTERM: a controlled shutdown; the data folder stays
        sender.go.set()  # day two goes out while the broker is away
        assert worker.proc is not None
        assert worker.proc.wait(60) == 75, worker.tail()
        assert sender.acked == 0  # nothing can be acknowledged with the broker down
        kafka.start_node(0)  # the same node, ports and data folder
        sender.join(120)
        assert sender.error is None, sender.error
        assert sender.acked == len(day_two)
        worker.start()  # as a supervisor (a pod's restart policy) would

        # the broker holds both days, each event once: nothing lost with the restart; so the
        # backfill of what the worker read is the backfill of both days in the order sent
        held = run(read_topic(kafka.url, cfg["events_topic"], cfg["partitions"]))
        assert sorted(json.loads(m.value)["event_id"] for m in held) == \
            sorted(e["event_id"] for e in day_one + day_two)
        (tmp_path / "both").mkdir()
        expected = backfill(day_one + day_two, cfg, tmp_path / "both")
        assert expected["report"] != first["report"]
        wait_for(lambda: worker.figures() == expected["report"], timeout=60,
                 what="the worker's figures equal the backfill of what the broker holds")
        breaches = wait_for(lambda: by_id(kafka, cfg["breaches_topic"], expected["breaches"]),
                            timeout=30, what="every breach record on chat.breaches")
        violations = wait_for(
            lambda: by_id(kafka, cfg["violations_topic"], expected["violations"]),
            timeout=30, what="every violation record on chat.violations")
        assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
    finally:
        worker.stop()
    assert breaches == {r["id"]: r for r in expected["breaches"]}
    assert violations == {r["id"]: r for r in expected["violations"]}


def by_id(kafka: KafkaCluster, topic: str,
          expected: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """The records of ``topic`` by id once every expected id is there, else None.

    A record the restarted worker sends again must carry the same content as the first.
    """
    held: dict[str, dict[str, Any]] = {}
    for record in records(run(read_topic(kafka.url, topic, 4))):
        assert held.setdefault(record["id"], record) == record, f"{record['id']} differs"
    return held if set(held) >= {r["id"] for r in expected} else None


# --- clients of Apache Kafka ---------------------------------------------------------------


@pytest.fixture(scope="module")
def counting_worker(kafka: KafkaCluster, tmp_path_factory: pytest.TempPathFactory,
                    ) -> Iterator[tuple[WorkerProcess, dict[str, Any]]]:
    """One worker that counts what each client of the matrix sends."""
    cfg = topic_config(uuid.uuid4().hex[:8])
    with WorkerProcess(tmp_path_factory.mktemp("clients"), kafka.url, cfg,
                       env=ON_KAFKA) as worker:
        yield worker, cfg


def client_events(client: str, n: int) -> list[dict[str, Any]]:
    """``n`` valid buyer messages of ``client``'s own conversations, Chinese text included."""
    now = int(time.time() * 1000)
    return [{"event_id": f"{client}-{i}", "ts": now + i, "shop_id": "s1",
             "buyer_id": f"{client}-b{i % 7}", "type": "message", "sender": "buyer",
             "text": f"在吗？第{i}个问题"} for i in range(n)]


def send_aiokafka(kafka: KafkaCluster, topic: str, events: list[dict[str, Any]]) -> None:
    run(produce(kafka.url, topic, events))


def send_confluent_kafka(kafka: KafkaCluster, topic: str, events: list[dict[str, Any]]) -> None:
    from confluent_kafka import Producer  # the `bench` extra, as `make test` installs it

    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
    for event in events:
        producer.produce(topic, json.dumps(event, ensure_ascii=False).encode(),
                         key=event_key(event), on_delivery=lambda err, _msg: errors.append(err)
                         if err else None)
    assert producer.flush(30) == 0
    assert errors == []


def send_console_producer(kafka: KafkaCluster, topic: str,
                          events: list[dict[str, Any]]) -> None:
    lines = "".join(f"{event_key(e).decode()}\t{json.dumps(e, ensure_ascii=False)}\n"
                    for e in events)
    done = kafka.tool(CONSOLE_PRODUCER, "--bootstrap-server", kafka.bootstrap, "--topic", topic,
                      "--reader-property", "parse.key=true", stdin=lines)
    assert done.returncode == 0, done.stderr


def send_kafka_python(kafka: KafkaCluster, topic: str, events: list[dict[str, Any]]) -> None:
    from kafka import KafkaProducer  # the `dev` extra

    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap.split(","), acks="all")
    try:
        sent = [producer.send(topic, json.dumps(e, ensure_ascii=False).encode(),
                              key=event_key(e)) for e in events]
        producer.flush(30)
        assert all(future.get(timeout=30).offset >= 0 for future in sent)
    finally:
        producer.close(10)


def send_kcat(kafka: KafkaCluster, topic: str, events: list[dict[str, Any]]) -> None:
    kcat = shutil.which("kcat")
    if kcat is None:  # fails, never skips: the matrix must cover it
        pytest.fail("kcat is not installed: run `make tools` (Debian: apt-get install kcat)",
                    pytrace=False)
    lines = "".join(f"{event_key(e).decode()}\t{json.dumps(e, ensure_ascii=False)}\n"
                    for e in events)
    done = subprocess.run([kcat, "-P", "-b", kafka.bootstrap, "-t", topic, "-K", "\t",  # noqa: S603
                           "-X", "acks=all"], input=lines, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


CLIENTS = {"aiokafka": send_aiokafka, "confluent-kafka": send_confluent_kafka,
           "kafka-python": send_kafka_python, "kcat": send_kcat,
           "kafka-console-producer": send_console_producer}


@pytest.mark.parametrize("client", list(CLIENTS))
def test_client_events_are_consumed_and_counted(client: str, kafka: KafkaCluster,
                                                counting_worker: tuple[WorkerProcess,
                                                                       dict[str, Any]]) -> None:
    """Events sent by ``client`` reach the worker whole: keyed, decoded and counted."""
    worker, cfg = counting_worker

    def count(outcome: str) -> float:
        return worker.sample("chatwatch_events_total", outcome=outcome) or 0.0

    events = client_events(client, 60)
    before, invalid = count("processed"), count("invalid")
    CLIENTS[client](kafka, cfg["events_topic"], events)
    wait_for(lambda: count("processed") >= before + len(events), timeout=30,
             what=f"the worker counted {client}'s {len(events)} events")
    assert count("processed") == before + len(events)
    assert count("invalid") == invalid
    held = [m for m in run(read_topic(kafka.url, cfg["events_topic"], cfg["partitions"]))
            if m.key.decode().startswith(f"s1:{client}-")]
    assert sorted((m.key, json.loads(m.value)["text"]) for m in held) == \
        sorted((event_key(e), e["text"]) for e in events)


def test_make_run_broker_kafka_runs_the_stack_on_apache_kafka(tmp_path: Path) -> None:
    """``make run BROKER=kafka``: ``chatwatch run --kafka``, the local stack on Apache Kafka."""
    web_port, broker_port = free_ports(2)
    run_dir = tmp_path / "run"
    out_path = tmp_path / "run.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "stream", "run", "--kafka", "--no-alerts", "--run-dir",
             str(run_dir), "--web-port", str(web_port), "--broker-port", str(broker_port),
             "--rate", "30"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        def output() -> str:
            assert proc.poll() is None, out_path.read_text(errors="replace")
            return out_path.read_text(errors="replace")

        wait_for(lambda: "chatwatch is running" in output(), timeout=90, interval=0.2,
                 what="the stack up")
        pids = json.loads((run_dir / "pids.json").read_text())
        broker = pids["broker"]
        assert "kafka.Kafka" in Path(f"/proc/{broker}/cmdline").read_bytes().decode(
            errors="replace")
        first = wait_for(lambda: processed(web_port), timeout=60, interval=0.5,
                         what="events processed")
        wait_for(lambda: processed(web_port) > first, timeout=30, interval=0.5,
                 what="events keep flowing")
        topics = run(list_topics(f"127.0.0.1:{broker_port}"))
        assert {"chat.events", "chat.breaches", "chatwatch-conversations-changelog"} <= topics
        assert (run_dir / "kafka" / "node-1" / "data" / "meta.properties").is_file()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, out_path.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out_path.read_text(errors="replace")
    assert "starting Apache Kafka" in text and "stopped." in text
    assert f"KAFKA_BROKER=kafka://127.0.0.1:{broker_port}   (Apache Kafka" in text
    assert not Path(f"/proc/{broker}").exists()  # the broker stopped with the stack


def processed(port: int) -> float:
    """The stack's worker's ``chatwatch_events_total{outcome="processed"}`` (0 if silent)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
            body = resp.read().decode()
    except OSError:
        return 0.0
    return sum(s.value for family in text_string_to_metric_families(body)
               for s in family.samples
               if s.name == "chatwatch_events_total" and s.labels.get("outcome") == "processed")


async def list_topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()
