"""Decoder and validator for the event contract (DOMAIN.md §2).

The wire format is described for integrators in ``stream/chat-event.schema.json``; this module
is the fast path. :func:`decode` never raises for bad input: it returns either a
:class:`ChatEvent` or an :class:`Invalid` carrying the reason, so a bad message can be routed
to the dead-letter topic without stopping the stream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from stream.core.events import AGENT, BOT, MESSAGE, ORDER, TRANSFER, ChatEvent
from stream.core.orders import NEEDS_AMOUNT, STATUSES, parse_amount, yuan
from stream.core.policy import DEFAULT_PLATFORM

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class _WireEvent(msgspec.Struct, frozen=True, gc=False):
    """The JSON object as sent; unknown fields are ignored for forward compatibility."""

    event_id: NonEmpty
    ts: AwareDatetime | int
    shop_id: NonEmpty
    buyer_id: NonEmpty
    type: Literal["message", "read", "end", "transfer", "order"]
    conversation_id: NonEmpty | None = None
    platform: NonEmpty | None = None
    sender: Literal["buyer", "agent", "bot", "system"] | None = None
    agent_id: NonEmpty | None = None
    text: str | None = None
    buyer_kind: Literal["customer", "ad", "peer"] = "customer"
    # order events (§7). The amount is kept as its raw JSON text (a number or a string) and
    # parsed exactly: a float would turn 19.9 into 19.899999999999998578...
    order_id: NonEmpty | None = None
    status: str | None = None
    amount: msgspec.Raw = msgspec.Raw()


_string = msgspec.json.Decoder(str)


class Invalid(msgspec.Struct, frozen=True):
    """Why a message was rejected; ``raw`` is the original bytes, untouched."""

    reason: str
    raw: bytes


_decoder = msgspec.json.Decoder(_WireEvent)

# Epoch milliseconds beyond year 9999 cannot be a real event time and would overflow datetime.
_MAX_TS_MS = 253_402_300_799_999


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
    return from_wire(wire, raw, default_platform)


def from_wire(wire: _WireEvent, raw: bytes, default_platform: str) -> ChatEvent | Invalid:
    """Apply the cross-field rules and defaults of §2 to a structurally valid event."""
    ts = wire.ts
    if isinstance(ts, int):
        if not 0 <= ts <= _MAX_TS_MS:
            return Invalid(f"schema: ts {ts} is not an epoch-milliseconds time - at `$.ts`", raw)
        ts_ms = ts
    else:
        ts_ms = int(ts.timestamp() * 1000)
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
