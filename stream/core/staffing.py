"""Staffing (DOMAIN.md §6): seed 004's headcount formula, and the agents needed now by Erlang C.

Two questions, one module, no clock and no I/O:

* **A sale day's headcount** (seed 004). pre-sale agents = sales ÷ average order value × share
  of sales through chat ÷ inquiry conversion rate ÷ the most consultations one agent handles a
  day; after-sale agents = orders × return rate ÷ that maximum. :func:`headcount` computes both
  from :class:`SaleInputs`; :func:`hourly_plan` spreads the day's inquiries over the hours by
  an observed profile and sizes each hour with Erlang C.
* **Agents needed now.** :class:`StaffingBook` keeps, per shop, a sliding window of
  ``WINDOW_MS`` of event time: waits opened (the arrival rate), waits closed by bots (which
  need no agent), and agent replies with the time the replying agent was busy on each. From
  these and a KPI's (window, target), :meth:`StaffingBook.advise` gives the agents needed by
  Erlang C, next to the agents active (who replied within the window).

**Handling time** is the time an agent is busy per wait, recovered from the reply stream the
way a single server's service times are recovered from arrivals and departures: busy = reply
− max(wait start, the same agent's previous reply). An agent who was free when the buyer
wrote was busy from the wait's start; one who was answering someone else started on this wait
when that earlier reply went out. Concurrency is already inside this figure: an agent working
three chats at once replies three times as often, so the busy time per reply is a third.
That is why the open waits per active agent (``concurrency`` in :class:`Advice`) are shown to
the supervisor but are not a second input to Erlang C: dividing again would count them twice,
and the ratio measured from the current load would only echo the agents already there.

**As contact centres size it** (:func:`size`, :class:`Sizing`). A contact's handling ``h``
and the contacts an agent holds at once ``c`` (chat concurrency) enter Erlang C as the agent's
time per contact, ``h ÷ c``. From a log both are observed (:attr:`ShopLoad.concurrency_total`:
Σ held ÷ Σ busy; ``h`` = the mean held time per reply), so ``h ÷ c`` is the busy time per
reply above and nothing is counted twice; a given concurrency asks what the same chats
need when agents hold more or fewer at once. Each interval gets its agents on duty, service
level, occupancy (traffic ÷ agents), average wait (Erlang C's average speed of answer), and
the agents to roster after shrinkage (breaks, meetings, absence: on duty ÷ (1 − shrinkage),
rounded up exactly by :func:`roster_need`). The textbook check, 100 contacts per 30 minutes,
180 s handling, 80 % picked up within 20 s: 14 on duty, 0.888, 0.714, 7.8 s, 20 rostered at
30 % shrinkage.

**Service level.** A chat wait closes at the agent's reply, which comes after the agent has
worked on it, so a wait is answered within the KPI window ``T`` when the queueing delay plus
the handling time is within ``T`` (an idle agent still takes the handling time to answer).
:func:`service_level` is that probability under Erlang C's assumptions, built on the
library's (``call_center_tools``) probability of waiting; :func:`wait_level` is the library's
own call-centre service level (delay only), kept for comparison. Only the search for the
smallest number of agents that meets a target is written here. A target above
:func:`reachable` (the share of handlings shorter than the window) needs shorter handling,
not more agents: the advice is then None.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction

from call_center_tools import calc_service_level, erlang_c

from stream.core.events import AGENT, BOT
from stream.core.reply_window import Outcome, WaitClosed, WaitOpened

WINDOW_MS = 15 * 60 * 1000  # the sliding window of event time for rates and active agents
MIN_SPAN_MS = 60 * 1000  # a window younger than this is taken as this long (no wild rates)
MAX_AGENTS = 100_000  # the search for agents stops here (an absurd load, not a shop)
DEFAULT_KPI = "default"
HELD_CAP_MS = 5 * 60 * 1000  # a wait counts as in an agent's hands for at most this long
DEFAULT_SHRINKAGE = Decimal("0.30")  # breaks, meetings, absence: the contact centres' usual share
REPLY = "reply"  # a contact is in time when the reply comes within the window (queue + handling)
PICKUP = "pickup"  # in time when an agent takes it within the window (queue only: call centres)


# --- Erlang C ---------------------------------------------------------------------------------


def _check(rate_per_s: float, handle_s: float, target: float) -> None:
    if rate_per_s < 0 or handle_s <= 0:
        raise ValueError(f"arrival rate {rate_per_s!r}/s must be >= 0 and handling time "
                         f"{handle_s!r} s > 0")
    if not 0 < target < 1:
        raise ValueError(f"service-level target {target!r} must lie strictly between 0 and 1 "
                         f"(Erlang C never promises every wait)")


def wait_level(rate_per_s: float, handle_s: float, agents: int, answer_s: float) -> float:
    """The library's Erlang C service level: share of waits picked up within ``answer_s``.

    P(queueing delay <= ``answer_s``), as a call centre counts it (the call is answered when an
    agent takes it). 0 when the agents cannot keep up (traffic >= agents); 1 with no traffic.
    """
    if rate_per_s <= 0:
        return 1.0
    traffic = rate_per_s * handle_s  # Erlangs
    if agents <= traffic:
        return 0.0
    level: float = calc_service_level(traffic, agents, erlang_c(traffic, agents), answer_s,
                                      handle_s)
    return level


def service_level(rate_per_s: float, handle_s: float, agents: int, window_s: float) -> float:
    """Share of chat waits answered within ``window_s`` with ``agents`` agents.

    A chat wait closes at the reply, after the agent's handling, so it is answered in time
    when queueing delay + handling time <= window. With Erlang C's assumptions (Poisson
    arrivals, exponential handling with mean ``handle_s``, first come first served) the
    delay is 0 with probability 1 - Pw and otherwise exponential with rate (N - A) / h, so
    the response time is that plus an exponential of rate 1 / h, whose tail is
    P(R > t) = (1 - Pw) e^(-t/h) + Pw (a e^(-t/h) - b e^(-a t)) / (a - b), a = (N - A)/h,
    b = 1/h (and Pw e^(-t/h)(1 + t/h) when a = b): the textbook M/M/c response-time
    distribution, with Pw the library's Erlang C.
    """
    if rate_per_s <= 0:
        return 1.0
    traffic = rate_per_s * handle_s
    if agents <= traffic:
        return 0.0
    waiting = float(erlang_c(traffic, agents))
    b = 1 / handle_s
    a = (agents - traffic) / handle_s
    handled_late = math.exp(-b * window_s)
    if math.isclose(a, b, rel_tol=1e-9):
        queued_late = handled_late * (1 + b * window_s)
    else:
        queued_late = (a * handled_late - b * math.exp(-a * window_s)) / (a - b)
    return 1 - (1 - waiting) * handled_late - waiting * queued_late


def reachable(handle_s: float, window_s: float) -> float:
    """The best service level any number of agents can give: P(handling time <= window).

    With no queueing at all a wait is still answered only after its handling, so a target at
    or above this cannot be met by adding agents (shorten the handling instead).
    """
    return 1 - math.exp(-window_s / handle_s)


def agents_needed(rate_per_s: float, handle_s: float, window_s: float,
                  target: float) -> int | None:
    """The fewest agents whose service level within ``window_s`` meets ``target``.

    ``rate_per_s`` waits per second arrive, each keeps an agent busy ``handle_s`` seconds on
    average. None when no number of agents can meet the target (:func:`reachable`). Raises
    :class:`ValueError` for a target outside (0, 1) or a handling time <= 0.
    """
    _check(rate_per_s, handle_s, target)
    if rate_per_s == 0:
        return 0
    if target >= reachable(handle_s, window_s):
        return None
    agents = max(1, math.floor(rate_per_s * handle_s) + 1)  # fewer can never keep up
    while agents < MAX_AGENTS and service_level(rate_per_s, handle_s, agents, window_s) < target:
        agents += 1
    return agents


def pickup_agents_needed(rate_per_s: float, handle_s: float, answer_s: float,
                         target: float) -> int:
    """The fewest agents who pick up ``target`` of the contacts within ``answer_s``.

    The contact centres' service level (:func:`wait_level`: queueing delay only), which more
    agents always reach for a target below 1. Raises :class:`ValueError` like
    :func:`agents_needed`.
    """
    _check(rate_per_s, handle_s, target)
    if rate_per_s == 0:
        return 0
    agents = max(1, math.floor(rate_per_s * handle_s) + 1)
    while agents < MAX_AGENTS and wait_level(rate_per_s, handle_s, agents, answer_s) < target:
        agents += 1
    return agents


def average_wait(rate_per_s: float, handle_s: float, agents: int) -> float:
    """Erlang C's average speed of answer in seconds: P(wait) × handling ÷ (agents − traffic).

    Infinite when the agents cannot keep up (traffic >= agents); 0 with no traffic.
    """
    if rate_per_s <= 0:
        return 0.0
    traffic = rate_per_s * handle_s
    if agents <= traffic:
        return math.inf
    return float(erlang_c(traffic, agents)) * handle_s / (agents - traffic)


def roster_need(on_duty: int, shrinkage: Decimal) -> int:
    """Agents to roster so that ``on_duty`` remain after ``shrinkage``: ⌈on duty ÷ (1 − s)⌉.

    Exact: 21 on duty at 0.30 is 30, where binary floats make 21 ÷ (1 − 0.3) 30.000000000000004.
    """
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage {shrinkage} must lie in [0, 1)")
    return math.ceil(Fraction(on_duty) / (1 - Fraction(shrinkage)))


@dataclass(frozen=True, slots=True)
class Kpi:
    """A KPI for staffing: its name, window, service-level target and what answers in time.

    ``answered`` is :data:`REPLY` for a chat KPI (the reply comes within the window: queueing
    and handling, :func:`service_level`) or :data:`PICKUP` for the contact centres' service
    level (an agent takes the contact within the window, :func:`wait_level`).
    """

    name: str
    window_seconds: float
    target: float
    answered: str = REPLY


@dataclass(frozen=True, slots=True)
class Sizing:
    """Erlang C for one interval's load, as contact centres size it, with every figure shown.

    ``handle_seconds`` is one contact's handling and ``concurrency`` the contacts one agent
    holds at once, so each agent gives ``handle_seconds ÷ concurrency`` of its time to a
    contact (the arrival rate an agent absorbs is multiplied by the concurrency);
    ``traffic`` is the load in Erlangs of agent time. ``on_duty`` is None when no number of
    agents meets the KPI (a reply KPI whose window is too short for the handling), and then
    the figures that follow from it are None too. ``rostered`` is the on-duty need after
    ``shrinkage`` (:func:`roster_need`).
    """

    contacts_per_hour: float
    handle_seconds: float
    concurrency: float
    traffic: float
    shrinkage: Decimal
    on_duty: int | None
    service_level: float | None
    occupancy: float | None
    average_wait_seconds: float | None
    rostered: int | None


def size(rate_per_s: float, handle_s: float, kpi: Kpi, *, concurrency: float = 1.0,
         shrinkage: Decimal = DEFAULT_SHRINKAGE, max_occupancy: Decimal | None = None) -> Sizing:
    """Size one interval for ``kpi``: agents on duty and to roster, and what they achieve.

    ``rate_per_s`` contacts per second, each handled in ``handle_s`` seconds by an agent who
    holds ``concurrency`` contacts at once. ``max_occupancy`` (a share of the agents' time
    busy) adds agents until the occupancy is at most that: Erlang C alone lets a large team
    with a lenient window run at 99 %, which no team keeps up for a day.
    """
    if concurrency <= 0:
        raise ValueError(f"concurrency {concurrency!r} must be > 0")
    if max_occupancy is not None and not 0 < max_occupancy <= 1:
        raise ValueError(f"max occupancy {max_occupancy} must lie in (0, 1]")
    if kpi.answered not in (REPLY, PICKUP):
        raise ValueError(f"a KPI is answered by {REPLY!r} or {PICKUP!r}, not {kpi.answered!r}")
    agent_s = handle_s / concurrency
    on_duty = (pickup_agents_needed(rate_per_s, agent_s, kpi.window_seconds, kpi.target)
               if kpi.answered == PICKUP
               else agents_needed(rate_per_s, agent_s, kpi.window_seconds, kpi.target))
    traffic = rate_per_s * agent_s
    if on_duty is None:
        return Sizing(rate_per_s * 3600, handle_s, concurrency, traffic, shrinkage, None, None,
                      None, None, None)
    if max_occupancy is not None:
        on_duty = max(on_duty, math.ceil(Fraction(traffic) / Fraction(max_occupancy)))
    level = (wait_level if kpi.answered == PICKUP else service_level)(
        rate_per_s, agent_s, on_duty, kpi.window_seconds)
    return Sizing(rate_per_s * 3600, handle_s, concurrency, traffic, shrinkage, on_duty, level,
                  traffic / on_duty if on_duty else 0.0,
                  average_wait(rate_per_s, agent_s, on_duty), roster_need(on_duty, shrinkage))


def policy_kpis(window_seconds: float, target: float) -> list[Kpi]:
    """A shop's KPIs for staffing: for now one, its policy's window and target (``default``).

    The advice takes a list of (name, window, target), so platform KPI lists can replace this
    without changing the computation.
    """
    return [Kpi(DEFAULT_KPI, float(window_seconds), float(target))]


# --- live: the sliding window per shop --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advice:
    """The agents needed now for one shop and KPI, with every input it came from.

    ``agents_needed`` is None when no handling time has been observed yet (no agent has
    replied): the window has arrivals but nothing to size them with.
    """

    shop_id: str
    kpi: str
    window_seconds: float
    target: float
    arrivals: int  # waits needing an agent within the window
    span_seconds: float  # how much event time the window covers (up to WINDOW_MS)
    rate_per_hour: float
    handle_seconds: float | None
    agents_active: int
    open_waits: int
    concurrency: float | None  # open waits per active agent (shown, not an Erlang input)
    agents_needed: int | None


@dataclass(slots=True)
class ShopLoad:
    """One shop's sliding window: wait starts, bot closes, agent replies and who replied.

    Entries are appended in the order events are applied, which is event time up to the
    small disorder between conversations; trimming drops entries from the front while they
    are older than the window, so a late entry stays at most until the one before it goes.
    """

    opens: deque[int] = field(default_factory=deque)
    bot_closes: deque[int] = field(default_factory=deque)
    replies: deque[tuple[int, int]] = field(default_factory=deque)  # (reply ms, busy ms)
    last_reply: dict[str, int] = field(default_factory=dict)  # agent -> latest closing reply
    last_message: dict[str, int] = field(default_factory=dict)  # agent -> latest message
    first_ms: int | None = None  # the earliest event time seen (a young window is shorter)
    busy_total_ms: int = 0  # over the whole history: the fallback handling time, and `plan`'s
    replies_total: int = 0
    response_total_ms: int = 0  # Σ min(reply − wait start, HELD_CAP_MS): `plan`'s concurrency

    def trim(self, now_ms: int) -> None:
        """Forget entries older than the window ending at ``now_ms``."""
        horizon = now_ms - WINDOW_MS
        for times in (self.opens, self.bot_closes):
            while times and times[0] <= horizon:
                times.popleft()
        replies = self.replies
        while replies and replies[0][0] <= horizon:
            replies.popleft()

    @property
    def handle_seconds_total(self) -> float | None:
        """Mean busy time per agent reply over the whole history seen, in seconds."""
        return self.busy_total_ms / self.replies_total / 1000 if self.replies_total else None

    @property
    def concurrency_total(self) -> float | None:
        """Waits an agent answers at once, over the history: Σ held ÷ Σ busy.

        A wait is held from its start to the agent's reply, up to :data:`HELD_CAP_MS`: Σ held
        over an agent's replies is the time integral of the waits the agent had in hand, and
        Σ busy the time the agent had any, so their ratio is the mean number answered at once
        while answering anyone. The cap keeps a backlog out of it: a buyer left waiting for
        an hour was queued, not answered alongside the others (without it, four agents behind
        on a busy month look like 180 chats at once). The busy time per reply
        (:attr:`handle_seconds_total`) times this is the mean held time per reply, one chat's
        handling as a contact centre counts it.
        """
        return self.response_total_ms / self.busy_total_ms if self.busy_total_ms else None

    def handle_seconds(self) -> float | None:
        """Mean busy time per agent reply in the window, else over the history, else None."""
        if self.replies:
            busy = sum(b for _, b in self.replies)
            if busy > 0:
                return busy / len(self.replies) / 1000
        return self.handle_seconds_total

    def active(self, now_ms: int) -> int:
        """Agents whose latest message lies within the window ending at ``now_ms``."""
        horizon = now_ms - WINDOW_MS
        return sum(1 for ts in self.last_message.values() if ts > horizon)


class StaffingBook:
    """Per-shop sliding windows of arrivals and replies, fed by the engine's outcomes."""

    __slots__ = ("shops",)

    def __init__(self) -> None:
        self.shops: dict[str, ShopLoad] = {}

    def observe(self, shop_id: str, sender: str | None, agent_id: str | None, ts_ms: int,
                outcomes: Sequence[Outcome]) -> None:
        """Take one applied message: its sender, effective time and reply-window outcomes."""
        load = self.shops.get(shop_id)
        if load is None:
            load = self.shops[shop_id] = ShopLoad(first_ms=ts_ms)
        for outcome in outcomes:
            if isinstance(outcome, WaitOpened):
                load.opens.append(outcome.start_ms)
            elif isinstance(outcome, WaitClosed):
                if sender == BOT:
                    load.bot_closes.append(ts_ms)
                elif agent_id is not None:
                    previous = load.last_reply.get(agent_id, outcome.start_ms)
                    busy = max(ts_ms - max(outcome.start_ms, previous), 0)
                    load.replies.append((ts_ms, busy))
                    load.busy_total_ms += busy
                    load.replies_total += 1
                    load.response_total_ms += min(max(ts_ms - outcome.start_ms, 0),
                                                  HELD_CAP_MS)
                    load.last_reply[agent_id] = max(previous, ts_ms)
        if sender == AGENT and agent_id is not None:
            if ts_ms > load.last_message.get(agent_id, -1):
                load.last_message[agent_id] = ts_ms
        if len(load.opens) + len(load.replies) > 4096:  # keep busy shops' windows short
            load.trim(ts_ms)

    def advise(self, shop_id: str, now_ms: int, shop_kpis: Sequence[Kpi],
               open_waits: int = 0) -> list[Advice]:
        """The agents needed at event time ``now_ms`` for each KPI, and their inputs."""
        load = self.shops.get(shop_id)
        if load is None:
            load = ShopLoad(first_ms=now_ms)
        load.trim(now_ms)
        span_ms = WINDOW_MS
        if load.first_ms is not None:
            span_ms = min(WINDOW_MS, max(now_ms - load.first_ms, MIN_SPAN_MS))
        arrivals = max(len(load.opens) - len(load.bot_closes), 0)
        rate = arrivals / (span_ms / 1000)
        handle = load.handle_seconds()
        active = load.active(now_ms)
        out = []
        for kpi in shop_kpis:
            needed: int | None
            if arrivals == 0:
                needed = 0
            elif handle is None or handle <= 0:
                needed = None  # no handling observed (or replies in the same instant): unsized
            else:
                needed = agents_needed(rate, handle, kpi.window_seconds, kpi.target)
            out.append(Advice(shop_id, kpi.name, kpi.window_seconds, kpi.target, arrivals,
                              span_ms / 1000, rate * 3600, handle, active, open_waits,
                              open_waits / active if active else None, needed))
        return out


