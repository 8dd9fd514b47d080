"""The engine's KPI side: every event judged against every KPI of its conversation.

:class:`~stream.core.engine.Engine` calls into this module from ``apply``, ``advance``,
``finish``, ``load`` and ``evict`` with a few lines each; the state it changes is the
conversation row (``Conversation.kpi``, ``wait_agent``/``last_agent`` on a transfer) and the
partition's :class:`KpiPartition`. Transfers (DOMAIN.md §2, §3 rule 6) are handled here for
the base wait too: what is due before the transfer breaches with the old holder, the rest is
handed to the new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from stream.core.agent_days import AgentBook
from stream.core.deadlines import Deadlines
from stream.core.events import AGENT, BOT, BUYER, CUSTOMER, MESSAGE, ChatEvent
from stream.core.kpi import KpiSet
from stream.core.kpi_figures import KpiBook
from stream.core.kpi_state import (
    BREACHED,
    UNITS,
    KpiBreached,
    KpiFirstResponse,
    KpiOutcome,
    KpiState,
    clock_only,
    decode,
    encode,
    expire,
    local_day,
    slots_of,
    step,
)
from stream.core.policy import Policy, PolicyBook
from stream.core.reply_window import (
    BreachRetracted,
    Outcome,
    WaitBreached,
    WaitClosed,
    WaitOpened,
    expire_wait,
)
from stream.core.rows import NO_WAIT, Conversation
from stream.core.score import ScoreBook

TRANSFER = "transfer"
UNASSIGNED = "unassigned"


@dataclass(slots=True)
class KpiPartition:
    """A partition's KPI figures, KPI-wait deadlines and agent-days."""

    book: KpiBook = field(default_factory=KpiBook)
    deadlines: Deadlines = field(default_factory=Deadlines)
    agents: AgentBook = field(default_factory=AgentBook)
    score: ScoreBook = field(default_factory=ScoreBook)  # units by hour, settled days


def _note_hours(part: KpiPartition, shop: str, kset: KpiSet, state: KpiState) -> None:
    """Move the units and breaches a step counted by start hour into the score book."""
    if state.hours:
        note = part.score.note
        for day, i, what, hour, amount in state.hours:
            note(shop, day, kset.kpis[i].name, what, hour, amount)
        state.hours.clear()


def _book_change(book: KpiBook, conv: Conversation, kset: KpiSet, before: KpiState | None,
                 after: KpiState) -> None:
    old = before.days if before is not None else {}
    for day, rec in after.days.items():
        prev = old.get(day)
        if prev != rec:
            book.change(conv.shop_id, conv.buyer_id, kset.kpis, day, prev, rec)
    for day, prev in old.items():
        if day not in after.days:
            book.change(conv.shop_id, conv.buyer_id, kset.kpis, day, prev, None)


def _changed(book: KpiBook, conv: Conversation, kset: KpiSet, state: KpiState) -> None:
    """Tell the book about the day records a step changed (``KpiState.old``)."""
    for day, prev in state.old.items():
        rec = state.days.get(day)
        if rec is not None and not any(rec):
            rec = None
        if prev != rec:
            book.change(conv.shop_id, conv.buyer_id, kset.kpis, day, prev, rec)
    state.old.clear()


