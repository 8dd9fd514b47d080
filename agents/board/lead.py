"""The board's lead panels (DOMAIN.md §7): orders awaiting payment (催付), lost inquiries (询单流失).

=================================  ==========================================================
``/api/unpaid?shop=``              every order awaiting payment now (masked conversation ref,
                                   order id, amount, minutes waiting, the agent of the figures
                                   and the one holding the conversation now), per shop the
                                   count and amount, per agent today's listed and recovered
``/api/lost?shop=&agent=``         per agent, today's settled lost inquiries and yesterday's;
                                   with ``agent=`` (and ``shop=``) that agent's list
=================================  ==========================================================

Both are the engine's lists (``Engine.unpaid_orders``, ``Engine.lost_inquiries``), read at the
worker's event-time now, so they are what ``chatwatch backfill --unpaid / --lost-inquiries``
writes for the same events. On ``chatwatch board`` over several workers the lists are the
workers' concatenated (each conversation lives on one worker) and the counts their sums.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from stream.core.engine import Engine
from stream.core.orders import UNPAID_AMOUNT, yuan

API = ("/api/unpaid", "/api/lost")
MAX_ROWS = 2000  # rows of one answer (a shop's day holds far fewer)


def _days(engine: Engine, shop: str, platform: str, now: int) -> tuple[int, int]:
    _, tz = engine.policies.resolve(platform, shop)
    today = datetime.fromtimestamp(now / 1000, tz).date()
    return today.toordinal(), (today - timedelta(days=1)).toordinal()


def unpaid_view(engine: Engine, partitions: list[int], now: int, shop: str | None,
                ) -> dict[str, Any]:
    """``/api/unpaid`` of one worker."""
    orders = [u for u in engine.unpaid_orders(partitions, now) if not shop or u.shop_id == shop]
    shops = {s: p for s, p in sorted(engine.shops(partitions).items()) if not shop or s == shop}
    book = engine.order_book(partitions)
    per_shop: dict[str, dict[str, Any]] = {s: {"shop_id": s, "orders": 0, "amount_fen": 0}
                                           for s in shops}
    awaiting: dict[tuple[str, str], int] = {}
    for u in orders:
        mine = per_shop.setdefault(u.shop_id, {"shop_id": u.shop_id, "orders": 0,
                                               "amount_fen": 0})
        mine["orders"] += 1
        mine["amount_fen"] += u.amount_fen
        awaiting[(u.shop_id, u.agent)] = awaiting.get((u.shop_id, u.agent), 0) + 1
    agents: list[dict[str, Any]] = []
    for s, platform in shops.items():
        today, _ = _days(engine, s, platform, now)
        for (shop_id, agent, day), totals in book.totals.items():
            if shop_id != s or day != today or agent is None:
                continue
            f = totals.figures(shop_id, agent, day)
            if f.unpaid_orders or awaiting.get((s, agent)):
                agents.append({"shop_id": s, "agent": agent, "day": f.day,
                               "unpaid_orders": f.unpaid_orders,
                               "unpaid_amount_fen": totals.vector[UNPAID_AMOUNT],
                               "unpaid_recovered": f.unpaid_recovered,
                               "awaiting": awaiting.get((s, agent), 0)})
    return {"now_ms": now, "orders": [u.as_dict() for u in orders[:MAX_ROWS]],
            "total": len(orders), "shops": list(per_shop.values()), "agents": agents}


def lost_view(engine: Engine, partitions: list[int], now: int, shop: str | None,
              agent: str | None) -> dict[str, Any]:
    """``/api/lost`` of one worker: per agent the counts, and the asked agent's list."""
    shops = {s: p for s, p in sorted(engine.shops(partitions).items()) if not shop or s == shop}
    counts: dict[tuple[str, str], dict[str, Any]] = {}
    listed: list[dict[str, Any]] = []
    for s, platform in shops.items():
        today, yesterday = _days(engine, s, platform, now)
        for entry in engine.lost_inquiries(partitions, now, shop=s, days=(today, yesterday)):
            is_today = entry.day == datetime.fromordinal(today).date().isoformat()
            if is_today and not entry.settled:
                continue  # today's inquiries that may still convert are not lost yet
            row = counts.setdefault((s, entry.agent), {
                "shop_id": s, "agent": entry.agent, "today": 0, "yesterday": 0,
                "yesterday_open": 0})
            if is_today:
                row["today"] += 1
            else:
                row["yesterday"] += 1
                row["yesterday_open"] += 0 if entry.settled else 1
            if agent is not None and entry.agent == agent:
                listed.append({**entry.as_dict(), "when": "today" if is_today else "yesterday"})
    return {"now_ms": now, "agents": [counts[k] for k in sorted(counts)],
            "agent": agent, "inquiries": listed[:MAX_ROWS]}


