"""Per-agent report rows, violation counts and breaches by hour for the backfill report.

The shop figures come from the engine's own :class:`~stream.core.figures.DayBook`, the
per-agent figures from its agent book (:meth:`Engine.agent_book`, the same numbers the board
and ``/metrics`` show): the same definitions (DOMAIN.md §3, "Daily figures") over the waits
*held* by one agent (rule 6: a transfer hands an open wait over; ``unassigned`` when nobody
spoke before the wait):

* ``consultations`` — distinct buyers with at least one counted wait attributed to the agent
  that day; ``unreplied`` — distinct buyers with at least one such wait breached;
* ``waits``, ``waits_breached``, ``responses``, ``mean_response_seconds``,
  ``fast_responses`` — over the agent's counted waits.

So summing ``waits`` (or ``waits_breached``, ``responses``...) over a shop's agents gives the
shop row; distinct-buyer counts need not add up (a buyer served by two agents counts for each).

Violations are the engine's :class:`~stream.core.guard.ContentFlagged` outcomes, counted as the
live counters count them: once per flagged message and severity, per shop and business day of
the message (effective event time, in the shop's time zone), and per agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from stream.core.engine import Applied, Engine
from stream.core.events import ChatEvent
from stream.core.figures import DailyFigures, DayTotals
from stream.core.guard import ContentFlagged
from stream.core.reply_window import (
    BreachRetracted,
    Outcome,
    WaitBreached,
    WaitClosed,
)

SEVERITIES = ("critical", "warning", "info")
UNASSIGNED = "unassigned"
AgentRows = Mapping[tuple[str, str, int], DailyFigures]  # (shop, agent, day) -> figures


class Listener(Protocol):
    """What the backfill driver tells its read-outs."""

    def on_event(self, event: ChatEvent, applied: Applied) -> None:
        """One event was applied (not a duplicate), with everything that followed from it."""

    def on_breaches(self, breaches: Iterable[WaitBreached]) -> None:
        """The watermark or the end of input declared these waits breached."""

    def on_skipped(self, outcome: str) -> None:
        """A line was not applied: ``invalid`` or ``duplicate``."""


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """One agent's figures for one shop and business day (a ``--by agent`` row)."""

    shop_id: str
    agent: str
    figures: DailyFigures

    @property
    def day(self) -> str:
        """The business day, YYYY-MM-DD."""
        return self.figures.day

    def as_dict(self) -> dict[str, object]:
        """``shop_id``, ``agent``, ``day``, then the §3 figures in contract order."""
        row = self.figures.as_dict()
        return {"shop_id": self.shop_id, "agent": self.agent, "day": row.pop("day"),
                **{k: v for k, v in row.items() if k != "shop_id"}}


@dataclass(slots=True)
class ViolationCounts:
    """Flagged findings by severity."""

    critical: int = 0
    warning: int = 0
    info: int = 0

    def add(self, severity: str) -> None:
        """Count one finding of ``severity``."""
        setattr(self, severity, getattr(self, severity) + 1)

    def as_dict(self) -> dict[str, int]:
        """``violations_critical``, ``violations_warning``, ``violations_info``."""
        return {f"violations_{s}": getattr(self, s) for s in SEVERITIES}


