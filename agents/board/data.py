"""The board's read-outs of one worker: shops, waiting buyers, a conversation, agents, violations.

Everything here reads the engine (and the :class:`~agents.board.feed.BoardFeed`) as it is
now; what is kept between reads is only a cache of rows that have not changed. Times are
event time, shown in each shop's time zone: ``now_ms`` is the worker's watermark, which
follows the wall clock when the worker is caught up (the WaitAtRisk gauge uses the same).

Every JSON shape is the one ``chatwatch board --workers`` merges (:mod:`agents.board.merge`),
so a field added here must be merged there.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import time
from collections.abc import Callable, Generator, Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from agents.board.feed import BoardFeed
from agents.pipeline import log_ref
from stream.core import kpi_state
from stream.core.agent_days import AgentDay
from stream.core.engine import Engine, KpiWait
from stream.core.kpi import POLICY_KPI, KpiSet, policy_kpi
from stream.core.kpi_figures import KpiFigures
from stream.core.policy import Policy
from stream.core.reply_window import day_record
from stream.core.rows import NO_WAIT, Conversation
from stream.core.score import Forecast, Score
from stream.schema import LATEST_MS

DEFAULT_LIMIT = 200
MAX_LIMIT = 2000
# Page sizes of the read-outs (the default, the largest a request may ask for): every
# ``/api/*`` answer is one page, with ``more`` and the ``next_cursor`` that asks for the next.
PAGES = {"summary": (200, 2000), "waits": (DEFAULT_LIMIT, MAX_LIMIT), "agents": (200, 2000),
         "violations": (50, 500)}
# The agents' ranking is read from the engine at most this often (pages of one ranking).
RANKING_SECONDS = 2.0
SLICE_SECONDS = 0.005  # work on the event loop between two pauses of a long read-out


class CursorError(ValueError):
    """A ``cursor`` that no page of this read-out gave (the message says what it should be)."""


def wait_cursor(key: tuple[int, int], ref: str) -> str:
    """The cursor after a wait of the board's list (ordered by :func:`order_key`, then ref)."""
    return f"{key[0]}:{key[1]}:{ref}"


def parse_wait_cursor(cursor: str) -> tuple[tuple[int, int], str]:
    """(order key, ref) of a :func:`wait_cursor` (raises :class:`CursorError`)."""
    group, _, rest = cursor.partition(":")
    at, _, ref = rest.partition(":")
    try:
        return (int(group), int(at)), ref
    except ValueError:
        raise CursorError(f"{cursor!r}: the next_cursor of a page of waits") from None


class Waiting(NamedTuple):
    """A conversation whose buyer is still waiting, as the board's list reads it cheaply.

    ``bound`` is a lower bound of its place (:func:`order_key` of its KPI waits), from the
    row's open waits alone: exact unless a wait within its window can no longer be saved,
    which takes decoding the row's day records (``Engine.kpi_waits``), done only for the
    rows of a page.
    """

    bound: tuple[int, int]
    cid: str
    conv: Conversation
    breached: bool  # a window of it ran out
    began: int  # when the buyer began to wait (the earliest open wait's start)


def order_key(waits: Iterable[KpiWait]) -> tuple[int, int]:
    """Where a waiting buyer stands on the board: in the order a supervisor should act.

    (0, earliest deadline among the waits a reply can still save): least time left first.
    (1, earliest deadline of all): nothing to save any more for a KPI (breached, outside
    counted hours, or a buyer-unit KPI this buyer already lost today): the longest over first,
    then those whose window runs but counts for nothing.
    """
    waits = list(waits)
    saveable = [w.deadline_ms for w in waits if w.saveable]
    if saveable:
        return 0, min(saveable)
    return 1, min(w.deadline_ms for w in waits)


def waiting_entry(engine: Engine, cid: str, conv: Conversation,
                  policies: dict[tuple[str, str], tuple[int, KpiSet]]) -> Waiting | None:
    """The :class:`Waiting` of a conversation (None: no wait open after all).

    Its open waits as ``Engine.kpi_waits`` finds them (the base wait's window, each KPI's
    slot), without their day records: a wait not yet breached may turn out not saveable,
    never the other way, so ``bound`` is never after the true place.
    """
    shape = (conv.platform, conv.shop_id)
    known = policies.get(shape)
    if known is None:
        kset = engine.policies.kpis(*shape)
        known = policies[shape] = (engine.policies.policy(*shape).window_ms, kset)
    window_ms, kset = known
    within: list[int] = []
    over: list[int] = []
    starts: list[int] = []
    if conv.wait_start != NO_WAIT:
        starts.append(conv.wait_start)
        (over if conv.wait_breached else within).append(conv.wait_start + window_ms)
    if conv.kpi:
        for j, slot in enumerate(kpi_state.slots_of(conv.kpi)):
            if slot:
                start = abs(slot)
                starts.append(start)
                deadline = start + kset.kpis[kset.runs[j]].window_ms
                (over if slot < 0 else within).append(deadline)
    if not starts:
        return None
    bound = (0, min(within)) if within else (1, min(over))
    return Waiting(bound, cid, conv, bool(over), min(starts))


