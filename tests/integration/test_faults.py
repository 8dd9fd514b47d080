"""Issue 7: a real worker process under faults.

Poison messages, SIGTERM (graceful: offsets committed, state flushed), Alertmanager down,
a worker started behind a backlog (no false breaches), and the broker going away.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from alerts.local import run_alertmanager
from stream.backfill import run_backfill
from stream.broker import EmbeddedBroker, free_port
from stream.config import Settings, settings_from_mapping
from stream.inputs import read_events
from stream.kafka import bootstrap_servers, ensure_topics
from stream.testing import WorkerProcess, consume, produce, run, topic_config, wait_for

pytestmark = pytest.mark.slow

T0 = 1794362400000  # 2026-11-11 10:00 +08:00


def _msg(i: int, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {"event_id": f"e{i}", "ts": T0 + i * 1000, "shop_id": "shop-1",
                               "buyer_id": f"b{i % 5}", "type": "message", "sender": "buyer",
                               "text": "在吗"}
    base.update(kw)
    return base


def _count(worker: WorkerProcess, outcome: str) -> float:
    return worker.sample("chatwatch_events_total", outcome=outcome) or 0.0


async def _produce_big(broker_url: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(broker_url),
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


# --- (d) poison messages --------------------------------------------------------------------


def test_poison_messages_go_to_the_dead_letter_topic(broker, tmp_path: Path, unique: str):
    cfg = topic_config(unique)
    nested = b"[" * 100_000 + b"]" * 100_000
    huge_text = json.dumps(_msg(900, text="在" * 330_000), ensure_ascii=False).encode()  # ~1 MB
    poison = [
        (b"p-garbage", bytes(range(256)) * 4),
        (b"p-nested", nested),
        (b"p-nested-obj", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        (b"p-ts-list", json.dumps(_msg(901, ts=[1, 2])).encode()),
        (b"p-buyer-int", json.dumps(_msg(902, buyer_id=42)).encode()),
        (b"p-type", json.dumps(_msg(903, type="shout")).encode()),
        (b"p-text-obj", json.dumps(_msg(904, text={"a": 1})).encode()),
        (b"p-array", b"[1, 2, 3]"),
        (b"p-empty", b""),
        (b"p-null", b"null"),
    ]
    valid = [_msg(i) for i in range(5)]
    with WorkerProcess(tmp_path, broker.url, cfg) as worker:
        run(produce(broker.url, cfg["events_topic"], valid[:2]))
        run(_produce_big(broker.url, cfg["events_topic"], [*poison, (b"p-huge", huge_text)]))
        run(produce(broker.url, cfg["events_topic"], valid[2:]))
        # the ~1 MB message is a valid event: processed, not dead-lettered
        wait_for(lambda: _count(worker, "processed") >= len(valid) + 1
                 and _count(worker, "invalid") >= len(poison), timeout=40)
        assert _count(worker, "invalid") == len(poison)
        assert _count(worker, "processed") == len(valid) + 1
        dlq = run(consume(broker.url, cfg["dlq_topic"], expect=len(poison), timeout=20))
        by_key = {m.key: m for m in dlq}
        assert set(by_key) == {k for k, _ in poison}
        for key, raw in poison:
            msg = by_key[key]
            assert msg.value == raw  # the original bytes, for replay after a fix
            headers = dict(msg.headers)
            assert headers["reason"].decode().strip()
            assert headers["source"].decode().startswith(cfg["events_topic"] + "/")
        assert b"`$.ts`" in dict(by_key[b"p-ts-list"].headers)["reason"]
        assert b"`$.buyer_id`" in dict(by_key[b"p-buyer-int"].headers)["reason"]
        # still alive and processing
        run(produce(broker.url, cfg["events_topic"], [_msg(99)]))
        wait_for(lambda: _count(worker, "processed") == len(valid) + 2, timeout=20)
        assert worker.proc is not None and worker.proc.poll() is None


# --- (e) SIGTERM --------------------------------------------------------------------------------


def test_sigterm_commits_offsets_and_flushes_state(broker, tmp_path: Path, unique: str):
    cfg = topic_config(unique)
    events = [_msg(i) for i in range(40)]
    events += [_msg(100 + i, buyer_id=f"b{i}", sender="agent", agent_id="a1", text="您好",
                    ts=T0 + 60_000 + i) for i in range(5)]
    first = WorkerProcess(tmp_path, broker.url, cfg, name="first").start()
    try:
        run(produce(broker.url, cfg["events_topic"], events))
        wait_for(lambda: _count(first, "processed") == len(events), timeout=30)
        figures = first.figures()
        assert figures
        started = time.monotonic()
        code = first.stop(signal.SIGTERM, timeout=30)
        stopped_in = time.monotonic() - started
    finally:
        first.stop()
    assert code == 0, first.tail()
    assert stopped_in < 15, f"graceful stop took {stopped_in:.1f} s"

    with WorkerProcess(tmp_path, broker.url, cfg, name="second") as second:
        # state flushed: the rows came back from the changelog
        wait_for(lambda: second.figures() == figures, timeout=20)
        # offsets committed: one new event is the only one processed
        run(produce(broker.url, cfg["events_topic"], [_msg(1000, buyer_id="b-new")]))
        wait_for(lambda: _count(second, "processed") >= 1, timeout=20)
        assert _count(second, "processed") == 1
        assert _count(second, "duplicate") == 0


# --- (b) Alertmanager down ------------------------------------------------------------------------


def _am_alerts(url: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(url + "/api/v2/alerts", timeout=5) as resp:  # noqa: S310
        return list(json.loads(resp.read()))


def test_alerts_queue_while_alertmanager_is_down(broker, tmp_path: Path, unique: str):
    cfg = topic_config(unique)
    am_port = free_port()
    env = {"CHATWATCH_ALERTMANAGER_URL": f"http://127.0.0.1:{am_port}"}
    handover = _msg(1, sender="agent", agent_id="a1", text="加我微信 abc12345 私聊",
                    shop_id=f"shop-{unique}", ts=int(time.time() * 1000))  # live, not stale
    with WorkerProcess(tmp_path, broker.url, cfg, env) as worker:
        run(produce(broker.url, cfg["events_topic"], [handover]))
        wait_for(lambda: (worker.sample("chatwatch_alert_queue_depth") or 0) > 0, timeout=20)
        assert worker.sample("chatwatch_alerts_pushed_total", outcome="sent") == 0
        with run_alertmanager(tmp_path / "am", port=am_port) as am:
            wait_for(lambda: worker.sample("chatwatch_alert_queue_depth") == 0, timeout=40)
            assert (worker.sample("chatwatch_alerts_pushed_total", outcome="sent") or 0) >= 1
            alerts = wait_for(lambda: [a for a in _am_alerts(am.url)
                                       if a["labels"].get("shop") == f"shop-{unique}"], timeout=10)
            assert any(a["labels"].get("alertname") == "ForbiddenContent"
                       for a in alerts), alerts


# --- (c) slow consumer ------------------------------------------------------------------------


def test_backlog_with_replies_inside_the_window_breaches_nothing(broker, tmp_path: Path,
                                                                 unique: str):
    cfg = topic_config(unique)
    old = int(time.time() * 1000) - 3_600_000  # an hour ago: long past every deadline
    backlog = []
    for i in range(300):
        conv = {"shop_id": "shop-1", "buyer_id": f"slow-{i}"}
        backlog.append({**conv, "event_id": f"q{i}", "ts": old + i * 100, "type": "message",
                        "sender": "buyer", "text": "在吗"})
        backlog.append({**conv, "event_id": f"a{i}", "ts": old + i * 100 + 250_000,
                        "type": "message", "sender": "agent", "agent_id": "a1", "text": "在的"})
    run(produce(broker.url, cfg["events_topic"], backlog))
    with WorkerProcess(tmp_path, broker.url, cfg) as worker:
        wait_for(lambda: _count(worker, "processed") == len(backlog), timeout=40)
        assert (worker.sample("chatwatch_waits_breached_total", shop="shop-1") or 0) == 0
        # once caught up the wall clock sweeps every partition; still nothing to breach
        wait_for(lambda: worker.sample("chatwatch_event_lag_seconds") == 0, timeout=10)
        assert worker.sample("chatwatch_breach_latency_seconds_count") == 0
    records = [json.loads(m.value) for m in run(consume(broker.url, cfg["breaches_topic"],
                                                         timeout=2))]
    # no breach of the 5-minute window; the replies came after PDD's 3-minute human window,
    # so that KPI breached each wait, at the reply (not from the lag: no sweep declared one)
    assert [r for r in records if r["kpi"] == "pdd_5min"] == []
    assert len([r for r in records if r["kpi"] == "pdd_3min_human"]) == 300
    day = [f for f in worker.figures() if f["shop_id"] == "shop-1"]
    assert all(f["waits_breached"] == 0 for f in day)


# --- (a) broker restart ---------------------------------------------------------------------------


def _conversations(shop: str, first_id: int, buyers: int) -> list[dict[str, object]]:
    """A question per buyer and, for every other buyer, an agent's reply 20 s later."""
    out: list[dict[str, object]] = []
    for i in range(buyers):
        out.append(_msg(first_id + i, shop_id=shop, buyer_id=f"{shop}-b{i}", ts=T0 + i * 100))
        if i % 2 == 0:
            out.append(_msg(first_id + 1000 + i, shop_id=shop, buyer_id=f"{shop}-b{i}",
                            sender="agent", agent_id="a1", text="您好",
                            ts=T0 + i * 100 + 20_000))
    return out


