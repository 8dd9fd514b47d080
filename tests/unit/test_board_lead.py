"""The board's lead panels (``/api/unpaid``, ``/api/lost``) equal the backfill lists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from agents.board import lead
from agents.board.access import Access
from agents.board.data import LocalSource
from agents.board.feed import BoardFeed
from agents.board.http import answer, static_files
from agents.pipeline import log_ref
from stream.core.engine import Engine
from tests.unit.test_lead_drivers import _backfill, _live
from tests.unit.test_orders import order
from tests.unit.test_reply_window import T0_MS, ev, feed

HOUR_MS = 3600_000


def _get(engine: Engine, path: str, now: int, **query: str) -> Any:
    src = LocalSource(engine, BoardFeed(), lambda: [0], lambda: now)
    status, body, _, _ = asyncio.run(answer(src, Access(), static_files(), path, {}, query, {}))
    assert status == 200, body
    return json.loads(body)


def test_the_unpaid_panel_lists_what_backfill_lists_as_awaiting(tmp_path: Path):
    unpaid, _, _ = _backfill(tmp_path)
    engine, _ = _live()
    now = T0_MS + 3 * HOUR_MS  # the log's end: backfill's statuses are as of then
    shown = _get(engine, "/api/unpaid", now)
    assert shown["orders"] == [u for u in unpaid if u["status"] == "awaiting"]
    assert shown["total"] == 2
    assert shown["shops"] == [{"shop_id": "s1", "orders": 2, "amount_fen": 5900,
                               "amount": "59.00"},
                              {"shop_id": "s2", "orders": 0, "amount_fen": 0, "amount": "0.00"}]
    agents = {(a["shop_id"], a["agent"]): (a["unpaid_orders"], a["awaiting"],
                                           a["unpaid_recovered"]) for a in shown["agents"]}
    assert agents == {("s1", "a1"): (2, 1, 1), ("s1", "a2"): (1, 1, 0), ("s2", "a1"): (1, 0, 0)}
    only = _get(engine, "/api/unpaid", now, shop="s2")
    assert only["orders"] == [] and [s["shop_id"] for s in only["shops"]] == ["s2"]


def test_the_lost_panel_counts_per_agent_and_drills_down(tmp_path: Path):
    _, lost, _ = _backfill(tmp_path)
    engine, _ = _live()
    tomorrow = T0_MS + 26 * HOUR_MS  # the day has settled; it is "yesterday" now
    shown = _get(engine, "/api/lost", tomorrow)
    assert {(a["shop_id"], a["agent"]): (a["today"], a["yesterday"]) for a in shown["agents"]} \
        == {("s1", "a1"): (0, 1), ("s1", "a2"): (0, 1), ("s1", "unassigned"): (0, 1),
            ("s2", "a1"): (0, 1)}
    drill = _get(engine, "/api/lost", tomorrow, shop="s1", agent="a1")
    assert [{k: v for k, v in e.items() if k != "when"} for e in drill["inquiries"]] == \
        [e for e in lost if e["shop_id"] == "s1" and e["agent"] == "a1"]
    assert drill["inquiries"][0]["ref"] == log_ref("s1:b3")


def test_today_shows_only_inquiries_that_have_settled():
    engine, _ = feed([ev("agent", 0), ev("buyer", 10), ev("agent", 20),
                      ev("agent", 0, buyer="b2"), ev("buyer", 30, buyer="b2"),
                      ev("agent", 40, buyer="b2"), order("created", 50, buyer="b2"),
                      order("paid", 60, buyer="b2", amount="1.00")], finish=False)
    early = _get(engine, "/api/lost", T0_MS + HOUR_MS, agent="a1")
    assert early["agents"] == [] and early["inquiries"] == []  # b1 may still pay today
    # a shop whose conversion window is an hour: b1's day has settled by 12:00
    short = Engine(_settings_with_window(1.0).policies)
    for cid, conv in engine.conversations.items():
        short.load(cid, conv)
    settled = _get(short, "/api/lost", T0_MS + 2 * HOUR_MS, agent="a1")
    assert settled["agents"] == [{"shop_id": "s1", "agent": "a1", "today": 1, "yesterday": 0,
                                  "yesterday_open": 0}]
    assert [e["ref"] for e in settled["inquiries"]] == [log_ref("s1:b1")]


def _settings_with_window(hours: float) -> Any:
    from tests.unit.test_reply_window import settings_yaml

    return settings_yaml(f"shops:\n  s1:\n    conversion_window_hours: {hours}\n")


def test_the_merged_board_concatenates_the_workers_lists():
    one = {"now_ms": 5, "orders": [{"shop_id": "s1", "created_ms": 2, "order_id": "o2",
                                    "ref": "c-2"}], "total": 1,
           "shops": [{"shop_id": "s1", "orders": 1, "amount_fen": 100}],
           "agents": [{"shop_id": "s1", "agent": "a1", "day": "d", "unpaid_orders": 1,
                       "unpaid_amount_fen": 100, "unpaid_recovered": 0, "awaiting": 1}]}
    two = {"now_ms": 7, "orders": [{"shop_id": "s1", "created_ms": 1, "order_id": "o1",
                                    "ref": "c-1"}], "total": 1,
           "shops": [{"shop_id": "s1", "orders": 1, "amount_fen": 250}],
           "agents": [{"shop_id": "s1", "agent": "a1", "day": "d", "unpaid_orders": 2,
                       "unpaid_amount_fen": 250, "unpaid_recovered": 1, "awaiting": 1}]}

    class Merged:
        async def _all(self, path: str, query: dict[str, Any]) -> Any:
            assert path == "/api/unpaid"
            return [one, two], [{"url": "w1", "ok": True, "error": ""}]

    merged = asyncio.run(lead.answer(Merged(), "unpaid", None, {}))
    assert [o["order_id"] for o in merged["orders"]] == ["o1", "o2"]
    assert merged["total"] == 2 and merged["now_ms"] == 7
    assert merged["shops"] == [{"shop_id": "s1", "orders": 2, "amount_fen": 350,
                                "amount": "3.50"}]
    assert merged["agents"][0]["unpaid_recovered"] == 1 and merged["agents"][0]["awaiting"] == 2


def test_the_page_loads_the_lead_panels():
    static = static_files()
    assert b'<script src="lead.js"></script>' in static["/"][0]
    script = static["/lead.js"][0].decode()
    assert "/api/unpaid" in script and "/api/lost" in script
