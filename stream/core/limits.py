"""How much one conversation row may hold, and the count of what those caps dropped.

A conversation row is written to the changelog after every event, so its size is the cost of
every event; a conversation that never ends (a buyer who chats every day for a year, a feed of
hostile events) must not make it grow without bound. Normal conversations never reach these
caps: what stays within them keeps every figure exact. What a cap drops is counted
(:class:`Capped`) and named in the driver's summary and metrics, never dropped silently.

With the defaults, the platforms' default KPI lists and ids of up to 128 characters, a row
stays under 64 KB whatever the input (``tests/unit/test_row_bounds.py``: 48 KB at most). The
decoder does not bound the length of ids; a row holds its shop, buyer and agent ids as given.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_LIVE_ORDERS = 128
DEFAULT_MAX_SETTLED_ORDERS = 1024
DEFAULT_MAX_DAYS = 32
MARKS_PER_DAY = 4  # inquiry marks a row keeps per kept day, on average (one per holder)


@dataclass(frozen=True, slots=True)
class RowLimits:
    """The caps on one conversation row (configuration: ``state_max_*``).

    * ``max_live_orders`` — orders whose outcome can still change a figure (awaiting payment,
      or paid on a business day the figures still keep: a late refund counts for it). Beyond
      it the oldest is settled early: one without money first (nothing is lost but its place),
      else the oldest paid one (its late refunds then go uncounted).
    * ``max_settled_orders`` — settled orders, kept as 8 bytes each only to recognise a
      repeated (order, status); beyond it the oldest are forgotten.
    * ``max_days`` — business days whose contributions the row keeps (reply window, KPIs,
      inquiry marks). Older ones are dropped from the row, not from the figures; the day of
      an open wait or session is always kept. Keep it above ``state_retention_hours`` / 24 + 1
      so that a restart rebuilds every day the figures still show.
    """

    max_live_orders: int = DEFAULT_MAX_LIVE_ORDERS
    max_settled_orders: int = DEFAULT_MAX_SETTLED_ORDERS
    max_days: int = DEFAULT_MAX_DAYS

    @property
    def max_marks(self) -> int:
        """Inquiry marks a row keeps (a day's first mark is dropped only with its day)."""
        return MARKS_PER_DAY * self.max_days


@dataclass(slots=True)
class Capped:
    """What the row caps dropped, summed over every conversation of an engine."""

    live_orders: int = 0  # orders settled early by ``max_live_orders``
    settled_orders: int = 0  # settled orders forgotten by ``max_settled_orders``
    days: int = 0  # day records (reply window and KPI) dropped by ``max_days``
    marks: int = 0  # inquiry marks dropped by ``max_days`` (and ``max_marks``)
    unpaid_orders: int = 0  # orders created beyond the reminders a row tracks (unpaid.py)

    @property
    def total(self) -> int:
        """Everything dropped."""
        return self.live_orders + self.settled_orders + self.days + self.marks + \
            self.unpaid_orders

    def as_dict(self) -> dict[str, int]:
        """Per cap, for summaries and metrics."""
        return {"live_orders": self.live_orders, "settled_orders": self.settled_orders,
                "days": self.days, "marks": self.marks, "unpaid_orders": self.unpaid_orders}

    def absorb(self, other: Capped) -> None:
        """Add another engine's counts (the parts of a parallel backfill)."""
        self.live_orders += other.live_orders
        self.settled_orders += other.settled_orders
        self.days += other.days
        self.marks += other.marks
        self.unpaid_orders += other.unpaid_orders

    def warning(self) -> str | None:
        """One line for a driver's summary when a cap dropped anything, else None."""
        if not self.total:
            return None
        dropped = ", ".join(f"{n:,} {cap.replace('_', ' ')}" for cap, n in self.as_dict().items()
                            if n)
        return (f"warning: per-conversation caps dropped {dropped} from conversation rows; the "
                f"figures keep what they counted (raise CHATWATCH_STATE_MAX_LIVE_ORDERS, "
                f"_MAX_SETTLED_ORDERS or _MAX_DAYS if a real conversation reached them)")
