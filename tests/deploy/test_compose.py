"""deploy/docker-compose.yml, checked offline: schema, references, wiring and secrets."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from stream.config import load_settings
from tests.deploy.conftest import (
    COMPOSE_FILE,
    DEPLOY,
    REPO,
    SECRET_NAME,
    TOPICS,
    WORKER_ENV,
    MissingVariable,
    environment_of,
    interpolate,
    references,
    walk_strings,
)

SCHEMA = json.loads((Path(__file__).parent / "compose_spec.json").read_text(encoding="utf-8"))
# Values an operator would put in deploy/.env; used to resolve the ${VAR:?} references.
OPERATOR_ENV = {
    "CHATWATCH_CHECK_TOKEN": "test-check-token-0123456789",
    "CHATWATCH_PAGER_TOKEN": "test-pager-token-0123456789",
    "CHATWATCH_METRICS_TOKEN": "test-metrics-token-0123456789",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-password",
}


def schema_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft201909Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]


def test_compose_file_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_schema_check_is_not_vacuous(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["kafka"]["imagee"] = "typo"
    broken["services"]["kafka"]["healthcheck"]["interval"] = 10
    errors = schema_errors(broken)
    assert any("imagee" in e for e in errors), errors
    assert any("healthcheck/interval" in e for e in errors), errors


def test_the_stack_has_every_part(compose: dict[str, Any],
                                  worker_services: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "kafka-init", "prometheus", "alertmanager", "grafana", "pager"):
        assert name in services, f"service {name} missing"
    assert len(worker_services) >= 2, "run at least two workers in one consumer group"
    assert services["pager"]["command"][0] == "pager"
    assert services["pager"]["command"][1:3] == ["--host", "0.0.0.0"], "reachable from others"


def test_kafka_is_the_official_image_in_kraft_mode_without_auto_create(
        compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = environment_of(kafka)
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in env["KAFKA_LISTENERS"]
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://", 1)
                      for item in interpolate(env["KAFKA_ADVERTISED_LISTENERS"], {}).split(","))
    # The containers reach the broker as kafka:9092, the address the workers are given.
    assert advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]] == "kafka:9092"
    assert set(advertised) <= set(listeners)
    protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
                        .split(","))
    assert set(listeners) == set(protocol_map)


def test_topic_init_creates_every_topic_with_the_workers_partition_count(
        compose: dict[str, Any], worker_services: dict[str, Any]) -> None:
    init = compose["services"]["kafka-init"]
    script = "\n".join(init["command"])
    for topic in TOPICS:
        assert re.search(rf"create {re.escape(topic)}\b", script), f"{topic} not created"
    partitions = environment_of(init)["PARTITIONS"]
    for name, svc in worker_services.items():
        assert environment_of(svc)["CHATWATCH_PARTITIONS"] == partitions, name
        assert svc["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    assert environment_of(compose["services"]["kafka"])["KAFKA_NUM_PARTITIONS"] == partitions
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    # Shell variables must be written $$VAR, or compose would interpolate them away.
    assert references(script.replace("$$", "")) == []


def test_kafka_runs_the_version_and_kraft_settings_of_the_tests(compose: dict[str, Any],
                                                                tmp_path: Path) -> None:
    """The bundled Kafka is the one the tests start (stream/kafka_local.py), configured alike."""
    from stream.kafka_local import KAFKA_VERSION, KafkaCluster

    for name in ("kafka", "kafka-init"):
        assert compose["services"][name]["image"] == f"apache/kafka:{KAFKA_VERSION}", name
    env = environment_of(compose["services"]["kafka"])
    cluster = KafkaCluster(tmp_path, brokers=1)  # described, never started
    tested = cluster.properties(cluster.nodes[0])
    for key in ("process.roles", "controller.listener.names", "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
                "share.coordinator.state.topic.replication.factor",
                "share.coordinator.state.topic.min.isr"):
        name = "KAFKA_" + key.upper().replace(".", "_")
        assert interpolate(env[name], {}) == tested[key], (name, tested[key])
    # a static quorum of this one node, on its controller listener, as the tests' single broker
    assert tested["controller.quorum.voters"].startswith(f"{tested['node.id']}@")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"].split(",")


def test_replication_factor_fits_the_single_bundled_broker(
        compose: dict[str, Any], worker_services: dict[str, Any]) -> None:
    kafka_nodes = [s for s in compose["services"].values()
                   if str(s.get("image", "")).startswith("apache/kafka")
                   and "KAFKA_NODE_ID" in environment_of(s)]
    assert len(kafka_nodes) == 1
    for name, svc in worker_services.items():
        assert interpolate(environment_of(svc)["CHATWATCH_REPLICATION_FACTOR"], {}) == "1", name
    script = "\n".join(compose["services"]["kafka-init"]["command"])
    assert "--replication-factor 1 " in script


def test_workers_share_a_consumer_group_and_each_has_its_own_state_volume(
        compose: dict[str, Any], worker_services: dict[str, Any]) -> None:
    images = {svc["image"] for svc in worker_services.values()}
    assert len(images) == 1
    data_volumes = []
    for name, svc in worker_services.items():
        env = environment_of(svc)
        assert "CHATWATCH_APP_ID" not in env, "all workers keep the default consumer group"
        assert env["CHATWATCH_STORE"] == "rocksdb://"
        mounts = dict(reversed(v.split(":")[:2]) for v in svc["volumes"])
        source = mounts.get(env["CHATWATCH_DATA_DIR"])
        assert source, f"{name}: CHATWATCH_DATA_DIR is not on a volume"
        assert source in compose["volumes"], f"{name}: {source} is not a named volume"
        data_volumes.append(source)
    assert len(set(data_volumes)) == len(data_volumes), "workers must not share RocksDB"


def test_worker_environment_is_only_what_chatwatch_reads(
        worker_services: dict[str, Any]) -> None:
    for name, svc in worker_services.items():
        unknown = set(environment_of(svc)) - WORKER_ENV
        assert not unknown, f"{name} sets variables chatwatch does not read: {unknown}"


@pytest.mark.parametrize("overrides", [{}, {"KAFKA_BROKER": "kafka://b1:9093;b2:9093",
                                            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                                            "KAFKA_SASL_USERNAME": "chatwatch",
                                            "KAFKA_SASL_PASSWORD": "pw"}])
def test_worker_environment_passes_configuration_validation(
        worker_services: dict[str, Any], overrides: dict[str, str]) -> None:
    operator_env = {**OPERATOR_ENV, **overrides}
    for svc in worker_services.values():
        env = {k: interpolate(v, operator_env) for k, v in environment_of(svc).items()}
        config = DEPLOY / "config" / "chatwatch.yml"
        mounted = [v for v in svc["volumes"] if v.split(":")[1] == env["CHATWATCH_CONFIG"]]
        assert mounted and (DEPLOY / mounted[0].split(":")[0]).resolve() == config.resolve()
        settings = load_settings(config, environ=env)
        assert settings.broker == overrides.get("KAFKA_BROKER", "kafka://kafka:9092")
        assert settings.store == "rocksdb://"
        assert settings.web_host == "0.0.0.0" and settings.web_port == 6066
        assert settings.partitions == 12
        assert settings.check_token == OPERATOR_ENV["CHATWATCH_CHECK_TOKEN"]
        assert settings.metrics_token == OPERATOR_ENV["CHATWATCH_METRICS_TOKEN"]
        assert settings.alertmanager_url == "http://alertmanager:9093"
        assert settings.security.security_protocol == overrides.get("KAFKA_SECURITY_PROTOCOL",
                                                                    "PLAINTEXT")


def test_secrets_come_from_the_environment_never_literals(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for key, value in environment_of(svc).items():
            if not SECRET_NAME.search(key):
                continue
            refs = references(value)
            assert refs and _only_references(value), f"{name}.{key} must be a ${{VAR}}"
            for _, op, arg in refs:
                assert not (op in (":-", "-") and arg), f"{name}.{key} has a default secret"


def _only_references(value: str) -> bool:
    return re.sub(r"\$\{[^}]*\}", "", value) == ""


def test_required_secrets_stop_compose_when_unset(compose: dict[str, Any]) -> None:
    required = {name for value in walk_strings(compose) for name, op, _ in references(value)
                if op in (":?", "?")}
    assert {"CHATWATCH_CHECK_TOKEN", "CHATWATCH_PAGER_TOKEN", "CHATWATCH_METRICS_TOKEN",
            "GRAFANA_ADMIN_PASSWORD"} <= required
    worker = compose["services"]["worker-1"]
    with pytest.raises(MissingVariable, match="CHATWATCH_CHECK_TOKEN"):
        interpolate(environment_of(worker)["CHATWATCH_CHECK_TOKEN"], {"CHATWATCH_CHECK_TOKEN": ""})


def test_env_example_names_every_variable_and_holds_no_secret(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    referenced = {name for value in walk_strings(compose) for name, _, _ in references(value)}
    assert referenced - documented == set(), "document these in deploy/env.example"
    for line in text.splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match and SECRET_NAME.search(match.group(1)):
            assert match.group(2) == "", f"{match.group(1)} must be left empty in env.example"


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if svc.get("restart") == "no":
            continue
        test = svc.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} needs a healthcheck"


def test_worker_healthcheck_probes_the_metrics_port(worker_services: dict[str, Any]) -> None:
    for svc in worker_services.values():
        port = environment_of(svc)["CHATWATCH_WEB_PORT"]
        assert f"127.0.0.1:{port}/metrics" in " ".join(svc["healthcheck"]["test"])
        assert svc["stop_signal"] == "SIGTERM"


def test_published_ports_listen_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to the world"


def _mount_sources(compose: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                out.append((name, source))
    return sorted(set(out))


def _bind_mounts() -> list[tuple[str, str]]:
    return _mount_sources(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")))


@pytest.mark.parametrize(("service", "source"), _bind_mounts())
def test_every_mounted_file_exists_in_the_repository(service: str, source: str) -> None:
    assert not source.startswith("/"), f"{service} mounts a host path {source}"
    path = (DEPLOY / source).resolve()
    assert path.is_relative_to(REPO), f"{service} mounts {source}, outside the repository"
    assert path.exists(), f"{service} mounts {source}, which does not exist"


def test_build_context_holds_the_dockerfile(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if "build" in svc:
            context = (DEPLOY / svc["build"]["context"]).resolve()
            assert (context / svc["build"]["dockerfile"]).is_file(), name
            assert context == REPO


def test_prometheus_scrapes_every_worker(compose: dict[str, Any],
                                         worker_services: dict[str, Any]) -> None:
    mounts = dict(reversed(v.split(":")[:2]) for v in compose["services"]["prometheus"]["volumes"])
    config = yaml.safe_load((DEPLOY / mounts["/etc/prometheus/prometheus.yml"])
                            .read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {t for sc in jobs["chatwatch"]["static_configs"] for t in sc["targets"]}
    expected = {f"{svc.get('hostname', name)}:{environment_of(svc)['CHATWATCH_WEB_PORT']}"
                for name, svc in worker_services.items()}
    assert targets == expected
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]
    assert mounts["/etc/prometheus/rules"] == "../alerts/rules"
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_grafana_dashboard_provider_reads_the_mounted_directory(
        compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(reversed(v.split(":")[:2]) for v in grafana["volumes"])
    providers_dir = DEPLOY / mounts["/etc/grafana/provisioning"] / "dashboards"
    files = sorted(providers_dir.glob("*.y*ml")) if providers_dir.is_dir() else []
    assert files, f"no Grafana dashboard provider in {providers_dir}"
    paths = {p["options"]["path"] for f in files
             for p in (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("providers", [])
             if "path" in p.get("options", {})}
    dashboards_mount = [target for target, source in mounts.items()
                        if source.endswith("grafana/dashboards")]
    assert paths and {p.rstrip("/") for p in paths} <= set(dashboards_mount), \
        (paths, dashboards_mount)


def test_pager_environment_configures_the_bridge(compose: dict[str, Any]) -> None:
    from alerts.pager.config import load_pager_config

    env_values = {**OPERATOR_ENV, "CHATWATCH_PAGER_DINGTALK_URL": "https://robot.invalid/d",
                  "CHATWATCH_PAGER_DINGTALK_SECRET": "SECtest", "CHATWATCH_PAGER_WECOM_URL":
                  "https://robot.invalid/w"}
    pager = compose["services"]["pager"]
    env = {k: interpolate(v, env_values) for k, v in environment_of(pager).items()}
    config = load_pager_config(None, environ=env)
    assert config.token == OPERATOR_ENV["CHATWATCH_PAGER_TOKEN"]
    assert sorted(t.kind for t in config.targets) == ["dingtalk", "wecom"]


def test_alertmanager_reaches_the_pager_with_its_token(compose: dict[str, Any]) -> None:
    path = DEPLOY / "alertmanager" / "alertmanager.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    command = compose["services"]["pager"]["command"]
    pager_port = command[command.index("--port") + 1]
    script = "\n".join(compose["services"]["alertmanager"]["command"])
    hooks = [hook for receiver in config.get("receivers", [])
             for hook in receiver.get("webhook_configs", [])
             if re.match(r"https?://pager[:/]", hook["url"])]
    assert hooks, "no Alertmanager receiver sends to the pager service"
    for hook in hooks:
        assert hook["url"].startswith(f"http://pager:{pager_port}/"), hook["url"]
        token_file = hook["http_config"]["authorization"]["credentials_file"]
        assert f"> {token_file}" in script, f"compose does not write {token_file}"


def test_one_setting_chooses_who_alerts(compose: dict[str, Any]) -> None:
    prometheus, grafana = compose["services"]["prometheus"], compose["services"]["grafana"]
    for svc in (prometheus, grafana):
        assert environment_of(svc)["CHATWATCH_ALERTING"] == "${CHATWATCH_ALERTING:-prometheus}"
        script = svc["command"][0]
        assert "prometheus)" in script and "grafana)" in script and "exit 1" in script
    # Prometheus in the Grafana way loads the recording rules alone, which exist in the mount
    mounts = dict(reversed(v.split(":")[:2]) for v in prometheus["volumes"])
    assert "/etc/prometheus/rules/recording-only/*.yml" in prometheus["command"][0]
    assert (DEPLOY / mounts["/etc/prometheus/rules"] / "recording-only" / "chatwatch.yml").is_file()
    # Grafana: provisioning/ in the Grafana way, alerting-off/ in its place otherwise
    gmounts = dict(reversed(v.split(":")[:2]) for v in grafana["volumes"])
    assert (DEPLOY / gmounts["/etc/grafana/provisioning"] / "alerting"
            / "chatwatch-rules.yaml").is_file()
    off = DEPLOY / gmounts["/etc/chatwatch/grafana-alerting-off"]
    assert (off / "chatwatch-alerting-off.yaml").is_file()
    assert "/etc/chatwatch/grafana-alerting-off" in grafana["command"][0]
    # every robot URL a contact point reads is passed to Grafana, never with a value
    contact = (DEPLOY / gmounts["/etc/grafana/provisioning"] / "alerting"
               / "chatwatch-contact-points.yaml").read_text(encoding="utf-8")
    env = environment_of(grafana)
    for name in set(re.findall(r"\$\{([A-Z0-9_]+)\}", contact)):
        assert env.get(name) == f"${{{name}:-}}", name
        assert f'"$${name}"' in grafana["command"][0], f"the entrypoint must check {name}"
    # the event alerts keep going to Alertmanager in both ways
    for worker in (s for n, s in compose["services"].items() if n.startswith("worker")):
        assert environment_of(worker)["CHATWATCH_ALERTMANAGER_URL"] == "http://alertmanager:9093"


def test_prometheus_and_the_healthcheck_send_the_metrics_token(
        compose: dict[str, Any], worker_services: dict[str, Any]) -> None:
    """The workers' /metrics wants CHATWATCH_METRICS_TOKEN: every scraper sends it."""
    prometheus = compose["services"]["prometheus"]
    mounts = dict(reversed(v.split(":")[:2]) for v in prometheus["volumes"])
    config = yaml.safe_load((DEPLOY / mounts["/etc/prometheus/prometheus.yml"])
                            .read_text(encoding="utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "chatwatch"]
    token_file = job["authorization"]["credentials_file"]
    script = "\n".join(prometheus["command"])
    assert f"> {token_file})" in script, f"compose does not write {token_file}"
    assert "CHATWATCH_METRICS_TOKEN" in environment_of(prometheus)
    for name, svc in worker_services.items():
        check = " ".join(svc["healthcheck"]["test"])
        assert "Bearer" in check and "CHATWATCH_METRICS_TOKEN" in check, name
        assert "CHATWATCH_METRICS_TOKEN" in environment_of(svc), name
