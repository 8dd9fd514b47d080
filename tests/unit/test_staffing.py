"""Staffing core (stream/core/staffing.py): Erlang C against textbook values and the library,
seed 004's formula, the sliding window of arrivals and replies, and the scrape-time gauges."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
from call_center_tools import calc_service_level, calc_staffing, erlang_c
from prometheus_client import CollectorRegistry

from agents.metrics import EngineCollector
from stream.config import settings_from_mapping
from stream.core.engine import Engine
from stream.core.reply_window import WaitClosed, WaitOpened
from stream.core.staffing import (
    DEFAULT_SHRINKAGE,
    HELD_CAP_MS,
    PICKUP,
    WINDOW_MS,
    Kpi,
    SaleInputs,
    StaffingBook,
    agents_needed,
    average_wait,
    headcount,
    hourly_plan,
    orders_from_sales,
    percentile,
    pickup_agents_needed,
    policy_kpis,
    reachable,
    roster_need,
    service_level,
    size,
    wait_level,
)
from stream.schema import decode

T0 = 1794362400000  # 2026-11-11T10:00:00+08:00


def _erlang_c_by_factorials(traffic: float, agents: int) -> float:
    """The textbook formula, term by term, as an independent check of the library."""
    top = traffic ** agents / math.factorial(agents) * agents / (agents - traffic)
    return top / (sum(traffic ** k / math.factorial(k) for k in range(agents)) + top)


# --- Erlang C ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("agents", "published"), [(11, 0.6821), (12, 0.4494), (13, 0.2853),
                                                   (14, 0.1741)])
def test_probability_of_waiting_matches_the_textbook_table(agents: int, published: float) -> None:
    # The classic worked example: 100 calls per half hour, 180 s handling -> 10 Erlangs.
    assert erlang_c(10.0, agents) == pytest.approx(published, abs=5e-5)
    assert erlang_c(10.0, agents) == pytest.approx(_erlang_c_by_factorials(10.0, agents),
                                                   rel=1e-9)


def test_wait_level_is_the_librarys_service_level() -> None:
    # 80 % answered within 20 s needs 14 agents in the textbook example (13 give 79.6 %).
    rate, handle = 200 / 3600, 180.0
    assert wait_level(rate, handle, 13, 20) == pytest.approx(0.7956, abs=5e-4)
    assert wait_level(rate, handle, 14, 20) == pytest.approx(0.8884, abs=5e-4)
    for agents in (11, 12, 13, 14, 20):
        pw = erlang_c(10.0, agents)
        assert wait_level(rate, handle, agents, 20) == calc_service_level(10.0, agents, pw, 20,
                                                                          handle)
    # and the library's own search agrees on the first count that meets 80/20. (Its search
    # divides by zero when the traffic is a whole number of Erlangs, which is one reason
    # stream/core/staffing.py searches for itself.)
    for calls in (201, 333, 1001):
        result = calc_staffing(calls_per_hour=calls, aht=180, max_occupancy=1.0,
                               target_answer_time=20, target_service_level=0.8)
        first = next(n for n in range(1, 100)
                     if wait_level(calls / 3600, handle, n, 20) >= 0.8)
        assert result.agents == first


@pytest.mark.parametrize(("rate", "handle", "agents", "window"),
                         [(0.1, 60.0, 8, 120.0), (200 / 3600, 180.0, 13, 300.0),
                          (0.3, 30.0, 10, 60.0), (0.5, 45.0, 23, 300.0)])
def test_chat_service_level_is_the_librarys_delay_convolved_with_the_handling(
        rate: float, handle: float, agents: int, window: float) -> None:
    # A chat wait is answered in time when delay + handling <= window. Integrate the
    # library's P(delay <= window - s) against the exponential handling density numerically.
    traffic = rate * handle
    pw = erlang_c(traffic, agents)
    steps = 20_000
    ds = window / steps
    integral = 0.0
    for i in range(steps):
        s = (i + 0.5) * ds
        integral += calc_service_level(traffic, agents, pw, window - s, handle) \
            * math.exp(-s / handle) / handle * ds
    assert service_level(rate, handle, agents, window) == pytest.approx(integral, abs=1e-4)


def test_agents_needed_is_the_first_count_that_meets_the_target() -> None:
    rate, handle, window, target = 0.1, 60.0, 120.0, 0.8
    needed = agents_needed(rate, handle, window, target)
    assert needed == 8
    assert service_level(rate, handle, needed, window) >= target
    assert service_level(rate, handle, needed - 1, window) < target
    assert agents_needed(0.0, handle, window, target) == 0
    # more traffic never needs fewer agents
    counts = [agents_needed(r / 100, handle, window, target) for r in range(1, 60)]
    assert counts == sorted(counts)


def test_a_target_beyond_what_the_handling_allows_has_no_answer() -> None:
    # 120 s handling and a 180 s window: even with no queue only 1 - e^-1.5 = 77.7 % make it.
    assert reachable(120.0, 180.0) == pytest.approx(1 - math.exp(-1.5))
    assert agents_needed(0.2, 120.0, 180.0, 0.8) is None
    assert agents_needed(0.2, 120.0, 180.0, 0.7) is not None
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        agents_needed(0.2, 60.0, 300.0, 1.0)
    with pytest.raises(ValueError, match="handling time"):
        agents_needed(0.2, 0.0, 300.0, 0.7)


# --- as contact centres size it ---------------------------------------------------------------

TEXTBOOK = Kpi("80/20", 20, 0.8, PICKUP)  # 80 % of contacts picked up within 20 s


def test_the_textbook_case_as_contact_centres_size_it() -> None:
    # 100 contacts per 30 minutes, 180 s handling, 80 % picked up within 20 s: 14 agents on
    # duty, service level 0.888, occupancy 0.714, average wait 7.8 s; 20 on the roster at 30 %
    sizing = size(100 / 1800, 180.0, TEXTBOOK)
    assert sizing.shrinkage == DEFAULT_SHRINKAGE == Decimal("0.30")
    assert sizing.contacts_per_hour == pytest.approx(200)
    assert sizing.traffic == pytest.approx(10.0)
    assert sizing.on_duty == 14
    assert round(sizing.service_level or 0, 3) == 0.888
    assert round(sizing.occupancy or 0, 3) == 0.714
    assert round(sizing.average_wait_seconds or 0, 1) == 7.8
    assert sizing.rostered == 20
    # the first count that meets 80/20: 13 give 79.6 %
    assert wait_level(100 / 1800, 180.0, 13, 20) < 0.8
    assert pickup_agents_needed(100 / 1800, 180.0, 20, 0.8) == 14
    # average wait = P(wait) × h ÷ (N − A), with the textbook's own P(wait) for 14 agents
    assert average_wait(100 / 1800, 180.0, 14) == pytest.approx(
        _erlang_c_by_factorials(10.0, 14) * 180 / 4)
    assert size(100 / 1800, 180.0, TEXTBOOK, shrinkage=Decimal(0)).rostered == 14


def test_shrinkage_rounds_up_exactly() -> None:
    assert math.ceil(21 / (1 - 0.3)) == 31  # what binary floats would roster
    assert roster_need(21, Decimal("0.30")) == 30
    assert roster_need(14, Decimal("0.30")) == 20
    assert roster_need(15, Decimal("0.30")) == 22  # 21.43 -> 22
    assert roster_need(0, Decimal("0.30")) == 0
    assert roster_need(7, Decimal("0")) == 7
    assert roster_need(3, Decimal("0.25")) == 4
    with pytest.raises(ValueError, match="shrinkage"):
        roster_need(3, Decimal("1"))


def test_concurrency_divides_the_agents_time_per_contact() -> None:
    # two chats at once, 360 s each: an agent gives each 180 s of its time, like the textbook
    chat = size(100 / 1800, 360.0, TEXTBOOK, concurrency=2)
    call = size(100 / 1800, 180.0, TEXTBOOK)
    assert chat.traffic == pytest.approx(10.0) and chat.on_duty == call.on_duty == 14
    assert chat.handle_seconds == 360.0 and chat.concurrency == 2
    assert size(100 / 1800, 360.0, TEXTBOOK).on_duty == pickup_agents_needed(
        100 / 1800, 360.0, 20, 0.8) > 14
    with pytest.raises(ValueError, match="concurrency"):
        size(0.1, 60.0, TEXTBOOK, concurrency=0)


def test_a_cap_on_occupancy_adds_agents() -> None:
    # 10 Erlangs at most 70 % busy: ⌈10 ÷ 0.7⌉ = 15 on duty (Erlang C alone: 14, 71.4 %);
    # a cap the figure already meets changes nothing
    capped = size(100 / 1800, 180.0, TEXTBOOK, max_occupancy=Decimal("0.7"))
    assert capped.on_duty == 15 and capped.occupancy == pytest.approx(10 / 15)
    assert capped.service_level == wait_level(100 / 1800, 180.0, 15, 20)
    assert capped.rostered == 22  # 15 ÷ 0.7 = 21.4
    assert size(100 / 1800, 180.0, TEXTBOOK, max_occupancy=Decimal("0.8")).on_duty == 14
    # 21 Erlangs at most 70 % busy: exactly 30, where floats make 21 ÷ 0.7 30.000000000000004
    assert math.ceil(21 / 0.7) == 31
    assert size(0.21, 100.0, Kpi("default", 600, 0.5),
                max_occupancy=Decimal("0.7")).on_duty == 30
    with pytest.raises(ValueError, match="max occupancy"):
        size(0.1, 60.0, TEXTBOOK, max_occupancy=Decimal(0))


def test_a_reply_kpi_sizes_by_the_chat_service_level() -> None:
    kpi = Kpi("default", 120, 0.8)
    sizing = size(0.1, 60.0, kpi, shrinkage=Decimal("0.2"))
    assert sizing.on_duty == agents_needed(0.1, 60.0, 120, 0.8) == 8
    assert sizing.service_level == service_level(0.1, 60.0, 8, 120)
    assert sizing.occupancy == pytest.approx(6 / 8)
    assert sizing.rostered == 10  # 8 ÷ 0.8
    # a window the handling cannot meet: no sizing, and nothing derived from it
    hopeless = size(0.2, 120.0, Kpi("default", 180, 0.8))
    assert (hopeless.on_duty, hopeless.rostered, hopeless.service_level) == (None, None, None)
    idle = size(0.0, 60.0, kpi)
    assert (idle.on_duty, idle.rostered, idle.average_wait_seconds) == (0, 0, 0.0)


# --- the sliding window -----------------------------------------------------------------------

def _open(cid: str, start: int) -> WaitOpened:
    return WaitOpened(cid, "s1", "unassigned", start, start + 300_000, 0, True)


def _close(cid: str, start: int, reply: int) -> WaitClosed:
    return WaitClosed(cid, "s1", "unassigned", start, reply, 0, True, True)


def test_busy_time_per_reply_is_recovered_from_the_reply_stream() -> None:
    book = StaffingBook()
    # a1 free when c1 arrives: busy from the start (40 s). c2 arrived while a1 worked on c1:
    # a1 started on it at c1's reply (busy 30 s). a2 answers c3 after 50 s.
    book.observe("s1", "buyer", None, T0, [_open("c1", T0)])
    book.observe("s1", "buyer", None, T0 + 10_000, [_open("c2", T0 + 10_000)])
    book.observe("s1", "agent", "a1", T0 + 40_000, [_close("c1", T0, T0 + 40_000)])
    book.observe("s1", "buyer", None, T0 + 45_000, [_open("c3", T0 + 45_000)])
    book.observe("s1", "agent", "a1", T0 + 70_000, [_close("c2", T0 + 10_000, T0 + 70_000)])
    book.observe("s1", "agent", "a2", T0 + 95_000, [_close("c3", T0 + 45_000, T0 + 95_000)])
    # a bot closes c4 at once: no agent needed for it
    book.observe("s1", "buyer", None, T0 + 96_000, [_open("c4", T0 + 96_000)])
    book.observe("s1", "bot", "bot1", T0 + 97_000, [_close("c4", T0 + 96_000, T0 + 97_000)])
    book.observe("s1", "agent", "a3", T0 + 98_000, [])  # a follow-up: active, no wait closed
    kpi = Kpi("default", 300, 0.7)
    (advice,) = book.advise("s1", T0 + 100_000, [kpi], open_waits=2)
    assert advice.handle_seconds == pytest.approx((40 + 30 + 50) / 3)
    assert advice.arrivals == 3
    assert advice.span_seconds == 100  # the window is only as old as the first event
    assert advice.rate_per_hour == pytest.approx(3 / 100 * 3600)
    assert advice.agents_active == 3
    assert advice.concurrency == pytest.approx(2 / 3)
    assert advice.agents_needed == agents_needed(3 / 100, 40.0, 300, 0.7)
    # 15 minutes later nobody is active and nothing arrived
    (later,) = book.advise("s1", T0 + 100_000 + WINDOW_MS, [kpi])
    assert (later.arrivals, later.agents_active, later.agents_needed) == (0, 0, 0)
    assert later.handle_seconds == pytest.approx(40.0)  # the history's mean stays known
    # concurrency over the history: a1 held c1 and c2 at once for 30 s. Σ held
    # (40 + 60 + 50) ÷ Σ busy (40 + 30 + 50): 1.25 buyers answered at once
    load = book.shops["s1"]
    assert load.concurrency_total == pytest.approx(150 / 120)
    assert load.handle_seconds_total * load.concurrency_total == pytest.approx(150 / 3)
    # a buyer left an hour is held for 5 minutes only: a backlog is not concurrency
    book.observe("s1", "buyer", None, T0 + 200_000, [_open("c5", T0 + 200_000)])
    book.observe("s1", "agent", "a2", T0 + 3_800_000,
                 [_close("c5", T0 + 200_000, T0 + 3_800_000)])
    assert load.response_total_ms == 150_000 + HELD_CAP_MS
    assert load.busy_total_ms == 120_000 + 3_600_000


def test_arrivals_with_no_reply_yet_cannot_be_sized() -> None:
    book = StaffingBook()
    book.observe("s1", "buyer", None, T0, [_open("c1", T0)])
    (advice,) = book.advise("s1", T0 + 60_000, policy_kpis(300, 0.7))
    assert advice.kpi == "default"
    assert advice.arrivals == 1 and advice.handle_seconds is None
    assert advice.agents_needed is None and advice.agents_active == 0


def _event(i: int, ts: int, sender: str, buyer: str, agent: str | None = None) -> object:
    body = {"event_id": f"e{i}", "ts": ts, "shop_id": "s1", "buyer_id": buyer,
            "platform": "taobao", "type": "message", "sender": sender, "text": "在吗"}
    if agent:
        body["agent_id"] = agent
    return decode(json.dumps(body).encode())


def test_the_collector_exports_needed_and_active_per_shop_and_kpi() -> None:
    # one KPI for the shop: 80 % of waits answered within 120 s
    settings = settings_from_mapping({"kpis": {"shop_2min": {
        "window_seconds": 120, "replies": "any", "unit": "round", "target": 0.8}},
        "shops": {"s1": {"kpis": ["shop_2min"]}}}, {})
    engine = Engine(settings.policies)
    i = 0
    # one wait every 10 s for 10 minutes, each answered 60 s later by one of 8 agents
    for k in range(60):
        start = T0 + k * 10_000
        engine.apply(_event(i := i + 1, start, "buyer", f"b{k}"))  # type: ignore[arg-type]
    for k in range(60):
        start = T0 + k * 10_000
        engine.apply(_event(i := i + 1, start + 60_000, "agent", f"b{k}",  # type: ignore[arg-type]
                            f"a{k % 8}"))
    registry = CollectorRegistry()
    now = T0 + 660_000
    registry.register(EngineCollector(engine, lambda: now, lambda: [0]))
    (advice,) = engine.staffing.advise("s1", now, [Kpi("shop_2min", 120, 0.8)])
    assert advice.agents_active == 8
    assert advice.handle_seconds == pytest.approx(60.0)
    assert registry.get_sample_value("chatwatch_agents_needed",
                                     {"shop": "s1", "kpi": "shop_2min"}) == advice.agents_needed
    assert advice.agents_needed == agents_needed(60 / 660, 60.0, 120, 0.8)
    assert registry.get_sample_value("chatwatch_agents_active", {"shop": "s1"}) == 8


# --- seed 004 ---------------------------------------------------------------------------------

def test_seed_004_formula() -> None:
    orders = orders_from_sales(Decimal("5000000"), Decimal("100"))
    assert orders == 50_000
    result = headcount(SaleInputs(orders=orders, chat_share=Decimal("0.6"),
                                  conversion_rate=Decimal("0.25"), max_per_agent=Decimal("150"),
                                  return_rate=Decimal("0.06")))
    assert result.inquiries == 120_000          # 50,000 × 0.6 ÷ 0.25
    assert result.presale_exact == 800 and result.presale == 800
    assert result.aftersale_exact == 20 and result.aftersale == 20
    odd = headcount(SaleInputs(Decimal(1000), Decimal(1), Decimal("0.3"), Decimal(70),
                               Decimal("0.1")))
    assert odd.presale == 48 and odd.aftersale == 2  # 47.6 and 1.4 round up
    with pytest.raises(ValueError, match="conversion rate"):
        headcount(SaleInputs(Decimal(1), Decimal(1), Decimal(0), Decimal(1), Decimal(0)))


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile(values, 100) == 10 and percentile(values, 0) == 1
    assert percentile([5.0], 90) == 5


def test_hourly_plan_spreads_the_days_inquiries_by_the_profile() -> None:
    profile = [0.0] * 24
    profile[10], profile[20] = 1.0, 3.0
    plan = hourly_plan(3600.0, profile, 2.0, 60.0, Kpi("default", 300, 0.7))
    assert [p.inquiries for p in plan if p.inquiries] == [900.0, 2700.0]
    assert plan[10].waits == 1800.0
    assert plan[10].agents == agents_needed(0.5, 60.0, 300, 0.7)
    assert plan[20].agents == agents_needed(1.5, 60.0, 300, 0.7)
    assert plan[3].agents == 0
    assert plan[20].agents > plan[10].agents
    assert plan[20].sizing.rostered == roster_need(plan[20].agents, DEFAULT_SHRINKAGE)
    # a concurrency of 2 halves the agent's time per wait
    pair = hourly_plan(3600.0, profile, 2.0, 120.0, Kpi("default", 300, 0.7), concurrency=2,
                       shrinkage=Decimal(0))
    assert [h.agents for h in pair] == [h.agents for h in plan]
    assert pair[20].sizing.rostered == pair[20].agents
