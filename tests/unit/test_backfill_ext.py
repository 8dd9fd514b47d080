"""``chatwatch backfill`` read-outs: --by agent, --violations, --openmetrics, --summary-html."""

from __future__ import annotations

import json
import math
import subprocess
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from alerts.local import find_tool
from stream.backfill import run_backfill
from stream.cli import cli
from stream.config import Settings
from stream.core.content import Detector
from stream.core.engine import Engine
from stream.inputs import read_events
from stream.report.openmetrics import MetricsHistory
from stream.report.summary_html import render_summary
from stream.report.tally import Tally, report_rows
from tests.unit.test_reply_window import settings_yaml

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 11, 10, 0, tzinfo=CST)
SHOP_FIELDS = ["shop_id", "day", "consultations", "unreplied", "reply_rate", "waits",
               "waits_breached", "responses", "mean_response_seconds", "fast_responses"]
AGENT_FIELDS = ["shop_id", "agent", "day"] + SHOP_FIELDS[2:]
VIOLATION_FIELDS = ["violations_critical", "violations_warning", "violations_info"]

_ids = iter(range(1, 1_000_000))


def ev(sender: str, at: float | datetime, *, buyer: str = "b1", agent: str | None = None,
       text: str = "你好", shop: str = "s1", **extra: Any) -> dict[str, Any]:
    """A message event ``at`` seconds after T0 (or at a datetime)."""
    when = at if isinstance(at, datetime) else T0 + timedelta(seconds=at)
    event: dict[str, Any] = {"event_id": f"e{next(_ids)}", "ts": when.isoformat(),
                             "shop_id": shop, "buyer_id": buyer, "type": "message",
                             "sender": sender, "text": text, **extra}
    if sender in ("agent", "bot"):
        event["agent_id"] = agent or "a1"
    return event


def write_log(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events),
                    encoding="utf-8")
    return path


def backfill(path: Path, settings: Settings, *, by_agent: bool = False,
             violations: bool = False, hours: bool = False,
             history: bool = False) -> tuple[Any, Tally, MetricsHistory | None]:
    engine = Engine(settings.policies,
                    settings.content.guard() if violations or history else None)
    tally = Tally(engine, by_agent=by_agent, violations=violations, hours=hours)
    metrics = MetricsHistory(engine, 60) if history else None
    result = run_backfill(read_events([str(path)]), settings, engine=engine, listeners=[tally],
                          metrics=metrics)
    return result, tally, metrics


# A shop-day where attribution matters (DOMAIN.md §3 rule 6).
ATTRIBUTION_LOG = [
    ev("buyer", 0), ev("agent", 10, agent="a1"),                 # unassigned, 10 s (fast)
    ev("buyer", 60),                                             # a1, never answered
    ev("buyer", 3600, buyer="b2"), ev("agent", 3720, buyer="b2", agent="a2"),  # unassigned, 120 s
    ev("buyer", 4200, buyer="b2"), ev("agent", 4800, buyer="b2", agent="a2"),  # a2, late 600 s
    ev("buyer", T0.replace(hour=2), buyer="b3"),                 # 02:00: not counted
]


def test_by_agent_rows_follow_attribution_and_add_up_to_the_shop_row(
        tmp_path: Path, settings: Settings) -> None:
    result, tally, _ = backfill(write_log(tmp_path / "log.jsonl", ATTRIBUTION_LOG), settings,
                                by_agent=True)
    rows = report_rows(result.report(), tally, by_agent=True)
    assert all(list(r) == AGENT_FIELDS for r in rows)
    by = {r["agent"]: r for r in rows}
    assert sorted(by) == ["a1", "a2", "unassigned"]
    assert {k: by["a1"][k] for k in AGENT_FIELDS[3:]} == {
        "consultations": 1, "unreplied": 1, "reply_rate": 0.0, "waits": 1,
        "waits_breached": 1, "responses": 0, "mean_response_seconds": None,
        "fast_responses": 0}
    assert {k: by["a2"][k] for k in AGENT_FIELDS[3:]} == {
        "consultations": 1, "unreplied": 1, "reply_rate": 0.0, "waits": 1,
        "waits_breached": 1, "responses": 1, "mean_response_seconds": 600.0,
        "fast_responses": 0}
    assert {k: by["unassigned"][k] for k in AGENT_FIELDS[3:]} == {
        "consultations": 2, "unreplied": 0, "reply_rate": 1.0, "waits": 2,
        "waits_breached": 0, "responses": 2, "mean_response_seconds": 65.0,
        "fast_responses": 1}
    (shop,) = [r.as_dict() for r in result.report()]
    for name in ("waits", "waits_breached", "responses", "fast_responses"):
        assert sum(r[name] for r in rows) == shop[name]


