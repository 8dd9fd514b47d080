"""Orders awaiting payment (催付, DOMAIN.md §7) on the pure engine.

An order created at c and neither paid nor cancelled at or before c + 30 min awaits payment
from then until paid, cancelled or c + 24 h; it counts for the agent holding the conversation
at c + 30 min, on the business day of c. Hand-made logs in arrival order, times in seconds
after T0 (2026-11-11 10:00 Shanghai).
"""

from __future__ import annotations

from typing import Any

import pytest

from agents.pipeline import decode_row, encode_row, log_ref
from stream.config import load_settings
from stream.core.coaching import conversation_ref
from stream.core.engine import Engine
from stream.core.unpaid import OrderRecovered
from tests.unit.test_orders import DAY, NEXT, order
from tests.unit.test_reply_window import T0_MS, ev, feed, outcomes, settings_yaml, to_event

MIN, HOUR = 60, 3600
R = 30 * MIN  # the default reminder time
E = 24 * HOUR  # the default expiry
C = 20  # when the orders are created (after the chat's first two events)


def chat(*events: dict[str, Any]) -> list[dict[str, Any]]:
    """b1 asks, a1 answers, then ``events``."""
    return [ev("buyer", 0), ev("agent", 10), *events]


def lead(engine: Engine, agent: str | None = None, day: str = DAY) -> dict[str, object]:
    rows = [r for r in engine.order_book().report(agents=agent is not None)
            if r.day == day and (agent is None or r.agent == agent)]
    if not rows:
        return {"unpaid_orders": 0, "unpaid_amount": "0.00", "unpaid_recovered": 0}
    assert len(rows) == 1
    found = rows[0].lead_fields()
    found.pop("lost_inquiries", None)
    return found


def listed(engine: Engine, **kw: Any) -> list[dict[str, object]]:
    return [u.as_dict() for u in engine.unpaid_orders(every=True, **kw)]


def test_an_order_not_paid_within_30_minutes_awaits_payment_for_the_holder():
    engine, _ = feed(chat(order("created", 20, amount="59.00"), ev("buyer", R + 60)))
    assert lead(engine) == {"unpaid_orders": 1, "unpaid_amount": "59.00", "unpaid_recovered": 0}
    assert lead(engine, "a1") == lead(engine)
    [entry] = listed(engine)
    assert entry["order_id"] == "o1" and entry["agent"] == "a1" and entry["amount"] == "59.00"
    assert entry["status"] == "awaiting" and entry["recovered"] is False
    assert entry["created"] == "2026-11-11T10:00:20+08:00"
    assert entry["awaiting_since"] == "2026-11-11T10:30:20+08:00"
    assert entry["ref"] == log_ref("s1:b1") == conversation_ref("s1:b1")
    assert entry["minutes_waiting"] == pytest.approx((R + 60 - 20) / 60, abs=0.1)


@pytest.mark.parametrize(("status", "at", "awaiting", "recovered"), [
    ("paid", R, 0, 0),  # at c + R exactly: paid in time, never awaiting
    ("paid", R + 1, 1, 1),  # a second later: it was awaiting, and the reminder worked
    ("cancelled", R, 0, 0),
    ("cancelled", R + 1, 1, 0),
    ("paid", E - 1, 1, 1),
    ("paid", E, 1, 0),  # at c + E: it had expired (recovered is strictly before)
    ("paid", E + HOUR, 1, 0),
])
def test_the_reminder_and_expiry_boundaries(status, at, awaiting, recovered):
    amount = "10.00" if status == "paid" else None
    engine, applied = feed(chat(order("created", C), order(status, C + at, amount=amount)))
    assert lead(engine)["unpaid_orders"] == awaiting
    assert lead(engine)["unpaid_recovered"] == recovered
    assert len(outcomes(applied, OrderRecovered)) == recovered


def test_statuses_of_the_orders_that_awaited_payment():
    engine, _ = feed([ev("buyer", 0), ev("agent", 10),
                      order("created", C, "o1"), order("created", C, "o2"),
                      order("created", C, "o3"), order("created", C, "o4"),
                      order("paid", C + R + 5, "o1", "1.00"), order("cancelled", C + R + 5, "o2"),
                      order("paid", C + E + 5, "o3", "1.00"),
                      order("created", C + E + 10, "o5"), order("paid", C + E + 60, "o5", "2.00"),
                      ev("buyer", 2 * E)])
    by_id = {u["order_id"]: u["status"] for u in listed(engine)}
    assert by_id == {"o1": "recovered", "o2": "cancelled", "o3": "paid_late", "o4": "expired"}
    assert engine.unpaid_orders() == []  # nothing awaits payment at the end of this log


def test_the_holder_is_the_one_at_the_reminder_time():
    # a transfer stamped at c + R is before the order awaits payment; one later is not
    at_r = feed(chat(order("created", C), ev("transfer", C + R, agent_id="a2")))[0]
    after = feed(chat(order("created", C), ev("transfer", C + R + 1, agent_id="a2")))[0]
    assert lead(at_r, "a2")["unpaid_orders"] == 1 and lead(at_r, "a1")["unpaid_orders"] == 0
    assert lead(after, "a1")["unpaid_orders"] == 1 and lead(after, "a2")["unpaid_orders"] == 0
    assert listed(after)[0]["holding"] == "a2"  # whom to ask now


