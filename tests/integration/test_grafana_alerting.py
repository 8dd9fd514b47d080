"""Issue 21 item 4: the Grafana rules alert exactly when the Prometheus rules do.

A small chat log with a known breach (shop ``s-bad`` leaves two buyers in three unanswered,
``s-good`` answers everyone in 10 s, and its first 31 buyers pay, the later ones do not: a
conversion drop) is backfilled with ``chatwatch backfill --openmetrics``;
a worker's pipeline series (``up``, ``chatwatch_event_lag_seconds``, which a backfill does not
export) are added with an outage and a lag spike; promtool turns it into TSDB blocks and a real
Prometheus serves it, as in ``test_backfill_history``.

Grafana side: at every step of the history each committed Grafana rule is evaluated as Grafana
would — its query ``A`` through Prometheus' HTTP API, the reduce and threshold nodes of the rule
applied to each series — and its ``for`` is applied over the evaluations. The recording rules
the queries read are expanded in place (a backfilled TSDB holds no recorded series).

Prometheus side: the same samples, read back from that Prometheus, become the input series of a
promtool unit test of the committed rule file (annotations left out: they do not decide
whether an alert fires) whose expected alerts, at every step, are the Grafana rules' firing
series. promtool passes only if both agree at every instant.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import rulegen
from alerts.local import Running, find_tool, run_prometheus
from stream.testing import wait_for
from tests.integration.live import answered, unanswered
from tests.integration.test_backfill_history import history_start_ms
from tests.integration.test_dashboards_live import query

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STEP_S = 60
MINUTES = 100
OUTAGE = range(40, 46)      # minutes with up == 0
LAG_SPIKE = range(60, 66)   # minutes with 120 s of event lag
BUSY = range(20, 60)        # minutes when s-busy has ten buyers a minute and one agent


def chat_log(start_ms: int) -> list[dict[str, Any]]:
    """Every minute one buyer asks in each shop; s-bad answers only every third buyer; for
    40 minutes s-busy gets ten buyers a minute for its one agent (Understaffed)."""
    events: list[dict[str, Any]] = []
    for minute in range(MINUTES):
        at = start_ms + minute * 60_000 + 5_000
        events += answered("s-good", [f"g{minute}"], at, "agent-g")
        if minute <= 30:  # then nobody pays: ConversionDrop (DOMAIN.md §7)
            events.append({"event_id": f"pay-g{minute}", "ts": at + 40_000, "shop_id": "s-good",
                           "buyer_id": f"g{minute}", "type": "order",
                           "order_id": f"o-g{minute}", "status": "paid", "amount": "59.90"})
        if minute % 3 == 0:
            events += answered("s-bad", [f"b{minute}"], at, "agent-b", delay_ms=30_000)
        else:
            events += unanswered("s-bad", [f"b{minute}"], at)
        if BUSY.start <= minute < BUSY.stop:  # s-busy: more buyers than one agent can serve
            for k in range(10):
                events += answered("s-busy", [f"u{minute}-{k}"], at + k * 6_000, "agent-u",
                                   delay_ms=100_000)
    events.sort(key=lambda e: int(e["ts"]))
    return events


def pipeline_families(times: list[str]) -> str:
    """OpenMetrics of one worker's ``up`` and event lag at the history's sample times."""
    labels = 'instance="w1",job="chatwatch"'
    up = [f"up{{{labels}}} {0 if i in OUTAGE else 1} {ts}" for i, ts in enumerate(times)]
    lag = [f"chatwatch_event_lag_seconds{{{labels}}} {120 if i in LAG_SPIKE else 1} {ts}"
           for i, ts in enumerate(times)]
    return ("# TYPE up gauge\n" + "\n".join(up) + "\n"
            "# TYPE chatwatch_event_lag_seconds gauge\n" + "\n".join(lag) + "\n")


def expand_recordings(expr: str, records: dict[str, str]) -> str:
    """Replace every recorded series name with its (parenthesised) expression, recursively."""
    names = sorted(records, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w:])(" + "|".join(map(re.escape, names)) + r")(?![\w:])")
    for _ in range(10):
        expanded = pattern.sub(lambda m: "(" + records[m.group(1)] + ")", expr)
        if expanded == expr:
            return expr
        expr = expanded
    raise AssertionError(f"recording rules nest too deeply in {expr}")


def duration_s(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", text))


@dataclass
class History:
    prom: Running
    times: list[float]                      # sample times, seconds
    grafana_rules: list[dict[str, Any]]
    records: dict[str, str]
    workdir: Path


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    workdir = tmp_path_factory.mktemp("grafana-equivalence")
    log = workdir / "log.jsonl"
    log.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n"
                           for e in chat_log(history_start_ms())), encoding="utf-8")
    om = workdir / "history.om"
    done = subprocess.run(
        [sys.executable, "-m", "stream", "backfill", "--input", str(log), "--report",
         str(workdir / "report.jsonl"), "--openmetrics", str(om), "--step", str(STEP_S),
         "--metrics-label", "job=chatwatch", "--no-progress"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    text = om.read_text(encoding="utf-8")
    times = sorted({line.rsplit(" ", 1)[1] for line in text.splitlines()
                    if line.startswith("chatwatch_open_waits{")}, key=float)
    assert len(times) >= MINUTES - 5, "the history should sample every minute"
    assert text.endswith("# EOF\n")
    om.write_text(text[:-len("# EOF\n")] + pipeline_families(times) + "# EOF\n",
                  encoding="utf-8")
    prom_dir = workdir / "prom"
    blocks = subprocess.run([find_tool("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                             str(om), str(prom_dir / "data")], capture_output=True, text=True,
                            timeout=300)
    assert blocks.returncode == 0, blocks.stderr + blocks.stdout

    doc = yaml.safe_load((REPO / rulegen.GRAFANA_DIR / "chatwatch-rules.yaml")
                         .read_text(encoding="utf-8"))
    records = {r["record"]: r["expr"] for r in rulegen.recording_rules()}
    with run_prometheus(prom_dir) as prom:
        last = times[-1]
        # Prometheus may still be loading the blocks just after it reports ready.
        wait_for(lambda: query(prom.url, f"up @ {last}")["data"]["result"], timeout=30,
                   what="backfilled blocks loaded")
        yield History(prom, [float(t) for t in times], doc["groups"][0]["rules"], records,
                      workdir)


def _nodes(rule: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["refId"]: d for d in rule["data"]}


def _instant(prom: Running, expr: str, t: float) -> dict[tuple[tuple[str, str], ...], float]:
    body = _query_at(prom, expr, t)
    assert body.get("status") == "success", (expr, body)
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__")):
            float(r["value"][1]) for r in body["data"]["result"]}


def _query_at(prom: Running, expr: str, t: float) -> dict[str, Any]:
    return dict(prom.get_json("/api/v1/query?" + urllib.parse.urlencode(
        {"query": expr, "time": f"{t:.3f}"}), timeout=10))


def _reduce(model: dict[str, Any], values: list[float]) -> float | None:
    if model.get("settings", {}).get("mode") == "dropNN":
        values = [v for v in values if not math.isnan(v)]
    reducer = model["reducer"]
    if reducer == "count":
        return float(len(values))
    if not values:
        return None
    return {"last": values[-1], "max": max(values), "min": min(values),
            "sum": sum(values), "mean": sum(values) / len(values)}[reducer]


def _threshold(model: dict[str, Any], value: float | None) -> bool:
    (condition,) = model["conditions"]
    kind, params = condition["evaluator"]["type"], condition["evaluator"]["params"]
    if value is None or math.isnan(value):
        return False
    return {"gt": value > params[0], "lt": value < params[0]}[kind]


def grafana_condition(h: History, rule: dict[str, Any], t: float) -> set[tuple[tuple[str, str], ...]]:
    """The series for which the rule's condition holds at ``t``: query, reduce, threshold."""
    nodes = _nodes(rule)
    condition = nodes[rule["condition"]]["model"]
    assert condition["type"] == "threshold"
    reduce_node = nodes[condition["expression"]]["model"]
    assert reduce_node["type"] == "reduce"
    query_node = nodes[reduce_node["expression"]]
    assert query_node["datasourceUid"] != "__expr__" and query_node["model"]["instant"]
    series = _instant(h.prom, expand_recordings(query_node["model"]["expr"], h.records), t)
    return {labels for labels, v in series.items()
            if _threshold(condition, _reduce(reduce_node, [v]))}


