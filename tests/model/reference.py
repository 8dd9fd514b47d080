"""An executable reading of DOMAIN.md §3 (reply window, daily figures, platform KPIs) and §7.

Written from DOMAIN.md alone, for clarity and not for speed: every figure is computed in
passes over plain lists, each pass named after the rule it implements. :func:`run_model`
takes the decoded events of one log in arrival order and returns, at end of input (§3 rule 8:
every wait still open is breached), the figures the engine reports:

* ``daily``: the §3 daily figures per (shop, day), shaped like ``backfill --report`` rows;
* ``kpis``: per (shop, day, KPI) ``unit, units, units_breached, rate,
  first_response_seconds``, like ``backfill --kpi-report``;
* ``agent_kpis``: the same per (shop, agent, day, KPI), like ``--kpi-report --by agent``;
* ``agent_daily``: the §3 daily figures per (shop, agent, day), like ``--report --by agent``
  (rule 6: every wait belongs to exactly one agent);
* ``breaches``: the breach records' ids, with their KPI, agent and whether counted;
* ``conversion``: the §7 figures per (shop, day), and ``report``: the ``--report`` rows
  (the §3 figures, with the §7 ones when the log has orders).

The KPI definitions are DOMAIN.md's tables (``PLATFORM_POLICIES``, ``KPIS``,
``PLATFORM_KPIS``), not the configuration: the configuration's defaults are checked against
these tables separately. The settings' policies give the shops' time zones and the session gap.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from stream.core.events import ChatEvent
from stream.core.policy import PolicyBook

UNASSIGNED = "unassigned"
HOUR_MS = 3_600_000
# §7 "Unpaid orders": the defaults of unpaid_reminder_minutes and unpaid_expiry_hours
REMINDER_MS = 30 * 60_000
EXPIRY_MS = 24 * HOUR_MS
DAY_MS = 24 * HOUR_MS


# --- DOMAIN.md's tables --------------------------------------------------------------------------


@dataclass(frozen=True)
class Hours:
    """Counted hours ``[start, end)`` of the local day, in milliseconds after midnight."""

    start_ms: int
    end_ms: int

    def counts(self, local: datetime) -> bool:
        """Whether a wait (session) starting at this local time is counted."""
        since_midnight = (local - local.replace(hour=0, minute=0, second=0, microsecond=0))
        ms = since_midnight // timedelta(milliseconds=1)
        return self.start_ms <= ms < self.end_ms


def hours(start: int, end: int) -> Hours:
    """Counted hours from ``start`` o'clock to ``end`` o'clock (24: midnight)."""
    return Hours(start * HOUR_MS, end * HOUR_MS)


@dataclass(frozen=True)
class PlatformPolicy:
    """§3 "Platform policies": the base wait behind the daily figures."""

    window_seconds: int = 300
    counted: Hours = hours(8, 23)
    bots_close: bool = False
    slow_threshold_seconds: int = 15
    conversion_window_hours: int = 24


PLATFORM_POLICIES = {"pdd": PlatformPolicy(bots_close=True), "taobao": PlatformPolicy()}
OTHER_POLICY = PlatformPolicy()


@dataclass(frozen=True)
class Kpi:
    """§3 "Platform KPIs": one row of the KPI table."""

    name: str
    window_seconds: int
    replies: str  # "any" or "human"
    unit: str  # "buyer", "round" or "session_first"
    counted: Hours


KPIS = {k.name: k for k in (
    Kpi("pdd_5min", 300, "any", "buyer", hours(8, 23)),
    Kpi("pdd_3min_human", 180, "human", "buyer", hours(8, 23)),
    Kpi("taobao_3min_human", 180, "human", "round", hours(8, 24)),
    Kpi("jd_30s_first", 30, "human", "session_first", hours(9, 23)),
    Kpi("douyin_3min_human", 180, "human", "round", hours(8, 23)),
    Kpi("kuaishou_3min_human", 180, "human", "buyer", hours(8, 23)),
)}
PLATFORM_KPIS = {"pdd": ("pdd_5min", "pdd_3min_human"), "taobao": ("taobao_3min_human",),
                 "jd": ("jd_30s_first",), "douyin": ("douyin_3min_human",),
                 "kuaishou": ("kuaishou_3min_human",)}
# "any other -> the platform policy's own window as a buyer KPI". DOMAIN.md gives it no name;
# the reports call it ``reply_rate``.
OTHER_KPI_NAME = "reply_rate"


def policy_of(platform: str) -> PlatformPolicy:
    """The platform policy (§3 table)."""
    return PLATFORM_POLICIES.get(platform, OTHER_POLICY)


def kpis_of(platform: str) -> list[Kpi]:
    """The platform's KPI list (§3, "A platform's KPI list")."""
    if platform in PLATFORM_KPIS:
        return [KPIS[name] for name in PLATFORM_KPIS[platform]]
    policy = policy_of(platform)
    return [Kpi(OTHER_KPI_NAME, policy.window_seconds, "any", "buyer", policy.counted)]


