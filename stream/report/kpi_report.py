"""``chatwatch backfill --kpi-report KPI.jsonl``: the engine's KPI figures as JSON lines.

Per shop, business day and KPI: ``shop_id, day, kpi, unit, units, units_breached, rate,
first_response_seconds`` (DOMAIN.md §3, "Platform KPIs"), sorted by shop, day, KPI. With
``--by agent`` the same per agent (``shop_id, agent, day, kpi, ...``, sorted by shop, agent,
day, KPI) plus the agent-day's ``slow_replies``, ``answer_ratio`` and ``max_concurrent``.
Both read the engine the live worker runs (``Engine.kpi_report``, ``Engine.agent_book``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from stream.core.agent_days import AgentDay
from stream.core.engine import Engine
from stream.core.kpi_figures import KpiBook, KpiFigures


def _active(rec: AgentDay) -> bool:
    return bool(rec.waits or rec.agent_messages or rec.buyer_messages or rec.max_concurrent
                or rec.breaches or rec.responses
                or any(t.units or t.first_n or t.breached for t in rec.kpis.values()))


def shop_rows(book: KpiBook) -> list[KpiFigures]:
    """The shop rows of a KPI book: shop-days with anything counted, every KPI they have."""
    rows: list[KpiFigures] = []
    for (shop, day), totals in book.totals.items():
        if not all(t.empty for t in totals.values()):
            rows.extend(t.figures(shop, day, name) for name, t in totals.items())
    return rows


def agent_rows(book: KpiBook,
               agents: Iterable[tuple[tuple[str, str, int], AgentDay]]) -> list[dict[str, object]]:
    """The ``--by agent`` rows of agent-days, with the KPIs their shop-days have in ``book``."""
    rows: list[dict[str, object]] = []
    for (shop, agent, day), rec in agents:
        if not _active(rec):
            continue
        for name, unit in book.kpis_of(shop, day):
            f = rec.kpi_figures(shop, day, name, unit)
            rows.append({"shop_id": shop, "agent": agent, "day": date.fromordinal(day).isoformat(),
                         "kpi": name, "unit": unit, "units": f.units,
                         "units_breached": f.units_breached, "rate": f.rate,
                         "first_response_seconds": f.first_response_seconds,
                         "slow_replies": rec.slow_replies, "answer_ratio": rec.answer_ratio,
                         "max_concurrent": rec.max_concurrent})
    return rows


def kpi_rows(engine: Engine, by_agent: bool = False,
             retired: Sequence[dict[str, object]] = ()) -> list[dict[str, object]]:
    """The report's JSON objects, sorted.

    ``retired``: rows set aside by ``--retention-hours`` (the engine forgot their days).
    """
    if not by_agent:
        rows = [r.as_dict() for r in engine.kpi_report()]
        rows.extend(retired)
        rows.sort(key=lambda r: (str(r["shop_id"]), str(r["day"]), str(r["kpi"])))
        return rows
    rows = agent_rows(engine.kpi_book(), engine.agent_book().items())
    rows.extend(retired)
    rows.sort(key=lambda r: (str(r["shop_id"]), str(r["agent"]), str(r["day"]), str(r["kpi"])))
    return rows
