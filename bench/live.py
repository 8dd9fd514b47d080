"""Live benchmarks on Apache Kafka: throughput, breach latency, memory.

One topic of simulated events (8 partitions) is produced once and read, in turn, by raw
aiokafka, raw confluent-kafka (librdkafka), the peer apps (``bench.peers``: Bytewax, Quix
Streams and Kafka Streams doing a bare reply window) and one chatwatch worker; then breach
latency at 100,000 open waits and memory per open conversation. Events are the simulator's
traffic, orders included (about 10 %); the worker also drains the same model without orders,
for the cost of orders.

    python -m bench.live [--events 300000] [--waits 100000 | --no-waits] [--broker kafka]

Everything runs on one Apache Kafka broker (KRaft, ``stream.kafka_local.KafkaCluster``)
started for the run, installed from Maven Central first when ``make kafka`` has not run:
Kafka Streams needs a real Kafka (its admin client, changelog and repartition topics), and
every peer reads the same topic on the same broker. ``--broker embedded`` runs on the embedded
broker instead, as the bench did before, without the Kafka Streams peer.

The worker is a real ``chatwatch worker`` child process (``stream.testing.WorkerProcess``) with
default settings on private topics; everything is measured from outside it, the way an
operator would see it: its ``chatwatch_events_total`` counter, the records on the breaches
topic and its resident memory. Each peer runs in its own child process too, and its final
counters must equal the known counts of the produced records, or it gets no rate.
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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bench.peers import run_peer
from bench.peers.window import expected_counters
from stream.broker import EmbeddedBroker
from stream.config import load_settings
from stream.kafka import ensure_topics
from stream.kafka_local import KAFKA_VERSION, KafkaCluster, install
from stream.simulate import Rates, TrafficModel
from stream.testing import WorkerProcess, event_key, topic_config

PARTITIONS = 4  # the breach-latency and memory run
THROUGHPUT_PARTITIONS = 8  # the throughput comparison
RETENTION_MS = 7 * 86_400_000
# PDD's default KPI list: the 5-minute wait (the base wait) and the 3-minute human one. The
# open waits are stamped so that the shortest window's deadlines fall in the measured spread;
# every KPI's waits are open when memory is measured, and each breaches with a record.
WINDOWS_S = (300, 180)


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


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create ``topic`` with ``retention.ms`` set.

    The embedded broker reports only the configs a topic was created with, and Quix Streams
    copies the source topic's ``retention.ms`` to its changelog and repartition topics: without
    it the app fails at start-up.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={
            "retention.ms": str(RETENTION_MS)})])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


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


def raw_confluent(bootstrap: str, topic: str, expect: int, timeout: float = 120.0) -> float:
    """Plain confluent-kafka (librdkafka) reading ``expect`` records: records per second.

    Partitions are assigned, not subscribed, so no group join is waited for; the time runs
    from the first record on, as for ``raw_consume``.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-raw",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    got, began = 0, None
    deadline = time.monotonic() + timeout
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        while got < expect:
            if time.monotonic() > deadline:
                raise TimeoutError(f"confluent-kafka read {got:,} of {expect:,} in {timeout} s")
            records = consumer.consume(10_000, timeout=1.0)
            if began is None and records:
                began = time.perf_counter()
            got += len(records)
    finally:
        consumer.close()
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


WARM_UP_CONVERSATIONS = 2_000
SETTLE_S = 3.0  # longer than the commit interval (2.8 s): acknowledged offsets are released


BENCH_SHOPS = 20


def _message(i: int, buyer: str, event_id: str, ts: int, sender: str, text: str,
             agent: str | None = None) -> tuple[bytes, bytes]:
    """One PDD message of conversation ``i`` (shop ``i`` mod BENCH_SHOPS) as (key, value)."""
    body = {"event_id": event_id, "ts": ts, "shop_id": f"shop-{i % BENCH_SHOPS:02d}",
            "buyer_id": buyer, "platform": "pdd", "type": "message", "sender": sender,
            "text": text, **({"agent_id": agent} if agent else {})}
    return event_key(body), json.dumps(body, ensure_ascii=False).encode()


def answered_wait_records(n: int) -> list[tuple[bytes, bytes]]:
    """``n`` conversations answered at once: the worker's warm-up before memory is measured.

    Same shops as :func:`open_wait_records`; no open wait, no breach record.
    """
    ts = int(time.time() * 1000) - 60_000
    out = []
    for i in range(n):
        buyer = f"warm-{i:06d}"
        out.append(_message(i, buyer, f"warm{i}-0", ts, "buyer", "在吗"))
        out.append(_message(i, buyer, f"warm{i}-1", ts + 1000, "agent", "在的，亲", "a1"))
    return out


