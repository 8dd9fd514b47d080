"""The hourly sizing of ``chatwatch plan`` as contact centres do it, and the shift roster.

Every hour's load is sized by Erlang C (``stream/core/staffing.py``: agents on duty, service
level, occupancy, average wait), the on-duty figure is divided by (1 − shrinkage) for breaks,
meetings and absence, and ``--shifts`` turns those hourly roster needs into agents per shift
template (``stream/roster.py``). The load comes either from history (``stream/plan.py``: the
sale day's inquiries spread over the hours) or, here, as given (``--contacts``: a number of
contacts per interval, for every hour or per range of hours), which is how the textbook case
is checked:

    chatwatch plan --contacts 100 --interval-minutes 30 --handle-seconds 180 --answer-within 20
    → 14 agents on duty, service level 88.8 %, occupancy 71.4 %, average wait 7.8 s; 20 on
      the roster with 30 % shrinkage.

The KPI is the shop's reply window (a reply within the window: queueing and handling) unless
``--answer-within`` asks for the contact centres' service level (an agent takes the contact
within so many seconds: queueing only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from stream.core.staffing import DEFAULT_KPI, DEFAULT_SHRINKAGE, PICKUP, Kpi, Sizing, size
from stream.errors import ChatwatchError
from stream.roster import HOURS, Roster, read_shifts, solve_roster
from stream.roster import render as render_roster

PICKUP_TARGET = 0.8  # the contact centres' usual 80 % within --answer-within, unless --target


class SizingError(ChatwatchError):
    """A sizing option is malformed or cannot be met: the message names the option or hour."""


@dataclass(frozen=True)
class SizingOptions:
    """How to size each hour: the command line's choices (None: observed or the default)."""

    shrinkage: Decimal = DEFAULT_SHRINKAGE
    concurrency: float | None = None
    handle_seconds: float | None = None
    answer_within: float | None = None
    target: float | None = None
    shifts: str | None = None
    max_occupancy: Decimal | None = None


def staffing_kpi(window_seconds: float, target: float, opts: SizingOptions) -> Kpi:
    """The KPI to size for: the shop's reply window and target, or ``--answer-within``."""
    if opts.answer_within is not None:
        return Kpi(PICKUP, opts.answer_within,
                   opts.target if opts.target is not None else PICKUP_TARGET, PICKUP)
    return Kpi(DEFAULT_KPI, window_seconds, opts.target if opts.target is not None else target)


def describe_kpi(kpi: Kpi) -> str:
    """``80% of contacts picked up within 20 s`` or ``70% of waits replied to within 300 s``."""
    if kpi.answered == PICKUP:
        return (f"{kpi.target:.0%} of contacts picked up by an agent within "
                f"{kpi.window_seconds:g} s (queueing only, the contact centres' service level)")
    return (f"{kpi.target:.0%} of waits replied to within {kpi.window_seconds:g} s (queueing "
            f"and handling: the reply-window KPI)")


def sizing_dict(sizing: Sizing) -> dict[str, Any]:
    """One hour's Erlang C figures for ``--json``."""
    def rounded(v: float | None, digits: int) -> float | None:
        return None if v is None else round(v, digits)
    return {"on_duty": sizing.on_duty, "traffic": round(sizing.traffic, 3),
            "service_level": rounded(sizing.service_level, 4),
            "occupancy": rounded(sizing.occupancy, 4),
            "average_wait_seconds": rounded(sizing.average_wait_seconds, 2),
            "rostered": sizing.rostered}


SIZING_HEADER = f"{'on duty':>9}{'service':>9}{'occupancy':>10}{'avg wait':>10}{'roster':>8}"


def sizing_columns(sizing: Sizing) -> str:
    """The columns under :data:`SIZING_HEADER`."""
    if sizing.on_duty is None:
        return f"{'-':>9}{'-':>9}{'-':>10}{'-':>10}{'-':>8}"
    wait = sizing.average_wait_seconds or 0.0
    return (f"{sizing.on_duty:>9,}{sizing.service_level or 0:>9.1%}{sizing.occupancy or 0:>10.1%}"
            f"{wait:>8.1f} s{sizing.rostered or 0:>8,}")


def roster_for(hours: Sequence[Sizing], shifts_path: str) -> Roster:
    """Solve the roster for 24 hourly sizings; an hour that cannot be sized stops it."""
    hopeless = [h for h, s in enumerate(hours) if s.on_duty is None]
    if hopeless:
        raise SizingError("no roster: " + ", ".join(f"{h:02d}:00" for h in hopeless)
                          + " cannot meet the KPI whatever the head count (the handling is too "
                            "long for the window): shorten the handling or size for another "
                            "target (--target, --answer-within)")
    return solve_roster(read_shifts(shifts_path), [s.rostered or 0 for s in hours])


def roster_lines(roster: Roster, shrinkage: Decimal) -> list[str]:
    """The roster section of the table."""
    return ["", f"roster (each hour's on-duty need ÷ (1 − {float(shrinkage):.0%} shrinkage), "
                f"rounded up; fewest agents, solved exactly)", *render_roster(roster)]


# --- a given load (--contacts) ----------------------------------------------------------------