def test_the_day_is_the_day_of_creation():
    late = 13 * HOUR + 50 * MIN  # 23:50
    engine, _ = feed(chat(order("created", late, amount="5.00"), order("paid", late + R + 60,
                                                                        amount="5.00")))
    assert lead(engine, day=DAY) == {"unpaid_orders": 1, "unpaid_amount": "5.00",
                                     "unpaid_recovered": 1}
    assert lead(engine, day=NEXT)["unpaid_orders"] == 0


def test_orders_of_ad_buyers_never_await_payment():
    body = order("created", 0)
    body["buyer_kind"] = "ad"
    engine, _ = feed([ev("ad", 0), body, ev("ad", R + 60)])
    assert listed(engine) == []


def test_the_reminder_time_is_configured_per_shop():
    settings = settings_yaml("shops:\n  s1:\n    unpaid_reminder_minutes: 10\n"
                             "    unpaid_expiry_hours: 2\n")
    engine, _ = feed(chat(order("created", C), order("paid", C + 11 * MIN, amount="1.00")),
                     settings)
    assert lead(engine) == {"unpaid_orders": 1, "unpaid_amount": "0.00", "unpaid_recovered": 1}
    other = feed(chat(order("created", 0, shop="s2"), order("paid", 11 * MIN, shop="s2",
                                                           amount="1.00")), settings)[0]
    assert listed(other) == []


def test_a_bad_reminder_setting_is_refused():
    from stream.errors import ConfigError

    with pytest.raises(ConfigError, match="unpaid_reminder_minutes"):
        settings_yaml("shops:\n  s1:\n    unpaid_reminder_minutes: -5\n")


# --- live: the watermark lists, a late event puts it right -------------------------------------


def _live(events: list[dict[str, Any]], watermark_s: float, late: list[dict[str, Any]],
          ) -> Engine:
    engine = Engine(load_settings(environ={}).policies)
    for body in events:
        engine.apply(to_event(body))
    engine.advance(0, T0_MS + int(watermark_s * 1000))
    for body in late:
        engine.apply(to_event(body))
    return engine


def test_the_watermark_lists_an_order_without_further_events():
    engine = _live(chat(order("created", C, amount="3.00")), C + R + 1, [])
    [entry] = [u.as_dict() for u in engine.unpaid_orders()]
    assert entry["agent"] == "a1" and entry["status"] == "awaiting"
    assert lead(engine) == {"unpaid_orders": 1, "unpaid_amount": "3.00", "unpaid_recovered": 0}
    engine.advance(0, T0_MS + C * 1000)  # the watermark never goes back
    assert lead(engine)["unpaid_orders"] == 1


@pytest.mark.parametrize("late", [
    [order("paid", C + R - 60, amount="3.00")],  # paid in time, delivered late
    [order("cancelled", C + R)],
    [ev("transfer", C + R - 60, agent_id="a2")],  # the holder at c + R was another agent
    [ev("transfer", C + R + 60, agent_id="a2")],
    [order("paid", C + R + 60, amount="3.00")],
])
def test_a_late_event_ends_as_the_complete_log_does(late):
    created = chat(order("created", C, amount="3.00"))
    live = _live(created, C + R + 120, late)
    complete, _ = feed([*created, *late])
    for agent in (None, "a1", "a2"):
        assert lead(live, agent) == lead(complete, agent), agent
    assert [u.as_dict() for u in live.unpaid_orders(every=True)] == listed(complete)


# --- restart -------------------------------------------------------------------------------------


def test_a_restored_engine_has_the_same_figures_and_list():
    events = [*chat(order("created", C, "o1", "8.00"), order("created", 60, "o2", "9.00"),
                    order("paid", C + R + 30, "o1", "8.00")), ev("buyer", R + 120)]
    engine, _ = feed(events, finish=False)
    restored = Engine(load_settings(environ={}).policies)
    for cid, conv in engine.conversations.items():
        restored.load(cid, decode_row(encode_row(conv)))
    assert lead(restored) == lead(engine) == {"unpaid_orders": 2, "unpaid_amount": "17.00",
                                              "unpaid_recovered": 1}
    assert [u.as_dict() for u in restored.unpaid_orders(now_ms=T0_MS)] == \
        [u.as_dict() for u in engine.unpaid_orders(now_ms=T0_MS)]
    # a pending order restored is listed like the one never restarted
    pending = chat(order("created", C, "o3"))
    before, _ = feed(pending, finish=False)
    again = Engine(load_settings(environ={}).policies)
    for cid, conv in before.conversations.items():
        again.load(cid, decode_row(encode_row(conv)))
    for e in (before, again):
        e.advance(0, T0_MS + (C + R + 5) * 1000)
    assert lead(again, "a1") == lead(before, "a1") == {
        "unpaid_orders": 1, "unpaid_amount": "0.00", "unpaid_recovered": 0}