def open_wait_records(n: int, first_deadline_ms: int, spread_s: float) -> list[tuple[bytes, bytes]]:
    """``n`` buyer messages, each opening a wait of every KPI in its own conversation.

    The deadlines of the shortest KPI window are spread evenly over ``spread_s`` seconds from
    ``first_deadline_ms``; the longer windows' follow later.
    """
    out = []
    for i in range(n):
        deadline = first_deadline_ms + int(i * spread_s * 1000 / n)
        out.append(_message(i, f"buyer-{i:06d}", f"w{i}", deadline - min(WINDOWS_S) * 1000,
                            "buyer", "在吗？这个还有货吗"))
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


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


Broker = EmbeddedBroker | KafkaCluster


def throughput(broker: Broker, workdir: Path, n_events: int,
               partitions: int = THROUGHPUT_PARTITIONS) -> dict[str, Any]:
    """Every consumer in turn over the same ``n_events`` produced records."""
    out: dict[str, Any] = {}
    cfg = topic_config(f"bench{uuid.uuid4().hex[:6]}", partitions=partitions)
    settings = load_settings(environ={}).with_overrides(
        partitions=partitions, **{k: cfg[k] for k in ("events_topic", "dlq_topic",
                                                       "breaches_topic", "violations_topic")})
    topic = cfg["events_topic"]
    asyncio.run(create_topic(broker.bootstrap, topic, partitions))
    asyncio.run(ensure_topics(settings, broker.url))
    records = realistic_events(n_events)
    expected = expected_counters(records)
    n = asyncio.run(fill(broker.bootstrap, topic, records))
    out["throughput_events"], out["throughput_partitions"] = n, partitions
    out["raw_aiokafka_events_per_s"] = asyncio.run(raw_consume(broker.bootstrap, topic, n))
    try:
        out["raw_confluent_events_per_s"] = raw_confluent(broker.bootstrap, topic, n)
    except ImportError as exc:
        out["raw_confluent_events_per_s"] = None
        out["raw_confluent_error"] = f"{exc}: install the bench extra (make bench)"
    for key, name, args in (("bytewax", "bytewax", ()), ("quix", "quix", ()),
                            ("quix_window_only", "quix", ("--no-rekey",)),
                            ("kafka_streams", "kafka_streams", ())):
        if name == "kafka_streams" and not isinstance(broker, KafkaCluster):
            out[f"{key}_events_per_s"] = None
            out[f"{key}_error"] = "Kafka Streams needs Apache Kafka (--broker kafka)"
            continue
        peer = run_peer(name, broker.bootstrap, topic, n, expected, args=args)
        out[f"{key}_events_per_s"] = peer["events_per_s"]
        if "error" in peer:
            out[f"{key}_error"] = peer["error"]
    with WorkerProcess(workdir, broker.url, cfg) as worker:
        drained = drain_rate(worker, n, interval=1.0)
    out["pipeline_events_per_s"] = pipeline = drained["events_per_s"]
    out["pipeline_cpu_utilisation"] = drained["cpu_utilisation"]
    out["pipeline_vs_raw"] = _ratio(pipeline, out["raw_aiokafka_events_per_s"])
    out["pipeline_vs_raw_confluent"] = _ratio(pipeline, out["raw_confluent_events_per_s"])
    for key in ("quix", "bytewax", "quix_window_only", "kafka_streams"):
        out[f"pipeline_vs_{key}"] = _ratio(pipeline, out[f"{key}_events_per_s"])
    return out


@contextmanager
def started_broker(kind: str, root: Path) -> Iterator[Broker]:
    """A broker for the run: ``kafka`` (Apache Kafka, one KRaft node) or ``embedded``."""
    if kind == "embedded":
        with EmbeddedBroker() as embedded:
            yield embedded
        return
    if kind != "kafka":
        raise ValueError(f"broker {kind!r}: use kafka or embedded")
    install(quiet=True)
    with KafkaCluster(root) as cluster:
        yield cluster


