"""Issue 18 (5): 100,000 bad and borderline events through the real worker.

A seeded generator mixes malformed JSON, oversized values, wrong types, deep nesting,
invalid UTF-8 and boundary values (some of which are valid events). Every message is either
applied or dead-lettered with a reason, the worker never stops, and
``chatwatch_dead_letters_total`` equals the number of records in the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from stream.kafka import bootstrap_servers
from stream.testing import WorkerProcess, topic_config, wait_for
from tests.chaos.cluster import read_topic

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

COUNT = int(os.environ.get("FUZZ_EVENTS") or 100_000)
T0 = 1794362400000


def _valid(rng: random.Random, i: int) -> dict[str, object]:
    return {"event_id": f"f{i}", "ts": T0 + rng.randrange(86_400_000), "shop_id": "shop-f",
            "buyer_id": f"b{rng.randrange(500)}", "type": "message", "sender": "buyer",
            "text": "在吗"}


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


BOUNDARY_TS: tuple[object, ...] = (0, -1, 2**63 - 1, 2**63, 2**64, -(2**63), 1.5, "1e3", "",
                                   "2026-11-11T10:00:00", "2026-11-11T10:00:00+08:00",
                                   "2026-02-30T10:00:00Z", "9999-12-31T23:59:59.999999+14:00",
                                   "0001-01-01T00:00:00Z", True, None, [], {})
WRONG_TYPES: tuple[object, ...] = (1, 1.0, True, None, [], {}, ["x"], {"x": 1}, "")


def messages(seed: int, count: int) -> Iterator[tuple[str, bytes, bytes]]:
    """(kind, key, value) for ``count`` messages."""
    rng = random.Random(seed)
    kinds = ("malformed", "oversized", "wrong_type", "nested", "utf8", "boundary", "missing")
    weights = (20, 1, 25, 5, 15, 25, 9)
    for i in range(count):
        kind = rng.choices(kinds, weights)[0]
        key = f"k{rng.randrange(5000)}".encode()
        event = _valid(rng, i)
        if kind == "malformed":
            raw = json.dumps(event, ensure_ascii=False).encode()
            cut = rng.randrange(len(raw))
            value = rng.choice((raw[:cut], raw[:cut] + b"}}", raw.replace(b":", b"=", 1),
                                b"\x00" * rng.randrange(1, 50), raw + b"garbage", b"{,}",
                                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))))
        elif kind == "oversized":
            event["text"] = "大" * rng.randrange(100_000, 300_000)
            value = json.dumps(event, ensure_ascii=False).encode()
        elif kind == "wrong_type":
            field = rng.choice(("event_id", "ts", "shop_id", "buyer_id", "type", "sender",
                                "text", "agent_id", "conversation_id", "platform",
                                "buyer_kind"))
            event[field] = rng.choice(WRONG_TYPES)
            value = json.dumps(event).encode()
        elif kind == "nested":
            depth = rng.choice((64, 1000, 10_000, 100_000))
            value = rng.choice((_nested(depth), b"[" * depth + b"]" * depth,
                                json.dumps(event).encode()[:-1] + b',"x":' + _nested(depth)
                                + b"}"))
        elif kind == "utf8":
            raw = json.dumps(event, ensure_ascii=False).encode()
            bad = rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                              b"\xe2\x82"))
            at = raw.index("在".encode())
            value = raw[:at] + bad + raw[at:]
        elif kind == "boundary":
            choice = rng.randrange(4)
            if choice == 0:
                event["ts"] = rng.choice(BOUNDARY_TS)
            elif choice == 1:
                event["shop_id"] = rng.choice(("", " ", "s" * 10_000, "店" * 1000, "\u0000"))
            elif choice == 2:
                event["text"] = rng.choice(("", "\u200b" * 5000, "🙂" * 20_000, "a" * 65_536))
            else:
                event["type"] = rng.choice(("read", "end", "transfer", "order", "MESSAGE", ""))
            value = json.dumps(event, ensure_ascii=False).encode()
        else:  # missing
            del event[rng.choice(("event_id", "ts", "shop_id", "buyer_id", "type"))]
            value = json.dumps(event).encode()
        yield kind, key, value


async def produce_all(broker_url: str, topic: str, items: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(broker_url), linger_ms=20,
                                max_request_size=4 * 1024 * 1024, max_batch_size=1024 * 1024)
    await producer.start()
    try:
        for _, key, value in items:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def test_a_hundred_thousand_bad_events_are_dead_lettered_or_applied(broker, tmp_path: Path,
                                                                     unique: str) -> None:
    seed = int(os.environ.get("FUZZ_SEED") or 18)
    items = list(messages(seed, COUNT))
    kinds = Counter(kind for kind, _, _ in items)
    print(f"\nFUZZ seed={seed} events={COUNT} kinds={dict(kinds)}")
    cfg = topic_config(unique)
    with WorkerProcess(tmp_path, broker.url, cfg) as worker:
        asyncio.run(produce_all(broker.url, cfg["events_topic"], items))

        def taken() -> float:
            m = worker.metrics()
            return sum(m.get(("chatwatch_events_total", (("outcome", o),)), 0)
                       for o in ("processed", "invalid", "duplicate"))

        wait_for(lambda: taken() >= COUNT, timeout=240, interval=1)
        assert taken() == COUNT  # every message applied, dropped as a duplicate or dead-lettered
        invalid = worker.sample("chatwatch_events_total", outcome="invalid")
        dead_letters = worker.sample("chatwatch_dead_letters_total")
        dlq = asyncio.run(read_topic(broker.url, cfg["dlq_topic"], cfg["partitions"]))
        assert invalid == dead_letters == len(dlq)
        assert all(dict(m.headers).get("reason", b"").strip() for m in dlq)
        # the malformed, wrong-typed, nested, invalid-UTF-8 and incomplete ones are all in it
        assert len(dlq) >= kinds["malformed"] + kinds["utf8"] + kinds["missing"]
        assert (worker.sample("chatwatch_events_total", outcome="processed") or 0) > 0
        assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
        health = worker.get_json("/health")
        assert health is not None and health["partitions"]
