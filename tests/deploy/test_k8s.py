"""deploy/k8s/, checked offline: kubernetes-validate (strict) plus what a review would ask."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from stream.config import load_settings
from tests.deploy.conftest import DEPLOY, K8S, REPO, TOPICS, WORKER_ENV, load_docs

KUBERNETES_VERSION = "1.30.0"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
# A template Secret may hold only these placeholders.
PLACEHOLDER = re.compile(r"^(CHANGE-ME)?$")
MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def _load_render() -> Any:
    spec = importlib.util.spec_from_file_location("chatwatch_k8s_render", K8S / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_render()


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in load_docs(path)]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind
               and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in ("StatefulSet", "Deployment")]


def chatwatch_workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The workloads running the chatwatch image (not the bundled broker of k8s/kafka)."""
    return [o for o in workloads(objects)
            if o["metadata"]["labels"]["app.kubernetes.io/name"] == "chatwatch"]


def validate_strict(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path.name} is empty"
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue  # no schema in kubernetes-validate; checked by structure below
        validate_strict(doc)


def test_strict_validation_is_not_vacuous(objects: list[dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(find(objects, "StatefulSet", "chatwatch-worker")))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict(broken)


def test_every_object_lives_in_the_chatwatch_namespace(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "chatwatch", obj["metadata"]["name"]


def test_kustomizations_reference_existing_files_and_cover_every_manifest() -> None:
    covered = {K8S / "secret.example.yaml"}  # a template, deliberately never applied
    for kustomization in K8S.rglob("kustomization.yaml"):
        doc = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        assert doc["kind"] == "Kustomization"
        for resource in doc["resources"]:
            path = (kustomization.parent / resource).resolve()
            assert path.exists(), f"{kustomization.relative_to(K8S)} lists missing {resource}"
            covered.add(path)
    assert set(MANIFESTS) - covered == set(), "manifests no kustomization applies"
    main = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "secret.example.yaml" not in main["resources"]


def test_workers_are_a_statefulset_with_rocksdb_volumes(objects: list[dict[str, Any]]) -> None:
    sts = find(objects, "StatefulSet", "chatwatch-worker")
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["worker"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    claims = {c["metadata"]["name"]: c for c in sts["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert env["CHATWATCH_STORE"] == "rocksdb://"
    assert mounts[env["CHATWATCH_DATA_DIR"]] in claims, "RocksDB must be on a claim"
    claim = claims[mounts[env["CHATWATCH_DATA_DIR"]]]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    assert 1 <= sts["spec"]["replicas"] <= int(env["CHATWATCH_PARTITIONS"])
    # the changelog RocksDB is rebuilt from survives the loss of a broker
    assert env["CHATWATCH_REPLICATION_FACTOR"] == "3"
    assert pod["terminationGracePeriodSeconds"] >= 30, "time to commit offsets and flush"


def test_statefulset_has_a_headless_service_and_a_metrics_service(
        objects: list[dict[str, Any]]) -> None:
    sts = find(objects, "StatefulSet", "chatwatch-worker")
    headless = find(objects, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    metrics = find(objects, "Service", "chatwatch-worker")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for c in sts["spec"]["template"]["spec"]["containers"]
                  for p in c["ports"]}
    for service in (headless, metrics):
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    assert sts["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_every_service_selects_some_pod(objects: list[dict[str, Any]]) -> None:
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads(objects)]
    for svc in (o for o in objects if o["kind"] == "Service"):
        assert any(svc["spec"]["selector"].items() <= labels.items() for labels in pod_labels), \
            svc["metadata"]["name"]


def test_pdb_covers_the_workers(objects: list[dict[str, Any]]) -> None:
    pdb = find(objects, "PodDisruptionBudget", "chatwatch-worker")
    labels = find(objects, "StatefulSet", "chatwatch-worker")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize(("kind", "name"), [("StatefulSet", "chatwatch-worker"),
                                            ("Deployment", "chatwatch-pager"),
                                            ("Deployment", "chatwatch-board")])
def test_workloads_have_probes_limits_and_run_as_non_root(
        objects: list[dict[str, Any]], kind: str, name: str | None) -> None:
    workload = find(objects, kind, name)
    pod = workload["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        name = f"{kind}/{container['name']}"
        assert container.get("readinessProbe") and container.get("livenessProbe"), name
        limits = container["resources"]["limits"]
        assert limits.get("cpu") and limits.get("memory"), f"{name} needs cpu and memory limits"
        assert container["resources"]["requests"].get("memory"), name
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{name}: a read-only root needs a writable /tmp"


def test_worker_probes_hit_the_metrics_and_health_endpoints(
        objects: list[dict[str, Any]]) -> None:
    (container,) = find(objects, "StatefulSet", "chatwatch-worker")["spec"]["template"]["spec"]["containers"]
    # alive while the web server answers; ready only when assigned, restored and caught up
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["port"] == "http-metrics"
    # /metrics wants the metrics token, which an httpGet probe cannot take from a Secret: the
    # probe is a request from inside the container that sends it
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == "http-metrics"]
    names = {e["name"] for e in container["env"]}
    for probe in ("startupProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:2] == ["python", "-c"], probe
        script = command[2]
        assert f"'http://127.0.0.1:{port}/metrics'" in script, probe
        assert "'Bearer ' + os.environ['CHATWATCH_METRICS_TOKEN']" in script, probe
        assert "CHATWATCH_METRICS_TOKEN" in names
        compile(script, probe, "exec")


def test_worker_environment_is_what_chatwatch_reads_and_validates(
        objects: list[dict[str, Any]]) -> None:
    (container,) = find(objects, "StatefulSet", "chatwatch-worker")["spec"]["template"]["spec"]["containers"]
    names = [e["name"] for e in container["env"]]
    assert set(names) - WORKER_ENV == set()
    assert len(names) == len(set(names))
    # Resolve the Secret references as the kubelet would, with stand-in values.
    env = {e["name"]: e.get("value") or f"from-secret-{e['valueFrom']['secretKeyRef']['key']}"
           for e in container["env"]}
    assert "valueFrom" in next(e for e in container["env"] if e["name"] == "CHATWATCH_CHECK_TOKEN")
    config = yaml.safe_load(find(objects, "ConfigMap", "chatwatch-config")["data"]
                            ["chatwatch.yml"])
    settings = load_settings(DEPLOY / "config" / "chatwatch.yml", environ=env)
    assert settings.store == "rocksdb://" and settings.web_host == "0.0.0.0"
    assert settings.security.security_protocol == "SASL_SSL"
    assert settings.check_token == "from-secret-check-token"
    assert settings.metrics_token == "from-secret-metrics-token"
    assert config == yaml.safe_load((DEPLOY / "config" / "chatwatch.yml").read_text("utf-8"))


def test_config_map_carries_the_same_configuration_as_compose(
        objects: list[dict[str, Any]]) -> None:
    text = find(objects, "ConfigMap", "chatwatch-config")["data"]["chatwatch.yml"]
    assert text == (DEPLOY / "config" / "chatwatch.yml").read_text(encoding="utf-8")


def test_secrets_are_referenced_never_inlined(objects: list[dict[str, Any]]) -> None:
    template = {o["metadata"]["name"]: o for o in load_docs(K8S / "secret.example.yaml")}
    for workload in workloads(objects):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for entry in container.get("env", []):
                if re.search(r"TOKEN|PASSWORD|SECRET|USERNAME", entry["name"]):
                    ref = entry.get("valueFrom", {}).get("secretKeyRef")
                    assert ref, f"{entry['name']} must come from a Secret"
                    assert ref["key"] in template[ref["name"]]["stringData"], ref
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in template


def test_no_secret_in_the_repository_holds_a_real_looking_value() -> None:
    secrets = [doc for path in sorted(DEPLOY.rglob("*.y*ml")) for doc in load_docs(path)
               if isinstance(doc, dict) and doc.get("kind") == "Secret"]
    assert secrets, "the Secret template is missing"
    for secret in secrets:
        assert not secret.get("data"), "use stringData placeholders, not base64 data"
        for key, value in (secret.get("stringData") or {}).items():
            assert PLACEHOLDER.match(str(value)), \
                f"{secret['metadata']['name']}.{key} holds a value; use CHANGE-ME"


def test_image_user_matches_the_pod_security_context(objects: list[dict[str, Any]]) -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    (uid,) = re.findall(r"^USER (\d+)", dockerfile, re.MULTILINE)
    for workload in chatwatch_workloads(objects):
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)
    sts = find(objects, "StatefulSet", "chatwatch-worker")
    assert sts["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == int(uid)


def test_images_match_the_kustomize_image_name(objects: list[dict[str, Any]]) -> None:
    images = yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))["images"]
    (entry,) = images
    assert len(chatwatch_workloads(objects)) == 3  # workers, pager, board
    for workload in chatwatch_workloads(objects):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert container["image"] == f"{entry['name']}:{entry['newTag']}"


def test_annotations_and_scrape_config_agree(objects: list[dict[str, Any]]) -> None:
    sts = find(objects, "StatefulSet", "chatwatch-worker")
    annotations = sts["spec"]["template"]["metadata"]["annotations"]
    ports = {p["containerPort"] for p in sts["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) in ports
    config = yaml.safe_load(find(objects, "ConfigMap", "chatwatch-prometheus-config")["data"]
                            ["prometheus.yml"])
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "chatwatch"]
    keep = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"]
            if r.get("action") == "keep"}
    assert keep["__meta_kubernetes_pod_annotation_prometheus_io_scrape"] == "true"
    component = sts["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    assert keep["__meta_kubernetes_pod_label_app_kubernetes_io_component"] == component


def test_service_monitor_selects_the_metrics_service_under_job_chatwatch(
        objects: list[dict[str, Any]]) -> None:
    monitor = find(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    selected = [s for s in objects if s["kind"] == "Service"
                and spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    assert [s["metadata"]["name"] for s in selected] == ["chatwatch-worker"], \
        "exactly one Service, or every worker is scraped twice"
    (service,) = selected
    assert service["metadata"]["labels"][spec["jobLabel"]] == "chatwatch"
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in spec["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
        # the workers' /metrics token, from the Secret the workers read it from
        credentials = endpoint["authorization"]["credentials"]
        assert endpoint["authorization"]["type"] == "Bearer"
        assert credentials == {"name": "chatwatch-secrets", "key": "metrics-token"}
        assert re.fullmatch(r"\d+s", endpoint["interval"])
    assert spec["namespaceSelector"]["matchNames"] == ["chatwatch"]


# --- objects rendered from other parts of the repository (render.py) ----------------------

def _write_repo(tmp_path: Path, rules: dict[str, Any], dashboards: dict[str, str]) -> Path:
    (tmp_path / "alerts" / "rules").mkdir(parents=True)
    (tmp_path / "deploy" / "grafana" / "dashboards").mkdir(parents=True)
    for name, doc in rules.items():
        (tmp_path / "alerts" / "rules" / name).write_text(yaml.safe_dump(doc), "utf-8")
    for name, text in dashboards.items():
        (tmp_path / "deploy" / "grafana" / "dashboards" / name).write_text(text, "utf-8")
    return tmp_path


RULES = {"groups": [{"name": "chatwatch-test", "rules": [
    {"alert": "ChatwatchDown", "expr": 'up{job="chatwatch"} == 0', "for": "2m",
     "labels": {"severity": "page"}, "annotations": {"summary": "worker down"}}]}]}


def check_prometheus_rule(obj: dict[str, Any]) -> None:
    """Structure of a monitoring.coreos.com/v1 PrometheusRule (no CRD schema offline)."""
    assert obj["apiVersion"] == "monitoring.coreos.com/v1" and obj["kind"] == "PrometheusRule"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", obj["metadata"]["name"])
    names = [g["name"] for g in obj["spec"]["groups"]]
    assert names and len(names) == len(set(names))
    for group in obj["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit", "partial_response_strategy"}
        for rule in group["rules"]:
            assert ("alert" in rule) != ("record" in rule) and isinstance(rule["expr"], str)
            assert set(rule) <= {"alert", "record", "expr", "for", "keep_firing_for",
                                 "labels", "annotations"}


def test_render_builds_valid_objects(tmp_path: Path) -> None:
    repo = _write_repo(tmp_path, {"a.yml": RULES},
                       {"Live Operations.json": '{"title": "直播 operations"}'})
    (rules_cm,) = render.render("rules", repo)
    validate_strict(rules_cm)
    assert yaml.safe_load(rules_cm["data"]["a.yml"]) == RULES
    (dashboard,) = render.render("dashboards", repo)
    validate_strict(dashboard)
    assert dashboard["metadata"]["name"] == "chatwatch-dashboard-live-operations"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    (rule,) = render.render("prometheusrule", repo)
    check_prometheus_rule(rule)
    # What kubectl receives parses back to the same objects, Chinese text included.
    text = render.dump([rules_cm, dashboard, rule])
    assert list(yaml.safe_load_all(text)) == [rules_cm, dashboard, rule]


def test_render_refuses_duplicate_groups_and_broken_dashboards(tmp_path: Path) -> None:
    repo = _write_repo(tmp_path, {"a.yml": RULES, "b.yml": RULES}, {"x.json": "{not json"})
    with pytest.raises(render.RenderError, match="chatwatch-test.*a.yml and b.yml"):
        render.render("prometheusrule", repo)
    with pytest.raises(render.RenderError, match="x.json is not valid JSON"):
        render.render("dashboards", repo)
    with pytest.raises(render.RenderError, match="no rule files"):
        render.render("rules", _write_repo(tmp_path / "empty", {}, {}))


def test_render_command_line_reports_errors(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main(["rules", "--repo", str(tmp_path)]) == 2
    assert "no rule files" in capsys.readouterr().err


def test_rendered_objects_from_the_repository_are_valid() -> None:
    rules = render.rule_files(REPO)
    dashboards = render.dashboard_files(REPO)
    assert rules and dashboards, "the repository must hold alert rules and dashboards"
    if rules:
        validate_strict(render.rules_configmap(rules))
        check_prometheus_rule(render.prometheus_rule(rules))
    for obj in render.dashboard_configmaps(dashboards):
        validate_strict(obj)


def test_one_setting_switches_rules_and_grafana_alerting(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    def alerts_in(objects: list[dict[str, Any]]) -> int:
        return sum(text.count("\n  - alert: ") + text.count("\n- alert: ")
                   for o in objects for text in o["data"].values())

    prom_rules = render.render("rules", REPO, "prometheus")
    graf_rules = render.render("rules", REPO, "grafana")
    assert alerts_in(prom_rules) > 0 and alerts_in(graf_rules) == 0
    assert "record: shop:chatwatch_reply_rate:today" in graf_rules[0]["data"]["chatwatch.yml"]
    (rule,) = render.render("prometheusrule", REPO, "grafana")
    assert all("alert" not in r for g in rule["spec"]["groups"] for r in g["rules"])
    (on,) = render.render("grafana-alerting", REPO, "grafana")
    (off,) = render.render("grafana-alerting", REPO, "prometheus")
    assert on["metadata"]["labels"]["grafana_alert"] == "1"
    assert "chatwatch-rules.yaml" in on["data"] and "chatwatch-contact-points.yaml" in on["data"]
    assert list(off["data"]) == ["chatwatch-alerting-off.yaml"]
    with pytest.raises(render.RenderError, match="prometheus or grafana"):
        render.render("rules", REPO, "both")
    monkeypatch.setenv("CHATWATCH_ALERTING", "grafana")
    assert render.main(["rules"]) == 0
    assert "alert:" not in capsys.readouterr().out


def test_the_board_discovers_the_workers_headless_service(objects: list[dict[str, Any]]) -> None:
    (container,) = find(objects, "Deployment", "chatwatch-board")["spec"]["template"]["spec"][
        "containers"]
    headless = find(objects, "Service", "chatwatch-worker-headless")
    args = container["args"]
    target = args[args.index("--discover") + 1]
    assert target.split(".")[0] == headless["metadata"]["name"]
    assert target.endswith(":6066") and args[0] == "board"
    service = find(objects, "Service", "chatwatch-board")
    assert service["spec"]["selector"] == find(
        objects, "Deployment", "chatwatch-board")["spec"]["selector"]["matchLabels"]


# --- the bundled Apache Kafka (k8s/kafka: three KRaft nodes, the workers pointed at them) ---

KAFKA_DIR = K8S / "kafka"


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _kafka(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    sts = find(objects, "StatefulSet", "kafka")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    return sts, container


def test_the_bundled_kafka_is_three_kraft_nodes_with_their_own_volumes(
        objects: list[dict[str, Any]]) -> None:
    from stream.kafka_local import KAFKA_VERSION

    sts, container = _kafka(objects)
    env = _env(container)
    replicas = sts["spec"]["replicas"]
    assert replicas == 3
    assert container["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in name for name in env)
    # every node is a voter, reached by its stable name on the controller port
    headless = find(objects, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True, "the quorum forms before ready"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    domain = f"{headless['metadata']['name']}.chatwatch.svc.cluster.local"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",") == [
        f"{i}@{sts['metadata']['name']}-{i}.{domain}:{ports['controller']}"
        for i in range(replicas)]
    assert f"CONTROLLER://:{ports['controller']}" in env["KAFKA_LISTENERS"].split(",")
    assert f"PLAINTEXT://:{ports['kafka']}" in env["KAFKA_LISTENERS"].split(",")
    # node id = the pod's ordinal, matching the voters; each advertises its own stable name
    (script,) = container["args"]
    assert 'KAFKA_NODE_ID="${HOSTNAME##*-}"' in script
    assert f"PLAINTEXT://${{HOSTNAME}}.{domain}:{ports['kafka']}" in script
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    # a KRaft cluster id is 16 bytes in URL-safe base64 (what kafka-storage random-uuid prints)
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    # the log folder is on the node's own claim, in a folder of it (not its root)
    claims = {c["metadata"]["name"]: c for c in sts["spec"]["volumeClaimTemplates"]}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] in claims]
    assert env["KAFKA_LOG_DIRS"].startswith(mount["mountPath"] + "/")
    claim = claims[mount["name"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]


def test_the_bundled_kafka_replicates_like_the_tests_three_broker_cluster(
        objects: list[dict[str, Any]], tmp_path: Path) -> None:
    """The KRaft settings of stream/kafka_local.py and the chaos run's replication."""
    from stream.kafka_local import KafkaCluster
    from tests.chaos.brokers import OVERRIDES

    sts, container = _kafka(objects)
    env = _env(container)
    cluster = KafkaCluster(tmp_path, brokers=3, overrides=OVERRIDES)  # described, never started
    tested = cluster.properties(cluster.nodes[0])
    for key in ("process.roles", "controller.listener.names", "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
                "share.coordinator.state.topic.replication.factor",
                "share.coordinator.state.topic.min.isr", "default.replication.factor",
                "min.insync.replicas", "unclean.leader.election.enable"):
        name = "KAFKA_" + key.upper().replace(".", "_")
        assert env[name] == tested[key], (name, tested[key])
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == str(sts["spec"]["replicas"])
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    worker_env = _env(find(objects, "StatefulSet", "chatwatch-worker")["spec"]["template"]
                      ["spec"]["containers"][0])
    assert env["KAFKA_NUM_PARTITIONS"] == worker_env["CHATWATCH_PARTITIONS"]
    assert worker_env["CHATWATCH_REPLICATION_FACTOR"] == env["KAFKA_DEFAULT_REPLICATION_FACTOR"]
    # voluntary disruptions take one broker at a time (two out of three would refuse writes)
    pdb = find(objects, "PodDisruptionBudget", "kafka")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= \
        sts["spec"]["template"]["metadata"]["labels"].items()


def test_the_bundled_kafka_has_probes_limits_and_runs_as_non_root(
        objects: list[dict[str, Any]]) -> None:
    sts, container = _kafka(objects)
    pod = sts["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"]
    assert pod["automountServiceAccountToken"] is False
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"]["port"] == "kafka", probe
    assert container["resources"]["limits"]["cpu"] and container["resources"]["limits"]["memory"]
    assert container["resources"]["requests"]["memory"]
    heap = re.search(r"-Xmx(\d+)g", _env(container)["KAFKA_HEAP_OPTS"])
    assert heap and container["resources"]["limits"]["memory"] == f"{2 * int(heap[1])}Gi", \
        "the page cache and the JVM beyond its heap need the other half"
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["terminationGracePeriodSeconds"] >= 60, "time for a controlled shutdown"


def test_the_topics_job_creates_the_chatwatch_topics_three_times_replicated(
        objects: list[dict[str, Any]]) -> None:
    from stream.kafka_local import KAFKA_VERSION

    job = find(objects, "Job", "kafka-topics")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = _env(container)
    (script,) = container["args"]
    for topic in TOPICS:
        assert re.search(rf"^\s*create {re.escape(topic)} \d+$", script, re.MULTILINE), topic
    assert "--if-not-exists" in script
    assert "--replication-factor 3" in script and "min.insync.replicas=2" in script
    worker_env = _env(find(objects, "StatefulSet", "chatwatch-worker")["spec"]["template"]
                      ["spec"]["containers"][0])
    assert env["PARTITIONS"] == worker_env["CHATWATCH_PARTITIONS"]
    host, port = env["BOOTSTRAP"].split(":")
    service = find(objects, "Service", host.split(".")[0])
    assert host == f"{service['metadata']['name']}.chatwatch.svc.cluster.local"
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def _apply_env_patch(env: list[dict[str, Any]], patch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A strategic-merge patch of a container's env (merged by name), as kustomize applies it."""
    out = [dict(e) for e in env]
    for entry in patch:
        out = [e for e in out if e["name"] != entry["name"]]
        if entry.get("$patch") != "delete":
            out.append(entry)
    return out


def test_the_kafka_overlay_points_the_workers_at_the_bundled_broker(
        objects: list[dict[str, Any]]) -> None:
    kustomization = yaml.safe_load((KAFKA_DIR / "kustomization.yaml").read_text("utf-8"))
    assert kustomization["namespace"] == "chatwatch"
    assert ".." in kustomization["resources"], "the whole stack, plus the broker"
    assert {p.name for p in KAFKA_DIR.glob("*.yaml")} - {"kustomization.yaml"} == \
        set(kustomization["resources"]) - {".."}
    (patch,) = kustomization["patches"]
    assert patch["target"] == {"kind": "StatefulSet", "name": "chatwatch-worker"}
    patch_doc = yaml.safe_load(patch["patch"])
    (patched,) = patch_doc["spec"]["template"]["spec"]["containers"]
    worker = find(objects, "StatefulSet", "chatwatch-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert patched["name"] == container["name"]
    env_list = _apply_env_patch(container["env"], patched["env"])
    names = [e["name"] for e in env_list]
    assert set(names) <= WORKER_ENV and len(names) == len(set(names))
    assert not [n for n in names if n.startswith("KAFKA_SASL")]
    env = {e["name"]: e.get("value") or f"from-secret-{e['valueFrom']['secretKeyRef']['key']}"
           for e in env_list}
    settings = load_settings(DEPLOY / "config" / "chatwatch.yml", environ=env)
    assert settings.security.security_protocol == "PLAINTEXT"
    host, port = settings.broker.removeprefix("kafka://").split(":")
    service = find(objects, "Service", host.split(".")[0])
    assert find(objects, "StatefulSet", "kafka")["spec"]["template"]["metadata"]["labels"] \
        .items() >= service["spec"]["selector"].items()
    assert host == f"{service['metadata']['name']}.chatwatch.svc.cluster.local"
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
