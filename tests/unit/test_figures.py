"""The daily figures of DOMAIN.md §3 ("Daily figures, per shop and business day")."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, timedelta

from stream.core.figures import DailyFigures, DayBook, DayTotals
from tests.unit.test_reply_window import T0, ev, feed, only_row, report, settings_yaml

FIELDS = ["shop_id", "day", "consultations", "unreplied", "reply_rate", "waits",
          "waits_breached", "responses", "mean_response_seconds", "fast_responses"]


def test_report_row_has_exactly_the_contract_fields_in_order() -> None:
    engine, _ = feed([ev("buyer", 0), ev("agent", 1)])
    assert list(only_row(engine)) == FIELDS
    assert [f.name for f in fields(DailyFigures)] == FIELDS


def test_consultations_count_distinct_buyers_not_conversations_or_waits() -> None:
    log = [ev("buyer", 0, conversation_id="c1"), ev("agent", 5, conversation_id="c1"),
           ev("buyer", 10, conversation_id="c1"), ev("agent", 15, conversation_id="c1"),
           ev("buyer", 20, conversation_id="c2"), ev("agent", 25, conversation_id="c2"),
           ev("buyer", 30, buyer="b2"), ev("agent", 31, buyer="b2")]
    row = only_row(feed(log)[0])
    assert (row["consultations"], row["waits"], row["responses"]) == (2, 4, 4)


def test_unreplied_counts_distinct_buyers_with_a_breached_counted_wait() -> None:
    early = T0.replace(hour=7)
    log = [
        # b1: two breached waits in two conversations -> one unreplied buyer
        ev("buyer", 0, conversation_id="x1"), ev("buyer", 0, conversation_id="x2"),
        # b2: breached only outside counted hours, answered in time inside them
        ev("buyer", early, buyer="b2"), ev("agent", early + timedelta(minutes=6), buyer="b2"),
        ev("buyer", 60, buyer="b2"), ev("agent", 70, buyer="b2"),
        # b3: answered in time
        ev("buyer", 0, buyer="b3"), ev("agent", 299, buyer="b3"),
    ]
    row = only_row(feed(log)[0])
    assert (row["consultations"], row["unreplied"], row["waits"], row["waits_breached"]) == \
        (3, 1, 4, 2)
    assert row["reply_rate"] == 2 / 3


def test_a_buyer_answered_once_and_breached_once_is_unreplied() -> None:
    log = [ev("buyer", 0), ev("agent", 5), ev("buyer", 100)]
    row = only_row(feed(log)[0])
    assert (row["consultations"], row["unreplied"], row["reply_rate"]) == (1, 1, 0.0)


def test_reply_rate_and_mean_are_null_without_consultations_or_responses() -> None:
    empty = DayTotals().figures("s1", date(2026, 11, 11).toordinal())
    assert (empty.consultations, empty.reply_rate, empty.mean_response_seconds) == (0, None, None)
    row = only_row(feed([ev("buyer", 0), ev("buyer", 1, buyer="b2")])[0])
    assert (row["responses"], row["mean_response_seconds"], row["reply_rate"]) == (0, None, 0.0)


def test_fast_responses_are_at_most_15_seconds_inclusive() -> None:
    log = []
    for i, delay in enumerate((0, 14.999, 15, 15.001, 60)):
        log += [ev("buyer", i * 1000, buyer=f"b{i}"), ev("agent", i * 1000 + delay, buyer=f"b{i}")]
    row = only_row(feed(log)[0])
    assert (row["responses"], row["fast_responses"]) == (5, 3)
    assert row["mean_response_seconds"] == (14.999 + 15 + 15.001 + 60) / 5


def test_slow_threshold_and_window_overridable_per_shop() -> None:
    settings = settings_yaml("shops:\n  s1: {slow_threshold_seconds: 30, window_seconds: 60}\n")
    log = [ev("buyer", 0), ev("agent", 20), ev("buyer", 100), ev("agent", 161)]
    row = only_row(feed(log, settings)[0])
    assert (row["fast_responses"], row["waits_breached"]) == (1, 1)


def test_late_responses_count_in_responses_and_mean() -> None:
    row = only_row(feed([ev("buyer", 0), ev("agent", 600)])[0])
    assert (row["responses"], row["waits_breached"], row["mean_response_seconds"]) == \
        (1, 1, 600.0)


def test_report_sorted_by_shop_then_day_and_only_days_with_counted_waits() -> None:
    next_day = T0 + timedelta(days=1)
    night = T0.replace(hour=23, minute=30)
    log = [ev("buyer", next_day, shop="b-shop"), ev("buyer", 0, shop="b-shop", buyer="b2"),
           ev("buyer", next_day, shop="a-shop"), ev("buyer", night, shop="c-shop"),
           ev("buyer", 0, shop="a-shop", buyer="b9")]
    rows = report(feed(log)[0])
    assert [(r["shop_id"], r["day"]) for r in rows] == [
        ("a-shop", "2026-11-11"), ("a-shop", "2026-11-12"),
        ("b-shop", "2026-11-11"), ("b-shop", "2026-11-12"),
    ]


def test_daybook_change_is_reversible_and_merge_adds_distinct_buyers() -> None:
    day = date(2026, 11, 11).toordinal()
    a, b = DayBook(), DayBook()
    a.change("s", "b1", day, None, [1, 1, 0, 0, 0])
    b.change("s", "b1", day, None, [1, 0, 1, 5000, 1])
    b.change("s", "b2", day, None, [2, 0, 2, 4000, 2])
    merged = DayBook()
    merged.merge(a)
    merged.merge(b)
    fig = merged.figures("s", day)
    assert fig is not None
    assert (fig.consultations, fig.unreplied, fig.waits, fig.responses, fig.fast_responses) == \
        (2, 1, 4, 3, 3)
    assert fig.mean_response_seconds == 3.0 and fig.reply_rate == 0.5
    # undo b2's contribution: back to one buyer
    b.change("s", "b2", day, [2, 0, 2, 4000, 2], None)
    one = b.figures("s", day)
    assert one is not None and (one.consultations, one.waits) == (1, 1)
    assert a.figures("s", day + 1) is None
