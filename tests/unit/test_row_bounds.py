"""One conversation's row stays bounded whatever its input (issue 34, item 6).

A conversation with 100,000 orders, one that gains a business day every other event, one fed
events 12 h apart: the row stays under 64 KB (it is written to the changelog after every
event), each event costs the same in the 100,000th order as in the first, and what a cap drops
is counted. On normal input the caps are never reached and settling orders changes no figure.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from agents.metrics import EngineCollector
from agents.pipeline import decode_row, encode_row
from stream.config import load_settings
from stream.core import kpi_state
from stream.core.engine import Engine
from stream.core.events import ChatEvent
from stream.core.limits import RowLimits
from stream.core.policy import PolicyBook
from stream.core.rows import Conversation, Order
from tests.unit.test_orders import order
from tests.unit.test_reply_window import T0_MS, ev, to_event

ROW_BYTES = 64 * 1024
HOUR_MS = 3_600_000
LONG = "x" * 120  # ids of up to 128 characters: what the row bound is stated for


def _event(i: int, ts_ms: int, kind: str, platform: str = "pdd", **extra: Any) -> ChatEvent:
    """A decoded event of buyer b1 in shop s1 (built directly: the costs measured are the
    engine's, not the decoder's)."""
    body = {"event_id": f"h{i}", "ts": ts_ms, "shop_id": "s1", "buyer_id": "b1",
            "platform": platform}
    if kind == "order":
        body.update(type="order", **extra)
    elif kind == "transfer":
        body.update(type="transfer", **extra)
    else:
        body.update(type="message", sender=kind, text="hi", **extra)
    return to_event(body)


def _orders(n: int, agent: str = "a1") -> list[ChatEvent]:
    """A wait, then ``n`` orders of one conversation: every order created, one in three paid,
    one in nine refunded in part, one in five cancelled; a reply now and then."""
    out = [_event(0, T0_MS, "buyer"), _event(1, T0_MS + 1000, "agent", agent_id=agent)]
    at = T0_MS + 2000
    for k in range(n):
        oid = f"o{k}"
        out.append(_event(len(out), at, "order", order_id=oid, status="created"))
        if k % 3 == 0:
            out.append(_event(len(out), at, "order", order_id=oid, status="paid", amount="9.90"))
        if k % 9 == 0:
            out.append(_event(len(out), at, "order", order_id=oid, status="refunded",
                              amount="1.00"))
        if k % 5 == 1:
            out.append(_event(len(out), at, "order", order_id=oid, status="cancelled"))
        at += 10
    return out


def _row(engine: Engine) -> Conversation:
    return engine.conversations["s1:b1"]


def _applied_within(engine: Engine, events: Iterable[ChatEvent], budget_s: float) -> float:
    """Apply ``events``; the seconds it took, or fail once ``budget_s`` has passed."""
    started = time.perf_counter()
    for i, event in enumerate(events):
        engine.apply(event)
        if i % 500 == 0 and time.perf_counter() - started > budget_s:
            pytest.fail(f"more than {budget_s:.1f} s after {i} events: the cost per event "
                        f"grows with the conversation")
    return time.perf_counter() - started


def _linear(build: Callable[[int], list[ChatEvent]], small: int, factor: int) -> tuple[
        float, float, Engine]:
    """Seconds for ``small`` and for ``factor`` x ``small`` (with a 3x margin on linear)."""
    settings = load_settings(environ={})
    Engine(settings.policies).apply(build(50)[0])  # imports and caches warm
    few, many = build(small), build(small * factor)
    t_small = _applied_within(Engine(settings.policies), few, 600.0)
    engine = Engine(settings.policies)
    t_many = _applied_within(engine, many, 3 * factor * max(t_small, 0.05))
    return t_small, t_many, engine


# --- per-event cost ---------------------------------------------------------------------------


def test_a_100000_order_conversation_is_processed_in_linear_time() -> None:
    t_small, t_many, engine = _linear(_orders, 5_000, 20)
    assert t_many < 60 * max(t_small, 0.05), (t_small, t_many)  # quadratic would be 400x
    conv = _row(engine)
    limits = engine.limits
    assert len(conv.orders) <= limits.max_live_orders
    assert len(conv.retired) <= 8 * limits.max_settled_orders
    assert len(encode_row(conv)) <= ROW_BYTES
    assert engine.capped.live_orders > 0 and engine.capped.settled_orders > 0


def _apart(n: int, step_ms: int = 12 * HOUR_MS, start_ms: int = T0_MS - 4000 * 12 * HOUR_MS,
           platform: str = "pdd") -> list[ChatEvent]:
    """``n`` events of one conversation ``step_ms`` apart (a negative step: ever earlier, all
    of them clamped to the first), buyer and agent in turn, from years in the past."""
    return [_event(i, start_ms + i * step_ms, "buyer", platform) if i % 2 == 0 else
            _event(i, start_ms + i * step_ms, "agent", platform, agent_id=f"a{i % 7}")
            for i in range(n)]


def test_events_12_hours_apart_cost_the_same_per_event_and_keep_the_row_small() -> None:
    t_small, t_many, engine = _linear(_apart, 750, 4)
    assert t_many < 12 * max(t_small, 0.05), (t_small, t_many)
    conv = _row(engine)
    max_days = engine.limits.max_days
    assert len(conv.days) // 6 <= max_days
    assert kpi_state.day_count(conv.kpi) <= max_days + 1
    assert len(conv.marks) // 3 <= engine.limits.max_marks
    assert len(encode_row(conv)) <= 8 * 1024  # a few KB: 32 days of two KPIs
    assert engine.capped.days > 0 and engine.capped.marks > 0


def test_events_12_hours_apart_do_not_blow_up_memory() -> None:
    import tracemalloc

    settings = load_settings(environ={})
    # JD's KPI list (one session KPI): a row shape no other test here grows for hundreds of
    # days, so nothing another test left in a process-wide cache hides what this one costs
    events = _apart(1_500, platform="jd")
    engine = Engine(settings.policies)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for event in events:
            engine.apply(event)
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    # 750 days: a compiled layout per day count a row ever had was 80 MB here (300 at 1,500)
    assert grown < 4 * 1024 * 1024, grown


# --- the row's size ---------------------------------------------------------------------------


def _everything(days: int = 40, agents: int = 10, orders_per_day: int = 400) -> Iterator[
        ChatEvent]:
    """A hostile conversation: every day many holders (long ids), many waits, many orders."""
    i = 0
    for d in range(days):
        day_ms = T0_MS + d * 24 * HOUR_MS
        for a in range(agents):
            agent = f"{LONG}{a:08d}"
            at = day_ms + a * 60_000
            yield _event(i, at, "transfer", agent_id=agent)
            yield _event(i + 1, at + 1, "buyer")
            yield _event(i + 2, at + 2, "agent", agent_id=agent)
            i += 3
        for k in range(orders_per_day):
            oid = f"{LONG}{d}-{k}"
            at = day_ms + 3_600_000 + k
            yield _event(i, at, "order", order_id=oid, status="created")
            yield _event(i + 1, at, "order", order_id=oid, status="paid", amount="1")
            i += 2


@pytest.mark.parametrize("events", [
    pytest.param(lambda: _orders(100_000, agent=LONG), id="100000-orders"),
    pytest.param(lambda: _apart(3_000), id="3000-events-12h-apart"),
    pytest.param(lambda: _apart(3_000, step_ms=-12 * HOUR_MS, start_ms=T0_MS),
                 id="3000-events-12h-apart-backwards"),
    pytest.param(_everything, id="many-days-holders-and-orders"),
])
def test_the_row_stays_under_64_kb_whatever_the_input(events: Callable[[], Iterable[ChatEvent]],
                                                       ) -> None:
    settings = load_settings(environ={})
    engine = Engine(settings.policies)
    largest = 0
    for n, event in enumerate(events()):
        engine.apply(event)
        if n % 997 == 0:
            largest = max(largest, len(encode_row(_row(engine))))
    engine.finish()
    conv = _row(engine)
    raw = encode_row(conv)
    assert max(largest, len(raw)) <= ROW_BYTES, max(largest, len(raw))
    assert decode_row(raw) == conv


def test_a_restored_row_from_before_the_caps_is_held_to_them() -> None:
    uncapped = dataclasses.replace(PolicyBook(), limits=UNCAPPED)
    big = Engine(uncapped)
    for event in _everything(days=60, agents=3, orders_per_day=60):
        big.apply(event)
    assert big.capped.total == 0
    raw = encode_row(_row(big))
    assert len(raw) > ROW_BYTES  # what an older worker could have stored
    engine = Engine(PolicyBook())
    engine.load("s1:b1", decode_row(raw))
    assert len(encode_row(_row(engine))) <= ROW_BYTES
    capped = engine.capped
    assert capped.live_orders and capped.days and capped.marks
    # the figures loaded are what the row said (only the row forgets)
    reference = Engine(uncapped)
    reference.load("s1:b1", decode_row(raw))
    assert _figures(engine) == _figures(reference) == _figures(big) | {"duplicates": 0}


def test_restoring_a_huge_row_costs_linear_time() -> None:
    def restore(n: int) -> float:
        orders = tuple(Order(k, 1) for k in range(n)) + tuple(
            Order(10**9 + k, 3, 100, 0, 739_000, "a1") for k in range(200))
        raw = encode_row(Conversation("s1", "b1", "pdd", orders=orders))
        engine = Engine(PolicyBook())
        started = time.perf_counter()
        engine.load("s1:b1", decode_row(raw))
        took = time.perf_counter() - started
        conv = _row(engine)
        assert len(conv.orders) == engine.limits.max_live_orders
        assert all(o.day for o in conv.orders)  # the ones without money went first
        assert len(encode_row(conv)) <= ROW_BYTES
        return took

    restore(1_000)  # warm
    small, large = restore(8_000), restore(32_000)
    assert large < 10 * max(small, 0.01), (small, large)  # quadratic would be 16x


# --- the caps are configured and count what they drop ---------------------------------------


def test_caps_are_configured_and_every_drop_is_counted() -> None:
    settings = load_settings(environ={"CHATWATCH_STATE_MAX_LIVE_ORDERS": "4",
                                      "CHATWATCH_STATE_MAX_SETTLED_ORDERS": "3",
                                      "CHATWATCH_STATE_MAX_DAYS": "2"})
    assert settings.policies.limits == RowLimits(4, 3, 2)
    engine = Engine(settings.policies)
    log = [ev("buyer", 0), ev("agent", 10)]
    log += [order("created", 20 + k, f"o{k}") for k in range(10)]  # 6 beyond 4 live
    log += [order("cancelled", 40 + k, f"c{k}") for k in range(2)]  # settled at once
    for event in log:
        engine.apply(to_event(event))
    conv = _row(engine)
    assert len(conv.orders) == 4 and len(conv.retired) == 3 * 8
    assert engine.capped.live_orders == 6
    assert engine.capped.settled_orders == 6 + 2 - 3
    # the orders settled early were awaiting payment and carried no money: a payment of one
    # of them still counts, and a repeated status of a remembered one is still a duplicate
    assert engine.apply(to_event(order("cancelled", 60, "c1"))).duplicate
    paid = engine.apply(to_event(order("paid", 61, "o0", "5")))
    assert not paid.duplicate and paid.outcomes
    # days: the row keeps 2 (and the open wait's); the figures keep every day
    for d in range(1, 6):
        engine.apply(to_event(ev("buyer", d * 86_400)))
        engine.apply(to_event(ev("agent", d * 86_400 + 5)))
    assert len(conv.days) // 6 == 2 and kpi_state.day_count(conv.kpi) == 2
    assert {conv.marks[i] for i in range(0, len(conv.marks), 3)} == \
        {conv.days[0], conv.days[6]}
    assert engine.capped.days == 2 * 4  # four days gone, from the §3 and the KPI records
    assert engine.capped.marks == 4
    assert len(engine.report()) == 6  # the book keeps what the rows dropped
    # and the worker says so
    registry = CollectorRegistry()
    registry.register(EngineCollector(engine, lambda: T0_MS, lambda: [0]))
    assert {cap: registry.get_sample_value("chatwatch_state_capped_total", {"cap": cap})
            for cap in ("live_orders", "settled_orders", "days", "marks")} == \
        {"live_orders": 7, "settled_orders": 6, "days": 8, "marks": 4}  # o0 came back: one more


@pytest.mark.parametrize(("name", "value"), [
    ("CHATWATCH_STATE_MAX_LIVE_ORDERS", "0"), ("CHATWATCH_STATE_MAX_DAYS", "0"),
    ("CHATWATCH_STATE_MAX_SETTLED_ORDERS", "-1"), ("CHATWATCH_STATE_MAX_DAYS", "many")])
def test_bad_caps_are_refused_by_name(name: str, value: str) -> None:
    from stream.errors import ConfigError

    with pytest.raises(ConfigError, match=name):
        load_settings(environ={name: value})


# --- settled orders change no figure ----------------------------------------------------------


UNCAPPED = RowLimits(4096, 65536, 400)


def _figures(engine: Engine) -> dict[str, Any]:
    return {"conversion": [r.as_dict() for r in engine.order_book().report()],
            "agents": [r.as_dict() for r in engine.order_book().report(agents=True)],
            "daily": [r.as_dict() for r in engine.report()],
            "kpi": [dataclasses.asdict(r) for r in engine.kpi_report()],
            "duplicates": engine.duplicates}


def _normal_log() -> list[dict[str, Any]]:
    """Three buyers, two agents, two days: orders paid, refunded late, cancelled, repeated."""
    log: list[dict[str, Any]] = []
    for b in ("b1", "b2", "b3"):
        log += [ev("buyer", 0, buyer=b), ev("agent", 20, buyer=b)]
    log += [
        order("created", 30, "o1"), order("paid", 40, "o1", "19.90"),
        order("created", 50, "o2"), order("cancelled", 60, "o2"),
        order("cancelled", 61, "o2"),  # a repeat: a duplicate, also once settled
        order("created", 62, "o2"),  # a repeat too
        order("created", 70, "o3", buyer="b2"), order("cancelled", 80, "o3", buyer="b2"),
        order("paid", 90, "o3", "5", buyer="b2"),  # paid after all: it counts, as it always did
        order("refunded", 95, "o3", "1", buyer="b2"),
        order("created", 100, "o4", buyer="b3"),
        order("refunded", 110, "o5", "2", buyer="b3"),  # refunded before it was paid
        order("paid", 120, "o5", "8", buyer="b3"),
        order("cancelled", 125, "o6", buyer="b3"),  # cancelled, never created
        ev("transfer", 130, agent_id="a2"),
        ev("buyer", 86_400), ev("agent", 86_420),
        order("paid", 86_430, "o7", "3"), order("paid", 86_431, "o7", "3"),  # a repeat
        order("refunded", 86_500, "o1", "0.90"),  # a late refund of day one's payment
        order("cancelled", 86_600, "o8", buyer="b2"),
    ]
    return log


def test_settled_orders_are_retired_without_changing_any_figure() -> None:
    log = [to_event(e) for e in _normal_log()]
    results = []
    for limits in (PolicyBook().limits, UNCAPPED):
        engine = Engine(dataclasses.replace(PolicyBook(), limits=limits))
        applied = [engine.apply(e) for e in log]
        engine.finish(kpis=True)
        results.append((engine, [a.duplicate for a in applied]))
    (engine, dups), (uncapped, uncapped_dups) = results
    assert _figures(engine) == _figures(uncapped)
    assert dups == uncapped_dups and dups.count(True) == 3
    assert engine.capped.as_dict() == dict.fromkeys(("live_orders", "settled_orders", "days",
                                                     "marks", "unpaid_orders"), 0)
    # settled: cancelled without money (o2 of b1, o6 of b3, o8 of b2); live: the rest
    rows = engine.conversations
    assert len(rows["s1:b1"].retired) == 8 and len(rows["s1:b1"].orders) == 2  # o1, o7
    assert len(rows["s1:b2"].retired) == 8 and len(rows["s1:b2"].orders) == 1  # o3
    assert len(rows["s1:b3"].retired) == 8 and len(rows["s1:b3"].orders) == 2  # o4, o5
    # and a restart from those rows gives the same figures
    restored = Engine(PolicyBook())
    for cid, conv in engine.conversations.items():
        restored.load(cid, decode_row(encode_row(conv)))
    assert _figures(restored)["conversion"] == _figures(engine)["conversion"]
    assert _figures(restored)["agents"] == _figures(engine)["agents"]


def test_a_simulated_month_gives_the_same_figures_with_the_caps(tmp_path: Any) -> None:
    from bench.gen_log import write_log
    from stream.schema import Invalid, decode

    path = tmp_path / "log.jsonl"
    write_log(str(path), 40_000, seed=3, orders=0.9, buyers=200, shops=2)
    events = [e for line in path.read_bytes().splitlines()
              if not isinstance(e := decode(line), Invalid)]
    figures = []
    for limits in (PolicyBook().limits, UNCAPPED):
        engine = Engine(dataclasses.replace(PolicyBook(), limits=limits))
        for n, event in enumerate(events):
            engine.apply(event)
            if n % 1000 == 999:
                engine.advance(0, event.ts_ms - 2000)
        engine.finish(kpis=True)
        figures.append(_figures(engine))
        if limits is not UNCAPPED:
            assert any(c.retired for c in engine.conversations.values())  # some were settled
    assert figures[0] == figures[1]
    assert figures[0]["conversion"]


def test_an_order_settled_by_eviction_still_knows_its_payment() -> None:
    engine = Engine(PolicyBook())
    for e in [ev("buyer", 0), ev("agent", 10), order("paid", 20, "o1", "4")]:
        engine.apply(to_event(e))
    for day in range(1, 5):  # the conversation stays, its first day is forgotten
        engine.apply(to_event(ev("buyer", day * 86_400)))
        engine.apply(to_event(ev("agent", day * 86_400 + 5)))
    engine.evict(0, 48 * HOUR_MS)
    conv = _row(engine)
    assert conv.orders == () and len(conv.retired) == 8
    # a redelivered payment, days later, is a duplicate (it was counted once, on day one)
    assert engine.apply(to_event(order("paid", 5 * 86_400, "o1", "4"))).duplicate
    # a refund of it counts for nothing the figures still show
    refund = engine.apply(to_event(order("refunded", 5 * 86_400 + 1, "o1", "1")))
    assert not refund.duplicate and refund.outcomes == ()


def test_row_round_trip_keeps_the_retired_orders() -> None:
    conv = Conversation("s1", "b1", "pdd", retired=b"\x01" * 16)
    assert decode_row(encode_row(conv)).retired == conv.retired
    old = msgspec.msgpack.encode(["s1", "b1", "pdd"])  # a row of an older worker
    assert decode_row(old).retired == b""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_backfill_says_what_the_caps_dropped(tmp_path: Any, jobs: str) -> None:
    import json

    from click.testing import CliRunner

    from stream.cli import cli

    log = tmp_path / "log.jsonl"
    lines = [ev("buyer", 0), ev("agent", 5)] + [order("created", 10 + k, f"o{k}")
                                               for k in range(12)]
    lines += [ev("buyer", 0, buyer="b2"), order("created", 20, "o1", buyer="b2")]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    env = {"CHATWATCH_CONFIG": "", "CHATWATCH_STATE_MAX_LIVE_ORDERS": "10"}
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--jobs", jobs,
                                      "--report", str(tmp_path / "r.jsonl")], env=env)
    assert result.exit_code == 0, result.output
    assert "caps dropped 2 live orders from conversation rows" in result.stderr
    env["CHATWATCH_STATE_MAX_LIVE_ORDERS"] = "12"
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--jobs", jobs,
                                      "--report", str(tmp_path / "r.jsonl")], env=env)
    assert result.exit_code == 0 and "caps dropped" not in result.stderr
