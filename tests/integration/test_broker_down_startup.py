"""Issue 29: a worker starts, processes events and is healthy while one of three brokers is down.

A broker that was just killed stays in the cluster's metadata until the controller fences it
(``broker.session.timeout.ms``, 9 s by default). A worker started in that time used to die at
start-up (exit 1, ``NodeNotReadyError``): the changelog check and faust's topic declarations
each sent their request to one broker of the metadata - the dead one, one time in three -
and the supervisor's restarts died the same way until the broker was back, although
replication 3 with ``min.insync.replicas`` 2 keeps every topic writable on the two brokers up.

Here a worker is started right after one of three brokers was SIGKILLed, and stays down:
the start-up checks are run again and again meanwhile (each would have failed one time in
three), and with a frozen broker among the bootstrap servers; then the worker must own its
partitions, process every event produced and answer ``/health`` with 200. The cluster is
this test's own (one broker per session elsewhere).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from stream.config import settings_from_mapping
from stream.errors import BrokerError
from stream.kafka import check_changelog, ensure_topics
from stream.kafka_local import KafkaCluster, install
from stream.testing import WorkerProcess, produce, run, topic_config, wait_for
from tests.chaos.brokers import OVERRIDES

pytestmark = pytest.mark.slow

EVENTS = 12
FENCED_AFTER = 15  # s: the brokers' session timeout here (9 s by default)


def _health(worker: WorkerProcess) -> tuple[int, dict[str, Any]] | None:
    """``/health``'s status code and body; None while the worker does not answer."""
    try:
        with urllib.request.urlopen(worker.url + "/health", timeout=5) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


def _events(now_ms: int) -> list[dict[str, Any]]:
    return [{"event_id": f"e{i}", "ts": now_ms + i, "shop_id": "shop-1", "buyer_id": f"b{i}",
             "type": "message", "sender": "buyer", "text": "在吗"} for i in range(EVENTS)]


async def _start_up_checks(settings: Any, url: str, rounds: int) -> None:
    """The worker's start-up checks, ``rounds`` times (each picks its brokers anew)."""
    for _ in range(rounds):
        await ensure_topics(settings, url)
        await check_changelog(settings, url)


def test_worker_starts_and_processes_with_one_of_three_brokers_down(tmp_path, unique):
    install(quiet=True)
    cfg = topic_config(unique, replication_factor=3)
    # the killed broker stays listed (unfenced) long enough for the start-up checks below
    overrides = {**OVERRIDES, "broker.session.timeout.ms": str(FENCED_AFTER * 1000)}
    cluster = KafkaCluster(tmp_path / "kafka", 3, overrides=overrides)
    cluster.start(timeout=120)
    try:
        # every topic the worker needs exists, replicated three times: created with all
        # brokers up, as by any worker before the outage
        first = WorkerProcess(tmp_path, cluster.url, cfg, name="before")
        try:
            first.start(timeout=90)
        finally:
            first.stop()
        settings = settings_from_mapping(cfg, {})

        started = time.monotonic()
        assert cluster.stop_node(0, sig=signal.SIGKILL) is not None
        # still in the metadata (not fenced yet): before the fix one check in three failed
        run(_start_up_checks(settings, cluster.url, rounds=6))
        assert time.monotonic() - started < FENCED_AFTER, "the broker was fenced meanwhile"
        # a bootstrap broker that accepts connections and never answers (frozen) costs its
        # time-out, then the next one is asked (aiokafka shuffles them: asked a few times)
        with socket.socket() as frozen:
            frozen.bind(("127.0.0.1", 0))
            frozen.listen(8)
            url = f"kafka://127.0.0.1:{frozen.getsockname()[1]};{cluster.bootstrap}"
            for _ in range(3):
                run(check_changelog(settings, url.replace(",", ";"), timeout=6))

        worker = WorkerProcess(tmp_path, cluster.url, cfg, name="during")
        try:
            worker.start(timeout=90)
            run(produce(cluster.url, cfg["events_topic"], _events(int(time.time() * 1000))))
            wait_for(lambda: worker.sample("chatwatch_events_total", outcome="processed")
                     == EVENTS, timeout=60, what=f"{EVENTS} events processed")
            health = wait_for(lambda: (h := _health(worker)) and h[0] == 200 and h,
                              timeout=30, what="/health 200")
            assert health[1]["status"] == "ok"
            assert health[1]["partitions"] == [0, 1, 2, 3]
            assert cluster.nodes[0].pid is None, "the killed broker must still be down"
        finally:
            worker.stop()
        log = worker.log_path.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in log, worker.tail(80)
    finally:
        cluster.stop(timeout=10)


def test_whole_cluster_down_is_one_clear_line(tmp_path, unique):
    """No broker answering is still reported at once, as before: one line, exit code 2."""
    cluster = KafkaCluster(tmp_path / "kafka", 3)  # described, never started: nothing listens
    settings = settings_from_mapping(topic_config(unique), {})
    started = time.monotonic()
    with pytest.raises(BrokerError, match=r"^cannot reach the Kafka broker at kafka://"):
        asyncio.run(check_changelog(settings, cluster.url))
    assert time.monotonic() - started < 10