def test_by_agent_counts_distinct_buyers_per_agent(tmp_path: Path, settings: Settings) -> None:
    log = [ev("agent", 0, agent="a1", conversation_id="c1"),
           ev("agent", 0, agent="a1", conversation_id="c2"),
           ev("buyer", 10, conversation_id="c1"), ev("buyer", 20, conversation_id="c2"),
           ev("agent", 30, agent="a1", conversation_id="c1")]
    result, tally, _ = backfill(write_log(tmp_path / "log.jsonl", log), settings, by_agent=True)
    (row,) = report_rows(result.report(), tally, by_agent=True)
    # one buyer, two waits (one breached at end of input) -> 1 consultation, 1 unreplied
    assert (row["agent"], row["consultations"], row["unreplied"], row["waits"],
            row["waits_breached"]) == ("a1", 1, 1, 2, 1)


def test_a_retracted_breach_is_taken_back_in_agent_rows_and_metrics(
        tmp_path: Path, settings: Settings) -> None:
    # c1's reply is stamped inside the window but comes after c2's events moved event time
    # (and so the watermark) past c1's deadline: the breach is declared, then retracted.
    log = [ev("agent", -5, agent="a1"), ev("buyer", 0), ev("buyer", 900, buyer="b2"),
           ev("agent", 200, agent="a1"), ev("agent", 901, buyer="b2", agent="a9")]
    result, tally, metrics = backfill(write_log(tmp_path / "log.jsonl", log), settings,
                                      by_agent=True, history=True)
    assert metrics is not None
    (a1,) = [r for r in report_rows(result.report(), tally, by_agent=True) if r["agent"] == "a1"]
    assert (a1["waits_breached"], a1["unreplied"], a1["responses"]) == (0, 0, 1)
    assert result.report()[0].waits_breached == 0
    reg = metrics.registry  # the live bundle, sampled at the end of input
    metrics.sample(metrics.next_ms or 0)
    # counters are not un-counted, as live
    assert reg.get_sample_value("chatwatch_waits_breached_total", {"shop": "s1"}) == 1
    assert reg.get_sample_value("chatwatch_open_waits", {"shop": "s1"}) == 0


def test_violations_are_counted_per_shop_day_by_severity(tmp_path: Path,
                                                          settings: Settings) -> None:
    texts = ["在", "加我微信 abc12345 发你", "亲，已经发货了", "打我电话13812345678"]
    log = [ev("buyer", 0)] + [ev("agent", 1 + i, text=t) for i, t in enumerate(texts)]
    log.append(ev("agent", T0.replace(hour=3) + timedelta(days=1), text="vx: abc12345"))
    result, tally, _ = backfill(write_log(tmp_path / "log.jsonl", log), settings,
                                violations=True)
    detector = Detector.from_settings(settings.content)
    expected: dict[str, int] = defaultdict(int)
    for i, text in enumerate(texts):
        # once per flagged message and severity (DOMAIN.md §4: one record per message)
        found = detector.scan(text, mode="mention", first_reply=i == 0, platform="pdd")
        for severity in {v.severity for v in found}:
            expected[f"violations_{severity}"] += 1
    assert expected["violations_critical"] >= 2 and expected["violations_info"] == 1
    rows = report_rows(result.report(), tally, violations=True)
    assert [list(r) for r in rows] == [SHOP_FIELDS + VIOLATION_FIELDS] * 2
    first, night = rows
    assert {k: first[k] for k in VIOLATION_FIELDS} == {
        k: expected[k] for k in VIOLATION_FIELDS}
    # a day with findings but no counted waits still gets a row, with zero figures
    assert night["day"] == "2026-11-12" and night["waits"] == 0
    assert night["reply_rate"] is None and night["violations_critical"] >= 1
    # plain rows keep exactly the §3 shape
    assert [list(r) for r in report_rows(result.report(), tally)] == [SHOP_FIELDS]


