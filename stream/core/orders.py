"""Orders and inquiry conversion (DOMAIN.md §7): amounts, attribution, the day figures.

Everything here lives in the conversation row (two fields at the end of
:class:`~stream.core.rows.Conversation`), so a restart restores it with the rest of
the row:

* ``marks`` — the conversation's *inquiry marks*, flat triples ``(day, first wait ms, agent)``
  (agent ``""`` = unassigned), one per business day and agent that held a customer wait that
  day; the first triple of a day carries the day's first wait. Any hour counts (unlike the
  counted waits of §3).
* ``orders`` — the *live* orders, one frozen :class:`Order` each: which statuses arrived (a
  repeated (order id, status) other than ``refunded`` is a duplicate), the paid amount, the
  refunds so far and where the payment was attributed. An order is live while its outcome can
  still change a figure: awaiting payment, or paid on a business day the figures still keep
  (a refund, however late, counts for that day; a restart rebuilds the day from the row).
* ``retired`` — the *settled* orders, 8 bytes each (:func:`retired_entry`): the key and the
  statuses seen, all a settled order still needs (to recognise a repeated status). Settled:
  cancelled without money (no payment, no refund), or paid on a day the figures forgot
  (:func:`prune`). A payment or refund of a cancelled order brings it back to life, so every
  figure is what it would have been had it stayed.

Both are capped (:class:`~stream.core.limits.RowLimits`): beyond ``max_live_orders`` the
oldest live order is settled early (one without money first: that loses nothing but its
place), beyond ``max_settled_orders`` the oldest settled ones are forgotten; each is counted
(:class:`~stream.core.limits.Capped`). So an order event costs the same in the 100,000th
order of a conversation as in its first, and the row stays small.

A row's *contributions* to the §7 figures follow from those two fields alone
(:func:`contributions`); :class:`OrderBook` keeps their sums per shop and day and per shop,
agent and day, exactly as :class:`~stream.core.figures.DayBook` does for the §3 figures, so it
can be rebuilt from the rows after a restart and gives the same answer.

Amounts are integer fen (0.01 yuan) from parsing to read-out; no float ever holds one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import cast

import msgspec
import xxhash

from stream.core import unpaid
from stream.core.distinct import shift_buyer
from stream.core.limits import Capped, RowLimits
from stream.core.rows import NO_WAIT, Conversation, Order
from stream.core.unpaid import OrderListed, OrderRecovered

CREATED, PAID, REFUNDED, CANCELLED = "created", "paid", "refunded", "cancelled"
STATUSES = (CREATED, PAID, REFUNDED, CANCELLED)
NEEDS_AMOUNT = (PAID, REFUNDED)
_STATUS_BIT = {CREATED: 1, PAID: 2, REFUNDED: 4, CANCELLED: 8}
UNASSIGNED = "unassigned"
DEFAULT_CONVERSION_WINDOW_HOURS = 24.0
MARK = 3  # ints and strs per inquiry mark: (day, first wait ms, agent)

# ASCII digits only: \d would take １２ or ٣ for a price.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_DECIMAL_STRING = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


# --- amounts ----------------------------------------------------------------------------------


def parse_amount(text: str) -> int | str:
    """A yuan amount (decimal text) -> integer fen, or the reason it is not one.

    Non-negative, at most two decimals' worth of value (``19.90`` and ``19.900`` are 1990
    fen; ``19.901`` is refused: it is not a whole number of fen).
    """
    shown = text if len(text) <= 40 else text[:40] + "..."
    if not (_DECIMAL_STRING.fullmatch(text) or _NUMBER.fullmatch(text)):
        return f"amount {shown!r} is not a decimal number of yuan such as 19.90"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return f"amount {shown!r} is not a decimal number of yuan such as 19.90"
    if value < 0 or text.startswith("-"):  # -0 too: a sign says a refund was meant
        return (f"amount {shown} is negative; a refund is status refunded with a positive "
                f"amount")
    if value and value.adjusted() > 12:
        return f"amount {shown} is too large for an order (over 10^12 yuan)"
    fen = value * 100
    if fen != fen.to_integral_value():
        return f"amount {shown} has more than 2 decimals (the smallest unit is 0.01 yuan)"
    return int(fen)


def yuan(fen: int) -> str:
    """Integer fen -> the decimal string of the report (``1990`` -> ``"19.90"``)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def per_buyer(total_fen: int, buyers: int) -> int:
    """``total / buyers`` in fen, rounded half-up to the fen (客单价)."""
    quotient, remainder = divmod(total_fen, buyers)
    return quotient + (1 if 2 * remainder >= buyers else 0)