def agent_cursor(row: dict[str, Any]) -> str:
    """The cursor after an agent row: its place in the ranking, as URL-safe text."""
    return base64.urlsafe_b64encode(msgspec.json.encode(list(rank(row)))).decode()


def parse_agent_cursor(cursor: str) -> tuple[Any, ...]:
    """The ranking key of an :func:`agent_cursor` (raises :class:`CursorError`)."""
    try:
        key = msgspec.json.decode(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, msgspec.DecodeError):
        raise CursorError(f"{cursor!r}: the next_cursor of a page of agents") from None
    if not isinstance(key, list) or len(key) != 6:
        raise CursorError(f"{cursor!r}: the next_cursor of a page of agents")
    return tuple(key)


def counting_note(policy: Policy, tz: ZoneInfo, now_ms: int) -> dict[str, Any]:
    """Whether a wait opened now counts toward the KPIs, and if not when counting starts.

    The answer to "why is reply_rate NaN at 05:30?": waits outside counted hours are tracked
    but not counted (DOMAIN.md §3 rule 5).
    """
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    counting = policy.is_counted(local.time())
    hours = f"{policy.counted_from:%H:%M}-{policy.counted_until:%H:%M}"
    note: dict[str, Any] = {"counting": counting, "counted_hours": hours,
                            "timezone": str(tz.key), "local_time": local.isoformat("T", "seconds")}
    if not counting:
        day = local.date() + timedelta(days=local.time() >= policy.counted_from)
        start = datetime.combine(day, policy.counted_from, tz)
        note["counting_starts"] = start.isoformat("T", "seconds")
        note["message"] = (f"outside counted hours ({hours} {tz.key}): waits opened now are "
                           f"tracked but not counted; counting starts at "
                           f"{start:%Y-%m-%d %H:%M} {tz.key}")
    return note


def shop_kpi_figures(engine: Engine, shop_id: str, platform: str, day: int,
                     partitions: list[int]) -> list[KpiFigures]:
    """``Engine.kpi_figures`` of a shop whose platform is known.

    The engine's own looks the platform up among every shop of the partitions: per shop, with
    tens of thousands of shops, that is most of the work (15 s for a page of 200).
    """
    book = engine.kpi_book(partitions, (shop_id, day))
    return [book.figures(shop_id, day, k) for k in engine.policies.kpis(platform, shop_id).kpis]


def kpis(figures: list[KpiFigures], kset: KpiSet, scores: list[Score] | None = None,
         forecasts: list[Forecast] | None = None,
         gates: dict[str, list[list[int]]] | None = None) -> list[dict[str, Any]]:
    """Each reply KPI of a shop today (DOMAIN.md §3, "Platform KPIs"), against its target.

    One entry per KPI of the shop's list, in list order, from ``Engine.kpi_figures``.
    ``units``/``breached`` are what a merge over workers sums; ``value`` follows from them.

    With ``scores`` (``Engine.scores``) and ``forecasts`` (``Engine.forecasts``) each entry
    also says how the platform will judge it (DOMAIN.md §3, "Platform score"): ``score`` over
    ``score_days`` days from ``window_units``/``window_breached``; ``budget`` (today's breach
    budget) and ``score_budget`` (the score window's); ``gate`` ``"ok"``/``"failed"`` (None:
    the KPI has no gate) with ``gate_days``, ``gate_min_rate`` and ``gate_units``, the
    (units, units breached) of each day of the gate window, oldest first (``gates``: KPI name
    -> those); ``forecast_rate`` and ``forecast_units``, the projected end-of-day rate and
    units. The merge over workers recomputes every one of them from the sums.
    """
    out = []
    for i, (kpi, f) in enumerate(zip(kset.kpis, figures, strict=True)):
        entry: dict[str, Any] = {
            "name": kpi.name,
            "label": kpi.title,
            "unit": kpi.unit,
            "window_seconds": kpi.window_seconds,
            "units": f.units,
            "breached": f.units_breached,
            "value": f.rate,
            "target": kpi.target,
        }
        if scores is not None:
            s = scores[i]
            entry.update({
                "score": s.score, "score_days": s.score_days, "window_units": s.window_units,
                "window_breached": s.window_breached, "budget": s.budget,
                "score_budget": s.score_budget,
                "gate": None if s.gate_ok is None else "ok" if s.gate_ok else "failed",
                "gate_days": kpi.gate.days if kpi.gate else None,
                "gate_min_rate": kpi.gate.min_rate if kpi.gate else None,
                "gate_units": (gates or {}).get(kpi.name) if kpi.gate else None,
            })
        if forecasts is not None:
            e = forecasts[i]
            entry.update({"forecast_rate": e.rate, "forecast_units": e.units,
                          "forecast_history_days": e.history_days})
        out.append(entry)
    return out


