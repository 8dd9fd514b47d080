"""Lost inquiries (询单流失, DOMAIN.md §7) on the pure engine.

A lost inquiry of agent A on day D is a buyer in A's inquiries of D whose day D converted no
paid order (by any agent). Times in seconds after T0 (2026-11-11 10:00 Shanghai).
"""

from __future__ import annotations

from typing import Any

from agents.pipeline import decode_row, encode_row, log_ref
from stream.config import load_settings
from stream.core.engine import Engine
from tests.unit.test_orders import DAY, NEXT, order
from tests.unit.test_reply_window import T0_MS, ev, feed

HOUR = 3600


def lost(engine: Engine, now_ms: int | None = None, **kw: Any) -> list[dict[str, object]]:
    return [e.as_dict() for e in engine.lost_inquiries(now_ms=now_ms, **kw)]


def counts(engine: Engine) -> dict[tuple[str, str], int]:
    return {(str(r.agent), r.day): r.lost_inquiries
            for r in engine.order_book().report(agents=True)}


def test_a_buyer_who_did_not_pay_is_a_lost_inquiry_of_the_agent():
    engine, _ = feed([ev("buyer", 0), ev("agent", 30), ev("buyer", 100),
                      ev("agent", 700, agent_id="a1")])
    # the first wait was held by nobody (no agent had spoken): unassigned's inquiry too; both
    # entries tell the buyer's day: its first wait, that wait's response, the day's breaches
    first, second = lost(engine)
    assert second == {"shop_id": "s1", "agent": "unassigned", "day": DAY,
                      "ref": log_ref("s1:b1"), "first_wait": "2026-11-11T10:00:00+08:00",
                      "first_response_seconds": 30.0, "breaches": 1, "paid_later": False,
                      "settled": True, "first_wait_ms": T0_MS}
    assert first == {**second, "agent": "a1"}
    assert counts(engine) == {("unassigned", DAY): 1, ("a1", DAY): 1}


def test_a_buyer_who_paid_in_the_window_is_not_lost_for_any_agent():
    engine, _ = feed([ev("agent", 0), ev("buyer", 10), ev("transfer", 20, agent_id="a2"),
                      ev("agent", 30, agent_id="a2"), order("created", 40),
                      order("paid", 3 * HOUR, amount="9.90")])
    assert counts(engine) == {("a1", DAY): 0, ("a2", DAY): 0}
    assert lost(engine) == []


def test_a_payment_after_the_window_is_paid_later_and_the_day_stays_lost():
    engine, _ = feed([ev("agent", 0), ev("buyer", 10), ev("agent", 20),
                      order("created", 30), order("paid", 25 * HOUR, amount="5.00")])
    [entry] = lost(engine)
    assert entry["agent"] == "a1" and entry["paid_later"] is True
    assert entry["first_response_seconds"] == 10.0 and entry["breaches"] == 0


def test_an_unanswered_first_wait_has_no_response_time():
    engine, _ = feed([ev("agent", 0), ev("buyer", 10)])
    [entry] = lost(engine)
    assert entry["first_response_seconds"] is None and entry["breaches"] == 1


def test_each_day_of_a_buyer_is_its_own_inquiry():
    engine, _ = feed([ev("agent", 0), ev("buyer", 10), ev("agent", 20),
                      ev("buyer", 24 * HOUR), ev("agent", 24 * HOUR + 5),
                      order("created", 24 * HOUR + 10), order("paid", 25 * HOUR, amount="1.00")])
    # the payment converts the latest day (the next one): the first day is lost
    assert counts(engine) == {("a1", DAY): 1, ("a1", NEXT): 0}
    assert [e["day"] for e in lost(engine)] == [DAY]


def test_live_says_whether_an_inquiry_has_settled():
    engine, _ = feed([ev("agent", 0), ev("buyer", 10), ev("agent", 20)], finish=False)
    [open_] = lost(engine, now_ms=T0_MS + 3600_000)
    assert open_["settled"] is False  # a payment within 24 h of the first wait still converts
    [done] = lost(engine, now_ms=T0_MS + 10_000 + 24 * 3600_000 + 1)
    assert done["settled"] is True


def test_a_restored_engine_lists_the_same_lost_inquiries():
    engine, _ = feed([ev("agent", 0), ev("buyer", 10), ev("agent", 40),
                      ev("buyer", 50, buyer="b2"), ev("agent", 400, buyer="b2"),
                      order("created", 500, buyer="b2"),
                      order("paid", 600, buyer="b2", amount="2.00")])
    restored = Engine(load_settings(environ={}).policies)
    for cid, conv in engine.conversations.items():
        restored.load(cid, decode_row(encode_row(conv)))
    assert lost(restored) == lost(engine)
    assert [e["ref"] for e in lost(engine)] == [log_ref("s1:b1")]
    assert lost(engine, agent="a1", days=[739931])[0]["first_response_seconds"] == 30.0