def test_openmetrics_history_parses_and_tracks_the_reply_rate(tmp_path: Path,
                                                               settings: Settings) -> None:
    log = [ev("buyer", 0), ev("agent", 30), ev("buyer", 0, buyer="b2"),
           ev("buyer", 600, buyer="b3"), ev("agent", 610, buyer="b3"),
           ev("agent", 620, text="加我微信 abc12345")]
    result, _, metrics = backfill(write_log(tmp_path / "log.jsonl", log), settings,
                                  history=True)
    assert metrics is not None
    out = tmp_path / "history.om"
    with open(out, "w", encoding="utf-8") as f:
        metrics.write(f)
    text = out.read_text(encoding="utf-8")
    assert text.endswith("# EOF\n")
    assert "chatwatch_response_seconds_bucket{shop=\"s1\",le=\"+Inf\"}" in text
    families = {f.name: f for f in text_string_to_metric_families(without_histograms(text))}
    assert {"chatwatch_reply_rate", "chatwatch_waits", "chatwatch_waits_breached",
            "chatwatch_open_waits", "chatwatch_oldest_wait_seconds", "chatwatch_violations",
            "chatwatch_consultations", "chatwatch_unreplied",
            "chatwatch_reply_rate_target", "chatwatch_wait_at_risk_seconds"} <= set(families)
    assert families["chatwatch_waits"].type == "counter"
    series: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]] = \
        defaultdict(list)
    for family in families.values():
        for s in family.samples:
            assert s.timestamp is not None
            series[(s.name, tuple(sorted(s.labels.items())))].append(
                (float(s.timestamp), s.value))
    for points in series.values():
        times = [t for t, _ in points]
        assert times == sorted(times) and len(set(times)) == len(times)
    rate = series[("chatwatch_reply_rate", (("shop", "s1"),))]
    t0 = T0.timestamp()
    assert all(t % 60 == 0 for t, _ in rate)
    # b2 waits from 0 and breaches at 300 s: before that 3 buyers... 2 consulted, none lost
    at = dict(rate)
    assert at[t0 + 60] == 1.0
    assert at[t0 + 360] == pytest.approx(0.5)           # b2 breached, b1 answered
    final_t, final = rate[-1]
    assert final == pytest.approx(result.report()[0].reply_rate)  # 2 of 3
    assert dict(series[("chatwatch_open_waits", (("shop", "s1"),))])[t0 + 60] == 1
    oldest = dict(series[("chatwatch_oldest_wait_seconds", (("shop", "s1"),))])
    assert oldest[t0 + 240] == 240.0 and oldest[t0 + 360] == 0.0
    assert series[("chatwatch_violations_total", (("category", "wechat"), ("severity",
                   "critical"), ("shop", "s1")))][-1][1] >= 1
    assert series[("chatwatch_waits_breached_total", (("shop", "s1"),))][-1][1] == 1
    assert dict(series[("chatwatch_reply_rate_target", (("shop", "s1"),))])[final_t] == 0.7
    assert dict(series[("chatwatch_wait_at_risk_seconds", (("shop", "s1"),))])[final_t] == 240


def without_histograms(text: str) -> str:
    """The text minus histogram families: prometheus_client's parser rejects a histogram with
    more than one timestamp (its group check resets on every timestamp), which is valid
    OpenMetrics; promtool checks those below."""
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("# TYPE "):
            skip = line.rstrip().endswith(" histogram")
        if not skip or line.startswith("# EOF"):
            out.append(line)
    return "".join(out)


