"""One driver: the engine decides the content outcome, every driver publishes the same thing.

Each test names a divergence the live worker and ``chatwatch backfill`` once had.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

import agents.internals as internals
from agents.metrics import ChatwatchMetrics
from agents.pipeline import Pipeline
from stream.backfill import run_backfill
from stream.cli import cli
from stream.config import settings_from_mapping
from stream.core.engine import Engine
from stream.core.guard import ContentFlagged
from stream.inputs import read_events
from stream.report.tally import Tally, report_rows
from tests.unit.test_pipeline import FakeAlerts, FakeSink, FakeStore

T0 = 1794362400000  # 2026-11-11T10:00:00+08:00


def event(eid: str, ts: int, sender: str, text: str, **extra: object) -> dict[str, object]:
    e: dict[str, object] = {"event_id": eid, "ts": ts, "shop_id": "s1", "buyer_id": "b1",
                            "type": "message", "sender": sender, "text": text, **extra}
    if sender in ("agent", "bot"):
        e.setdefault("agent_id", "a1")
    return e


def live(events: list[dict[str, object]], doc: dict | None = None):
    settings = settings_from_mapping(doc or {}, {})
    registry = CollectorRegistry()
    sink = FakeSink()
    pipeline = Pipeline(settings, Engine(settings.policies, settings.content.guard()),
                        ChatwatchMetrics(registry), FakeStore(), sink, FakeAlerts())
    for offset, e in enumerate(events):
        pipeline.on_message(0, offset, b"k", json.dumps(e, ensure_ascii=False).encode())
    return registry, sink


def backfilled(tmp_path: Path, events: list[dict[str, object]], doc: dict | None = None):
    settings = settings_from_mapping(doc or {}, {})
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events),
                   encoding="utf-8")
    engine = Engine(settings.policies, settings.content.guard())
    tally = Tally(engine, violations=True)
    result = run_backfill(read_events([str(log)]), settings, engine=engine, listeners=[tally])
    return report_rows(result.report(), tally, violations=True)


# A Taobao conversation whose later agent event names no platform: the conversation's platform
# (taobao: a bare mention of WeChat Pay is allowed) decides, not the default (pdd).
TAOBAO = [event("e1", T0, "buyer", "能用微信付款吗", platform="taobao"),
          event("e2", T0 + 5000, "agent", "亲，微信支付可以用的")]
# One agent message handing over two WeChat ids is one flagged message.
TWO_IDS = [event("e1", T0, "buyer", "怎么联系"),
           event("e2", T0 + 5000, "agent", "加我微信 wx_abc123 或者 vx: lily_2024")]


def test_a_message_without_platform_is_judged_by_its_conversations_platform(tmp_path):
    registry, sink = live(TAOBAO)
    assert sink.on("chat.violations") == []
    assert registry.get_sample_value("chatwatch_violations_total",
                                     {"shop": "s1", "category": "wechat",
                                      "severity": "critical"}) is None
    (row,) = backfilled(tmp_path, TAOBAO)
    assert row["violations_critical"] == 0


def test_two_contacts_in_one_message_count_once_live_and_in_backfill(tmp_path):
    registry, sink = live(TWO_IDS)
    (record,) = sink.on("chat.violations")
    assert len(record["violations"]) >= 2 and record["id"] == "e2"
    assert registry.get_sample_value("chatwatch_violations_total",
                                     {"shop": "s1", "category": "wechat",
                                      "severity": "critical"}) == 1
    assert registry.get_sample_value("chatwatch_agent_violations_total",
                                     {"shop": "s1", "agent": "a1", "severity": "critical"}) == 1
    (row,) = backfilled(tmp_path, TWO_IDS)
    assert row["violations_critical"] == 1


def test_backfill_writes_the_records_the_worker_sends(tmp_path):
    events = [*TWO_IDS, event("e3", T0 + 60_000, "buyer", "还在吗")]  # breaches at +360 s
    _, sink = live(events)
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events),
                   encoding="utf-8")
    result = CliRunner().invoke(cli, [
        "backfill", "--input", str(log), "--report", str(tmp_path / "r.jsonl"),
        "--breach-records", str(tmp_path / "b.jsonl"),
        "--violation-records", str(tmp_path / "v.jsonl")], env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code == 0, result.output
    read = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert read == sink.on("chat.violations")
    breaches = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    # end of input breaches the open wait: the default KPI's record keeps its id, PDD's
    # 3-minute human KPI has a record of its own
    assert [b["id"] for b in breaches if b["kpi"] == "pdd_5min"] == ["s1:b1#2"]
    assert breaches[0]["counted"] is True and breaches[0]["agent"] == "a1"
    assert [b["kpi"] for b in breaches if b["kpi"] != "pdd_5min"] == ["pdd_3min_human"]



def test_the_engine_resolves_shop_overrides_for_content(tmp_path):
    doc = {"shops": {"s1": {"content_mode": "handover"}}}  # a PDD shop relaxed by config
    pdd_mention = [event("e1", T0, "buyer", "微信能付吗"),
                   event("e2", T0 + 1000, "agent", "微信支付就行")]
    assert live(pdd_mention)[1].on("chat.violations")  # default pdd: any mention
    assert live(pdd_mention, doc)[1].on("chat.violations") == []
    (row,) = backfilled(tmp_path, pdd_mention, doc)
    assert row["violations_critical"] == 0


def test_check_takes_a_shop_and_applies_its_overrides(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("shops:\n  tb-shop: {platform: taobao}\n", encoding="utf-8")
    env = {"CHATWATCH_CONFIG": str(cfg)}
    flagged = CliRunner().invoke(cli, ["check"], input="微信支付就行\n", env=env)
    relaxed = CliRunner().invoke(cli, ["check", "--shop", "tb-shop"], input="微信支付就行\n",
                                 env=env)
    assert json.loads(flagged.output)["violations"]
    assert json.loads(relaxed.output)["violations"] == []


def test_applied_result_carries_the_content_outcome():
    settings = settings_from_mapping({}, {})
    engine = Engine(settings.policies, settings.content.guard())
    from stream.schema import decode

    engine.apply(decode(json.dumps(TWO_IDS[0], ensure_ascii=False).encode()))
    applied = engine.apply(decode(json.dumps(TWO_IDS[1], ensure_ascii=False).encode()))
    assert isinstance(applied.flagged, ContentFlagged)
    assert applied.flagged.agent == "a1" and applied.flagged.platform == "pdd"
    assert "wx_abc123" not in applied.flagged.text
    # without a guard the engine does not look at content (plain backfill)
    bare = Engine(settings.policies)
    bare.apply(decode(json.dumps(TWO_IDS[0], ensure_ascii=False).encode()))
    assert bare.apply(decode(json.dumps(TWO_IDS[1], ensure_ascii=False).encode())).flagged is None


def test_every_faust_and_aiokafka_private_name_relied_on_is_there():
    gone = internals.missing()
    assert gone == [], (f"faust/aiokafka no longer have {', '.join(gone)}: agents/internals.py "
                        f"relies on them (see PRIVATE_NAMES); adapt it to the new version")


def test_the_internals_check_names_a_missing_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(internals, "PRIVATE_NAMES", (
        *internals.PRIVATE_NAMES, ("faust.transport.consumer", "Consumer", "_not_there"),
        ("faust.not_a_module", "", "x")))
    assert internals.missing() == ["faust.transport.consumer.Consumer._not_there",
                                   "faust.not_a_module.x"]