# --- what one conversation holds -----------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """An event after rule 7: not a duplicate, its ``ts`` raised to its conversation's latest."""

    event: ChatEvent
    ts: int


@dataclass(frozen=True)
class WaitRule:
    """Which waits to run: a window and which replies close them (rule 2, KPI ``replies``)."""

    window_ms: int
    bots_close: bool

    def closes(self, e: ChatEvent) -> bool:
        """Rule 2: an agent message, or a bot message where bot replies count."""
        return e.type == "message" and (
            e.sender == "agent" or (e.sender == "bot" and self.bots_close))


@dataclass
class Wait:
    """One wait (or, for ``session_first``, one session) and its outcome."""

    conversation_id: str
    shop_id: str
    buyer_id: str
    seq: int  # 1, 2, ... within the conversation and the rule
    start: int
    deadline: int
    reply: int | None = None  # the first closing reply's time
    agent: str = UNASSIGNED  # rule 6, after any hand-over by a transfer
    opened_by: str = ""  # the event id of the customer message that opened it
    # The agent holding the conversation when the reply came (rule 6, transfers until then):
    # a session's first response is that agent's (DOMAIN.md does not say; the engine does so).
    holder_at_reply: str = UNASSIGNED

    @property
    def breached(self) -> bool:
        """Rule 4 (and rule 8: never answered means breached)."""
        return self.reply is None or self.reply > self.deadline


def is_customer_message(e: ChatEvent) -> bool:
    """A message from a customer buyer (``ad`` and ``peer`` buyers are excluded, §2)."""
    return e.type == "message" and e.sender == "buyer" and e.buyer_kind == "customer"


def apply_rule_7(events: list[ChatEvent]) -> list[Applied]:
    """Rule 7 and §7: drop duplicates, raise a late ``ts`` to its conversation's latest.

    A duplicate is a repeated event id (the last 32 of each conversation) or a repeated
    (order, status) other than ``refunded``; it is dropped, so it moves no time forward.
    """
    recent: dict[str, list[str]] = defaultdict(list)
    order_statuses: set[tuple[str, str, str]] = set()
    latest: dict[str, int] = {}
    out: list[Applied] = []
    for e in events:
        conv = e.conversation_id
        if e.event_id in recent[conv]:
            continue
        recent[conv] = (recent[conv] + [e.event_id])[-32:]
        if e.type == "order" and e.status != "refunded":
            status = (e.shop_id, e.order_id or "", e.status or "")
            if status in order_statuses:
                continue
            order_statuses.add(status)
        ts = max(e.ts_ms, latest.get(conv, e.ts_ms))
        latest[conv] = ts
        out.append(Applied(e, ts))
    return out


def holder_changes(a: Applied) -> str | None:
    """Rule 6: the agent who holds the conversation after this event, if it changes it."""
    e = a.event
    if e.type == "transfer":
        return e.agent_id
    if e.type == "message" and e.sender == "agent":
        return e.agent_id
    return None


def run_waits(conversation: list[Applied], rule: WaitRule) -> list[Wait]:
    """Rules 1, 2, 4, 6 and 8 over one conversation: its waits with their replies and agents."""
    waits: list[Wait] = []
    holder = UNASSIGNED
    open_wait: Wait | None = None
    for a in conversation:
        e = a.event
        if open_wait is not None and rule.closes(e):
            open_wait.reply = a.ts
            open_wait = None
        elif open_wait is not None and e.type == "transfer" and a.ts <= open_wait.deadline:
            open_wait.agent = e.agent_id or UNASSIGNED  # rule 6: the hand-over
        if open_wait is None and is_customer_message(e):
            open_wait = Wait(e.conversation_id, e.shop_id, e.buyer_id, len(waits) + 1, a.ts,
                             a.ts + rule.window_ms, agent=holder, opened_by=e.event_id)
            waits.append(open_wait)
        holder = holder_changes(a) or holder
    return waits