def shop_scores(engine: Engine, shop_id: str, platform: str, day: int, now_ms: int,
                partitions: list[int], kset: KpiSet
                ) -> tuple[list[Score], list[Forecast], dict[str, list[list[int]]]]:
    """The platform's view of a shop's KPIs on ``day``: scores, forecasts, gate days.

    The same ``Engine.scores`` and ``Engine.forecasts`` the worker's gauges read; the gate
    days are each gated KPI's (units, units breached) per day of its window, oldest first,
    from which the merge over workers recomputes the gate.
    """
    scores = engine.scores(shop_id, day, partitions, platform)
    forecasts = engine.forecasts(shop_id, now_ms, partitions, platform)
    gates: dict[str, list[list[int]]] = {}
    gated = [k for k in kset.kpis if k.gate is not None]
    if gated:
        longest = max(k.gate.days for k in gated if k.gate is not None)
        units = engine.day_units(shop_id, day - longest + 1, day, partitions)
        for kpi in gated:
            assert kpi.gate is not None
            days = units.get(kpi.name, {})
            gates[kpi.name] = [list(days.get(d, (0, 0)))
                               for d in range(day - kpi.gate.days + 1, day + 1)]
    return scores, forecasts, gates


class LocalSource:
    """The board's data on one worker: its engine, the partitions it owns, its feed."""

    def __init__(self, engine: Engine, feed: BoardFeed, owned: Callable[[], list[int]],
                 now_ms: Callable[[], int]) -> None:
        self.engine = engine
        self.feed = feed
        self.owned = owned
        self.now_ms = now_ms
        # (shops, open waits by shop) read in slices by prepare() for the next read-out
        self._prepared: tuple[dict[str, str], dict[str, list[Waiting]]] | None = None
        # each waiting conversation's entry (_open_steps) and KPI waits (waits), as of the
        # row's last read
        self._entries: dict[str, tuple[Any, ...]] = {}
        self._known: dict[str, tuple[Any, ...]] = {}
        # ref -> conversation id of the last conversations asked for; the one prepare() found
        self._refs: dict[str, str] = {}
        self._found: tuple[tuple[str | None, str], tuple[str, Conversation] | None] | None = None
        # shop filter -> (monotonic time, now_ms, ranked agent rows): pages of one ranking
        # (shop, day) -> the platform's view of the shop's KPIs (shop_scores), read in slices
        # by prepare() for the next summary: a few milliseconds a shop, a page of 200 shops
        # at once would hold the event loop for most of a second
        self._views: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._rankings: dict[str | None, tuple[float, int, list[tuple[Any, ...]]]] = {}

    # -- helpers ----------------------------------------------------------------------------

    def _shops(self, shop: str | None, ordered: bool = True) -> dict[str, str]:
        if self._prepared is not None:
            shops = self._prepared[0]
        else:
            shops = self.engine.shops(self.owned())
        if shop:
            return {shop: shops[shop]} if shop in shops else {}
        return dict(sorted(shops.items())) if ordered else shops

    def _open(self, shops: Iterable[str]) -> dict[str, list[Waiting]]:
        if self._prepared is not None:
            by_shop = self._prepared[1]
            self._prepared = None  # read once: the next request reads the engine again
        else:
            by_shop = _run(self._open_steps())[1]
        return {s: by_shop.get(s, []) for s in shops}

    def _open_steps(self) -> Generator[None, None, tuple[dict[str, str],
                                                         dict[str, list[Waiting]]]]:
        """(shop -> platform, shop -> every buyer of it still waiting), a partition at a time.

        ``Engine.shops`` and ``Engine.waiting`` read in steps: with tens of thousands of shops
        or waits either takes a few hundred milliseconds at once.
        """
        engine = self.engine
        shops: dict[str, str] = {}
        owned = [n for n in self.owned() if n in engine.partitions]
        for number in owned:
            for shop, platform in list(engine.partitions[number].shops.items()):
                shops.setdefault(shop, platform)
            yield
        policies: dict[tuple[str, str], tuple[int, KpiSet]] = {}
        by_shop: dict[str, list[Waiting]] = {}
        # a row's entry is kept from the previous read while its waits are as they were:
        # most buyers wait through many polls of the board
        known, fresh = self._entries, {}
        for number in owned:
            if number not in engine.partitions:  # moved to another worker between two steps
                continue
            for i, (cid, conv) in enumerate(engine.waiting(number)):
                mark = known.get(cid)
                if mark is not None and mark[0] is conv and mark[1] == conv.wait_start \
                        and mark[2] == conv.wait_breached and mark[3] is conv.kpi:
                    item = mark[4]
                else:
                    item = waiting_entry(engine, cid, conv, policies)
                fresh[cid] = (conv, conv.wait_start, conv.wait_breached, conv.kpi, item)
                if item is not None:
                    by_shop.setdefault(conv.shop_id, []).append(item)
                if i % 2000 == 1999:
                    yield
            yield
        self._entries = fresh
        return shops, by_shop

    def _today(self, tz: ZoneInfo, now: int) -> tuple[int, str]:
        day = datetime.fromtimestamp(now / 1000, tz).date()
        return day.toordinal(), day.isoformat()

    # -- read-outs --------------------------------------------------------------------------

    def summary(self, shop: str | None = None, limit: int = PAGES["summary"][0],
                cursor: str | None = None) -> dict[str, Any]:
        """Per shop: today's KPIs and figures, waiting buyers, counted-hours note.

        Each KPI carries today's rate and the platform's view of it: score, gate, budgets and
        forecast (:func:`kpis`), read at the worker's event-time now as its gauges are.

        ``open_waits`` are the waits still within their window (``chatwatch_open_waits``),
        ``breached_waits`` the buyers still waiting after a window ran out, ``waiting`` all
        of them. One page of shops by id: the ``limit`` first after ``cursor`` (a shop id).
        """
        now = self.now_ms()
        engine, partitions = self.engine, self.owned()
        every = self._shops(shop)
        names = [s for s in every if cursor is None or s > cursor]
        more = len(names) > limit
        shops = {s: every[s] for s in names[:limit]}
        waits = self._open(shops)
        views, self._views = self._views, {}  # read once
        out = []
        for shop_id, platform in shops.items():
            policy, tz = engine.policies.resolve(platform, shop_id)
            ordinal, day = self._today(tz, now)
            kset = engine.policies.kpis(platform, shop_id)
            view = views.get((shop_id, ordinal))
            if view is None:
                view = shop_scores(engine, shop_id, platform, ordinal, now, partitions, kset)
            figures = engine.figures(shop_id, ordinal, partitions)
            mine = waits[shop_id]
            at_risk_ms = policy.at_risk_seconds * 1000
            within = [w for w in mine if w.conv.has_open_wait and not w.conv.wait_breached]
            breached = sum(1 for w in mine if w.breached)
            oldest = min((w.began for w in mine), default=None)
            out.append({
                "shop_id": shop_id, "platform": platform, "timezone": tz.key, "day": day,
                "kpis": kpis(shop_kpi_figures(engine, shop_id, platform, ordinal, partitions),
                             kset, *view),
                "figures": figures.as_dict() if figures else None,
                "open_waits": len(within),
                "uncounted_open_waits": sum(1 for w in within if not w.conv.wait_counted),
                "at_risk_waits": sum(1 for w in within if now - w.conv.wait_start >= at_risk_ms),
                "breached_waits": breached,
                "waiting": len(mine),
                "at_risk_seconds": policy.at_risk_seconds,
                "oldest_wait_seconds": (now - oldest) / 1000 if oldest is not None else 0.0,
                "counting": counting_note(policy, tz, now),
            })
        return {"now_ms": now, "partitions": partitions, "shops": out, "limit": limit,
                "more": more, "next_cursor": out[-1]["shop_id"] if more else None}

    def waits(self, shop: str | None = None, limit: int = DEFAULT_LIMIT,
              cursor: str | None = None) -> dict[str, Any]:
        """Every buyer still waiting, in the order to act (:func:`order_key`, then masked ref).

        One page of ``limit`` after ``cursor``. ``total`` counts every waiting buyer of the
        shops, whatever the page; ``breached`` those of them past a window.
        """
        now = self.now_ms()
        engine = self.engine
        shops = self._shops(shop, ordered=False)
        rows: list[Waiting] = []
        for items in self._open(shops).values():
            rows.extend(items)
        total = len(rows)
        breached = sum(1 for w in rows if w.breached)
        after = parse_wait_cursor(cursor) if cursor else None
        # Best first by the bound: a row's true place is worked out (its KPI waits read) in
        # the bound's order, until the next bound is past the page's last true place.
        rows.sort(key=lambda w: w.bound)
        known, self._known = self._known, {}
        found: list[tuple[tuple[int, int], str, Waiting, tuple[KpiWait, ...]]] = []
        for item in rows:
            if len(found) > limit and item.bound > found[limit][0]:
                break
            waits = self._kpi_waits(item, known)
            if not waits:
                continue
            key = order_key(waits)
            if after is not None and key <= after[0]:
                if key < after[0] or log_ref(item.cid) <= after[1]:
                    continue
            found.append((key, log_ref(item.cid), item, waits))
            if len(found) > limit:
                found.sort(key=lambda t: t[:2])
                del found[limit + 1:]
        found.sort(key=lambda t: t[:2])
        page, more = found[:limit], len(found) > limit
        out = [wait_row(engine, item.conv, waits, ref, now)
               for _, ref, item, waits in page]
        return {"now_ms": now, "total": total, "breached": breached, "limit": limit,
                "waits": out, "more": more,
                "next_cursor": wait_cursor(page[-1][0], page[-1][1]) if more else None}

    def _kpi_waits(self, item: Waiting, known: dict[str, tuple[Any, ...]]) -> tuple[KpiWait, ...]:
        """``Engine.kpi_waits`` of a row, kept from the previous page while the row is as it was."""
        conv = item.conv
        mark = known.get(item.cid)
        if mark is not None and mark[0] is conv and mark[1] == conv.wait_start \
                and mark[2] == conv.wait_breached and mark[3] is conv.kpi \
                and mark[4] is conv.days:
            waits: tuple[KpiWait, ...] = mark[5]
        else:
            waits = self.engine.kpi_waits(conv)
        self._known[item.cid] = (conv, conv.wait_start, conv.wait_breached, conv.kpi,
                                 conv.days, waits)
        return waits

    def conversation(self, shop: str | None, ref: str) -> dict[str, Any]:
        """One conversation by its masked ref (a pager link): waiting, or what happened.

        A buyer still waiting is the row of :meth:`waits`; a conversation whose wait has
        closed is found among the engine's rows (kept until eviction) and told by its day.
        """
        now = self.now_ms()
        found = self._find(shop, ref)
        if found is None:
            return {"now_ms": now, "ref": ref, "found": False}
        cid, conv = found
        waits = self.engine.kpi_waits(conv)
        row = conversation_row(self.engine, cid, conv, ref, now)
        if waits:
            row["waiting"] = wait_row(self.engine, conv, waits, ref, now)
        return {"now_ms": now, "found": True, **row}

    def _find(self, shop: str | None, ref: str) -> tuple[str, Conversation] | None:
        prepared, self._found = self._found, None
        if prepared is not None and prepared[0] == (shop, ref):
            return prepared[1]
        return _run(self._find_steps(shop, ref))

    def _find_steps(self, shop: str | None, ref: str,
                    ) -> Generator[None, None, tuple[str, Conversation] | None]:
        """The conversation of ``shop`` (any, if None) on an owned partition whose ref is this.

        The conversations are read a few thousand at a time; the last few found are kept, so
        a page polling one link reads them once.
        """
        owned = set(self.owned())
        cid = self._refs.get(ref)
        conv = self.engine.conversations.get(cid) if cid else None
        if cid and conv is not None and conv.partition in owned:
            return cid, conv
        items = list(self.engine.conversations.items())
        yield
        for i in range(0, len(items), 5000):
            for cid, conv in items[i:i + 5000]:
                if (shop is None or conv.shop_id == shop) and conv.partition in owned \
                        and log_ref(cid) == ref:
                    if len(self._refs) >= 256:
                        self._refs.pop(next(iter(self._refs)))
                    self._refs[ref] = cid
                    return cid, conv
            yield
        return None

    def agents(self, shop: str | None = None, limit: int = PAGES["agents"][0],
               cursor: str | None = None) -> dict[str, Any]:
        """Agents of each shop today, ranked by breaches, slow replies, violations.

        One page of ``limit`` rows after ``cursor`` (a place in the ranking). The ranking is
        read from the engine at most every ``RANKING_SECONDS``: the web server reads it
        first with :meth:`prepare`, a few milliseconds at a time.
        """
        cached = self._ranked(shop)
        if cached is None:
            cached = self._keep(shop, *_run(self._rank_steps(shop)))
        now, keyed = cached
        after = keyed
        if cursor:
            key = parse_agent_cursor(cursor)
            after = [k for k in keyed if k[0] > key]
        page = [self._full_row(row) for _, row in heapq.nsmallest(limit, after)]
        more = len(after) > limit
        return {"now_ms": now, "agents": page, "total": len(keyed), "limit": limit,
                "more": more, "next_cursor": agent_cursor(page[-1]) if more else None}

    async def prepare(self, read_out: str, shop: str | None, ref: str = "",
                      limit: int = PAGES["summary"][0], cursor: str | None = None) -> None:
        """Read what a read-out needs without holding the event loop for long.

        The agents' ranking reads every agent-day of the day: it is built here a slice of
        ``SLICE_SECONDS`` at a time and kept for :meth:`agents`. The summary's page of shops
        (``limit`` after ``cursor``) has each shop's platform view read here, a shop a step.
        """
        if read_out in ("summary", "waits"):
            self._prepared = await _sliced(self._open_steps())
        if read_out == "summary":
            self._views = await _sliced(self._view_steps(shop, limit, cursor))
        elif read_out == "conversation" and ref:
            self._found = ((shop, ref), await _sliced(self._find_steps(shop, ref)))
        elif read_out == "agents" and self._ranked(shop) is None:
            self._keep(shop, *await _sliced(self._rank_steps(shop)))

    def _view_steps(self, shop: str | None, limit: int, cursor: str | None,
                    ) -> Generator[None, None, dict[tuple[str, int], tuple[Any, ...]]]:
        """:func:`shop_scores` of each shop of a summary page, one shop per step."""
        now = self.now_ms()
        engine, partitions = self.engine, self.owned()
        every = self._shops(shop)
        names = [s for s in every if cursor is None or s > cursor][:limit]
        views: dict[tuple[str, int], tuple[Any, ...]] = {}
        for shop_id in names:
            platform = every[shop_id]
            tz = engine.policies.resolve(platform, shop_id)[1]
            ordinal = self._today(tz, now)[0]
            views[(shop_id, ordinal)] = shop_scores(engine, shop_id, platform, ordinal, now,
                                                    partitions,
                                                    engine.policies.kpis(platform, shop_id))
            yield
        return views

    def _ranked(self, shop: str | None) -> tuple[int, list[tuple[Any, ...]]] | None:
        cached = self._rankings.get(shop)
        if cached is None or time.monotonic() - cached[0] >= RANKING_SECONDS:
            return None
        return cached[1], cached[2]

    def _keep(self, shop: str | None, now: int, rows: list[tuple[Any, ...]],
              ) -> tuple[int, list[tuple[Any, ...]]]:
        at = time.monotonic()
        self._rankings = {k: v for k, v in self._rankings.items()
                          if at - v[0] < RANKING_SECONDS}
        self._rankings[shop] = (at, now, rows)
        return now, rows

    def _rank_steps(self, shop: str | None,
                    ) -> Generator[None, None, tuple[int, list[tuple[Any, ...]]]]:
        """(ranking key, row) of today's agents, built in steps (a ``yield`` lets the loop run).

        ``Engine.agent_book`` in one pass for every shop: asked shop by shop it reads every
        shop's agent-days each time (quadratic: minutes with tens of thousands of shops).
        """
        now = self.now_ms()
        engine, partitions = self.engine, self.owned()
        shops = self._shops(shop, ordered=False)
        today: dict[str, tuple[int, str]] = {}
        by_zone: dict[str, tuple[int, str]] = {}
        named = list(shops.items())
        for i in range(0, len(named), 2000):
            for shop_id, platform in named[i:i + 2000]:
                tz = engine.policies.resolve(platform, shop_id)[1]
                day = by_zone.get(tz.key)
                if day is None:
                    day = by_zone[tz.key] = self._today(tz, now)
                today[shop_id] = day
            yield
        # An agent-day of one partition is read where it is; one in several is merged into
        # a copy. Few objects are made: tens of thousands of them would cost more in the
        # garbage collector's passes than in the reading.
        found: dict[tuple[str, str, int], AgentDay] = {}
        copies: set[tuple[str, str, int]] = set()
        for number in partitions:
            state = engine.partitions.get(number)
            if state is None:
                continue
            items = list(state.kpi.agents.days.items())
            for i in range(0, len(items), 2000):
                for key, rec in items[i:i + 2000]:
                    wanted = today.get(key[0])
                    if wanted is None or key[2] != wanted[0]:
                        continue
                    mine = found.get(key)
                    if mine is None:
                        found[key] = rec
                    elif key in copies:
                        mine.merge(rec)
                    else:
                        copy = found[key] = AgentDay()
                        copy.merge(mine)
                        copy.merge(rec)
                        copies.add(key)
                yield
        policies: dict[str, Policy] = {}
        _, by_shop = yield from self._open_steps()
        waits = [w for s, items in by_shop.items() if s in shops for w in items]
        yield
        held: dict[tuple[str, str], list[int]] = {}  # (shop, agent) -> [holding, at risk]
        for i in range(0, len(waits), 2000):
            for item in waits[i:i + 2000]:
                conv = item.conv
                if not conv.has_open_wait or conv.wait_breached:
                    continue  # held and at risk count the waits within their window
                start = conv.wait_start
                shop_id = conv.shop_id
                policy = policies.get(shop_id)
                if policy is None:
                    policy = policies[shop_id] = engine.policies.resolve(shops[shop_id],
                                                                         shop_id)[0]
                pair = (shop_id, conv.wait_agent or "unassigned")
                counts = held.get(pair)
                if counts is None:
                    counts = held[pair] = [0, 0]
                counts[0] += 1
                counts[1] += now - start >= policy.at_risk_seconds * 1000
            yield
        # (ranking key, what a row is made of): the ranking needs four numbers of a row, the
        # rest (each KPI's figures) is worked out for the rows of a page only (agents()), and
        # the page is the smallest keys after its cursor (no full sort in one go).
        keyed: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
        entries = list(found.items())
        for i in range(0, len(entries), 500):
            for (shop_id, agent, ordinal), rec in entries[i:i + 500]:
                holding, at_risk = held.pop((shop_id, agent), (0, 0))
                keyed.append(((-rec.breaches, -(rec.slow_replies or 0), -rec.violations,
                               -at_risk, shop_id, agent),
                              (shop_id, agent, today[shop_id][1], holding, at_risk, ordinal,
                               rec)))
            yield
        for (shop_id, agent), (holding, at_risk) in held.items():
            keyed.append(((0, 0, 0, -at_risk, shop_id, agent),
                          (shop_id, agent, today[shop_id][1], holding, at_risk, None, None)))
        return now, keyed

    def _full_row(self, entry: tuple[Any, ...]) -> dict[str, Any]:
        """A ranked entry of :meth:`_rank_steps` as the board shows it (every figure)."""
        shop_id, agent, day, holding, at_risk, ordinal, rec = entry
        row = _agent_row()
        if rec is not None:
            names = self.engine.kpi_book(self.owned(), (shop_id, ordinal)).kpis_of(shop_id,
                                                                                  ordinal)
            row = agent_row({"agent": agent, **rec.row(names, shop_id, ordinal)})
        row["holding"], row["at_risk"] = holding, at_risk
        return {"shop_id": shop_id, "day": day, "agent": agent, **row}

    def violations(self, shop: str | None = None, since: int = 0,
                   limit: int = PAGES["violations"][0], cursor: str | None = None,
                   severities: Iterable[str] | None = None) -> dict[str, Any]:
        """The latest violations of the shops (masked), newest first by event time.

        ``severities`` keeps only those (default: all). One page of ``limit`` after
        ``cursor`` (the event time and sequence number of the last one shown).
        """
        before = parse_violation_cursor(cursor) if cursor else None
        wanted = set(severities) if severities else None
        out: list[dict[str, Any]] = []
        for shop_id in self._shops(shop):
            out.extend(v for v in self.feed.recent(shop_id, since, self.feed.per_shop)
                       if (wanted is None or v["severity"] in wanted)
                       and (before is None or violation_key(v) < before))
        out.sort(key=violation_key, reverse=True)
        more = len(out) > limit
        out = out[:limit]
        return {"now_ms": self.now_ms(), "violations": out, "limit": limit, "more": more,
                "next_cursor": violation_cursor(out[-1]) if more else None}