def order_key(order_id: str) -> int:
    """A stable 64-bit key of an order id (the row keeps keys, not the ids)."""
    return xxhash.xxh3_64_intdigest(order_id.encode())


# --- the row's order state ----------------------------------------------------------------------


class OrderPaid(msgspec.Struct, frozen=True, gc=False):
    """A payment was counted: for ``day`` and ``agent``, or ``silent`` (shop only).

    ``refunded`` is what refunds that arrived before the payment already took back.
    """

    conversation_id: str
    shop_id: str
    agent: str
    day: int
    amount: int
    silent: bool
    refunded: int = 0


class OrderRefunded(msgspec.Struct, frozen=True, gc=False):
    """A refund of a counted, attributed payment (it counts for the payment's day)."""

    conversation_id: str
    shop_id: str
    agent: str
    day: int
    amount: int


OrderOutcome = OrderPaid | OrderRefunded | OrderListed | OrderRecovered


_KEY = attrgetter("key")


_last: tuple[tuple[Order, ...], int, int] = ((), 0, -1)  # (orders, key, where): the last look


def _find(orders: tuple[Order, ...], key: int) -> int:
    """Where the order ``key`` is in ``orders``, or -1.

    Scanned in C (every new order scans them all). The last answer is remembered: an event
    asks twice, for duplicates and to apply, and a tuple never changes.
    """
    global _last
    if _last[0] is orders and _last[1] == key:
        return _last[2]
    keys = list(map(_KEY, orders))
    found = keys.index(key) if key in keys else -1
    _last = (orders, key, found)
    return found


RETIRED = 8  # bytes per settled order in ``Conversation.retired``
_PAID_BIT = PAID_BIT = _STATUS_BIT[PAID]
_CANCELLED_BIT = CANCELLED_BIT = _STATUS_BIT[CANCELLED]


def retired_entry(key: int, seen: int) -> bytes:
    """A settled order as the row keeps it: the key's first 7 bytes (big-endian), its status bits.

    56 bits of a 64-bit hash tell the orders of one conversation apart (two of a thousand
    orders share them with odds of about 1 in 10^11).
    """
    return key.to_bytes(8, "big")[:7] + bytes((seen,))


def _find_retired(retired: bytes, key: int) -> int:
    """Where ``key``'s entry starts in ``retired`` (aligned: never across two), or -1."""
    prefix = key.to_bytes(8, "big")[:7]
    i = retired.find(prefix)
    while i >= 0:
        if i % RETIRED == 0:
            return i
        i = retired.find(prefix, i + 1)
    return -1


def is_duplicate_order(conv: Conversation, order_id: str, status: str) -> bool:
    """Whether (order id, status) was already applied; ``refunded`` never repeats."""
    if status == REFUNDED or not (conv.orders or conv.retired):
        return False
    key = order_key(order_id)
    bit = _STATUS_BIT[status]
    i = _find(conv.orders, key)
    if i >= 0:
        return bool(conv.orders[i].seen & bit)
    at = _find_retired(conv.retired, key)
    return at >= 0 and bool(conv.retired[at + RETIRED - 1] & bit)


# --- inquiry marks ------------------------------------------------------------------------------


def needs_mark(conv: Conversation) -> bool:
    """Whether the open wait's (day, holder) has no inquiry mark yet (call with a wait open)."""
    marks = conv.marks
    agent = conv.wait_agent or ""
    day = conv.wait_day
    i = len(marks) - MARK
    while i >= 0:  # newest first: the open wait's mark is nearly always the last one
        if marks[i] == day and marks[i + 2] == agent:
            return False
        i -= MARK
    return True


def mark(conv: Conversation) -> None:
    """Record that the open wait's holder held a customer wait on its business day."""
    conv.marks = (*conv.marks, conv.wait_day, conv.wait_start, conv.wait_agent or "")


