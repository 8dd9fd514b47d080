"""Issue 33, item 1: the board lists every buyer still waiting, in the order to act, and a
pager link to a conversation lands on it, waiting or not (no broker, no loop)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agents.board.access import Access
from agents.board.data import LocalSource, order_key
from agents.board.http import answer, static_files
from agents.board.merge import MergedSource
from agents.pipeline import log_ref
from tests.unit.test_board import msg
from tests.unit.test_pipeline import T0, make

S = 1000


def feed_events(pipeline: Any, events: list[dict[str, Any]]) -> None:
    """Apply events at the next offsets of partition 0 (a later call continues the log)."""
    for e in events:
        offset = pipeline.last_offsets.get(0, -1) + 1
        pipeline.on_message(0, offset, f"{e['shop_id']}:{e['buyer_id']}".encode(),
                            json.dumps(e, ensure_ascii=False).encode())


def source(pipeline: Any, now: int) -> LocalSource:
    return LocalSource(pipeline.engine, pipeline.board, lambda: [0], lambda: now)


def call(src: Any, path: str, **query: Any) -> tuple[int, dict[str, Any]]:
    q = {k: str(v) for k, v in query.items() if v is not None}
    status, body, *_ = asyncio.run(answer(src, Access(), static_files(), path, {}, q, {}))
    return status, json.loads(body)


def busy_shop() -> Any:
    """shop-b (PDD: 「5分钟回复率」 on the base wait, 「3分钟人工回复率」 of its own).

    old: waiting since T0, both windows run out by T0 + 400 s; mid: since T0 + 200 s (3-minute
    window out at T0 + 380 s, 5-minute at T0 + 500 s); new: since T0 + 390 s.
    """
    pipeline, *_ = make()
    feed_events(pipeline, [msg(1, T0, "buyer", "在吗", "old"),
                           msg(2, T0 + 200 * S, "buyer", "在吗", "mid"),
                           msg(3, T0 + 390 * S, "buyer", "在吗", "new")])
    pipeline.sweep(T0 + 400 * S, {0: True})
    return pipeline


def test_a_breached_buyer_stays_marked_after_those_that_can_be_saved() -> None:
    pipeline = busy_shop()
    now = T0 + 400 * S
    body = source(pipeline, now).waits()
    refs = [w["ref"] for w in body["waits"]]
    old, mid, new = (log_ref(f"shop-b:{b}") for b in ("old", "mid", "new"))
    # mid can still be saved for the 5-minute KPI (100 s left), new for both (170 s left on
    # the 3-minute one): least time left first; old is lost for both and comes last
    assert refs == [mid, new, old]
    assert body["total"] == 3 and body["breached"] == 2
    first, second, last = body["waits"]
    assert first["saveable"] and not second["breached"] and second["saveable"]
    assert first["breached"] and first["lost"] == ["3分钟人工回复率"]
    assert first["over_seconds"] == 20.0
    assert last["saveable"] is False and last["breached"] is True
    assert last["over_seconds"] == 220.0  # the 3-minute window ran out at T0 + 180 s
    assert sorted(last["lost"]) == ["3分钟人工回复率", "5分钟回复率"]
    assert last["start"] == "2026-11-11T10:00:00+08:00" and last["timezone"] == "Asia/Shanghai"
    assert {d["kpi"]: d["breached"] for d in last["deadlines"]} == {"pdd_5min": True,
                                                                   "pdd_3min_human": True}
    summary = source(pipeline, now).summary()["shops"][0]
    assert (summary["waiting"], summary["breached_waits"], summary["open_waits"]) == (3, 2, 2)
    assert summary["oldest_wait_seconds"] == 400.0  # the breached buyer, still waiting

    # answered: off the board
    feed_events(pipeline, [msg(4, T0 + 410 * S, "agent", "在的", "old", agent="a1")])
    body = source(pipeline, T0 + 410 * S).waits()
    assert [w["ref"] for w in body["waits"]] == [mid, new]


def test_a_buyer_already_lost_today_is_not_listed_among_the_saveable() -> None:
    pipeline, *_ = make()
    feed_events(pipeline, [msg(1, T0, "buyer", "在吗", "b1"),
                           msg(2, T0 + 360 * S, "agent", "在的", "b1", agent="a1"),
                           msg(3, T0 + 400 * S, "buyer", "还在吗", "b1"),
                           msg(4, T0 + 405 * S, "buyer", "在吗", "b2")])
    pipeline.sweep(T0 + 410 * S, {0: True})
    src = source(pipeline, T0 + 410 * S)
    waits = src.waits()["waits"]
    # b1 waits again, within the window, but lost both buyer-unit KPIs today already
    assert [w["ref"] for w in waits] == [log_ref("shop-b:b2"), log_ref("shop-b:b1")]
    b1 = waits[1]
    assert not b1["breached"] and not b1["saveable"] and b1["over_seconds"] is None
    assert sorted(b1["lost"]) == ["3分钟人工回复率", "5分钟回复率"]
    # b1's windows run out first (T0 + 580 s): read first, placed after b2, page by page too
    first = src.waits(limit=1)
    assert [w["ref"] for w in first["waits"]] == [log_ref("shop-b:b2")] and first["more"]
    second = src.waits(limit=1, cursor=first["next_cursor"])
    assert [w["ref"] for w in second["waits"]] == [log_ref("shop-b:b1")]
    assert not second["more"]


def test_pages_of_waiting_buyers_go_through_everyone_once_in_order() -> None:
    pipeline, *_ = make()
    feed_events(pipeline, [msg(i, T0 + i * 30 * S, "buyer", "在吗", f"b{i}") for i in range(20)])
    pipeline.sweep(T0 + 600 * S, {0: True})  # the first ten or so are breached by now
    src = source(pipeline, T0 + 600 * S)
    whole = src.waits(limit=2000)
    seen, cursor = [], None
    while True:
        status, body = call(src, "/api/waits", limit=3, cursor=cursor)
        assert status == 200, body
        seen += body["waits"]
        if not body["more"]:
            break
        cursor = body["next_cursor"]
    assert [w["ref"] for w in seen] == [w["ref"] for w in whole["waits"]]
    assert len(seen) == 20 and whole["breached"] > 0
    keys = [(tuple(w["order"]), w["ref"]) for w in seen]
    assert keys == sorted(keys)
    engine = pipeline.engine  # the place of each, worked out from all its KPI waits
    every = sorted((order_key(engine.kpi_waits(conv)), log_ref(cid))
                   for cid, conv in engine.waiting(0))
    assert keys == every
    groups = [w["saveable"] for w in seen]
    assert groups == sorted(groups, reverse=True) and True in groups and False in groups


def test_kpi_waits_are_read_again_once_a_row_changes() -> None:
    pipeline, *_ = make()
    feed_events(pipeline, [msg(1, T0, "buyer", "在吗", "b1")])
    src = source(pipeline, T0 + 100 * S)
    assert src.waits()["waits"][0]["saveable"] is True
    pipeline.sweep(T0 + 400 * S, {0: True})
    src.now_ms = lambda: T0 + 400 * S
    [row] = src.waits()["waits"]
    assert row["breached"] and not row["saveable"]


def test_a_pager_link_lands_on_the_conversation_waiting_or_answered() -> None:
    pipeline = busy_shop()
    old = log_ref("shop-b:old")
    status, body = call(source(pipeline, T0 + 400 * S), "/api/conversation", shop="shop-b",
                        ref=old)
    assert status == 200 and body["found"] and body["status"] == "waiting"
    assert body["waiting"]["breached"] and body["waiting"]["ref"] == old
    feed_events(pipeline, [msg(4, T0 + 410 * S, "agent", "在的", "old", agent="a1")])
    status, body = call(source(pipeline, T0 + 410 * S), "/api/conversation", shop="shop-b",
                        ref=old)
    assert status == 200 and body["found"] and body["status"] == "closed"
    assert "waiting" not in body
    assert (body["waits"], body["breached"], body["responses"]) == (1, 1, 1)
    assert body["last_agent"] == "a1" and body["last_event"] == "2026-11-11T10:06:50+08:00"
    assert {k["label"]: k["breached"] for k in body["kpis"]} == {"5分钟回复率": 1,
                                                                 "3分钟人工回复率": 1}
    assert "old" not in json.dumps(body).replace(old, "")  # no buyer id
    status, body = call(source(pipeline, T0 + 410 * S), "/api/conversation", shop="shop-b",
                        ref="c-000000000000")
    assert status == 200 and body["found"] is False
    status, body = call(source(pipeline, T0 + 410 * S), "/api/conversation", shop="shop-b")
    assert status == 400 and "ref" in body["error"]


def test_violations_filtered_by_severity_newest_first_by_event_time() -> None:
    pipeline, *_ = make()
    feed_events(pipeline, [
        msg(1, T0 + 50 * S, "buyer", "在吗", "b1"),
        msg(2, T0 + 60 * S, "agent", "加我微信 abc12345", "b1", agent="a1"),
        msg(3, T0 + 10 * S, "buyer", "在吗", "b2"),
        msg(4, T0 + 20 * S, "agent", "加我微信 xyz98765", "b2", agent="a2")])
    src = source(pipeline, T0 + 100 * S)
    every = src.violations()["violations"]
    assert len(every) >= 2
    times = [v["ts_ms"] for v in every]
    assert times == sorted(times, reverse=True)  # by event time, not the order seen
    assert every[0]["ts_ms"] == T0 + 60 * S
    critical = src.violations(severities=("critical",))["violations"]
    assert critical and all(v["severity"] == "critical" for v in critical)
    assert src.violations(severities=("info",))["violations"] == [
        v for v in every if v["severity"] == "info"]
    status, body = call(src, "/api/violations", severity="loud")
    assert status == 400 and "severity" in body["error"]
    status, body = call(src, "/api/violations", limit=1)
    assert body["more"] and body["violations"][0]["ts_ms"] == T0 + 60 * S
    status, body = call(src, "/api/violations", limit=1, cursor=body["next_cursor"])
    assert body["violations"][0]["ts_ms"] == T0 + 20 * S


def test_merged_board_finds_the_conversation_on_its_worker() -> None:
    first, second = busy_shop(), make()[0]
    feed_events(second, [msg(1, T0 + 395 * S, "buyer", "在吗", "other")])
    workers = {"w0": source(first, T0 + 400 * S), "w1": source(second, T0 + 400 * S)}
    merged = MergedSource(lambda: list(workers))

    async def fetch(url: str, path: str, query: dict[str, Any]) -> dict[str, Any]:
        q = {k: str(v) for k, v in query.items() if v not in (None, "")}
        status, body, *_ = await answer(workers[url], Access(), static_files(), path, {}, q, {})
        assert status == 200, body
        result: dict[str, Any] = json.loads(body)
        return result

    merged._fetch = fetch  # type: ignore[method-assign]
    found = asyncio.run(merged.conversation("shop-b", log_ref("shop-b:old")))
    assert found["found"] and found["waiting"]["breached"]
    waits = asyncio.run(merged.waits(None, 10))
    assert [w["ref"] for w in waits["waits"]][-1] == log_ref("shop-b:old")
    assert waits["total"] == 4 and waits["breached"] == 2
    assert waits["waits"][0]["ref"] == log_ref("shop-b:mid")