def on_event(part: KpiPartition, policies: PolicyBook, cid: str, conv: Conversation,
             event: ChatEvent, base: list[Outcome], policy: Policy, tz: ZoneInfo,
             holder: str | None) -> list[KpiOutcome]:
    """Judge one applied event against the conversation's KPIs; returns the KPI outcomes.

    ``base`` holds the base wait's outcomes of the event (a transfer's due breach is appended
    to it); ``holder`` held the conversation before the event.
    """
    kind = event.type
    if kind != MESSAGE and kind != TRANSFER:
        return []  # read and end touch no KPI
    ts = conv.latest_ts
    shop = conv.shop_id
    kset = policies.kpis(conv.platform, shop)
    agents = part.agents
    old_holder = holder or UNASSIGNED
    if kind == TRANSFER:
        if conv.wait_start != NO_WAIT:
            due = expire_wait(conv, cid, ts, policy)
            if due is not None:
                base.append(due)
        conv.last_agent = event.agent_id
    sender = event.sender
    if kind == MESSAGE and sender not in (BUYER, AGENT, BOT):
        return []  # system messages neither time a session nor open or close a wait
    if not base and kind == MESSAGE:
        moved = clock_only(conv.kpi, kset, sender, event.buyer_kind, ts)
        if moved is not None:  # the fast path: nothing judged, the session clock moves
            conv.kpi = moved
            _count_message(agents, shop, old_holder, event, ts, tz)
            return []
    state = decode(conv.kpi, kset)
    slots_before = tuple(state.slots)
    out: list[KpiOutcome] = []
    _mirror(state, kset, base, agents, conv.buyer_id, out, tz,
            policy.slow_threshold_seconds * 1000)
    done = step(state, kset, cid, shop, old_holder, kind, sender, event.buyer_kind, ts, tz)
    out.extend(done.outcomes)
    buyer = conv.buyer_id
    kpis = kset.kpis
    for i, day in done.opened:
        agents.kpi(shop, old_holder, day, kpis[i], buyer, units=1)
    for i, day in done.retracted:
        agents.kpi(shop, old_holder, day, kpis[i], buyer, breached=-1)
    for o in done.outcomes:
        _agent_outcome(agents, kset, o, buyer)
    if kind == TRANSFER:
        target = event.agent_id or UNASSIGNED
        for i, day in done.moved:
            agents.move_kpi(shop, old_holder, target, day, kpis[i], buyer)
        if conv.wait_start != NO_WAIT and conv.wait_counted and not conv.wait_breached:
            agents.moved(shop, conv.wait_agent or UNASSIGNED, target, conv.wait_day,
                         local_day(ts, tz)[0], buyer)
            if kset.mirror >= 0:
                agents.move_kpi(shop, conv.wait_agent or UNASSIGNED, target, conv.wait_day,
                                kpis[kset.mirror], buyer)
        if conv.wait_start != NO_WAIT and not conv.wait_breached:
            conv.wait_agent = event.agent_id
    else:
        _count_message(agents, shop, old_holder, event, ts, tz)
    for j, start in enumerate(state.slots):
        if start > 0 and start != slots_before[j]:
            part.deadlines.add(start + kpis[kset.runs[j]].window_ms, cid)
    _note_hours(part, shop, kset, state)
    blob = encode(state)
    if blob != conv.kpi:
        conv.kpi = blob
        _changed(part.book, conv, kset, state)
    return out


def _count_message(agents: AgentBook, shop: str, holder: str, event: ChatEvent, ts: int,
                   tz: ZoneInfo) -> None:
    """Customer messages for the holder, agent messages for their sender (答问比)."""
    sender = event.sender
    if sender == BUYER and event.buyer_kind == CUSTOMER:
        agents.day(shop, holder, local_day(ts, tz)[0]).buyer_messages += 1
    elif sender == AGENT:
        agents.day(shop, event.agent_id or UNASSIGNED, local_day(ts, tz)[0]).agent_messages += 1


