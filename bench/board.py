"""The board's load time with 10,000 open waits: ``board_load_s`` in ``make bench``.

A worker's engine holding ``n_waits`` open waits (spread over 20 shops, with 200 recent
violations in the feed) is served by the board's own aiohttp app on a loopback port. One load
is what the page fetches before it shows anything: the page, its script and style sheet, then
the four API calls it makes at once. The median of ``runs`` loads, in seconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import msgspec

from agents.board.access import Access
from agents.board.data import LocalSource
from agents.board.feed import BoardFeed
from agents.board.http import aiohttp_app
from stream.config import load_settings
from stream.core.engine import Engine
from stream.schema import Invalid, decode

PAGE = ("/", "/board.js", "/board.css")
API = ("/api/summary", "/api/waits?limit=200", "/api/agents", "/api/violations?limit=30")


def _engine(n_waits: int, now_ms: int) -> tuple[Engine, BoardFeed]:
    settings = load_settings(environ={})
    engine = Engine(settings.policies)
    for i in range(n_waits):
        raw = msgspec.json.encode({
            "event_id": f"b{i}", "ts": now_ms - 200_000 + (i * 7) % 200_000,
            "shop_id": f"shop-{i % 20:02d}", "buyer_id": f"buyer-{i}", "type": "message",
            "sender": "buyer", "text": "在吗"})
        event = decode(raw, settings.default_platform)
        assert not isinstance(event, Invalid), event.reason
        engine.apply(event, i % 8)
    feed = BoardFeed()
    for i in range(200):
        feed.violation({"event_id": f"v{i}", "shop_id": f"shop-{i % 20:02d}",
                        "conversation_id": f"shop-{i % 20:02d}:buyer-{i}", "agent": "a1",
                        "ts": "2026-11-11T10:00:00+08:00", "text": "加我微信 abc***45",
                        "violations": [{"category": "wechat", "severity": "critical"}]})
    return engine, feed


async def _measure(n_waits: int, runs: int) -> float:
    import aiohttp
    from aiohttp import web

    now = int(time.time() * 1000)
    engine, feed = _engine(n_waits, now)
    source = LocalSource(engine, feed, lambda: list(range(8)), lambda: now)
    runner = web.AppRunner(aiohttp_app(source, Access()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    times = []
    try:
        async with aiohttp.ClientSession() as session:
            async def get(path: str) -> int:
                async with session.get(base + path) as resp:
                    body = await resp.read()
                    assert resp.status == 200, (path, resp.status)
                    return len(body)

            for _ in range(runs + 1):  # the first load warms caches up and is not counted
                began = time.perf_counter()
                for path in PAGE:
                    await get(path)
                await asyncio.gather(*(get(p) for p in API))
                times.append(time.perf_counter() - began)
    finally:
        await runner.cleanup()
    return statistics.median(times[1:])


def run(n_waits: int = 10_000, runs: int = 5) -> float:
    """Median seconds to load the board (page, assets, first API round) with ``n_waits``."""
    return asyncio.run(_measure(n_waits, runs))


if __name__ == "__main__":
    print(f"board_load_s={run():.4f}")