def first_waits(marks: tuple[int | str, ...]) -> dict[int, int]:
    """Business day -> the start of the day's first customer wait, from a row's marks."""
    out: dict[int, int] = {}
    for i in range(0, len(marks), MARK):
        day, start = cast(int, marks[i]), cast(int, marks[i + 1])
        if day not in out or start < out[day]:
            out[day] = start
    return out


def attributed_day(candidates: Iterable[Conversation], paid_ms: int,
                   window_ms: int) -> int | None:
    """The business day a payment at ``paid_ms`` converts, or None (silent).

    The latest day of the buyer (over the buyer's conversations in the shop) whose first wait
    started at or before the payment and at most ``window_ms`` before it.
    """
    firsts: dict[int, int] = {}
    for conv in candidates:
        for day, start in first_waits(conv.marks).items():
            if day not in firsts or start < firsts[day]:
                firsts[day] = start
    best: int | None = None
    for day, start in firsts.items():
        if start <= paid_ms and paid_ms - start <= window_ms and (best is None or day > best):
            best = day
    return best


# --- applying an order --------------------------------------------------------------------------


def apply_order(conv: Conversation, conversation_id: str, order_id: str, status: str,
                amount: int | None, counted: bool, payment_day: int,
                day: int | None, limits: RowLimits | None = None,
                capped: Capped | None = None, *, created_day: int = 0,
                reminder_ms: int = 0, expiry_ms: int = 0) -> list[OrderOutcome]:
    """Apply one non-duplicate order event.

    ``counted`` is False for orders of ad and peer buyers: their statuses are remembered (for
    duplicates) and nothing else. For a counted ``paid``, ``day`` is the attributed business
    day (:func:`attributed_day`) or None, when the payment is silent and counts on
    ``payment_day``; the agent is the one holding the conversation now (§3 rule 6).

    The outcomes are exactly the change of the row's contributions (:func:`contributions`), so
    the book follows them (:meth:`OrderBook.record`) without reading the other orders.
    ``limits`` caps the row's orders (default :class:`RowLimits`), counting into ``capped``.

    Payment reminders (:mod:`stream.core.unpaid`): a counted ``created`` on ``created_day``
    makes the order pending; a payment or cancellation settles its reminder, with
    ``reminder_ms`` and ``expiry_ms`` the shop's ``unpaid_reminder_minutes`` and
    ``unpaid_expiry_hours`` (0 and 0: no reminders).
    """
    limits = limits or RowLimits()
    key = order_key(order_id)
    bit = _STATUS_BIT[status]
    orders = conv.orders
    i = _find(orders, key)
    if i >= 0:
        order = orders[i]
    else:
        at = _find_retired(conv.retired, key) if conv.retired else -1
        if at >= 0:
            seen = conv.retired[at + RETIRED - 1]
            if seen & _PAID_BIT or status in (CREATED, CANCELLED):
                # settled for good (paid on a forgotten day, or set aside by the cap), or a
                # status that carries no money: only the statuses seen change
                retired = conv.retired
                conv.retired = retired[:at] + retired_entry(key, seen | bit) + \
                    retired[at + RETIRED:]
                return []
            # a payment or refund of a cancelled order: live again, as if it had never left
            conv.retired = conv.retired[:at] + conv.retired[at + RETIRED:]
            order = Order(key, seen)
        else:
            order = Order(key)
    prior = order.seen
    order = msgspec.structs.replace(order, seen=order.seen | bit)
    outcomes: list[OrderOutcome] = []
    at = conv.latest_ts  # the effective time (rule 7)
    if counted and status == CREATED and not prior & (_PAID_BIT | _CANCELLED_BIT) \
            and expiry_ms > 0:
        if unpaid.tracked(orders) - (1 if i >= 0 and orders[i].unpaid else 0) \
                < unpaid.MAX_TRACKED:
            order = unpaid.created(order, at, created_day, amount, order_id)
        elif capped is not None:
            capped.unpaid_orders += 1
    elif order.unpaid and status in (PAID, CANCELLED):
        order, settled = unpaid.settled(order, at, status == PAID, conv.last_agent, conversation_id,
                                        conv.shop_id, reminder_ms, expiry_ms)
        outcomes.extend(settled)
    if counted and status == PAID:
        fen = amount or 0
        if day is None:
            order = msgspec.structs.replace(order, amount=fen, day=payment_day, agent="",
                                            silent=True, paid_at=at)
        else:
            agent = conv.last_agent or UNASSIGNED
            order = msgspec.structs.replace(order, amount=fen, day=day, agent=agent,
                                            paid_at=at)
        outcomes.append(OrderPaid(conversation_id, conv.shop_id, order.agent or UNASSIGNED,
                                  order.day, fen, order.silent, order.refunded))
    elif counted and status == REFUNDED:
        fen = amount or 0
        order = msgspec.structs.replace(order, refunded=order.refunded + fen)
        if order.day and not order.silent:
            outcomes.append(OrderRefunded(conversation_id, conv.shop_id, order.agent, order.day,
                                          fen))
    if status == CANCELLED and not order.seen & _PAID_BIT and not order.refunded \
            and not unpaid.is_listed(order):
        # settled: it will never convert, and it carries no money (nor a reminder's figures)
        if i >= 0:
            conv.orders = (*orders[:i], *orders[i + 1:])
        _retire(conv, (retired_entry(key, order.seen),), limits, capped)
        return outcomes
    if i >= 0:
        conv.orders = (*orders[:i], order, *orders[i + 1:])
        return outcomes
    conv.orders = (*orders, order)
    if len(conv.orders) > limits.max_live_orders:
        _settle_oldest(conv, limits, capped)
    return outcomes