def is_session_message(e: ChatEvent) -> bool:
    """What keeps a session alive: messages of buyer, agent or bot (not system, read, end)."""
    return e.type == "message" and e.sender in ("buyer", "agent", "bot")


def run_sessions(conversation: list[Applied], rule: WaitRule, gap_ms: int) -> list[Wait]:
    """``session_first``: each session, from its first customer message to its first reply.

    A session starts with a customer message when the conversation has no earlier message or
    its previous message came ``gap_ms`` or more before. A session is answered by the first
    reply the rule counts; it is held like a wait (rule 6, transfers hand it over).
    """
    sessions: list[Wait] = []
    holder = UNASSIGNED
    previous_message: int | None = None
    waiting: Wait | None = None  # the current session, until its first counted reply
    for a in conversation:
        e = a.event
        starts = is_customer_message(e) and (
            previous_message is None or a.ts - previous_message >= gap_ms)
        if starts:
            waiting = Wait(e.conversation_id, e.shop_id, e.buyer_id, len(sessions) + 1, a.ts,
                           a.ts + rule.window_ms, agent=holder)
            sessions.append(waiting)
        elif waiting is not None and rule.closes(e):
            waiting.reply = a.ts
            waiting.holder_at_reply = holder
            waiting = None
        elif waiting is not None and e.type == "transfer" and a.ts <= waiting.deadline:
            waiting.agent = e.agent_id or UNASSIGNED
        if is_session_message(e):
            previous_message = a.ts
        holder = holder_changes(a) or holder
    return sessions


# --- the figures -------------------------------------------------------------------------------


def mean_seconds(durations_ms: list[int]) -> float | None:
    """A mean duration in seconds; None without any."""
    return sum(durations_ms) / len(durations_ms) / 1000 if durations_ms else None


def rate(units: int, breached: int) -> float | None:
    """(units - units breached) / units; None without units."""
    return (units - breached) / units if units else None


def yuan(fen: int) -> str:
    """An amount in fen as a decimal string of yuan (``19.90``)."""
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


