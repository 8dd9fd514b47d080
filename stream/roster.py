"""The shift roster (seed 004's 排班): the fewest agents per shift template covering every hour.

A lead staffs a day with a few shift templates (早班 08:00 for 9 hours with an unpaid hour at
noon, 晚班 from 14:00, a night shift across midnight). Given the agents each hour needs on the
roster (on duty after shrinkage, from ``stream/core/staffing.py``), the roster is the number
of agents on each template such that every hour is covered and the head count is the least:

    minimise Σ x_j  subject to  Σ_{j works hour h} x_j >= need_h for every hour h,
                                0 <= x_j <= max_j, x_j integer

an integer program, solved exactly by SciPy's ``milp`` (the HiGHS solver). Among the rosters
with the fewest agents, a second solve takes the one with the fewest paid agent-hours (a
shorter shift where it suffices). The day is a cycle of 24 local hours: a shift that starts at
22:00 for 9 hours works 22:00-07:00 of the same roster, as it does every day.

Templates come from a YAML file::

    shifts:
      - name: early          # 早班
        start: "08:00"
        hours: 9             # on site, break included
        break: "12:00"       # unpaid, one hour unless break_hours says otherwise
      - name: late           # 晚班
        start: "14:00"
        hours: 9
        break: "18:00"
      - name: night
        start: "22:00"
        hours: 8
        max: 3               # at most 3 agents on it (optional)

Times are whole local hours (the plan is hourly). An hour that needs agents and that no
template works (or that the templates' ``max`` cannot fill) makes the roster impossible:
:class:`RosterError` names the hour before any solving.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml
from scipy.optimize import Bounds, LinearConstraint, milp

from stream.errors import ChatwatchError

HOURS = 24
TIME_LIMIT_S = 60.0  # a roster of a few templates solves in milliseconds; this only bounds a bad case
TEMPLATE_KEYS = {"name", "start", "hours", "break", "break_hours", "max"}


class RosterError(ChatwatchError):
    """The shift templates are malformed or cannot cover the need.

    The message names the template or the hour, and the fix.
    """


@dataclass(frozen=True)
class Shift:
    """A shift template: ``start`` (local hour), ``hours`` on site, an unpaid break inside it."""

    name: str
    start: int
    hours: int
    break_start: int | None = None
    break_hours: int = 0
    max_agents: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < HOURS:
            raise RosterError(f"shift {self.name!r}: start {self.start} is not an hour 0-23")
        if not 1 <= self.hours <= HOURS:
            raise RosterError(f"shift {self.name!r}: {self.hours} hours: a shift lasts 1 to 24 "
                              f"hours")
        if self.break_start is not None:
            offset = (self.break_start - self.start) % HOURS
            if self.break_hours < 1 or offset + self.break_hours > self.hours:
                raise RosterError(
                    f"shift {self.name!r}: the break {_hour(self.break_start)} for "
                    f"{self.break_hours} hour(s) does not lie inside the shift "
                    f"{_hour(self.start)}-{_hour(self.start + self.hours)}")
            if self.break_hours >= self.hours:
                raise RosterError(f"shift {self.name!r}: the break takes the whole shift")
        if self.max_agents is not None and self.max_agents < 0:
            raise RosterError(f"shift {self.name!r}: max {self.max_agents} must be >= 0")

    @property
    def working(self) -> list[int]:
        """The local hours an agent on this shift is on duty (the break left out)."""
        brk = set()
        if self.break_start is not None:
            brk = {(self.break_start + k) % HOURS for k in range(self.break_hours)}
        return [h for h in ((self.start + k) % HOURS for k in range(self.hours))
                if h not in brk]

    @property
    def paid_hours(self) -> int:
        """Hours paid per agent: on site less the unpaid break."""
        return self.hours - self.break_hours

    def describe(self) -> str:
        """``08:00-17:00, break 12:00-13:00``."""
        text = f"{_hour(self.start)}-{_hour(self.start + self.hours)}"
        if self.break_start is not None:
            text += (f", break {_hour(self.break_start)}-"
                     f"{_hour(self.break_start + self.break_hours)}")
        return text


def _hour(h: int) -> str:
    return f"{h % HOURS:02d}:00"


def _width(text: str) -> int:
    """Terminal columns: 早班 takes four."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


# --- reading templates ------------------------------------------------------------------------


