"""The engine against the reference model (``tests/model/reference.py``) on random logs.

Random logs of a few shops (PDD, Taobao, JD, Douyin and a platform of no table) and buyers over
two or three days: transfers, bot, system and agent messages, reads and ends, ad and peer
buyers, out-of-order times (§3 rule 7), redelivered events, orders with amounts, and times
that land on the counted-hour boundaries and on the windows' and the session gap's edges. The
engine runs them as ``backfill`` does (``run_backfill`` with the report listeners); its report
rows, KPI rows, per-agent KPI rows and breach records must equal the model's.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.backfill import RecordWriter, run_backfill
from stream.config import load_settings
from stream.core.engine import Engine
from stream.core.events import ChatEvent
from stream.inputs import Record
from stream.report.kpi_report import kpi_rows
from stream.report.tally import Tally
from tests.model.reference import ModelResult, run_model

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 11, 7, 58, tzinfo=SHANGHAI)
PLATFORMS = ("pdd", "taobao", "jd", "douyin", "weidian")
AGENTS = ("a1", "a2", "a3")
SETTINGS = load_settings(environ={})

# Steps of event time, in ms: the windows' edges (15 s fast, 30 s JD, 180 s, 300 s), the
# session gap's (600 s), and longer idles.
STEPS_MS = [0, 1, 1000, 15_000, 15_001, 29_999, 30_000, 30_001, 60_000, 179_999, 180_000,
            180_001, 299_999, 300_000, 300_001, 599_999, 600_000, 600_001, 3_600_000]
# Local hours the clock jumps to, exactly or a window's length before: the counted-hour edges
# (08:00, JD's 09:00, 23:00, and midnight, where Taobao's KPI stops counting).
EDGES = [8, 9, 23, 24]
BEFORE_EDGE_MS = [0, 0, 1, 1000, 15_000, 30_000, 180_000, 300_000]


def next_edge(clock: datetime, hour: int, before_ms: int) -> datetime:
    """The next local ``hour`` o'clock (24: midnight) less ``before_ms``, after ``clock``."""
    midnight = clock.replace(hour=0, minute=0, second=0, microsecond=0)
    at = midnight + timedelta(hours=hour, milliseconds=-before_ms)
    return at if at > clock else at + timedelta(days=1)


@st.composite
def logs(draw: st.DrawFn, transfers: bool = True) -> list[ChatEvent]:
    """A random log in arrival order (``transfers``: with transfer events)."""
    n_shops = draw(st.integers(1, 3))
    shops = {f"s{i}": draw(st.sampled_from(PLATFORMS)) for i in range(1, n_shops + 1)}
    clock = START
    events: list[ChatEvent] = []
    by_conversation: dict[str, list[ChatEvent]] = {}
    orders: dict[str, list[str]] = {}
    previous: tuple[str, str] | None = None
    for n in range(draw(st.integers(1, 60))):
        how = draw(st.sampled_from(["step"] * 12 + ["edge", "back"]))
        if how == "edge":
            clock = next_edge(clock, draw(st.sampled_from(EDGES)),
                              draw(st.sampled_from(BEFORE_EDGE_MS)))
        else:
            clock += timedelta(milliseconds=draw(st.sampled_from(STEPS_MS)))
        ts = clock
        if how == "back":  # arrives after a later one (rule 7)
            ts = clock - timedelta(milliseconds=draw(st.sampled_from([1, 1000, 200_000])))
        allowed = sorted(shops)
        if previous is None or previous[0] not in allowed or draw(st.booleans()):
            previous = (draw(st.sampled_from(allowed)), draw(st.sampled_from(["b1", "b2", "b3"])))
        shop, buyer = previous  # half the time the conversation of the event before
        # mostly the default conversation id; sometimes a buyer's second conversation
        conv = f"{shop}:{buyer}" + draw(st.sampled_from([""] * 5 + [":2"]))
        kind = draw(st.sampled_from(
            ["buyer"] * 8 + ["agent"] * 5 + ["bot"] * 2 + ["transfer"] * (2 if transfers else 0)
            + ["system", "read", "end", "ad", "peer", "order", "order", "order", "again"]))
        if kind == "again":  # a redelivery of one of the conversation's recent events
            recent = by_conversation.get(conv, [])[-5:]
            if recent:
                events.append(draw(st.sampled_from(recent)))
                continue
            kind = "buyer"
        common = {"event_id": f"e{n}", "ts_ms": int(ts.timestamp() * 1000), "shop_id": shop,
                  "buyer_id": buyer, "conversation_id": conv, "platform": shops[shop]}
        if kind in ("buyer", "ad", "peer"):
            event = ChatEvent(**common, type="message", sender="buyer", text="在吗",
                              buyer_kind="customer" if kind == "buyer" else kind)
        elif kind in ("agent", "system"):
            event = ChatEvent(**common, type="message", sender=kind, text="您好",
                              agent_id=draw(st.sampled_from(AGENTS)) if kind == "agent" else None)
        elif kind == "bot":
            event = ChatEvent(**common, type="message", sender="bot", text="您好",
                              agent_id="bot-1")
        elif kind == "transfer":
            event = ChatEvent(**common, type="transfer", agent_id=draw(st.sampled_from(AGENTS)))
        elif kind in ("read", "end"):
            event = ChatEvent(**common, type=kind)
        else:
            mine = orders.setdefault(conv, [])
            status = draw(st.sampled_from(["created", "paid", "paid", "refunded", "cancelled"]))
            if status == "created" or not mine:
                mine.append(f"o{n}")
            order_id = draw(st.sampled_from(mine))
            amount = draw(st.sampled_from([1, 333, 990, 1990, 10_000]))
            event = ChatEvent(**common, type="order", order_id=order_id, status=status,
                              amount_fen=amount if status != "cancelled" else None)
        events.append(event)
        by_conversation.setdefault(conv, []).append(event)
    return events


