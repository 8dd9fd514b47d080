"""A lead's lists (DOMAIN.md §7): orders awaiting payment (催付) and lost inquiries (询单流失).

Read-outs only: the rules are :mod:`stream.core.unpaid` (reminders) and the §7 attribution
(:class:`~stream.core.orders.OrderBook`: a lost inquiry of agent A on day D is a buyer of A's
``inquiries`` of D among none of D's ``paid_buyers``). Every driver reads the same lists from
the engine (``Engine.unpaid_orders``, ``Engine.lost_inquiries``): the board, ``/metrics``
and ``chatwatch backfill --unpaid / --lost-inquiries``.

Conversations are named by their masked ref (:func:`conversation_ref`, the board's and the
logs' ``c-…``): a default conversation id holds the buyer's id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from stream.core import unpaid
from stream.core.conversion import Aliases, default_id
from stream.core.orders import CANCELLED_BIT, PAID_BIT, OrderBook, yuan
from stream.core.policy import PolicyBook
from stream.core.reply_window import day_record
from stream.core.rows import Conversation, Order


def conversation_ref(conversation_id: str) -> str:
    """The masked ref of a conversation: what the board, pager links and logs show."""
    return "c-" + hashlib.blake2b(conversation_id.encode(), digest_size=6).hexdigest()


class _Partition(Protocol):
    aliases: Aliases
    orders: OrderBook


def _local(ms: int, tz: Any) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).isoformat("T", "seconds")


# --- orders awaiting payment --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnpaidOrder:
    """One order that became awaiting payment, as far as the events tell.

    ``status`` at ``now``: ``awaiting`` (still), ``recovered`` (paid before it expired),
    ``paid_late`` (paid at or after the expiry), ``cancelled``, ``expired``.
    """

    shop_id: str
    day: str  # the business day of creation
    agent: str  # who held the conversation when it became awaiting payment (the figures')
    holding: str  # who holds the conversation now (whom to ask for the reminder)
    ref: str  # the masked conversation ref
    order_id: str
    amount: str | None  # as the ``created`` event gave it (yuan), if it did
    created_ms: int
    awaiting_ms: int  # created + unpaid_reminder_minutes
    expires_ms: int  # created + unpaid_expiry_hours
    paid_ms: int | None
    status: str
    minutes_waiting: float  # from creation until now (or until paid, cancelled or expired)
    timezone: str
    amount_fen: int = 0  # ``amount`` in fen (0 without)

    def as_dict(self) -> dict[str, object]:
        """The JSON of ``--unpaid`` and of the board (times in the shop's time zone too)."""
        tz = ZoneInfo(self.timezone)
        return {
            "shop_id": self.shop_id, "day": self.day, "agent": self.agent,
            "holding": self.holding, "ref": self.ref, "order_id": self.order_id,
            "amount": self.amount, "created": _local(self.created_ms, tz),
            "awaiting_since": _local(self.awaiting_ms, tz),
            "expires": _local(self.expires_ms, tz),
            "paid": None if self.paid_ms is None else _local(self.paid_ms, tz),
            "status": self.status, "recovered": self.status == "recovered",
            "minutes_waiting": round(self.minutes_waiting, 1),
            "created_ms": self.created_ms,
        }


def _status(order: Order, now_ms: int, expiry_ms: int) -> tuple[str, int]:
    """(status, when its waiting stopped, or ``now_ms``) of a listed order."""
    expires = order.created + expiry_ms
    if order.unpaid == unpaid.RECOVERED:
        return "recovered", order.paid_at
    if order.seen & CANCELLED_BIT and not order.seen & PAID_BIT:
        return "cancelled", min(now_ms, expires)
    if order.seen & PAID_BIT and order.paid_at:
        return "paid_late", expires
    if now_ms >= expires:
        return "expired", expires
    return "awaiting", now_ms


def unpaid_orders(conversations: Mapping[str, Conversation], policies: PolicyBook,
                  rows: Iterable[str], now_ms: int, *, every: bool = False,
                  ) -> list[UnpaidOrder]:
    """The orders of ``rows`` awaiting payment at ``now_ms`` (``every``: every one listed).

    Sorted by shop, creation time, order id.
    """
    out: list[UnpaidOrder] = []
    for cid in rows:
        conv = conversations.get(cid)
        if conv is None:
            continue
        policy, tz = policies.resolve(conv.platform, conv.shop_id)
        for order in conv.orders:
            if not unpaid.is_listed(order):
                continue
            status, until = _status(order, now_ms, policy.unpaid_expiry_ms)
            if status != "awaiting" and not every:
                continue
            out.append(UnpaidOrder(
                conv.shop_id, date.fromordinal(order.cday).isoformat(), order.holder,
                conv.last_agent or unpaid.UNASSIGNED, conversation_ref(cid), order.ref,
                yuan(order.price) if order.price else None, order.created,
                order.created + policy.unpaid_reminder_ms, order.created + policy.unpaid_expiry_ms,
                order.paid_at if order.seen & PAID_BIT and order.paid_at else None, status,
                max(0, until - order.created) / 60_000, tz.key, order.price))
    out.sort(key=lambda u: (u.shop_id, u.created_ms, u.order_id, u.ref))
    return out


# --- lost inquiries -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LostInquiry:
    """One buyer in an agent's inquiries of a day whose day converted no paid order.

    ``first_wait_ms``: the buyer's first customer wait of the day; ``first_response_seconds``
    that wait's response time (None: never answered); ``breaches``: the buyer's counted waits
    of the day that breached (§3); ``paid_later``: the buyer paid (a counted payment) after
    the day's conversion window had run out; ``settled``: the day can no longer convert for
    this buyer (its window has run out at ``now``, or the buyer has a later day).
    """

    shop_id: str
    agent: str
    day: str
    ref: str
    first_wait_ms: int
    first_response_seconds: float | None
    breaches: int
    paid_later: bool
    settled: bool
    settles_ms: int
    timezone: str

    def as_dict(self) -> dict[str, object]:
        """The JSON of ``--lost-inquiries`` and of the board."""
        return {"shop_id": self.shop_id, "agent": self.agent, "day": self.day,
                "ref": self.ref,
                "first_wait": _local(self.first_wait_ms, ZoneInfo(self.timezone)),
                "first_response_seconds": self.first_response_seconds,
                "breaches": self.breaches, "paid_later": self.paid_later,
                "settled": self.settled, "first_wait_ms": self.first_wait_ms}


def buyer_rows(conversations: Mapping[str, Conversation], parts: Iterable[_Partition],
               shop_id: str, buyer_id: str) -> list[tuple[str, Conversation]]:
    """The buyer's conversations in the shop (the default id, then its other ids)."""
    found: dict[str, Conversation] = {}
    usual = default_id(shop_id, buyer_id)
    ids = [usual]
    for part in parts:
        ids.extend(sorted(part.aliases.get((shop_id, buyer_id), ())))
    for cid in ids:
        conv = conversations.get(cid)
        if conv is not None and cid not in found and conv.shop_id == shop_id and \
                conv.buyer_id == buyer_id:
            found[cid] = conv
    return list(found.items())


def lost_inquiries(conversations: Mapping[str, Conversation], parts: list[_Partition],
                   book: OrderBook, policies: PolicyBook, now_ms: int | None, *,
                   shop: str | None = None, agent: str | None = None,
                   days: Iterable[int] | None = None) -> Iterator[LostInquiry]:
    """The lost inquiries of every agent-day of ``book`` (or of one shop, agent, days).

    ``now_ms`` None: the log is complete (backfill), so every day has settled.
    By shop, agent, day, then first wait.
    """
    wanted = None if days is None else set(days)
    keys = sorted(k for k in book.totals if k[1] is not None
                  and (shop is None or k[0] == shop) and (agent is None or k[1] == agent)
                  and (wanted is None or k[2] in wanted))
    for shop_id, held_by, day in keys:
        assert held_by is not None
        found: list[LostInquiry] = []
        for buyer in book.lost(shop_id, held_by, day):
            rows = buyer_rows(conversations, parts, shop_id, buyer)
            entry = _lost(rows, policies, shop_id, held_by, day, now_ms)
            if entry is not None:
                found.append(entry)
        found.sort(key=lambda e: (e.first_wait_ms, e.ref))
        yield from found


def _lost(rows: list[tuple[str, Conversation]], policies: PolicyBook, shop_id: str, agent: str,
          day: int, now_ms: int | None) -> LostInquiry | None:
    first: tuple[int, str, Conversation] | None = None
    breaches = 0
    later_day = False
    for cid, conv in rows:
        start = unpaid.first_wait_of(conv.marks, day)
        if start is not None and (first is None or (start, cid) < first[:2]):
            first = (start, cid, conv)
        record = day_record(conv.days, day)
        if record is not None:
            breaches += record[1]
        later_day = later_day or any(d > day for d in conv.marks[0::unpaid.MARK]
                                     if isinstance(d, int))
    if first is None:
        return None  # the marks of this day are gone from the rows (a cap)
    start, cid, conv = first
    policy, tz = policies.resolve(conv.platform, conv.shop_id)
    window = policy.conversion_window_ms
    reply = unpaid.first_reply(conv.replies, day)
    paid_later = any(o.paid_at > start + window for _, c in rows for o in c.orders
                     if o.seen & PAID_BIT and o.paid_at)
    settles = start + window
    settled = now_ms is None or now_ms > settles or later_day
    return LostInquiry(shop_id, agent, date.fromordinal(day).isoformat(),
                       conversation_ref(cid), start,
                       None if reply is None else reply / 1000, breaches, paid_later, settled,
                       settles, tz.key)
