"""The validated chat event the core works on (DOMAIN.md §2).

Event time is kept as integer epoch milliseconds: comparisons and arithmetic on ints are
cheap and exact, and both wire forms of ``ts`` (RFC 3339 with offset, epoch ms) map onto it.
"""

from __future__ import annotations

import msgspec

MESSAGE = "message"
READ = "read"
END = "end"
TRANSFER = "transfer"
ORDER = "order"

BUYER = "buyer"
AGENT = "agent"
BOT = "bot"
SYSTEM = "system"

CUSTOMER = "customer"


class ChatEvent(msgspec.Struct, frozen=True, gc=False):
    """One valid chat event, with defaults applied."""

    event_id: str
    ts_ms: int
    shop_id: str
    buyer_id: str
    conversation_id: str
    platform: str
    type: str
    sender: str | None = None
    agent_id: str | None = None
    text: str | None = None
    buyer_kind: str = CUSTOMER
    # order events (DOMAIN.md §7): the amount in integer fen, never a float
    order_id: str | None = None
    status: str | None = None
    amount_fen: int | None = None

    @property
    def is_shop_message(self) -> bool:
        """An agent or bot message: the ones checked for forbidden content."""
        return self.type == MESSAGE and self.sender in (AGENT, BOT)
