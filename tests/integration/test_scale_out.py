"""Issue 7: two workers in one consumer group share the partitions and survive a SIGKILL.

The killed worker's partitions move to the survivor with their conversation rows (restored
from the Table changelog), its uncommitted events are re-read and deduplicated, and waits it
owned still breach. Afterwards the survivor's daily figures equal the backfill of the log.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from stream.backfill import run_backfill
from stream.config import load_settings
from stream.inputs import read_events
from stream.kafka import bootstrap_servers
from stream.simulate import Rates, TrafficModel
from stream.testing import (
    TEST_SESSION_TIMEOUT,
    WorkerProcess,
    consume,
    produce,
    run,
    topic_config,
    wait_for,
)

pytestmark = pytest.mark.slow

PARTITIONS = 8
# The shortest session timeout Apache Kafka accepts (stream.testing): a killed worker's
# partitions move after about this long.
FAST_GROUP = TEST_SESSION_TIMEOUT


def partition_of(key: bytes) -> int:
    """The partition the producer's default (murmur2) partitioner picks for ``key``."""
    every = list(range(PARTITIONS))
    return int(DefaultPartitioner()(key, every, every))


def historical_log(n: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """``n`` seeded events of 2026-11-11 (default conversation ids) as (key, value) pairs."""
    # No deliberately broken lines: they are dead-lettered live and skipped by the backfill
    # alike, but a corrupt value may hold a newline and would not survive as one JSONL line.
    model = TrafficModel(seed=seed, shops=4, agents_per_shop=2, buyers=400, rate=5.0,
                         rates=Rates(invalid=0.0))
    return [(s.key, s.value) for s in itertools.islice(model.events(), n)]


def live_waits(partitions: list[int], count: int, now_ms: int) -> list[tuple[bytes, bytes]]:
    """Buyer messages stamped ``now - 280 s`` in conversations that land in ``partitions``."""
    out: list[tuple[bytes, bytes]] = []
    for i in itertools.count():
        if len(out) == count:
            return out
        shop, buyer = "shop-live", f"buyer-live-{i}"
        key = f"{shop}:{buyer}".encode()
        if partition_of(key) not in partitions:
            continue
        event = {"event_id": f"live-{i}", "ts": now_ms - 280_000, "shop_id": shop,
                 "buyer_id": buyer, "type": "message", "sender": "buyer", "text": "在吗"}
        out.append((key, json.dumps(event, ensure_ascii=False).encode()))
    raise AssertionError("unreachable")


async def committed(broker_url: str, group: str, topic: str) -> dict[int, int]:
    """The consumer group's committed offsets on ``topic`` (partition -> next offset)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(broker_url), group_id=group,
                                enable_auto_commit=False)
    await consumer.start()  # not subscribed: it reads offsets without joining the group
    try:
        out = {}
        for p in range(PARTITIONS):
            offset = await consumer.committed(TopicPartition(topic, p))
            if offset is not None and offset >= 0:
                out[p] = offset
        return out
    finally:
        await consumer.stop()


def handled(worker: WorkerProcess) -> int:
    """Events a worker has taken off the topic: processed, invalid or duplicate."""
    m = worker.metrics()
    return int(sum(m.get(("chatwatch_events_total", (("outcome", o),)), 0)
                   for o in ("processed", "invalid", "duplicate")))


def last_restored(worker: WorkerProcess, partition: int) -> int | None:
    """How many rows the worker last restored for ``partition`` (from its log)."""
    text = worker.log_path.read_text(encoding="utf-8", errors="replace")
    found = re.findall(rf"partition {partition}: (\d+) conversations restored", text)
    return int(found[-1]) if found else None


def owned(worker: WorkerProcess) -> list[int]:
    """The partitions a worker reports on /health (empty when it does not answer)."""
    health = worker.get_json("/health")
    return list(health["partitions"]) if health else []


def split(a: WorkerProcess, b: WorkerProcess) -> tuple[list[int], list[int]] | None:
    """The partitions of each of two workers once they hold disjoint non-empty shares of all."""
    pa, pb = owned(a), owned(b)
    if pa and pb and not set(pa) & set(pb) and set(pa) | set(pb) == set(range(PARTITIONS)):
        return pa, pb
    return None


def assert_figures_become_the_backfill(worker: WorkerProcess, log_path: Path) -> None:
    """The worker's figures reach those of the backfill of ``log_path`` within 30 s."""
    settings = load_settings(environ={})
    expected = [r.as_dict() for r in run_backfill(read_events([str(log_path)]), settings).report()]
    expected = json.loads(json.dumps(expected))
    assert expected, "the log must produce figures"
    try:
        wait_for(lambda: worker.figures() == expected, timeout=30)
    except TimeoutError:
        assert worker.figures() == expected  # shows the difference


def test_two_workers_share_partitions_and_survive_sigkill(broker, tmp_path: Path, unique: str):
    cfg = topic_config(unique, partitions=PARTITIONS)
    events_topic = cfg["events_topic"]
    history = historical_log(3000)
    a = WorkerProcess(tmp_path, broker.url, cfg, FAST_GROUP, name="a").start()
    b = WorkerProcess(tmp_path, broker.url, cfg, FAST_GROUP, name="b")
    try:
        b.start()

        # One group: the partitions are split, each worker holds a disjoint non-empty share.
        _, b_parts = wait_for(lambda: split(a, b), timeout=30)

        live = live_waits(b_parts, 5, int(time.time() * 1000))
        live_ids = {k.decode() for k, _ in live}
        half, three_quarters = len(history) // 2, 3 * len(history) // 4
        first = history[:half] + live
        lines = first + history[half:]
        log_path = tmp_path / "chat.jsonl"
        log_path.write_bytes(b"".join(v + b"\n" for _, v in lines))

        # First half (plus waits that will breach shortly) processed and committed by both.
        run(produce(broker.url, events_topic, first))
        wait_for(lambda: handled(a) + handled(b) >= len(first), timeout=30)
        b_handled = handled(b)
        assert b_handled > 0
        ends = run(_highwaters(broker.url, events_topic))
        wait_for(lambda: all(run(committed(broker.url, cfg["app_id"], events_topic)).get(p, 0)
                             >= ends[p] for p in b_parts if ends[p]), timeout=20)

        # SIGKILL b while it has unprocessed events; then the rest of the log.
        run(produce(broker.url, events_topic, history[half:three_quarters]))
        b.kill()
        run(produce(broker.url, events_topic, history[three_quarters:]))

        wait_for(lambda: owned(a) == list(range(PARTITIONS)), timeout=30)
        # b's partitions came back with their rows from the changelog, not empty.
        wait_for(lambda: all(last_restored(a, p) for p in b_parts), timeout=10)

        assert_figures_become_the_backfill(a, log_path)

        # The waits b held breached after it died, declared by a.
        def breached() -> set[str]:
            records = run(consume(broker.url, cfg["breaches_topic"], timeout=1))
            return {json.loads(m.value)["conversation_id"] for m in records}

        wait_for(lambda: live_ids <= breached(), timeout=40, interval=0.5)
        assert b.proc is None  # b stayed dead: every breach above came from a
    finally:
        b.stop()
        a.stop()


def test_partitions_kept_moved_and_returned_across_rebalances_keep_their_rows(
        broker, tmp_path: Path, unique: str):
    """A worker keeps, gives up and gets back partitions; its figures stay those of the log.

    faust revokes every partition on a rebalance and the worker reloads the ones it keeps
    from its local store, which recovery refills only past what it read before: the rows of a
    kept partition must come from the store. A partition that moved away and back is
    recovered whole, with the other worker's rows.
    """
    cfg = topic_config(unique, partitions=PARTITIONS)
    events_topic = cfg["events_topic"]
    history = historical_log(3000, seed=11)
    thirds = [history[:1000], history[1000:2000], history[2000:]]
    log_path = tmp_path / "chat.jsonl"
    log_path.write_bytes(b"".join(v + b"\n" for _, v in history))
    a = WorkerProcess(tmp_path, broker.url, cfg, FAST_GROUP, name="a").start()
    b = WorkerProcess(tmp_path, broker.url, cfg, FAST_GROUP, name="b")
    try:
        wait_for(lambda: owned(a) == list(range(PARTITIONS)), timeout=30)
        run(produce(broker.url, events_topic, thirds[0]))
        wait_for(lambda: handled(a) >= len(thirds[0]), timeout=30)

        b.start()  # a keeps some partitions (reloaded from its store) and hands over the rest
        kept, _ = wait_for(lambda: split(a, b), timeout=30)
        run(produce(broker.url, events_topic, thirds[1]))
        wait_for(lambda: handled(a) + handled(b) >= len(thirds[0]) + len(thirds[1]), timeout=30)
        assert handled(b) > 0

        b.stop()  # a gets the moved partitions back, with b's rows
        wait_for(lambda: owned(a) == list(range(PARTITIONS)), timeout=30)
        run(produce(broker.url, events_topic, thirds[2]))

        assert_figures_become_the_backfill(a, log_path)
        # every partition a kept was reloaded with rows, not empty
        assert all(last_restored(a, p) for p in kept)
    finally:
        b.stop()
        a.stop()


async def _highwaters(broker_url: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(broker_url))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {tp.partition: off for tp, off in ends.items()}