def violation_key(item: dict[str, Any]) -> tuple[int, int]:
    """Event time, then the order the worker saw it in: violations are listed newest first."""
    return int(item.get("ts_ms") or 0), int(item["seq"])


def violation_cursor(item: dict[str, Any]) -> str:
    """The cursor after a violation of a page."""
    ts, seq = violation_key(item)
    return f"{ts}:{seq}"


def parse_violation_cursor(cursor: str) -> tuple[int, int]:
    """The (event time, sequence number) of a violations cursor (raises :class:`CursorError`)."""
    ts, _, seq = cursor.partition(":")
    try:
        return int(ts), int(seq)
    except ValueError:
        raise CursorError(f"{cursor!r}: the next_cursor of a page of violations") from None


_T = TypeVar("_T")


def _run(steps: Generator[None, None, _T]) -> _T:
    """The result of a stepped read, read at once."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: _T = done.value
            return result


async def _sliced(steps: Generator[None, None, _T]) -> _T:
    """The result of a stepped read, letting the event loop run every ``SLICE_SECONDS``."""
    began = time.perf_counter()
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: _T = done.value
            return result
        if time.perf_counter() - began > SLICE_SECONDS:
            await asyncio.sleep(0)
            began = time.perf_counter()


def kpi_titles(engine: Engine, conv: Conversation) -> dict[str, str]:
    """KPI name -> the name users know (「3分钟人工回复率」) for a conversation's shop."""
    kset = engine.policies.kpis(conv.platform, conv.shop_id)
    titles = {k.name: k.title for k in kset.kpis}
    if POLICY_KPI not in titles:
        titles[POLICY_KPI] = policy_kpi(engine.policies.policy(conv.platform,
                                                               conv.shop_id)).title
    return titles


