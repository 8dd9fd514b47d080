"""The lead's lists (DOMAIN.md §7: 催付 and 询单流失) through the drivers.

``chatwatch backfill --unpaid / --lost-inquiries / --report [--by agent]``, the live pipeline
(the same lists and counts once its watermark has passed the reminders), and ``/metrics``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics, EngineCollector
from agents.pipeline import Pipeline, log_ref
from stream.cli import cli
from stream.config import load_settings
from stream.core.engine import Engine
from tests.unit.test_backfill import _write_log
from tests.unit.test_orders import DAY, order
from tests.unit.test_pipeline import FakeSink, FakeStore
from tests.unit.test_reply_window import T0_MS, ev

MIN = 60


def day() -> list[dict[str, Any]]:
    """Each conversation opens with the agent's greeting (so the agent holds the waits).

    b1 asks a1 and orders twice: o1 unpaid, o2 paid after 40 min (recovered); b2 asks a2 and
    goes away; b3 asks a1, orders o3 (no amount) and is transferred to a2 before the reminder;
    b4 orders in shop s2 from a1 and cancels after the reminder; b9 asks nobody at the end.
    """
    return [
        ev("agent", 0), ev("buyer", 1), ev("agent", 20), order("created", 30, "o1", "59.00"),
        order("created", 40, "o2", "20.00"), order("paid", 40 + 40 * MIN, "o2", "20.00"),
        ev("agent", 90, buyer="b2", agent_id="a2"), ev("buyer", 100, buyer="b2"),
        ev("agent", 130, buyer="b2", agent_id="a2"),
        ev("agent", 190, buyer="b3"), ev("buyer", 200, buyer="b3"), ev("agent", 210, buyer="b3"),
        order("created", 220, "o3", buyer="b3"),
        ev("transfer", 220 + 20 * MIN, buyer="b3", agent_id="a2"),
        ev("agent", 0, shop="s2", buyer="b4"), ev("buyer", 1, shop="s2", buyer="b4"),
        ev("agent", 5, shop="s2", buyer="b4"),
        order("created", 10, "o4", "5.00", shop="s2", buyer="b4"),
        order("cancelled", 10 + 31 * MIN, "o4", shop="s2", buyer="b4"),
        ev("buyer", 3 * 3600, buyer="b9"),  # the log runs three hours
    ]


def _backfill(tmp_path: Path, *args: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                     list[dict[str, Any]]]:
    log = _write_log(tmp_path / "log.jsonl", day())
    unpaid, lost = tmp_path / "unpaid.jsonl", tmp_path / "lost.jsonl"
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--unpaid", str(unpaid),
                                      "--lost-inquiries", str(lost), *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    read = [list(map(json.loads, p.read_text().splitlines())) for p in (unpaid, lost)]
    return read[0], read[1], [json.loads(line) for line in result.stdout.splitlines()]


def test_backfill_lists_the_orders_that_awaited_payment(tmp_path: Path):
    unpaid, _, report = _backfill(tmp_path)
    assert [(u["shop_id"], u["order_id"], u["agent"], u["amount"], u["status"]) for u in unpaid] \
        == [("s1", "o1", "a1", "59.00", "awaiting"), ("s1", "o2", "a1", "20.00", "recovered"),
            ("s1", "o3", "a2", None, "awaiting"), ("s2", "o4", "a1", "5.00", "cancelled")]
    assert unpaid[0]["ref"] == log_ref("s1:b1") and unpaid[2]["ref"] == log_ref("s1:b3")
    assert unpaid[1]["paid"] == "2026-11-11T10:40:40+08:00"
    rows = {r["shop_id"]: r for r in report}
    assert (rows["s1"]["unpaid_orders"], rows["s1"]["unpaid_amount"],
            rows["s1"]["unpaid_recovered"]) == (3, "79.00", 1)
    assert (rows["s2"]["unpaid_orders"], rows["s2"]["unpaid_amount"]) == (1, "5.00")


def test_backfill_lists_lost_inquiries_and_counts_them_per_agent(tmp_path: Path):
    _, lost, report = _backfill(tmp_path, "--by", "agent")
    # b1 paid o2 in the window: not lost; b2 (a2), b3 (a1; a2 held no wait of it), b4 (s2,
    # a1), b9 (unassigned) did not pay
    assert sorted((e["shop_id"], e["agent"], e["ref"]) for e in lost) == sorted([
        ("s1", "a2", log_ref("s1:b2")), ("s1", "a1", log_ref("s1:b3")),
        ("s1", "unassigned", log_ref("s1:b9")), ("s2", "a1", log_ref("s2:b4"))])
    b2 = next(e for e in lost if e["ref"] == log_ref("s1:b2"))
    assert b2 == {"shop_id": "s1", "agent": "a2", "day": DAY, "ref": log_ref("s1:b2"),
                  "first_wait": "2026-11-11T10:01:40+08:00", "first_response_seconds": 30.0,
                  "breaches": 0, "paid_later": False, "settled": True,
                  "first_wait_ms": T0_MS + 100_000}
    counts = {(r["shop_id"], r["agent"]): r["lost_inquiries"] for r in report}
    assert counts == {("s1", "a1"): 1, ("s1", "a2"): 1, ("s1", "unassigned"): 1,
                      ("s2", "a1"): 1}
    unpaid = {(r["shop_id"], r["agent"]): r["unpaid_orders"] for r in report}
    assert unpaid == {("s1", "a1"): 2, ("s1", "a2"): 1, ("s1", "unassigned"): 0,
                      ("s2", "a1"): 1}


def test_the_lists_need_every_conversation(tmp_path: Path):
    log = _write_log(tmp_path / "log.jsonl", day())
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--unpaid",
                                      str(tmp_path / "u.jsonl"), "--retention-hours", "48"])
    assert result.exit_code != 0 and "--retention-hours" in result.output


def _live() -> tuple[Engine, CollectorRegistry]:
    settings = load_settings(environ={})
    registry = CollectorRegistry()
    engine = Engine(settings.policies)
    pipeline = Pipeline(settings, engine, ChatwatchMetrics(registry), FakeStore(), FakeSink())
    now = T0_MS + 3 * 3600_000 + 60_000
    registry.register(EngineCollector(engine, lambda: now, lambda: [0]))
    for i, body in enumerate(day()):
        pipeline.on_message(0, i, b"k", json.dumps(body).encode())
    # caught up: the watermark follows the clock, past b9's window (backfill breaches it at the
    # end of the log, rule 8)
    pipeline.sweep(now + 10 * MIN * 1000, {0: True})
    return engine, registry


def test_live_lists_and_counts_what_backfill_writes(tmp_path: Path):
    unpaid, lost, report = _backfill(tmp_path, "--by", "agent")
    engine, _ = _live()
    at_end = T0_MS + 3 * 3600_000  # the log's latest event: backfill's statuses are as of then
    assert [u.as_dict() for u in engine.unpaid_orders(every=True, now_ms=at_end)] == unpaid
    live_lost = [e.as_dict() for e in engine.lost_inquiries(now_ms=None)]
    assert live_lost == lost
    figures = {(r.shop_id, r.agent): (r.lost_inquiries, r.unpaid_orders, r.unpaid_recovered)
               for r in engine.order_book().report(agents=True)}
    assert figures == {(r["shop_id"], r["agent"]): (r["lost_inquiries"], r["unpaid_orders"],
                                                    r["unpaid_recovered"]) for r in report}


def test_metrics_gauge_the_orders_awaiting_payment_per_shop():
    _, registry = _live()
    value = registry.get_sample_value
    assert value("chatwatch_unpaid_orders", {"shop": "s1"}) == 2  # o1 and o3; o2 was paid
    assert value("chatwatch_unpaid_amount", {"shop": "s1"}) == 59.0
    assert value("chatwatch_unpaid_orders", {"shop": "s2"}) == 0  # o4 was cancelled
    assert value("chatwatch_unpaid_amount", {"shop": "s2"}) == 0.0