def grafana_firing(h: History, rule: dict[str, Any]) -> list[set[tuple[tuple[str, str], ...]]]:
    """Per sample time, the series in state Alerting: condition true for at least ``for``."""
    hold = duration_s(rule["for"])
    since: dict[tuple[tuple[str, str], ...], float] = {}
    out = []
    for t in h.times:
        active = grafana_condition(h, rule, t)
        since = {k: since.get(k, t) for k in active}
        out.append({k for k, start in since.items() if t - start >= hold})
    return out


def promtool_input(h: History) -> list[dict[str, str]]:
    """Every stored series at the sample times, in promtool's notation (``_`` = no sample)."""
    start, end = h.times[0], h.times[-1]
    body = h.prom.get_json("/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": '{__name__=~".+"}', "start": start, "end": end, "step": STEP_S}), timeout=30)
    out = []
    for r in body["data"]["result"]:
        by_time = {float(t): v for t, v in r["value" if "value" in r else "values"]}
        values = " ".join(by_time.get(t, "_") for t in h.times)
        metric = dict(r["metric"])
        name = metric.pop("__name__")
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()))
        out.append({"series": f"{name}{{{labels}}}", "values": values})
    return out


def test_every_grafana_rule_query_returns_series(history: History) -> None:
    assert {r["title"] for r in history.grafana_rules} == {
        a.name for a in rulegen.alert_rules(rulegen.Thresholds())}
    for rule in history.grafana_rules:
        expr = _nodes(rule)["A"]["model"]["expr"]
        # the query as Grafana sends it parses and runs (recorded series absent here)
        assert _query_at(history.prom, expr, history.times[-1])["status"] == "success"
        hits = [t for t in history.times
                if _instant(history.prom, expand_recordings(expr, history.records), t)]
        assert hits, f"{rule['title']}: its query never returned a series on the history"