def _settle_oldest(conv: Conversation, limits: RowLimits, capped: Capped | None) -> None:
    """Settle one live order early (the cap): the oldest without money, else the oldest."""
    orders = conv.orders
    victim = next((j for j, o in enumerate(orders)
                   if not o.seen & _PAID_BIT and not o.refunded and not o.unpaid), None)
    if victim is None:
        victim = next((j for j, o in enumerate(orders)
                       if not o.seen & _PAID_BIT and not o.refunded), 0)
    order = orders[victim]
    conv.orders = (*orders[:victim], *orders[victim + 1:])
    if capped is not None:
        capped.live_orders += 1
    _retire(conv, (retired_entry(order.key, order.seen),), limits, capped)


def _retire(conv: Conversation, entries: Iterable[bytes], limits: RowLimits,
            capped: Capped | None) -> None:
    """Append settled orders to the row, forgetting the oldest beyond the cap."""
    retired = conv.retired + b"".join(entries)
    over = len(retired) - limits.max_settled_orders * RETIRED
    if over > 0:
        retired = retired[over:]
        if capped is not None:
            capped.settled_orders += over // RETIRED
    conv.retired = retired


def prune(conv: Conversation, before_day: int, limits: RowLimits | None = None,
          capped: Capped | None = None) -> None:
    """Drop marks, and settle orders, of business days before ``before_day`` (bounded rows).

    Called when the book has forgotten those days: their contributions are no longer read, and
    a refund of such an order would count for a day no figure shows any more. The settled
    order keeps its statuses, so a repeated payment is still a duplicate. Orders not yet paid
    stay live.
    """
    marks = conv.marks
    if marks and cast(int, marks[0]) < before_day:
        conv.marks = tuple(v for i in range(0, len(marks), MARK)
                           if cast(int, marks[i]) >= before_day for v in marks[i:i + MARK])
        unpaid.keep_replies(conv)
    if conv.orders and any(o.cday and o.cday < before_day for o in conv.orders):
        # reminders of forgotten days: an order without money settles, one still payable stays
        kept_orders: list[Order] = []
        gone: list[Order] = []
        for o in conv.orders:
            if o.cday and o.cday < before_day:
                o = unpaid.forget(o)
                if o.seen & _CANCELLED_BIT and not o.seen & _PAID_BIT and not o.refunded:
                    gone.append(o)
                    continue
            kept_orders.append(o)
        conv.orders = tuple(kept_orders)
        if gone:
            _retire(conv, (retired_entry(o.key, o.seen) for o in gone), limits or RowLimits(),
                    capped)
    if conv.orders and any(o.day and o.day < before_day for o in conv.orders):
        old = [o for o in conv.orders if o.day and o.day < before_day]
        conv.orders = tuple(o for o in conv.orders if not o.day or o.day >= before_day)
        _retire(conv, (retired_entry(o.key, o.seen) for o in old), limits or RowLimits(),
                capped)


