"""Issue 34: a full disk under the RocksDB store stops the worker, naming the cause.

Before, the error ended faust's fetcher and nothing else: the process stayed up reading
nothing, ``/metrics`` answered 200 (so the liveness probe passed) and ``/health`` did not
say why.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agents.store_failure import EXIT_STORE_FAILED
from stream.testing import WorkerProcess, produce, run, topic_config, wait_for
from tests.integration.live import midday_zone, now_ms

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _ask(i: int) -> dict[str, Any]:
    # stamped now, in counted hours: no wait is due during the test, so only the stream
    # writes rows (the path whose failure left the process up)
    return {"event_id": f"q{i}", "ts": now_ms(), "shop_id": "shop-disk",
            "buyer_id": f"b{i}", "type": "message", "sender": "buyer", "text": "在吗"}


def test_full_disk_stops_the_worker_and_health_names_it(broker: Any, tmp_path: Path,
                                                         unique: str) -> None:
    cfg = topic_config(unique, shops={"shop-disk": {"timezone": midday_zone()}})
    full = tmp_path / "disk-is-full"
    env = {"CHATWATCH_STORE": "rocksdb://", "CHATWATCH_TEST_DISK_FULL": str(full),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    worker = WorkerProcess(tmp_path, broker.url, cfg, env, name="full",
                           command=[sys.executable, "-m", "tests.integration.full_disk_worker"])
    with worker:
        run(produce(broker.url, cfg["events_topic"], [_ask(i) for i in range(3)]))
        wait_for(lambda: worker.sample("chatwatch_events_total", outcome="processed") == 3,
                 timeout=30)
        full.write_text("no space left\n", encoding="utf-8")
        run(produce(broker.url, cfg["events_topic"], [_ask(3)]))
        said: list[dict[str, Any]] = []
        assert worker.proc is not None
        deadline = time.monotonic() + 30
        while worker.proc.poll() is None and time.monotonic() < deadline:
            body = worker.get("/health", timeout=1.0)
            if body:
                health = json.loads(body)
                if health.get("status") == "store failed":
                    said.append(health)
            time.sleep(0.05)
        code = worker.proc.poll()
        log = worker.tail(200)
    assert code == EXIT_STORE_FAILED, f"exit code {code}:\n{log}"
    assert said, f"/health never named the store failure:\n{log}"
    assert "disk full" in said[0]["reason"] and "CHATWATCH_DATA_DIR" in said[0]["reason"]
    last = [line for line in log.splitlines() if "exiting with code" in line]
    assert last and "disk full" in last[-1] and "No space left on device" in last[-1], log
