"""The worker on Apache Kafka (the ``kafka`` fixture: one KRaft broker for the session).

The rest of the suite runs on the embedded broker; these tests run aiokafka and
``chatwatch worker`` on the broker production runs: its figures and records equal a backfill
of what it read.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from stream.kafka_local import KafkaCluster
from stream.testing import WorkerProcess, consume, produce, run, topic_config, wait_for
from tests.integration.test_live_equals_backfill import COUNTERS, SHOPS, backfill, seeded_log

pytestmark = pytest.mark.slow

# Apache Kafka refuses a session timeout below its group.min.session.timeout.ms (6 s by
# default) with InvalidSessionTimeoutError, and the worker then never joins: the 3 s that test
# workers use on the embedded broker (stream/testing.py) is too short here. Kafka hands out
# partitions as soon as the group has formed, so 6 s costs nothing at start-up.
ON_KAFKA = {"CHATWATCH_SESSION_TIMEOUT_SECONDS": "6"}


def records(msgs: list[Any]) -> list[dict[str, Any]]:
    return sorted((json.loads(m.value) for m in msgs), key=lambda r: r["id"])


async def group_round(bootstrap: str, topic: str, group: str, n: int) -> dict[str, Any]:
    """Two consumers of one group share ``topic``'s partitions and read ``n`` records once."""
    consumers = [AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                  auto_offset_reset="earliest", enable_auto_commit=False,
                                  session_timeout_ms=6000, heartbeat_interval_ms=500)
                 for _ in range(2)]
    for consumer in consumers:
        await consumer.start()
    seen: list[list[bytes]] = [[], []]
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while sum(map(len, seen)) < n or not all(c.assignment() for c in consumers):
            assert loop.time() < deadline, f"read {sum(map(len, seen))} of {n}"
            batches = await asyncio.gather(*(c.getmany(timeout_ms=200) for c in consumers))
            for i, batch in enumerate(batches):
                seen[i].extend(m.value for msgs in batch.values() for m in msgs)
        for consumer in consumers:
            await consumer.commit()
        return {"assignments": [{tp.partition for tp in c.assignment()} for c in consumers],
                "seen": seen}
    finally:
        for consumer in consumers:
            await consumer.stop()


async def committed_lag(bootstrap: str, topic: str, partitions: int, group: str) -> int:
    """Records of ``topic`` past ``group``'s committed offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        return sum([ends[tp] - (await consumer.committed(tp) or 0) for tp in tps])
    finally:
        await consumer.stop()


def test_aiokafka_produces_consumes_and_shares_a_group(kafka: KafkaCluster,
                                                       unique: str) -> None:
    """aiokafka, the project's client: produce, consume, a group of two, committed offsets."""
    topic, group = f"clients.{unique}", f"group-{unique}"

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 4, 1)])
        finally:
            await admin.close()

    run(create())
    sent = [(f"k{i % 50}".encode(), f"v{i}".encode()) for i in range(2000)]
    assert run(produce(kafka.url, topic, sent)) == len(sent)
    result = run(group_round(kafka.bootstrap, topic, group, len(sent)))
    a, b = result["assignments"]
    assert a and b and not a & b and a | b == {0, 1, 2, 3}  # the group split the partitions
    assert sorted(result["seen"][0] + result["seen"][1]) == sorted(v for _, v in sent)
    assert run(committed_lag(kafka.bootstrap, topic, 4, group)) == 0


def test_worker_on_apache_kafka_publishes_what_backfill_reports(kafka: KafkaCluster,
                                                                tmp_path: Path,
                                                                unique: str) -> None:
    log = seeded_log(29, 400)
    cfg = topic_config(unique, shops=SHOPS)
    expected = backfill(log, cfg, tmp_path)
    assert expected["breaches"] and expected["violations"]  # the log exercises both
    with WorkerProcess(tmp_path, kafka.url, cfg, env=ON_KAFKA) as worker:
        run(produce(kafka.url, cfg["events_topic"], log))
        breaches = run(consume(kafka.url, cfg["breaches_topic"],
                               expect=len(expected["breaches"]), timeout=60))
        violations = run(consume(kafka.url, cfg["violations_topic"],
                                 expect=len(expected["violations"]), timeout=30))
        wait_for(lambda: worker.figures() == expected["report"], timeout=30,
                 what="the worker's figures equal the backfill report")
        metrics = worker.metrics()
    assert records(breaches) == expected["breaches"]
    assert records(violations) == expected["violations"]
    live = {key: value for key, value in metrics.items()
            if key[0].removesuffix("_total").removesuffix("_bucket").removesuffix("_count")
            .removesuffix("_sum") in COUNTERS and not key[0].endswith("_created")}
    # sums of response times are floats added in another order: equal to rounding
    assert live == pytest.approx(expected["counters"], rel=1e-12)