def _hour_range(text: str, option: str) -> range:
    first, sep, last = text.partition("-")
    try:
        start = int(first)
        end = int(last) if sep else start + 1
    except ValueError:
        raise SizingError(f"{option}: {text!r} is not an hour or a range of hours like "
                          f"8-22") from None
    if not (0 <= start < end <= HOURS):
        raise SizingError(f"{option}: {text!r}: hours run 0-24 and a range ends after it "
                          f"starts (8-22 is 08:00 to 22:00)")
    return range(start, end)


def parse_contacts(spec: str, hours: str | None) -> list[float]:
    """Contacts per interval for each of the 24 hours.

    ``100`` is 100 in every hour of ``hours`` (``8-22``; all 24 when None); ``8-12=150,
    12-22=200`` gives each range its own (``9=40``: one hour). Hours not named get none.
    """
    out = [0.0] * HOURS
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise SizingError("--contacts: give a number of contacts, or HOURS=N pairs")
    if len(parts) == 1 and "=" not in parts[0]:
        span = _hour_range(hours, "--hours") if hours else range(HOURS)
        parts = [f"{span.start}-{span.stop}={parts[0]}"]
    elif hours:
        raise SizingError("--hours goes with a single --contacts number; with HOURS=N pairs "
                          "the pairs say the hours")
    for part in parts:
        where, sep, count = part.partition("=")
        if not sep:
            raise SizingError(f"--contacts: {part!r}: write HOURS=N (8-12=150)")
        try:
            number = float(count)
        except ValueError:
            raise SizingError(f"--contacts: {count!r} is not a number of contacts") from None
        if not math.isfinite(number) or number < 0:
            raise SizingError(f"--contacts: {count} must be a number >= 0")
        for h in _hour_range(where.strip(), "--contacts"):
            out[h] = number
    return out


@dataclass
class LoadPlan:
    """Erlang C for a given load: each hour's sizing, and the roster when shifts are given."""

    kpi: Kpi
    interval_minutes: float
    handle_seconds: float
    concurrency: float
    shrinkage: Decimal
    contacts: list[float]  # per interval, per hour
    hours: list[Sizing]
    roster: Roster | None
    notes: list[str] = field(default_factory=list)
    max_occupancy: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "kpi": {"name": self.kpi.name, "window_seconds": self.kpi.window_seconds,
                    "target": self.kpi.target, "answered": self.kpi.answered},
            "interval_minutes": self.interval_minutes, "handle_seconds": self.handle_seconds,
            "concurrency": self.concurrency, "shrinkage": float(self.shrinkage),
            "max_occupancy": None if self.max_occupancy is None else float(self.max_occupancy),
            "hours": [{"hour": h, "contacts": self.contacts[h],
                       "contacts_per_hour": round(s.contacts_per_hour, 3), **sizing_dict(s)}
                      for h, s in enumerate(self.hours) if self.contacts[h]],
            "roster": None if self.roster is None else self.roster.as_dict(),
            "notes": self.notes,
        }


def load_plan(contacts: Sequence[float], interval_minutes: float, kpi: Kpi,
              opts: SizingOptions) -> LoadPlan:
    """Size each hour's given load and, with ``opts.shifts``, roster the day."""
    if opts.handle_seconds is None:
        raise SizingError("--contacts needs --handle-seconds: how long one contact keeps an "
                          "agent (the textbook case: 180)")
    concurrency = opts.concurrency if opts.concurrency is not None else 1.0
    seconds = interval_minutes * 60
    hours = [size(n / seconds, opts.handle_seconds, kpi, concurrency=concurrency,
                  shrinkage=opts.shrinkage, max_occupancy=opts.max_occupancy)
             for n in contacts]
    plan = LoadPlan(kpi, interval_minutes, opts.handle_seconds, concurrency, opts.shrinkage,
                    list(contacts), hours, None, max_occupancy=opts.max_occupancy)
    if opts.shifts:
        plan.roster = roster_for(hours, opts.shifts)
    if any(s.on_duty is None for s in hours):
        plan.notes.append(f"some hours cannot meet {kpi.target:.0%} within "
                          f"{kpi.window_seconds:g} s with {opts.handle_seconds:g} s of handling, "
                          f"whatever the headcount: shorten the handling")
    return plan


def render_load(plan: LoadPlan) -> str:
    """The given load's table: runs of hours with the same load on one line, then the roster."""
    per = f"{plan.interval_minutes:g} min"
    agent_s = plan.handle_seconds / plan.concurrency
    lines = ["chatwatch plan: Erlang C for a given load",
             f"service level: {describe_kpi(plan.kpi)}",
             f"handling {plan.handle_seconds:g} s per contact, concurrency {plan.concurrency:g}"
             f" → {agent_s:g} s of an agent's time per contact; shrinkage "
             f"{float(plan.shrinkage):.0%}"
             + ("" if plan.max_occupancy is None
                else f"; occupancy at most {float(plan.max_occupancy):.0%}"), ""]
    label = f"contacts/{per}"
    lines.append(f"{'hours':<12}{label:>16}{'traffic':>9}{SIZING_HEADER}")
    h = 0
    while h < HOURS:
        end = h + 1
        while end < HOURS and plan.contacts[end] == plan.contacts[h]:
            end += 1
        if plan.contacts[h]:
            sizing = plan.hours[h]
            lines.append(f"{h:02d}:00-{end:02d}:00 {plan.contacts[h]:>16,g}"
                         f"{sizing.traffic:>9.2f}{sizing_columns(sizing)}")
        h = end
    if plan.roster is not None:
        lines += roster_lines(plan.roster, plan.shrinkage)
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)
