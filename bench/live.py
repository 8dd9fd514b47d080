"""Live benchmarks on the embedded broker: throughput, breach latency, memory.

Raw consumption against one worker's throughput (traffic where 10 % of the events are orders,
and the same model without orders), breach latency at 100,000 open waits and memory per open
conversation.

    python -m bench.live [--events 200000] [--waits 100000]

The worker is a real ``chatwatch worker`` child process (``stream.testing.WorkerProcess``) with
default settings on private topics; everything is measured from outside it, the way an
operator would see it: its ``chatwatch_events_total`` counter, the records on the breaches
topic and its resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream.broker import EmbeddedBroker
from stream.config import load_settings
from stream.kafka import ensure_topics
from stream.simulate import Rates, TrafficModel
from stream.testing import WorkerProcess, topic_config

PARTITIONS = 4
WINDOW_S = 300  # the default reply window


# Order rates of the simulator that make about 10 % of the events orders (DOMAIN.md §7), and
# none at all.
WITH_ORDERS = Rates(order=0.45)
WITHOUT_ORDERS = Rates(order=0.0, silent_buyer=0.0)


def realistic_events(n: int, seed: int = 1, rates: Rates = WITH_ORDERS) -> list[tuple[bytes, bytes]]:
    """``n`` (key, value) records of simulated traffic (bursts, replies, orders, dirt)."""
    model = TrafficModel(seed=seed, shops=20, agents_per_shop=4, buyers=20_000, rate=20,
                         diurnal=True, rates=rates)
    return [(s.key, s.value) for s in itertools.islice(model.events(), n)]


def order_share(records: list[tuple[bytes, bytes]]) -> float:
    """The share of records that are order events."""
    return sum(b'"type":"order"' in value for _, value in records) / max(len(records), 1)


async def fill(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]]) -> int:
    """Produce keyed records as fast as the broker takes them; returns how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    n = 0
    try:
        for key, value in records:
            await producer.send(topic, value, key=key)
            n += 1
        await producer.flush()
    finally:
        await producer.stop()
    return n


async def raw_consume(bootstrap: str, topic: str, expect: int) -> float:
    """Plain aiokafka reading ``expect`` records of a pre-filled topic: records per second."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got, began = 0, None
    try:
        while got < expect:
            batch = await consumer.getmany(timeout_ms=1000)
            if began is None and batch:
                began = time.perf_counter()  # from the first record: no connection set-up
            got += sum(len(v) for v in batch.values())
    finally:
        await consumer.stop()
    return got / (time.perf_counter() - (began or time.perf_counter()))


def _events_total(worker: WorkerProcess) -> float:
    return sum(v for (name, _), v in worker.metrics().items() if name == "chatwatch_events_total")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux)."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain_rate(worker: WorkerProcess, expect: int, timeout: float = 180.0,
               interval: float = 0.5) -> dict[str, float]:
    """Poll the worker's counters until ``expect`` events are handled.

    The rate is taken between two polls made while the worker was busy: the first that sees
    events counted (so start-up and the first rebalance are excluded) and the last one before
    everything was handled (so the idle tail after the last event is excluded too). Scrapes
    are cheap next to the work but not free, hence the modest poll rate.
    """
    pid = worker.proc.pid if worker.proc else 0
    deadline = time.monotonic() + timeout
    first: tuple[float, float, float] | None = None  # (time, count, cpu)
    last: tuple[float, float, float] | None = None
    count = 0.0
    while time.monotonic() < deadline:
        count, now = _events_total(worker), time.perf_counter()
        if count >= expect:
            break
        if count > 0:
            sample = (now, count, cpu_seconds(pid))
            if first is None:
                first = sample
            last = sample
        time.sleep(interval)
    else:
        raise TimeoutError(f"worker handled {count:,.0f} of {expect:,} events in {timeout} s")
    if first is None or last is None or last[0] - first[0] < interval:
        # finished between two polls: fall back to the end poll (underestimates a little)
        base = first or (now - interval, 0.0, cpu_seconds(pid))
        last = (now, count, cpu_seconds(pid))
        first = base
    seconds = last[0] - first[0]
    return {"events_per_s": (last[1] - first[1]) / seconds,
            "cpu_utilisation": (last[2] - first[2]) / seconds}


def open_wait_records(n: int, first_deadline_ms: int, spread_s: float) -> list[tuple[bytes, bytes]]:
    """``n`` buyer messages, each opening a wait in its own conversation.

    Their deadlines are spread evenly over ``spread_s`` seconds from ``first_deadline_ms``.
    """
    out = []
    for i in range(n):
        deadline = first_deadline_ms + int(i * spread_s * 1000 / n)
        shop, buyer = f"shop-{i % 20:02d}", f"buyer-{i:06d}"
        body = {"event_id": f"w{i}", "ts": deadline - WINDOW_S * 1000, "shop_id": shop,
                "buyer_id": buyer, "platform": "pdd", "type": "message", "sender": "buyer",
                "text": "在吗？这个还有货吗"}
        out.append((f"{shop}:{buyer}".encode(), json.dumps(body, ensure_ascii=False).encode()))
    return out


async def _collect_breaches(bootstrap: str, topic: str, expect: int, timeout: float,
                            ready: asyncio.Event) -> list[float]:
    """Arrival wall time minus deadline (s) of each breach record on ``topic``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_wait_ms=50)
    await consumer.start()
    ready.set()
    delays: list[float] = []
    end = time.monotonic() + timeout
    try:
        while len(delays) < expect and time.monotonic() < end:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                for r in records:
                    deadline = datetime.fromisoformat(json.loads(r.value)["deadline"])
                    delays.append(now - deadline.timestamp())
    finally:
        await consumer.stop()
    return delays


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(n_events: int = 200_000, n_waits: int = 100_000) -> dict[str, Any]:
    """All live measurements; returns a flat dict of results."""
    out: dict[str, Any] = {}
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        # -- throughput: raw aiokafka vs one worker, same pre-filled topic ---------------------
        cfg = topic_config(f"bench{uuid.uuid4().hex[:6]}", partitions=PARTITIONS)
        settings = load_settings(environ={}).with_overrides(
            partitions=PARTITIONS, **{k: cfg[k] for k in
                                      ("events_topic", "dlq_topic", "breaches_topic",
                                       "violations_topic")})
        asyncio.run(ensure_topics(settings, broker.url))
        records = realistic_events(n_events)
        out["pipeline_order_share"] = order_share(records)
        n = asyncio.run(fill(broker.bootstrap, cfg["events_topic"], records))
        out["raw_consume_events_per_s"] = asyncio.run(
            raw_consume(broker.bootstrap, cfg["events_topic"], n))
        with WorkerProcess(Path(tmp) / "throughput", broker.url, cfg) as worker:
            drained = drain_rate(worker, n, interval=1.0)
        out["pipeline_events_per_s"] = drained["events_per_s"]
        out["pipeline_cpu_utilisation"] = drained["cpu_utilisation"]
        out["pipeline_vs_raw"] = out["pipeline_events_per_s"] / out["raw_consume_events_per_s"]
        out["pipeline_events"] = n
        plain = _pipeline_without_orders(broker, Path(tmp) / "no-orders", n_events)
        out["pipeline_events_per_s_without_orders"] = plain["events_per_s"]
        # On a shared machine the worker's share of a core varies from run to run: events per
        # CPU-second of the worker compare the two traffic mixes fairly.
        out["pipeline_events_per_cpu_s"] = (out["pipeline_events_per_s"]
                                            / max(out["pipeline_cpu_utilisation"], 1e-9))
        out["pipeline_events_per_cpu_s_without_orders"] = (
            plain["events_per_s"] / max(plain["cpu_utilisation"], 1e-9))
        out.update(_breaches_and_memory(broker, Path(tmp) / "waits", n_waits))
    return out


