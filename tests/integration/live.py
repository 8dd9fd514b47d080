"""Helpers for the live end-to-end tests: chat events stamped *now*, and a time zone where now
is midday, so waits opened minutes ago fall in today's counted hours whatever the clock says."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from aiohttp import web

from stream.run import daytime_zone

_ids = itertools.count(1)


def now_ms() -> int:
    """The wall clock in epoch milliseconds (event times of live traffic)."""
    return int(time.time() * 1000)


def midday_zone(now: datetime | None = None) -> str:
    """An IANA zone where the local time is between 09:00 and 21:00 (counted hours are 08-23).

    ``stream.run.daytime_zone``, the one ``make run``'s demo shops use. A test that opens
    waits "20 minutes ago" then knows they are counted and belong to today's business day.
    """
    return daytime_zone(now)


def message(ts: int, shop: str, buyer: str, sender: str, text: str, agent: str | None = None,
            **extra: Any) -> dict[str, Any]:
    """One ``message`` event (DOMAIN.md §2) with a fresh event id."""
    event = {"event_id": f"live-{next(_ids)}-{ts}", "ts": ts, "shop_id": shop,
             "buyer_id": buyer, "type": "message", "sender": sender, "text": text, **extra}
    if agent is not None:
        event["agent_id"] = agent
    return event


def unanswered(shop: str, buyers: Iterator[str] | list[str], at_ms: int) -> list[dict[str, Any]]:
    """A buyer question per buyer at ``at_ms`` and no reply: each wait breaches at +300 s."""
    return [message(at_ms, shop, b, "buyer", "在吗？这个有货吗") for b in buyers]


def answered(shop: str, buyers: Iterator[str] | list[str], at_ms: int, agent: str,
             delay_ms: int = 10_000) -> list[dict[str, Any]]:
    """A question per buyer at ``at_ms`` and the agent's reply ``delay_ms`` later."""
    out = []
    for b in buyers:
        out.append(message(at_ms, shop, b, "buyer", "什么时候发货"))
        out.append(message(at_ms + delay_ms, shop, b, "agent", "亲，今天下午4点前拍下当天发", agent))
    return out


class FakeRobot:
    """A DingTalk robot endpoint on a free loopback port, served from a background thread.

    ``received`` holds ``(monotonic time, query, json body)`` per call.
    """

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, str], dict[str, Any]]] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((time.monotonic(), dict(request.query), await request.json()))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_post("/robot/send", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/robot/send?access_token=test"

    def __enter__(self) -> FakeRobot:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def titles(self) -> list[str]:
        """Titles of the markdown messages received so far."""
        return [body["markdown"]["title"] for _, _, body in list(self.received)]

    def first(self, predicate: Callable[[str], bool]) -> tuple[float, dict[str, Any]] | None:
        """``(arrival, body)`` of the first message whose title satisfies ``predicate``."""
        for at, _, body in list(self.received):
            if predicate(body["markdown"]["title"]):
                return at, body
        return None
