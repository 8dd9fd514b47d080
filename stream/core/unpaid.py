"""Orders awaiting payment (催付) and the first reply of each day (DOMAIN.md §7).

An order ``created`` at c (effective time, rule 7) and neither ``paid`` nor ``cancelled`` at or
before c + ``unpaid_reminder_minutes`` (R) is *awaiting payment* from c + R until it is paid,
cancelled or c + ``unpaid_expiry_hours`` (E) is reached. It counts once, for the shop and for
the agent holding the conversation at c + R (§3 rule 6: the holder after every event of the
conversation stamped at or before c + R), on the business day of c; it is *recovered* when a
payment arrives strictly before c + E.

The state lives on the order in the row (``Order.created`` ... ``Order.paid_at``), so a restart
restores it with the rest of the row, and the figures follow from the row alone
(:func:`listed_contribution`). Each order goes ``NONE`` -> ``PENDING`` (created, not yet due) ->
``AWAITING`` (c + R passed unpaid) -> ``RECOVERED`` (paid before c + E); a payment or a
cancellation at or before c + R sends a pending order back to ``NONE``.

When does c + R pass? Event time decides, and nothing here reads a clock:

* an event of the conversation stamped after c + R: the order became awaiting before it, under
  the holder before it (:func:`list_due`, called before the event is applied);
* a partition's watermark past c + R (the live sweep), or the end of a complete log (backfill,
  rule 8): the holder now.

The live watermark may run ahead of a late event (beyond the clock-skew tolerance); an event of
the conversation stamped at or before c + R that arrives after the order was listed puts it
right: a payment or cancellation takes the listing back, a new holder takes it over
(:func:`rehold`), so the figures end as a complete log gives them.

The day's first reply: lost inquiries (§7) show the response time of the buyer's first wait of
each business day, which the row keeps as flat (day, ms) pairs in ``Conversation.replies``
(:func:`record_first_reply`), for the days its inquiry marks keep.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import msgspec

from stream.core.rows import Conversation, Order

NONE, PENDING, AWAITING, RECOVERED = 0, 1, 2, 3
UNASSIGNED = "unassigned"
REF_CHARS = 64  # an order id longer than this is kept shortened (the row's size is bounded)
MAX_TRACKED = 64  # orders of one row with a reminder state (pending or listed)
MARK = 3  # the inquiry marks' stride (stream.core.orders.MARK)


class OrderListed(msgspec.Struct, frozen=True, gc=False):
    """An order became awaiting payment (``count`` 1), or that listing is taken back (-1).

    Taken back when an event stamped at or before the reminder time arrived after the
    watermark had listed the order: a payment or cancellation in time, or another holder.
    """

    conversation_id: str
    shop_id: str
    agent: str
    day: int
    amount: int
    count: int = 1


class OrderRecovered(msgspec.Struct, frozen=True, gc=False):
    """An order awaiting payment was paid before it expired (``count`` -1: taken back)."""

    conversation_id: str
    shop_id: str
    agent: str
    day: int
    count: int = 1


UnpaidOutcome = OrderListed | OrderRecovered


def short_ref(order_id: str) -> str:
    """The order id as the row keeps it: whole up to ``REF_CHARS``, else shortened."""
    return order_id if len(order_id) <= REF_CHARS else order_id[:REF_CHARS - 3] + "..."


def tracked(orders: Iterable[Order]) -> int:
    """How many orders carry a reminder state."""
    return sum(1 for o in orders if o.unpaid)


def is_listed(order: Order) -> bool:
    """Whether the order became awaiting payment (it counts in ``unpaid_orders``)."""
    return order.unpaid >= AWAITING


def is_awaiting(order: Order, now_ms: int, expiry_ms: int, cancelled_bit: int) -> bool:
    """Whether the order is awaiting payment at ``now_ms`` (listed, unpaid, not cancelled)."""
    return order.unpaid == AWAITING and not order.seen & cancelled_bit and \
        now_ms < order.created + expiry_ms


def created(order: Order, at_ms: int, day: int, price: int | None, order_id: str) -> Order:
    """A counted ``created``: the order is pending until its reminder time."""
    return msgspec.structs.replace(order, created=at_ms, price=price or 0, unpaid=PENDING,
                                   cday=day, ref=short_ref(order_id))


def _listed(order: Order, holder: str | None) -> Order:
    return msgspec.structs.replace(order, unpaid=AWAITING, holder=holder or UNASSIGNED)


def _outcome(cid: str, shop: str, order: Order, count: int) -> OrderListed:
    return OrderListed(cid, shop, order.holder, order.cday, order.price, count)


def due(order: Order, reminder_ms: int, expiry_ms: int) -> bool:
    """Whether a pending order can ever be listed (the reminder comes before the expiry)."""
    return reminder_ms < expiry_ms and order.unpaid == PENDING


def settled(order: Order, at_ms: int, paid: bool, holder: str | None, cid: str, shop: str,
            reminder_ms: int, expiry_ms: int) -> tuple[Order, list[UnpaidOutcome]]:
    """A payment (``paid``) or a cancellation of the order at effective time ``at_ms``.

    At or before the reminder time it is not (or no longer) awaiting payment; after it, a
    pending order became awaiting first (under ``holder``, the holder now: an order event
    changes no holder), and a payment strictly before the expiry recovers it.
    """
    out: list[UnpaidOutcome] = []
    state = order.unpaid
    if state == NONE or state == RECOVERED:
        return order, out
    remind = order.created + reminder_ms
    if at_ms <= remind:
        if state == AWAITING:
            out.append(_outcome(cid, shop, order, -1))
        return msgspec.structs.replace(order, unpaid=NONE, holder=""), out
    if state == PENDING:
        if not due(order, reminder_ms, expiry_ms):
            return msgspec.structs.replace(order, unpaid=NONE), out
        order = _listed(order, holder)
        out.append(_outcome(cid, shop, order, 1))
    if paid and at_ms < order.created + expiry_ms:
        order = msgspec.structs.replace(order, unpaid=RECOVERED)
        out.append(OrderRecovered(cid, shop, order.holder, order.cday))
    return order, out


def next_due(conv: Conversation, reminder_ms: int) -> int | None:
    """The earliest reminder time of the row's pending orders, or None."""
    found = [o.created + reminder_ms for o in conv.orders if o.unpaid == PENDING]
    return min(found) if found else None


