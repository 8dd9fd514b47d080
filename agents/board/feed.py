"""What the board needs that the engine does not keep: latest violations, per-agent counts.

The pipeline hands each violation record and each breach record (the dicts it sends to
``chat.violations`` and ``chat.breaches``) to :class:`BoardFeed`; memory is bounded: a fixed
number of violations per shop and a few business days of per-agent counts. The feed lives in
the worker process, so what it holds is what this process saw since it started; the counts
become the engine's own read-out once it has one (see :mod:`agents.board.data`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

MAX_VIOLATIONS_PER_SHOP = 200
KEEP_DAYS = 3


def masked_violation(record: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """The board's view of one violation record: no buyer id, no raw conversation id.

    ``match`` (the raw span the detector matched) is left out too: it is the contact itself.
    """
    from agents.pipeline import log_ref  # the pipeline imports this module

    found = record.get("violations") or []
    return {
        "id": log_ref(str(record.get("event_id", seq))),
        "seq": seq,
        "shop_id": record.get("shop_id"),
        "ref": log_ref(str(record.get("conversation_id", ""))),
        "agent": record.get("agent") or "unassigned",
        "sender": record.get("sender"),
        "ts": record.get("ts"),
        "ts_ms": _epoch_ms(record.get("ts")),
        "text": record.get("text", ""),
        "categories": sorted({v.get("category", "") for v in found}),
        "severity": _worst([v.get("severity", "") for v in found]),
        "how": _how(record, found),
    }


def _epoch_ms(ts: Any) -> int:
    """The event time of a record's ``ts`` (ISO 8601 with its offset), 0 when unreadable."""
    try:
        return int(datetime.fromisoformat(str(ts)).timestamp() * 1000)
    except ValueError:
        return 0


def _how(record: Mapping[str, Any], found: list[dict[str, Any]]) -> list[str]:
    """How the detector found it: a ``how`` field of the record or of its violations."""
    hows = {str(v["how"]) for v in found if v.get("how")}
    top = record.get("how")
    if isinstance(top, str) and top:
        hows.add(top)
    elif isinstance(top, list):
        hows.update(str(h) for h in top if h)
    return sorted(hows)


_SEVERITY_ORDER = ("critical", "warning", "info")


def _worst(severities: list[str]) -> str:
    for severity in _SEVERITY_ORDER:
        if severity in severities:
            return severity
    return severities[0] if severities else ""


class BoardFeed:
    """Bounded in-memory buffer of recent violations, and per-agent counts per business day.

    ``violation`` and ``breach`` are called on the event loop by the pipeline; the read-outs
    may be called from another thread (the stand-alone board), hence the lock.
    """

    def __init__(self, per_shop: int = MAX_VIOLATIONS_PER_SHOP) -> None:
        self.per_shop = per_shop
        self.seq = 0
        self.violations: dict[str, deque[dict[str, Any]]] = {}
        # (shop, day ISO, agent) -> [breaches, violations]
        self.agent_counts: dict[tuple[str, str, str], list[int]] = {}
        self._days: set[str] = set()
        self._lock = threading.Lock()

    def violation(self, record: Mapping[str, Any]) -> None:
        """Remember one ``chat.violations`` record (text already masked)."""
        with self._lock:
            self.seq += 1
            shop = str(record.get("shop_id", ""))
            buf = self.violations.get(shop)
            if buf is None:
                buf = self.violations[shop] = deque(maxlen=self.per_shop)
            item = masked_violation(record, self.seq)
            buf.append(item)
            day = str(item["ts"] or "")[:10]  # the record's ts is in the shop's time zone
            self._count(shop, day, item["agent"], 1)

    def breach(self, record: Mapping[str, Any]) -> None:
        """Count one ``chat.breaches`` record against its agent and business day (counted only)."""
        if not record.get("counted"):
            return
        with self._lock:
            self._count(str(record.get("shop_id", "")), str(record.get("day", "")),
                        str(record.get("agent") or "unassigned"), 0)

    def _count(self, shop: str, day: str, agent: str, index: int) -> None:
        key = (shop, day, agent)
        counts = self.agent_counts.get(key)
        if counts is None:
            counts = self.agent_counts[key] = [0, 0]
            if day not in self._days:
                self._days.add(day)
                self._forget_old_days()
        counts[index] += 1

    def _forget_old_days(self) -> None:
        keep = set(sorted(self._days)[-KEEP_DAYS:])
        if keep == self._days:
            return
        self._days = keep
        for key in [k for k in self.agent_counts if k[1] not in keep]:
            del self.agent_counts[key]

    def recent(self, shop: str, since: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        """The shop's latest violations after sequence number ``since``, newest first."""
        with self._lock:
            items = list(self.violations.get(shop, ()))
        out = [v for v in reversed(items) if v["seq"] > since]
        return out[:limit]

    def agents(self, shop: str, day: str) -> dict[str, tuple[int, int]]:
        """Agent -> (breaches, violations) of one shop and business day (ISO date)."""
        with self._lock:
            return {agent: (c[0], c[1]) for (s, d, agent), c in self.agent_counts.items()
                    if s == shop and d == day}