@dataclass
class Tally:
    """Outcome-driven extras for the backfill report; enable only what is asked for.

    ``by_agent`` gives per-(shop, agent, day) rows (read from the engine), ``violations``
    counts findings per shop-day (and per agent-day with ``by_agent``), ``hours`` counts
    counted breached waits by the local hour of their start (for the HTML summary).
    """

    engine: Engine
    by_agent: bool = False
    violations: bool = False
    hours: bool = False
    shop_violations: dict[tuple[str, int], ViolationCounts] = field(default_factory=dict)
    agent_violations: dict[tuple[str, str, int], ViolationCounts] = field(default_factory=dict)
    breach_hours: dict[str, list[int]] = field(default_factory=dict)

    # -- listener -----------------------------------------------------------------------------

    def on_event(self, event: ChatEvent, applied: Applied) -> None:
        """Fold one applied event's outcomes and findings in."""
        if applied.outcomes and self.hours:
            self._outcomes(applied.outcomes)
        flagged = applied.flagged
        if flagged is not None and self.violations:
            self._violations(flagged)

    def on_breaches(self, breaches: Iterable[WaitBreached]) -> None:
        """Fold in breaches declared by the watermark or at end of input."""
        if self.hours:
            for breach in breaches:
                self._outcomes((breach,))

    def on_skipped(self, outcome: str) -> None:
        """Nothing to count for a skipped line."""

    # -- outcomes -----------------------------------------------------------------------------

    def _outcomes(self, outcomes: Iterable[Outcome]) -> None:
        retracted = False
        for o in outcomes:
            if isinstance(o, BreachRetracted):
                retracted = True  # the WaitClosed that follows says which wait it was
            elif not isinstance(o, WaitBreached | WaitClosed) or not o.counted:
                continue
            elif isinstance(o, WaitBreached):
                self._hour(o.conversation_id, o.shop_id, o.start_ms, 1)
            else:
                if retracted:
                    self._hour(o.conversation_id, o.shop_id, o.start_ms, -1)
                retracted = False

    def _hour(self, conversation_id: str, shop: str, start_ms: int, amount: int) -> None:
        conv = self.engine.conversations[conversation_id]
        _, tz = self.engine.policies.resolve(conv.platform, shop)
        hour = datetime.fromtimestamp(start_ms / 1000, tz).hour
        counts = self.breach_hours.get(shop)
        if counts is None:
            counts = self.breach_hours[shop] = [0] * 24
        counts[hour] += amount

    def _violations(self, flagged: ContentFlagged) -> None:
        shop_counts = self.shop_violations.get((flagged.shop_id, flagged.day))
        if shop_counts is None:
            shop_counts = self.shop_violations[(flagged.shop_id, flagged.day)] = \
                ViolationCounts()
        agent_counts = None
        if self.by_agent:
            key = (flagged.shop_id, flagged.agent, flagged.day)
            agent_counts = self.agent_violations.get(key)
            if agent_counts is None:
                agent_counts = self.agent_violations[key] = ViolationCounts()
        for severity in flagged.severities:
            shop_counts.add(severity)
            if agent_counts is not None:
                agent_counts.add(severity)

    # -- read-outs ----------------------------------------------------------------------------

    def agent_report(self, retired: AgentRows | None = None) -> list[AgentFigures]:
        """Per-agent rows with counted waits, sorted by shop, agent, then day.

        ``retired``: the rows of agent-days the engine forgot (``--retention-hours``).
        """
        found = {key: rec.figures(key[0], key[2])
                 for key, rec in self.engine.agent_book().items() if rec.waits}
        found.update(retired or {})
        rows = [AgentFigures(shop, agent, figures)
                for (shop, agent, _), figures in found.items()]
        rows.sort(key=lambda r: (r.shop_id, r.agent, r.day))
        return rows


def day_ordinal(day: str) -> int:
    """``"2026-11-11"`` -> the proleptic ordinal the core keys days by."""
    return date.fromisoformat(day).toordinal()


def report_rows(shop_rows: Sequence[DailyFigures], tally: Tally | None, *,
                by_agent: bool = False, violations: bool = False,
                retired_agents: AgentRows | None = None) -> list[dict[str, object]]:
    """The report's JSON objects.

    Without options: exactly the §3 rows. ``by_agent``: per-agent rows instead. ``violations``:
    ``violations_critical``/``_warning``/``_info`` appended to each row, and a row (with zero
    figures) for every shop-day (agent-day) that has findings but no counted waits, so no
    finding is lost.
    """
    if not by_agent:
        rows = [r.as_dict() for r in shop_rows]
        if violations and tally is not None:
            _add_violations(rows, tally.shop_violations, ("shop_id", "day"),
                            lambda shop, day: DayTotals().figures(shop, day).as_dict())
        return rows
    assert tally is not None, "by_agent needs a Tally with by_agent=True"
    rows = [r.as_dict() for r in tally.agent_report(retired_agents)]
    if violations:
        _add_violations(rows, tally.agent_violations, ("shop_id", "agent", "day"),
                        lambda shop, agent, day: AgentFigures(
                            shop, agent, DayTotals().figures(shop, day)).as_dict())
    return rows


def _add_violations(rows: list[dict[str, object]],
                    counts: Mapping[tuple[Any, ...], ViolationCounts], key_fields: tuple[str, ...],
                    empty_row: Callable[..., dict[str, object]]) -> None:
    seen: set[tuple[Any, ...]] = set()
    for row in rows:
        key = tuple(day_ordinal(str(row[f])) if f == "day" else row[f] for f in key_fields)
        seen.add(key)
        row.update((counts.get(key) or ViolationCounts()).as_dict())
    for key, found in counts.items():
        if key not in seen:
            row = empty_row(*key)
            row.update(found.as_dict())
            rows.append(row)
    rows.sort(key=lambda r: tuple(str(r[f]) for f in key_fields))
