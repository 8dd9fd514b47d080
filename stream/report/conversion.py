"""Read-outs of the §7 figures (DOMAIN.md §7): the report's extra fields, ``/figures``, ranking.

The figures themselves are the engine's (:class:`~stream.core.orders.OrderBook`); this module
only lays them out: next to the §3 report rows of ``chatwatch backfill --report`` (when the log
has orders), as per-agent rows ranked by conversion and sales (``--by agent``), and as the
conversion part of the worker's ``/figures``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING

from stream.core.engine import Engine
from stream.core.figures import DayTotals
from stream.core.orders import Conversion, OrderBook, ranked
from stream.report.tally import AgentFigures, ViolationCounts

if TYPE_CHECKING:
    from stream.backfill import BackfillResult


def _key(row: dict[str, object], fields: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row[f]) for f in fields)


def add_conversion(rows: list[dict[str, object]], conversions: Iterable[Conversion],
                   empty_row: Callable[[Conversion], dict[str, object]],
                   key_fields: Sequence[str]) -> list[dict[str, object]]:
    """Append the §7 fields to every row; add a row for each day with only §7 figures.

    The §7 fields are followed by the lead's counts (:meth:`Conversion.lead_fields`: orders
    awaiting payment by their day of creation, and an agent's lost inquiries).

    A row without §7 figures gets zero counts, ``"0.00"`` sums and null rates; a §7 day without
    a row gets ``empty_row`` (zero / null §3 figures). Sorted by ``key_fields``.
    """
    by_key = {_key(c.as_dict(), key_fields): c for c in conversions}
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        key = _key(row, key_fields)
        seen.add(key)
        found = by_key.get(key)
        agent = str(row["agent"]) if "agent" in row else None
        shown = found or _nothing(str(row["shop_id"]), agent, str(row["day"]))
        row.update(shown.fields())
        row.update(shown.lead_fields())
    for key, found in by_key.items():
        if key not in seen:
            row = empty_row(found)
            row.update(found.fields())
            row.update(found.lead_fields())
            rows.append(row)
    rows.sort(key=lambda r: _key(r, key_fields))
    return rows


def _nothing(shop: str, agent: str | None, day: str) -> Conversion:
    return Conversion(shop, agent, day, 0, 0, None, "0.00", "0.00", None, 0, "0.00", 0)


def empty_shop_row(c: Conversion) -> dict[str, object]:
    """A §3 row of zero / null figures for a shop-day that has only §7 figures."""
    return DayTotals().figures(c.shop_id, date.fromisoformat(c.day).toordinal()).as_dict()


def with_conversion(rows: list[dict[str, object]], result: BackfillResult, *, by_agent: bool,
                    violations: bool) -> list[dict[str, object]]:
    """The report rows of a log with orders: §7 fields on every row, §7-only days added.

    ``by_agent`` rows are then ranked within their shop-day (:func:`rank_agents`).
    """
    zero = ViolationCounts().as_dict() if violations else {}
    if not by_agent:
        return add_conversion(rows, result.conversion(),
                              lambda c: {**empty_shop_row(c), **zero}, ("shop_id", "day"))

    def empty_agent(c: Conversion) -> dict[str, object]:
        figures = DayTotals().figures(c.shop_id, date.fromisoformat(c.day).toordinal())
        return {**AgentFigures(c.shop_id, c.agent or "unassigned", figures).as_dict(), **zero}

    return rank_agents(add_conversion(rows, result.conversion(agents=True), empty_agent,
                                      ("shop_id", "agent", "day")))


def rank_agents(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per-agent rows with a ``rank`` within their shop-day, best conversion (then sales) first.

    Sorted by shop, day, then rank.
    """
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault((str(row["shop_id"]), str(row["day"])), []).append(row)
    out: list[dict[str, object]] = []
    for key in sorted(groups):
        def order(r: dict[str, object]) -> tuple[bool, float, int, str]:
            rate = r.get("conversion_rate")
            sales = str(r.get("chat_sales") or "0.00").replace(".", "")
            return (rate is None, -float(rate) if isinstance(rate, int | float) else 0.0,
                    -int(sales), str(r["agent"]))
        for rank, row in enumerate(sorted(groups[key], key=order), 1):
            row["rank"] = rank
            out.append(row)
    return out


def figures_view(engine: Engine, partitions: Iterable[int] | None = None,
                 day: str | None = None) -> dict[str, object]:
    """The conversion part of ``/figures``: per shop-day, and per agent ranked.

    ``settled`` says whether the day's conversion can still change (a payment within the window
    of its latest first wait), judged on the slowest partition's watermark.
    """
    parts = list(engine.partitions if partitions is None else partitions)
    book: OrderBook = engine.order_book(parts)
    states = [engine.partitions[p] for p in parts if p in engine.partitions]
    watermark = min((s.watermark_ms for s in states), default=0)
    shops = engine.shops(parts)
    out_shops: list[dict[str, object]] = []
    for row in book.report():
        if day and row.day != day:
            continue
        policy = engine.policies.policy(shops.get(row.shop_id, engine.policies.default_platform),
                                        row.shop_id)
        settles = book.settles_at(row.shop_id, date.fromisoformat(row.day).toordinal(),
                                  policy.conversion_window_ms)
        out_shops.append({**row.as_dict(), "settled": settles is None or watermark > settles})
    agents = [r for r in book.report(agents=True) if not day or r.day == day]
    by_day: dict[tuple[str, str], list[Conversion]] = {}
    for r in agents:
        by_day.setdefault((r.shop_id, r.day), []).append(r)
    out_agents = [{**r.as_dict(), "rank": i}
                  for key in sorted(by_day) for i, r in enumerate(ranked(by_day[key]), 1)]
    return {"shops": out_shops, "agents": out_agents}
