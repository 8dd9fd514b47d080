"""Every buyer still waiting, breached or not, and each KPI's state of the wait (the board's
list): ``Engine.waiting`` and ``Engine.kpi_waits``."""

from __future__ import annotations

from datetime import timedelta

from agents.pipeline import decode_row, encode_row
from stream.config import load_settings
from stream.core.engine import Engine, KpiWait
from tests.unit.test_reply_window import T0, T0_MS, ev, to_event

SECOND = 1000


def engine_with(*bodies: dict[str, object]) -> Engine:
    engine = Engine(load_settings(environ={}).policies)
    for body in bodies:
        engine.apply(to_event(body))
    return engine


def by_kpi(engine: Engine, cid: str = "s1:b1") -> dict[str, KpiWait]:
    conv = engine.conversations[cid]
    return {w.kpi: w for w in engine.kpi_waits(conv)}


def test_a_breached_buyer_stays_waiting_until_a_reply() -> None:
    engine = engine_with(ev("buyer", T0))  # pdd: pdd_5min (the base wait) and pdd_3min_human
    assert [cid for cid, _ in engine.waiting(0)] == ["s1:b1"]
    waits = by_kpi(engine)
    assert waits["pdd_5min"] == KpiWait("pdd_5min", T0_MS, T0_MS + 300 * SECOND, False, True,
                                        True)
    assert waits["pdd_3min_human"].deadline_ms == T0_MS + 180 * SECOND

    engine.advance(0, T0_MS + 200 * SECOND, kpis=True)  # the 3-minute KPI breached
    assert [cid for cid, _ in engine.waiting(0)] == ["s1:b1"]
    waits = by_kpi(engine)
    assert waits["pdd_3min_human"].breached and not waits["pdd_3min_human"].saveable
    assert waits["pdd_5min"].saveable

    engine.advance(0, T0_MS + 400 * SECOND, kpis=True)  # both breached: still waiting
    assert [cid for cid, _ in engine.waiting(0)] == ["s1:b1"]
    assert all(w.breached and not w.saveable for w in by_kpi(engine).values())

    engine.apply(to_event(ev("agent", T0 + timedelta(seconds=450))))
    assert list(engine.waiting(0)) == []
    assert by_kpi(engine) == {}
    assert engine.partitions[0].breached == set()


def test_a_buyer_already_lost_today_cannot_be_saved_by_a_fast_reply() -> None:
    engine = engine_with(ev("buyer", T0), ev("agent", T0 + timedelta(minutes=6)),
                         ev("buyer", T0 + timedelta(minutes=10)))
    waits = by_kpi(engine)
    # buyer-unit KPIs: this buyer already breached both today
    assert not waits["pdd_5min"].breached and not waits["pdd_5min"].saveable
    assert not waits["pdd_3min_human"].breached and not waits["pdd_3min_human"].saveable


def test_a_round_unit_kpi_can_be_saved_on_each_new_round() -> None:
    engine = engine_with(ev("buyer", T0, platform="taobao"),
                         ev("agent", T0 + timedelta(minutes=4), platform="taobao"),
                         ev("buyer", T0 + timedelta(minutes=10), platform="taobao"))
    waits = by_kpi(engine)
    assert waits["taobao_3min_human"].saveable and not waits["taobao_3min_human"].breached


def test_a_wait_outside_counted_hours_is_listed_but_not_saveable() -> None:
    engine = engine_with(ev("buyer", T0.replace(hour=3)))
    waits = by_kpi(engine)
    assert waits and not any(w.counted or w.saveable for w in waits.values())


def test_a_restored_breached_wait_is_still_waiting() -> None:
    engine = engine_with(ev("buyer", T0))
    engine.advance(0, T0_MS + 400 * SECOND, kpis=True)
    row = encode_row(engine.conversations["s1:b1"])
    restored = Engine(load_settings(environ={}).policies)
    restored.load("s1:b1", decode_row(row))
    assert [cid for cid, _ in restored.waiting(0)] == ["s1:b1"]
    assert all(w.breached for w in by_kpi(restored).values())


def test_an_evicted_conversation_leaves_the_breached_set() -> None:
    engine = engine_with(ev("buyer", T0))
    engine.advance(0, T0_MS + 400 * SECOND, kpis=True)
    engine.apply(to_event(ev("buyer", T0 + timedelta(days=3), buyer="b2")))
    engine.evict(0, 24 * 3600 * SECOND)
    assert "s1:b1" not in engine.conversations
    assert engine.partitions[0].breached == set()
    assert [cid for cid, _ in engine.waiting(0)] == ["s1:b2"]