def _local(ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).isoformat("T", "seconds")


def wait_row(engine: Engine, conv: Conversation, waits: tuple[KpiWait, ...], ref: str,
             now: int) -> dict[str, Any]:
    """The board's row of one waiting buyer (masked ref, times in the shop's time zone).

    ``deadlines``: one entry per KPI with a wait open, in list order. ``lost``: the KPIs a
    reply can no longer save for this buyer today (breached, or a buyer-unit KPI already
    breached on the wait's day); ``over_seconds``: how long since the first window ran out.
    """
    key = order_key(waits)
    policy, tz = engine.policies.resolve(conv.platform, conv.shop_id)
    titles = kpi_titles(engine, conv)
    start = min(w.start_ms for w in waits)
    breached = [w.deadline_ms for w in waits if w.breached]
    return {
        "ref": ref,
        "shop_id": conv.shop_id,
        "agent": conv.wait_agent or conv.last_agent or "unassigned",
        "timezone": tz.key,
        "start_ms": start,
        "start": _local(start, tz),
        "age_seconds": (now - start) / 1000,
        "counted": any(w.counted for w in waits),
        "saveable": key[0] == 0,
        "order": list(key),
        "next_deadline_ms": key[1],
        "breached": bool(breached),
        "over_seconds": (now - min(breached)) / 1000 if breached else None,
        "lost": [titles.get(w.kpi, w.kpi) for w in waits if w.counted and not w.saveable],
        "at_risk_seconds": policy.at_risk_seconds,
        "at_risk": not breached and now - start >= policy.at_risk_seconds * 1000,
        "deadlines": [{"kpi": w.kpi, "label": titles.get(w.kpi, w.kpi),
                       "start_ms": w.start_ms, "deadline_ms": w.deadline_ms,
                       "deadline": _local(w.deadline_ms, tz),
                       "left_seconds": (w.deadline_ms - now) / 1000, "breached": w.breached,
                       "counted": w.counted, "saveable": w.saveable} for w in waits],
    }