@dataclass
class Conversation:
    """One conversation's applied events and where it belongs."""

    conversation_id: str
    shop_id: str
    buyer_id: str
    platform: str
    tz: ZoneInfo
    events: list[Applied] = field(default_factory=list)

    def local(self, ts: int) -> datetime:
        """An event time in the shop's time zone."""
        return datetime.fromtimestamp(ts // 1000, self.tz) + timedelta(milliseconds=ts % 1000)

    def day(self, ts: int) -> date:
        """The business day of a time (§3 rule 5)."""
        return self.local(ts).date()


@dataclass
class ModelResult:
    """Everything :func:`run_model` computes (see the module docstring)."""

    daily: dict[tuple[str, str], dict[str, Any]]
    kpis: dict[tuple[str, str, str], dict[str, Any]]
    agent_kpis: dict[tuple[str, str, str, str], dict[str, Any]]
    agent_daily: dict[tuple[str, str, str], dict[str, Any]]
    breaches: dict[str, dict[str, Any]]
    conversion: dict[tuple[str, str], dict[str, Any]]
    has_orders: bool

    def report(self) -> list[dict[str, Any]]:
        """The ``backfill --report`` rows, sorted by shop then day (§3, and §7 with orders)."""
        if not self.has_orders:
            return [self.daily[k] for k in sorted(self.daily)]
        empty_day = {"consultations": 0, "unreplied": 0, "reply_rate": None, "waits": 0,
                     "waits_breached": 0, "responses": 0, "mean_response_seconds": None,
                     "fast_responses": 0}
        rows = []
        for key in sorted(set(self.daily) | set(self.conversion)):
            shop, day = key
            row = dict(self.daily.get(key) or {"shop_id": shop, "day": day, **empty_day})
            conversion = self.conversion.get(key) or empty_conversion()
            row.update(conversion)
            rows.append(row)
        return rows


def empty_conversion() -> dict[str, Any]:
    """The §7 figures of a day with nothing."""
    return {"inquiries": 0, "paid_buyers": 0, "conversion_rate": None, "chat_sales": "0.00",
            "refunds": "0.00", "avg_order_value": None, "silent_orders": 0,
            "silent_sales": "0.00", "unpaid_orders": 0, "unpaid_amount": "0.00",
            "unpaid_recovered": 0}


def group_conversations(applied: list[Applied], policies: PolicyBook) -> list[Conversation]:
    """The applied events per conversation, in arrival order; platform from the first event."""
    conversations: dict[str, Conversation] = {}
    for a in applied:
        e = a.event
        conv = conversations.get(e.conversation_id)
        if conv is None:
            profile = policies.shops.get(e.shop_id)
            tz = ZoneInfo(profile.timezone if profile else policies.default_timezone)
            conv = conversations[e.conversation_id] = Conversation(
                e.conversation_id, e.shop_id, e.buyer_id, e.platform, tz)
        conv.events.append(a)
    return list(conversations.values())


def figures_of(waits: list[Wait], slow_ms: int) -> dict[str, Any]:
    """§3 "Daily figures" of some counted waits (one shop's, or one agent's, on one day)."""
    consulted = {w.buyer_id for w in waits}
    unreplied = {w.buyer_id for w in waits if w.breached}
    responses = [w.reply - w.start for w in waits if w.reply is not None]
    return {
        "consultations": len(consulted), "unreplied": len(unreplied),
        "reply_rate": rate(len(consulted), len(unreplied)),
        "waits": len(waits), "waits_breached": sum(w.breached for w in waits),
        "responses": len(responses), "mean_response_seconds": mean_seconds(responses),
        "fast_responses": sum(r <= slow_ms for r in responses),
    }


def daily_figures(conversations: list[Conversation]) -> tuple[
        dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str, str], dict[str, Any]],
        dict[str, list[Wait]]]:
    """§3 "Daily figures" of the base waits (counted only), per shop-day and per agent-day.

    Also returns every conversation's base waits (counted or not) for §7 and the records.
    """
    per_day: dict[tuple[str, str], list[Wait]] = defaultdict(list)
    per_agent: dict[tuple[str, str, str], list[Wait]] = defaultdict(list)
    base_waits: dict[str, list[Wait]] = {}
    slow_ms: dict[str, int] = {}
    for conv in conversations:
        policy = policy_of(conv.platform)
        slow_ms[conv.shop_id] = policy.slow_threshold_seconds * 1000
        rule = WaitRule(policy.window_seconds * 1000, policy.bots_close)
        base_waits[conv.conversation_id] = waits = run_waits(conv.events, rule)
        for w in waits:
            if policy.counted.counts(conv.local(w.start)):
                day = conv.day(w.start).isoformat()
                per_day[(conv.shop_id, day)].append(w)
                per_agent[(conv.shop_id, w.agent, day)].append(w)
    daily = {(shop, day): {"shop_id": shop, "day": day, **figures_of(waits, slow_ms[shop])}
             for (shop, day), waits in per_day.items()}
    agents = {key: figures_of(waits, slow_ms[key[0]]) for key, waits in per_agent.items()}
    return daily, agents, base_waits


def unit_figures(kpi: Kpi, units: list[Wait]) -> tuple[int, int]:
    """Units and units breached of one KPI over its counted waits (sessions) of one day."""
    if kpi.unit == "buyer":
        buyers = {w.buyer_id for w in units}
        return len(buyers), len({w.buyer_id for w in units if w.breached})
    return len(units), sum(w.breached for w in units)


