"""``chatwatch backfill --kpi-report KPI.jsonl``: the engine's KPI figures as JSON lines.

Per shop, business day and KPI: ``shop_id, day, kpi, unit, units, units_breached, rate,
first_response_seconds`` (DOMAIN.md §3, "Platform KPIs"), sorted by shop, day, KPI. With
``--by agent`` the same per agent (``shop_id, agent, day, kpi, ...``, sorted by shop, agent,
day, KPI) plus the agent-day's ``slow_replies``, ``answer_ratio`` and ``max_concurrent``.
Both read the engine the live worker runs (``Engine.kpi_report``, ``Engine.agent_book``).
"""

from __future__ import annotations

from datetime import date

from stream.core.agent_days import AgentDay
from stream.core.engine import Engine


def _active(rec: AgentDay) -> bool:
    return bool(rec.waits or rec.agent_messages or rec.buyer_messages or rec.max_concurrent
                or rec.breaches or rec.responses
                or any(t.units or t.first_n or t.breached for t in rec.kpis.values()))


def kpi_rows(engine: Engine, by_agent: bool = False) -> list[dict[str, object]]:
    """The report's JSON objects."""
    if not by_agent:
        return [r.as_dict() for r in engine.kpi_report()]
    book = engine.kpi_book()
    rows: list[dict[str, object]] = []
    for (shop, agent, day), rec in engine.agent_book().items():
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
    rows.sort(key=lambda r: (str(r["shop_id"]), str(r["agent"]), str(r["day"]), str(r["kpi"])))
    return rows
