"""Grafana provisioning and dashboards: every panel query and rule expression parses in a real
Prometheus, and every metric they name is one the worker exports."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from alerts import rulegen
from alerts.dashboards import DASHBOARDS_DIR, panel_queries, substitute
from alerts.local import Running
from tests.alerts.conftest import needs_prometheus

GRAFANA = DASHBOARDS_DIR.parent
# The worker's metric contract (histograms expand to _bucket/_sum/_count).
COUNTERS = {"chatwatch_events_total", "chatwatch_events_out_of_order_total",
            "chatwatch_waits_total", "chatwatch_waits_breached_total",
            "chatwatch_agent_breaches_total", "chatwatch_violations_total",
            "chatwatch_agent_violations_total", "chatwatch_rebalances_total",
            "chatwatch_dead_letters_total", "chatwatch_alerts_pushed_total",
            "chatwatch_kpi_breaches_total", "chatwatch_agent_kpi_breaches_total",
            "chatwatch_chat_sales_yuan_total", "chatwatch_silent_sales_yuan_total",
            "chatwatch_agent_chat_sales_yuan_total", "chatwatch_chat_refunds_yuan_total",
            "chatwatch_orders_paid_total"}
GAUGES = {"chatwatch_open_waits", "chatwatch_oldest_wait_seconds", "chatwatch_reply_rate",
          "chatwatch_consultations", "chatwatch_unreplied", "chatwatch_reply_rate_target",
          "chatwatch_wait_at_risk_seconds", "chatwatch_agents_needed", "chatwatch_agents_active",
          "chatwatch_event_lag_seconds", "chatwatch_alert_queue_depth",
          "chatwatch_kpi_rate", "chatwatch_kpi_units", "chatwatch_kpi_units_breached",
          "chatwatch_kpi_target", "chatwatch_kpi_min_volume", "chatwatch_kpi_info",
          "chatwatch_reply_rate_info",
          "chatwatch_kpi_oldest_wait_seconds", "chatwatch_kpi_wait_at_risk_seconds",
          "chatwatch_kpi_counted_now", "chatwatch_kpi_score_units",
          "chatwatch_kpi_score_units_breached", "chatwatch_kpi_gate_ok",
          "chatwatch_inquiries", "chatwatch_conversions", "chatwatch_conversion_rate",
          "chatwatch_agent_conversion_rate"}
HISTOGRAMS = {"chatwatch_response_seconds", "chatwatch_breach_latency_seconds",
              "chatwatch_first_response_seconds"}
KNOWN = COUNTERS | GAUGES | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}


def rule_exprs() -> list[tuple[str, str]]:
    rules = rulegen.build_rules()
    return [(r.get("alert") or r["record"], r["expr"]) for g in rules["groups"] for r in g["rules"]]


def query(prom: Running, expr: str) -> tuple[int, dict[str, object]]:
    data = urllib.parse.urlencode({"query": expr}).encode()
    try:
        with urllib.request.urlopen(prom.url + "/api/v1/query", data=data, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_at_least_two_dashboards_with_unique_uids() -> None:
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARDS_DIR.glob("*.json")]
    assert len(docs) >= 2
    assert len({d["uid"] for d in docs}) == len(docs)


def test_panels_use_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    for path in DASHBOARDS_DIR.glob("*.json"):
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            assert panel["datasource"]["uid"] == uid, (path.name, panel["title"])
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/chatwatch.yml").read_text())
    assert provider["providers"][0]["type"] == "file"


def test_live_dashboard_covers_what_supervisors_need() -> None:
    titles = " ".join(t for _, t, _ in panel_queries(DASHBOARDS_DIR / "live-operations.json"))
    for needed in ("Reply rate today vs target", "Open waits", "Oldest open wait", "Breaches",
                   "Response time percentiles", "Violations by category",
                   "Top agents by breaches", "Top agents by violations",
                   "Platform KPIs today vs target", "KPI units, breaches, first response",
                   "Inquiry conversion today", "Inquiry conversion same weekday last week",
                   "Agents by conversion today", "Top agents by chat sales"):
        assert needed in titles
    live = json.loads((DASHBOARDS_DIR / "live-operations.json").read_text(encoding="utf-8"))
    assert [v["name"] for v in live["templating"]["list"]] == ["shop", "kpi"]  # KPI selector
    kpi_exprs = [e for _, t, e in panel_queries(DASHBOARDS_DIR / "live-operations.json", raw=True)
                 if "KPI" in t]
    assert kpi_exprs and all('kpi=~"$kpi"' in e for e in kpi_exprs)
    exprs = " ".join(e for _, _, e in panel_queries(DASHBOARDS_DIR / "pipeline-health.json"))
    for metric in ("chatwatch_events_total", "chatwatch_dead_letters_total",
                   "chatwatch_event_lag_seconds", "chatwatch_rebalances_total",
                   "chatwatch_alert_queue_depth"):
        assert metric in exprs


def test_queries_name_only_exported_metrics() -> None:
    exprs = [e for _, _, e in panel_queries()] + [e for _, e in rule_exprs()]
    used = {m for e in exprs for m in re.findall(r"(?<![:\w])chatwatch_\w+(?![\w:])", e)}
    assert used - KNOWN == set()
    assert "buyer" not in " ".join(exprs)


def test_the_platform_score_gauges_the_rules_read_are_exported() -> None:
    """The recording rules of DOMAIN.md §3 "Platform score" and KpiBudgetLow read these."""
    from prometheus_client import CollectorRegistry

    from agents.metrics import EngineCollector
    from stream.config import load_settings
    from stream.core.engine import Engine
    from tests.unit.test_reply_window import T0_MS, ev, to_event

    engine = Engine(load_settings(environ={}).policies)
    engine.apply(to_event(ev("buyer", 0)))   # a PDD shop: pdd_5min has a gate
    registry = CollectorRegistry()
    registry.register(EngineCollector(engine, lambda: T0_MS + 1000, lambda: [0]))
    exported = {s.name for family in registry.collect() for s in family.samples}
    read = {m for _, e in rule_exprs() for m in re.findall(r"(?<![:\w])chatwatch_kpi_\w+", e)}
    assert {"chatwatch_kpi_counted_now", "chatwatch_kpi_score_units",
            "chatwatch_kpi_score_units_breached", "chatwatch_kpi_gate_ok"} <= read
    assert read <= exported


def test_substitute_variables() -> None:
    assert substitute('rate(x{shop=~"$shop"}[$__rate_interval])') == 'rate(x{shop=~".*"}[1m])'
    assert substitute("${shop}", {"shop": "s1"}) == "s1"
    with pytest.raises(KeyError, match="agent"):
        substitute("$agent")


@needs_prometheus
@pytest.mark.parametrize(("dashboard", "panel", "expr"), panel_queries())
def test_panel_query_parses(prometheus: Running, dashboard: str, panel: str, expr: str) -> None:
    status, body = query(prometheus, expr)
    assert status == 200, f"{dashboard} / {panel}: {body.get('error')}\n{expr}"
    assert body["status"] == "success"


@needs_prometheus
@pytest.mark.parametrize(("name", "expr"), rule_exprs())
def test_rule_expression_parses(prometheus: Running, name: str, expr: str) -> None:
    status, body = query(prometheus, expr)
    assert status == 200, f"{name}: {body.get('error')}\n{expr}"


@needs_prometheus
def test_a_broken_query_is_rejected(prometheus: Running) -> None:
    status, body = query(prometheus, "sum by (shop (chatwatch_open_waits)")
    assert status == 400 and body["errorType"] == "bad_data"


def test_prometheus_deploy_config_scrapes_job_chatwatch() -> None:
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "deploy/prometheus/prometheus.yml")
                         .read_text())
    assert [s["job_name"] for s in doc["scrape_configs"]] == ["chatwatch"]