# --- seed 004: the sale day's headcount -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaleInputs:
    """The formula's inputs. Money is exact (``Decimal``, yuan); shares are fractions."""

    orders: Decimal  # expected paid orders on the day (sales ÷ average order value)
    chat_share: Decimal  # share of sales through chat (客服销售额占比)
    conversion_rate: Decimal  # paid buyers ÷ inquiries (询单转化率)
    max_per_agent: Decimal  # consultations one agent handles in a day (全天最大接待量)
    return_rate: Decimal  # refunded ÷ paid


@dataclass(frozen=True, slots=True)
class Headcount:
    """Seed 004's result: inquiries expected, and pre-sale and after-sale agents."""

    inquiries: Decimal
    presale_exact: Decimal
    aftersale_exact: Decimal

    @property
    def presale(self) -> int:
        """Pre-sale agents, rounded up (a fraction of an agent is an agent)."""
        return int(self.presale_exact.to_integral_value(ROUND_CEILING))

    @property
    def aftersale(self) -> int:
        """After-sale agents, rounded up."""
        return int(self.aftersale_exact.to_integral_value(ROUND_CEILING))


def orders_from_sales(sales: Decimal, avg_order_value: Decimal) -> Decimal:
    """Expected orders: sales ÷ average order value."""
    if avg_order_value <= 0:
        raise ValueError(f"average order value {avg_order_value} must be > 0")
    return sales / avg_order_value


