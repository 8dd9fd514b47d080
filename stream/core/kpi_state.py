"""Per-conversation KPI state and its transitions (DOMAIN.md §3, "Platform KPIs").

The state lives in the conversation row (``Conversation.kpi``), so it goes to the changelog
with the rest of the row and a restart is exact. It is one ``bytes`` object (hundreds of
thousands of rows are alive at once; docs/performance.md), laid out by this module alone:

* header ``<qqHBB``: session start, latest message time (buyer, agent or bot: the session
  gap is measured from it), pending bits (KPI ``i`` still owes the session's first reply),
  the number of KPIs and the number of wait slots;
* one ``<q`` slot per KPI with waits of its own (``KpiSet.runs``): 0 no wait, ``+start`` an
  open wait, ``-start`` an open wait already breached;
* one record per business day: ``<i`` day, then per KPI ``<iiiq`` units, units breached,
  first responses, first-response milliseconds. For a ``buyer`` KPI a unit is a counted wait
  (the book turns them into distinct buyers), for ``round`` a counted wait, for
  ``session_first`` a counted session.

:func:`step` applies one event and returns the KPI outcomes; the base wait (the mirror KPI,
if any) is judged by ``reply_window``, and :func:`mirror_outcomes` turns its outcomes into the
mirror KPI's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import msgspec

from stream.core.events import AGENT, BOT, BUYER, CUSTOMER, MESSAGE
from stream.core.kpi import SESSION_FIRST, KpiSet

_HEAD = struct.Struct("<qqHBB")
_SLOT = struct.Struct("<q")
_DAY = struct.Struct("<i")
_KPI_DAY = struct.Struct("<iiiq")
UNITS, BREACHED, FIRST_N, FIRST_MS = range(4)


# --- outcomes ---------------------------------------------------------------------------------


class KpiBreached(msgspec.Struct, frozen=True, gc=False):
    """A KPI wait (a session's first reply, for ``session_first``) was not answered in time.

    ``mirror``: the KPI judged by the base wait, whose ``WaitBreached`` record stands for it.
    """

    conversation_id: str
    shop_id: str
    kpi: str
    agent: str
    start_ms: int
    deadline_ms: int
    day: int
    counted: bool
    mirror: bool = False


class KpiFirstResponse(msgspec.Struct, frozen=True, gc=False):
    """A counted session got its first reply that the KPI counts."""

    conversation_id: str
    shop_id: str
    kpi: str
    agent: str
    start_ms: int
    reply_ms: int
    day: int

    @property
    def seconds(self) -> float:
        """Session start to first reply, in seconds."""
        return (self.reply_ms - self.start_ms) / 1000


KpiOutcome = KpiBreached | KpiFirstResponse


# --- the state --------------------------------------------------------------------------------


@dataclass(slots=True)
class KpiState:
    """The decoded state of one conversation (scratch: encoded back after each step)."""

    n_kpis: int
    session_start: int = 0
    last_msg: int = 0
    pending: int = 0
    slots: list[int] = field(default_factory=list)
    days: dict[int, list[int]] = field(default_factory=dict)  # day -> 4 ints per KPI
    # the records of the days changed since decoding, as they were (None: new day)
    old: dict[int, list[int] | None] = field(default_factory=dict)
    # (day, KPI, UNITS or BREACHED, local hour of the unit's start, amount) since decoding:
    # the shop's units by hour (stream.core.score), which the rows do not keep
    hours: list[tuple[int, int, int, int, int]] = field(default_factory=list)

    def day(self, day: int) -> list[int]:
        """The record of ``day``, created empty."""
        rec = self.days.get(day)
        if rec is None:
            rec = self.days[day] = [0] * (4 * self.n_kpis)
        return rec

    def add(self, day: int, kpi: int, what: int, amount: int, hour: int = -1) -> None:
        """Add ``amount`` to one figure of one KPI on one day (remembering the day's old record).

        ``hour``: the local hour the unit started in (units and breaches), noted in ``hours``.
        """
        if hour >= 0:
            self.hours.append((day, kpi, what, hour, amount))
        rec = self.days.get(day)
        if day not in self.old:
            self.old[day] = None if rec is None else list(rec)
        if rec is None:
            rec = self.days[day] = [0] * (4 * self.n_kpis)
        rec[4 * kpi + what] += amount


_LAYOUTS: dict[tuple[int, int, int], struct.Struct] = {}
# Layouts of up to this many days are kept once compiled. A layout's size grows with its days
# (~290 bytes a day for two KPIs): kept for every day count a row ever had, a row that gained a
# day every other event took 300 MB in layouts by its 1,500th day.
_CACHED_DAYS = 64


def _layout(n_kpis: int, n_slots: int, n_days: int) -> struct.Struct:
    """The whole row form of a state with this many KPIs, slots and days (cached when small)."""
    key = (n_kpis, n_slots, n_days)
    layout = _LAYOUTS.get(key)
    if layout is None:
        layout = struct.Struct("<qqHBB" + "q" * n_slots + ("i" + "iiiq" * n_kpis) * n_days)
        if n_days <= _CACHED_DAYS:
            _LAYOUTS[key] = layout
    return layout


def decode(blob: bytes, kset: KpiSet) -> KpiState:
    """The state of a row (fresh when the row has none or was written for another KPI list)."""
    n, n_slots = len(kset.kpis), len(kset.runs)
    if not blob or blob[_HEAD.size - 2] != n or blob[_HEAD.size - 1] != n_slots:
        return KpiState(n, slots=[0] * n_slots)  # none yet, or the KPI list changed
    width = _DAY.size + _KPI_DAY.size * n
    n_days = (len(blob) - _HEAD.size - _SLOT.size * n_slots) // width
    values = _layout(n, n_slots, n_days).unpack(blob)
    at = 5 + n_slots
    days: dict[int, list[int]] = {}
    step = 1 + 4 * n
    for d in range(n_days):
        i = at + d * step
        days[values[i]] = list(values[i + 1:i + step])
    return KpiState(n, values[0], values[1], values[2], list(values[5:at]), days)


def encode(state: KpiState) -> bytes:
    """The row form of a state (days with nothing counted are left out)."""
    flat = [state.session_start, state.last_msg, state.pending, state.n_kpis, len(state.slots),
            *state.slots]
    n_days = 0
    for day, rec in state.days.items():
        if any(rec):
            flat.append(day)
            flat.extend(rec)
            n_days += 1
    return _layout(state.n_kpis, len(state.slots), n_days).pack(*flat)


def clock_only(blob: bytes, kset: KpiSet, sender: str | None, buyer_kind: str,
               ts: int) -> bytes | None:
    """The row after a message that moves nothing but the session clock, or None.

    The common case, decided from the header and slots alone (no decoding): a customer
    message within a session while every KPI's wait is already open, another buyer's
    message, or an agent or bot message with nothing for it to close or answer.
    """
    if not blob or blob[_HEAD.size - 2] != len(kset.kpis) or blob[_HEAD.size - 1] != len(
            kset.runs):
        return None
    _, last, pending, _, n_slots = _HEAD.unpack_from(blob)
    slots = struct.unpack_from(f"<{n_slots}q", blob, _HEAD.size) if n_slots else ()
    if sender == BUYER:
        if buyer_kind == CUSTOMER:
            if last == 0 or ts - last >= kset.session_gap_ms:
                return None  # a new session
            for j, start in enumerate(slots):
                if start == 0 and kset.kpis[kset.runs[j]].unit != SESSION_FIRST:
                    return None  # opens a wait
    else:
        bot = sender == BOT
        for i, closes in enumerate(kset.bot_closes):
            if pending & (1 << i) and (closes or not bot):
                return None  # a first reply
        for j, start in enumerate(slots):
            if start and (not bot or kset.bot_closes[kset.runs[j]]):
                return None  # closes a wait
    return blob[:8] + _SLOT.pack(ts) + blob[16:]


def day_count(blob: bytes) -> int:
    """How many day records a row's KPI state holds (cheap: from the header and the length)."""
    if not blob:
        return 0
    n_kpis, n_slots = blob[_HEAD.size - 2], blob[_HEAD.size - 1]
    return (len(blob) - _HEAD.size - _SLOT.size * n_slots) // (_DAY.size + _KPI_DAY.size * n_kpis)


def keep_days(blob: bytes, kset: KpiSet, max_days: int, tz: ZoneInfo,
              also: int | None = None) -> tuple[bytes, int]:
    """The state with only its newest ``max_days`` day records, and how many were dropped.

    Kept whatever the cap: the days of open waits and of a session still owed its first reply
    (a breach or a reply still counts for them), and ``also`` (the base wait's day, which the
    mirror KPI counts for). The book is not told, as for :func:`reply_window.keep_days`.
    """
    state = decode(blob, kset)
    if len(state.days) <= max_days:
        return blob, 0
    keep = set(sorted(state.days)[-max_days:])
    for start in state.slots:
        if start:
            keep.add(local_day(abs(start), tz)[0])
    if state.pending:
        keep.add(local_day(state.session_start, tz)[0])
    if also is not None:
        keep.add(also)
    before = len(state.days)
    state.days = {day: rec for day, rec in state.days.items() if day in keep}
    return encode(state), before - len(state.days)


def slots_of(blob: bytes) -> tuple[int, ...]:
    """The wait slots of a row alone (cheap: the day records are not read)."""
    if not blob:
        return ()
    n_slots = blob[_HEAD.size - 1]
    return struct.unpack_from(f"<{n_slots}q", blob, _HEAD.size)


def day_records(blob: bytes, kset: KpiSet) -> dict[int, list[int]]:
    """The per-day contributions of a row (day -> 4 ints per KPI)."""
    return decode(blob, kset).days if blob else {}


def open_slots(blob: bytes, kset: KpiSet) -> list[tuple[int, int, bool]]:
    """(KPI index, start, breached) of each open KPI wait of a row (own slots only)."""
    if not blob:
        return []
    state = decode(blob, kset)
    return [(kset.runs[j], abs(s), s < 0) for j, s in enumerate(state.slots) if s]


@lru_cache(maxsize=4096)
def local_day(ts_ms: int, tz: ZoneInfo) -> tuple[int, datetime]:
    """The business-day ordinal and local time of an event time.

    Cached: one event asks for its own time several times (each KPI, the agent-days).
    """
    local = datetime.fromtimestamp(ts_ms / 1000, tz)
    return local.toordinal(), local


# --- transitions ------------------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    """What one event did to the KPI state: outcomes and the agent-book moves to make."""

    outcomes: list[KpiOutcome] = field(default_factory=list)
    # (KPI index, day, start) of counted KPI waits opened; of open unbreached counted waits
    # handed to another agent by a transfer; of breaches retracted by a reply in time
    opened: list[tuple[int, int]] = field(default_factory=list)
    moved: list[tuple[int, int]] = field(default_factory=list)
    retracted: list[tuple[int, int]] = field(default_factory=list)


def _breach(state: KpiState, j: int, kset: KpiSet, cid: str, shop: str, agent: str,
            tz: ZoneInfo, step: Step) -> None:
    i = kset.runs[j]
    kpi = kset.kpis[i]
    start = state.slots[j]
    state.slots[j] = -start
    day, local = local_day(start, tz)
    counted = kpi.is_counted(local.time())
    if counted:
        state.add(day, i, BREACHED, 1, local.hour)
    step.outcomes.append(KpiBreached(cid, shop, kpi.name, agent, start, start + kpi.window_ms,
                                     day, counted))


def breach_due(state: KpiState, kset: KpiSet, cid: str, shop: str, agent: str, ts: int,
               tz: ZoneInfo, step: Step) -> None:
    """Breach every open KPI wait whose deadline lies before ``ts`` (rule 4)."""
    for j, start in enumerate(state.slots):
        if start > 0 and ts > start + kset.kpis[kset.runs[j]].window_ms:
            _breach(state, j, kset, cid, shop, agent, tz, step)


def step(state: KpiState, kset: KpiSet, cid: str, shop: str, holder: str, event_type: str,
         sender: str | None, buyer_kind: str, ts: int, tz: ZoneInfo) -> Step:
    """Apply one event at its effective time ``ts``; ``holder`` held the conversation before.

    A transfer breaches what is due before it (the old holder let it breach), then hands the
    rest over (the caller moves the agent figures). Buyer, agent and bot messages move the
    session clock; a customer message opens the KPI waits none of which is open and, after a
    gap of ``session_gap_ms`` or more (or as the first message), starts a session; a reply
    closes what it counts for.
    """
    out = Step()
    if event_type != MESSAGE:
        if event_type == "transfer":
            breach_due(state, kset, cid, shop, holder, ts, tz, out)
            for j, start in enumerate(state.slots):
                if start > 0:
                    i = kset.runs[j]
                    day, local = local_day(start, tz)
                    if kset.kpis[i].is_counted(local.time()):
                        out.moved.append((i, day))
        return out
    if sender not in (BUYER, AGENT, BOT):
        return out  # system messages neither time a session nor open or close a wait
    previous = state.last_msg
    state.last_msg = ts
    if sender == BUYER:
        if buyer_kind != CUSTOMER:
            return out
        new_session = previous == 0 or ts - previous >= kset.session_gap_ms
        if new_session:
            _start_session(state, kset, cid, shop, holder, ts, tz, out)
        for j, start in enumerate(state.slots):
            if start == 0 and kset.kpis[kset.runs[j]].unit != SESSION_FIRST:
                _open(state, kset, j, ts, tz, out)
        return out
    bot = sender == BOT
    # first replies of the session
    if state.pending:
        day, _ = local_day(state.session_start, tz)
        for i, kpi in enumerate(kset.kpis):
            bit = 1 << i
            if state.pending & bit and (not bot or kset.bot_closes[i]):
                state.pending &= ~bit
                state.add(day, i, FIRST_N, 1)
                state.add(day, i, FIRST_MS, ts - state.session_start)
                out.outcomes.append(KpiFirstResponse(cid, shop, kpi.name, holder,
                                                     state.session_start, ts, day))
    for j, start in enumerate(state.slots):
        if start == 0:
            continue
        i = kset.runs[j]
        if bot and not kset.bot_closes[i]:
            continue
        kpi = kset.kpis[i]
        begun = abs(start)
        in_time = ts - begun <= kpi.window_ms
        if start > 0 and not in_time:
            _breach(state, j, kset, cid, shop, holder, tz, out)
        elif start < 0 and in_time:  # declared breached, but the reply is stamped in time
            day, local = local_day(begun, tz)
            if kpi.is_counted(local.time()):
                state.add(day, i, BREACHED, -1, local.hour)
                out.retracted.append((i, day))
        state.slots[j] = 0
    return out


def _start_session(state: KpiState, kset: KpiSet, cid: str, shop: str, holder: str, ts: int,
                   tz: ZoneInfo, out: Step) -> None:
    day, local = local_day(ts, tz)
    state.session_start = ts
    pending = 0
    for i, kpi in enumerate(kset.kpis):
        if kpi.is_counted(local.time()):
            pending |= 1 << i
    state.pending = pending
    for j, start in enumerate(state.slots):
        if kset.kpis[kset.runs[j]].unit != SESSION_FIRST:
            continue
        if start > 0:  # the last session's first reply never came (the window < the gap)
            _breach(state, j, kset, cid, shop, holder, tz, out)
        _open(state, kset, j, ts, tz, out)


def _open(state: KpiState, kset: KpiSet, j: int, ts: int, tz: ZoneInfo, out: Step) -> None:
    i = kset.runs[j]
    state.slots[j] = ts
    day, local = local_day(ts, tz)
    if kset.kpis[i].is_counted(local.time()):
        state.add(day, i, UNITS, 1, local.hour)
        out.opened.append((i, day))


def expire(state: KpiState, kset: KpiSet, j: int, cid: str, shop: str, agent: str,
           watermark_ms: int | None, tz: ZoneInfo) -> KpiBreached | None:
    """Breach slot ``j`` if the watermark (None: end of input) is past its deadline."""
    start = state.slots[j]
    if start <= 0:
        return None
    if watermark_ms is not None and watermark_ms <= start + kset.kpis[kset.runs[j]].window_ms:
        return None
    out = Step()
    _breach(state, j, kset, cid, shop, agent, tz, out)
    found = out.outcomes[0]
    assert isinstance(found, KpiBreached)
    return found
