"""One board over many workers: the workers' JSON APIs fetched and merged.

Each worker answers for the partitions it owns, so a shop's waits and figures are spread over
all of them; the counts add up (a buyer's conversation with a shop lives in one partition, as
the ``sum by (shop)`` recording rules assume too) and the rates follow from the sums. A worker
that does not answer is listed in ``workers`` with ``ok: false`` and the error; the page shows
it as down rather than silently showing less.

The platform's view of a KPI (DOMAIN.md §3, "Platform score") merges the same way: the score
from the summed window units and breaches, both breach budgets from the summed units by the
core's own rule (a sum of each worker's budgets would round down once per worker), the gate
from each day of its window summed over the workers (a day below ``min_rate`` on one worker
may pass on the shop as a whole). The forecast is each worker's own: the merged expected
units are their sum and the merged rate the summed expected units met over that sum (each
worker's last-hour breach share projected on its own expected units).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp

from agents.board.data import agent_cursor, rank, wait_cursor
from stream.core.kpi import Gate, Kpi
from stream.core.score import budget, score_of

_SUMMED = ("consultations", "unreplied", "waits", "waits_breached", "responses",
           "fast_responses")


def discover(service: str, default_port: int = 6066) -> list[str]:
    """Worker URLs behind a Kubernetes headless service (``NAME[:PORT]``): one per address."""
    host, _, port = service.rpartition(":") if ":" in service else (service, "", "")
    port_no = int(port) if port else default_port
    infos = socket.getaddrinfo(host, port_no, type=socket.SOCK_STREAM)
    addrs = sorted({str(info[4][0]) for info in infos})
    return [f"http://[{a}]:{port_no}" if ":" in a else f"http://{a}:{port_no}" for a in addrs]


class MergedSource:
    """The board's source on ``chatwatch board``: every worker's API, merged per request."""

    def __init__(self, workers: Callable[[], Sequence[str]], token: str | None = None,
                 timeout: float = 2.0) -> None:
        self.workers = workers
        self.token = token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def _fetch(self, url: str, path: str, query: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        q = {k: v for k, v in query.items() if v not in (None, "")}
        full = url.rstrip("/") + path + (f"?{urlencode(q)}" if q else "")
        async with self._session.get(full, headers=headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            body: dict[str, Any] = await resp.json()
            return body

    async def _all(self, path: str, query: dict[str, Any]
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        urls = list(self.workers())
        results = await asyncio.gather(*(self._fetch(u, path, query) for u in urls),
                                       return_exceptions=True)
        bodies, status = [], []
        for url, result in zip(urls, results, strict=True):
            if isinstance(result, BaseException):
                status.append({"url": url, "ok": False,
                               "error": str(result) or type(result).__name__})
            else:
                bodies.append(result)
                status.append({"url": url, "ok": True, "error": ""})
        return bodies, status

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._session is not None:
            await self._session.close()

    # -- the read-outs, merged ---------------------------------------------------------

    async def summary(self, shop: str | None = None, limit: int = 200,
                      cursor: str | None = None) -> dict[str, Any]:
        """Per shop, summed over workers; the rates recomputed from the sums.

        A page of shops by id, exact: each worker's first ``limit`` after ``cursor`` hold
        every shop of the merged first ``limit``.
        """
        bodies, status = await self._all("/api/summary", {"shop": shop, "limit": limit,
                                                          "cursor": cursor})
        shops: dict[str, dict[str, Any]] = {}
        for body in bodies:
            for row in body["shops"]:
                mine = shops.get(row["shop_id"])
                if mine is None or row["day"] > mine["day"]:
                    shops[row["shop_id"]] = _copy(row)
                elif row["day"] == mine["day"]:
                    _add_shop(mine, row)
        names = sorted(shops)
        more = len(names) > limit or any(b.get("more") for b in bodies)
        names = names[:limit]
        return {"now_ms": max((b["now_ms"] for b in bodies), default=int(time.time() * 1000)),
                "partitions": sorted({p for b in bodies for p in b["partitions"]}),
                "shops": [shops[s] for s in names], "workers": status, "limit": limit,
                "more": more, "next_cursor": names[-1] if more and names else None}

    async def waits(self, shop: str | None = None, limit: int = 200,
                    cursor: str | None = None) -> dict[str, Any]:
        """The first ``limit`` waiting buyers over all workers after ``cursor`` (exact).

        In the workers' order: ``order`` (saveable first, least time left; then the rest,
        longest over first), then ref.
        """
        bodies, status = await self._all("/api/waits", {"shop": shop, "limit": limit,
                                                        "cursor": cursor})
        every = sorted((w for b in bodies for w in b["waits"]),
                       key=lambda w: (tuple(w["order"]), w["ref"]))
        waits = every[:limit]
        more = len(every) > limit or any(b.get("more") for b in bodies)
        return {"now_ms": max((b["now_ms"] for b in bodies), default=int(time.time() * 1000)),
                "total": sum(b["total"] for b in bodies),
                "breached": sum(b.get("breached", 0) for b in bodies), "limit": limit,
                "waits": waits, "workers": status, "more": more,
                "next_cursor": wait_cursor((waits[-1]["order"][0], waits[-1]["order"][1]),
                                           waits[-1]["ref"]) if more and waits else None}

    async def conversation(self, shop: str | None, ref: str) -> dict[str, Any]:
        """The conversation ``ref`` from the worker that holds it (one partition, one worker)."""
        bodies, status = await self._all("/api/conversation", {"shop": shop, "ref": ref})
        found = [b for b in bodies if b.get("found")]
        body = found[0] if found else {"ref": ref, "found": False}
        return {**body, "now_ms": max((b["now_ms"] for b in bodies),
                                      default=int(time.time() * 1000)), "workers": status}

    async def agents(self, shop: str | None = None, limit: int = 200,
                     cursor: str | None = None) -> dict[str, Any]:
        """Agents summed over workers (a shop's agent holds waits in many partitions).

        A page of the ranking after ``cursor``, from each worker's page: an agent whose rows
        on two workers rank apart may rank here by the part on the worker that listed it
        (exact whenever every worker's rows fit in a page: ``limit`` up to 2,000).
        """
        bodies, status = await self._all("/api/agents", {"shop": shop, "limit": limit,
                                                         "cursor": cursor})
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for body in bodies:
            for row in body["agents"]:
                key = (row["shop_id"], row["day"], row["agent"])
                mine = rows.get(key)
                if mine is None:
                    rows[key] = dict(row)
                    continue
                for name in ("breaches", "violations", "holding", "at_risk", "slow_replies",
                             "waits", "responses", "agent_messages", "buyer_messages"):
                    mine[name] += row[name]
                mine["answer_ratio"] = (mine["agent_messages"] / mine["buyer_messages"]
                                        if mine["buyer_messages"] else None)
                mine["max_concurrent"] = max(mine["max_concurrent"], row["max_concurrent"])
                theirs = {k["name"]: k for k in row["kpis"]}
                kpis = []
                for kpi in mine["kpis"]:
                    other = theirs.pop(kpi["name"], None)
                    kpis.append({"name": kpi["name"],
                                 "units": kpi["units"] + (other["units"] if other else 0),
                                 "breached": kpi["breached"]
                                 + (other["breached"] if other else 0)})
                mine["kpis"] = kpis + [dict(k) for k in theirs.values()]
        ranked = sorted(rows.values(), key=rank)
        more = len(ranked) > limit or any(b.get("more") for b in bodies)
        page = ranked[:limit]
        return {"now_ms": max((b["now_ms"] for b in bodies), default=int(time.time() * 1000)),
                "agents": page, "workers": status, "limit": limit,
                "total": sum(b.get("total", len(b["agents"])) for b in bodies), "more": more,
                "next_cursor": agent_cursor(page[-1]) if more and page else None}

    async def violations(self, shop: str | None = None, since: int = 0, limit: int = 50,
                         cursor: str | None = None,
                         severities: Sequence[str] | None = None) -> dict[str, Any]:
        """The latest violations over all workers, newest first (by event time).

        ``since`` and ``cursor`` are a worker's own sequence numbers, meaningless across
        workers: the merged board returns the latest ``limit`` and says whether there are
        more, without a ``next_cursor``.
        """
        del since, cursor
        wanted = ",".join(severities) if severities else None
        bodies, status = await self._all("/api/violations", {"shop": shop, "limit": limit,
                                                             "severity": wanted})
        items = [v for b in bodies for v in b["violations"]]
        items.sort(key=lambda v: (_when(v.get("ts")), v.get("seq", 0)), reverse=True)
        return {"now_ms": max((b["now_ms"] for b in bodies), default=int(time.time() * 1000)),
                "violations": items[:limit], "workers": status, "limit": limit,
                "more": len(items) > limit or any(b.get("more") for b in bodies),
                "next_cursor": None}


def _when(ts: str | None) -> float:
    try:
        return datetime.fromisoformat(ts or "").timestamp()
    except ValueError:
        return 0.0


def _copy(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["kpis"] = [dict(k) for k in row["kpis"]]
    out["figures"] = dict(row["figures"]) if row.get("figures") else None
    return out


def _add_shop(mine: dict[str, Any], row: dict[str, Any]) -> None:
    for name in ("open_waits", "uncounted_open_waits", "at_risk_waits", "breached_waits",
                 "waiting"):
        mine[name] = mine.get(name, 0) + row.get(name, 0)
    mine["oldest_wait_seconds"] = max(mine["oldest_wait_seconds"], row["oldest_wait_seconds"])
    theirs = {k["name"]: k for k in row["kpis"]}
    for kpi in mine["kpis"]:
        other = theirs.get(kpi["name"])
        if other is not None:
            kpi["units"] += other["units"]
            kpi["breached"] += other["breached"]
            kpi["value"] = ((kpi["units"] - kpi["breached"]) / kpi["units"]
                            if kpi["units"] else None)
            _add_score(kpi, other)
    mine["figures"] = _add_figures(mine["figures"], row.get("figures"))


def _add_score(kpi: dict[str, Any], other: dict[str, Any]) -> None:
    """Add another worker's platform view of the same KPI and day to ``kpi`` (in place)."""
    if "window_units" in kpi and "window_units" in other:
        units = kpi["window_units"] = kpi["window_units"] + other["window_units"]
        lost = kpi["window_breached"] = kpi["window_breached"] + other["window_breached"]
        kpi["score"] = (units - lost) / units if units else None
        kpi["budget"] = budget(kpi["units"], kpi["breached"], kpi["target"])
        kpi["score_budget"] = budget(units, lost, kpi["target"])
        mine, theirs = kpi.get("gate_units"), other.get("gate_units")
        if mine is not None and theirs is not None and len(mine) == len(theirs):
            days = [[a[0] + b[0], a[1] + b[1]] for a, b in zip(mine, theirs, strict=True)]
            kpi["gate_units"] = days
            gate = Kpi(kpi["name"], kpi["window_seconds"], target=kpi["target"],
                       gate=Gate(len(days), kpi["gate_min_rate"]))
            found = score_of(gate, len(days) - 1, {d: (u, b) for d, (u, b) in enumerate(days)})
            kpi["gate"] = "ok" if found.gate_ok else "failed"
    if "forecast_units" in kpi and "forecast_units" in other:
        expected = kpi["forecast_units"] + other["forecast_units"]
        met = sum(k["forecast_units"] * k["forecast_rate"] for k in (kpi, other)
                  if k["forecast_rate"] is not None)
        kpi["forecast_rate"] = met / expected if expected else None
        kpi["forecast_units"] = expected
        kpi["forecast_history_days"] = max(kpi["forecast_history_days"],
                                           other["forecast_history_days"])


def _add_figures(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None or b is None:
        return a or b
    out = dict(a)
    for name in _SUMMED:
        out[name] = a[name] + b[name]
    c, u, r = out["consultations"], out["unreplied"], out["responses"]
    out["reply_rate"] = (c - u) / c if c else None
    total = ((a["mean_response_seconds"] or 0) * a["responses"]
             + (b["mean_response_seconds"] or 0) * b["responses"])
    out["mean_response_seconds"] = total / r if r else None
    return out
