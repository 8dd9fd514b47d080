"""Bounded state: idle conversations and old days are forgotten, on event time."""

from __future__ import annotations

from stream.core.engine import Engine
from stream.core.events import ChatEvent
from stream.core.policy import PolicyBook

HOUR = 3_600_000
T0 = 1794362400000  # 2026-11-11T10:00:00+08:00


def msg(eid, ts, buyer, sender="buyer", agent=None):
    return ChatEvent(event_id=eid, ts_ms=ts, shop_id="s", buyer_id=buyer,
                     conversation_id=f"s:{buyer}", platform="pdd", type="message",
                     sender=sender, agent_id=agent, text="x")


def test_idle_closed_conversations_are_evicted_open_ones_kept():
    engine = Engine(PolicyBook())
    engine.apply(msg("1", T0, "old"))
    engine.apply(msg("2", T0 + 10_000, "old", "agent", "a"))  # answered: nothing open
    engine.apply(msg("3", T0, "waiting"))                     # never answered
    engine.apply(msg("4", T0 + 50 * HOUR, "new"))             # moves the partition's clock
    evicted = engine.evict(0, retention_ms=48 * HOUR)
    assert evicted == ["s:old"]
    assert set(engine.conversations) == {"s:waiting", "s:new"}


def test_nothing_is_evicted_within_retention_and_figures_stay():
    engine = Engine(PolicyBook())
    engine.apply(msg("1", T0, "a"))
    engine.apply(msg("2", T0 + 10_000, "a", "agent", "x"))
    engine.apply(msg("3", T0 + 3 * HOUR, "b"))
    before = engine.report()
    assert engine.evict(0, retention_ms=48 * HOUR) == []
    assert engine.report() == before


def test_evicted_contributions_stay_in_kept_days_and_old_days_are_dropped():
    engine = Engine(PolicyBook())
    engine.apply(msg("1", T0, "a"))
    engine.apply(msg("2", T0 + 10_000, "a", "agent", "x"))
    engine.apply(msg("3", T0 + 30 * HOUR, "b"))  # next day
    engine.apply(msg("4", T0 + 30 * HOUR + 5_000, "b", "agent", "x"))
    engine.evict(0, retention_ms=12 * HOUR)  # evicts "a" (idle 30 h), keeps its day
    days = [r.day for r in engine.report()]
    assert days == ["2026-11-11", "2026-11-12"]
    engine.apply(msg("5", T0 + 30 * 24 * HOUR, "c"))  # a month later
    engine.evict(0, retention_ms=12 * HOUR)
    assert [r.day for r in engine.report()] == ["2026-12-11"]


def test_eviction_ignores_the_wall_clock():
    engine = Engine(PolicyBook())
    engine.apply(msg("1", T0, "a"))
    engine.apply(msg("2", T0 + 10_000, "a", "agent", "x"))
    engine.advance(0, T0 + 365 * 24 * HOUR)  # a caught-up live watermark far ahead
    assert engine.evict(0, retention_ms=48 * HOUR) == []
    assert [r.day for r in engine.report()] == ["2026-11-11"]


def test_breached_unanswered_waits_are_evicted_after_retention_open_ones_are_not():
    engine = Engine(PolicyBook())
    engine.apply(msg("1", T0, "ghosted"))           # never answered
    engine.apply(msg("2", T0 + 49 * HOUR, "fresh"))  # still within its window
    engine.advance(0, T0 + 49 * HOUR)               # breaches "ghosted" only
    evicted = engine.evict(0, retention_ms=48 * HOUR)
    assert evicted == ["s:ghosted"]
    assert set(engine.conversations) == {"s:fresh"}
    first_day, later_day = engine.report()
    assert (first_day.waits, first_day.waits_breached) == (1, 1)  # the breach stays counted
    assert (later_day.waits, later_day.waits_breached) == (1, 0)