def keep_orders(conv: Conversation, limits: RowLimits, capped: Capped | None = None) -> None:
    """Settle what a restored row holds beyond the caps (or settled before they existed).

    Cancelled orders without money are settled (nothing is lost); then, beyond
    ``max_live_orders``, the oldest without money, then the oldest; as :func:`apply_order`
    would have done.
    """
    orders = conv.orders
    gone = [j for j, o in enumerate(orders) if o.seen & _STATUS_BIT[CANCELLED]
            and not o.seen & _PAID_BIT and not o.refunded and not unpaid.is_listed(o)]
    over = len(orders) - len(gone) - limits.max_live_orders
    if over > 0:
        taken = set(gone)
        moneyless = [j for j, o in enumerate(orders)
                     if j not in taken and not o.seen & _PAID_BIT and not o.refunded]
        taken.update(moneyless)
        spare = moneyless + [j for j in range(len(orders)) if j not in taken]
        gone += spare[:over]
        if capped is not None:
            capped.live_orders += over
    if gone:
        out = set(gone)
        conv.orders = tuple(o for j, o in enumerate(orders) if j not in out)
        _retire(conv, (retired_entry(orders[j].key, orders[j].seen) for j in sorted(out)),
                limits, capped)
    elif len(conv.retired) > limits.max_settled_orders * RETIRED:
        _retire(conv, (), limits, capped)


def keep_marks(conv: Conversation, max_days: int, max_marks: int) -> int:
    """Bound the inquiry marks: the newest ``max_days`` days' and at most ``max_marks``.

    The book keeps what a dropped mark counted (it is not told); only a restart, which rebuilds
    the figures from the rows, loses it. Kept whatever the caps: the marks of the open wait's
    day, a day's first mark (it carries the first wait, which attribution reads) and the open
    wait holder's mark (else it would be marked again at once). Returns how many were dropped.
    """
    marks = conv.marks
    n = len(marks) // MARK
    days = {cast(int, marks[i]) for i in range(0, len(marks), MARK)}
    if n <= max_marks and len(days) <= max_days:
        return 0
    keep = set(sorted(days)[-max_days:])
    open_day = conv.wait_day if conv.wait_start != NO_WAIT else None
    if open_day is not None:
        keep.add(open_day)
    triples = [marks[i:i + MARK] for i in range(0, len(marks), MARK) if marks[i] in keep]
    if len(triples) > max_marks:
        firsts: set[int | str] = set()
        holder = conv.wait_agent or ""
        spare: list[int] = []
        for j, (day, _, agent) in enumerate(triples):
            if day not in firsts:
                firsts.add(day)
            elif day != open_day or agent != holder:
                spare.append(j)
        drop = set(spare[:len(triples) - max_marks])
        triples = [t for j, t in enumerate(triples) if j not in drop]
    conv.marks = tuple(v for t in triples for v in t)
    unpaid.keep_replies(conv)
    return n - len(triples)


# --- contributions and the book -----------------------------------------------------------------

# Index of each figure in a contribution vector (per (agent or None, day) of one row).
INQUIRY, PAID_ORDERS, SALES, REFUNDS, SILENT_ORDERS, SILENT_SALES = range(6)
UNPAID_ORDERS, UNPAID_AMOUNT, UNPAID_RECOVERED = range(6, 9)  # by the day of creation
FIGURES = 9
_ZERO = (0,) * FIGURES
Contributions = dict[tuple[str | None, int], list[int]]


def contributions(marks: tuple[int | str, ...], orders: tuple[Order, ...]) -> Contributions:
    """One row's contributions: (agent, day) -> vector; agent None is the shop's own row."""
    out: Contributions = {}

    def vec(agent: str | None, day: int) -> list[int]:
        found = out.get((agent, day))
        if found is None:
            found = out[(agent, day)] = [0] * FIGURES
        return found

    for i in range(0, len(marks), MARK):
        day, agent = cast(int, marks[i]), cast(str, marks[i + 2])
        vec(None, day)[INQUIRY] = 1
        vec(agent or UNASSIGNED, day)[INQUIRY] = 1
    for order in orders:
        if order.unpaid >= unpaid.AWAITING:
            for v in (vec(None, order.cday), vec(order.holder, order.cday)):
                v[UNPAID_ORDERS] += 1
                v[UNPAID_AMOUNT] += order.price
                v[UNPAID_RECOVERED] += 1 if order.unpaid == unpaid.RECOVERED else 0
        if not order.day:
            continue
        if order.silent:
            shop = vec(None, order.day)
            shop[SILENT_ORDERS] += 1
            shop[SILENT_SALES] += order.amount
            continue
        for v in (vec(None, order.day), vec(order.agent, order.day)):
            v[PAID_ORDERS] += 1
            v[SALES] += order.amount
            v[REFUNDS] += order.refunded
    return out


