"""The peers of ``make bench`` on the embedded broker, run exactly as the bench runs them.

Each peer app runs as a child process over a small generated topic; ``run_peer`` gives it a
rate only when its final counters equal the known counts of the produced records, and refuses
one whose counters differ. Quix Streams joins a consumer group first (~20 s here).
"""

from __future__ import annotations

import asyncio

import pytest

from bench.live import create_topic, fill, realistic_events
from bench.peers import run_peer
from bench.peers.window import expected_counters

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generated(broker):
    topic = "bench.peers.events"
    records = realistic_events(20_000, seed=5)
    asyncio.run(create_topic(broker.bootstrap, topic, 4))
    assert asyncio.run(fill(broker.bootstrap, topic, records)) == len(records)
    return topic, records, expected_counters(records)


@pytest.mark.parametrize(("peer", "args"), [("bytewax", ()), ("quix", ()),
                                            ("quix", ("--no-rekey",))])
def test_peer_counts_the_generated_topic(broker, generated, peer, args):
    topic, records, want = generated
    result = run_peer(peer, broker.bootstrap, topic, len(records), want, args=args, timeout=240)
    assert result.get("error") is None
    assert result["events_per_s"] > 0


def test_a_peer_with_wrong_counters_gets_no_rate(broker, generated):
    topic, records, want = generated
    wrong = {key: [w + 1, b, r] for key, (w, b, r) in want.items()}
    result = run_peer("bytewax", broker.bootstrap, topic, len(records), wrong, timeout=240)
    assert result["events_per_s"] is None
    assert "shop-days differ" in result["error"]


def test_a_peer_that_misses_records_gets_no_rate(broker, generated):
    topic, records, want = generated
    result = run_peer("bytewax", broker.bootstrap, topic, len(records) + 1, want, timeout=240)
    assert result["events_per_s"] is None
    assert f"of {len(records) + 1:,} records" in result["error"]
