"""Issue 34, item 4: the board never has two requests in flight for the same panel.

The board's own aiohttp app serves a worker's read-outs that take 2.5 s to answer, longer
than the page's 1.5 s poll; headless Chromium runs the page for a while. The server counts
the requests of each API path that are out at once: never more than one, and the page keeps
asking (each path several times) once its previous answer came.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.board.access import Access
from agents.board.http import aiohttp_app
from tests.integration.test_board_browser import browser  # noqa: F401 - the fixture
from tests.unit.test_board_pages import build, local

pytestmark = pytest.mark.slow

DELAY_SECONDS = 2.5


class SlowSource:
    """A worker's read-outs, each answered after ``DELAY_SECONDS``; counts what is out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.out: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.asked: dict[str, int] = {}

    async def _slow(self, name: str, result: Any) -> Any:
        self.out[name] = self.out.get(name, 0) + 1
        self.asked[name] = self.asked.get(name, 0) + 1
        self.most[name] = max(self.most.get(name, 0), self.out[name])
        try:
            await asyncio.sleep(DELAY_SECONDS)
            return result
        finally:
            self.out[name] -= 1

    async def summary(self, *args: Any) -> Any:
        return await self._slow("summary", self.inner.summary(*args))

    async def waits(self, *args: Any) -> Any:
        return await self._slow("waits", self.inner.waits(*args))

    async def agents(self, *args: Any) -> Any:
        return await self._slow("agents", self.inner.agents(*args))

    async def violations(self, *args: Any) -> Any:
        return await self._slow("violations", self.inner.violations(*args))


@pytest.fixture
def slow_board() -> Iterator[tuple[str, SlowSource]]:
    """The board app on a loopback port, on an event loop of its own thread."""
    from aiohttp import web

    source = SlowSource(local(build(), [0]))
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(aiohttp_app(source, Access()), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready["runner"] = runner
        ready["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield f"http://127.0.0.1:{ready['port']}/", source
    finally:
        asyncio.run_coroutine_threadsafe(ready["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_no_panel_has_two_requests_in_flight(browser: Any,  # noqa: F811
                                             slow_board: tuple[str, SlowSource],
                                             tmp_path: Path) -> None:
    url, source = slow_board
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("body[data-loaded]", timeout=15_000)
    # the shop picker asks again at once: the panels whose request is out wait for it
    page.select_option("#shop", "shop-03")
    deadline = time.monotonic() + 4 * DELAY_SECONDS + 3
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert not errors, errors
    assert set(source.asked) == {"summary", "waits", "agents", "violations"}
    assert source.most == {name: 1 for name in source.asked}, source.most
    # still polling: each panel asked again after each answer (2.5 s, then 1.5 s later)
    assert min(source.asked.values()) >= 3, source.asked
    assert page.locator("#waits tbody tr").count() == 3  # shop-03's three open waits
