"""Daily per-shop figures (DOMAIN.md §3, "Daily figures"), derived from conversation rows.

The figures of a shop and business day are sums of the contributions that each conversation
row carries, plus distinct-buyer counts. :class:`DayBook` keeps those sums incrementally: when a
row changes, the old contributions are subtracted and the new ones added, so it can always be
rebuilt from the rows alone (after a restart or a rebalance) and gives the same answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date

from stream.core.distinct import shift_buyer
from stream.core.reply_window import BREACHED, FAST, RESPONSE_MS, RESPONSES, WAITS


@dataclass(frozen=True, slots=True)
class DailyFigures:
    """One shop's figures for one business day (the backfill report row)."""

    shop_id: str
    day: str
    consultations: int
    unreplied: int
    reply_rate: float | None
    waits: int
    waits_breached: int
    responses: int
    mean_response_seconds: float | None
    fast_responses: int

    def as_dict(self) -> dict[str, object]:
        """The report's JSON object, fields in contract order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class DayTotals:
    """Running sums for one (shop, day)."""

    vector: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    consulted: Counter[str] = field(default_factory=Counter)  # buyer -> conversations with waits
    unreplied: Counter[str] = field(default_factory=Counter)  # buyer -> conversations breached

    def absorb(self, other: DayTotals) -> None:
        """Add another part's totals: sums add, distinct buyers are a union (with counts)."""
        self.vector = [a + b for a, b in zip(self.vector, other.vector, strict=True)]
        self.consulted.update(other.consulted)
        self.unreplied.update(other.unreplied)

    def figures(self, shop_id: str, day: int) -> DailyFigures:
        """The §3 figures of these totals."""
        waits, breached, responses, response_ms, fast = self.vector
        consultations = len(self.consulted)
        unreplied = len(self.unreplied)
        return DailyFigures(
            shop_id=shop_id,
            day=date.fromordinal(day).isoformat(),
            consultations=consultations,
            unreplied=unreplied,
            reply_rate=(consultations - unreplied) / consultations if consultations else None,
            waits=waits,
            waits_breached=breached,
            responses=responses,
            mean_response_seconds=response_ms / responses / 1000 if responses else None,
            fast_responses=fast,
        )


class DayBook:
    """Figures of many shops and days, kept in step with conversation contributions."""

    __slots__ = ("totals",)

    def __init__(self) -> None:
        self.totals: dict[tuple[str, int], DayTotals] = {}

    def change(self, shop_id: str, buyer_id: str, day: int, old: Sequence[int] | None,
               new: Sequence[int] | None) -> None:
        """Replace one conversation's contribution to (shop, day): ``old`` -> ``new``."""
        zero = (0, 0, 0, 0, 0)
        before = old or zero
        after = new or zero
        if before == after:
            return
        key = (shop_id, day)
        totals = self.totals.get(key)
        if totals is None:
            totals = self.totals[key] = DayTotals()
        vec = totals.vector
        for i in (WAITS, BREACHED, RESPONSES, RESPONSE_MS, FAST):
            vec[i] += after[i] - before[i]
        shift_buyer(totals.consulted, buyer_id, before[WAITS] > 0, after[WAITS] > 0)
        shift_buyer(totals.unreplied, buyer_id, before[BREACHED] > 0, after[BREACHED] > 0)

    def figures(self, shop_id: str, day: int) -> DailyFigures | None:
        """The figures of one shop and day, or None if it has no counted waits."""
        totals = self.totals.get((shop_id, day))
        if totals is None or totals.vector[WAITS] == 0:
            return None
        return totals.figures(shop_id, day)

    def report(self) -> list[DailyFigures]:
        """All (shop, day) figures with counted waits, sorted by shop then day."""
        rows = [t.figures(shop, day) for (shop, day), t in self.totals.items() if t.vector[WAITS]]
        rows.sort(key=lambda r: (r.shop_id, r.day))
        return rows

    def forget_before(self, day: int) -> None:
        """Drop the totals of business days before ``day`` (bounded memory)."""
        for key in [k for k in self.totals if k[1] < day]:
            del self.totals[key]

    def merge(self, other: DayBook, only: tuple[str, int] | None = None) -> None:
        """Add another book's totals (figures of several partitions); ``only`` one shop-day."""
        items = other.totals.items() if only is None else (
            [(only, other.totals[only])] if only in other.totals else [])
        for key, theirs in items:
            mine = self.totals.get(key)
            if mine is None:
                mine = self.totals[key] = DayTotals()
            mine.absorb(theirs)