def kpi_figures(conversations: list[Conversation], gap_ms: int) -> tuple[
        dict[tuple[str, str, str], dict[str, Any]],
        dict[tuple[str, str, str, str], dict[str, Any]], list[tuple[Conversation, Kpi, Wait]]]:
    """§3 "Platform KPIs": per KPI, shop (agent) and day; and every KPI wait (for records)."""
    units: dict[tuple[str, str | None, str, str], list[Wait]] = defaultdict(list)
    firsts: dict[tuple[str, str | None, str, str], list[int]] = defaultdict(list)
    shop_kpis: dict[str, list[Kpi]] = {}
    every: list[tuple[Conversation, Kpi, Wait]] = []
    for conv in conversations:
        policy = policy_of(conv.platform)
        shop_kpis[conv.shop_id] = kpis = kpis_of(conv.platform)
        for kpi in kpis:
            rule = WaitRule(kpi.window_seconds * 1000, kpi.replies == "any" and policy.bots_close)
            sessions = run_sessions(conv.events, rule, gap_ms)
            judged = sessions if kpi.unit == "session_first" else run_waits(conv.events, rule)
            for w in judged:
                every.append((conv, kpi, w))
                if kpi.counted.counts(conv.local(w.start)):
                    day = conv.day(w.start).isoformat()
                    units[(conv.shop_id, None, day, kpi.name)].append(w)
                    units[(conv.shop_id, w.agent, day, kpi.name)].append(w)
            # first_response_seconds: sessions starting in counted hours that got a reply
            for s in sessions:
                if s.reply is not None and kpi.counted.counts(conv.local(s.start)):
                    day = conv.day(s.start).isoformat()
                    firsts[(conv.shop_id, None, day, kpi.name)].append(s.reply - s.start)
                    firsts[(conv.shop_id, s.holder_at_reply, day, kpi.name)].append(
                        s.reply - s.start)
    shops: dict[tuple[str, str, str], dict[str, Any]] = {}
    agents: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for shop, agent, day, _ in set(units) | set(firsts):
        for kpi in shop_kpis[shop]:
            key = (shop, agent, day, kpi.name)
            n, breached = unit_figures(kpi, units.get(key, []))
            row = {"unit": kpi.unit, "units": n, "units_breached": breached,
                   "rate": rate(n, breached),
                   "first_response_seconds": mean_seconds(firsts.get(key, []))}
            if agent is None:
                shops[(shop, day, kpi.name)] = row
            elif n or row["first_response_seconds"] is not None:
                agents[(shop, agent, day, kpi.name)] = row
    return shops, agents, every


def breach_records(conversations: list[Conversation], base_waits: dict[str, list[Wait]],
                   kpi_waits: list[tuple[Conversation, Kpi, Wait]]) -> dict[str, dict[str, Any]]:
    """One record per breached wait (§2 ``chat.breaches``), keyed by its id.

    The base wait's id is ``conversation#seq``; a KPI that judges exactly the base waits (a
    ``buyer`` KPI with the policy's window, counted hours and closing rule) is named on the
    base records instead of having its own; other KPIs' ids are ``conversation#kpi@start``.
    """
    records: dict[str, dict[str, Any]] = {}
    same_as_base: dict[str, str] = {}
    for conv in conversations:
        policy = policy_of(conv.platform)
        base_name = OTHER_KPI_NAME
        for kpi in kpis_of(conv.platform):
            if (kpi.unit == "buyer" and kpi.window_seconds == policy.window_seconds
                    and kpi.counted == policy.counted
                    and (kpi.replies == "any" and policy.bots_close) == policy.bots_close):
                base_name = kpi.name
                break
        same_as_base[conv.conversation_id] = base_name
        for w in base_waits[conv.conversation_id]:
            if w.breached:
                records[f"{conv.conversation_id}#{w.seq}"] = {
                    "kpi": base_name, "agent": w.agent,
                    "counted": policy.counted.counts(conv.local(w.start))}
    for conv, kpi, w in kpi_waits:
        if w.breached and kpi.name != same_as_base[conv.conversation_id]:
            records[f"{conv.conversation_id}#{kpi.name}@{w.start}"] = {
                "kpi": kpi.name, "agent": w.agent,
                "counted": kpi.counted.counts(conv.local(w.start))}
    return records


