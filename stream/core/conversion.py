"""The engine's order side (DOMAIN.md §7): marks, payments, and the book they add up to.

:class:`~stream.core.engine.Engine` calls in here at three points of an event's life — an
order event (:meth:`Conversions.order`), a wait whose holder has no inquiry mark yet
(:meth:`Conversions.mark`), and a row adopted or forgotten (:meth:`Conversions.adopt`,
:meth:`Conversions.evict`) — so the reply-window path stays as it was. Every figure change
goes through the partition's :class:`~stream.core.orders.OrderBook` as the difference of a
row's contributions before and after, which is why a book rebuilt from the rows (a restart, a
rebalance) is the book that was lost.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

import msgspec

from stream.core import unpaid
from stream.core.events import CUSTOMER, ChatEvent
from stream.core.limits import Capped, RowLimits
from stream.core.orders import (
    CANCELLED,
    CANCELLED_BIT,
    CREATED,
    DEFAULT_CONVERSION_WINDOW_HOURS,
    MARK,
    PAID,
    UNASSIGNED,
    OrderBook,
    OrderOutcome,
    apply_order,
    attributed_day,
    contributions,
    first_waits,
    keep_marks,
    mark,
    prune,
)
from stream.core.policy import Policy, PolicyBook
from stream.core.reply_window import WaitClosed, business_day
from stream.core.rows import Conversation, Order

Aliases = dict[tuple[str, str], set[str]]


def default_id(shop_id: str, buyer_id: str) -> str:
    """The conversation id an event without one gets (§2)."""
    return f"{shop_id}:{buyer_id}"


class Conversions:
    """Order attribution over the engine's conversations.

    ``aliases`` (per partition) lists the conversations of a (shop, buyer) whose ids are not
    the default one, so a payment in one conversation finds the buyer's waits in another; with
    default ids (one conversation per buyer and shop) it stays empty.
    """

    def __init__(self, conversations: dict[str, Conversation],
                 limits: RowLimits | None = None, capped: Capped | None = None,
                 policies: PolicyBook | None = None) -> None:
        self.conversations = conversations
        self.applied = 0  # order events applied (not duplicates): "the log has orders"
        self._longest: int | None = None
        self.limits = limits or RowLimits()
        self.capped = capped if capped is not None else Capped()
        self.policies = policies or PolicyBook()
        # Payment reminders (stream.core.unpaid), per partition: the earliest reminder time of
        # each row with a pending order, a heap of them for the watermark, and the rows with an
        # order listed and neither paid nor cancelled (the board's list reads only these).
        self.next_due: dict[int, dict[str, int]] = {}
        self.due: dict[int, list[tuple[int, str]]] = {}
        self.awaiting: dict[int, set[str]] = {}

    def longest_window_ms(self, policies: PolicyBook) -> int:
        """The longest conversion window of any platform or shop (what eviction must keep)."""
        if self._longest is None:
            hours = [DEFAULT_CONVERSION_WINDOW_HOURS]  # platforms without a policy of their own
            hours += [p.conversion_window_hours for p in policies.platforms.values()]
            hours += [float(profile.overrides["conversion_window_hours"])
                      for profile in policies.shops.values()
                      if "conversion_window_hours" in profile.overrides]
            self._longest = round(max(hours) * 3_600_000)
        return self._longest

    # -- events -----------------------------------------------------------------------------

    def order(self, conv: Conversation, cid: str, event: ChatEvent, policy: Policy,
              tz: ZoneInfo, book: OrderBook, aliases: Aliases) -> list[OrderOutcome]:
        """Apply one non-duplicate order event (after the reply window clamped its time)."""
        self.applied += 1
        status = event.status or CANCELLED
        counted = event.buyer_kind == CUSTOMER
        paid_ms = conv.latest_ts  # the effective time (rule 7)
        payment_day = 0
        attributed: int | None = None
        if counted and status in (PAID, CREATED):
            payment_day = business_day(paid_ms, tz).toordinal()
        if counted and status == PAID:
            attributed = attributed_day(self._buyer_rows(conv, cid, aliases), paid_ms,
                                        policy.conversion_window_ms)
        outcomes = apply_order(conv, cid, event.order_id or "", status, event.amount_fen,
                               counted, payment_day, attributed, self.limits, self.capped,
                               created_day=payment_day, reminder_ms=policy.unpaid_reminder_ms,
                               expiry_ms=policy.unpaid_expiry_ms)
        for outcome in outcomes:  # the order's change of contributions, and nothing else's
            book.record(conv.buyer_id, outcome)
        if conv.orders or cid in self.next_due.get(conv.partition, ()) or \
                cid in self.awaiting.get(conv.partition, ()):
            self._index(conv, cid, policy)
        return outcomes

    # -- payment reminders (stream.core.unpaid) ----------------------------------------------

    def before_event(self, conv: Conversation, cid: str, at_ms: int, policy: Policy,
                     book: OrderBook) -> None:
        """Before an event stamped ``at_ms`` (effective): orders due before it await payment."""
        due = self.next_due.get(conv.partition, {}).get(cid)
        if due is not None and at_ms > due:
            self._list(conv, cid, at_ms, policy, book)

    def after_event(self, conv: Conversation, cid: str, outcomes: Iterable[object],
                    policy: Policy, book: OrderBook) -> None:
        """After a (non-order) event: the day's first reply, and a late event's holder."""
        for outcome in outcomes:
            if isinstance(outcome, WaitClosed):
                unpaid.record_first_reply(conv, outcome.day, outcome.start_ms, outcome.reply_ms)
        if cid in self.awaiting.get(conv.partition, ()):
            for listed in unpaid.rehold(conv, cid, policy.unpaid_reminder_ms):
                book.record(conv.buyer_id, listed)

    def advance(self, partition: int, watermark_ms: int | None, book: OrderBook) -> None:
        """Orders whose reminder time is before the watermark (None: all, a complete log)."""
        heap = self.due.get(partition)
        nexts = self.next_due.get(partition, {})
        while heap and (watermark_ms is None or heap[0][0] < watermark_ms):
            due, cid = heapq.heappop(heap)
            conv = self.conversations.get(cid)
            if conv is None or conv.partition != partition or nexts.get(cid) != due:
                continue  # stale: listed, paid or moved since
            policy = self.policies.policy(conv.platform, conv.shop_id)
            self._list(conv, cid, watermark_ms, policy, book)

    def _list(self, conv: Conversation, cid: str, before_ms: int | None, policy: Policy,
              book: OrderBook) -> None:
        for listed in unpaid.list_due(conv, cid, before_ms, policy.unpaid_reminder_ms,
                                      policy.unpaid_expiry_ms):
            book.record(conv.buyer_id, listed)
        self._index(conv, cid, policy)

    def _index(self, conv: Conversation, cid: str, policy: Policy) -> None:
        """File the row's next reminder time and whether an order of it awaits payment."""
        partition = conv.partition
        nexts = self.next_due.setdefault(partition, {})
        due = unpaid.next_due(conv, policy.unpaid_reminder_ms)
        if due is None:
            nexts.pop(cid, None)
        elif nexts.get(cid) != due:
            nexts[cid] = due
            heapq.heappush(self.due.setdefault(partition, []), (due, cid))
        awaiting = self.awaiting.setdefault(partition, set())
        if any(o.unpaid == unpaid.AWAITING and not o.seen & CANCELLED_BIT
               for o in conv.orders):
            awaiting.add(cid)
        else:
            awaiting.discard(cid)

    def drop(self, partition: int) -> None:
        """Forget a partition's reminder indexes (it moved to another worker)."""
        self.next_due.pop(partition, None)
        self.due.pop(partition, None)
        self.awaiting.pop(partition, None)

    def mark(self, conv: Conversation, book: OrderBook, cid: str, aliases: Aliases,
             policy: Policy) -> None:
        """Give the open wait's holder an inquiry mark for the wait's business day.

        A day's first wait can arrive after a payment it converts (the same effective time,
        or another conversation of the buyer): the payment, silent so far, then counts for
        this day (§7 attribution is by event time, not by arrival).
        """
        day = conv.wait_day
        marks = conv.marks
        first = all(marks[i] != day for i in range(0, len(marks), MARK))
        mark(conv)
        book.inquire(conv.shop_id, conv.buyer_id, day, conv.wait_agent or UNASSIGNED,
                     conv.wait_start if first else None)
        if first:
            self._convert_silent(conv, cid, aliases, day, conv.wait_start,
                                 policy.conversion_window_ms, book)
        limits = self.limits
        if first or len(conv.marks) > MARK * limits.max_marks:
            self.capped.marks += keep_marks(conv, limits.max_days, limits.max_marks)

    def _convert_silent(self, conv: Conversation, cid: str, aliases: Aliases, day: int,
                        start: int, window_ms: int, book: OrderBook) -> None:
        """Attribute to ``day`` the buyer's payments its first wait (``start``) converts.

        Those silent so far, and those counted for an earlier day: a payment converts the
        latest day whose first wait started at or before it (within the window).
        """
        def moves(o: Order) -> bool:
            return o.paid_at > 0 and start <= o.paid_at <= start + window_ms and (
                o.silent or o.day < day)

        for row in self._buyer_rows(conv, cid, aliases):
            if not any(moves(o) for o in row.orders):
                continue
            before = contributions(row.marks, row.orders)
            holder = row.last_agent or UNASSIGNED  # a silent payment's: who holds it now
            row.orders = tuple(
                msgspec.structs.replace(o, day=day, silent=False,
                                        agent=holder if o.silent else o.agent)
                if moves(o) else o
                for o in row.orders)
            book.change(row.shop_id, row.buyer_id, before,
                        contributions(row.marks, row.orders), first_waits(row.marks))

    def _buyer_rows(self, conv: Conversation, cid: str, aliases: Aliases) -> Iterator[Conversation]:
        """The buyer's conversations in the shop (this partition): this one, then the others."""
        yield conv
        conversations = self.conversations
        key = (conv.shop_id, conv.buyer_id)
        usual = default_id(*key)
        if usual != cid:
            other = conversations.get(usual)
            if other is not None and other.partition == conv.partition:
                yield other
        for alias in aliases.get(key, ()):
            other = conversations.get(alias)
            if alias != cid and other is not None and other.partition == conv.partition:
                yield other

    # -- rows -------------------------------------------------------------------------------

    def adopt(self, conv: Conversation, cid: str, book: OrderBook, aliases: Aliases,
              old: Conversation | None = None) -> None:
        """A row joined the engine (new, or restored): index it and book what it carries."""
        if cid != default_id(conv.shop_id, conv.buyer_id):
            aliases.setdefault((conv.shop_id, conv.buyer_id), set()).add(cid)
        if old is not None and (old.marks or old.orders):
            book.change(old.shop_id, old.buyer_id, contributions(old.marks, old.orders), {})
        if conv.marks or conv.orders:
            book.change(conv.shop_id, conv.buyer_id, {}, contributions(conv.marks, conv.orders),
                        first_waits(conv.marks))
        if conv.orders:
            self._index(conv, cid, self.policies.policy(conv.platform, conv.shop_id))

    def evict(self, partition: int, evicted: list[tuple[str, Conversation]],
              keep_from_day: int, book: OrderBook, aliases: Aliases) -> None:
        """Forget days before ``keep_from_day`` and un-index evicted rows.

        Like the §3 figures, evicted rows leave their contributions in the days still kept;
        marks and orders of forgotten days are pruned from the rows that stay.
        """
        nexts = self.next_due.get(partition, {})
        awaiting = self.awaiting.get(partition, set())
        for cid, conv in evicted:
            nexts.pop(cid, None)
            awaiting.discard(cid)
            key = (conv.shop_id, conv.buyer_id)
            others = aliases.get(key)
            if others is not None:
                others.discard(cid)
                if not others:
                    del aliases[key]
        book.forget_before(keep_from_day)
        for conv in self.conversations.values():
            if conv.partition == partition and (conv.marks or conv.orders):
                prune(conv, keep_from_day, self.limits, self.capped)
        for cid in list(awaiting):  # reminders of forgotten days are gone from the rows
            row = self.conversations.get(cid)
            if row is None:
                awaiting.discard(cid)
            else:
                self._index(row, cid, self.policies.policy(row.platform, row.shop_id))