def _shift_payer(payers: Counter[str], buyer: str, orders: int) -> None:
    """Count a buyer's paid orders in or out; a buyer pays while the count is above 0.

    Orders, not rows: one order's change (:meth:`OrderBook.record`) and a whole row's
    (:meth:`OrderBook.change`) then add up alike.
    """
    if orders:
        payers[buyer] += orders
        if payers[buyer] <= 0:
            del payers[buyer]


@dataclass(frozen=True, slots=True)
class Conversion:
    """The §7 figures of one shop (``agent`` None) or one agent, for one business day."""

    shop_id: str
    agent: str | None
    day: str
    inquiries: int
    paid_buyers: int
    conversion_rate: float | None
    chat_sales: str
    refunds: str
    avg_order_value: str | None
    silent_orders: int
    silent_sales: str
    sales_fen: int  # chat_sales in fen, for ranking
    # Payment reminders (催付) by the day of creation, and (agents) lost inquiries (询单流失).
    unpaid_orders: int = 0
    unpaid_amount: str = "0.00"
    unpaid_recovered: int = 0
    lost_inquiries: int = 0

    def fields(self) -> dict[str, object]:
        """The §7 fields in contract order (the agent's: without the silent ones)."""
        out: dict[str, object] = {
            "inquiries": self.inquiries, "paid_buyers": self.paid_buyers,
            "conversion_rate": self.conversion_rate, "chat_sales": self.chat_sales,
            "refunds": self.refunds, "avg_order_value": self.avg_order_value}
        if self.agent is None:
            out["silent_orders"] = self.silent_orders
            out["silent_sales"] = self.silent_sales
        return out

    def lead_fields(self) -> dict[str, object]:
        """The lead's counts (§7, 催付 and 询单流失), after :meth:`fields` in ``--report``.

        ``unpaid_orders``, ``unpaid_amount``, ``unpaid_recovered`` and, for an agent,
        ``lost_inquiries``.
        """
        out: dict[str, object] = {"unpaid_orders": self.unpaid_orders,
                                  "unpaid_amount": self.unpaid_amount,
                                  "unpaid_recovered": self.unpaid_recovered}
        if self.agent is not None:
            out["lost_inquiries"] = self.lost_inquiries
        return out

    def as_dict(self) -> dict[str, object]:
        """``shop_id`` (``agent``), ``day``, then :meth:`fields`."""
        head: dict[str, object] = {"shop_id": self.shop_id}
        if self.agent is not None:
            head["agent"] = self.agent
        head["day"] = self.day
        return {**head, **self.fields()}