def conversion_figures(applied: list[Applied], conversations: dict[str, Conversation],
                       base_waits: dict[str, list[Wait]],
                       ) -> dict[tuple[str, str], dict[str, Any]]:
    """§7: inquiries, paid buyers, sales, refunds, silent orders per shop and business day.

    Orders are attributed by event time: a payment converts the buyer's latest business day
    whose first wait (over the whole log, wherever it stands in it) started at or before it and
    at most the conversion window before it.
    """
    inquirers: dict[tuple[str, str], set[str]] = defaultdict(set)
    payers: dict[tuple[str, str], set[str]] = defaultdict(set)
    sales: dict[tuple[str, str], int] = defaultdict(int)
    refunds: dict[tuple[str, str], int] = defaultdict(int)
    silent: dict[tuple[str, str], list[int]] = defaultdict(list)
    openers: set[tuple[str, str]] = set()
    for conv_id, waits in base_waits.items():
        conv = conversations[conv_id]
        for w in waits:
            inquirers[(conv.shop_id, conv.day(w.start).isoformat())].add(conv.buyer_id)
            openers.add((conv_id, w.opened_by))
    first_waits: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for a in applied:
        conv = conversations[a.event.conversation_id]
        if (a.event.conversation_id, a.event.event_id) in openers:
            days = first_waits[(conv.shop_id, conv.buyer_id)]
            day = conv.day(a.ts)
            days[day] = min(days.get(day, a.ts), a.ts)
    attributed: dict[tuple[str, str], tuple[str, str]] = {}  # (shop, order) -> (shop, day)
    refunded: dict[tuple[str, str], int] = defaultdict(int)  # (shop, order) -> fen
    for a in applied:
        e, p = a.event, a.ts
        conv = conversations[e.conversation_id]
        buyer = (conv.shop_id, conv.buyer_id)
        if e.type != "order":
            continue
        order = (conv.shop_id, e.order_id or "")
        amount = e.amount_fen or 0
        window_ms = policy_of(conv.platform).conversion_window_hours * HOUR_MS
        if e.status == "paid":
            days = [d for d, first in first_waits[buyer].items() if p - window_ms <= first <= p]
            if days:
                attributed[order] = key = (conv.shop_id, max(days).isoformat())
                payers[key].add(conv.buyer_id)
                sales[key] += amount
            else:  # silent: on the business day of the payment, for the shop only
                silent[(conv.shop_id, conv.day(p).isoformat())].append(amount)
        elif e.status == "refunded":
            refunded[order] += amount
    # "whenever the refund arrives": before or after the payment, it counts for the day the
    # payment was attributed to (a silent or unpaid order's refunds count nowhere)
    for order, amount in refunded.items():
        if order in attributed:
            refunds[attributed[order]] += amount
    unpaid = unpaid_figures(applied, conversations)
    out = {}
    for key in set(inquirers) | set(payers) | set(silent) | set(refunds) | set(unpaid):
        paid, asked = len(payers[key]), len(inquirers[key])
        avg = None
        if paid:
            avg = yuan(int((Decimal(sales[key]) / paid).quantize(Decimal(1), ROUND_HALF_UP)))
        out[key] = {"inquiries": asked, "paid_buyers": paid,
                    "conversion_rate": paid / asked if asked else None,
                    "chat_sales": yuan(sales[key]), "refunds": yuan(refunds[key]),
                    "avg_order_value": avg, "silent_orders": len(silent[key]),
                    "silent_sales": yuan(sum(silent[key])),
                    "unpaid_orders": unpaid[key][0], "unpaid_amount": yuan(unpaid[key][1]),
                    "unpaid_recovered": unpaid[key][2]}
    return out


def unpaid_figures(applied: list[Applied], conversations: dict[str, Conversation],
                   ) -> dict[tuple[str, str], list[int]]:
    """§7 unpaid orders per shop and day of creation: [orders, amount in fen, recovered].

    Read off the whole log at once: an order created (by a customer) at c is awaiting payment
    when no paid or cancelled of it has an effective time at or before c + R; it counts for
    the day of c and the holder after the conversation's events up to c + R; recovered when a
    paid of it comes strictly before c + E.
    """
    created: dict[tuple[str, str], tuple[Applied, Conversation]] = {}
    ends: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for a in applied:
        e = a.event
        if e.type != "order":
            continue
        key = (e.shop_id, e.order_id or "")
        if e.status == "created" and e.buyer_kind == "customer":
            created.setdefault(key, (a, conversations[e.conversation_id]))
        elif e.status in ("paid", "cancelled"):
            ends[key].append((e.status or "", a.ts))
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for key, (a, conv) in created.items():
        c = a.ts
        if any(ts <= c + REMINDER_MS for _, ts in ends[key]):
            continue
        day = out[(conv.shop_id, conv.day(c).isoformat())]
        day[0] += 1
        day[1] += a.event.amount_fen or 0
        day[2] += any(status == "paid" and ts < c + EXPIRY_MS for status, ts in ends[key])
    return out


def run_model(events: list[ChatEvent], policies: PolicyBook) -> ModelResult:
    """The figures of one complete log (events in arrival order), at end of input."""
    applied = apply_rule_7(events)
    conversations = group_conversations(applied, policies)
    gap_ms = policies.kpi_catalog.session_gap_seconds * 1000
    daily, agent_daily, base_waits = daily_figures(conversations)
    kpis, agent_kpis, kpi_waits = kpi_figures(conversations, gap_ms)
    return ModelResult(
        daily=daily, kpis=kpis, agent_kpis=agent_kpis, agent_daily=agent_daily,
        breaches=breach_records(conversations, base_waits, kpi_waits),
        conversion=conversion_figures(
            applied, {c.conversation_id: c for c in conversations}, base_waits),
        has_orders=any(a.event.type == "order" for a in applied))
