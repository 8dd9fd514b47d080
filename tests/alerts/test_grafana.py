"""Grafana alert provisioning: generated from the one alert table, never drifting, and holding
every field Grafana's file provisioning (apiVersion 1) requires.

The schema below is written from Grafana's provisioning types (pkg/services/provisioning/
alerting: ``AlertRuleGroupV1``/``AlertRuleV1``/``QueryV1``, ``ContactPointV1``/``ReceiverV1``,
the notification policy and mute timing types) and the integrations' required settings; a
Grafana binary is not needed.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from alerts import grafana, rulegen
from alerts.local import find_tool

REPO = Path(__file__).resolve().parents[2]
DURATION = r"^([0-9]+(ms|s|m|h|d|w|y))+$"
UID = r"^[a-zA-Z0-9_-]{1,40}$"
ENV_REF = r"^\$\{[A-Z][A-Z0-9_]*\}$"

_MATCHER = {"type": "array", "minItems": 3, "maxItems": 3,
            "prefixItems": [{"type": "string", "minLength": 1},
                      {"enum": ["=", "!=", "=~", "!~"]}, {"type": "string"}]}
_ROUTE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "receiver": {"type": "string", "minLength": 1},
        "group_by": {"type": "array", "items": {"type": "string"}},
        "object_matchers": {"type": "array", "items": _MATCHER},
        "mute_time_intervals": {"type": "array", "items": {"type": "string"}},
        "continue": {"type": "boolean"},
        "group_wait": {"type": "string", "pattern": DURATION},
        "group_interval": {"type": "string", "pattern": DURATION},
        "repeat_interval": {"type": "string", "pattern": DURATION},
        "routes": {"type": "array", "items": {"$ref": "#/$defs/route"}},
    },
    "additionalProperties": False,
}
_QUERY = {
    "type": "object",
    "required": ["refId", "datasourceUid", "model"],
    "properties": {
        "refId": {"type": "string", "minLength": 1},
        "datasourceUid": {"type": "string", "minLength": 1},
        "relativeTimeRange": {"type": "object", "required": ["from", "to"],
                              "properties": {"from": {"type": "integer", "minimum": 0},
                                             "to": {"type": "integer", "minimum": 0}}},
        "model": {"type": "object", "required": ["refId"]},
        "queryType": {"type": "string"},
    },
    "additionalProperties": False,
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "rules": {
        "type": "object",
        "required": ["apiVersion", "groups"],
        "properties": {
            "apiVersion": {"const": 1},
            "groups": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["orgId", "name", "folder", "interval", "rules"],
                "properties": {
                    "orgId": {"type": "integer", "minimum": 1},
                    "name": {"type": "string", "minLength": 1},
                    "folder": {"type": "string", "minLength": 1},
                    # Grafana schedules on a 10 s base interval
                    "interval": {"type": "string", "pattern": r"^([0-9]*0s|[0-9]+[mh])$"},
                    "rules": {"type": "array", "minItems": 1, "items": {
                        "type": "object",
                        "required": ["uid", "title", "condition", "data", "for", "labels",
                                     "annotations"],
                        "properties": {
                            "uid": {"type": "string", "pattern": UID},
                            "title": {"type": "string", "minLength": 1},
                            "condition": {"type": "string", "minLength": 1},
                            "data": {"type": "array", "minItems": 1, "items": _QUERY},
                            "noDataState": {"enum": ["Alerting", "NoData", "OK", "KeepLast"]},
                            "execErrState": {"enum": ["Alerting", "Error", "OK", "KeepLast"]},
                            "for": {"type": "string", "pattern": DURATION},
                            "labels": {"type": "object",
                                       "additionalProperties": {"type": "string"}},
                            "annotations": {"type": "object",
                                            "additionalProperties": {"type": "string"}},
                            "isPaused": {"type": "boolean"},
                        },
                        "additionalProperties": False,
                    }},
                },
                "additionalProperties": False,
            }},
        },
        "additionalProperties": False,
    },
    "contact-points": {
        "type": "object",
        "required": ["apiVersion", "contactPoints"],
        "properties": {
            "apiVersion": {"const": 1},
            "contactPoints": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["orgId", "name", "receivers"],
                "properties": {
                    "orgId": {"type": "integer", "minimum": 1},
                    "name": {"type": "string", "minLength": 1},
                    "receivers": {"type": "array", "minItems": 1, "items": {
                        "type": "object",
                        "required": ["uid", "type", "settings"],
                        "properties": {
                            "uid": {"type": "string", "pattern": UID},
                            "type": {"enum": ["dingding", "wecom", "webhook"]},
                            "settings": {"type": "object", "minProperties": 1,
                                         "required": ["url"]},
                            "disableResolveMessage": {"type": "boolean"},
                        },
                        "additionalProperties": False,
                    }},
                },
                "additionalProperties": False,
            }},
        },
        "additionalProperties": False,
    },
    "policies": {
        "$defs": {"route": _ROUTE},
        "type": "object",
        "required": ["apiVersion", "policies"],
        "properties": {
            "apiVersion": {"const": 1},
            # the root route: a route plus orgId, with a receiver
            "policies": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object",
                "required": ["orgId", "receiver"],
                "properties": {"orgId": {"type": "integer", "minimum": 1},
                               **_ROUTE["properties"]},
                "additionalProperties": False,
            }},
        },
        "additionalProperties": False,
    },
    "mute-timings": {
        "type": "object",
        "required": ["apiVersion", "muteTimes"],
        "properties": {
            "apiVersion": {"const": 1},
            "muteTimes": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["orgId", "name", "time_intervals"],
                "properties": {
                    "orgId": {"type": "integer", "minimum": 1},
                    "name": {"type": "string", "minLength": 1},
                    "time_intervals": {"type": "array", "minItems": 1, "items": {
                        "type": "object",
                        "properties": {
                            "times": {"type": "array", "minItems": 1, "items": {
                                "type": "object", "required": ["start_time", "end_time"],
                                "properties": {
                                    "start_time": {"type": "string",
                                                   "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                                    "end_time": {"type": "string", "pattern":
                                                 r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"},
                                },
                                "additionalProperties": False}},
                            "location": {"type": "string", "minLength": 1},
                        },
                        "additionalProperties": False,
                    }},
                },
                "additionalProperties": False,
            }},
        },
        "additionalProperties": False,
    },
}
# Fields a rule's expression nodes need, by type (Grafana server-side expressions).
EXPRESSION_FIELDS = {"reduce": {"expression", "reducer"}, "threshold": {"expression", "conditions"},
                     "math": {"expression"}}


def _errors(kind: str, doc: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMAS[kind])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _alerting_file(kind: str) -> Path:
    return REPO / rulegen.GRAFANA_DIR / f"chatwatch-{kind}.yaml"


# -- drift -------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", sorted(map(str, rulegen.outputs())))
def test_committed_output_matches_the_generator(rel: str) -> None:
    path = REPO / rel
    assert path.is_file(), f"{rel} is missing: run python -m alerts.rulegen --all"
    assert path.read_text(encoding="utf-8") == rulegen.outputs()[Path(rel)], (
        f"{rel} is stale: run python -m alerts.rulegen --all")


def test_no_stray_files_in_the_generated_folders() -> None:
    expected = {REPO / p for p in rulegen.outputs()}
    for folder in (rulegen.GRAFANA_DIR, rulegen.GRAFANA_OFF_DIR, rulegen.RECORDING_FILE.parent):
        present = set((REPO / folder).iterdir())
        assert present <= expected, f"not generated (delete or generate): {present - expected}"


def test_cli_writes_what_the_drift_test_compares(tmp_path: Path) -> None:
    rulegen.main(["--grafana", str(tmp_path / "alerting"), "--grafana-off", str(tmp_path / "off"),
                  "--recording-out", str(tmp_path / "rec.yml"), "--out", str(tmp_path / "r.yml")])
    outputs = rulegen.outputs()
    for name in grafana.FILES:
        assert (tmp_path / "alerting" / name).read_text(encoding="utf-8") == \
            outputs[rulegen.GRAFANA_DIR / name]
    assert (tmp_path / "off" / grafana.OFF_FILE).read_text(encoding="utf-8") == \
        outputs[rulegen.GRAFANA_OFF_DIR / grafana.OFF_FILE]
    assert (tmp_path / "rec.yml").read_text(encoding="utf-8") == outputs[rulegen.RECORDING_FILE]
    assert (tmp_path / "r.yml").read_text(encoding="utf-8") == outputs[rulegen.RULES_FILE]


# -- one table, two outputs ----------------------------------------------------------------------

def test_every_prometheus_alert_has_the_same_grafana_rule() -> None:
    prom = {r["alert"]: r for g in rulegen.build_rules()["groups"] for r in g["rules"]
            if "alert" in r}
    rules = {r["title"]: r for r in _load(_alerting_file("rules"))["groups"][0]["rules"]}
    assert set(rules) == set(prom)
    for name, p in prom.items():
        g = rules[name]
        query = next(d for d in g["data"] if d["datasourceUid"] == grafana.DATASOURCE_UID)
        assert query["model"]["expr"] == p["expr"], name
        assert query["model"]["instant"] is True
        assert g["for"] == p["for"] and g["labels"] == p["labels"], name
        assert set(g["annotations"]) == set(p["annotations"])
        for key, text in p["annotations"].items():
            assert g["annotations"][key] == text.replace("$value", "$values.B.Value"), name
            assert "$value " not in g["annotations"][key] and "$value}" not in g["annotations"][key]


def test_an_alert_added_to_the_table_reaches_both_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    original = rulegen.alert_rules

    def with_kpi(t: rulegen.Thresholds) -> list[rulegen.Alert]:
        return [*original(t), rulegen._alert(
            "KpiBelowTarget", "shop:chatwatch_kpi_rate:today < 0.7", "5m", "page",
            "店铺 {{ $labels.shop }} KPI {{ $value }} / KPI below target", "KPI below target.",
            t, counted_hours_only=True)]

    monkeypatch.setattr(rulegen, "alert_rules", with_kpi)
    monkeypatch.setattr(grafana, "alert_rules", with_kpi)
    assert "alert: KpiBelowTarget" in rulegen.render()
    outputs = rulegen.outputs()
    text = outputs[rulegen.GRAFANA_DIR / "chatwatch-rules.yaml"]
    assert "title: KpiBelowTarget" in text and "shop:chatwatch_kpi_rate:today < 0.7" in text
    assert "KpiBelowTarget" in outputs[rulegen.GRAFANA_DIR / "chatwatch-policies.yaml"]
    assert "chatwatch-kpibelowtarget" in outputs[rulegen.GRAFANA_OFF_DIR / grafana.OFF_FILE]


def test_recording_only_rules_are_the_recording_rules_and_promtool_accepts_them() -> None:
    doc = _load(REPO / rulegen.RECORDING_FILE)
    full = _load(REPO / rulegen.RULES_FILE)
    records = [r for r in full["groups"][0]["rules"] if "record" in r]
    assert doc["groups"][0]["rules"] == records
    assert all("alert" not in r for g in doc["groups"] for r in g["rules"])
    done = subprocess.run([find_tool("promtool"), "check", "rules", str(REPO / rulegen.RECORDING_FILE)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


# -- Grafana's required fields --------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_provisioning_file_has_the_fields_grafana_requires(kind: str) -> None:
    assert _errors(kind, _load(_alerting_file(kind))) == []


@pytest.mark.parametrize(("kind", "path", "bad"), [
    ("rules", ("groups", 0, "rules", 0, "uid"), "x" * 41),
    ("rules", ("groups", 0, "rules", 0, "for"), "5 minutes"),
    ("rules", ("groups", 0, "interval"), "15s"),
    ("contact-points", ("contactPoints", 0, "receivers", 0, "type"), "dingtalk"),
    ("policies", ("policies", 0, "routes", 0, "object_matchers", 0, 1), "=="),
    ("mute-timings", ("muteTimes", 0, "time_intervals", 0, "times", 0, "end_time"), "25:00"),
])
def test_schema_check_is_not_vacuous(kind: str, path: tuple[Any, ...], bad: Any) -> None:
    doc = copy.deepcopy(_load(_alerting_file(kind)))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    assert _errors(kind, doc), f"{kind}: {path} = {bad!r} should be refused"


def test_rule_conditions_and_expressions_are_wired() -> None:
    for rule in _load(_alerting_file("rules"))["groups"][0]["rules"]:
        refs = {d["refId"]: d for d in rule["data"]}
        assert len(refs) == len(rule["data"]), f"{rule['title']}: duplicate refId"
        assert rule["condition"] in refs
        for ref, node in refs.items():
            assert node["model"]["refId"] == ref
            if node["datasourceUid"] == "__expr__":
                kind = node["model"]["type"]
                assert EXPRESSION_FIELDS[kind] <= set(node["model"]), (rule["title"], ref)
                assert node["model"]["expression"] in refs, (rule["title"], ref)
            else:
                assert node["datasourceUid"] == grafana.DATASOURCE_UID
                assert node["model"]["expr"]
        assert refs[rule["condition"]]["model"]["type"] == "threshold"
        # every $values.X the annotations use is an expression of the rule
        for text in rule["annotations"].values():
            assert set(re.findall(r"\$values\.(\w+)", text)) <= set(refs)


def test_rules_read_the_provisioned_datasource() -> None:
    ds = _load(REPO / "deploy/grafana/provisioning/datasources/prometheus.yml")
    uids = {d["uid"] for d in ds["datasources"] if d["type"] == "prometheus"}
    assert grafana.DATASOURCE_UID in uids


def test_contact_points_take_urls_from_the_environment_only() -> None:
    doc = _load(_alerting_file("contact-points"))
    kinds = set()
    for point in doc["contactPoints"]:
        for receiver in point["receivers"]:
            kinds.add(receiver["type"])
            assert re.match(ENV_REF, receiver["settings"]["url"]), receiver
            # Grafana expands $VAR and ${VAR} in contact point settings: no other $ in them
            for value in receiver["settings"].values():
                assert "$" not in str(value).replace(receiver["settings"]["url"], "")
    assert kinds == {"dingding", "wecom", "webhook"}
    text = _alerting_file("contact-points").read_text(encoding="utf-8")
    assert "access_token" not in text and "https://" not in text


def test_grafana_does_not_expand_variables_in_rule_labels_or_annotations() -> None:
    # Grafana interpolates ${VAR} in annotations and $VAR in labels: none may appear there.
    for rule in _load(_alerting_file("rules"))["groups"][0]["rules"]:
        for value in rule["annotations"].values():
            assert "${" not in value, rule["title"]
        for value in rule["labels"].values():
            assert "$" not in value, rule["title"]


def test_policy_tree_mirrors_the_alertmanager_routes() -> None:
    from alerts.amconfig import build_config
    from stream.config import Settings

    am = build_config(Settings())["route"]
    policy = _load(_alerting_file("policies"))["policies"][0]
    assert policy["group_by"] == am["group_by"] == ["alertname", "shop"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert policy[key] == am[key]
    am_routes = [(r["matchers"], r.get("group_by"), r.get("group_wait"), r.get("repeat_interval"))
                 for r in am["routes"]]
    g_routes = [([f'{n}{op}"{v}"' for n, op, v in r["object_matchers"]], r.get("group_by"),
                 r.get("group_wait"), r.get("repeat_interval")) for r in policy["routes"]]
    assert g_routes == am_routes
    receivers = {p["name"] for p in _load(_alerting_file("contact-points"))["contactPoints"]}

    def walk(route: dict[str, Any]) -> None:
        assert route["receiver"] in receivers
        for child in route.get("routes", []):
            walk(child)
    walk(policy)


def test_kpi_alerts_are_muted_outside_counted_hours_and_pipeline_alerts_never() -> None:
    mute = _load(_alerting_file("mute-timings"))["muteTimes"][0]
    assert mute["name"] == grafana.MUTE_OUTSIDE_COUNTED
    interval = mute["time_intervals"][0]
    assert interval["location"] == "Asia/Shanghai"
    assert interval["times"] == [{"start_time": "00:00", "end_time": "08:00"},
                                 {"start_time": "23:00", "end_time": "24:00"}]
    policy = _load(_alerting_file("policies"))["policies"][0]
    counted = {a.name for a in rulegen.alert_rules(rulegen.Thresholds()) if a.counted_hours_only}
    assert {"ReplyRateBelowTarget", "WaitAtRisk"} <= counted
    assert not counted & {"ChatwatchDown", "EventLagHigh"}
    for route in policy["routes"]:
        if route["object_matchers"][0][0] == "severity":
            (child,) = route["routes"]
            assert child["mute_time_intervals"] == [grafana.MUTE_OUTSIDE_COUNTED]
            assert set(child["object_matchers"][0][2].split("|")) == counted
        else:
            assert "mute_time_intervals" not in route and not route.get("routes")


def test_supervisors_become_contact_points_and_routes() -> None:
    from stream.config import load_settings

    settings = load_settings(REPO / "deploy/alertmanager/example-chatwatch.yml", environ={})
    points = {p["name"]: p for p in grafana.contact_points_file(settings)["contactPoints"]}
    assert [r["settings"]["url"] for r in points["chatwatch-shop-shop-b"]["receivers"]] == [
        "http://pager:9095/alerts?target=shop-b-wecom", "https://ops.example.com/hooks/chatwatch"]
    routes = grafana.policies_file(settings=settings)["policies"][0]["routes"]
    shop_routes = [r for r in routes if r["object_matchers"][0][0] == "shop"]
    assert [r["object_matchers"] for r in shop_routes] == [[["shop", "=", "shop-a"]],
                                                            [["shop", "=", "shop-b"]]]
    assert all(r["continue"] for r in shop_routes)
    assert _errors("policies", grafana.policies_file(settings=settings)) == []


def test_alerting_off_removes_everything_provisioned() -> None:
    off = _load(REPO / rulegen.GRAFANA_OFF_DIR / grafana.OFF_FILE)
    rules = _load(_alerting_file("rules"))["groups"][0]["rules"]
    points = _load(_alerting_file("contact-points"))["contactPoints"]
    assert {d["uid"] for d in off["deleteRules"]} == {r["uid"] for r in rules}
    assert {d["uid"] for d in off["deleteContactPoints"]} == {
        r["uid"] for p in points for r in p["receivers"]}
    assert off["deleteMuteTimes"] == [{"orgId": 1, "name": grafana.MUTE_OUTSIDE_COUNTED}]
    assert off["resetPolicies"] == [1]
    assert set(off) == {"apiVersion", "deleteRules", "deleteContactPoints", "deleteMuteTimes",
                        "resetPolicies"}
