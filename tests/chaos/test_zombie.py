"""Issue 18 (2): a worker that wakes up after its partitions moved writes nothing for them.

Worker b holds open waits, is stopped (SIGSTOP) past its session timeout, its partitions move
to worker a, which applies the replies that arrived meanwhile (in time: no breach). Then b
gets SIGCONT: its wall clock has jumped past every deadline and it still believes it owns
the partitions; unfenced, its sweeper would declare the answered waits breached and write
their rows. With the write fence it exits (75) saying why, and nothing in the changelog or
the breaches topic was written after it woke up.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from stream.run import daytime_zone
from stream.testing import WorkerProcess, produce, run, topic_config, wait_for
from tests.chaos.cluster import read_topic

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

PARTITIONS = 4
ENV = {"CHATWATCH_SESSION_TIMEOUT_SECONDS": "3"}


def partition_of(key: bytes) -> int:
    every = list(range(PARTITIONS))
    return int(DefaultPartitioner()(key, every, every))


def owned(worker: WorkerProcess) -> list[int]:
    health = worker.get_json("/health")
    return list(health["partitions"]) if health else []


def processed(worker: WorkerProcess) -> float:
    return worker.sample("chatwatch_events_total", outcome="processed") or 0.0


def test_a_zombie_worker_writes_nothing_for_partitions_it_lost(broker, tmp_path: Path,
                                                                unique: str) -> None:
    zone = daytime_zone()
    cfg = topic_config(unique, partitions=PARTITIONS,
                       platforms={"pdd": {"window_seconds": 8}},
                       shops={"shop-z": {"timezone": zone}})
    a = WorkerProcess(tmp_path, broker.url, cfg, ENV, name="a").start()
    b = WorkerProcess(tmp_path, broker.url, cfg, ENV, name="b")
    try:
        b.start()
        wait_for(lambda: owned(a) and owned(b)
                 and sorted(owned(a) + owned(b)) == list(range(PARTITIONS)), timeout=40)
        b_parts = set(owned(b))
        convs = [f"shop-z:buyer-{i}" for i in range(200)
                 if partition_of(f"shop-z:buyer-{i}".encode()) in b_parts][:12]
        now = int(time.time() * 1000)
        questions = [{"event_id": f"q-{c}", "ts": now, "shop_id": "shop-z",
                      "buyer_id": c.split(":")[1], "type": "message", "sender": "buyer",
                      "text": "在吗"} for c in convs]
        run(produce(broker.url, cfg["events_topic"], questions))
        wait_for(lambda: processed(b) >= len(questions), timeout=20)
        time.sleep(0.5)  # b's rows and offsets out
        b.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        replies = [{**q, "event_id": f"r-{q['buyer_id']}", "ts": now + 4000, "sender": "agent",
                    "agent_id": "a1", "text": "在的"} for q in questions]
        run(produce(broker.url, cfg["events_topic"], replies))
        # b's partitions move to a, which applies the replies in time
        wait_for(lambda: owned(a) == list(range(PARTITIONS)), timeout=40)
        wait_for(lambda: processed(a) >= len(replies), timeout=30)
        wait_for(lambda: time.time() * 1000 > now + 8000 + 2000, timeout=20)  # deadlines past
        woke_ms = int(time.time() * 1000)
        b.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        try:
            code = b.proc.wait(timeout=20)  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            code = None  # still running: what it wrote is checked first
        time.sleep(2)  # anything b still had in flight would have landed by now

        changelog = asyncio.run(read_topic(broker.url, f"{cfg['app_id']}-conversations-changelog",
                                           PARTITIONS))
        keys = {c.encode() for c in convs}
        late = [m for m in changelog if m.key in keys and m.timestamp >= woke_ms]
        assert not late, f"{len(late)} changelog rows written after the zombie woke up"
        breaches = asyncio.run(read_topic(broker.url, cfg["breaches_topic"], PARTITIONS))
        assert [json.loads(m.value)["id"] for m in breaches] == [], "answered waits breached"
        text = b.log_path.read_text(encoding="utf-8", errors="replace")
        assert code == 75, b.tail()
        assert "exiting with code 75" in text and ("no heartbeat accepted" in text
                                                  or "the consumer group moved on" in text)
        b.proc = None
        # the survivor holds every conversation with its wait answered in time
        figures = [f for f in a.figures() if f["shop_id"] == "shop-z"]
        assert sum(f["responses"] for f in figures) == len(convs)
        assert sum(f["waits_breached"] for f in figures) == 0
    finally:
        if b.proc is not None:
            b.proc.send_signal(signal.SIGCONT)
        b.stop()
        a.stop()