def _parse_hour(where: str, value: object) -> int:
    text = str(value).strip()
    hh, sep, mm = text.partition(":")
    try:
        hour = int(hh)
        minutes = int(mm) if sep else 0
    except ValueError:
        raise RosterError(f"{where}: {text!r} is not a time: write \"08:00\"") from None
    if minutes != 0:
        raise RosterError(f"{where}: {text!r}: the roster is hourly, start shifts and breaks "
                          f"on the hour")
    if not 0 <= hour < HOURS:
        raise RosterError(f"{where}: {text!r} is not an hour of the day (00:00-23:00)")
    return hour


def _parse_int(where: str, value: object) -> int:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise RosterError(f"{where}: {text!r} is not a number") from None
    if number != int(number):
        raise RosterError(f"{where}: {text}: the roster is hourly, give whole hours")
    return int(number)


def shifts_from_mapping(data: object, source: str = "shifts") -> list[Shift]:
    """Templates from the parsed YAML: ``{"shifts": [...]}`` or the list itself.

    Scalars may be strings (the file is read without YAML's implicit types, so ``14:00`` is
    never taken for a base-60 number) or numbers.
    """
    items = data.get("shifts") if isinstance(data, Mapping) else data
    if not isinstance(items, list) or not items:
        raise RosterError(f"{source}: expected a list of shift templates under `shifts:`, each "
                          f"with name, start and hours")
    out: list[Shift] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise RosterError(f"{source}: shift {n} is not a mapping of name, start, hours")
        name = str(item.get("name") or f"shift {n}")
        where = f"{source}: shift {name!r}"
        unknown = sorted(set(map(str, item)) - TEMPLATE_KEYS)
        if unknown:
            raise RosterError(f"{where}: unknown key(s) {', '.join(unknown)}; a template has "
                              f"{', '.join(sorted(TEMPLATE_KEYS))}")
        for key in ("start", "hours"):
            if item.get(key) in (None, ""):
                raise RosterError(f"{where}: `{key}` is missing")
        brk = item.get("break")
        break_start = None if brk in (None, "", "none") else _parse_hour(f"{where} break", brk)
        break_hours = (_parse_int(f"{where} break_hours", item["break_hours"])
                       if item.get("break_hours") not in (None, "")
                       else (1 if break_start is not None else 0))
        if break_start is None and break_hours:
            raise RosterError(f"{where}: break_hours without `break` (when the break starts)")
        start = _parse_hour(f"{where} start", item["start"])
        hours = _parse_int(f"{where} hours", item["hours"])
        cap = None if item.get("max") in (None, "") else _parse_int(f"{where} max", item["max"])
        try:
            out.append(Shift(name, start, hours, break_start, break_hours, cap))
        except RosterError as exc:
            raise RosterError(f"{source}: {exc}") from None
    names = [s.name for s in out]
    twice = sorted({x for x in names if names.count(x) > 1})
    if twice:
        raise RosterError(f"{source}: shift name(s) {', '.join(map(repr, twice))} appear twice")
    return out


def read_shifts(path: str) -> list[Shift]:
    """The templates of a YAML file (see the module docstring)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=yaml.BaseLoader)  # plain strings, no objects
    except OSError as exc:
        raise RosterError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RosterError(f"{path}: not YAML ({exc})") from None
    return shifts_from_mapping(data, path)


# --- solving ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roster:
    """The solved roster: agents per template, and each hour's cover against its need."""

    shifts: list[Shift]
    agents: list[int]  # per template, in the order given
    need: list[int]  # per local hour
    cover: list[int]  # per local hour

    @property
    def total_agents(self) -> int:
        """Agents on the roster."""
        return sum(self.agents)

    @property
    def agent_hours(self) -> int:
        """Paid agent-hours: Σ agents × (shift hours − unpaid break)."""
        return sum(n * s.paid_hours for n, s in zip(self.agents, self.shifts, strict=True))

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "shifts": [{"name": s.name, "start": _hour(s.start), "hours": s.hours,
                        "break": None if s.break_start is None else _hour(s.break_start),
                        "break_hours": s.break_hours, "paid_hours": s.paid_hours,
                        "max": s.max_agents, "agents": n}
                       for s, n in zip(self.shifts, self.agents, strict=True)],
            "hours": [{"hour": h, "need": self.need[h], "cover": self.cover[h],
                       "spare": self.cover[h] - self.need[h]} for h in range(HOURS)],
            "total_agents": self.total_agents,
            "agent_hours": self.agent_hours,
        }


def cover_matrix(shifts: Sequence[Shift]) -> np.ndarray:
    """24 × templates, 1 where the template works the hour."""
    matrix = np.zeros((HOURS, len(shifts)))
    for j, shift in enumerate(shifts):
        for h in shift.working:
            matrix[h, j] = 1
    return matrix


