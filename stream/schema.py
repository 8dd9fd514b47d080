"""Decoder and validator for the event contract (DOMAIN.md §2).

The wire format is described for integrators in ``stream/chat-event.schema.json``; the rules
run in the engine crate (``engine/src/event.rs``, built with the project). :func:`decode`
never raises for bad input: it returns either a :class:`ChatEvent` or an :class:`Invalid`
carrying the reason, so a bad message can be routed to the dead-letter topic without stopping
the stream; :func:`decode_many` does a whole batch in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

try:
    from chatwatch_engine import Decoder
except ImportError as exc:  # a checkout whose virtualenv was made without `make install`
    raise ImportError("chatwatch's engine (engine/, a Rust crate) is not built into this "
                      "Python: run `make install` (or `make engine`)") from exc

from stream.core.events import ChatEvent
from stream.core.orders import NEEDS_AMOUNT, STATUSES, parse_amount, yuan
from stream.core.policy import DEFAULT_PLATFORM

# Ids are bounded: a conversation's durable row holds several (its shop, buyer, agents and
# orders), and it must stay small whatever the input (MAX_ID_CHARS; a conversation id may
# join a shop id and a buyer id).
MAX_ID_CHARS = 128


class Invalid(msgspec.Struct, frozen=True):
    """Why a message was rejected; ``raw`` is the original bytes, untouched."""

    reason: str
    raw: bytes


# The latest event time the contract admits (9999-12-30T00:00:00Z): a later one cannot be a
# real event time, and its local date in a time zone ahead of UTC, or the day after it, would
# overflow Python's dates. Clocks derived from event times are clamped to it too.
LATEST_MS = 253_402_041_600_000

# How an order's ``amount`` came (chatwatch_engine hands it over this way).
_ABSENT, _TEXT, _NUMBER, _OTHER = range(4)


def order_fields(order_id: str | None, status: str | None, amount_kind: int,
                 amount: str) -> int | None | str:
    """The amount in fen (None when absent) of a valid order event, or why it is invalid.

    The orders' rule (``stream.core.orders``), applied by the decoder to order events:
    ``amount_kind`` says whether the amount was absent (or null), a JSON string, a JSON
    number (``amount`` is then its text as written) or another JSON value.
    """
    if order_id is None:
        return "schema: an order needs `order_id` - at `$.order_id`"
    if status not in STATUSES:
        shown = "missing" if status is None else repr(status[:40])
        return (f"schema: order status {shown} is not one of {', '.join(STATUSES)}"
                f" - at `$.status`")
    if amount_kind == _ABSENT:
        if status in NEEDS_AMOUNT:
            return f"schema: a {status} order needs `amount` (yuan) - at `$.amount`"
        return None
    if amount_kind == _OTHER:
        return "schema: `amount` must be a decimal string or a number (yuan) - at `$.amount`"
    fen = parse_amount(amount.strip())
    if isinstance(fen, str):
        return f"schema: {fen} - at `$.amount`"
    return fen


# The contract's rules run in the engine crate (engine/src/event.rs), a batch at a time.
_DECODER = Decoder(ChatEvent, Invalid, order_fields, MAX_ID_CHARS, LATEST_MS)


def decode(raw: bytes, default_platform: str = DEFAULT_PLATFORM) -> ChatEvent | Invalid:
    """Decode one message into a :class:`ChatEvent`, or say why it is invalid."""
    return _DECODER.decode(raw if type(raw) is bytes else bytes(raw), default_platform)


def decode_many(raws: list[bytes], default_platform: str = DEFAULT_PLATFORM,
                ) -> list[ChatEvent | Invalid]:
    """Decode a batch of messages in one call, in order."""
    return _DECODER.decode_many(raws, default_platform)


def encode_event(event: ChatEvent) -> bytes:
    """Encode a valid event back to the wire form (``ts`` as epoch milliseconds)."""
    body: dict[str, object] = {
        "event_id": event.event_id,
        "ts": event.ts_ms,
        "shop_id": event.shop_id,
        "buyer_id": event.buyer_id,
        "conversation_id": event.conversation_id,
        "platform": event.platform,
        "type": event.type,
        "buyer_kind": event.buyer_kind,
    }
    for name in ("sender", "agent_id", "text", "order_id", "status"):
        value = getattr(event, name)
        if value is not None:
            body[name] = value
    if event.amount_fen is not None:
        body["amount"] = yuan(event.amount_fen)
    return msgspec.json.encode(body)


# -- event-time bounds ---------------------------------------------------------------------------

DEFAULT_MAX_FUTURE_SECONDS = 300.0
DEFAULT_EARLIEST_EVENT_TIME = "2000-01-01T00:00:00Z"


def parse_instant(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 time (a bare date is its midnight UTC).

    Raises ``ValueError`` naming the expected form.
    """
    value = text.strip()
    if len(value) == 10:
        value += "T00:00:00Z"
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date (2000-01-01) or an RFC 3339 time "
                         "(2000-01-01T00:00:00Z)") from None
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no offset: add Z or +08:00")
    return int(when.timestamp() * 1000)


def show_ms(ms: int) -> str:
    """An epoch-milliseconds time in UTC, readable, for any value (never raises)."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms since 1970"


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """Which event times are believable: the one rule every driver applies.

    An event stamped before ``earliest_ms``, or more than ``max_future_ms`` ahead of the
    driver's clock, is invalid: it goes to the dead-letter topic (a bad line in a backfill)
    and never reaches the engine, so it moves no watermark, breaches no other wait and never
    becomes "today". The clock is the wall clock live; offline it is the time the log has
    reached, never earlier than the wall clock
    (:class:`stream.inputs.LogClock`).
    """

    max_future_ms: int = int(DEFAULT_MAX_FUTURE_SECONDS * 1000)
    earliest_ms: int = 946_684_800_000  # DEFAULT_EARLIEST_EVENT_TIME

    def too_early(self, ts_ms: int) -> str | None:
        """Why ``ts_ms`` is before the earliest believable time, or None."""
        if ts_ms >= self.earliest_ms:
            return None
        return (f"event time: ts {show_ms(ts_ms)} is before the earliest accepted event time "
                f"{show_ms(self.earliest_ms)} (CHATWATCH_EARLIEST_EVENT_TIME)")

    def too_late(self, ts_ms: int, clock_ms: int, clock: str) -> str | None:
        """Why ``ts_ms`` is too far ahead of ``clock_ms`` (named ``clock``), or None."""
        if ts_ms <= clock_ms + self.max_future_ms:
            return None
        ahead = (ts_ms - clock_ms) / 1000
        return (f"event time: ts {show_ms(ts_ms)} is {ahead:.0f} s ahead of {clock} "
                f"({show_ms(clock_ms)}); at most {self.max_future_ms / 1000:g} s are accepted "
                f"(CHATWATCH_MAX_FUTURE_SECONDS)")

    def check(self, event: ChatEvent, raw: bytes, wall_ms: int) -> ChatEvent | Invalid:
        """The live rule: ``event`` as it is, or why it is invalid against the wall clock."""
        ts = event.ts_ms
        if self.earliest_ms <= ts <= wall_ms + self.max_future_ms:
            return event
        reason = self.too_early(ts) or self.too_late(ts, wall_ms, "the worker's clock")
        return Invalid(reason or "event time: out of bounds", raw)
