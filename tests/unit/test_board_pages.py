"""Issue 34, item 4: every /api/* answer is one page (limit, cursor, more), on a worker and
merged over workers, and the page never holds the event loop for the whole read."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agents.board.access import Access
from agents.board.data import PAGES, LocalSource
from agents.board.http import answer, static_files
from agents.board.merge import MergedSource
from tests.unit.test_pipeline import T0, make


def build(workers: int = 1) -> Any:
    """13 shops, 3 buyers each (two waiting since the same millisecond), agents, violations.

    With several workers, each buyer's conversation goes to one of them (its partition 0).
    """
    pipelines = [make()[0] for _ in range(workers)]
    n = 0
    for s in range(13):
        shop = f"shop-{s:02d}"
        for b in range(3):
            for sender, dt, text in (("buyer", 0, "在吗"), ("agent", 2_000, "加我微信 abc12345"),
                                     ("buyer", 5_000 if b else 4_000, "人呢")):
                event = {"event_id": f"e{n}", "ts": T0 + s * 10 + dt, "shop_id": shop,
                         "buyer_id": f"b{b}", "type": "message", "sender": sender,
                         "text": text}
                if sender == "agent":
                    event["agent_id"] = f"agent-{(s + b) % 4}"
                pipelines[(s + b) % workers].on_message(
                    0, n, f"{shop}:b{b}".encode(), json.dumps(event, ensure_ascii=False).encode())
                n += 1
    # the first wait of every buyer is answered; the second is open, held by its agent
    for pipeline in pipelines:
        pipeline.sweep(T0 + 200_000, {0: True})
    return pipelines[0] if workers == 1 else pipelines


def call(src: Any, path: str, **query: Any) -> tuple[int, dict[str, Any]]:
    q = {k: str(v) for k, v in query.items() if v is not None}
    status, body, *_ = asyncio.run(answer(src, Access(), static_files(), path, {}, q, {}))
    return status, json.loads(body)


def pages(src: Any, path: str, key: str, limit: int, **query: Any) -> list[list[Any]]:
    out: list[list[Any]] = []
    cursor = None
    while True:
        status, body = call(src, path, limit=limit, cursor=cursor, **query)
        assert status == 200, body
        out.append(body[key])
        assert len(body[key]) <= limit
        if not body["more"]:
            assert body["next_cursor"] is None
            return out
        cursor = body["next_cursor"]
        assert cursor and len(out) < 100


def local(pipeline: Any, owned: list[int]) -> LocalSource:
    return LocalSource(pipeline.engine, pipeline.board, lambda: owned, lambda: T0 + 200_000)


def test_every_read_out_pages_through_everything_once() -> None:
    pipeline = build()
    src = local(pipeline, [0])
    whole = {path: call(src, path, limit=PAGES[path.split("/")[-1]][1])[1]
             for path in ("/api/summary", "/api/waits", "/api/agents", "/api/violations")}
    assert not any(body["more"] for body in whole.values())
    # a default page, and its size
    status, body = call(src, "/api/agents")
    assert status == 200 and body["limit"] == PAGES["agents"][0]

    shops = pages(src, "/api/summary", "shops", 5)
    assert [len(p) for p in shops] == [5, 5, 3]
    assert [s["shop_id"] for p in shops for s in p] == [s["shop_id"]
                                                        for s in whole["/api/summary"]["shops"]]

    waits = pages(src, "/api/waits", "waits", 4)
    flat = [(w["start_ms"], w["ref"]) for p in waits for w in p]
    assert len(flat) == len(set(flat)) == whole["/api/waits"]["total"] == 13 * 3
    assert flat == sorted(flat)  # oldest first, then by ref: ties cut across pages
    assert len({w["start_ms"] for w in whole["/api/waits"]["waits"]}) < len(flat)

    agents = pages(src, "/api/agents", "agents", 7)
    assert [p for page in agents for p in page] == whole["/api/agents"]["agents"]
    assert len(whole["/api/agents"]["agents"]) > 7

    violations = pages(src, "/api/violations", "violations", 10)
    assert [v["seq"] for p in violations for v in p] == [
        v["seq"] for v in whole["/api/violations"]["violations"]]
    assert len(whole["/api/violations"]["violations"]) == 13 * 3


def test_page_sizes_and_cursors_are_checked() -> None:
    src = local(build(), [0])
    for path, (_, largest) in PAGES.items():
        status, body = call(src, f"/api/{path}", limit=largest + 1)
        assert status == 400 and "limit" in body["error"]
    for path in ("/api/waits", "/api/agents", "/api/violations"):
        status, body = call(src, path, cursor="not-a-cursor")
        assert status == 400 and "cursor" in body["error"], (path, body)


def test_merged_pages_over_two_workers() -> None:
    first, second = build(workers=2)
    workers = {"w0": local(first, [0]), "w1": local(second, [0])}
    merged = MergedSource(lambda: list(workers))

    async def fetch(url: str, path: str, query: dict[str, Any]) -> dict[str, Any]:
        q = {k: str(v) for k, v in query.items() if v not in (None, "")}
        status, body, *_ = await answer(workers[url], Access(), static_files(), path, {}, q, {})
        assert status == 200, body
        result: dict[str, Any] = json.loads(body)
        return result

    merged._fetch = fetch  # type: ignore[method-assign]

    async def merged_pages(method: str, key: str, limit: int) -> list[Any]:
        out: list[Any] = []
        cursor = None
        while True:
            body = await getattr(merged, method)(None, limit, cursor)
            assert all(w["ok"] for w in body["workers"]), body["workers"]
            out.extend(body[key])
            if not body["more"]:
                return out
            cursor = body["next_cursor"]

    async def check() -> None:
        whole = await merged.summary(None, 2000)
        assert len(whole["shops"]) == 13 and not whole["more"]
        shops = await merged_pages("summary", "shops", 4)
        assert [s["shop_id"] for s in shops] == [s["shop_id"] for s in whole["shops"]]
        assert [s["open_waits"] for s in shops] == [3] * 13  # summed over both workers
        waits = await merged_pages("waits", "waits", 5)
        keys = [(w["start_ms"], w["ref"]) for w in waits]
        assert len(keys) == len(set(keys)) == 39 and keys == sorted(keys)
        agents = await merged.agents(None, 3)
        assert len(agents["agents"]) == 3 and agents["more"] and agents["next_cursor"]
        violations = await merged.violations(None, 0, 5)
        assert len(violations["violations"]) == 5 and violations["more"]

    asyncio.run(check())
