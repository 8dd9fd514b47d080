"""``chatwatch backfill --kpi-report KPI.jsonl``: the engine's KPI figures as JSON lines.

Per shop, business day and KPI: ``shop_id, day, kpi, unit, units, units_breached, rate,
first_response_seconds`` (DOMAIN.md §3, "Platform KPIs"), sorted by shop, day, KPI. With
``--by agent`` the same per agent (``shop_id, agent, day, kpi, ...``, sorted by shop, agent,
day, KPI) plus the agent-day's ``slow_replies``, ``answer_ratio`` and ``max_concurrent``.
Both read the engine the live worker runs (``Engine.kpi_report``, ``Engine.agent_book``).

Every row also carries the platform's view of that day (DOMAIN.md §3, "Platform score"):
``score`` over the KPI's ``score_days`` days ending on it (per agent: over the agent's own
units), ``breach_budget`` of the day and, for a KPI with a gate, ``gate_ok``. They are
computed from the rows themselves, so days set aside by ``--retention-hours`` count too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from stream.core.agent_days import AgentDay
from stream.core.engine import Engine
from stream.core.kpi import Kpi
from stream.core.kpi_figures import KpiBook, KpiFigures
from stream.core.score import DayUnits, score_of


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
        return with_scores(rows, engine, ("shop_id", "kpi"))
    rows = agent_rows(engine.kpi_book(), engine.agent_book().items())
    rows.extend(retired)
    rows.sort(key=lambda r: (str(r["shop_id"]), str(r["agent"]), str(r["day"]), str(r["kpi"])))
    return with_scores(rows, engine, ("shop_id", "agent", "kpi"))


def _kpi_named(engine: Engine, shop: str, name: str, platform: str | None) -> Kpi | None:
    """The definition of KPI ``name`` for ``shop``: its platform's first, else any platform's.

    A shop's conversations may come from more than one platform; each is judged on its own
    platform's KPIs (with the shop's overrides).
    """
    policies = engine.policies
    first = platform or policies.default_platform
    for candidate in (first, *sorted({*policies.platforms,
                                      *policies.kpi_catalog.platform_lists})):
        found = next((k for k in policies.kpis(candidate, shop).kpis if k.name == name), None)
        if found is not None:
            return found
    return None


def with_scores(rows: list[dict[str, object]], engine: Engine,
                series: tuple[str, ...]) -> list[dict[str, object]]:
    """Add ``score``, ``score_days``, ``breach_budget`` (and ``gate_ok``) to each row.

    ``series``: the fields naming one series of days (a shop's or an agent's KPI).
    """
    days: dict[tuple[Any, ...], dict[int, DayUnits]] = {}
    for row in rows:
        key = tuple(row[f] for f in series)
        ordinal = date.fromisoformat(str(row["day"])).toordinal()
        days.setdefault(key, {})[ordinal] = (int(row["units"]),  # type: ignore[call-overload]
                                             int(row["units_breached"]))  # type: ignore[call-overload]
    shops = engine.shops()
    kpis: dict[tuple[str, str], Kpi | None] = {}
    for row in rows:
        shop, name = str(row["shop_id"]), str(row["kpi"])
        kpi = kpis.get((shop, name))
        if (shop, name) not in kpis:
            kpi = kpis[(shop, name)] = _kpi_named(engine, shop, name, shops.get(shop))
        if kpi is None:  # a KPI no list of the shop has now (a retired row of an older list)
            continue
        found = score_of(kpi, date.fromisoformat(str(row["day"])).toordinal(),
                         days[tuple(row[f] for f in series)])
        row["score"] = found.score
        row["score_days"] = found.score_days
        row["breach_budget"] = found.budget
        if found.gate_ok is not None:
            row["gate_ok"] = found.gate_ok
    return rows