def _merge_unpaid(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    orders = sorted((o for b in bodies for o in b["orders"]),
                    key=lambda o: (o["shop_id"], o["created_ms"], o["order_id"], o["ref"]))
    shops: dict[str, dict[str, Any]] = {}
    for b in bodies:
        for row in b["shops"]:
            mine = shops.setdefault(row["shop_id"], {"shop_id": row["shop_id"], "orders": 0,
                                                     "amount_fen": 0})
            mine["orders"] += row["orders"]
            mine["amount_fen"] += row["amount_fen"]
    agents: dict[tuple[str, str, str], dict[str, Any]] = {}
    for b in bodies:
        for row in b["agents"]:
            key = (row["shop_id"], row["agent"], row["day"])
            mine = agents.setdefault(key, {**row, "unpaid_orders": 0, "unpaid_amount_fen": 0,
                                           "unpaid_recovered": 0, "awaiting": 0})
            for name in ("unpaid_orders", "unpaid_amount_fen", "unpaid_recovered", "awaiting"):
                mine[name] += row[name]
    return {"now_ms": max((b["now_ms"] for b in bodies), default=0), "orders": orders[:MAX_ROWS],
            "total": sum(b["total"] for b in bodies),
            "shops": [shops[s] for s in sorted(shops)], "agents": [agents[k] for k in
                                                                  sorted(agents)]}


def _merge_lost(bodies: list[dict[str, Any]], agent: str | None) -> dict[str, Any]:
    counts: dict[tuple[str, str], dict[str, Any]] = {}
    for b in bodies:
        for row in b["agents"]:
            mine = counts.setdefault((row["shop_id"], row["agent"]), {
                **row, "today": 0, "yesterday": 0, "yesterday_open": 0})
            for name in ("today", "yesterday", "yesterday_open"):
                mine[name] += row[name]
    listed = sorted((e for b in bodies for e in b["inquiries"]),
                    key=lambda e: (e["shop_id"], e["day"], e["first_wait_ms"], e["ref"]))
    return {"now_ms": max((b["now_ms"] for b in bodies), default=0),
            "agents": [counts[k] for k in sorted(counts)], "agent": agent,
            "inquiries": listed[:MAX_ROWS]}


def _finish(view: dict[str, Any]) -> dict[str, Any]:
    for row in (*view.get("shops", ()), *view.get("agents", ())):
        for name in ("amount_fen", "unpaid_amount_fen"):
            if name in row:
                row[name.removesuffix("_fen")] = yuan(row[name])
    return view


async def answer(source: Any, name: str, shop: str | None, query: Mapping[str, str],
                 ) -> dict[str, Any]:
    """The JSON of ``/api/unpaid`` or ``/api/lost`` from a worker's or the merged source."""
    agent = query.get("agent") or None
    engine = getattr(source, "engine", None)
    if engine is not None:  # a worker: its own engine (agents.board.data.LocalSource)
        partitions = list(source.owned())
        now = source.now_ms()
        if name == "unpaid":
            return _finish(unpaid_view(engine, partitions, now, shop))
        return lost_view(engine, partitions, now, shop, agent)
    # chatwatch board over several workers (agents.board.merge.MergedSource)
    bodies, status = await source._all(f"/api/{name}", {"shop": shop, "agent": agent})
    merged = _merge_unpaid(bodies) if name == "unpaid" else _merge_lost(bodies, agent)
    merged["workers"] = status
    return _finish(merged)
