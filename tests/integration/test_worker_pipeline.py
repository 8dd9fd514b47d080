"""Issue 2: a real worker on the embedded broker: DLQ records and event counters."""

from __future__ import annotations

import json

import pytest

from stream.testing import WorkerProcess, consume, produce, run, topic_config, wait_for

pytestmark = pytest.mark.slow


def _msg(i, **kw):
    base = {"event_id": f"e{i}", "ts": 1794362400000 + i * 1000, "shop_id": "shop-1",
            "buyer_id": f"b{i % 3}", "type": "message", "sender": "buyer", "text": "在吗"}
    base.update(kw)
    return base


def test_valid_invalid_and_duplicate_events(broker, tmp_path, unique):
    cfg = topic_config(unique)
    valid = [_msg(i) for i in range(10)]
    duplicates = [valid[0], valid[5]]
    invalid = [
        (b"k1", b"{not json"),
        (b"k2", json.dumps({"event_id": "x", "ts": "yesterday", "shop_id": "s", "buyer_id": "b",
                            "type": "message", "sender": "buyer", "text": "hi"}).encode()),
        (b"k3", json.dumps({"event_id": "y", "ts": 1, "shop_id": "s", "buyer_id": "b",
                            "type": "message", "sender": "agent", "text": "no agent id"}).encode()),
        (b"k4", b"\xff\xfe\x00"),
    ]
    with WorkerProcess(tmp_path, broker.url, cfg) as worker:
        run(produce(broker.url, cfg["events_topic"], [*valid, *invalid, *duplicates]))
        wait_for(lambda: (worker.sample("chatwatch_events_total", outcome="processed") or 0)
                 + (worker.sample("chatwatch_events_total", outcome="invalid") or 0)
                 + (worker.sample("chatwatch_events_total", outcome="duplicate") or 0) >= 16,
                 timeout=30)
        assert worker.sample("chatwatch_events_total", outcome="processed") == 10
        assert worker.sample("chatwatch_events_total", outcome="invalid") == 4
        assert worker.sample("chatwatch_events_total", outcome="duplicate") == 2
        dlq = run(consume(broker.url, cfg["dlq_topic"], expect=4))
        assert sorted(m.value for m in dlq) == sorted(v for _, v in invalid)
        reasons = {m.key: dict(m.headers)["reason"].decode() for m in dlq}
        assert reasons[b"k1"].startswith("not JSON")
        assert "`$.ts`" in reasons[b"k2"]
        assert "agent_id" in reasons[b"k3"]
        assert reasons[b"k4"].startswith("not JSON")
        # the worker is still alive and processing after bad input
        run(produce(broker.url, cfg["events_topic"], [_msg(100)]))
        wait_for(lambda: worker.sample("chatwatch_events_total", outcome="processed") == 11)
        assert b"chatwatch_events_total" in (worker.get("/metrics") or b"")