def _mirror(state: KpiState, kset: KpiSet, base: list[Outcome], agents: AgentBook,
            buyer: str, out: list[KpiOutcome], tz: ZoneInfo, slow_ms: float) -> None:
    """The base wait's outcomes, as the mirror KPI's figures (and the agents' base figures)."""
    m = kset.mirror
    retracted = False
    for o in base:
        if isinstance(o, BreachRetracted):
            retracted = True
            continue
        if not o.counted:
            continue
        shop = o.shop_id
        if isinstance(o, WaitOpened):
            agents.opened(shop, o.agent, o.day, local_day(o.start_ms, tz)[0], buyer)
            if m >= 0:
                state.add(o.day, m, UNITS, 1, local_day(o.start_ms, tz)[1].hour)
                agents.kpi(shop, o.agent, o.day, kset.kpis[m], buyer, units=1)
        elif isinstance(o, WaitBreached):
            agents.breached(shop, o.agent, o.day, buyer, 1)
            if m >= 0:
                state.add(o.day, m, BREACHED, 1, local_day(o.start_ms, tz)[1].hour)
                agents.kpi(shop, o.agent, o.day, kset.kpis[m], buyer, breached=1)
                out.append(KpiBreached(o.conversation_id, shop, kset.kpis[m].name, o.agent,
                                       o.start_ms, o.deadline_ms, o.day, True, mirror=True))
        elif isinstance(o, WaitClosed):
            response_ms = o.reply_ms - o.start_ms
            agents.answered(shop, o.agent, o.day, response_ms, response_ms > slow_ms)
            if retracted:
                agents.breached(shop, o.agent, o.day, buyer, -1)
                if m >= 0:
                    state.add(o.day, m, BREACHED, -1, local_day(o.start_ms, tz)[1].hour)
                    agents.kpi(shop, o.agent, o.day, kset.kpis[m], buyer, breached=-1)
            retracted = False


def _agent_outcome(agents: AgentBook, kset: KpiSet, o: KpiOutcome, buyer: str) -> None:
    kpi = next(k for k in kset.kpis if k.name == o.kpi)
    if isinstance(o, KpiBreached):
        if o.counted:
            agents.kpi(o.shop_id, o.agent, o.day, kpi, buyer, breached=1)
    elif isinstance(o, KpiFirstResponse):
        agents.kpi(o.shop_id, o.agent, o.day, kpi, buyer, first_n=1,
                   first_ms=o.reply_ms - o.start_ms)


def after_base_breaches(part: KpiPartition, policies: PolicyBook,
                        conversations: dict[str, Conversation],
                        breaches: list[WaitBreached]) -> list[KpiOutcome]:
    """The mirror KPI's side of base breaches declared by a watermark."""
    out: list[KpiOutcome] = []
    for breach in breaches:
        conv = conversations[breach.conversation_id]
        kset = policies.kpis(conv.platform, conv.shop_id)
        policy, tz = policies.resolve(conv.platform, conv.shop_id)
        state = decode(conv.kpi, kset)
        _mirror(state, kset, [breach], part.agents, conv.buyer_id, out, tz,
                policy.slow_threshold_seconds * 1000)
        _store(part, conv, kset, state)
    return out


def _store(part: KpiPartition, conv: Conversation, kset: KpiSet, state: KpiState) -> None:
    _note_hours(part, conv.shop_id, kset, state)
    blob = encode(state)
    if blob != conv.kpi:
        conv.kpi = blob
        _changed(part.book, conv, kset, state)


def expire_kpis(part: KpiPartition, policies: PolicyBook, conversations: dict[str, Conversation],
                watermark_ms: int | None) -> list[KpiBreached]:
    """Breach the KPI waits whose deadline is before ``watermark_ms`` (None: every one)."""
    deadlines = part.deadlines
    out: list[KpiBreached] = []
    while (second := deadlines.first_second()) is not None:
        if watermark_ms is not None and second * 1000 >= watermark_ms:
            break
        second, ids = deadlines.pop()
        later: list[str] = []
        due: list[tuple[int, str, int]] = []
        for cid in dict.fromkeys(ids):
            conv = conversations.get(cid)
            if conv is None or not conv.kpi:
                continue
            kset = policies.kpis(conv.platform, conv.shop_id)
            state = decode(conv.kpi, kset)
            for j, start in enumerate(state.slots):
                if start <= 0:
                    continue
                deadline = start + kset.kpis[kset.runs[j]].window_ms
                if deadline // 1000 != second:
                    continue
                if watermark_ms is None or deadline < watermark_ms:
                    due.append((deadline, cid, j))
                else:
                    later.append(cid)
        due.sort()
        for _, cid, j in due:
            conv = conversations[cid]
            kset = policies.kpis(conv.platform, conv.shop_id)
            _, tz = policies.resolve(conv.platform, conv.shop_id)
            state = decode(conv.kpi, kset)
            agent = conv.last_agent or UNASSIGNED
            found = expire(state, kset, j, cid, conv.shop_id, agent, watermark_ms, tz)
            if found is not None:
                _agent_outcome(part.agents, kset, found, conv.buyer_id)
                out.append(found)
                _store(part, conv, kset, state)
        if later:
            deadlines.put_back(second, list(dict.fromkeys(later)))
            break
    return out