def list_due(conv: Conversation, cid: str, before_ms: int | None, reminder_ms: int,
             expiry_ms: int) -> list[OrderListed]:
    """Pending orders whose reminder time is before ``before_ms`` (None: all) await payment.

    Under the holder now (``conv.last_agent``): call it before applying an event stamped
    ``before_ms``, or with the watermark, or at the end of a complete log (None).
    """
    orders = conv.orders
    out: list[OrderListed] = []
    changed = False
    new: list[Order] = []
    for order in orders:
        if order.unpaid == PENDING and (before_ms is None
                                        or order.created + reminder_ms < before_ms):
            changed = True
            if reminder_ms < expiry_ms:
                order = _listed(order, conv.last_agent)
                out.append(_outcome(cid, conv.shop_id, order, 1))
            else:
                order = msgspec.structs.replace(order, unpaid=NONE)
        new.append(order)
    if changed:
        conv.orders = tuple(new)
    return out


def rehold(conv: Conversation, cid: str, reminder_ms: int) -> list[OrderListed]:
    """Listed orders whose reminder time is not before the row's latest event: holder now.

    Only an order the watermark listed ahead of a late event can be in that case.
    """
    at = conv.latest_ts
    holder = conv.last_agent or UNASSIGNED
    out: list[OrderListed] = []
    new: list[Order] = []
    changed = False
    for order in conv.orders:
        if order.unpaid == AWAITING and order.created + reminder_ms >= at and \
                order.holder != holder:
            out.append(_outcome(cid, conv.shop_id, order, -1))
            order = msgspec.structs.replace(order, holder=holder)
            out.append(_outcome(cid, conv.shop_id, order, 1))
            changed = True
        new.append(order)
    if changed:
        conv.orders = tuple(new)
    return out


def forget(order: Order) -> Order:
    """The order without its reminder state (its creation day is no longer kept)."""
    return msgspec.structs.replace(order, created=0, price=0, unpaid=NONE, cday=0, holder="",
                                   ref="")


# --- the day's first reply (lost inquiries) -----------------------------------------------------


def first_wait_of(marks: tuple[int | str, ...], day: int) -> int | None:
    """The start of the row's first customer wait of ``day`` (from its inquiry marks)."""
    best: int | None = None
    for i in range(0, len(marks), MARK):
        if marks[i] == day:
            start = cast(int, marks[i + 1])
            if best is None or start < best:
                best = start
    return best


def first_reply(replies: tuple[int, ...], day: int) -> int | None:
    """The response time (ms) of the row's first wait of ``day``, if it was answered."""
    for i in range(0, len(replies), 2):
        if replies[i] == day:
            return replies[i + 1]
    return None


def record_first_reply(conv: Conversation, day: int, start_ms: int, reply_ms: int) -> None:
    """A wait of ``day`` closed: keep its response time if it was the day's first wait."""
    if first_reply(conv.replies, day) is not None or first_wait_of(conv.marks, day) != start_ms:
        return
    conv.replies = (*conv.replies, day, reply_ms - start_ms)


def keep_replies(conv: Conversation) -> None:
    """Drop the first replies of days the row's inquiry marks no longer keep."""
    replies = conv.replies
    if not replies:
        return
    days = set(conv.marks[0::MARK])
    kept = tuple(v for i in range(0, len(replies), 2) if replies[i] in days
                 for v in replies[i:i + 2])
    if len(kept) != len(replies):
        conv.replies = kept
