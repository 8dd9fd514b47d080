"""The durable rows: the types a changelog row decodes into (msgpack, array form).

They live apart from the code that changes them because the decoder reads their field types
from the class annotations: this module is never compiled (``stream.core.native``), so the
annotations stay the real ones, while the modules that apply events may be.
"""

from __future__ import annotations

import msgspec

NO_WAIT = -1


class Order(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One order of a conversation, as far as its events have told.

    ``day`` is 0 until a counted ``paid`` arrives; then the business day it counts for:
    the attributed day, or (``silent``) the day of the payment. ``agent`` is the agent the
    payment is attributed to (``unassigned`` when nobody held the conversation).
    """

    key: int
    seen: int = 0  # status bits (_STATUS_BIT)
    amount: int = 0  # paid, fen
    refunded: int = 0  # fen, every refund so far (partial refunds add up)
    day: int = 0
    agent: str = ""
    silent: bool = False
    # Awaiting payment (催付, DOMAIN.md §7; owned by stream/core/unpaid.py): when ``created``
    # arrived (effective ms, 0: not seen), the amount it carried (fen), the state
    # (0 none, 1 pending, 2 awaiting payment, 3 awaiting payment and recovered), the business
    # day of creation, the agent holding the conversation when it became awaiting payment, the
    # order id (shortened) and when a counted payment arrived (effective ms).
    created: int = 0
    price: int = 0
    unpaid: int = 0
    cday: int = 0
    holder: str = ""
    ref: str = ""
    paid_at: int = 0


class Conversation(msgspec.Struct, array_like=True, gc=False):
    """Durable state of one conversation; serialised compactly (msgpack, array form).

    Hundreds of thousands are alive at once, so the two growing parts are kept in the most
    compact immutable forms Python has: ``recent`` is the concatenated id hashes (8 bytes
    each, oldest first) and ``days`` the flat day records (see ``DAY_RECORD``). Being
    immutable, their values before an event are simply the old objects: no copy is taken.
    """

    shop_id: str
    buyer_id: str
    platform: str
    partition: int = 0
    latest_ts: int = 0
    last_agent: str | None = None
    agent_spoke: bool = False
    seq: int = 0
    wait_start: int = NO_WAIT
    wait_agent: str | None = None
    wait_counted: bool = False
    wait_day: int = 0
    wait_breached: bool = False
    recent: bytes = b""
    days: tuple[int, ...] = ()
    kpi: bytes = b""  # the KPI state, laid out by stream.core.kpi_state
    # Orders and inquiry marks (DOMAIN.md §7; layout owned by stream/core/orders.py).
    marks: tuple[int | str, ...] = ()
    orders: tuple[Order, ...] = ()
    # The offset of the latest event applied from the conversation's partition (-1: none, or a
    # log without offsets). A restart re-reads the events since the last committed offset;
    # those at or below this were applied already, however many there are (``recent`` only
    # remembers the last 32 ids).
    applied_offset: int = -1
    # Settled orders, 8 bytes each (key and statuses seen; layout owned by stream/core/orders.py).
    retired: bytes = b""
    # The response time of each business day's first customer wait, flat pairs (day, ms) in
    # day order (lost inquiries, DOMAIN.md §7; owned by stream/core/unpaid.py).
    replies: tuple[int, ...] = ()

    @property
    def has_open_wait(self) -> bool:
        """Whether a buyer is waiting for the shop in this conversation."""
        return self.wait_start != NO_WAIT


# The key prefix of a settled day's record in the state store (stream.core.score): no
# conversation id starts with a control character (stream/schema.py refuses them in ids).
SETTLED_PREFIX = "\x00score\x00"


class SettledDay(msgspec.Struct, frozen=True, array_like=True):
    """One shop's settled day.

    Per KPI: (units, units breached, 48 ints: units and breaches by their local start hour).
    """

    shop_id: str
    day: int
    kpis: dict[str, tuple[int, int, tuple[int, ...]]]
    partition: int = 0

    @property
    def key(self) -> str:
        """Its key in the state store."""
        return settled_key(self.shop_id, self.day)


def settled_key(shop_id: str, day: int) -> str:
    """The state-store key of a shop's settled day."""
    return f"{SETTLED_PREFIX}{shop_id}\x00{day}"


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SettledDay)


def encode_settled(day: SettledDay) -> bytes:
    """The durable form of a settled day."""
    return _encoder.encode(day)


def decode_settled(raw: bytes) -> SettledDay:
    """A settled day from its durable form."""
    return _decoder.decode(raw)
