"""Per-agent daily figures (DOMAIN.md §3: per agent and business day).

Kept from the engine's outcomes as they happen, per partition:

* ``waits``, ``breaches``, ``responses``, ``response_ms``, ``slow_replies`` — the base (policy)
  waits held by the agent (rule 6, a transfer hands an open wait over), counted waits only; a
  slow reply is a response slower than ``slow_threshold_seconds``; ``consulted`` and
  ``unreplied`` the buyers of those waits (and of the breached ones): the agent's §3 daily
  figures (:meth:`AgentDay.figures`, the ``--report --by agent`` rows);
* ``agent_messages`` / ``buyer_messages`` — agent messages the agent sent and customer
  messages in conversations the agent held (their ratio is ``answer_ratio``, 答问比), by the
  local date of the message, any hour;
* ``max_concurrent`` — the most counted base waits the agent held open at once (opened and
  not yet answered), in this partition's event order;
* ``violations`` — flagged agent messages (``ContentFlagged``) of the agent;
* per KPI: the same units, breaches and first responses as the shop figures, for the waits
  the agent held.

Unlike the shop figures these are not rebuilt from the rows after a restart: a restarted
worker's agent figures of the current day start from the conversations' open waits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stream.core.distinct import shift_buyer
from stream.core.figures import DailyFigures, DayTotals
from stream.core.kpi import BUYER_UNIT, Kpi
from stream.core.kpi_figures import KpiFigures, KpiTotals, shift


@dataclass(slots=True)
class AgentDay:
    """One agent's sums for one shop and business day."""

    waits: int = 0
    breaches: int = 0
    responses: int = 0
    slow_replies: int = 0
    agent_messages: int = 0
    buyer_messages: int = 0
    max_concurrent: int = 0
    violations: int = 0
    response_ms: int = 0
    consulted: Counter[str] = field(default_factory=Counter)  # buyer -> counted waits held
    unreplied: Counter[str] = field(default_factory=Counter)  # buyer -> those breached
    kpis: dict[str, KpiTotals] = field(default_factory=dict)

    @property
    def answer_ratio(self) -> float | None:
        """Agent messages per customer message (答问比); None without customer messages."""
        return self.agent_messages / self.buyer_messages if self.buyer_messages else None

    def merge(self, other: AgentDay) -> None:
        """Add another partition's sums (the concurrency peak is the higher one)."""
        for name in ("waits", "breaches", "responses", "response_ms", "slow_replies",
                     "agent_messages", "buyer_messages", "violations"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_concurrent = max(self.max_concurrent, other.max_concurrent)
        self.consulted.update(other.consulted)
        self.unreplied.update(other.unreplied)
        for kpi, t in other.kpis.items():
            mine = self.kpis.get(kpi)
            if mine is None:
                mine = self.kpis[kpi] = KpiTotals(t.unit)
            mine.merge(t)

    def figures(self, shop_id: str, day: int) -> DailyFigures:
        """The agent's §3 daily figures: the shop's definitions over the waits it held."""
        totals = DayTotals([self.waits, self.breaches, self.responses, self.response_ms,
                            self.responses - self.slow_replies],
                           Counter(self.consulted), Counter(self.unreplied))
        return totals.figures(shop_id, day)

    def kpi_figures(self, shop_id: str, day: int, name: str, unit: str) -> KpiFigures:
        """One KPI's figures for this agent-day."""
        return (self.kpis.get(name) or KpiTotals(unit)).figures(shop_id, day, name)

    def row(self, kpis: Iterable[tuple[str, str]], shop_id: str, day: int) -> dict[str, Any]:
        """The read-out of :meth:`Engine.agent_days` (``agent`` added by the caller).

        ``kpis``: (name, unit) of the KPIs of the shop-day.
        """
        per_kpi = []
        for name, unit in kpis:
            f = self.kpi_figures(shop_id, day, name, unit)
            per_kpi.append({"kpi": name, "unit": unit, "units": f.units,
                            "breached": f.units_breached, "rate": f.rate,
                            "first_response_seconds": f.first_response_seconds})
        return {"waits": self.waits, "breaches": self.breaches, "responses": self.responses,
                "slow_replies": self.slow_replies, "violations": self.violations,
                "agent_messages": self.agent_messages, "buyer_messages": self.buyer_messages,
                "answer_ratio": self.answer_ratio, "max_concurrent": self.max_concurrent,
                "kpis": per_kpi}


class AgentBook:
    """Agent-days of one partition, and the open waits each agent holds now."""

    __slots__ = ("days", "holding")

    def __init__(self) -> None:
        self.days: dict[tuple[str, str, int], AgentDay] = {}
        self.holding: dict[tuple[str, str], int] = {}

    def day(self, shop: str, agent: str, day: int) -> AgentDay:
        """The sums of one agent-day, created empty."""
        key = (shop, agent, day)
        found = self.days.get(key)
        if found is None:
            found = self.days[key] = AgentDay()
        return found

    def kpi(self, shop: str, agent: str, day: int, kpi: Kpi, buyer: str, units: int = 0,
            breached: int = 0, first_n: int = 0, first_ms: int = 0) -> None:
        """Add to one KPI of one agent-day."""
        kpis = self.day(shop, agent, day).kpis
        totals = kpis.get(kpi.name)
        if totals is None:
            totals = kpis[kpi.name] = KpiTotals(kpi.unit)
        totals.units += units
        totals.breached += breached
        totals.first_n += first_n
        totals.first_ms += first_ms
        if kpi.unit == BUYER_UNIT:  # buyer -> that buyer's counted (breached) waits held
            shift(totals.buyers, buyer, units)
            shift(totals.unreplied, buyer, breached)

    def move_kpi(self, shop: str, old: str, new: str, day: int, kpi: Kpi, buyer: str) -> None:
        """Hand one open, unbreached counted wait of a KPI from ``old`` to ``new``."""
        self.kpi(shop, old, day, kpi, buyer, units=-1)
        self.kpi(shop, new, day, kpi, buyer, units=1)

    def opened(self, shop: str, agent: str, day: int, at_day: int, buyer: str) -> None:
        """A counted base wait of ``day`` opened, held by ``agent`` (``at_day``: today)."""
        rec = self.day(shop, agent, day)
        rec.waits += 1
        rec.consulted[buyer] += 1
        self.hold(shop, agent, at_day)

    def breached(self, shop: str, agent: str, day: int, buyer: str, amount: int) -> None:
        """A counted base wait of ``day`` held by ``agent`` breached (``amount`` -1: retracted)."""
        rec = self.day(shop, agent, day)
        rec.breaches += amount
        shift_buyer(rec.unreplied, buyer, amount < 0, amount > 0)

    def answered(self, shop: str, agent: str, day: int, response_ms: int, slow: bool) -> None:
        """A counted base wait of ``day`` held by ``agent`` was answered after ``response_ms``."""
        rec = self.day(shop, agent, day)
        rec.responses += 1
        rec.response_ms += response_ms
        rec.slow_replies += slow
        self.closed(shop, agent)

    def closed(self, shop: str, agent: str) -> None:
        """A counted base wait held by ``agent`` was answered."""
        key = (shop, agent)
        left = self.holding.get(key, 0) - 1
        if left > 0:
            self.holding[key] = left
        else:
            self.holding.pop(key, None)

    def moved(self, shop: str, old: str, new: str, day: int, at_day: int, buyer: str) -> None:
        """A counted open (unbreached) base wait of ``day`` was handed from ``old`` to ``new``."""
        self.closed(shop, old)
        self.hold(shop, new, at_day)
        before = self.day(shop, old, day)
        before.waits -= 1
        shift_buyer(before.consulted, buyer, True, False)
        after = self.day(shop, new, day)
        after.waits += 1
        after.consulted[buyer] += 1

    def hold(self, shop: str, agent: str, at_day: int) -> None:
        """One more open wait held by ``agent`` (``at_day``: the day it is held on)."""
        key = (shop, agent)
        now = self.holding[key] = self.holding.get(key, 0) + 1
        rec = self.day(shop, agent, at_day)
        if now > rec.max_concurrent:
            rec.max_concurrent = now

    def forget_before(self, day: int) -> None:
        """Drop agent-days before ``day``."""
        for key in [k for k in self.days if k[2] < day]:
            del self.days[key]