def _pipeline_without_orders(broker: EmbeddedBroker, workdir: Path,
                             n_events: int) -> dict[str, float]:
    """The worker's rate (and CPU share) on the same traffic model with no orders at all."""
    cfg = topic_config(f"plain{uuid.uuid4().hex[:6]}", partitions=PARTITIONS)
    settings = load_settings(environ={}).with_overrides(
        partitions=PARTITIONS, **{k: cfg[k] for k in ("events_topic", "dlq_topic",
                                                       "breaches_topic", "violations_topic")})
    asyncio.run(ensure_topics(settings, broker.url))
    n = asyncio.run(fill(broker.bootstrap, cfg["events_topic"],
                         realistic_events(n_events, rates=WITHOUT_ORDERS)))
    with WorkerProcess(workdir, broker.url, cfg) as worker:
        return drain_rate(worker, n, interval=1.0)


def _breaches_and_memory(broker: EmbeddedBroker, workdir: Path, n_waits: int) -> dict[str, Any]:
    """Open ``n_waits`` waits, measure memory once caught up, then time every breach record."""
    cfg = topic_config(f"waits{uuid.uuid4().hex[:6]}", partitions=PARTITIONS)
    settings = load_settings(environ={}).with_overrides(
        partitions=PARTITIONS, **{k: cfg[k] for k in ("events_topic", "dlq_topic",
                                                       "breaches_topic", "violations_topic")})
    asyncio.run(ensure_topics(settings, broker.url))
    spread_s, lead_s = 20.0, 35.0  # deadlines from 35 s to 55 s after the fill starts
    with WorkerProcess(workdir, broker.url, cfg) as worker:
        pid = worker.proc.pid if worker.proc else 0
        time.sleep(1.0)  # let the first sweeps and the web server settle
        rss_before = rss_bytes(pid)
        first_deadline_ms = int((time.time() + lead_s) * 1000)
        records = open_wait_records(n_waits, first_deadline_ms, spread_s)
        asyncio.run(fill(broker.bootstrap, cfg["events_topic"], records))
        drain_rate(worker, n_waits, interval=1.0)
        caught_up_s = first_deadline_ms / 1000 - time.time()
        time.sleep(1.0)
        rss_after = rss_bytes(pid)
        open_waits = sum(v for (name, _), v in worker.metrics().items()
                         if name == "chatwatch_open_waits")

        async def collect() -> list[float]:
            ready = asyncio.Event()
            return await _collect_breaches(broker.bootstrap, cfg["breaches_topic"], n_waits,
                                           lead_s + spread_s + 30, ready)

        delays = asyncio.run(collect())
    result: dict[str, Any] = {
        "open_waits": n_waits,
        "open_waits_reported": open_waits,
        "bytes_per_open_conversation": (rss_after - rss_before) / n_waits,
        "caught_up_before_first_deadline_s": round(caught_up_s, 1),
        "breach_records": len(delays),
        "breach_deadlines_spread_s": spread_s,
    }
    if delays:
        result.update(breach_latency_p50_s=statistics.median(delays),
                      breach_latency_p99_s=_percentile(delays, 0.99),
                      breach_latency_max_s=max(delays))
    return result


def main() -> None:
    """Command line: print the live measurements as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--waits", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.waits), indent=2))


if __name__ == "__main__":
    main()