def headcount(inputs: SaleInputs) -> Headcount:
    """Seed 004's formula.

    pre-sale = orders × chat share ÷ conversion rate ÷ max per agent (orders = sales ÷
    average order value); after-sale = orders × return rate ÷ max per agent.
    """
    if inputs.conversion_rate <= 0 or inputs.max_per_agent <= 0:
        raise ValueError(f"conversion rate {inputs.conversion_rate} and consultations per "
                         f"agent-day {inputs.max_per_agent} must be > 0")
    inquiries = inputs.orders * inputs.chat_share / inputs.conversion_rate
    return Headcount(inquiries, inquiries / inputs.max_per_agent,
                     inputs.orders * inputs.return_rate / inputs.max_per_agent)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} must lie in [0, 100]")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True, slots=True)
class HourPlan:
    """One hour of the sale day: inquiries and waits expected, and its Erlang C sizing."""

    hour: int
    inquiries: float
    waits: float
    sizing: Sizing

    @property
    def agents(self) -> int | None:
        """Agents on duty (None: the KPI cannot be met with this handling time)."""
        return self.sizing.on_duty


def hourly_plan(inquiries: float, profile: Sequence[float], waits_per_inquiry: float,
                handle_s: float, kpi: Kpi, *, concurrency: float = 1.0,
                shrinkage: Decimal = DEFAULT_SHRINKAGE,
                max_occupancy: Decimal | None = None) -> list[HourPlan]:
    """Spread a day's inquiries over 24 local hours by ``profile`` and size each by Erlang C.

    ``profile`` is 24 non-negative weights (wait starts observed per local hour); each hour's
    waits arrive at (inquiries × share of the hour × waits per inquiry) ÷ 3600 per second and
    are sized by :func:`size` (``handle_s`` per wait, ``concurrency`` waits per agent at once).
    """
    if len(profile) != 24:
        raise ValueError(f"an hourly profile has 24 weights, not {len(profile)}")
    total = sum(profile)
    if total <= 0:
        raise ValueError("the hourly profile is empty: no waits were observed")
    out = []
    for hour, weight in enumerate(profile):
        hour_inquiries = inquiries * weight / total
        waits = hour_inquiries * waits_per_inquiry
        out.append(HourPlan(hour, hour_inquiries, waits,
                            size(waits / 3600, handle_s, kpi, concurrency=concurrency,
                                 shrinkage=shrinkage, max_occupancy=max_occupancy)))
    return out