def test_grafana_rules_fire_exactly_when_the_prometheus_rules_fire(history: History) -> None:
    firing = {rule["title"]: grafana_firing(history, rule) for rule in history.grafana_rules}
    # the history holds a known breach: every alert fires somewhere, and not everywhere
    for name in ("ReplyRateBelowTarget", "WaitAtRisk", "ReplyBudgetBurnFast", "ChatwatchDown",
                 "EventLagHigh", "ConversionDrop", "Understaffed"):
        assert any(firing[name]), f"{name} never fires on the history"
        assert not all(firing[name]), f"{name} fires at every instant"
    shops = {dict(k).get("shop") for s in firing["ReplyRateBelowTarget"] for k in s}
    assert shops == {"s-bad"}, shops

    rules = rulegen.build_rules()
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rule_file = history.workdir / "rules.yml"
    rule_file.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    labels_of = {r["title"]: r["labels"] for r in history.grafana_rules}
    tests = []
    for name, per_time in firing.items():
        for i, series in enumerate(per_time):
            tests.append({"eval_time": f"{i * STEP_S}s", "alertname": name, "exp_alerts": [
                {"exp_labels": {**dict(k), **labels_of[name]}} for k in sorted(series)]})
    unit = {"rule_files": [str(rule_file)], "evaluation_interval": f"{STEP_S}s",
            "tests": [{"interval": f"{STEP_S}s", "input_series": promtool_input(history),
                       "alert_rule_test": tests}]}
    unit_file = history.workdir / "equivalence_test.yml"
    unit_file.write_text(yaml.safe_dump(unit, sort_keys=False), encoding="utf-8")
    done = subprocess.run([find_tool("promtool"), "test", "rules", str(unit_file)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert sum(len(s) for per in firing.values() for s in per) > 0
