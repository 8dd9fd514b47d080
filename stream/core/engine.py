"""The engine: many conversations, their deadlines and the daily figures they add up to.

One engine serves every driver. The faust agents feed it events partition by partition and
advance per-partition watermarks; ``chatwatch backfill`` feeds it a log file as partition 0
and calls :meth:`Engine.finish` at the end of input. Same inputs, same figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from stream.core import coaching, kpi_engine, kpi_state
from stream.core.agent_days import AgentDay
from stream.core.coaching import LostInquiry, UnpaidOrder
from stream.core.conversion import Aliases, Conversions, default_id
from stream.core.deadlines import Deadlines
from stream.core.events import ORDER, ChatEvent
from stream.core.figures import DailyFigures, DayBook
from stream.core.guard import ContentFlagged, ContentGuard
from stream.core.kpi import BUYER_UNIT, score_window
from stream.core.kpi_engine import KpiPartition
from stream.core.kpi_figures import KpiBook, KpiFigures, KpiTotals
from stream.core.kpi_state import KpiBreached, KpiOutcome
from stream.core.limits import Capped
from stream.core.orders import (
    Conversion,
    OrderBook,
    OrderOutcome,
    is_duplicate_order,
    keep_marks,
    keep_orders,
    needs_mark,
)
from stream.core.policy import Policy, PolicyBook
from stream.core.reply_window import (
    DAY_RECORD,
    Outcome,
    WaitBreached,
    WaitOpened,
    apply_event,
    business_day,
    day_record,
    expire_wait,
    id_hash,
    is_duplicate,
    keep_days,
    new_conversation,
    share_ids,
)
from stream.core.rows import NO_WAIT, Conversation
from stream.core.score import (
    FORECAST_KEEP_DAYS,
    HOURS,
    DayUnits,
    Forecast,
    Score,
    SettledDay,
    forecast,
    history_days,
    score_of,
)
from stream.core.staffing import StaffingBook

EngineOutcome = Outcome | KpiOutcome | ContentFlagged | OrderOutcome
Breach = WaitBreached | KpiBreached



class _Book(Protocol):
    def merge(self, other: Any, only: tuple[str, int] | None = None, /) -> None: ...


_B = TypeVar("_B", bound=_Book)

class Applied(msgspec.Struct, frozen=True, gc=False):
    """What applying one event did: every outcome that follows from it, in order.

    The reply-window outcomes come first, then a :class:`ContentFlagged` when the engine has a
    content guard and the message is a flagged agent or bot message. ``first_reply`` is True
    for the first agent message of a conversation.
    """

    duplicate: bool
    out_of_order: bool
    outcomes: tuple[EngineOutcome, ...]
    first_reply: bool = False

    @property
    def flagged(self) -> ContentFlagged | None:
        """The content finding of this event, if any."""
        last = self.outcomes[-1] if self.outcomes else None
        return last if isinstance(last, ContentFlagged) else None


_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
_MAX_UTC_OFFSET_MS = 14 * 3_600_000  # the furthest any time zone is ahead of UTC

DUPLICATE = Applied(duplicate=True, out_of_order=False, outcomes=())


@dataclass(slots=True)
class PartitionState:
    """Per-partition deadlines, watermark, figures and shops."""

    deadlines: Deadlines = field(default_factory=Deadlines)
    shops: dict[str, str] = field(default_factory=dict)  # shop -> platform, as first seen
    max_event_ms: int = 0  # the latest effective event time applied in this partition
    watermark_ms: int = 0  # no further event is expected before this event time
    book: DayBook = field(default_factory=DayBook)
    kpi: KpiPartition = field(default_factory=KpiPartition)
    orders: OrderBook = field(default_factory=OrderBook)  # §7 figures
    aliases: Aliases = field(default_factory=dict)  # (shop, buyer) -> non-default conversation ids
    # conversations with a breached wait (base or KPI) still open: the buyer is still waiting
    breached: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class KpiWait:
    """One KPI's open wait of a conversation, for the board.

    ``saveable``: a reply before ``deadline_ms`` still counts toward the KPI's figure today
    (a counted wait not yet breached, unless the KPI counts buyers and this buyer already
    breached it on the wait's day: the buyer is lost for that day whatever happens now).
    """

    kpi: str
    start_ms: int
    deadline_ms: int
    breached: bool
    counted: bool
    saveable: bool


def _copy_totals(totals: KpiTotals) -> KpiTotals:
    """A copy of one partition's totals, to merge others into."""
    mine = KpiTotals(totals.unit)
    mine.merge(totals)
    return mine


class Engine:
    """Applies events to conversations and keeps deadlines and daily figures in step."""

    def __init__(self, policies: PolicyBook, guard: ContentGuard | None = None) -> None:
        """``guard`` checks agent and bot messages; without one, content is not looked at."""
        self.policies = policies
        self.guard = guard
        self.conversations: dict[str, Conversation] = {}
        self.partitions: dict[int, PartitionState] = {}
        # Rule 7 counts, for drivers without metrics (backfill's summary).
        self.duplicates = 0
        self.out_of_order = 0
        # Sliding windows of arrivals and replies per shop, for the staffing advice (§6).
        self.staffing = StaffingBook()
        # Caps on each row (stream.core.limits) and the count of what they dropped.
        self.limits = policies.limits
        self.capped = Capped()
        self.conversions = Conversions(self.conversations, self.limits, self.capped,
                                       policies)  # §7

    # -- state ------------------------------------------------------------------------------

    def partition(self, number: int) -> PartitionState:
        """The state of one partition, created on first use."""
        state = self.partitions.get(number)
        if state is None:
            state = self.partitions[number] = PartitionState()
        return state

    def load(self, conversation_id: str, conv: Conversation) -> None:
        """Adopt a conversation restored from durable state (after recovery)."""
        share_ids(conv)
        old = self.conversations.get(conversation_id)
        part = self.partition(conv.partition)
        part.shops.setdefault(conv.shop_id, conv.platform)
        self._book_change(part.book, conv, old.days if old else (), conv.days)
        kpi_engine.load(part.kpi, self.policies, conversation_id, conv, old)
        self.conversions.adopt(conv, conversation_id, part.orders, part.aliases, old)
        self.conversations[conversation_id] = conv
        self._bound(conv, self.policies.resolve(conv.platform, conv.shop_id)[1], restored=True)
        if conv.has_open_wait and not conv.wait_breached:
            policy = self.policies.policy(conv.platform, conv.shop_id)
            part.deadlines.add(conv.wait_start + policy.window_ms, conversation_id)
        self._track_breached(part, conversation_id, conv)

    def drop_partition(self, number: int) -> None:
        """Forget a partition's conversations and figures (it moved to another worker)."""
        self.partitions.pop(number, None)
        self.conversions.drop(number)
        for cid in [c for c, conv in self.conversations.items() if conv.partition == number]:
            del self.conversations[cid]

    # -- events -----------------------------------------------------------------------------

    def apply(self, event: ChatEvent, partition: int = 0, offset: int = -1) -> Applied:
        """Apply one event (arrival order within its conversation).

        ``offset`` is the event's offset in ``partition`` (-1 when the input has none): an
        event at or below the conversation's ``applied_offset`` was applied before and is a
        duplicate (a restart reading again what it had applied but not committed).
        """
        cid = event.conversation_id
        event_hash = id_hash(event.event_id)
        conv = self.conversations.get(cid)
        if conv is None:
            conv = self.conversations[cid] = new_conversation(event, partition)
            state = self.partition(partition)
            state.shops.setdefault(conv.shop_id, conv.platform)
            if cid != default_id(conv.shop_id, conv.buyer_id):
                self.conversions.adopt(conv, cid, state.orders, state.aliases)
        elif (0 <= offset <= conv.applied_offset and partition == conv.partition) or \
                is_duplicate(conv, event.event_id, event_hash) or (
                event.type == ORDER and is_duplicate_order(conv, event.order_id or "",
                                                           event.status or "")):
            if offset > conv.applied_offset and partition == conv.partition:
                conv.applied_offset = offset
            self.duplicates += 1
            return DUPLICATE
        if offset >= 0 and partition == conv.partition:
            conv.applied_offset = offset
        # The conversation's platform and shop (from its first event), not the event's: the
        # sweep and a restart resolve deadlines that way, and a wait opened under a different
        # window would never be found due (nor breached at end of input).
        policy, tz = self.policies.resolve(conv.platform, conv.shop_id)
        if conv.orders:  # payment reminders due before this event (§7)
            self.conversions.before_event(conv, cid, max(event.ts_ms, conv.latest_ts), policy,
                                          self.partition(conv.partition).orders)
        before = conv.days  # immutable: the record of contributions before this event
        agent_spoke = conv.agent_spoke
        holder = conv.last_agent
        out_of_order, outcomes = apply_event(conv, event, policy, tz, event_hash)
        self.out_of_order += out_of_order
        part = self.partition(conv.partition)
        kpis = kpi_engine.on_event(part.kpi, self.policies, cid, conv, event, outcomes, policy,
                                   tz, holder)
        if conv.latest_ts > part.max_event_ms:
            part.max_event_ms = conv.latest_ts
        if cid in part.breached or any(isinstance(o, (WaitBreached, KpiBreached))
                                       for o in (*outcomes, *kpis)):
            self._track_breached(part, cid, conv)
        if event.type == ORDER:
            return Applied(False, out_of_order, (*kpis, *self.conversions.order(
                conv, cid, event, policy, tz, part.orders, part.aliases)))
        first_reply = False
        if event.sender == "agent" and event.type == "message":
            first_reply = not agent_spoke
            conv.agent_spoke = True
        if outcomes:
            for outcome in outcomes:
                if isinstance(outcome, WaitOpened):
                    part.deadlines.add(outcome.deadline_ms, cid)
            if conv.days is not before:
                self._book_change(part.book, conv, before, conv.days)
        if len(conv.days) > self.limits.max_days * DAY_RECORD or \
                kpi_state.day_count(conv.kpi) > self.limits.max_days:
            self._bound(conv, tz)
        everything: list[EngineOutcome] = [*outcomes, *kpis]
        if outcomes or (event.sender == "agent" and event.type == "message"):
            self.staffing.observe(conv.shop_id, event.sender, event.agent_id, conv.latest_ts,
                                  outcomes)
        if conv.wait_start != NO_WAIT and needs_mark(conv):
            self.conversions.mark(conv, part.orders, cid, part.aliases, policy)  # §7 inquiry
        if outcomes or conv.orders:  # the day's first reply; a late event's reminder holder
            self.conversions.after_event(conv, cid, outcomes, policy, part.orders)
        if self.guard is not None and event.is_shop_message:
            flagged = self._flag(event, conv, policy, tz, first_reply)
            if flagged is not None:
                if flagged.sender == "agent":
                    part.kpi.agents.day(conv.shop_id, flagged.agent, flagged.day).violations += 1
                return Applied(False, out_of_order, (*everything, flagged), first_reply)
        return Applied(False, out_of_order, tuple(everything), first_reply)

    def _flag(self, event: ChatEvent, conv: Conversation, policy: Policy, tz: ZoneInfo,
              first_reply: bool) -> ContentFlagged | None:
        """The content decision for a shop message, under the conversation's policy."""
        assert self.guard is not None
        checked = self.guard.check(event.text or "", policy,
                                   self.policies.platform_of(conv.platform, conv.shop_id),
                                   first_reply=first_reply)
        if checked is None:
            return None
        ts = conv.latest_ts  # the effective time (rule 7), as for waits
        return ContentFlagged(
            event.conversation_id, event.event_id, conv.shop_id, conv.platform,
            event.agent_id or "unassigned", event.sender or "agent", ts,
            business_day(ts, tz).toordinal(), checked.masked, checked.findings, checked.total,
            checked.capped, checked.oversized, checked.cut_chars)

    def advance(self, partition: int, watermark_ms: int, *, kpis: bool = False) -> list[Any]:
        """Move a partition's watermark forward and declare the waits it breaches.

        Returns the base waits' breaches; with ``kpis`` (what the drivers ask for) each is
        followed by its mirror KPI's :class:`KpiBreached`, and the other KPIs' breaches come
        last. Without it the KPI breaches are declared all the same, only not returned.
        """
        part = self.partition(partition)
        if watermark_ms > part.watermark_ms:
            part.watermark_ms = watermark_ms
        found = self._breaches(part, part.watermark_ms)
        self.conversions.advance(partition, part.watermark_ms, part.orders)  # reminders due
        return found if kpis else [b for b in found if isinstance(b, WaitBreached)]

    def finish(self, *, kpis: bool = False) -> list[Any]:
        """End of input (backfill): the log is complete, so every open wait is breached.

        ``kpis`` as for :meth:`advance`.
        """
        breaches: list[Breach] = []
        for number, part in self.partitions.items():
            breaches.extend(self._breaches(part, None))
            self.conversions.advance(number, None, part.orders)  # every reminder is due
        return breaches if kpis else [b for b in breaches if isinstance(b, WaitBreached)]

    def _breaches(self, part: PartitionState, watermark_ms: int | None) -> list[Breach]:
        base = self._expire(part, watermark_ms)
        found: list[Breach] = []
        for breach in base:
            found.append(breach)
            found.extend(o for o in kpi_engine.after_base_breaches(
                part.kpi, self.policies, self.conversations, [breach])
                if isinstance(o, KpiBreached))
        found.extend(kpi_engine.expire_kpis(part.kpi, self.policies, self.conversations,
                                            watermark_ms))
        part.breached.update(b.conversation_id for b in found)  # still open: no reply yet
        return found

    @staticmethod
    def _track_breached(part: PartitionState, cid: str, conv: Conversation) -> None:
        """Keep ``cid`` in ``part.breached`` exactly while a breached wait of it is open."""
        if (conv.wait_breached and conv.wait_start != NO_WAIT) or \
                any(s < 0 for s in kpi_state.slots_of(conv.kpi)):
            part.breached.add(cid)
        else:
            part.breached.discard(cid)

    def _deadline(self, cid: str, second: int) -> tuple[int, Conversation, Policy] | None:
        """The deadline of ``cid``'s open wait if it is filed under ``second``, else None."""
        conv = self.conversations.get(cid)
        if conv is None or conv.wait_start == NO_WAIT or conv.wait_breached:
            return None  # closed, already breached, or moved away
        policy = self.policies.policy(conv.platform, conv.shop_id)
        deadline = conv.wait_start + policy.window_ms
        return (deadline, conv, policy) if deadline // 1000 == second else None

    def _expire(self, part: PartitionState, watermark_ms: int | None) -> list[WaitBreached]:
        """Breach the waits whose deadline is before ``watermark_ms`` (None: every one).

        In deadline order (then conversation id), whichever second they were filed under.
        """
        deadlines = part.deadlines
        breaches: list[WaitBreached] = []
        while (second := deadlines.first_second()) is not None:
            if watermark_ms is not None and second * 1000 >= watermark_ms:
                break  # every deadline from here on is >= the watermark
            second, ids = deadlines.pop()
            due: list[tuple[int, str, Conversation, Policy]] = []
            later: list[str] = []
            for cid in ids:
                found = self._deadline(cid, second)
                if found is None:
                    continue
                deadline, conv, policy = found
                if watermark_ms is None or deadline < watermark_ms:
                    due.append((deadline, cid, conv, policy))
                else:
                    later.append(cid)
            due.sort(key=lambda d: (d[0], d[1]))
            for deadline, cid, conv, policy in due:
                before = conv.days
                breach = expire_wait(conv, cid,
                                     deadline + 1 if watermark_ms is None else watermark_ms,
                                     policy)
                if breach is not None:  # None: a second entry of the same wait
                    if conv.days is not before:
                        self._book_change(part.book, conv, before, conv.days)
                    breaches.append(breach)
            if later:
                # the watermark lies within this second: nothing after it is due either
                deadlines.put_back(second, later)
                break
        return breaches

    @staticmethod
    def _book_change(book: DayBook, conv: Conversation, before: tuple[int, ...],
                     after: tuple[int, ...]) -> None:
        """Tell the book how a conversation's day records changed (flat ``days`` tuples).

        Linear in the records: a scan of ``before`` per record of ``after`` froze the worker
        for a minute on a row that had gained a day every other event.
        """
        old = {before[i]: before[i + 1:i + DAY_RECORD] for i in range(0, len(before), DAY_RECORD)}
        for i in range(0, len(after), DAY_RECORD):
            day = after[i]
            new = after[i + 1:i + DAY_RECORD]
            prev = old.pop(day, None)
            if prev != new:
                book.change(conv.shop_id, conv.buyer_id, day, prev, new)
        for day, gone in old.items():
            book.change(conv.shop_id, conv.buyer_id, day, gone, None)

    def _bound(self, conv: Conversation, tz: ZoneInfo, restored: bool = False) -> None:
        """Hold a row to its caps (``self.limits``), counting what they drop.

        After an event only the day records can have outgrown theirs (orders and marks are held
        where they are added); a row restored from an older version may hold anything.
        """
        limits, capped = self.limits, self.capped
        capped.days += keep_days(conv, limits.max_days)
        if kpi_state.day_count(conv.kpi) > limits.max_days:
            conv.kpi, dropped = kpi_state.keep_days(
                conv.kpi, self.policies.kpis(conv.platform, conv.shop_id), limits.max_days, tz,
                conv.wait_day if conv.wait_start != NO_WAIT else None)
            capped.days += dropped
        if restored:
            capped.marks += keep_marks(conv, limits.max_days, limits.max_marks)
            keep_orders(conv, limits, capped)

    def evict(self, partition: int, retention_ms: int, *, with_days: bool = False) -> list[str]:
        """Forget what lies more than ``retention_ms`` of event time behind a partition.

        Conversations with no open wait — or only a breached one — whose latest event is that
        old are removed (the caller deletes their durable rows); figures of business days that
        old are dropped. The clock is the partition's own latest event time, not the wall
        clock, so replaying last month's log keeps last month's figures. Contributions of
        evicted conversations stay in the figures of the days still kept. The order figures
        (and the marks and orders of rows that stay) are kept for the retention or the longest
        conversion window, whichever is longer.

        ``with_days``: a row goes only with the figures it counts for, once its latest event
        is before the first day kept. A driver that rebuilds its figures from the rows it
        kept (the live worker after a restart or a rebalance) needs this: a row evicted while
        its days were still kept would take its part of them away at the next restart.
        """
        part = self.partitions.get(partition)
        if part is None or not part.max_event_ms:
            return []
        horizon = part.max_event_ms - retention_ms
        # The order figures and the marks of rows that stay are kept for the conversion window
        # too (§7: a payment that late still converts the day). Idle rows go after the
        # retention all the same: keep state_retention_hours >= conversion_window_hours.
        order_horizon = min(horizon, part.max_event_ms - self.conversions.longest_window_ms(
            self.policies))
        # The horizon's UTC date minus one: no time zone's local date of the horizon is
        # earlier, so no shop loses a day still within retention.
        keep_from_day = (horizon // 86_400_000) + _EPOCH_ORDINAL - 1
        keep_orders_from_day = (order_horizon // 86_400_000) + _EPOCH_ORDINAL - 1
        # A row whose latest event is before this counts toward no day kept in any time zone
        # (none is more than 14 h ahead of UTC), its waits' and its orders' days alike.
        row_horizon = horizon if not with_days else min(horizon, (
            min(keep_from_day, keep_orders_from_day) - _EPOCH_ORDINAL) * 86_400_000
            - _MAX_UTC_OFFSET_MS)
        # A wait breached and still unanswered after the whole retention has done all it can
        # (a reply days later would only add a late response time): it goes too.
        evicted = [(cid, conv) for cid, conv in self.conversations.items()
                   if conv.partition == partition and conv.latest_ts < row_horizon
                   and (conv.wait_start == -1 or conv.wait_breached)
                   and not kpi_engine.has_open_kpi_wait(conv, self.policies)]
        for cid, _ in evicted:
            del self.conversations[cid]
            part.breached.discard(cid)
        part.book.forget_before(keep_from_day)
        self._settle(partition, part, keep_from_day)
        part.kpi.book.forget_before(keep_from_day)
        part.kpi.agents.forget_before(keep_from_day)
        self.conversions.evict(partition, evicted, keep_orders_from_day, part.orders,
                               part.aliases)
        return [cid for cid, _ in evicted]

    def _settle(self, partition: int, part: PartitionState, before_day: int) -> None:
        """Keep the units of the KPI days the book forgets, for the platform score."""
        score = part.kpi.score
        for (shop, day), totals in list(part.kpi.book.totals.items()):
            if day < before_day:
                units = {}
                for name, t in totals.items():
                    f = t.figures(shop, day, name)
                    units[name] = (f.units, f.units_breached)
                score.settle(shop, day, units, partition)
        score.forget_before(before_day)
        newest = (part.max_event_ms // 86_400_000) + _EPOCH_ORDINAL
        score.keep({shop: newest for shop in part.shops},
                   {shop: history_days(self.policies.kpis(platform, shop).kpis)
                    for shop, platform in part.shops.items()})

    def load_settled(self, partition: int, record: SettledDay) -> None:
        """Adopt a settled day restored from durable state (after recovery)."""
        self.partition(partition).kpi.score.load(record)

    def take_settled(self, partition: int) -> list[tuple[str, SettledDay | None]]:
        """Settled days the driver must store (None: delete), by key; each change once."""
        part = self.partitions.get(partition)
        return [] if part is None else part.kpi.score.take_changes()

    # -- read-outs --------------------------------------------------------------------------

    def next_deadline(self, partition: int) -> int | None:
        """The earliest pending deadline of a partition, for scheduling.

        May be stale (the start of a second whose entries have all closed since), never late.
        """
        part = self.partitions.get(partition)
        if part is None or (second := part.deadlines.first_second()) is None:
            return None
        found = [d[0] for cid in part.deadlines.peek()
                 if (d := self._deadline(cid, second)) is not None]
        return min(found, default=second * 1000)

    def next_kpi_deadline(self, partition: int) -> int | None:
        """The earliest pending deadline of a partition's KPI waits, for scheduling.

        The start of its second: maybe stale, never late. :meth:`next_deadline` covers the
        base waits.
        """
        part = self.partitions.get(partition)
        second = None if part is None else part.kpi.deadlines.first_second()
        return None if second is None else second * 1000

    def _states(self, partitions: Iterable[int] | None) -> list[PartitionState]:
        """The states of the given partitions that this engine has (default: all)."""
        numbers = self.partitions.keys() if partitions is None else partitions
        return [self.partitions[n] for n in numbers if n in self.partitions]

    def _merged(self, partitions: Iterable[int] | None, pick: Callable[[PartitionState], _B],
                empty: Callable[[], _B], only: tuple[str, int] | None = None) -> _B:
        """One figure book of the given partitions (default: all), ``only`` one shop-day.

        The partition's own book when there is one, else a new book they are merged into.
        """
        states = self._states(partitions)
        if len(states) == 1:
            return pick(states[0])
        merged = empty()
        for state in states:
            merged.merge(pick(state), only)
        return merged

    def book(self, partitions: Iterable[int] | None = None) -> DayBook:
        """The figures of the given partitions (default: all) merged into one book."""
        return self._merged(partitions, lambda state: state.book, DayBook)

    def report(self) -> list[DailyFigures]:
        """Daily figures of every shop and business day with counted waits."""
        return self.book().report()

    def order_book(self, partitions: Iterable[int] | None = None) -> OrderBook:
        """The §7 figures of the given partitions (default: all) merged into one book."""
        return self._merged(partitions, lambda state: state.orders, OrderBook)

    def conversion(self, shop_id: str, day: int, partitions: Iterable[int] | None = None,
                   ) -> tuple[Conversion | None, list[Conversion]]:
        """One shop-day's §7 figures and its agents' (ranked), over the partitions."""
        states = self._states(partitions)
        if len(states) == 1:
            book = states[0].orders
        else:
            book = OrderBook()
            for state in states:
                book.merge(state.orders, only=(shop_id, day))
        return book.figures(shop_id, day), book.agents(shop_id, day)

    def unpaid_orders(self, partitions: Iterable[int] | None = None, now_ms: int | None = None,
                      *, every: bool = False) -> list[UnpaidOrder]:
        """Orders awaiting payment (催付, §7) at ``now_ms``.

        ``now_ms`` defaults to each partition's latest event time; ``every``: every order that
        became awaiting payment, with its status then.
        """
        out: list[UnpaidOrder] = []
        for number in (self.partitions if partitions is None else partitions):
            part = self.partitions.get(number)
            if part is None:
                continue
            rows = (self.conversions.awaiting.get(number, set()) if not every else
                    [c for c, conv in self.conversations.items()
                     if conv.partition == number and conv.orders])
            out.extend(coaching.unpaid_orders(self.conversations, self.policies, list(rows),
                                              part.max_event_ms if now_ms is None else now_ms,
                                              every=every))
        out.sort(key=lambda u: (u.shop_id, u.created_ms, u.order_id, u.ref))
        return out

    def lost_inquiries(self, partitions: Iterable[int] | None = None,
                       now_ms: int | None = None, *, shop: str | None = None,
                       agent: str | None = None, days: Iterable[int] | None = None,
                       ) -> list[LostInquiry]:
        """Lost inquiries (询单流失, §7) per agent-day; ``now_ms`` None: the log is complete."""
        parts = self._states(partitions)
        book = self.order_book(partitions)
        return list(coaching.lost_inquiries(self.conversations, list(parts), book,
                                            self.policies, now_ms, shop=shop, agent=agent,
                                            days=days))

    @property
    def has_orders(self) -> bool:
        """Whether any order event was applied (the report then carries the §7 fields)."""
        return self.conversions.applied > 0

    def open_waits(self) -> Iterator[tuple[str, Conversation]]:
        """Conversations whose wait is open and not yet breached, each once.

        Read from the deadline entries (every such wait has one), not from all conversations:
        a scrape then costs in proportion to the open waits, not to everyone who ever wrote.
        """
        seen: set[str] = set()
        conversations = self.conversations
        for part in self.partitions.values():
            for ids in part.deadlines.by_second.values():
                for cid in ids:
                    if cid in seen:
                        continue
                    conv = conversations.get(cid)
                    if conv is not None and conv.wait_start != NO_WAIT and not conv.wait_breached:
                        seen.add(cid)
                        yield cid, conv

    def waiting(self, partition: int) -> Iterator[tuple[str, Conversation]]:
        """Every conversation of a partition whose buyer is still waiting, each once.

        A wait open for any KPI, within its window or already breached: a breached buyer
        still waits for a reply, and is the most urgent one. Read from the deadline indexes
        and the breached set, not from all conversations.
        """
        part = self.partitions.get(partition)
        if part is None:
            return
        seen: set[str] = set()
        conversations = self.conversations
        for group in (*part.deadlines.by_second.values(), *part.kpi.deadlines.by_second.values(),
                      part.breached):
            for cid in list(group):
                if cid in seen:
                    continue
                conv = conversations.get(cid)
                if conv is not None and (conv.wait_start != NO_WAIT or any(
                        kpi_state.slots_of(conv.kpi))):
                    seen.add(cid)
                    yield cid, conv

    def kpi_waits(self, conv: Conversation) -> tuple[KpiWait, ...]:
        """The open waits of one conversation, one per KPI with a wait open, in list order.

        The base wait stands for the KPI it mirrors (or the policy's own, §3).
        """
        kset = self.policies.kpis(conv.platform, conv.shop_id)
        _, tz = self.policies.resolve(conv.platform, conv.shop_id)
        found: dict[int, KpiWait] = {}
        if conv.wait_start != NO_WAIT:
            policy = self.policies.policy(conv.platform, conv.shop_id)
            record = day_record(conv.days, conv.wait_day)
            counted = conv.wait_counted
            own = 1 if conv.wait_breached and counted else 0  # this wait's own breach
            lost = record is not None and record[1] > own
            found[kset.mirror] = KpiWait(
                kset.base_name, conv.wait_start, conv.wait_start + policy.window_ms,
                conv.wait_breached, counted, counted and not conv.wait_breached and not lost)
        if conv.kpi:
            days = kpi_state.day_records(conv.kpi, kset)
            for i, start, breached in kpi_state.open_slots(conv.kpi, kset):
                kpi = kset.kpis[i]
                day, local = kpi_state.local_day(start, tz)
                counted = kpi.is_counted(local.time())
                already = days.get(day, [0] * (4 * len(kset.kpis)))[4 * i + kpi_state.BREACHED]
                lost = kpi.unit == BUYER_UNIT and already > (1 if breached and counted else 0)
                found[i] = KpiWait(kpi.name, start, start + kpi.window_ms, breached, counted,
                                   counted and not breached and not lost)
        return tuple(found[i] for i in sorted(found))

    def shops(self, partitions: Iterable[int] | None = None) -> dict[str, str]:
        """Shops (with the platform of their first conversation) seen in the partitions."""
        out: dict[str, str] = {}
        for state in self._states(partitions):
            for shop, platform in state.shops.items():
                out.setdefault(shop, platform)
        return out

    def figures(self, shop_id: str, day: int,
                partitions: Iterable[int] | None = None) -> DailyFigures | None:
        """One shop-day's figures over the partitions (default: all), merging only that day."""
        states = self._states(partitions)
        if len(states) == 1:
            return states[0].book.figures(shop_id, day)
        merged = DayBook()
        for state in states:
            merged.merge(state.book, only=(shop_id, day))
        return merged.figures(shop_id, day)

    # -- KPI read-outs (DOMAIN.md §3, "Platform KPIs") --------------------------------------

    def kpi_book(self, partitions: Iterable[int] | None = None,
                 only: tuple[str, int] | None = None) -> KpiBook:
        """The KPI totals of the given partitions (default: all); ``only`` one shop-day."""
        return self._merged(partitions, lambda state: state.kpi.book, KpiBook, only)

    def kpi_figures(self, shop_id: str, day: int,
                    partitions: Iterable[int] | None = None) -> list[KpiFigures]:
        """Each KPI of one shop-day, in the shop's list order (zero figures when none)."""
        platform = self.shops(partitions).get(shop_id, self.policies.default_platform)
        book = self.kpi_book(partitions, (shop_id, day))
        return [book.figures(shop_id, day, k) for k in self.policies.kpis(platform,
                                                                            shop_id).kpis]

    def kpi_report(self) -> list[KpiFigures]:
        """Every shop-day with KPI figures, each KPI of the shop's list: by shop, day, KPI."""
        rows: list[KpiFigures] = []
        for (shop, day), totals in self.kpi_book().totals.items():
            if not all(t.empty for t in totals.values()):
                rows.extend(t.figures(shop, day, name) for name, t in totals.items())
        rows.sort(key=lambda r: (r.shop_id, r.day, r.kpi))
        return rows

    def day_units(self, shop_id: str, first_day: int, last_day: int,
                  partitions: Iterable[int] | None = None) -> dict[str, dict[int, DayUnits]]:
        """KPI name -> day -> (units, units breached) of a shop over ``first_day..last_day``.

        Days the KPI books keep, else the settled ones (stream.core.score).
        """
        states = self._states(partitions)
        out: dict[str, dict[int, DayUnits]] = {}
        for day in range(first_day, last_day + 1):
            found: dict[str, KpiTotals] = {}
            for state in states:
                for name, t in state.kpi.book.totals.get((shop_id, day), {}).items():
                    mine = found.get(name)
                    if mine is None:
                        found[name] = t if len(states) == 1 else _copy_totals(t)
                    else:
                        mine.merge(t)
            for name, t in found.items():
                f = t.figures(shop_id, day, name)
                out.setdefault(name, {})[day] = (f.units, f.units_breached)
            for state in states:
                settled = state.kpi.score.settled.get((shop_id, day))
                if settled is None:
                    continue
                for name, (u, b, _) in settled.kpis.items():
                    if name in found:
                        continue  # the book still has the day (a restart rebuilt it)
                    days = out.setdefault(name, {})
                    have = days.get(day, (0, 0))
                    days[day] = (have[0] + u, have[1] + b)
        return out

    def scores(self, shop_id: str, day: int, partitions: Iterable[int] | None = None,
               platform: str | None = None) -> list[Score]:
        """Each KPI of a shop on ``day`` as the platform will judge it (score, gate, budgets).

        ``platform``: the shop's, when the caller knows it (else looked up among all shops).
        """
        if platform is None:
            platform = self.shops(partitions).get(shop_id, self.policies.default_platform)
        kpis = self.policies.kpis(platform, shop_id).kpis
        back = max(score_window(k) for k in kpis)
        units = self.day_units(shop_id, day - back + 1, day, partitions)
        return [score_of(k, day, units.get(k.name, {})) for k in kpis]

    def forecasts(self, shop_id: str, now_ms: int, partitions: Iterable[int] | None = None,
                  platform: str | None = None) -> list[Forecast]:
        """Each KPI's expected end-of-day units and rate, at event time ``now_ms``."""
        if platform is None:
            platform = self.shops(partitions).get(shop_id, self.policies.default_platform)
        _, tz = self.policies.resolve(platform, shop_id)
        kpis = self.policies.kpis(platform, shop_id).kpis
        local = business_day(now_ms, tz)
        today = local.toordinal()
        first = today - FORECAST_KEEP_DAYS
        units = self.day_units(shop_id, first, today, partitions)
        states = self._states(partitions)
        out = []
        for kpi in kpis:
            history: dict[int, tuple[int, list[int]]] = {}
            for day, (u, _) in units.get(kpi.name, {}).items():
                if day < today:
                    history[day] = (u, self._hours(states, shop_id, day, kpi.name))
            hours_today = self._hours(states, shop_id, today, kpi.name)
            out.append(forecast(kpi.name, today, local.hour, local.minute,
                                units.get(kpi.name, {}).get(today, (0, 0)),
                                hours_today if any(hours_today) else None, history))
        return out

    @staticmethod
    def _hours(states: list[PartitionState], shop_id: str, day: int, kpi: str) -> list[int]:
        """A KPI's units and breaches by start hour of one shop-day, over the partitions."""
        total = [0] * (2 * HOURS)
        for state in states:
            kept = state.kpi.score.hours.get((shop_id, day), {}).get(kpi)
            if kept is None:
                settled = state.kpi.score.settled.get((shop_id, day))
                kept = list(settled.kpis[kpi][2]) if settled and kpi in settled.kpis else None
            if kept is not None:
                total = [a + b for a, b in zip(total, kept, strict=True)]
        return total

    def agent_book(self, partitions: Iterable[int] | None = None,
                   shop_day: tuple[str, int] | None = None) -> dict[tuple[str, str, int],
                                                                     AgentDay]:
        """Agent-days of the given partitions merged: (shop, agent, day) -> sums."""
        merged: dict[tuple[str, str, int], AgentDay] = {}
        for state in self._states(partitions):
            for key, rec in state.kpi.agents.days.items():
                if shop_day is not None and (key[0], key[2]) != shop_day:
                    continue
                mine = merged.get(key)
                if mine is None:
                    mine = merged[key] = AgentDay()
                mine.merge(rec)
        return merged

    def agent_days(self, shop_id: str, day: int,
                   partitions: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Per-agent rows of one shop-day, sorted by agent.

        Each: waits, breaches, responses, slow replies, violations, answer ratio, max
        concurrent (``stream.core.agent_days``) and each KPI's figures.
        """
        kpis = self.kpi_book(partitions, (shop_id, day)).kpis_of(shop_id, day)
        book = self.agent_book(partitions, (shop_id, day))
        return [{"agent": agent, **rec.row(kpis, shop_id, day)}
                for (_, agent, _), rec in sorted(book.items())]

    def oldest_kpi_waits(self, base_starts: dict[str, int] | None = None,
                         ) -> dict[tuple[str, str], int]:
        """(shop, KPI name) -> start of the oldest open unbreached wait (scrape time).

        ``base_starts`` (shop -> oldest base wait start, when the caller has it) answers for
        the mirror KPIs; otherwise the base waits are scanned.
        """
        if base_starts is None:
            base_starts = {}
            for _, conv in self.open_waits():
                if conv.wait_start < base_starts.get(conv.shop_id, conv.wait_start + 1):
                    base_starts[conv.shop_id] = conv.wait_start
        out: dict[tuple[str, str], int] = {}
        for part in self.partitions.values():
            for shop, platform in part.shops.items():
                kset = self.policies.kpis(platform, shop)
                if kset.mirror >= 0 and shop in base_starts:
                    out[(shop, kset.kpis[kset.mirror].name)] = base_starts[shop]
            for key, start in kpi_engine.oldest_open(part.kpi, self.policies, self.conversations,
                                                     part.shops).items():
                if start < out.get(key, start + 1):
                    out[key] = start
        return out

    def open_kpi_waits(self) -> Iterator[tuple[str, Conversation, str, int, int]]:
        """Every open unbreached wait of every KPI: (id, row, KPI name, start, deadline).

        The mirror KPI's waits are the base waits.
        """
        for cid, conv in self.open_waits():
            kset = self.policies.kpis(conv.platform, conv.shop_id)
            if kset.mirror >= 0:
                kpi = kset.kpis[kset.mirror]
                yield cid, conv, kpi.name, conv.wait_start, conv.wait_start + kpi.window_ms
        seen: set[tuple[str, int]] = set()
        for part in self.partitions.values():
            for cid, conv, i, start in kpi_engine.open_kpi_waits(
                    part.kpi, self.policies, self.conversations, seen):
                kpi = self.policies.kpis(conv.platform, conv.shop_id).kpis[i]
                yield cid, conv, kpi.name, start, start + kpi.window_ms
