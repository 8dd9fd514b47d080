"""The production store: a worker on ``rocksdb://`` keeps its conversations across a restart."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stream.testing import WorkerProcess, produce, run, topic_config, wait_for

pytestmark = pytest.mark.slow

T0 = 1794362400000  # 2026-11-11 10:00 +08:00


def _events(shop: str) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for i in range(6):  # six buyers ask; four get an answer, one late, two never
        events.append({"event_id": f"q{i}", "ts": T0 + i * 1000, "shop_id": shop,
                       "buyer_id": f"b{i}", "type": "message", "sender": "buyer",
                       "text": "在吗"})
    for i, delay in enumerate((5_000, 12_000, 40_000, 400_000)):
        events.append({"event_id": f"a{i}", "ts": T0 + i * 1000 + delay, "shop_id": shop,
                       "buyer_id": f"b{i}", "type": "message", "sender": "agent",
                       "agent_id": "a1", "text": "您好"})
    return events


def _processed(worker: WorkerProcess) -> float:
    return worker.sample("chatwatch_events_total", outcome="processed") or 0.0


def test_rocksdb_worker_restores_its_figures_after_a_restart(broker, tmp_path: Path,
                                                              unique: str):
    cfg = topic_config(unique)
    env = {"CHATWATCH_STORE": "rocksdb://"}
    events = _events("shop-rocks")
    first = WorkerProcess(tmp_path, broker.url, cfg, env, name="rocks").start()
    try:
        run(produce(broker.url, cfg["events_topic"], events))
        wait_for(lambda: _processed(first) == len(events), timeout=30)
        # settled once the sweeper has breached the two waits never answered (their deadlines
        # are long past): three breached with the late reply
        figures = wait_for(lambda: [f for f in first.figures() if f["waits_breached"] == 3],
                           timeout=10)
        assert figures[0]["consultations"] == 6
        assert first.stop(signal.SIGTERM, timeout=30) == 0, first.tail()
    finally:
        first.stop()
    data_dir = tmp_path / "rocks-data"
    tables = [p for p in data_dir.rglob("*") if p.is_dir() and p.name.endswith(".db")]
    assert tables, f"no RocksDB table under {data_dir}: {sorted(data_dir.rglob('*'))[:20]}"

    # same name, same data dir: the table comes back from RocksDB (and the changelog's tail)
    with WorkerProcess(tmp_path, broker.url, cfg, env, name="rocks") as second:
        wait_for(lambda: second.figures() == figures, timeout=30)
        run(produce(broker.url, cfg["events_topic"],
                    [{"event_id": "late", "ts": T0 + 500_000, "shop_id": "shop-rocks",
                      "buyer_id": "b4", "type": "message", "sender": "agent",
                      "agent_id": "a1", "text": "抱歉久等"}]))
        wait_for(lambda: _processed(second) >= 1, timeout=20)
        # only the new event was read, and it found b4's wait in the restored state
        assert _processed(second) == 1
        assert (second.sample("chatwatch_events_total", outcome="duplicate") or 0) == 0
        after = wait_for(lambda: [f for f in second.figures() if f["responses"] == 5], timeout=10)
        assert after[0]["consultations"] == 6
        assert after[0]["waits_breached"] == figures[0]["waits_breached"]
