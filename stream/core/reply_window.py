"""The reply-window state machine of one conversation (DOMAIN.md §3).

A :class:`Conversation` is the whole durable state of one conversation: the open wait (if any),
the latest applied event time, attribution, recent event ids for de-duplication, and the
conversation's *contributions* to each business day's figures. Keeping the contributions in
the same record as the de-duplication ids is what makes restarts exact: one record is written
atomically, so either an event's effects and its id are both stored, or neither is and the
event is applied again.

Event time only: the functions here take timestamps as arguments and never read a clock.
"""

from __future__ import annotations

import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import xxhash

from stream.core.events import AGENT, BOT, BUYER, CUSTOMER, MESSAGE, ChatEvent
from stream.core.policy import Policy
from stream.core.rows import NO_WAIT, Conversation

RECENT_IDS = 32  # how many recent event ids per conversation are remembered for de-duplication
ID_BYTES = 8  # bytes per remembered event id (a 64-bit hash)

# Index of each figure in a day's contribution vector.
WAITS, BREACHED, RESPONSES, RESPONSE_MS, FAST = range(5)
# A conversation's contributions are kept flat, one record of DAY_RECORD ints per business day:
# (day ordinal, waits, breached, responses, response ms, fast responses).
DAY_RECORD = 6


def id_hash(event_id: str) -> bytes:
    """A stable 64-bit hash of an event id (Python's hash() changes between processes)."""
    return xxhash.xxh3_64_digest(event_id.encode())


_DAY_NUMBERS: dict[int, int] = {}


def _day_number(local: datetime) -> int:
    """The ordinal of a local date, one shared int object per day.

    Every open wait keeps its day (twice: ``wait_day`` and its day record); sharing the
    object saves ~30 bytes per conversation. A few thousand days at most are ever seen.
    """
    day = local.toordinal()
    return _DAY_NUMBERS.setdefault(day, day)


def business_day(ts_ms: int, tz: ZoneInfo) -> datetime:
    """The local date-time of an event time in a shop's time zone."""
    return datetime.fromtimestamp(ts_ms / 1000, tz)


# --- outcomes ---------------------------------------------------------------------------------


class WaitOpened(msgspec.Struct, frozen=True, gc=False):
    """A customer started waiting for the shop."""

    conversation_id: str
    shop_id: str
    agent: str
    start_ms: int
    deadline_ms: int
    day: int
    counted: bool


class WaitClosed(msgspec.Struct, frozen=True, gc=False):
    """A shop reply closed a wait; ``in_time`` is False for a late reply."""

    conversation_id: str
    shop_id: str
    agent: str
    start_ms: int
    reply_ms: int
    day: int
    counted: bool
    in_time: bool

    @property
    def response_seconds(self) -> float:
        """Reply time minus wait start, in seconds."""
        return (self.reply_ms - self.start_ms) / 1000


class WaitBreached(msgspec.Struct, frozen=True, gc=False):
    """A wait was not closed within the window (declared at or after its deadline)."""

    conversation_id: str
    shop_id: str
    agent: str
    start_ms: int
    deadline_ms: int
    day: int
    counted: bool
    seq: int


class BreachRetracted(msgspec.Struct, frozen=True, gc=False):
    """A reply stamped within the window arrived after the breach was declared.

    Happens only when a producer's clock or delivery lags beyond the configured skew
    tolerance; the daily figures are corrected, counters already exported are not.
    """

    conversation_id: str
    shop_id: str
    seq: int


Outcome = WaitOpened | WaitClosed | WaitBreached | BreachRetracted


# --- transitions ------------------------------------------------------------------------------


def _day_index(days: tuple[int, ...], day: int) -> int:
    """Where ``day``'s record starts in a flat ``days`` tuple, or -1."""
    for i in range(0, len(days), DAY_RECORD):
        if days[i] == day:
            return i
    return -1


def day_record(days: tuple[int, ...], day: int) -> tuple[int, ...] | None:
    """The five contributions of ``day`` in a flat ``days`` tuple, or None."""
    i = _day_index(days, day)
    return None if i < 0 else days[i + 1:i + DAY_RECORD]


