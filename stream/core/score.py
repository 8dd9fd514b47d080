"""The platform's score of a KPI, its gate, its breach budget and an end-of-day forecast.

DOMAIN.md §3, "Platform score". Platforms judge a shop on a window of days: the score on day D is Σ (units − units breached)
÷ Σ units over the KPI's ``score_days`` local days ending on D; a gate holds when every day of
its window has a rate at or above its ``min_rate`` (a day without units passes); the breach
budget is how many more units may breach before the rate falls below target,
``max(0, floor(units × (1 − target)) − units breached)``, in exact decimal arithmetic.

A day's units come from the KPI figures while the engine keeps the day (its rows), and from
the *settled* days after that: when eviction forgets a day, its units per KPI are kept here
(:class:`ScoreBook`), with the day's units by local hour for the forecast, for as many days
as the shop's windows need. The settled days are the only part of this state that rows do
not carry: the live driver stores them as records of their own.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction

from stream.core.kpi import MAX_SCORE_DAYS, Kpi, score_window
from stream.core.rows import SETTLED_PREFIX, SettledDay, decode_settled, encode_settled

__all__ = ["SETTLED_PREFIX", "SettledDay", "decode_settled", "encode_settled"]  # re-exported

UNITS, BREACHED = 0, 1  # as in stream.core.kpi_state
HOURS = 24
# Days of history the forecast reads (the last 7 same weekdays, else the last 7 days), and
# how many days back it is kept for that at least (four same weekdays).
FORECAST_DAYS = 7
FORECAST_KEEP_DAYS = 28

DayUnits = tuple[int, int]  # (units, units breached) of one day


# --- the rules ----------------------------------------------------------------------------


def budget(units: int, breached: int, target: float) -> int:
    """How many more units may breach before ``units``' rate falls below ``target``."""
    allowed = (units * (1 - Decimal(str(target)))).to_integral_value(rounding=ROUND_FLOOR)
    return max(0, int(allowed) - breached)


def _passes(units: int, breached: int, min_rate: float) -> bool:
    return units == 0 or Fraction(units - breached, units) >= Fraction(str(min_rate))


@dataclass(frozen=True, slots=True)
class Score:
    """One KPI of one shop (or agent) on one day, as the platform will judge it.

    ``units``/``breached`` are the day's; ``window_units``/``window_breached`` the sums over
    the ``score_days`` days ending on it.
    """

    kpi: str
    score_days: int
    units: int
    breached: int
    window_units: int
    window_breached: int
    budget: int
    score_budget: int
    gate_ok: bool | None  # None: the KPI has no gate

    @property
    def score(self) -> float | None:
        """Σ (units − breached) ÷ Σ units over the window; None without units."""
        if not self.window_units:
            return None
        return (self.window_units - self.window_breached) / self.window_units


def score_of(kpi: Kpi, day: int, days: Mapping[int, DayUnits]) -> Score:
    """The score, budgets and gate of ``kpi`` on ``day`` from the units of each day."""
    units, breached = days.get(day, (0, 0))
    window = [days.get(d, (0, 0)) for d in range(day - kpi.score_days + 1, day + 1)]
    w_units = sum(u for u, _ in window)
    w_breached = sum(b for _, b in window)
    gate_ok = None
    if kpi.gate is not None:
        gate = kpi.gate
        gate_ok = all(_passes(*days.get(d, (0, 0)), gate.min_rate)
                      for d in range(day - gate.days + 1, day + 1))
    return Score(kpi.name, kpi.score_days, units, breached, w_units, w_breached,
                 budget(units, breached, kpi.target), budget(w_units, w_breached, kpi.target),
                 gate_ok)


# --- the forecast -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Forecast:
    """The expected end-of-day units and rate of one KPI of one shop-day."""

    kpi: str
    units: float
    rate: float | None
    history_days: int  # the days the expectation was read from (0: none)


