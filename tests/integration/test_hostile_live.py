"""Issue 34 through a real broker and worker process: hostile records amid normal traffic,
and a crash with hundreds of uncommitted events of one conversation.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stream.backfill import run_backfill
from stream.config import settings_from_mapping
from stream.inputs import read_events
from stream.run import daytime_zone
from stream.testing import WorkerProcess, consume, produce, run, topic_config, wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

ENDPOINTS = ("/metrics", "/figures", "/health", "/api/summary", "/api/agents", "/api/waits",
             "/api/violations")


def _count(worker: WorkerProcess, outcome: str) -> float:
    return worker.sample("chatwatch_events_total", outcome=outcome) or 0.0


def _message(eid: str, ts: int, buyer: str, sender: str = "buyer") -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": eid, "ts": ts, "shop_id": "shop-1", "buyer_id": buyer,
                            "type": "message", "sender": sender,
                            "text": "在吗" if sender == "buyer" else "您好，在的"}
    if sender == "agent":
        body["agent_id"] = "ag-1"
    return body


def _traffic(start: int, buyers: int) -> list[dict[str, Any]]:
    """Each buyer asks and is answered 20 s later: no wait may breach."""
    out = []
    for i in range(buyers):
        out.append(_message(f"q{i}", start + i * 1000, f"b{i}"))
        out.append(_message(f"a{i}", start + i * 1000 + 20_000, f"b{i}", "agent"))
    return out


def _backfill(cfg: dict[str, Any], events: list[dict[str, Any]], path: Path) -> list[Any]:
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events),
                    encoding="utf-8")
    settings = settings_from_mapping(cfg, {})
    return [r.as_dict() for r in run_backfill(read_events([str(path)]), settings).report()]


def _serves_everything(worker: WorkerProcess) -> None:
    for path in ENDPOINTS:
        body = worker.get(path)
        assert body is not None, f"{path} did not answer 200:\n{worker.tail()}"


def test_a_tombstone_and_events_from_2100_and_9999_bend_nothing(broker, tmp_path: Path,
                                                                  unique: str):
    cfg = topic_config(unique, default_timezone=daytime_zone())
    now = int(time.time() * 1000)
    normal = _traffic(now - 90_000, 12)
    hostile: list[Any] = [
        (b"shop-1:b0", None),  # a tombstone
        (b"shop-1:b1", json.dumps(_message("x2100", 0, "b1") | {
            "ts": "2100-01-01T00:00:00Z"}).encode()),
        (b"shop-1:b2", json.dumps({"event_id": "x9999", "ts": "9999-12-31T23:59:59Z",
                                   "shop_id": "shop-1", "buyer_id": "b2",
                                   "type": "read"}).encode()),
    ]
    with WorkerProcess(tmp_path, broker.url, cfg, name="first") as worker:
        run(produce(broker.url, cfg["events_topic"], normal[:10]))
        run(produce(broker.url, cfg["events_topic"], hostile))
        run(produce(broker.url, cfg["events_topic"], normal[10:]))
        wait_for(lambda: _count(worker, "processed") >= len(normal)
                 and _count(worker, "invalid") >= len(hostile), timeout=40)
        time.sleep(1.5)  # sweeps pass: a poisoned watermark would breach every wait now
        assert worker.proc is not None and worker.proc.poll() is None
        _serves_everything(worker)
        expected = _backfill(cfg, normal, tmp_path / "valid.jsonl")
        assert expected and expected[0]["waits"] == 12
        wait_for(lambda: worker.figures() == expected, timeout=20)
        dlq = run(consume(broker.url, cfg["dlq_topic"], expect=3, timeout=20))
        reasons = sorted(dict(m.headers)["reason"].decode() for m in dlq)
        assert len(reasons) == 3
        assert any("tombstone" in r for r in reasons)
        assert any(r.startswith("event time: ts 2100-01-01") for r in reasons)
        assert any("9999-12-31" in r for r in reasons)
    # and after a restart: the state restored from the changelog is as clean
    with WorkerProcess(tmp_path, broker.url, cfg, name="second") as again:
        wait_for(lambda: again.figures() == expected, timeout=30)
        time.sleep(1.0)
        _serves_everything(again)
    breaches = run(consume(broker.url, cfg["breaches_topic"], timeout=3))
    assert breaches == []


def test_sigkill_with_hundreds_of_uncommitted_events_of_one_conversation(broker, tmp_path: Path,
                                                                         unique: str):
    cfg = topic_config(unique, default_timezone=daytime_zone())
    now = int(time.time() * 1000)
    start = now - 700 * 2_000
    # 700 events of one conversation, buyer and agent in turn 2 s apart: 350 waits
    events = [_message(f"e{i}", start + i * 2_000, "b1", "buyer" if i % 2 == 0 else "agent")
              for i in range(700)]
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    first = WorkerProcess(tmp_path, broker.url, cfg, name="first", env=env,
                          command=[sys.executable, "-m", "tests.integration.uncommitted_worker"])
    first.start()
    try:
        run(produce(broker.url, cfg["events_topic"], events))
        wait_for(lambda: _count(first, "processed") == len(events), timeout=40)
        expected = _backfill(cfg, events, tmp_path / "log.jsonl")
        assert expected[0]["waits"] == 350
        wait_for(lambda: first.figures() == expected, timeout=10)
        time.sleep(0.5)  # the last batch's rows reach the changelog
    finally:
        first.kill()
    with WorkerProcess(tmp_path, broker.url, cfg, name="second") as second:
        # nothing was committed: the successor reads all 700 again, and applies none twice
        wait_for(lambda: _count(second, "duplicate") >= len(events), timeout=40)
        assert _count(second, "processed") == 0
        assert second.figures() == expected