def _backfill(events: list[dict[str, object]], tmp_path: Path,
              settings: Settings) -> list[dict[str, object]]:
    path = tmp_path / "expected.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events),
                    encoding="utf-8")
    rows = [r.as_dict() for r in run_backfill(read_events([str(path)]), settings).report()]
    return list(json.loads(json.dumps(rows)))


def _blank_broker_restart(tmp_path: Path, unique: str) -> Iterator[
        tuple[WorkerProcess, EmbeddedBroker, dict[str, Any], list[dict[str, object]]]]:
    """A worker that processed events, then its broker stopped for 5 s and came back blank.

    The embedded broker keeps everything in memory (its binary has no persistent storage
    engine built in: sqlite and postgres are not compiled in, s3 needs an object store), so a
    restart is an empty broker on the same address, whose topics an operator recreates.
    """
    cfg = topic_config(unique)
    before = _conversations("shop-before", 0, 6)
    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    worker = WorkerProcess(tmp_path, broker.url, cfg, {"CHATWATCH_SESSION_TIMEOUT_SECONDS": "6",
                                                       "CHATWATCH_LOG_CHECK_SECONDS": "1"})
    try:
        worker.start()
        run(produce(broker.url, cfg["events_topic"], before))
        wait_for(lambda: _count(worker, "processed") == len(before), timeout=30)
        broker.stop()
        time.sleep(5)
        broker = EmbeddedBroker(port=port).start()
        run(ensure_topics(settings_from_mapping(cfg, {}), broker.url))
        yield worker, broker, cfg, before
    finally:
        worker.stop()
        broker.stop()