@dataclass(slots=True)
class ConversionTotals:
    """Running sums for one (shop, agent or None, day)."""

    vector: list[int] = field(default_factory=lambda: [0] * FIGURES)
    inquirers: Counter[str] = field(default_factory=Counter)  # buyer -> rows with a mark
    payers: Counter[str] = field(default_factory=Counter)  # buyer -> paid orders (not silent)
    last_first_ms: int = 0  # the latest first wait of the day (when the day settles)

    def figures(self, shop_id: str, agent: str | None, day: int,
                converted: Mapping[str, int] | None = None) -> Conversion:
        """The §7 figures of these totals.

        ``converted``: the buyers whose day converted (the shop-day's ``payers``), for an
        agent's ``lost_inquiries``: the agent's inquirers not among them.
        """
        v = self.vector
        inquiries, paid = len(self.inquirers), len(self.payers)
        lost = 0
        if agent is not None:
            won = converted or {}
            lost = sum(1 for buyer in self.inquirers if buyer not in won)
        return Conversion(
            shop_id=shop_id, agent=agent, day=date.fromordinal(day).isoformat(),
            inquiries=inquiries, paid_buyers=paid,
            conversion_rate=paid / inquiries if inquiries else None,
            chat_sales=yuan(v[SALES]), refunds=yuan(v[REFUNDS]),
            avg_order_value=yuan(per_buyer(v[SALES], paid)) if paid else None,
            silent_orders=v[SILENT_ORDERS], silent_sales=yuan(v[SILENT_SALES]),
            sales_fen=v[SALES], unpaid_orders=v[UNPAID_ORDERS],
            unpaid_amount=yuan(v[UNPAID_AMOUNT]), unpaid_recovered=v[UNPAID_RECOVERED],
            lost_inquiries=lost)

    @property
    def active(self) -> bool:
        """Whether the day has inquiries, payments or refunds (a report row)."""
        v = self.vector
        return bool(self.inquirers or v[PAID_ORDERS] or v[SILENT_ORDERS] or v[REFUNDS]
                    or v[UNPAID_ORDERS])


