"""The peers of ``make bench`` on the embedded broker, run exactly as the bench runs them.

Each peer app runs as a child process over a small generated topic; ``run_peer`` gives it a
rate only when its final counters equal the known counts of the produced records, and refuses
one whose counters differ. Quix Streams joins a consumer group first (~20 s here).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

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


def test_every_peer_counts_the_generated_topic(broker, generated):
    topic, records, want = generated
    runs = (("bytewax", ()), ("quix", ()), ("quix", ("--no-rekey",)))
    # side by side: each mostly waits for its consumer group to form
    with ThreadPoolExecutor(len(runs)) as pool:
        results = dict(zip(runs, pool.map(
            lambda run: run_peer(run[0], broker.bootstrap, topic, len(records), want,
                                 args=run[1], timeout=240), runs), strict=True))
    for run, result in results.items():
        assert result.get("error") is None, run
        assert result["events_per_s"] > 0, run


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
