"""Issue 34: a live worker's web server cannot be used to hurt the stream or read it unasked.

``POST /check`` wants credentials whenever any are configured (here only the board's), JSON
only, and serves a bounded number at a time off the event loop; ``/figures`` wants the
board's token, ``/metrics`` its own.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stream.testing import WorkerProcess, topic_config

pytestmark = pytest.mark.slow

BOARD = "board-token-abcdef0123"
METRICS = "metrics-token-9876543210"
# about 18 KB of agent text, every few words something the guard looks at
TEXT = ("亲，您好，加我微信 abc123 电话 13812345678 这款 WX-3000 两款 今天发货 " * 300)[:6000]


def _call(url: str, method: str = "GET", body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def _check(worker: WorkerProcess, ctype: str = "application/json",
           token: str | None = BOARD) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Content-Type": ctype}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"text": "加我微信 abc123", "platform": "pdd"}).encode()
    return _call(worker.url + "/check", "POST", body, headers)


async def _storm(url: str, clients: int, seconds: float) -> tuple[dict[int, int], list[float],
                                                                    set[str]]:
    """``clients`` clients posting 18 KB checks back to back while /health is timed."""
    statuses: dict[int, int] = {}
    retry_after: set[str] = set()
    latencies: list[float] = []
    body = json.dumps({"text": TEXT, "platform": "pdd"}, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {BOARD}"}
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def client() -> None:
            while time.monotonic() < deadline:
                async with session.post(url + "/check", data=body, headers=headers) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    if resp.status == 429:
                        retry_after.add(resp.headers.get("Retry-After", ""))

        async def probe() -> None:
            await asyncio.sleep(0.5)  # the storm is on
            while time.monotonic() < deadline:
                began = time.monotonic()
                async with session.get(url + "/health") as resp:
                    await resp.read()
                latencies.append(time.monotonic() - began)
                await asyncio.sleep(0.05)

        await asyncio.gather(probe(), *(client() for _ in range(clients)))
    return statuses, latencies, retry_after


def test_check_needs_credentials_json_and_a_free_slot_and_keeps_the_loop_free(
        broker: Any, tmp_path: Path, unique: str) -> None:
    env = {"CHATWATCH_BOARD_TOKEN": BOARD, "CHATWATCH_METRICS_TOKEN": METRICS,
           "CHATWATCH_CHECK_CONCURRENCY": "4"}
    with WorkerProcess(tmp_path, broker.url, topic_config(unique), env) as worker:
        # only the board's token is configured, and it is required
        assert _check(worker, token=None)[0] == 401
        assert _check(worker, token="wrong")[0] == 401
        # a web page may post text/plain anywhere without asking: refused
        assert _check(worker, ctype="text/plain")[0] == 415
        assert _check(worker, ctype="application/x-www-form-urlencoded")[0] == 415
        status, body, _ = _check(worker)
        assert status == 200, body
        assert {v["category"] for v in json.loads(body)["violations"]} >= {"wechat"}

        # 200 clients at once: at most 4 served, the rest told when to come back; the loop
        # (here: /health) answers at once all along, as the checks run elsewhere
        statuses, latencies, retry_after = asyncio.run(_storm(worker.url, 200, 6.0))
        assert set(statuses) <= {200, 429}, statuses  # never 500 or 503
        assert statuses.get(200, 0) > 0 and statuses.get(429, 0) > 0, statuses
        assert retry_after == {"1"}
        assert len(latencies) >= 10, latencies
        assert statistics.median(latencies) < 0.1, latencies
        assert max(latencies) < 1.0, latencies
        assert _check(worker)[0] == 200  # and served again after the storm


def test_figures_need_the_board_token_and_metrics_their_own(broker: Any, tmp_path: Path,
                                                              unique: str) -> None:
    env = {"CHATWATCH_BOARD_TOKEN": BOARD, "CHATWATCH_METRICS_TOKEN": METRICS}
    with WorkerProcess(tmp_path, broker.url, topic_config(unique), env) as worker:
        for path in ("/figures", "/api/summary", "/api/waits", "/api/agents",
                     "/api/violations"):
            assert _call(worker.url + path)[0] == 401, path
            assert _call(worker.url + path, headers={"Authorization": "Bearer x"})[0] == 401
            status, body, _ = _call(worker.url + path,
                                    headers={"Authorization": f"Bearer {BOARD}"})
            assert status == 200, (path, body)
        status, _, headers = _call(worker.url + "/metrics")
        assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert _call(worker.url + "/metrics", headers={"Authorization": f"Bearer {BOARD}"})[0] \
            == 401  # the board's token is not the metrics token
        status, body, _ = _call(worker.url + "/metrics",
                                headers={"Authorization": f"Bearer {METRICS}"})
        assert status == 200 and b"chatwatch_events_total" in body
        assert _call(worker.url + "/health")[0] in (200, 503)  # probes need no credentials
