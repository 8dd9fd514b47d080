"""Platform KPIs (DOMAIN.md §3, "Platform KPIs"): hand-made cases for every rule.

Each KPI runs its own waits; the figures are read as ``backfill --kpi-report`` writes them
(``stream.report.kpi_report``), so these cases check the report and the engine at once.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics
from agents.pipeline import Pipeline, decode_row, encode_row
from stream.cli import cli
from stream.config import Settings, load_settings, settings_from_mapping
from stream.core.engine import Engine
from stream.errors import ConfigError
from stream.report.kpi_report import kpi_rows
from tests.unit.test_pipeline import FakeAlerts, FakeSink, FakeStore
from tests.unit.test_reply_window import SHANGHAI, T0, ev, to_event

DAY = "2026-11-11"


def run(events: list[dict[str, Any]], settings: Settings | None = None,
        by_agent: bool = False) -> tuple[Engine, list[dict[str, Any]]]:
    settings = settings or load_settings(environ={})
    engine = Engine(settings.policies)
    for e in events:
        engine.apply(to_event(e, settings.default_platform))
    engine.finish(kpis=True)
    return engine, kpi_rows(engine, by_agent=by_agent)


def kpi(rows: list[dict[str, Any]], name: str, **match: Any) -> dict[str, Any]:
    found = [r for r in rows if r["kpi"] == name
             and all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (name, rows)
    return found[0]


def jd(kind: str, at: float | datetime, **extra: Any) -> dict[str, Any]:
    return ev(kind, at, platform="jd", **extra)


# --- PDD: the 5-minute rate and the 3-minute human rate at once ---------------------------------


def test_a_bot_reply_closes_the_5_minute_wait_but_not_the_3_minute_human_one():
    _, rows = run([ev("buyer", 0), ev("bot", 10)])
    assert [r["kpi"] for r in rows] == ["pdd_3min_human", "pdd_5min"]  # sorted by KPI
    assert kpi(rows, "pdd_5min") == {
        "shop_id": "s1", "day": DAY, "kpi": "pdd_5min", "unit": "buyer", "units": 1,
        "units_breached": 0, "rate": 1.0, "first_response_seconds": 10.0,
        "score": 1.0, "score_days": 1, "breach_budget": 0, "gate_ok": True}
    assert kpi(rows, "pdd_3min_human") == {
        "shop_id": "s1", "day": DAY, "kpi": "pdd_3min_human", "unit": "buyer", "units": 1,
        "units_breached": 1, "rate": 0.0, "first_response_seconds": None,
        "score": 0.0, "score_days": 1, "breach_budget": 0}


def test_a_wait_can_meet_the_5_minute_window_and_breach_the_3_minute_one():
    _, rows = run([ev("buyer", 0), ev("agent", 200)])
    assert kpi(rows, "pdd_5min")["units_breached"] == 0
    assert kpi(rows, "pdd_3min_human")["units_breached"] == 1
    assert kpi(rows, "pdd_3min_human")["first_response_seconds"] == 200.0
    _, rows = run([ev("buyer", 0), ev("agent", 180)])  # exactly start + window: in time
    assert kpi(rows, "pdd_3min_human")["units_breached"] == 0


def test_a_buyer_counts_once_a_day_unreplied_if_any_wait_breached():
    _, rows = run([ev("buyer", 0), ev("agent", 10), ev("buyer", 20), ev("agent", 400),
                   ev("buyer", 1000, buyer="b2"), ev("agent", 1001, buyer="b2")])
    assert kpi(rows, "pdd_5min")["units"] == 2 and kpi(rows, "pdd_5min")["units_breached"] == 1
    assert kpi(rows, "pdd_3min_human")["rate"] == 0.5


# --- Taobao / Douyin: rounds --------------------------------------------------------------------


def test_round_rate_counts_every_wait():
    _, rows = run([ev("buyer", 0, platform="taobao"), ev("agent", 10), ev("buyer", 20),
                   ev("agent", 300), ev("buyer", 400), ev("bot", 410)])
    row = kpi(rows, "taobao_3min_human")
    assert (row["unit"], row["units"], row["units_breached"], row["rate"]) == ("round", 3, 2,
                                                                               1 / 3)
    assert row["first_response_seconds"] == 10.0  # one session: start -> first agent reply
    assert [r["kpi"] for r in rows] == ["taobao_3min_human"]


# --- JD: the 30-second first response per session ------------------------------------------------


def test_the_30_second_boundary():
    _, rows = run([jd("buyer", 0), jd("agent", 30)])
    assert kpi(rows, "jd_30s_first")["units_breached"] == 0
    _, rows = run([jd("buyer", 0), jd("agent", 30.001)])
    row = kpi(rows, "jd_30s_first")
    assert (row["unit"], row["units"], row["units_breached"]) == ("session_first", 1, 1)
    assert row["first_response_seconds"] == 30.001


def test_a_gap_of_599_seconds_keeps_the_session_600_starts_a_new_one():
    _, rows = run([jd("buyer", 0), jd("agent", 5), jd("buyer", 604), jd("agent", 700)])
    assert kpi(rows, "jd_30s_first")["units"] == 1
    assert kpi(rows, "jd_30s_first")["units_breached"] == 0
    _, rows = run([jd("buyer", 0), jd("agent", 5), jd("buyer", 605), jd("agent", 700)])
    row = kpi(rows, "jd_30s_first")
    assert (row["units"], row["units_breached"]) == (2, 1)
    assert row["first_response_seconds"] == (5 + 95) / 2


def test_only_buyer_agent_and_bot_messages_keep_a_session_alive():
    # a system message and a read in between do not: the buyer at 700 starts a session
    _, rows = run([jd("buyer", 0), jd("agent", 5), jd("system", 300), jd("read", 400),
                   jd("buyer", 700), jd("agent", 701)])
    assert kpi(rows, "jd_30s_first")["units"] == 2
    # a bot message does
    _, rows = run([jd("buyer", 0), jd("agent", 5), jd("bot", 300), jd("buyer", 700),
                   jd("agent", 701)])
    assert kpi(rows, "jd_30s_first")["units"] == 1


def test_jd_hours_are_judged_by_the_session_start():
    early = datetime(2026, 11, 11, 8, 59, 59, tzinfo=SHANGHAI)
    _, rows = run([jd("buyer", early), jd("buyer", early + timedelta(seconds=20)),
                   jd("agent", early + timedelta(seconds=100))])
    assert rows == []  # the session started before 09:00: nothing counted
    nine = datetime(2026, 11, 11, 9, 0, tzinfo=SHANGHAI)
    _, rows = run([jd("buyer", nine), jd("agent", nine + timedelta(seconds=100))])
    row = kpi(rows, "jd_30s_first")
    assert (row["units"], row["units_breached"], row["first_response_seconds"]) == (1, 1, 100.0)


def test_later_buyer_messages_of_a_session_are_not_judged():
    _, rows = run([jd("buyer", 0), jd("agent", 10), jd("buyer", 20), jd("agent", 200)])
    assert kpi(rows, "jd_30s_first")["units"] == 1
    assert kpi(rows, "jd_30s_first")["units_breached"] == 0


# --- transfers, attribution -------------------------------------------------------------------


def test_a_transfer_while_a_wait_is_open_hands_it_to_the_new_agent():
    events = [ev("buyer", 0), ev("agent", 5), ev("buyer", 100),
              ev("transfer", 150, agent_id="a2")]
    engine, rows = run(events, by_agent=True)
    a2 = kpi(rows, "pdd_3min_human", agent="a2")
    assert (a2["units"], a2["units_breached"]) == (1, 1)
    first = kpi(rows, "pdd_3min_human", agent="unassigned")  # nobody held the first wait
    assert (first["units"], first["units_breached"]) == (1, 0)
    assert kpi(rows, "pdd_3min_human", agent="a1")["units"] == 0
    assert kpi(rows, "pdd_5min", agent="a2")["units_breached"] == 1
    day = T0.date().toordinal()
    by_agent = {r["agent"]: r for r in engine.agent_days("s1", day)}
    assert by_agent["a2"]["breaches"] == 1 and by_agent["a1"]["breaches"] == 0


def test_a_transfer_after_the_deadline_leaves_the_breach_with_the_old_holder():
    events = [ev("buyer", 0), ev("agent", 5), ev("buyer", 100),
              ev("transfer", 100 + 181, agent_id="a2")]
    _, rows = run(events, by_agent=True)
    assert kpi(rows, "pdd_3min_human", agent="a1")["units_breached"] == 1
    assert kpi(rows, "pdd_5min", agent="a2")["units_breached"] == 1  # 300 s not yet passed
    assert kpi(rows, "pdd_3min_human", agent="a2")["units_breached"] == 0


# --- exclusions, duplicates, order ------------------------------------------------------------


def test_ad_and_peer_buyers_count_for_no_kpi():
    _, rows = run([ev("ad", 0), ev("peer", 1, buyer="b2"), jd("ad", 2, buyer="b3")])
    assert rows == []


def test_duplicates_are_dropped_and_late_events_raised():
    first = ev("buyer", 0)
    _, rows = run([first, ev("agent", 10), dict(first, ts=ev("buyer", 500)["ts"])])
    assert kpi(rows, "pdd_3min_human")["units"] == 1  # the redelivered id opens nothing
    # an agent reply stamped before the buyer message is applied at the buyer's time
    _, rows = run([ev("buyer", 100), ev("agent", 50)])
    assert kpi(rows, "pdd_3min_human")["first_response_seconds"] == 0.0
    assert kpi(rows, "pdd_3min_human")["units_breached"] == 0


# --- per-agent figures --------------------------------------------------------------------------


def test_agent_figures_slow_replies_answer_ratio_and_concurrency():
    events = [ev("buyer", 0), ev("agent", 1), ev("buyer", 2, buyer="b2"),
              ev("agent", 3, buyer="b2"),
              ev("buyer", 10), ev("buyer", 11, buyer="b2"), ev("buyer", 12),
              ev("agent", 40), ev("agent", 41), ev("agent", 42, buyer="b2")]
    _, rows = run(events, by_agent=True)
    row = kpi(rows, "pdd_5min", agent="a1")
    assert row["max_concurrent"] == 2  # b1 and b2 waiting at once
    assert row["slow_replies"] == 2  # 30 s and 31 s responses, over 15 s
    # five agent messages; three customer messages came while a1 held the conversations
    assert row["answer_ratio"] == 5 / 3
    assert kpi(rows, "pdd_5min", agent="unassigned")["answer_ratio"] == 0.0
    assert set(row) == {"shop_id", "agent", "day", "kpi", "unit", "units", "units_breached",
                        "rate", "first_response_seconds", "slow_replies", "answer_ratio",
                        "max_concurrent", "score", "score_days", "breach_budget", "gate_ok"}


# --- configuration ------------------------------------------------------------------------------


def conf(text: str) -> Settings:
    return settings_from_mapping(yaml.safe_load(text), {})


def test_kpis_are_configuration_per_platform_and_shop():
    settings = conf("""
        kpis:
          fast: {window_seconds: 60, replies: human, unit: round, target: 0.9}
        platforms: {pdd: {kpis: [pdd_5min, fast]}}
        shops: {s2: {kpis: [fast], kpi_overrides: {fast: {window_seconds: 120}}}}
    """)
    assert settings.policies.kpis("pdd", "s1").names == ("pdd_5min", "fast")
    (only,) = settings.policies.kpis("pdd", "s2").kpis
    assert (only.name, only.window_seconds, only.target) == ("fast", 120, 0.9)
    _, rows = run([ev("buyer", 0, shop="s2"), ev("agent", 90, shop="s2")], settings)
    assert [(r["kpi"], r["units_breached"]) for r in rows] == [("fast", 0)]
    assert load_settings(environ={}).policies.kpis("wechat", "s1").names == ("reply_rate",)


@pytest.mark.parametrize(("text", "key"), [
    ("kpis: {x: {window_seconds: 0}}", "kpis.x.window_seconds"),
    ("kpis: {x: {window_seconds: 60, unit: visit}}", "kpis.x.unit"),
    ("kpis: {x: {window_seconds: 60, replies: robots}}", "kpis.x.replies"),
    ("kpis: {pdd_5min: {counted_from: '23:00'}}", "kpis.pdd_5min.counted_until"),
    ("kpis: {pdd_5min: {target: 1.5}}", "kpis.pdd_5min.target"),
    ("platforms: {pdd: {kpis: [nope]}}", "platforms.pdd.kpis"),
    ("shops: {s1: {kpi_overrides: {jd_30s_first: {window_seconds: -3}}}}",
     "shops.s1.kpi_overrides.jd_30s_first.window_seconds"),
    ("session_gap_seconds: 20", "kpis.jd_30s_first.window_seconds"),
])
def test_a_bad_definition_stops_start_up_naming_the_key(text, key):
    with pytest.raises(ConfigError) as caught:
        conf(text)
    assert caught.value.key == key
    assert caught.value.fix


# --- live: restart, breaches within a second, metrics -------------------------------------------


def test_kpi_state_survives_a_restart_from_the_rows():
    events = [ev("buyer", 0), ev("bot", 10), jd("buyer", 0, buyer="b2")]
    settings = load_settings(environ={})
    engine = Engine(settings.policies)
    for e in events:
        engine.apply(to_event(e))
    restored = Engine(settings.policies)
    for cid, conv in engine.conversations.items():
        restored.load(cid, decode_row(encode_row(conv)))
    engine.finish(kpis=True)
    breaches = restored.finish(kpis=True)
    assert kpi_rows(restored) == kpi_rows(engine)
    assert {getattr(b, "kpi", "base") for b in breaches} >= {"pdd_3min_human", "jd_30s_first"}


def test_live_breach_of_the_30_second_kpi_within_a_second_of_its_deadline():
    settings = load_settings(environ={})
    registry = CollectorRegistry()
    sink = FakeSink()
    pipeline = Pipeline(settings, Engine(settings.policies), ChatwatchMetrics(registry),
                        FakeStore(), sink, FakeAlerts())
    body = jd("buyer", 0)
    pipeline.on_message(0, 0, b"k", json.dumps(body).encode())
    start = round(T0.timestamp() * 1000)
    skew = int(settings.clock_skew_seconds * 1000)
    pipeline.sweep(start + 30_000 + skew, {0: True})  # the deadline itself: in time still
    assert sink.on("chat.breaches") == []
    pipeline.sweep(start + 30_000 + skew + 100, {0: True})  # the next sweep (0.1 s later)
    (record,) = sink.on("chat.breaches")
    assert record["kpi"] == "jd_30s_first" and record["id"] == f"s1:b1#jd_30s_first@{start}"
    assert registry.get_sample_value("chatwatch_kpi_breaches_total",
                                     {"shop": "s1", "kpi": "jd_30s_first"}) == 1
    assert registry.get_sample_value("chatwatch_agent_kpi_breaches_total",
                                     {"shop": "s1", "agent": "unassigned",
                                      "kpi": "jd_30s_first"}) == 1


def test_lag_never_breaches_a_kpi_wait_whose_reply_is_still_in_the_topic():
    settings = load_settings(environ={})
    sink = FakeSink()
    pipeline = Pipeline(settings, Engine(settings.policies),
                        ChatwatchMetrics(CollectorRegistry()), FakeStore(), sink, FakeAlerts())
    pipeline.on_message(0, 0, b"k", json.dumps(jd("buyer", 0)).encode())
    start = round(T0.timestamp() * 1000)
    pipeline.sweep(start + 100_000, {0: False})  # lagging: a reply may be waiting
    pipeline.on_message(0, 1, b"k", json.dumps(jd("agent", 20)).encode())
    pipeline.sweep(start + 100_000, {0: True})
    assert sink.on("chat.breaches") == []


def test_backfill_kpi_report_command(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in
                           [ev("buyer", 0), ev("bot", 10), ev("agent", 400)]), encoding="utf-8")
    out = tmp_path / "kpi.jsonl"
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--report",
                                      str(tmp_path / "r.jsonl"), "--kpi-report", str(out)],
                                env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["kpi"], r["units_breached"]) for r in rows] == [("pdd_3min_human", 1),
                                                               ("pdd_5min", 0)]
    report = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert report[0]["reply_rate"] == 1.0  # the default report keeps its meaning
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--report",
                                      str(tmp_path / "r.jsonl"), "--kpi-report", str(out),
                                      "--by", "agent"], env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["agent"] for r in rows} == {"unassigned", "a1"}


def test_breach_records_name_their_kpi_and_the_default_keeps_its_id(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in [
        ev("buyer", 0), ev("buyer", 0, shop="s2", platform="taobao")]), encoding="utf-8")
    out = tmp_path / "b.jsonl"
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--report",
                                      str(tmp_path / "r.jsonl"), "--breach-records", str(out)],
                                env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code == 0, result.output
    start = round(T0.timestamp() * 1000)
    records = {r["id"]: r["kpi"] for r in map(json.loads, out.read_text().splitlines())}
    assert records == {
        "s1:b1#1": "pdd_5min",  # PDD's base wait is its default KPI: the id it always had
        f"s1:b1#pdd_3min_human@{start}": "pdd_3min_human",
        "s2:b1#1": "reply_rate",  # Taobao's policy wait (5 min) is no KPI of its list
        f"s2:b1#taobao_3min_human@{start}": "taobao_3min_human"}


def test_kpi_report_with_retention_keeps_the_days_it_sets_aside(tmp_path):
    events = [ev("buyer", 0), ev("agent", 10)]
    later = T0 + timedelta(days=3)
    events += [ev("buyer", later), ev("bot", later + timedelta(seconds=5))]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    for by in ("shop", "agent"):
        rows = {}
        for extra in ([], ["--retention-hours", "1"]):
            out = tmp_path / f"k{len(extra)}.jsonl"
            result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--report",
                                              str(tmp_path / "r.jsonl"), "--kpi-report",
                                              str(out), "--by", by, *extra],
                                        env={"CHATWATCH_CONFIG": ""})
            assert result.exit_code == 0, result.output
            rows[len(extra)] = out.read_text().splitlines()
        assert rows[0] == rows[2] and len({json.loads(r)["day"] for r in rows[0]}) == 2


def test_scrape_time_kpi_gauges():
    from agents.metrics import EngineCollector

    settings = load_settings(environ={})
    engine = Engine(settings.policies)
    for e in [ev("buyer", 0), ev("bot", 10), ev("buyer", 5, buyer="b2"),
              ev("agent", 6, buyer="b2")]:
        engine.apply(to_event(e))
    start = round(T0.timestamp() * 1000)
    now = start + 100_000
    registry = CollectorRegistry()
    registry.register(EngineCollector(engine, lambda: now, lambda: [0]))

    def gauge(name: str, kpi_name: str) -> float | None:
        return registry.get_sample_value(name, {"shop": "s1", "kpi": kpi_name})

    # b1's 3-minute human wait is open (a bot answered it), 100 s old; b2 was answered
    assert gauge("chatwatch_kpi_oldest_wait_seconds", "pdd_3min_human") == 100.0
    assert gauge("chatwatch_kpi_oldest_wait_seconds", "pdd_5min") == 0.0
    assert gauge("chatwatch_kpi_wait_at_risk_seconds", "pdd_3min_human") == 144.0
    assert gauge("chatwatch_kpi_units", "pdd_3min_human") == 2
    assert gauge("chatwatch_kpi_units_breached", "pdd_3min_human") == 0
    assert gauge("chatwatch_kpi_rate", "pdd_5min") == 1.0
    assert gauge("chatwatch_kpi_target", "pdd_3min_human") == 0.5
    assert gauge("chatwatch_kpi_min_volume", "pdd_3min_human") == 100
    assert registry.get_sample_value("chatwatch_kpi_info", {
        "shop": "s1", "kpi": "pdd_3min_human", "title": "3分钟人工回复率", "unit": "buyer"}) == 1


def test_the_shops_reply_rate_names_its_kpi():
    """chatwatch_reply_rate_info: the KPI judged by a shop's §3 waits (the alert rules page
    once for it, as ReplyRateBelowTarget / WaitAtRisk), or the policy's own window."""
    from agents.metrics import EngineCollector

    settings = load_settings(environ={})
    engine = Engine(settings.policies)
    for e in [ev("buyer", 0), ev("buyer", 0, shop="s_tb", platform="taobao"),
              ev("buyer", 0, shop="s_x", platform="xianyu")]:
        engine.apply(to_event(e))
    now = round(T0.timestamp() * 1000) + 10_000
    registry = CollectorRegistry()
    registry.register(EngineCollector(engine, lambda: now, lambda: [0]))
    info = {s.labels["shop"]: s.labels for m in registry.collect()
            if m.name == "chatwatch_reply_rate_info" for s in m.samples if s.value == 1}
    # PDD: pdd_5min is the same waits; Taobao lists no KPI of the policy's 300 s window; a
    # platform without a KPI list has the policy's own as its only KPI (named reply_rate)
    assert info == {
        "s1": {"shop": "s1", "kpi": "pdd_5min", "title": "5分钟回复率", "window": "300"},
        "s_tb": {"shop": "s_tb", "kpi": "reply_rate", "title": "5分钟回复率", "window": "300"},
        "s_x": {"shop": "s_x", "kpi": "reply_rate", "title": "5分钟回复率", "window": "300"}}
    assert registry.get_sample_value("chatwatch_kpi_info", {
        "shop": "s_x", "kpi": "reply_rate", "title": "5分钟回复率", "unit": "buyer"}) == 1


def test_a_kpi_counted_until_24_00_counts_to_midnight() -> None:
    from datetime import time as _time

    from stream.config import settings_from_mapping
    from stream.core.kpi import BUILTIN_KPIS, END_OF_DAY

    assert BUILTIN_KPIS["taobao_3min_human"].counted_until == END_OF_DAY  # DOMAIN.md: 08-24
    assert BUILTIN_KPIS["taobao_3min_human"].is_counted(_time(23, 59, 59))
    assert not BUILTIN_KPIS["taobao_3min_human"].is_counted(_time(7, 59, 59))
    settings = settings_from_mapping({"kpis": {"late": {"window_seconds": 60,
                                                        "counted_until": "24:00"}}}, {})
    late = settings.policies.kpi_catalog.definitions["late"]
    assert late.counted_until == END_OF_DAY and late.is_counted(_time(23, 30))