def rounded(value: Any) -> Any:
    """Floats to 9 decimals: the mean of the same times may be summed in another order."""
    return round(value, 9) if isinstance(value, float) else value


def comparable(row: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    return {k: rounded(row[k]) for k in keep}


KPI_FIELDS = ("unit", "units", "units_breached", "rate", "first_response_seconds")
DAILY_FIELDS = ("consultations", "unreplied", "reply_rate", "waits", "waits_breached",
                "responses", "mean_response_seconds", "fast_responses")


def engine_figures(events: list[ChatEvent]) -> dict[str, Any]:
    """What ``backfill`` reports for the log, shaped like :func:`model_figures`."""
    engine = Engine(SETTINGS.policies)
    tally = Tally(engine, by_agent=True)
    records = io.BytesIO()
    result = run_backfill([Record("log", i, b"", e) for i, e in enumerate(events)], SETTINGS,
                          engine=engine, listeners=[tally, RecordWriter(engine, records, None)])
    agent_daily = {(r["shop_id"], r["agent"], r["day"]): comparable(r, DAILY_FIELDS)
                   for r in result.report_rows(tally, by_agent=True)
                   if r["waits"] or r["waits_breached"]}
    # the plain loop (no listeners) is the same engine: its rows must be the same
    plain = run_backfill([Record("log", i, b"", e) for i, e in enumerate(events)], SETTINGS)
    assert plain.report_rows(None) == result.report_rows(None)
    assert kpi_rows(plain.engine) == kpi_rows(engine)
    breaches = {}
    for line in records.getvalue().splitlines():
        r = json.loads(line)
        breaches[r["id"]] = {"kpi": r["kpi"], "agent": r["agent"], "counted": r["counted"]}
    return {
        "report": [{k: rounded(v) for k, v in r.items()} for r in result.report_rows(None)],
        "kpis": {(r["shop_id"], r["day"], r["kpi"]): comparable(r, KPI_FIELDS)
                 for r in kpi_rows(engine)},
        "agent_kpis": {(r["shop_id"], r["agent"], r["day"], r["kpi"]): comparable(r, KPI_FIELDS)
                       for r in kpi_rows(engine, by_agent=True)
                       if r["units"] or r["first_response_seconds"] is not None},
        "agent_daily": agent_daily,
        "breaches": breaches,
    }


def model_figures(model: ModelResult) -> dict[str, Any]:
    """The model's figures, shaped like :func:`engine_figures`."""
    return {
        "report": [{k: rounded(v) for k, v in r.items()} for r in model.report()],
        "kpis": {k: comparable(r, KPI_FIELDS) for k, r in model.kpis.items()},
        "agent_kpis": {k: comparable(r, KPI_FIELDS) for k, r in model.agent_kpis.items()},
        "agent_daily": {k: comparable(r, DAILY_FIELDS) for k, r in model.agent_daily.items()},
        "breaches": model.breaches,
    }


PARTS = ("report", "kpis", "agent_kpis", "breaches")


def differences(part: str, engine: Any, model: Any) -> str:
    """The rows of one part where the engine and the model differ, to read in a failure."""
    if isinstance(engine, list):
        engine, model = dict(enumerate(engine)), dict(enumerate(model))
    lines = [f"{part} differs (key: engine / model):"]
    for key in sorted(set(engine) | set(model), key=str):
        if engine.get(key) != model.get(key):
            lines.append(f"  {key}: {engine.get(key)} / {model.get(key)}")
    return "\n".join(lines)


def check(events: list[ChatEvent], parts: tuple[str, ...] = PARTS) -> None:
    """The engine's figures equal the model's, part by part."""
    engine = engine_figures(events)
    model = model_figures(run_model(events, SETTINGS.policies))
    for part in parts:
        assert engine[part] == model[part], differences(part, engine[part], model[part])
    # Rule 6: every wait (session) belongs to exactly one agent, so the agents' units of a
    # round or session_first KPI add up to the shop's.
    for (shop, day, kpi), row in engine["kpis"].items():
        if row["unit"] != "buyer":
            agents = [r for (s, _, d, k), r in engine["agent_kpis"].items()
                      if (s, d, k) == (shop, day, kpi)]
            assert sum(r["units"] for r in agents) == row["units"]
            assert sum(r["units_breached"] for r in agents) == row["units_breached"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_the_engine_computes_the_models_figures(events):
    check(events)


# The per-agent rows of ``backfill --report --by agent`` keep a wait on the agent who held the
# conversation when it opened: a transfer while it is open does not hand it over (issue 28,
# DOMAIN.md §3 rule 6; ``test_model_cases.py::test_report_by_agent_hands_an_open_wait_over``).
# Until that is fixed they are compared on logs without transfers.
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(transfers=False))
def test_report_by_agent_rows_are_the_models(events):
    check(events, parts=("agent_daily",))