def conversation_row(engine: Engine, cid: str, conv: Conversation, ref: str,
                     now: int) -> dict[str, Any]:
    """What happened in one conversation on the business day of its latest event.

    Its waits, breaches and replies that day (the conversation's own share of the day's
    figures), each KPI's units and breaches, the last agent: what a pager link to a
    conversation whose buyer is no longer waiting shows.
    """
    del cid, now
    kset = engine.policies.kpis(conv.platform, conv.shop_id)
    _, tz = engine.policies.resolve(conv.platform, conv.shop_id)
    titles = kpi_titles(engine, conv)
    local = datetime.fromtimestamp(conv.latest_ts / 1000, tz)
    day = local.date().toordinal()
    record = day_record(conv.days, day) or (0, 0, 0, 0, 0)
    waits, breached, responses, response_ms, _ = record
    kpi_days = kpi_state.day_records(conv.kpi, kset).get(day) if conv.kpi else None
    per_kpi = []
    for i, kpi in enumerate(kset.kpis):
        if i == kset.mirror:
            units, lost = waits, breached
        elif kpi_days is not None:
            units, lost = kpi_days[4 * i + kpi_state.UNITS], kpi_days[4 * i + kpi_state.BREACHED]
        else:
            units, lost = 0, 0
        per_kpi.append({"kpi": kpi.name, "label": titles[kpi.name], "units": units,
                        "breached": lost})
    if kset.mirror < 0:
        per_kpi.insert(0, {"kpi": POLICY_KPI, "label": titles[POLICY_KPI], "units": waits,
                           "breached": breached})
    return {
        "ref": ref, "shop_id": conv.shop_id, "timezone": tz.key,
        "status": "waiting" if conv.has_open_wait or any(kpi_state.slots_of(conv.kpi))
        else "closed",
        "last_event": local.isoformat("T", "seconds"),
        "last_agent": conv.last_agent or "unassigned",
        "day": local.date().isoformat(),
        "waits": waits, "breached": breached, "responses": responses,
        "mean_response_seconds": response_ms / responses / 1000 if responses else None,
        "kpis": per_kpi,
    }


