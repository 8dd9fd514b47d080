"""``/metrics`` with 50,000 shops: ``metrics_scrape_s`` and friends in ``make bench``.

A worker's engine over 8 partitions holds ``n_shops`` shops, each with a buyer answered and
a buyer waiting (three agents a shop), the live bundle counting their outcomes under the
default series caps (CHATWATCH_METRICS_MAX_SHOPS / _MAX_AGENTS). A scrape is what the
``/metrics`` view does (:meth:`agents.metrics.ChatwatchMetrics.scrape`); while it runs, a
coroutine ticks every 2 ms, and the longest gap between two ticks is how long the event loop
(the stream, the sweeper, ``/health``) was held. The median of ``runs`` scrapes after a
first one; the series count of the text; the process's peak RSS.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import statistics
import time
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics
from agents.series import SeriesCaps
from stream.config import load_settings
from stream.core.engine import Engine
from stream.schema import Invalid, decode

PARTITIONS = 8
T0 = 1794362400000  # 2026-11-11T10:00:00+08:00


def _worker(n_shops: int) -> tuple[Engine, ChatwatchMetrics, int]:
    settings = load_settings(environ={})
    engine = Engine(settings.policies)
    metrics = ChatwatchMetrics(CollectorRegistry(), caps=SeriesCaps.from_settings(settings))
    n = 0
    for i in range(n_shops):
        shop = f"shop-{i:05d}"
        for buyer, sender, dt in (("b1", "buyer", 0), ("b1", "agent", 4_000),
                                  ("b2", "buyer", 6_000)):
            raw = msgspec.json.encode({
                "event_id": f"e{n}", "ts": T0 + i + dt, "shop_id": shop, "buyer_id": buyer,
                "type": "message", "sender": sender, "agent_id": f"a{i % 3}", "text": "在吗"})
            event = decode(raw, settings.default_platform)
            assert not isinstance(event, Invalid), event.reason
            metrics.record(engine.apply(event, i % PARTITIONS))
            n += 1
    now = T0 + n_shops + 60_000
    metrics.watch(engine, lambda: now, lambda: list(range(PARTITIONS)))
    return engine, metrics, now


async def _scrapes(metrics: ChatwatchMetrics, runs: int) -> tuple[list[float], float, bytes]:
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            mark = time.perf_counter()
            gaps.append(mark - last)
            last = mark

    ticker = asyncio.create_task(tick())
    times = []
    body = b""
    for _ in range(runs + 1):  # the first ranks the shops and is not counted
        began = time.perf_counter()
        body = await metrics.scrape()
        times.append(time.perf_counter() - began)
    done.set()
    await ticker
    return times[1:], max(gaps), body


def run(n_shops: int = 50_000, runs: int = 3) -> dict[str, Any]:
    """Median scrape seconds, the longest the loop waited, series, folded shops, RSS (MB)."""
    began = time.perf_counter()
    _, metrics, _ = _worker(n_shops)
    built = time.perf_counter() - began
    # The rows are long-lived: out of the collector's way, as a worker would after loading.
    gc.collect()
    gc.freeze()
    try:
        times, gap, body = asyncio.run(_scrapes(metrics, runs))
    finally:
        gc.unfreeze()
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return {
        "metrics_shops": n_shops,
        "metrics_scrape_s": statistics.median(times),
        "metrics_scrape_loop_gap_s": gap,
        "metrics_series": series,
        "metrics_folded_shops": metrics.caps.folded_shops,
        "metrics_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "metrics_engine_build_s": built,
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)))