def forecast(kpi: str, day: int, hour: int, minute: int, today: DayUnits,
             today_hours: Sequence[int] | None, history: Mapping[int, tuple[int, Sequence[int]]],
             ) -> Forecast:
    """Expected end-of-day units and rate at local ``hour``:``minute`` of ``day``.

    ``history``: day -> (its units, its 48 hourly counts) of earlier days. The units still to
    come are the mean, over the last 7 same weekdays when at least two are known (else the
    last 7 days), of each day's units times the share of its hourly units after the same
    time. The projected rate assumes the breach share of the last hour (the units started in
    the previous and the current hour) holds for the rest of the day; before any such unit,
    today's share so far.
    """
    same = sorted((d for d in history if d < day and (day - d) % 7 == 0), reverse=True)
    days = same[:FORECAST_DAYS] if len(same) >= 2 else \
        sorted((d for d in history if d < day), reverse=True)[:FORECAST_DAYS]
    later = []
    for d in days:
        day_units, hours = history[d]
        by_hour = hours[:HOURS]
        total = sum(by_hour)
        if not total:
            later.append(0.0)
            continue
        after = sum(by_hour[hour + 1:]) + by_hour[hour] * (60 - minute) / 60
        later.append(day_units * after / total)
    units, breached = today
    expected = units + (sum(later) / len(later) if later else 0.0)
    share = breached / units if units else 0.0
    if today_hours is not None:
        lo = max(hour - 1, 0)
        started = sum(today_hours[lo:hour + 1])
        if started:
            share = sum(today_hours[HOURS + lo:HOURS + hour + 1]) / started
    if not expected:
        return Forecast(kpi, 0.0, None, len(days))
    projected = breached + (expected - units) * share
    return Forecast(kpi, expected, max(0.0, (expected - projected) / expected), len(days))


# --- the book -----------------------------------------------------------------------------


@dataclass(slots=True)
class ScoreBook:
    """A partition's units by hour of the days its KPI book keeps, and its settled days.

    ``hours``: (shop, day) -> KPI name -> 48 ints (units, then breaches, by local start hour);
    kept from the engine's outcomes as they happen, not rebuilt from rows (after a restart a
    day still kept by the rows has the hours counted since). ``settled``: (shop, day) -> the
    settled day. ``changes``: settled days written (or, as None, forgotten) since the driver
    last took them, by key.
    """

    hours: dict[tuple[str, int], dict[str, list[int]]] = field(default_factory=dict)
    settled: dict[tuple[str, int], SettledDay] = field(default_factory=dict)
    changes: dict[str, SettledDay | None] = field(default_factory=dict)

    def note(self, shop: str, day: int, kpi: str, what: int, hour: int, amount: int) -> None:
        """Count ``amount`` units (``what`` UNITS) or breaches (BREACHED) started at ``hour``."""
        by_kpi = self.hours.get((shop, day))
        if by_kpi is None:
            by_kpi = self.hours[(shop, day)] = {}
        counts = by_kpi.get(kpi)
        if counts is None:
            counts = by_kpi[kpi] = [0] * (2 * HOURS)
        counts[what * HOURS + hour] += amount

    def settle(self, shop: str, day: int, units: Mapping[str, DayUnits],
               partition: int) -> None:
        """Keep a day the KPI book forgets: its units per KPI, and its hours."""
        key = (shop, day)
        hours = self.hours.pop(key, {})
        if key in self.settled:
            return  # settled before (a restart rebuilt part of it from a long-lived row)
        record = SettledDay(shop, day, {
            name: (u, b, tuple(hours.get(name) or (0,) * (2 * HOURS)))
            for name, (u, b) in sorted(units.items())}, partition)
        self.settled[key] = record
        self.changes[record.key] = record

    def forget_before(self, day: int) -> None:
        """Drop the hours of days before ``day`` (the KPI book forgot them, unsettled)."""
        for key in [k for k in self.hours if k[1] < day]:
            del self.hours[key]

    def keep(self, newest: Mapping[str, int], window: Mapping[str, int]) -> None:
        """Forget settled days more than ``window[shop]`` days before ``newest[shop]``.

        A shop not in ``newest`` keeps its days.
        """
        for (shop, day), record in list(self.settled.items()):
            last = newest.get(shop)
            if last is not None and day <= last - window.get(shop, FORECAST_KEEP_DAYS):
                del self.settled[(shop, day)]
                self.changes[record.key] = None

    def load(self, record: SettledDay) -> None:
        """Adopt a settled day restored from durable state."""
        self.settled[(record.shop_id, record.day)] = record

    def take_changes(self) -> list[tuple[str, SettledDay | None]]:
        """The settled days to store (None: to delete), once."""
        out = list(self.changes.items())
        self.changes.clear()
        return out


def history_days(kpis: Iterable[Kpi]) -> int:
    """Days of settled history a shop with these KPIs needs (windows, gate, forecast)."""
    return min(MAX_SCORE_DAYS, max([FORECAST_KEEP_DAYS, *(score_window(k) for k in kpis)]))
