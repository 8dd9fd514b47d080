"""Daily KPI figures per shop (and, through :mod:`stream.core.agent_days`, per agent).

Like :class:`~stream.core.figures.DayBook`, the shop book is the sum of the per-day
contributions each conversation row carries (``stream.core.kpi_state``): when a row changes,
its old contributions are taken out and the new ones put in, so the book can be rebuilt from
the rows alone after a restart or a rebalance.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import date

from stream.core.kpi import BUYER_UNIT, Kpi
from stream.core.kpi_state import BREACHED, FIRST_MS, FIRST_N, UNITS


@dataclass(frozen=True, slots=True)
class KpiFigures:
    """One KPI of one shop (or agent) and business day: the ``--kpi-report`` row."""

    shop_id: str
    day: str
    kpi: str
    unit: str
    units: int
    units_breached: int
    rate: float | None
    first_response_seconds: float | None

    def as_dict(self) -> dict[str, object]:
        """The report's JSON object, fields in contract order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class KpiTotals:
    """Running sums of one KPI for one (shop, day) or (shop, agent, day)."""

    unit: str
    units: int = 0
    breached: int = 0
    first_n: int = 0
    first_ms: int = 0
    buyers: Counter[str] = field(default_factory=Counter)  # buyer -> counted waits
    unreplied: Counter[str] = field(default_factory=Counter)  # buyer -> breached waits

    def add(self, buyer: str, vec: list[int] | tuple[int, ...], sign: int) -> None:
        """Add (``sign`` 1) or take out (-1) one conversation's four contributions."""
        self.units += sign * vec[UNITS]
        self.breached += sign * vec[BREACHED]
        self.first_n += sign * vec[FIRST_N]
        self.first_ms += sign * vec[FIRST_MS]
        if self.unit == BUYER_UNIT:
            shift(self.buyers, buyer, sign * (vec[UNITS] > 0))
            shift(self.unreplied, buyer, sign * (vec[BREACHED] > 0))

    def merge(self, other: KpiTotals) -> None:
        """Add another partition's totals of the same KPI (distinct buyers stay distinct)."""
        self.units += other.units
        self.breached += other.breached
        self.first_n += other.first_n
        self.first_ms += other.first_ms
        self.buyers.update(other.buyers)
        self.unreplied.update(other.unreplied)

    @property
    def empty(self) -> bool:
        """Nothing counted."""
        return not (self.units or self.first_n)

    def figures(self, shop_id: str, day: int, name: str) -> KpiFigures:
        """The figures of these totals: units are buyers for a ``buyer`` KPI."""
        if self.unit == BUYER_UNIT:
            units, breached = len(self.buyers), len(self.unreplied)
        else:
            units, breached = self.units, self.breached
        day_iso = date.fromordinal(day).isoformat() if day >= 1 else ""  # 0: no event time yet
        return KpiFigures(shop_id, day_iso, name, self.unit, units,
                          breached, (units - breached) / units if units else None,
                          self.first_ms / self.first_n / 1000 if self.first_n else None)


def shift(counter: Counter[str], buyer: str, amount: int) -> None:
    if not amount:
        return
    counter[buyer] += amount
    if counter[buyer] <= 0:
        del counter[buyer]


class KpiBook:
    """KPI totals of many shops and days: (shop, day) -> KPI name -> totals."""

    __slots__ = ("totals",)

    def __init__(self) -> None:
        self.totals: dict[tuple[str, int], dict[str, KpiTotals]] = {}

    def change(self, shop_id: str, buyer_id: str, kpis: tuple[Kpi, ...], day: int,
               old: list[int] | None, new: list[int] | None) -> None:
        """Replace one conversation's contributions to (shop, day): ``old`` -> ``new``."""
        if old == new:
            return
        by_kpi = self.totals.get((shop_id, day))
        if by_kpi is None:
            by_kpi = self.totals[(shop_id, day)] = {}
        for i, kpi in enumerate(kpis):
            # every KPI of the conversation's list gets its entry, counted or not: the
            # report has a row for each (``rate`` null without units)
            totals = by_kpi.get(kpi.name)
            if totals is None:
                totals = by_kpi[kpi.name] = KpiTotals(kpi.unit)
            before = old[4 * i:4 * i + 4] if old else None
            after = new[4 * i:4 * i + 4] if new else None
            if before == after:
                continue
            if before:
                totals.add(buyer_id, before, -1)
            if after:
                totals.add(buyer_id, after, 1)

    def figures(self, shop_id: str, day: int, kpi: Kpi) -> KpiFigures:
        """One KPI of one shop-day (zero figures when nothing was counted)."""
        totals = self.totals.get((shop_id, day), {}).get(kpi.name)
        return (totals or KpiTotals(kpi.unit)).figures(shop_id, day, kpi.name)

    def kpis_of(self, shop_id: str, day: int) -> list[tuple[str, str]]:
        """(name, unit) of every KPI that a conversation of the shop-day has, by name."""
        return sorted((n, t.unit) for n, t in self.totals.get((shop_id, day), {}).items())

    def forget_before(self, day: int) -> None:
        """Drop the totals of business days before ``day``."""
        for key in [k for k in self.totals if k[1] < day]:
            del self.totals[key]

    def merge(self, other: KpiBook, only: tuple[str, int] | None = None) -> None:
        """Add another book's totals (several partitions); ``only`` one shop-day."""
        items = other.totals.items() if only is None else (
            [(only, other.totals[only])] if only in other.totals else [])
        for key, theirs in items:
            mine = self.totals.setdefault(key, {})
            for name, t in theirs.items():
                m = mine.get(name)
                if m is None:
                    m = mine[name] = KpiTotals(t.unit)
                m.merge(t)