def _agent_row() -> dict[str, Any]:
    return {"breaches": 0, "slow_replies": 0, "violations": 0, "holding": 0, "at_risk": 0,
            "waits": 0, "responses": 0, "agent_messages": 0, "buyer_messages": 0,
            "answer_ratio": None, "max_concurrent": 0, "kpis": []}


def rank(row: dict[str, Any]) -> tuple[Any, ...]:
    """Worst first: breaches, then slow replies, then violations, then waits at risk."""
    return (-row["breaches"], -(row["slow_replies"] or 0), -row["violations"], -row["at_risk"],
            row["shop_id"], row["agent"])


def agent_day(engine: Engine, feed: BoardFeed, shop_id: str, day: int, day_iso: str,
              partitions: list[int]) -> dict[str, dict[str, Any]]:
    """Agent -> today's figures of one shop, read from ``Engine.agent_days``.

    Breaches (counted base waits), slow replies, violations, waits, responses, answer ratio,
    max concurrent and each KPI's units and breaches: the engine's own figures, so the board
    says what ``backfill --kpi-report --by agent`` says.
    """
    del feed, day_iso
    return {found["agent"]: agent_row(found)
            for found in engine.agent_days(shop_id, day, partitions)}


def agent_row(found: dict[str, Any]) -> dict[str, Any]:
    """The board's row of one agent-day of ``Engine.agent_days`` (``holding`` etc. zero)."""
    row = _agent_row()
    for name in ("breaches", "slow_replies", "violations", "waits", "responses",
                 "agent_messages", "buyer_messages", "answer_ratio", "max_concurrent"):
        row[name] = found[name]
    row["kpis"] = [{"name": k["kpi"], "units": k["units"], "breached": k["breached"]}
                   for k in found["kpis"]]
    return row


def watermark_now(engine: Engine, partitions: Iterable[int]) -> int:
    """The worker's event-time now: the latest watermark of its partitions.

    The wall clock before any partition has one (a worker that has seen no event yet), so a
    newcomer's board still says whether counting is on.
    """
    marks = [engine.partitions[p].watermark_ms for p in partitions if p in engine.partitions]
    mark = min(max(marks, default=0), LATEST_MS)  # a date any time zone can show
    return mark if mark else int(time.time() * 1000)


def counting_notes(engine: Engine, partitions: list[int]) -> list[dict[str, Any]]:
    """``counting_note`` of every shop the partitions hold that is outside counted hours now."""
    now = watermark_now(engine, partitions)
    out = []
    for shop_id, platform in sorted(engine.shops(partitions).items()):
        policy, tz = engine.policies.resolve(platform, shop_id)
        note = counting_note(policy, tz, now)
        if not note["counting"]:
            out.append({"shop_id": shop_id, **note})
    return out