def test_worker_rides_out_the_broker_going_away_and_coming_back(tmp_path: Path, unique: str):
    """The broker unreachable for 4 s (its data intact): the worker reconnects and goes on."""
    from tests.chaos.cluster import proxied_broker

    cfg = topic_config(unique)
    env = {"CHATWATCH_SESSION_TIMEOUT_SECONDS": "6", "CHATWATCH_LOG_CHECK_SECONDS": "1"}
    before = _conversations("shop-before", 0, 6)
    after = _conversations("shop-after", 100, 8)
    with proxied_broker() as (broker, proxy):
        worker = WorkerProcess(tmp_path, broker.url, cfg, env).start()
        try:
            run(produce(broker.url, cfg["events_topic"], before))
            wait_for(lambda: _count(worker, "processed") == len(before), timeout=30)
            with proxy.outage():
                time.sleep(4)
            run(produce(broker.url, cfg["events_topic"], after))
            wait_for(lambda: _count(worker, "processed") >= len(before) + len(after),
                     timeout=60)
            expected = _backfill(before + after, tmp_path, settings_from_mapping(cfg, {}))
            wait_for(lambda: worker.figures() == expected, timeout=30)
            assert _count(worker, "processed") == len(before) + len(after)
            assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
        finally:
            worker.stop()
    assert "Traceback" not in worker.log_path.read_text(encoding="utf-8", errors="replace")


def test_blank_broker_restart_stops_the_worker_with_a_reason_and_a_restart_resumes(
        tmp_path: Path, unique: str):
    """A broker back without its data: the worker exits (75) saying why, never hangs.

    Its supervisor then starts it again; the new process reads the new log from its start and
    its figures are those of the new log (the old log's are gone with the broker's data).
    """
    with contextlib.contextmanager(_blank_broker_restart)(tmp_path, unique) as (
            worker, broker, cfg, before):
        assert worker.proc is not None
        code = worker.proc.wait(timeout=60)
        text = worker.log_path.read_text(encoding="utf-8", errors="replace")
        assert code == 75, worker.tail()
        # Whichever guard sees it first: the log shorter than what was read, the group
        # coordinator (blank too) no longer knowing this member, or (the outage outlasting
        # the session timeout) no heartbeat accepted for longer than the group keeps members.
        assert ("the broker lost the log this worker was reading" in text
                or "the consumer group moved on" in text
                or "no heartbeat accepted" in text), worker.tail()
        assert "exiting with code 75" in text
        assert "Traceback" not in text
        worker.proc = None

        restarted = WorkerProcess(tmp_path, broker.url, cfg,
                                  {"CHATWATCH_SESSION_TIMEOUT_SECONDS": "6"}, name="restarted")
        with restarted:
            after = _conversations("shop-after", 100, 8)
            run(produce(broker.url, cfg["events_topic"], after))
            wait_for(lambda: _count(restarted, "processed") >= len(after), timeout=60)
            assert _count(restarted, "processed") == len(after)
            expected = _backfill(after, tmp_path, settings_from_mapping(cfg, {}))
            assert expected
            wait_for(lambda: restarted.figures() == expected, timeout=30)
