"""Decoder and validator for the event contract (DOMAIN.md §2).

The wire format is described for integrators in ``stream/chat-event.schema.json``; this module
is the fast path. :func:`decode` never raises for bad input: it returns either a
:class:`ChatEvent` or an :class:`Invalid` carrying the reason, so a bad message can be routed
to the dead-letter topic without stopping the stream.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from stream.core.events import AGENT, BOT, MESSAGE, ORDER, TRANSFER, ChatEvent
from stream.core.orders import NEEDS_AMOUNT, STATUSES, parse_amount, yuan
from stream.core.policy import DEFAULT_PLATFORM

# Ids are bounded: a conversation's durable row holds several (its shop, buyer, agents and
# orders), and it must stay small whatever the input (MAX_ID_CHARS; a conversation id may
# join a shop id and a buyer id).
MAX_ID_CHARS = 128
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
ConversationId = Annotated[str, msgspec.Meta(min_length=1, max_length=2 * MAX_ID_CHARS + 1)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class _WireEvent(msgspec.Struct, frozen=True, gc=False):
    """The JSON object as sent; unknown fields are ignored for forward compatibility."""

    event_id: Id
    ts: AwareDatetime | int
    shop_id: Id
    buyer_id: Id
    type: Literal["message", "read", "end", "transfer", "order"]
    conversation_id: ConversationId | None = None
    platform: Id | None = None
    sender: Literal["buyer", "agent", "bot", "system"] | None = None
    agent_id: Id | None = None
    text: str | None = None
    buyer_kind: Literal["customer", "ad", "peer"] = "customer"
    # order events (§7). The amount is kept as its raw JSON text (a number or a string) and
    # parsed exactly: a float would turn 19.9 into 19.899999999999998578...
    order_id: Id | None = None
    status: str | None = None
    amount: msgspec.Raw = msgspec.Raw()


_string = msgspec.json.Decoder(str)


class Invalid(msgspec.Struct, frozen=True):
    """Why a message was rejected; ``raw`` is the original bytes, untouched."""

    reason: str
    raw: bytes


_decoder = msgspec.json.Decoder(_WireEvent)

# The latest event time the contract admits (9999-12-30T00:00:00Z): a later one cannot be a
# real event time, and its local date in a time zone ahead of UTC, or the day after it, would
# overflow Python's dates. Clocks derived from event times are clamped to it too.
LATEST_MS = 253_402_041_600_000


# A field named twice: JSON parsers disagree on which one counts (msgspec takes the last), so
# such an event is refused rather than read one way here and another way elsewhere. A cheap
# look first (more `":` than fields decoded, or a space before a colon), then the exact one.
_SPACED_COLON = re.compile(rb'"[ \t\r\n]+:')
# Ids are compared, logged and shown: control characters and bidirectional overrides in them
# would hide one id behind another on a screen or in a log line.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def _repeated_field(raw: bytes, wire: _WireEvent) -> str | None:
    """The name of a field given twice in ``raw``, or None."""
    present = (5 + (wire.conversation_id is not None) + (wire.platform is not None)
               + (wire.sender is not None) + (wire.agent_id is not None)
               + (wire.text is not None) + (wire.order_id is not None)
               + (wire.status is not None))
    if raw.count(b'":') <= present and not _SPACED_COLON.search(raw):
        return None
    try:  # extra fields, `":` inside a text, or a repeat: count the top-level keys exactly
        pairs = json.loads(raw, object_pairs_hook=lambda kv: kv)
    except ValueError:
        return None
    if not isinstance(pairs, list):
        return None
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return str(key)
        seen.add(key)
    return None


def _hidden_id(wire: _WireEvent) -> str | None:
    """The first id field holding a control or bidirectional character, or None."""
    joined = (f"{wire.event_id}{wire.shop_id}{wire.buyer_id}{wire.conversation_id}"
              f"{wire.platform}{wire.agent_id}{wire.order_id}")
    if not _HIDDEN.search(joined):
        return None
    for name in ("event_id", "shop_id", "buyer_id", "conversation_id", "platform", "agent_id",
                 "order_id"):
        value = getattr(wire, name)
        if value is not None and _HIDDEN.search(value):
            return name
    return None  # pragma: no cover - the joined text had one


def decode(raw: bytes, default_platform: str = DEFAULT_PLATFORM) -> ChatEvent | Invalid:
    """Decode one message into a :class:`ChatEvent`, or say why it is invalid."""
    try:
        wire = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return Invalid(f"schema: {exc}", raw)
    except msgspec.DecodeError as exc:
        return Invalid(f"not JSON: {exc}", raw)
    except UnicodeDecodeError:  # invalid UTF-8 inside a string: msgspec raises, not reports
        return Invalid("not JSON: the message is not valid UTF-8", raw)
    except RecursionError:  # msgspec's answer to very deeply nested arrays or objects
        return Invalid("not an event: JSON nested too deeply", raw)
    repeated = _repeated_field(raw, wire)
    if repeated is not None:
        return Invalid(f"schema: field `{repeated}` appears more than once - at `$.{repeated}`",
                       raw)
    hidden = _hidden_id(wire)
    if hidden is not None:
        return Invalid(f"schema: `{hidden}` holds a control or bidirectional-override "
                       f"character - at `$.{hidden}`", raw)
    return from_wire(wire, raw, default_platform)


def from_wire(wire: _WireEvent, raw: bytes, default_platform: str) -> ChatEvent | Invalid:
    """Apply the cross-field rules and defaults of §2 to a structurally valid event."""
    ts = wire.ts
    if isinstance(ts, int):
        if not 0 <= ts <= LATEST_MS:
            return Invalid(f"schema: ts {ts} is not an epoch-milliseconds time - at `$.ts`", raw)
        ts_ms = ts
    else:
        ts_ms = int(ts.timestamp() * 1000)
        if not 0 <= ts_ms <= LATEST_MS:
            return Invalid(f"schema: ts {ts.isoformat()} is outside 1970-01-01..9999-12-30 "
                           "- at `$.ts`", raw)
    if wire.type == MESSAGE:
        if wire.sender is None:
            return Invalid("schema: a message needs `sender` - at `$.sender`", raw)
        if wire.text is None:
            return Invalid("schema: a message needs `text` - at `$.text`", raw)
    if wire.type == TRANSFER and wire.agent_id is None:
        return Invalid("schema: a transfer needs `agent_id` (the agent it moves to) - at "
                       "`$.agent_id`", raw)
    if wire.sender in (AGENT, BOT) and wire.agent_id is None:
        return Invalid(f"schema: sender {wire.sender} needs `agent_id` - at `$.agent_id`", raw)
    amount_fen = None
    if wire.type == ORDER:
        order = _order_fields(wire)
        if isinstance(order, str):
            return Invalid(order, raw)
        amount_fen = order
    # positional (field order of ChatEvent): keyword arguments cost more on this hot path
    return ChatEvent(wire.event_id, ts_ms, wire.shop_id, wire.buyer_id,
                     wire.conversation_id or f"{wire.shop_id}:{wire.buyer_id}",
                     wire.platform or default_platform, wire.type, wire.sender, wire.agent_id,
                     wire.text, wire.buyer_kind, wire.order_id, wire.status, amount_fen)


def _order_fields(wire: _WireEvent) -> int | None | str:
    """The amount in fen (None when absent) of a valid order event, or why it is invalid."""
    if wire.order_id is None:
        return "schema: an order needs `order_id` - at `$.order_id`"
    if wire.status not in STATUSES:
        shown = "missing" if wire.status is None else repr(wire.status[:40])
        return (f"schema: order status {shown} is not one of {', '.join(STATUSES)}"
                f" - at `$.status`")
    text = bytes(wire.amount)
    if not text or text == b"null":
        if wire.status in NEEDS_AMOUNT:
            return f"schema: a {wire.status} order needs `amount` (yuan) - at `$.amount`"
        return None
    if text[:1] == b'"':
        try:
            value = _string.decode(text)
        except msgspec.DecodeError:  # pragma: no cover - the event decoded, so the string did
            return "schema: `amount` is not a string or a number - at `$.amount`"
    elif text[:1] in b"-0123456789":
        value = text.decode()
    else:
        return "schema: `amount` must be a decimal string or a number (yuan) - at `$.amount`"
    fen = parse_amount(value.strip())
    if isinstance(fen, str):
        return f"schema: {fen} - at `$.amount`"
    return fen


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