@pytest.mark.requires_tools("promtool")
def test_promtool_loads_the_history_into_tsdb_blocks(tmp_path: Path, settings: Settings) -> None:
    log = [ev("buyer", 60 * i, buyer=f"b{i}") for i in range(0, 200, 3)]
    log += [ev("agent", 60 * i + 20, buyer=f"b{i}") for i in range(0, 200, 6)]
    log.sort(key=lambda e: e["ts"])
    _, _, metrics = backfill(write_log(tmp_path / "log.jsonl", log), settings, history=True)
    assert metrics is not None
    out = tmp_path / "h.om"
    with open(out, "w", encoding="utf-8") as f:
        metrics.write(f)
    done = subprocess.run([find_tool("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                           str(out), str(tmp_path / "tsdb")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    assert list((tmp_path / "tsdb").iterdir()), "no block written"


def test_openmetrics_before_any_consultation_is_nan(tmp_path: Path, settings: Settings) -> None:
    log = [ev("buyer", T0.replace(hour=2)), ev("agent", T0.replace(hour=2) + timedelta(
        seconds=120))]
    _, _, metrics = backfill(write_log(tmp_path / "log.jsonl", log), settings, history=True)
    assert metrics is not None
    out = tmp_path / "h.om"
    with open(out, "w", encoding="utf-8") as f:
        metrics.write(f)
    (rate,) = [f for f in text_string_to_metric_families(out.read_text())
               if f.name == "chatwatch_reply_rate"]
    assert all(math.isnan(s.value) for s in rate.samples)


def test_summary_html_has_a_section_and_two_charts_per_shop(tmp_path: Path,
                                                             settings: Settings) -> None:
    log = ATTRIBUTION_LOG + [ev("buyer", 100, shop="s2", buyer="z"),
                             ev("buyer", 86_400, shop="s2", buyer="z"),
                             ev("agent", 86_410, shop="s2", buyer="z")]
    result, tally, _ = backfill(write_log(tmp_path / "log.jsonl", log), settings, hours=True)
    page = render_summary(result.report(), tally, settings.policies)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<section") == 2 and page.count("<svg") == 4
    assert page.count('class="target"') == 2 and "目标 target 70%" in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    # b1's wait of 10:01 (never answered) and b2's of 11:10 (answered late)
    assert (tally.breach_hours["s1"][10], tally.breach_hours["s1"][11]) == (1, 1)
    assert tally.breach_hours["s2"][10] == 1 and sum(tally.breach_hours["s2"]) == 1
    assert page.count("每日5分钟回复率") == 2  # pdd_5min, the KPI the base wait judges


def test_summary_html_names_the_shops_own_reply_window(tmp_path: Path) -> None:
    settings = settings_yaml("""
        shops:
          s1: {window_seconds: 120}
    """)
    result, tally, _ = backfill(write_log(tmp_path / "log.jsonl", [ev("buyer", 0)]), settings,
                                hours=True)
    page = render_summary(result.report(), tally, settings.policies)
    assert "每日2分钟回复率" in page and "5分钟" not in page


def test_cli_writes_every_read_out_and_keeps_the_default_rows(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.jsonl", ATTRIBUTION_LOG + [
        ev("agent", 5000, text="加我微信 abc12345")])
    runner = CliRunner()
    plain = runner.invoke(cli, ["backfill", "--input", str(log), "--report",
                                str(tmp_path / "plain.jsonl")])
    assert plain.exit_code == 0, plain.output
    rows = [json.loads(line) for line in (tmp_path / "plain.jsonl").read_text().splitlines()]
    assert [list(r) for r in rows] == [SHOP_FIELDS]
    full = runner.invoke(cli, [
        "backfill", "--input", str(log), "--report", str(tmp_path / "agents.jsonl"),
        "--by", "agent", "--violations", "--openmetrics", str(tmp_path / "h.om"),
        "--summary-html", str(tmp_path / "s.html"), "--metrics-label", "job=chatwatch",
        "--progress"])
    assert full.exit_code == 0, full.output
    agents = [json.loads(line) for line in (tmp_path / "agents.jsonl").read_text().splitlines()]
    assert [list(r) for r in agents] == [AGENT_FIELDS + VIOLATION_FIELDS] * 3
    assert sum(r["violations_critical"] for r in agents) >= 1
    history = (tmp_path / "h.om").read_text()
    assert 'chatwatch_waits_total{shop="s1",job="chatwatch"}' in history
    assert "<svg" in (tmp_path / "s.html").read_text()
    assert "backfill" in full.output  # the progress bar, on stderr
    bad = runner.invoke(cli, ["backfill", "--input", str(log), "--metrics-label", "1x"])
    assert bad.exit_code != 0 and "NAME=VALUE" in bad.output


def test_retention_evicts_idle_conversations_without_changing_the_figures(
        tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import stream.backfill as backfill_module

    log = []
    for day in range(4):
        for b in range(5):
            at = T0 + timedelta(days=day, minutes=b)
            log += [ev("buyer", at, buyer=f"d{day}b{b}"),
                    ev("agent", at + timedelta(seconds=30 * b), buyer=f"d{day}b{b}")]
    path = write_log(tmp_path / "log.jsonl", log)
    full = run_backfill(read_events([str(path)]), settings)
    monkeypatch.setattr(backfill_module, "EVICT_EVERY", 4)
    bounded = run_backfill(read_events([str(path)]), settings, retention_hours=1)
    assert [r.as_dict() for r in bounded.report()] == [r.as_dict() for r in full.report()]
    assert len(full.report()) == 4
    assert bounded.retired is not None and bounded.retired.evicted >= 10
    assert len(bounded.engine.conversations) < len(full.engine.conversations)
    assert bounded.retired.late_days == 0


def test_retention_breaches_old_open_waits_for_the_listeners_too(
        tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import stream.backfill as backfill_module

    log = [ev("agent", -10, agent="a1"), ev("buyer", 0)]  # a1's wait, never answered
    log += [ev("buyer", T0 + timedelta(days=1, minutes=m), buyer=f"x{m}") for m in range(6)]
    path = write_log(tmp_path / "log.jsonl", log)
    monkeypatch.setattr(backfill_module, "EVICT_EVERY", 3)
    engine = Engine(settings.policies)
    tally = Tally(engine, by_agent=True)
    result = run_backfill(read_events([str(path)]), settings, engine=engine, listeners=[tally],
                          retention_hours=2)
    rows = report_rows(result.report(), tally, by_agent=True)
    (a1,) = [r for r in rows if r["agent"] == "a1"]
    assert (a1["waits"], a1["waits_breached"], a1["unreplied"]) == (1, 1, 1)
    plain = run_backfill(read_events([str(path)]), settings)
    assert [r.as_dict() for r in result.report()] == [r.as_dict() for r in plain.report()]
