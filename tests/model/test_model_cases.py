"""Hand-made logs: the model's figures against DOMAIN.md's rules worked out by hand, the
engine's disagreements with DOMAIN.md found by the property test, and a check that the
property notices a rule broken in the model.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import msgspec
import pytest

from stream.core.events import ChatEvent
from tests.model import reference
from tests.model.reference import run_model
from tests.model.test_engine_vs_model import SETTINGS, SHANGHAI, check, engine_figures

T0 = datetime(2026, 11, 11, 10, 0, tzinfo=SHANGHAI)
DAY = "2026-11-11"


def log(*steps: tuple[float, str] | tuple[float, str, str], platform: str = "pdd",
        start: datetime = T0) -> list[ChatEvent]:
    """Events of buyer b1 in shop s1: ``(seconds after start, kind[, agent])``."""
    events = []
    for n, (at, kind, *agent) in enumerate(steps):
        common = {"event_id": f"e{n}", "ts_ms": int((start + timedelta(seconds=at)).timestamp()
                                                    * 1000),
                  "shop_id": "s1", "buyer_id": "b1", "conversation_id": "s1:b1",
                  "platform": platform}
        if kind == "transfer":
            events.append(ChatEvent(**common, type="transfer", agent_id=agent[0]))
        else:
            events.append(ChatEvent(
                **common, type="message", sender=kind, text="在吗",
                agent_id=(agent[0] if agent else "a1") if kind in ("agent", "bot") else None))
    return events


# --- the model, by hand ------------------------------------------------------------------------


def test_the_model_reads_rules_4_and_6_as_written():
    # a1 holds the conversation; the buyer waits; the wait is handed to a2 and breaches
    # while a2 holds it; a2's late reply still records its response time
    events = log((-700, "agent", "a1"), (0, "buyer"), (100, "transfer", "a2"), (301, "agent", "a2"))
    model = run_model(events, SETTINGS.policies)
    assert model.daily[("s1", DAY)] == {
        "shop_id": "s1", "day": DAY, "consultations": 1, "unreplied": 1, "reply_rate": 0.0,
        "waits": 1, "waits_breached": 1, "responses": 1, "mean_response_seconds": 301.0,
        "fast_responses": 0}
    assert model.agent_daily[("s1", "a2", DAY)]["waits_breached"] == 1
    assert list(model.agent_daily) == [("s1", "a2", DAY)]
    assert model.breaches["s1:b1#1"] == {"kpi": "pdd_5min", "agent": "a2", "counted": True}


def test_the_model_counts_a_bot_reply_on_pdd_for_the_5_minute_kpi_only():
    model = run_model(log((0, "buyer"), (10, "bot")), SETTINGS.policies)
    assert model.kpis[("s1", DAY, "pdd_5min")]["units_breached"] == 0
    assert model.kpis[("s1", DAY, "pdd_3min_human")]["units_breached"] == 1
    taobao = run_model(log((0, "buyer"), (10, "bot"), platform="taobao"), SETTINGS.policies)
    assert taobao.daily[("s1", DAY)]["waits_breached"] == 1  # Taobao: human replies only


def test_the_model_starts_a_jd_session_after_a_gap_of_600_seconds():
    at_599 = run_model(log((0, "buyer"), (5, "agent"), (604, "buyer"), (700, "agent"),
                           platform="jd"), SETTINGS.policies)
    assert at_599.kpis[("s1", DAY, "jd_30s_first")]["units"] == 1
    at_600 = run_model(log((0, "buyer"), (5, "agent"), (605, "buyer"), (700, "agent"),
                           platform="jd"), SETTINGS.policies)
    assert at_600.kpis[("s1", DAY, "jd_30s_first")] == {
        "unit": "session_first", "units": 2, "units_breached": 1, "rate": 0.5,
        "first_response_seconds": 50.0}


def test_the_model_attributes_payments_as_section_7_says():
    def paid(n: int, at: float, buyer: str, amount: int) -> ChatEvent:
        return ChatEvent(f"p{n}", int((T0 + timedelta(seconds=at)).timestamp() * 1000), "s1",
                         buyer, f"s1:{buyer}", "pdd", "order", order_id=f"o{n}",
                         status="paid", amount_fen=amount)

    b2 = [msgspec.structs.replace(e, buyer_id="b2", conversation_id="s1:b2", event_id=f"b2{e.event_id}")
          for e in log((0, "buyer"), (5, "agent"))]
    events = [*log((0, "buyer"), (5, "agent")), *b2,
              paid(1, 3600, "b1", 333), paid(2, 3600, "b2", 10_000),
              paid(3, 25 * 3600, "b1", 990)]  # 25 h after b1's first wait: silent
    model = run_model(events, SETTINGS.policies)
    assert model.conversion[("s1", DAY)] == {
        "inquiries": 2, "paid_buyers": 2, "conversion_rate": 1.0, "chat_sales": "103.33",
        "refunds": "0.00", "avg_order_value": "51.67",  # 51.665 half-up
        "silent_orders": 0, "silent_sales": "0.00",
        "unpaid_orders": 0, "unpaid_amount": "0.00", "unpaid_recovered": 0}  # none created
    assert model.conversion[("s1", "2026-11-12")]["silent_sales"] == "9.90"
    check(events)


def test_the_model_lists_unpaid_orders_as_section_7_says():
    def order(n: int, at: float, oid: str, status: str, amount: int | None = None) -> ChatEvent:
        return ChatEvent(f"o{n}", int((T0 + timedelta(seconds=at)).timestamp() * 1000), "s1",
                         "b1", "s1:b1", "pdd", "order", order_id=oid, status=status,
                         amount_fen=amount)

    events = [*log((0, "buyer"), (5, "agent"), (1800 + 10, "transfer", "a2")),
              order(1, 10, "k1", "created", 5000),  # awaiting at 10:30:10 (a2 holds it)
              order(2, 10, "k2", "created", 700), order(3, 1810, "k2", "paid", 700),  # in time
              order(4, 11, "k3", "created", 300), order(5, 3600, "k3", "cancelled"),
              order(6, 12, "k4", "created"), order(7, 7200, "k4", "paid", 100)]  # recovered
    events.sort(key=lambda e: e.ts_ms)  # arrival in time order (no clamping)
    model = run_model(events, SETTINGS.policies)
    assert {k: model.conversion[("s1", DAY)][k] for k in
            ("unpaid_orders", "unpaid_amount", "unpaid_recovered")} == {
        "unpaid_orders": 3, "unpaid_amount": "53.00", "unpaid_recovered": 1}
    check(events)


# --- the engine against DOMAIN.md ---------------------------------------------------------------


def test_taobao_3min_human_counts_until_midnight():
    # DOMAIN.md §3, Platform KPIs: taobao_3min_human | 180 | human | round | 08-24
    late = T0.replace(hour=23, minute=30)
    events = log((0, "buyer"), (10, "agent"), platform="taobao", start=late)
    model = run_model(events, SETTINGS.policies)
    assert model.kpis[("s1", DAY, "taobao_3min_human")]["units"] == 1
    assert engine_figures(events)["kpis"] == {
        ("s1", DAY, "taobao_3min_human"): {"unit": "round", "units": 1, "units_breached": 0,
                                           "rate": 1.0, "first_response_seconds": 10.0}}


def test_report_by_agent_hands_an_open_wait_over():
    # DOMAIN.md §3 rule 6: a transfer while a wait is open hands that wait to the new agent
    events = log((0, "buyer"), (60, "transfer", "a2"), (120, "agent", "a2"))
    rows = engine_figures(events)["agent_daily"]
    assert list(rows) == [("s1", "a2", DAY)]
    assert (rows[("s1", "a2", DAY)]["waits"], rows[("s1", "a2", DAY)]["responses"]) == (1, 1)


def test_the_engine_and_the_model_agree_on_an_open_wait_handed_over_in_the_kpi_report():
    check(log((0, "buyer"), (60, "transfer", "a2"), (120, "agent", "a2")))
    check(log((0, "buyer"), (60, "transfer", "a2")))  # breached by a2 at end of input


# --- the property can fail -----------------------------------------------------------------------


def test_a_model_with_a_rule_broken_disagrees_with_the_engine(monkeypatch):
    # a reply at exactly start + window is in time (rule 4); a model that says late must fail
    events = log((0, "buyer"), (300, "agent"))
    check(events)
    monkeypatch.setattr(reference.Wait, "breached", property(
        lambda w: w.reply is None or w.reply >= w.deadline))
    with pytest.raises(AssertionError, match="differs"):
        check(events)


def test_a_model_with_another_window_disagrees_with_the_engine(monkeypatch):
    events = log((0, "buyer"), (200, "agent"))
    check(events)
    monkeypatch.setitem(reference.KPIS, "pdd_3min_human",
                        replace(reference.KPIS["pdd_3min_human"], window_seconds=240))
    with pytest.raises(AssertionError, match="differs"):
        check(events)