def _contribute(conv: Conversation, day: int, *delta: int) -> None:
    """Add ``delta`` to ``day``'s record.

    ``delta`` is (waits, breached, responses, response ms, fast); trailing zeros may be left out.
    """
    days = conv.days
    i = _day_index(days, day)
    if i < 0:
        conv.days = shared_days((*days, day, *delta, *(0,) * (DAY_RECORD - 1 - len(delta))))
        return
    new = [*days[i:i + DAY_RECORD]]
    for k, amount in enumerate(delta, 1):
        new[k] += amount
    conv.days = shared_days((*days[:i], *new, *days[i + DAY_RECORD:]))


_SHARED_DAYS: dict[tuple[int, ...], tuple[int, ...]] = {}
_SHARED_COUNTS = 4  # waits and breaches up to this many are shared


def shared_days(days: tuple[int, ...]) -> tuple[int, ...]:
    """One shared object for the day records that many conversations have alike.

    An unanswered conversation's only record is (day, waits, breached, 0, 0, 0), the same for
    every buyer waiting that day: shared, it costs nothing per conversation (~96 bytes each
    otherwise). Records with responses carry response times of their own and are kept as
    they are; the shared ones are bounded by days x ``_SHARED_COUNTS``^2.
    """
    if (len(days) == DAY_RECORD and 0 <= days[WAITS + 1] <= _SHARED_COUNTS
            and 0 <= days[BREACHED + 1] <= _SHARED_COUNTS
            and days[RESPONSES + 1] == days[RESPONSE_MS + 1] == days[FAST + 1] == 0):
        return _SHARED_DAYS.setdefault(days, days)
    return days


def keep_days(conv: Conversation, max_days: int) -> int:
    """Drop all but the newest ``max_days`` day records (and the open wait's); return how many.

    The book is not told: it keeps what the dropped days counted, as it does for an evicted
    row. No later event can touch them: an event's effects go to the day of the open wait (kept)
    or to the day of its own time, never earlier than the newest day.
    """
    days = conv.days
    n = len(days) // DAY_RECORD
    if n <= max_days:
        return 0
    keep = set(sorted(days[i] for i in range(0, len(days), DAY_RECORD))[-max_days:])
    if conv.wait_start != NO_WAIT:
        keep.add(conv.wait_day)
    conv.days = shared_days(tuple(v for i in range(0, len(days), DAY_RECORD)
                                  if days[i] in keep for v in days[i:i + DAY_RECORD]))
    return n - len(conv.days) // DAY_RECORD


def _seen(recent: bytes, h: bytes) -> bool:
    """Whether ``h`` is one of the hashes in ``recent`` (aligned: never across two)."""
    i = recent.find(h)
    while i >= 0:
        if i % ID_BYTES == 0:
            return True
        i = recent.find(h, i + 1)
    return False


def _remember(conv: Conversation, h: bytes) -> None:
    recent = conv.recent + h
    if len(recent) > RECENT_IDS * ID_BYTES:
        recent = recent[ID_BYTES:]
    conv.recent = recent


def apply_event(
    conv: Conversation, event: ChatEvent, policy: Policy, tz: ZoneInfo,
    event_hash: bytes | None = None,
) -> tuple[bool, list[Outcome]]:
    """Apply one non-duplicate event in arrival order; return (was_out_of_order, outcomes).

    The caller has already checked :func:`is_duplicate` (and may pass the ``id_hash`` it
    computed for that). ``conv.latest_ts`` raises late event times (rule 7), so every time
    used below is the *effective* time.
    """
    ts = event.ts_ms
    out_of_order = ts < conv.latest_ts
    if out_of_order:
        ts = conv.latest_ts
    else:
        conv.latest_ts = ts
    _remember(conv, id_hash(event.event_id) if event_hash is None else event_hash)
    if event.type != MESSAGE:
        return out_of_order, []  # read/end never open or close a wait (rule 3)

    sender = event.sender
    outcomes: list[Outcome] = []
    if sender == BUYER:
        if event.buyer_kind == CUSTOMER and conv.wait_start == NO_WAIT:
            outcomes.append(_open_wait(conv, event.conversation_id, ts, policy, tz))
    elif sender == AGENT or (sender == BOT and policy.bot_replies_close_wait):
        if conv.wait_start != NO_WAIT:
            outcomes.extend(_close_wait(conv, event.conversation_id, ts, policy))
    if sender == AGENT:
        conv.last_agent = event.agent_id
    return out_of_order, outcomes


