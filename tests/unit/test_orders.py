"""DOMAIN.md §7 on the pure engine: order events, attribution, the conversion figures.

Hand-made logs in arrival order, decoded by the real decoder (``tests.unit.test_reply_window``
helpers), finished as a backfill would.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from stream.config import load_settings
from stream.core.engine import Engine
from stream.core.orders import (
    Order,
    OrderPaid,
    OrderRefunded,
    parse_amount,
    per_buyer,
    yuan,
)
from stream.core.rows import Conversation
from stream.schema import Invalid, decode, encode_event
from tests.unit.test_reply_window import T0, ev, feed, outcomes, settings_yaml, to_event

DAY = "2026-11-11"
NEXT = "2026-11-12"


def order(status: str, at: float, order_id: str = "o1", amount: Any = None, **extra: Any,
          ) -> dict[str, Any]:
    """An order event of buyer b1 in shop s1 ``at`` seconds after T0."""
    body = ev("read", at, **{k: v for k, v in extra.items() if k in ("shop", "buyer")})
    body.update(type="order", order_id=order_id, status=status)
    if amount is not None:
        body["amount"] = amount
    body.update({k: v for k, v in extra.items() if k not in ("shop", "buyer")})
    return body


def shop_day(engine: Engine, day: str = DAY, shop: str = "s1") -> dict[str, object]:
    rows = [r.as_dict() for r in engine.order_book().report() if r.day == day
            and r.shop_id == shop]
    assert len(rows) == 1, rows
    return rows[0]


def agent_days(engine: Engine) -> dict[tuple[str, str], dict[str, object]]:
    return {(str(r.agent), r.day): r.as_dict() for r in engine.order_book().report(agents=True)}


HOUR = 3600


# --- the wire ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "fen"), [
    ("19.90", 1990), (19.9, 1990), ("0.1", 10), (0.01, 1), (100, 10000), ("19.900", 1990),
    ("0", 0), ("1e2", 10000), (" 5.5 ", 550)])
def test_amounts_are_exact_fen(amount, fen):
    event = decode(json.dumps(order("paid", 0, amount=amount)).encode())
    assert not isinstance(event, Invalid), event
    assert event.amount_fen == fen


def test_a_json_number_is_read_from_its_text_not_through_a_float():
    raw = json.dumps(order("paid", 0, amount=1)).replace('"amount": 1',
                                                         '"amount": 0.300000000000000001')
    bad = decode(raw.encode())
    assert isinstance(bad, Invalid) and "more than 2 decimals" in bad.reason
    exact = decode(json.dumps(order("paid", 0, amount=1)).replace(
        '"amount": 1', '"amount": 12345678901.23').encode())
    assert not isinstance(exact, Invalid) and exact.amount_fen == 1_234_567_890_123


@pytest.mark.parametrize(("change", "why"), [
    ({"order_id": None}, "needs `order_id`"),
    ({"order_id": ""}, "order_id"),
    ({"status": "shipped"}, "not one of created, paid, refunded, cancelled"),
    ({"status": None}, "status missing"),
    ({"amount": "-1.00"}, "negative"),
    ({"amount": -5}, "negative"),
    ({"amount": "abc"}, "not a decimal number"),
    ({"amount": "19.999"}, "more than 2 decimals"),
    ({"amount": 0.001}, "more than 2 decimals"),
    ({"amount": True}, "decimal string or a number"),
    ({"amount": [1]}, "decimal string or a number"),
    ({"amount": "NaN"}, "not a decimal number"),
    ({"amount": "1e99"}, "too large"),
])
def test_invalid_orders_say_why(change, why):
    body = order("paid", 0, amount="9.90")
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    bad = decode(json.dumps(body).encode())
    assert isinstance(bad, Invalid)
    assert why in bad.reason, bad.reason


@pytest.mark.parametrize("status", ["paid", "refunded"])
def test_paid_and_refunded_need_an_amount(status):
    bad = decode(json.dumps(order(status, 0)).encode())
    assert isinstance(bad, Invalid) and "needs `amount`" in bad.reason
    bad = decode(json.dumps(order(status, 0, amount=None) | {"amount": None}).encode())
    assert isinstance(bad, Invalid) and "needs `amount`" in bad.reason


def test_created_and_cancelled_need_no_amount_and_round_trip():
    for status in ("created", "cancelled"):
        event = to_event(order(status, 0))
        assert event.amount_fen is None and event.status == status
    event = to_event(order("paid", 0, amount="19.9"))
    again = decode(encode_event(event))
    assert again == event
    assert json.loads(encode_event(event))["amount"] == "19.90"


def test_amount_helpers():
    assert parse_amount("199.99") == 19999
    assert yuan(19999) == "199.99" and yuan(5) == "0.05" and yuan(0) == "0.00"
    assert per_buyer(1001, 2) == 501  # 5.005 yuan rounds half-up to 5.01
    assert per_buyer(1000, 3) == 333
    assert per_buyer(2000, 3) == 667


# --- attribution -----------------------------------------------------------------------------------


def test_a_consultation_then_payment_converts_the_day():
    engine, applied = feed([ev("buyer", 0), ev("agent", 30), ev("buyer", 60), ev("agent", 90),
                            order("created", 120), order("paid", 200, amount="99.50")])
    paid = outcomes(applied, OrderPaid)
    assert paid == [OrderPaid("s1:b1", "s1", "a1", paid[0].day, 9950, False, 0)]
    assert shop_day(engine) == {
        "shop_id": "s1", "day": DAY, "inquiries": 1, "paid_buyers": 1, "conversion_rate": 1.0,
        "chat_sales": "99.50", "refunds": "0.00", "avg_order_value": "99.50",
        "silent_orders": 0, "silent_sales": "0.00"}
    agents = agent_days(engine)
    # the first wait opened before anyone spoke (unassigned); the second was a1's
    assert agents[("a1", DAY)]["inquiries"] == 1
    assert agents[("a1", DAY)]["paid_buyers"] == 1
    assert agents[("a1", DAY)]["chat_sales"] == "99.50"
    assert agents[("unassigned", DAY)]["inquiries"] == 1
    assert agents[("unassigned", DAY)]["paid_buyers"] == 0


def test_an_order_before_any_wait_is_silent():
    engine, applied = feed([order("paid", 0, amount="10"), ev("buyer", 60), ev("agent", 70)])
    assert outcomes(applied, OrderPaid)[0].silent
    row = shop_day(engine)
    assert row["silent_orders"] == 1 and row["silent_sales"] == "10.00"
    assert row["paid_buyers"] == 0 and row["inquiries"] == 1 and row["conversion_rate"] == 0.0
    assert row["chat_sales"] == "0.00" and row["avg_order_value"] is None
    assert all(r["paid_buyers"] == 0 for r in agent_days(engine).values())


def test_a_first_wait_at_the_payments_time_converts_it_whichever_arrives_first():
    # the payment arrives first; the buyer's first message carries the same time: the day's
    # first wait started at (so at or before) the payment, and it converts the day
    engine, _ = feed([order("paid", 0, amount="9.90"), ev("buyer", 0), ev("agent", 20)])
    row = shop_day(engine)
    assert (row["paid_buyers"], row["chat_sales"], row["silent_orders"]) == (1, "9.90", 0)
    # a wait of another conversation of the buyer, earlier than the payment but arriving after
    # it, converts it too (event time decides, not arrival)
    engine, _ = feed([order("paid", 300, amount="5", conversation_id="c2"),
                      ev("buyer", 100), ev("agent", 110)])
    row = shop_day(engine)
    assert (row["paid_buyers"], row["silent_orders"], row["chat_sales"]) == (1, 0, "5.00")
    # a first wait after the payment does not
    engine, _ = feed([order("paid", 0, amount="7"), ev("buyer", 1), ev("agent", 5)])
    assert shop_day(engine)["silent_orders"] == 1
    # a later day's first wait, arriving after the payment it precedes, takes the payment
    # from the earlier day (the latest day whose first wait started at or before it)
    engine, _ = feed([ev("buyer", 0), ev("agent", 10),
                      order("paid", 20 * HOUR, amount="3", conversation_id="c2"),
                      ev("buyer", 19 * HOUR, conversation_id="c3")])
    assert shop_day(engine)["paid_buyers"] == 0
    assert shop_day(engine, NEXT)["paid_buyers"] == 1


@pytest.mark.parametrize(("after", "silent"), [
    (23 * HOUR + 59 * 60, False), (24 * HOUR, False), (24 * HOUR + 60, True)])
def test_the_window_is_24_hours_after_the_first_wait(after, silent):
    engine, _ = feed([ev("buyer", 0), ev("agent", 30), ev("buyer", 40),
                      order("paid", after, amount="50")])
    first = shop_day(engine, DAY)
    if silent:
        assert first["paid_buyers"] == 0 and first["chat_sales"] == "0.00"
        assert shop_day(engine, NEXT)["silent_orders"] == 1
    else:
        assert first["paid_buyers"] == 1 and first["chat_sales"] == "50.00"
        assert first["conversion_rate"] == 1.0
        assert first["silent_orders"] == 0


def test_the_window_is_set_per_shop():
    settings = settings_yaml("shops: {s1: {conversion_window_hours: 2}}")
    log = [ev("buyer", 0), ev("agent", 30), order("paid", 2 * HOUR + 1, amount="5")]
    engine, _ = feed(log, settings)
    assert shop_day(engine)["silent_orders"] == 1
    engine, _ = feed(log)
    assert shop_day(engine)["paid_buyers"] == 1


def test_the_latest_day_whose_first_wait_is_in_the_window_converts():
    # day 1 first wait 10:00, day 2 first wait 10:00; payment day 2 at 11:00 -> day 2
    log = [ev("buyer", 0), ev("agent", 10),
           ev("buyer", 24 * HOUR), ev("agent", 24 * HOUR + 10),
           order("paid", 25 * HOUR, amount="8.00")]
    engine, _ = feed(log)
    assert shop_day(engine, DAY)["paid_buyers"] == 0
    assert shop_day(engine, NEXT)["paid_buyers"] == 1
    # a later wait of the same day does not move the day's first wait: paid 24 h 30 min after
    # the first wait of day 1 but 2 h after its last wait is silent (no day 2 wait)
    log = [ev("buyer", 0), ev("agent", 10), ev("buyer", 12 * HOUR), ev("agent", 12 * HOUR + 5),
           order("paid", 24 * HOUR + 1800, amount="8.00")]
    engine, _ = feed(log)
    assert shop_day(engine, NEXT)["silent_orders"] == 1


def test_inquiries_count_any_hour_but_consultations_only_counted_hours():
    night = T0.replace(hour=2)  # 02:00, outside 08:00-23:00
    engine, _ = feed([ev("buyer", night), ev("agent", night + timedelta(seconds=20)),
                      order("paid", night + timedelta(hours=1), amount="1")])
    assert engine.report() == []  # no counted wait: no §3 row
    row = shop_day(engine)
    assert row["inquiries"] == 1 and row["paid_buyers"] == 1


def test_refund_after_the_window_still_counts_for_the_paid_day():
    engine, applied = feed([ev("buyer", 0), ev("agent", 30), ev("buyer", 40),
                            order("paid", HOUR, amount="100"),
                            order("refunded", 30 * HOUR, amount="30"),
                            order("refunded", 40 * HOUR, amount="20.50")])
    assert [o.amount for o in outcomes(applied, OrderRefunded)] == [3000, 2050]
    row = shop_day(engine)
    assert row["chat_sales"] == "100.00" and row["refunds"] == "50.50"
    assert agent_days(engine)[("a1", DAY)]["refunds"] == "50.50"


def test_payment_goes_to_the_agent_holding_the_conversation_at_payment():
    # a1 answers the waits, a2 speaks last before the payment: a2 holds the conversation
    log = [ev("buyer", 0), ev("agent", 10), ev("buyer", 20), ev("agent", 30),
           ev("agent", 40, agent_id="a2"), order("paid", 100, amount="12.34")]
    engine, _ = feed(log)
    agents = agent_days(engine)
    assert agents[("a2", DAY)]["paid_buyers"] == 1 and agents[("a2", DAY)]["chat_sales"] == "12.34"
    assert agents[("a2", DAY)]["inquiries"] == 0 and agents[("a2", DAY)]["conversion_rate"] is None
    assert agents[("a1", DAY)]["paid_buyers"] == 0 and agents[("a1", DAY)]["inquiries"] == 1


def test_ad_and_peer_buyers_are_excluded():
    log = [ev("ad", 0), ev("agent", 10), order("paid", 20, amount="5", buyer_kind="ad"),
           ev("peer", 0, buyer="b2"), order("paid", 30, amount="5", buyer="b2",
                                           buyer_kind="peer"),
           ev("buyer", 0, buyer="b3"), order("paid", 40, amount="7", buyer="b3")]
    engine, _ = feed(log)
    row = shop_day(engine)
    assert row["inquiries"] == 1 and row["paid_buyers"] == 1 and row["chat_sales"] == "7.00"
    assert row["silent_orders"] == 0


def test_duplicates_repeated_status_and_refunds_that_add_up():
    paid = order("paid", 100, amount="10")
    log = [ev("buyer", 0), ev("agent", 10), order("created", 50), order("created", 60),
           paid, dict(paid), order("paid", 120, amount="99"),  # same (order, paid): dropped
           order("cancelled", 130), order("cancelled", 140),
           order("refunded", 150, amount="1"), order("refunded", 160, amount="1")]
    engine, applied = feed(log)
    assert [a.duplicate for a in applied].count(True) == 4
    assert engine.duplicates == 4
    row = shop_day(engine)
    assert row["chat_sales"] == "10.00" and row["refunds"] == "2.00" and row["paid_buyers"] == 1


def test_out_of_order_orders_are_clamped_like_messages():
    # the payment is stamped before the first wait, but arrives after it: rule 7 raises its
    # time to the conversation's latest, so it converts
    engine, applied = feed([ev("buyer", 100), ev("agent", 110),
                            order("paid", 50, amount="3")])
    assert applied[-1].out_of_order and engine.out_of_order == 1
    assert shop_day(engine)["paid_buyers"] == 1
    # a refund that arrives before its payment is counted once the payment is
    engine, _ = feed([ev("buyer", 0), ev("agent", 10), order("refunded", 20, amount="1"),
                      order("paid", 30, amount="4")])
    row = shop_day(engine)
    assert row["chat_sales"] == "4.00" and row["refunds"] == "1.00"


def test_several_buyers_give_rate_and_half_up_average():
    log = []
    for i, amount in enumerate(["10.01", "10.00", None, None], 1):
        buyer = f"b{i}"
        log += [ev("buyer", i, buyer=buyer), ev("agent", i + 5, buyer=buyer)]
        if amount:
            log.append(order("paid", 100 + i, f"o{i}", amount, buyer=buyer))
    log.append(order("paid", 200, "o9", "0.01", buyer="b1"))  # a second order of b1
    engine, _ = feed(log)
    row = shop_day(engine)
    assert row["inquiries"] == 4 and row["paid_buyers"] == 2
    assert row["conversion_rate"] == 0.5
    assert row["chat_sales"] == "20.02" and row["avg_order_value"] == "10.01"


def test_a_buyer_with_two_conversations_is_one_buyer():
    log = [ev("buyer", 0, conversation_id="c1"), ev("agent", 10, conversation_id="c1"),
           ev("buyer", 20, conversation_id="c2"),
           order("paid", 100, amount="5", conversation_id="c3")]
    engine, _ = feed(log)
    row = shop_day(engine)
    assert row["inquiries"] == 1 and row["paid_buyers"] == 1


def test_settling_time_is_the_window_after_the_last_first_wait():
    engine, _ = feed([ev("buyer", 0), ev("buyer", 600, buyer="b2"), ev("buyer", 900)],
                     finish=False)
    day = T0.date().toordinal()
    start_b2 = int((T0 + timedelta(seconds=600)).timestamp() * 1000)
    assert engine.order_book().settles_at("s1", day, 24 * 3_600_000) == start_b2 + 86_400_000


# --- state -----------------------------------------------------------------------------------------


def test_rows_restored_give_the_same_figures():
    from agents.pipeline import decode_row, encode_row

    settings = load_settings(environ={})
    log = [ev("buyer", 0), ev("agent", 10), ev("buyer", 20), order("paid", 30, amount="9.99"),
           order("refunded", 40, amount="1"), order("paid", 50, "o2", "1", buyer="b2"),
           ev("buyer", 60, conversation_id="c9", buyer="b3"),
           order("paid", 70, "o3", "3", conversation_id="c8", buyer="b3")]
    engine, _ = feed(log, finish=False)
    restored = Engine(settings.policies)
    for cid, conv in engine.conversations.items():
        restored.load(cid, decode_row(encode_row(conv)))
    assert [r.as_dict() for r in restored.order_book().report()] == \
        [r.as_dict() for r in engine.order_book().report()]
    assert [r.as_dict() for r in restored.order_book().report(agents=True)] == \
        [r.as_dict() for r in engine.order_book().report(agents=True)]
    # the restored rows still know their orders: a repeated payment is a duplicate
    again = restored.apply(to_event(order("paid", 80, amount="9.99")))
    assert again.duplicate
    # loading a row twice (a rebalance back) does not count it twice
    for cid, conv in engine.conversations.items():
        restored.load(cid, decode_row(encode_row(conv)))
    assert [r.as_dict() for r in restored.order_book().report()] == \
        [r.as_dict() for r in engine.order_book().report()]


def test_eviction_prunes_marks_and_orders_of_forgotten_days():
    log = [ev("buyer", 0), ev("agent", 10), ev("buyer", 20), order("paid", 30, amount="1")]
    engine, _ = feed(log, finish=False)
    conv = engine.conversations["s1:b1"]
    assert conv.marks and conv.orders
    # the conversation stays active for days: its old marks and orders go
    for day in range(1, 5):
        engine.apply(to_event(ev("buyer", day * 24 * HOUR)))
        engine.apply(to_event(ev("agent", day * 24 * HOUR + 5)))
    engine.evict(0, 48 * 3_600_000)
    day0 = T0.date().toordinal()
    assert all(conv.marks[i] >= day0 + 1 for i in range(0, len(conv.marks), 3))
    assert conv.orders == ()
    assert all(r.day != DAY for r in engine.order_book().report())


def test_rows_without_orders_stay_small():
    conv = Conversation("s1", "b1", "pdd")
    assert conv.marks == () and conv.orders == ()
    assert Order(1).day == 0


ORDER_BASE = {"event_id": "e1", "ts": "2026-11-11T10:00:00+08:00", "shop_id": "s1",
              "buyer_id": "b1", "type": "order", "order_id": "o1", "status": "paid",
              "amount": "19.90"}


@pytest.mark.parametrize("change", [
    {}, {"amount": 19.9}, {"amount": 5}, {"status": "created", "amount": None},
    {"status": "cancelled"}, {"status": "refunded", "amount": "1"},
    {"order_id": None}, {"order_id": ""}, {"status": "shipped"}, {"status": None},
    {"amount": None}, {"amount": "-1"}, {"amount": -1}, {"amount": "abc"}, {"amount": True},
    {"amount": [1]}, {"amount": {}},
])
def test_json_schema_and_decoder_agree_on_orders(change):
    from tests.unit.test_schema import VALIDATOR

    body = {k: v for k, v in {**ORDER_BASE, **change}.items() if v is not None}
    decoded = decode(json.dumps(body).encode())
    assert VALIDATOR.is_valid(body) == (not isinstance(decoded, Invalid)), decoded



def test_order_figures_are_kept_for_the_window_when_the_retention_is_shorter():
    engine, _ = feed([ev("buyer", 0), ev("agent", 10), order("paid", 20, amount="6"),
                      ev("buyer", 0, buyer="b2"), ev("buyer", 30 * HOUR, buyer="b2")],
                     finish=False)
    engine.evict(0, 3_600_000)
    assert "s1:b1" not in engine.conversations  # idle past the retention: gone
    assert shop_day(engine)["paid_buyers"] == 1  # its day's order figures stay
    engine.apply(to_event(ev("buyer", 80 * HOUR, buyer="b3")))
    engine.evict(0, 3_600_000)  # past the window too: the day is forgotten
    assert all(r.day != DAY for r in engine.order_book().report())