def load(part: KpiPartition, policies: PolicyBook, cid: str, conv: Conversation,
         old: Conversation | None) -> None:
    """Adopt a restored row: its KPI figures, its open KPI waits' deadlines, its holder."""
    kset = policies.kpis(conv.platform, conv.shop_id)
    state = decode(conv.kpi, kset) if conv.kpi else None
    before = decode(old.kpi, kset) if old is not None and old.kpi else None
    if state is not None:
        _book_change(part.book, conv, kset, before, state)
        for j, start in enumerate(state.slots):
            if start > 0:
                part.deadlines.add(start + kset.kpis[kset.runs[j]].window_ms, cid)
    elif before is not None:
        _book_change(part.book, conv, kset, before, KpiState(before.n_kpis))
    if conv.wait_start != NO_WAIT and conv.wait_counted:
        part.agents.hold(conv.shop_id, conv.wait_agent or UNASSIGNED, conv.wait_day)


def has_open_kpi_wait(conv: Conversation, policies: PolicyBook) -> bool:
    """Whether a KPI wait of the row is open and not yet breached (it must not be evicted)."""
    if not conv.kpi:
        return False
    state = decode(conv.kpi, policies.kpis(conv.platform, conv.shop_id))
    return any(s > 0 for s in state.slots)


def open_kpi_waits(part: KpiPartition, policies: PolicyBook,
                   conversations: dict[str, Conversation],
                   seen: set[tuple[str, int]]) -> Iterator[tuple[str, Conversation, int, int]]:
    """(conversation id, row, KPI index, start) of each open unbreached KPI wait of its own."""
    for ids in part.deadlines.by_second.values():
        for cid in ids:
            conv = conversations.get(cid)
            if conv is None or not conv.kpi:
                continue
            kset = policies.kpis(conv.platform, conv.shop_id)
            for j, start in enumerate(decode(conv.kpi, kset).slots):
                key = (cid, j)
                if start > 0 and key not in seen:
                    seen.add(key)
                    yield cid, conv, kset.runs[j], start


def oldest_open(part: KpiPartition, policies: PolicyBook,
                conversations: dict[str, Conversation],
                shops: dict[str, str]) -> dict[tuple[str, str], int]:
    """(shop, KPI name) -> start of its oldest open unbreached wait of a KPI's own slots.

    The mirror KPI's waits are the base waits (not read here). Deadline seconds are read in order and the scan stops once every (shop, KPI) of the
    partition's ``shops`` (shop -> platform) has been found: within one KPI of a shop (one window), the earliest
    deadline is the oldest wait, so a scrape costs little however many waits are open.
    """
    wanted: set[tuple[str, str]] = set()
    for shop, platform in shops.items():
        kset = policies.kpis(platform, shop)
        wanted.update((shop, kset.kpis[i].name) for i in kset.runs)
    out: dict[tuple[str, str], int] = {}
    by_second = part.deadlines.by_second
    for second in sorted(by_second):
        for cid in by_second[second]:
            conv = conversations.get(cid)
            if conv is None or not conv.kpi:
                continue
            kset = policies.kpis(conv.platform, conv.shop_id)
            for j, start in enumerate(slots_of(conv.kpi)):
                kpi = kset.kpis[kset.runs[j]]
                if start <= 0 or (start + kpi.window_ms) // 1000 != second:
                    continue
                key = (conv.shop_id, kpi.name)
                if start < out.get(key, start + 1):
                    out[key] = start
        if len(out) >= len(wanted) and wanted <= out.keys():
            break
    return out

