"""The board's read-outs of one worker: shop summaries, open waits, agents, violations.

Everything here reads the engine (and the :class:`~agents.board.feed.BoardFeed`) as it is
now; nothing is stored. Times are event time: ``now_ms`` is the worker's watermark, which
follows the wall clock when the worker is caught up (the WaitAtRisk gauge uses the same).

Every JSON shape is the one ``chatwatch board --workers`` merges (:mod:`agents.board.merge`),
so a field added here must be merged there.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agents.board.feed import BoardFeed
from agents.pipeline import log_ref
from stream.core.engine import Engine
from stream.core.kpi import KpiSet
from stream.core.kpi_figures import KpiFigures
from stream.core.kpi_state import open_slots
from stream.core.policy import Policy
from stream.core.rows import Conversation
from stream.schema import LATEST_MS

DEFAULT_LIMIT = 200
MAX_LIMIT = 2000


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


def kpis(figures: list[KpiFigures], kset: KpiSet) -> list[dict[str, Any]]:
    """Each reply KPI of a shop today (DOMAIN.md §3, "Platform KPIs"), against its target.

    One entry per KPI of the shop's list, in list order, from ``Engine.kpi_figures``.
    ``units``/``breached`` are what a merge over workers sums; ``value`` follows from them.
    """
    return [{
        "name": kpi.name,
        "label": kpi.title,
        "unit": kpi.unit,
        "window_seconds": kpi.window_seconds,
        "units": f.units,
        "breached": f.units_breached,
        "value": f.rate,
        "target": kpi.target,
    } for kpi, f in zip(kset.kpis, figures, strict=True)]


class LocalSource:
    """The board's data on one worker: its engine, the partitions it owns, its feed."""

    def __init__(self, engine: Engine, feed: BoardFeed, owned: Callable[[], list[int]],
                 now_ms: Callable[[], int]) -> None:
        self.engine = engine
        self.feed = feed
        self.owned = owned
        self.now_ms = now_ms

    # -- helpers ----------------------------------------------------------------------------

    def _shops(self, shop: str | None) -> dict[str, str]:
        shops = self.engine.shops(self.owned())
        if shop:
            return {shop: shops[shop]} if shop in shops else {}
        return dict(sorted(shops.items()))

    def _open(self, shops: Iterable[str]) -> dict[str, list[tuple[int, str, Any]]]:
        wanted = set(shops)
        out: dict[str, list[tuple[int, str, Any]]] = {s: [] for s in wanted}
        for cid, conv in self.engine.open_waits():
            if conv.shop_id in wanted:
                out[conv.shop_id].append((conv.wait_start, cid, conv))
        return out

    def _today(self, tz: ZoneInfo, now: int) -> tuple[int, str]:
        day = datetime.fromtimestamp(now / 1000, tz).date()
        return day.toordinal(), day.isoformat()

    # -- read-outs --------------------------------------------------------------------------

    def summary(self, shop: str | None = None) -> dict[str, Any]:
        """Per shop: today's KPIs and figures, open and at-risk waits, counted-hours note."""
        now = self.now_ms()
        engine, partitions = self.engine, self.owned()
        shops = self._shops(shop)
        waits = self._open(shops)
        out = []
        for shop_id, platform in shops.items():
            policy, tz = engine.policies.resolve(platform, shop_id)
            ordinal, day = self._today(tz, now)
            figures = engine.figures(shop_id, ordinal, partitions)
            mine = waits[shop_id]
            at_risk_ms = policy.at_risk_seconds * 1000
            oldest = min((w[0] for w in mine), default=None)
            out.append({
                "shop_id": shop_id, "platform": platform, "timezone": tz.key, "day": day,
                "kpis": kpis(engine.kpi_figures(shop_id, ordinal, partitions),
                             engine.policies.kpis(platform, shop_id)),
                "figures": figures.as_dict() if figures else None,
                "open_waits": len(mine),
                "uncounted_open_waits": sum(1 for w in mine if not w[2].wait_counted),
                "at_risk_waits": sum(1 for w in mine if now - w[0] >= at_risk_ms),
                "at_risk_seconds": policy.at_risk_seconds,
                "oldest_wait_seconds": (now - oldest) / 1000 if oldest is not None else 0.0,
                "counting": counting_note(policy, tz, now),
            })
        return {"now_ms": now, "partitions": partitions, "shops": out}

    def waits(self, shop: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """Open waits, oldest first, at most ``limit`` (the total is given too)."""
        now = self.now_ms()
        engine = self.engine
        shops = self._shops(shop)
        rows: list[tuple[int, str, Any]] = []
        for items in self._open(shops).values():
            rows.extend(items)
        oldest = heapq.nsmallest(limit, rows, key=lambda w: (w[0], w[1]))
        out = []
        for start, cid, conv in oldest:
            policy, tz = engine.policies.resolve(conv.platform, conv.shop_id)
            out.append({
                "ref": log_ref(cid),
                "shop_id": conv.shop_id,
                "agent": conv.wait_agent or "unassigned",
                "start_ms": start,
                "start": datetime.fromtimestamp(start / 1000, tz).isoformat("T", "seconds"),
                "age_seconds": (now - start) / 1000,
                "counted": conv.wait_counted,
                "at_risk_seconds": policy.at_risk_seconds,
                "at_risk": now - start >= policy.at_risk_seconds * 1000,
                "deadlines": deadlines(engine, cid, conv, now),
            })
        return {"now_ms": now, "total": len(rows), "limit": limit, "waits": out}

    def agents(self, shop: str | None = None) -> dict[str, Any]:
        """Agents of each shop today, ranked by breaches, slow replies, violations."""
        now = self.now_ms()
        shops = self._shops(shop)
        waits = self._open(shops)
        out = []
        for shop_id, platform in shops.items():
            policy, tz = self.engine.policies.resolve(platform, shop_id)
            ordinal, day = self._today(tz, now)
            rows = agent_day(self.engine, self.feed, shop_id, ordinal, day, self.owned())
            for start, _, conv in waits[shop_id]:
                row = rows.setdefault(conv.wait_agent or "unassigned", _agent_row())
                row["holding"] += 1
                row["at_risk"] += now - start >= policy.at_risk_seconds * 1000
            for agent, row in rows.items():
                out.append({"shop_id": shop_id, "day": day, "agent": agent, **row})
        out.sort(key=rank)
        return {"now_ms": now, "agents": out}

    def violations(self, shop: str | None = None, since: int = 0,
                   limit: int = 50) -> dict[str, Any]:
        """The latest violations of the shops (masked), newest first."""
        out: list[dict[str, Any]] = []
        for shop_id in self._shops(shop):
            out.extend(self.feed.recent(shop_id, since, limit))
        out.sort(key=lambda v: v["seq"], reverse=True)
        return {"now_ms": self.now_ms(), "violations": out[:limit]}


def deadlines(engine: Engine, cid: str, conv: Conversation, now: int) -> list[dict[str, Any]]:
    """One entry per KPI of the conversation with an open wait: the base wait's KPI first."""
    kset = engine.policies.kpis(conv.platform, conv.shop_id)
    policy = engine.policies.policy(conv.platform, conv.shop_id)
    found: dict[int, int] = {}
    if kset.mirror >= 0:
        found[kset.mirror] = conv.wait_start + policy.window_ms
    for i, start, breached in open_slots(conv.kpi, kset):
        if not breached:
            found[i] = start + kset.kpis[i].window_ms
    out = [{"kpi": kset.base_name, "deadline_ms": conv.wait_start + policy.window_ms,
            "left_seconds": (conv.wait_start + policy.window_ms - now) / 1000}] \
        if kset.mirror < 0 else []
    out += [{"kpi": kset.kpis[i].name, "deadline_ms": d, "left_seconds": (d - now) / 1000}
            for i, d in sorted(found.items())]
    return out


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
    rows: dict[str, dict[str, Any]] = {}
    for found in engine.agent_days(shop_id, day, partitions):
        row = rows[found["agent"]] = _agent_row()
        for name in ("breaches", "slow_replies", "violations", "waits", "responses",
                     "agent_messages", "buyer_messages", "answer_ratio", "max_concurrent"):
            row[name] = found[name]
        row["kpis"] = [{"name": k["kpi"], "units": k["units"], "breached": k["breached"]}
                       for k in found["kpis"]]
    return rows


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