def run(n_events: int = 300_000, n_waits: int | None = 100_000,
        broker_kind: str = "kafka") -> dict[str, Any]:
    """All live measurements (no breach and memory run when ``n_waits`` is None)."""
    if broker_kind == "kafka":
        from bench.peers import kafka_streams_app

        kafka_streams_app.build()  # once, before anything is timed
    with tempfile.TemporaryDirectory() as tmp, \
            started_broker(broker_kind, Path(tmp) / "broker") as broker:
        out: dict[str, Any] = {"broker": (f"apache-kafka {KAFKA_VERSION}"
                                          if isinstance(broker, KafkaCluster) else "embedded")}
        out.update(throughput(broker, Path(tmp) / "throughput", n_events))
        if n_waits:
            out.update(_breaches_and_memory(broker, Path(tmp) / "waits", n_waits))
        plain = _pipeline_without_orders(broker, Path(tmp) / "no-orders", n_events)
        out["pipeline_events_per_s_without_orders"] = plain["events_per_s"]
        # On a shared machine the worker's share of a core varies from run to run: events per
        # CPU-second of the worker compare the two traffic mixes fairly.
        out["pipeline_events_per_cpu_s"] = (out["pipeline_events_per_s"]
                                            / max(out["pipeline_cpu_utilisation"], 1e-9))
        out["pipeline_events_per_cpu_s_without_orders"] = (
            plain["events_per_s"] / max(plain["cpu_utilisation"], 1e-9))
    return out


def _pipeline_without_orders(broker: Broker, workdir: Path,
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


def _breaches_and_memory(broker: Broker, workdir: Path, n_waits: int) -> dict[str, Any]:
    """Open ``n_waits`` waits, measure memory once caught up, then time every breach record."""
    cfg = topic_config(f"waits{uuid.uuid4().hex[:6]}", partitions=PARTITIONS)
    settings = load_settings(environ={}).with_overrides(
        partitions=PARTITIONS, **{k: cfg[k] for k in ("events_topic", "dlq_topic",
                                                       "breaches_topic", "violations_topic")})
    asyncio.run(ensure_topics(settings, broker.url))
    spread_s, lead_s = 20.0, 35.0  # deadlines from 35 s to 55 s after the fill starts
    with WorkerProcess(workdir, broker.url, cfg) as worker:
        pid = worker.proc.pid if worker.proc else 0
        # The baseline is taken once the worker has handled traffic of the same shops: what
        # it allocates once (the shops' books, lazily imported code, the first batches'
        # buffers, acknowledged offsets until the next commit) is not a cost per conversation.
        warm = answered_wait_records(WARM_UP_CONVERSATIONS)
        asyncio.run(fill(broker.bootstrap, cfg["events_topic"], warm))
        drain_rate(worker, len(warm), interval=0.5)
        time.sleep(SETTLE_S)
        rss_before = rss_bytes(pid)
        first_deadline_ms = int((time.time() + lead_s) * 1000)
        records = open_wait_records(n_waits, first_deadline_ms, spread_s)
        asyncio.run(fill(broker.bootstrap, cfg["events_topic"], records))
        drain_rate(worker, len(warm) + n_waits, interval=1.0)
        caught_up_s = first_deadline_ms / 1000 - time.time()
        time.sleep(SETTLE_S)
        rss_after = rss_bytes(pid)
        open_waits = sum(v for (name, _), v in worker.metrics().items()
                         if name == "chatwatch_open_waits")

        async def collect() -> list[float]:
            ready = asyncio.Event()
            late_s = max(WINDOWS_S) - min(WINDOWS_S)
            return await _collect_breaches(broker.bootstrap, cfg["breaches_topic"],
                                           n_waits * len(WINDOWS_S),
                                           lead_s + spread_s + late_s + 30, ready)

        delays = asyncio.run(collect())
    result: dict[str, Any] = {
        "open_waits": n_waits,
        "open_waits_reported": open_waits,
        "bytes_per_open_conversation": (rss_after - rss_before) / n_waits,
        "caught_up_before_first_deadline_s": round(caught_up_s, 1),
        "breach_records": len(delays),  # one per wait of each KPI
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
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--waits", type=int, default=100_000)
    parser.add_argument("--no-waits", dest="waits", action="store_const", const=None,
                        help="Throughput only: no breach-latency and memory run.")
    parser.add_argument("--broker", choices=("kafka", "embedded"), default="kafka",
                        help="Apache Kafka (the default; Kafka Streams needs it) or the "
                             "embedded broker (no Kafka Streams peer).")
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.waits, args.broker), indent=2))


if __name__ == "__main__":
    main()