def _uncovered(shifts: Sequence[Shift], need: Sequence[int]) -> str | None:
    """Why no roster can cover ``need`` (the hours named), or None when one can."""
    nobody = [h for h in range(HOURS) if need[h] > 0
              and not any(h in s.working and s.max_agents != 0 for s in shifts)]
    if nobody:
        hours = ", ".join(f"{_hour(h)} (need {need[h]})" for h in nobody)
        return (f"no shift template works {hours}: add a shift that covers "
                f"{'it' if len(nobody) == 1 else 'them'} or move a start or a break")
    short = []
    for h in range(HOURS):
        caps = [s.max_agents for s in shifts if h in s.working]
        if need[h] > 0 and None not in caps and sum(c or 0 for c in caps) < need[h]:
            short.append(f"{_hour(h)} (need {need[h]}, the templates' max allow "
                         f"{sum(c or 0 for c in caps)})")
    if short:
        return (f"the templates' `max` cannot cover {', '.join(short)}: raise a max or add a "
                f"shift")
    return None


def _solve(costs: np.ndarray, constraints: list[LinearConstraint], bounds: Bounds) -> np.ndarray:
    result = milp(costs, constraints=constraints, integrality=np.ones(len(costs)),
                  bounds=bounds, options={"time_limit": TIME_LIMIT_S})
    if result.status != 0 or result.x is None:  # 0: optimal; the checks above rule out 2
        raise RosterError(f"the roster solver (HiGHS) found no optimal roster: "
                          f"{result.message}")
    return np.rint(result.x)


def solve_roster(shifts: Sequence[Shift], need: Sequence[int]) -> Roster:
    """The fewest agents per template covering ``need``, then the fewest paid agent-hours.

    ``need`` is the agents each local hour needs on the roster (24 figures). Raises :class:`RosterError` naming the hours when no roster can cover them.
    """
    if len(need) != HOURS:
        raise ValueError(f"a roster needs 24 hourly figures, not {len(need)}")
    if any(n < 0 for n in need):
        raise ValueError(f"negative need in {list(need)}")
    if not shifts:
        raise RosterError("no shift templates")
    why = _uncovered(shifts, need)
    if why is not None:
        raise RosterError(why)
    need = [int(n) for n in need]
    if not any(need):
        return Roster(list(shifts), [0] * len(shifts), need, [0] * HOURS)
    matrix = cover_matrix(shifts)
    upper = np.array([np.inf if s.max_agents is None else s.max_agents for s in shifts])
    bounds = Bounds(np.zeros(len(shifts)), upper)
    covered = LinearConstraint(matrix, np.array(need, dtype=float), np.inf)
    first = _solve(np.ones(len(shifts)), [covered], bounds)
    fewest = float(first.sum())
    # the same head count, the fewest paid hours
    paid = np.array([s.paid_hours for s in shifts], dtype=float)
    second = _solve(paid, [covered, LinearConstraint(np.ones((1, len(shifts))), fewest,
                                                     fewest)], bounds)
    agents = [int(x) for x in second]
    cover = [int(round(v)) for v in matrix @ second]
    assert all(c >= n for c, n in zip(cover, need, strict=True)), (cover, need)
    return Roster(list(shifts), agents, need, cover)


def render(roster: Roster) -> list[str]:
    """The roster per template, then each hour's cover against its need, and the totals."""
    width = max(_width(s.name) for s in (*roster.shifts, Shift("shift", 0, 1)))
    span = max(len(s.describe()) for s in roster.shifts)
    lines = [f"{_pad('shift', width)}  {'hours':<{span}}{'paid':>6}{'agents':>8}"]
    for shift, n in zip(roster.shifts, roster.agents, strict=True):
        cap = "" if shift.max_agents is None else f"  (max {shift.max_agents})"
        lines.append(f"{_pad(shift.name, width)}  {shift.describe():<{span}}"
                     f"{shift.paid_hours:>5}h{n:>8,}{cap}")
    lines.append(f"total: {roster.total_agents:,} agents, {roster.agent_hours:,} paid "
                 f"agent-hours")
    lines.append("")
    lines.append(f"{'hour':<6}{'need':>6}{'cover':>7}{'spare':>7}")
    for h in range(HOURS):
        if roster.need[h] or roster.cover[h]:
            lines.append(f"{_hour(h)} {roster.need[h]:>6,}{roster.cover[h]:>7,}"
                         f"{roster.cover[h] - roster.need[h]:>7,}")
    return lines
