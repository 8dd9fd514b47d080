"""Every wait belongs to exactly one agent, after any transfers (DOMAIN.md §3 rule 6).

The per-agent rows of ``backfill --report --by agent`` come from the engine's agent book,
the numbers the board and ``/metrics`` read: over random logs with transfers, bots, late and
duplicate events, the agent rows' waits, breached waits, responses and response times add up
to the shop's row (distinct-buyer counts need not: a buyer served by two agents counts for
each).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.backfill import run_backfill
from stream.config import load_settings
from stream.core.engine import Engine
from stream.inputs import Record
from stream.report.tally import Tally, report_rows
from tests.unit.test_reply_window import T0, ev, to_event

AGENTS = ["a1", "a2", "a3"]
BUYERS = ["b1", "b2", "b3"]


@st.composite
def logs(draw: Any) -> list[dict[str, Any]]:
    """Buyers waiting, agents replying late or in time, transfers between agents, bots."""
    clock = T0.replace(hour=draw(st.sampled_from([9, 22, 23])), minute=50)
    log: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 50))):
        if log and draw(st.integers(0, 12)) == 0:
            log.append(dict(draw(st.sampled_from(log))))  # redelivered
            continue
        clock += timedelta(seconds=draw(st.integers(0, 400)))
        buyer = draw(st.sampled_from(BUYERS))
        kind = draw(st.sampled_from(["buyer", "buyer", "agent", "agent", "transfer", "bot"]))
        agent = draw(st.sampled_from(AGENTS))
        extra: dict[str, Any] = {"agent_id": agent} if kind in ("agent", "transfer") else {}
        at = clock - timedelta(seconds=draw(st.sampled_from([0, 0, 0, 90])))  # late arrivals
        log.append(ev(kind, at, buyer=buyer, **extra))
    return log


def backfill(log: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                   Engine]:
    engine = Engine(load_settings(environ={}).policies)
    tally = Tally(engine, by_agent=True)
    records = [Record("log", n, b"", to_event(body)) for n, body in enumerate(log, 1)]
    result = run_backfill(iter(records), load_settings(environ={}), engine=engine,
                          listeners=[tally])
    shops = [r.as_dict() for r in result.report()]
    agents = report_rows([], tally, by_agent=True)
    return shops, agents, engine


SUMMED = ("waits", "waits_breached", "responses", "fast_responses")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_agent_rows_add_up_to_the_shop_row(log: list[dict[str, Any]]) -> None:
    shops, agents, engine = backfill(log)
    summed: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in agents:
        key = (str(row["shop_id"]), str(row["day"]))
        for name in SUMMED:
            summed[key][name] += row[name]  # type: ignore[operator]
        if row["responses"]:
            summed[key]["response_s"] += row["mean_response_seconds"] * row["responses"]
        assert row["unreplied"] <= row["consultations"]
    for shop in shops:
        mine = summed[(str(shop["shop_id"]), str(shop["day"]))]
        assert {n: mine[n] for n in SUMMED} == {n: shop[n] for n in SUMMED}, (shop, agents)
        if shop["responses"]:
            assert abs(mine["response_s"] - shop["mean_response_seconds"] * shop["responses"]) \
                < 1e-6
    assert {(r["shop_id"], r["day"]) for r in agents} <= {(s["shop_id"], s["day"])
                                                          for s in shops}
    # the board's agent rows are the report's (one book)
    for row in agents:
        day = T0.date().fromisoformat(str(row["day"])).toordinal()
        board = {r["agent"]: r for r in engine.agent_days(str(row["shop_id"]), day)}
        assert board[row["agent"]]["waits"] == row["waits"]
        assert board[row["agent"]]["breaches"] == row["waits_breached"]


def test_a_transfer_hands_the_open_wait_with_its_buyer_to_the_new_agent() -> None:
    log = [ev("agent", T0, agent_id="a1"), ev("buyer", T0 + timedelta(seconds=10)),
           ev("transfer", T0 + timedelta(seconds=60), agent_id="a2"),
           ev("agent", T0 + timedelta(seconds=120), agent_id="a2")]
    shops, agents, _ = backfill(log)
    assert [(r["agent"], r["consultations"], r["waits"], r["responses"]) for r in agents] == \
        [("a2", 1, 1, 1)]
    assert shops[0]["waits"] == 1


def test_a_wait_breached_before_the_transfer_stays_with_the_agent_who_let_it_breach() -> None:
    log = [ev("agent", T0, agent_id="a1"), ev("buyer", T0 + timedelta(seconds=10)),
           ev("transfer", T0 + timedelta(seconds=400), agent_id="a2"),
           ev("agent", T0 + timedelta(seconds=420), agent_id="a2")]
    _, agents, _ = backfill(log)
    assert [(r["agent"], r["waits"], r["waits_breached"], r["unreplied"], r["responses"])
            for r in agents] == [("a1", 1, 1, 1, 1)]


def test_agent_rows_of_days_forgotten_under_retention_are_kept(monkeypatch: Any) -> None:
    import stream.backfill as backfill_module

    log = []
    for day in range(4):
        for b in range(4):
            at = T0 + timedelta(days=day, minutes=b)
            log += [ev("agent", at - timedelta(seconds=5), buyer=f"d{day}b{b}",
                       agent_id=f"a{b % 2}"),
                    ev("buyer", at, buyer=f"d{day}b{b}"),
                    ev("agent", at + timedelta(seconds=150 * b), buyer=f"d{day}b{b}",
                       agent_id=f"a{b % 2}")]
    records = [Record("log", n, b"", to_event(body)) for n, body in enumerate(log, 1)]
    settings_ = load_settings(environ={})

    def by_agent(**options: Any) -> list[dict[str, object]]:
        engine = Engine(settings_.policies)
        tally = Tally(engine, by_agent=True)
        result = run_backfill(iter(records), settings_, engine=engine, listeners=[tally],
                              **options)
        return result.report_rows(tally, by_agent=True)

    full = by_agent()
    monkeypatch.setattr(backfill_module, "EVICT_EVERY", 4)
    bounded = by_agent(retention_hours=1)
    assert len(full) == 8  # two agents, four days
    assert bounded == full
