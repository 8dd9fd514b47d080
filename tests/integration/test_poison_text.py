"""Poison text live: a 280 KB agent message is one capped record; nothing stops or is lost."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from stream.records import MAX_VIOLATION_BYTES
from stream.testing import WorkerProcess, consume, produce, run, topic_config, wait_for
from tests.integration.live import message, midday_zone, now_ms

pytestmark = pytest.mark.slow

POISON = "微信 abc123 " * 20_000  # about 280 KB, under Kafka's 1 MB message limit
REPO = Path(__file__).resolve().parents[2]


def test_poison_message_is_one_capped_record_and_other_breaches_stay_on_time(
        broker, tmp_path, unique):
    zone = midday_zone()
    cfg = topic_config(unique, shops={"shop-p": {"timezone": zone},
                                      "shop-q": {"timezone": zone}})
    with WorkerProcess(tmp_path, broker.url, cfg) as worker:
        now = now_ms()
        # shop-q's waits fall due in about 4 s, while poison messages keep arriving for shop-p
        waits = [message(now - 296_000, "shop-q", f"b{i}", "buyer", "在吗") for i in range(20)]
        poison = [message(now, "shop-p", "bp", "buyer", "在吗"),
                  *(message(now + i, "shop-p", "bp", "agent", POISON, "agent-x")
                    for i in range(1, 4))]
        run(produce(broker.url, cfg["events_topic"], [*waits, *poison]))
        records = run(consume(broker.url, cfg["violations_topic"], expect=3, timeout=30))
        assert len(records) == 3, worker.tail()
        for record in records:
            assert len(record.value) < MAX_VIOLATION_BYTES
            body = json.loads(record.value)
            assert body["capped"] is True and body["total"] > 40
            assert body["shop_id"] == "shop-p" and "abc123" not in body["text"]
            assert len([v for v in body["violations"] if v["category"] == "wechat"]) <= 20
        # 20 waits, each breaching PDD's 3-minute KPI at once and the 5-minute one in ~4 s
        breaches = run(consume(broker.url, cfg["breaches_topic"], expect=40, timeout=30))
        assert len([b for b in breaches if json.loads(b.value)["kpi"] == "pdd_5min"]) == 20
        assert worker.proc is not None and worker.proc.poll() is None  # still running
        latencies = wait_for(lambda: worker.sample("chatwatch_breach_latency_seconds_count"))
        assert latencies == 20
        assert worker.sample("chatwatch_breach_latency_seconds_bucket", le="1.0") == 20
        assert worker.sample("chatwatch_violations_total", shop="shop-p", category="wechat",
                             severity="critical") == 3


def test_a_worker_that_dies_before_its_record_is_out_handles_the_message_again(
        broker, tmp_path, unique):
    cfg = topic_config(unique)
    env = {"CHATWATCH_TEST_FAIL_TOPIC": cfg["violations_topic"],
           "CHATWATCH_TEST_FAIL_MARKER": str(tmp_path / "failed-once"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "tests.integration.faulty_worker"]
    ts = now_ms()
    events = [message(ts, "shop-c", "b1", "buyer", "怎么联系你们"),
              message(ts + 1000, "shop-c", "b1", "agent", "加我微信 wx_abc123", "agent-c")]
    faulty = WorkerProcess(tmp_path, broker.url, cfg, env=env, command=command, name="w1")
    with faulty:
        run(produce(broker.url, cfg["events_topic"], events))
        wait_for(lambda: (tmp_path / "failed-once").exists(), timeout=30)
        deadline = time.monotonic() + 60
        while faulty.proc is not None and faulty.proc.poll() is None:
            assert time.monotonic() < deadline, "the worker went on after losing a record"
            time.sleep(0.2)
    assert run(consume(broker.url, cfg["violations_topic"], timeout=2)) == []
    with WorkerProcess(tmp_path, broker.url, cfg, env=env, command=command, name="w2"):
        records = run(consume(broker.url, cfg["violations_topic"], expect=1, timeout=40))
    assert [json.loads(r.value)["id"] for r in records] == [events[1]["event_id"]]