class OrderBook:
    """§7 figures of many shops, agents and days, kept in step with row contributions."""

    __slots__ = ("totals",)

    def __init__(self) -> None:
        self.totals: dict[tuple[str, str | None, int], ConversionTotals] = {}

    def change(self, shop_id: str, buyer_id: str, before: Contributions,
               after: Contributions, firsts: Mapping[int, int] | None = None) -> None:
        """Replace one row's contributions ``before`` -> ``after`` (``firsts``: its first waits)."""
        for key in before.keys() | after.keys():
            old = before.get(key, _ZERO)
            new = after.get(key, _ZERO)
            if old == new:
                continue
            agent, day = key
            full = (shop_id, agent, day)
            totals = self.totals.get(full)
            if totals is None:
                totals = self.totals[full] = ConversionTotals()
            vec = totals.vector
            for i in range(FIGURES):
                vec[i] += new[i] - old[i]
            shift_buyer(totals.inquirers, buyer_id, old[INQUIRY] > 0, new[INQUIRY] > 0)
            _shift_payer(totals.payers, buyer_id, new[PAID_ORDERS] - old[PAID_ORDERS])
        if firsts:
            for day, start in firsts.items():
                totals = self.totals.get((shop_id, None, day))
                if totals is not None and start > totals.last_first_ms:
                    totals.last_first_ms = start

    def record(self, buyer_id: str, outcome: OrderOutcome) -> None:
        """What :meth:`change` would do for one order's change, straight from its outcome.

        The outcomes of :func:`apply_order` are that order's change of contributions, so an
        order event costs the same however many orders the row has.
        """
        shop_id, day = outcome.shop_id, outcome.day
        if isinstance(outcome, OrderListed):
            for agent in (None, outcome.agent):
                vec = self._totals(shop_id, agent, day).vector
                vec[UNPAID_ORDERS] += outcome.count
                vec[UNPAID_AMOUNT] += outcome.count * outcome.amount
            return
        if isinstance(outcome, OrderRecovered):
            for agent in (None, outcome.agent):
                self._totals(shop_id, agent, day).vector[UNPAID_RECOVERED] += outcome.count
            return
        if isinstance(outcome, OrderRefunded):
            for agent in (None, outcome.agent):
                self._totals(shop_id, agent, day).vector[REFUNDS] += outcome.amount
            return
        if outcome.silent:
            vec = self._totals(shop_id, None, day).vector
            vec[SILENT_ORDERS] += 1
            vec[SILENT_SALES] += outcome.amount
            return
        for agent in (None, outcome.agent):
            totals = self._totals(shop_id, agent, day)
            vec = totals.vector
            vec[PAID_ORDERS] += 1
            vec[SALES] += outcome.amount
            vec[REFUNDS] += outcome.refunded
            totals.payers[buyer_id] += 1

    def _totals(self, shop_id: str, agent: str | None, day: int) -> ConversionTotals:
        totals = self.totals.get((shop_id, agent, day))
        if totals is None:
            totals = self.totals[(shop_id, agent, day)] = ConversionTotals()
        return totals

    def inquire(self, shop_id: str, buyer_id: str, day: int, agent: str, first_ms: int | None,
                ) -> None:
        """A row's new inquiry mark for (day, agent): what :meth:`change` would do, directly.

        ``first_ms`` is the day's first wait when the row had no mark that day yet (the shop's
        inquiry is new too), else None. The hot path: every customer wait's holder is marked.
        """
        totals = self.totals
        if first_ms is not None:
            shop = totals.get((shop_id, None, day))
            if shop is None:
                shop = totals[(shop_id, None, day)] = ConversionTotals()
            shop.vector[INQUIRY] += 1
            shop.inquirers[buyer_id] += 1
            if first_ms > shop.last_first_ms:
                shop.last_first_ms = first_ms
        held = totals.get((shop_id, agent, day))
        if held is None:
            held = totals[(shop_id, agent, day)] = ConversionTotals()
        held.vector[INQUIRY] += 1
        held.inquirers[buyer_id] += 1

    def figures(self, shop_id: str, day: int, agent: str | None = None) -> Conversion | None:
        """One shop-day's (or agent-day's) figures, or None without inquiries or orders."""
        totals = self.totals.get((shop_id, agent, day))
        if totals is None or not totals.active:
            return None
        return totals.figures(shop_id, agent, day, self.converted(shop_id, day))

    def converted(self, shop_id: str, day: int) -> Mapping[str, int]:
        """The buyers whose ``day`` converted a paid order (by any agent): buyer -> orders."""
        shop = self.totals.get((shop_id, None, day))
        return shop.payers if shop is not None else {}

    def lost(self, shop_id: str, agent: str, day: int) -> list[str]:
        """The agent's lost inquiries of the day, sorted (DOMAIN.md §7).

        Buyers in the agent's inquiries whose day converted nothing, by any agent.
        """
        totals = self.totals.get((shop_id, agent, day))
        if totals is None:
            return []
        won = self.converted(shop_id, day)
        return sorted(b for b in totals.inquirers if b not in won)

    def agents(self, shop_id: str, day: int) -> list[Conversion]:
        """The agents' figures of one shop-day, ranked (:func:`ranked`)."""
        won = self.converted(shop_id, day)
        return ranked(t.figures(shop, agent, d, won) for (shop, agent, d), t in
                      self.totals.items()
                      if shop == shop_id and d == day and agent is not None and t.active)

    def report(self, agents: bool = False) -> list[Conversion]:
        """Every active shop-day (or agent-day), sorted by shop, (agent,) day."""
        rows = [t.figures(shop, agent, day, self.converted(shop, day) if agents else None)
                for (shop, agent, day), t in self.totals.items()
                if (agent is not None) == agents and t.active]
        rows.sort(key=lambda r: (r.shop_id, r.agent or "", r.day))
        return rows

    def settles_at(self, shop_id: str, day: int, window_ms: int) -> int | None:
        """When the shop-day's conversion stops changing: the window after its last first wait.

        Refunds still arrive later. None without inquiries.
        """
        totals = self.totals.get((shop_id, None, day))
        if totals is None or not totals.last_first_ms:
            return None
        return totals.last_first_ms + window_ms

    def forget_before(self, day: int) -> None:
        """Drop the totals of business days before ``day`` (bounded memory)."""
        for key in [k for k in self.totals if k[2] < day]:
            del self.totals[key]

    def merge(self, other: OrderBook, only: tuple[str, int] | None = None) -> None:
        """Add another book's totals (several partitions); ``only`` one shop-day."""
        for key, theirs in other.totals.items():
            if only is not None and (key[0], key[2]) != only:
                continue
            mine = self.totals.get(key)
            if mine is None:
                mine = self.totals[key] = ConversionTotals()
            mine.vector = [a + b for a, b in zip(mine.vector, theirs.vector, strict=True)]
            mine.inquirers.update(theirs.inquirers)
            mine.payers.update(theirs.payers)
            mine.last_first_ms = max(mine.last_first_ms, theirs.last_first_ms)


def ranked(rows: Iterable[Conversion]) -> list[Conversion]:
    """Agents best first: conversion rate (none last), then sales, then name."""
    return sorted(rows, key=lambda r: (r.conversion_rate is None, -(r.conversion_rate or 0.0),
                                       -r.sales_fen, r.agent or ""))
