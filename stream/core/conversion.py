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

from collections.abc import Iterator
from zoneinfo import ZoneInfo

from stream.core.events import CUSTOMER, ChatEvent
from stream.core.limits import Capped, RowLimits
from stream.core.orders import (
    CANCELLED,
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
from stream.core.reply_window import business_day
from stream.core.rows import Conversation

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
                 limits: RowLimits | None = None, capped: Capped | None = None) -> None:
        self.conversations = conversations
        self.applied = 0  # order events applied (not duplicates): "the log has orders"
        self._longest: int | None = None
        self.limits = limits or RowLimits()
        self.capped = capped if capped is not None else Capped()

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
        if counted and status == PAID:
            payment_day = business_day(paid_ms, tz).toordinal()
            attributed = attributed_day(self._buyer_rows(conv, cid, aliases), paid_ms,
                                        policy.conversion_window_ms)
        outcomes = apply_order(conv, cid, event.order_id or "", status, event.amount_fen,
                               counted, payment_day, attributed, self.limits, self.capped)
        for outcome in outcomes:  # the order's change of contributions, and nothing else's
            book.record(conv.buyer_id, outcome)
        return outcomes

    def mark(self, conv: Conversation, book: OrderBook) -> None:
        """Give the open wait's holder an inquiry mark for the wait's business day."""
        day = conv.wait_day
        marks = conv.marks
        first = all(marks[i] != day for i in range(0, len(marks), MARK))
        mark(conv)
        book.inquire(conv.shop_id, conv.buyer_id, day, conv.wait_agent or UNASSIGNED,
                     conv.wait_start if first else None)
        limits = self.limits
        if first or len(conv.marks) > MARK * limits.max_marks:
            self.capped.marks += keep_marks(conv, limits.max_days, limits.max_marks)

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

    @staticmethod
    def adopt(conv: Conversation, cid: str, book: OrderBook, aliases: Aliases,
              old: Conversation | None = None) -> None:
        """A row joined the engine (new, or restored): index it and book what it carries."""
        if cid != default_id(conv.shop_id, conv.buyer_id):
            aliases.setdefault((conv.shop_id, conv.buyer_id), set()).add(cid)
        if old is not None and (old.marks or old.orders):
            book.change(old.shop_id, old.buyer_id, contributions(old.marks, old.orders), {})
        if conv.marks or conv.orders:
            book.change(conv.shop_id, conv.buyer_id, {}, contributions(conv.marks, conv.orders),
                        first_waits(conv.marks))

    def evict(self, partition: int, evicted: list[tuple[str, Conversation]],
              keep_from_day: int, book: OrderBook, aliases: Aliases) -> None:
        """Forget days before ``keep_from_day`` and un-index evicted rows.

        Like the §3 figures, evicted rows leave their contributions in the days still kept;
        marks and orders of forgotten days are pruned from the rows that stay.
        """
        for cid, conv in evicted:
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