def _open_wait(conv: Conversation, conversation_id: str, ts: int, policy: Policy,
               tz: ZoneInfo) -> WaitOpened:
    local = business_day(ts, tz)
    day = _day_number(local)
    counted = policy.is_counted(local.time())
    conv.seq += 1
    conv.wait_start = ts
    conv.wait_agent = conv.last_agent
    conv.wait_counted = counted
    conv.wait_day = day
    conv.wait_breached = False
    if counted:
        _contribute(conv, day, 1)
    return WaitOpened(conversation_id, conv.shop_id, conv.last_agent or "unassigned", ts,
                      ts + policy.window_ms, day, counted)


def _close_wait(conv: Conversation, conversation_id: str, ts: int,
                policy: Policy) -> list[Outcome]:
    start, day, counted = conv.wait_start, conv.wait_day, conv.wait_counted
    agent = conv.wait_agent or "unassigned"
    in_time = ts - start <= policy.window_ms
    outcomes: list[Outcome] = []
    retracted = 0
    if in_time and conv.wait_breached:
        outcomes.append(BreachRetracted(conversation_id, conv.shop_id, conv.seq))
        retracted = -1
    elif not in_time and not conv.wait_breached:
        outcomes.append(_breach(conv, conversation_id, policy))
    if counted:
        response_ms = ts - start
        fast = 1 if response_ms <= policy.slow_threshold_seconds * 1000 else 0
        _contribute(conv, day, 0, retracted, 1, response_ms, fast)
    outcomes.append(WaitClosed(conversation_id, conv.shop_id, agent, start, ts, day, counted,
                               in_time))
    conv.wait_start = NO_WAIT
    conv.wait_breached = False
    return outcomes


def _breach(conv: Conversation, conversation_id: str, policy: Policy) -> WaitBreached:
    conv.wait_breached = True
    if conv.wait_counted:
        _contribute(conv, conv.wait_day, 0, 1)
    return WaitBreached(conversation_id, conv.shop_id, conv.wait_agent or "unassigned",
                        conv.wait_start, conv.wait_start + policy.window_ms, conv.wait_day,
                        conv.wait_counted, conv.seq)


def expire_wait(conv: Conversation, conversation_id: str, watermark_ms: int,
                policy: Policy) -> WaitBreached | None:
    """Declare the open wait breached if ``watermark_ms`` is past its deadline (rule 4).

    The watermark is an event time before which no further event is expected; a reply at
    exactly start + window is in time, so only a watermark strictly past the deadline breaches.
    """
    if conv.wait_start == NO_WAIT or conv.wait_breached:
        return None
    if watermark_ms <= conv.wait_start + policy.window_ms:
        return None
    return _breach(conv, conversation_id, policy)


def is_duplicate(conv: Conversation, event_id: str, event_hash: bytes | None = None) -> bool:
    """Whether this event id was already applied to the conversation (within the recent window)."""
    return _seen(conv.recent, id_hash(event_id) if event_hash is None else event_hash)


def share_ids(conv: Conversation) -> None:
    """Let every row of a shop share one copy of its shop and platform ids.

    Decoding gives each event its own string objects; a row keeps them for as long as it
    lives, so without this every conversation pays ~100 bytes for two strings that a handful
    of shops have in common (docs/performance.md). A restored row's day records are shared
    like those of live rows (:func:`shared_days`).
    """
    conv.shop_id = sys.intern(conv.shop_id)
    conv.platform = sys.intern(conv.platform)
    if conv.days:
        conv.days = shared_days(conv.days)


def new_conversation(event: ChatEvent, partition: int) -> Conversation:
    """Fresh state for the first event of a conversation."""
    conv = Conversation(shop_id=event.shop_id, buyer_id=event.buyer_id,
                        platform=event.platform, partition=partition)
    share_ids(conv)
    return conv

