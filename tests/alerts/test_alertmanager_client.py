"""AlertPusher against a real Alertmanager, a down one, and a full spool."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics
from agents.pipeline import Pipeline
from alerts.alertmanager import AlertPusher, EventAlert, PrometheusPusherMetrics
from alerts.local import run_alertmanager
from stream.broker import free_port
from stream.config import load_settings
from stream.core.engine import Engine
from tests.alerts.conftest import needs_alertmanager

AT = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def forbidden(agent: str = "a1", shop: str = "s1", at: datetime | None = None) -> EventAlert:
    """A ForbiddenContent alert for an event at ``at`` (default: now, so it is not stale)."""
    return EventAlert.forbidden_content(
        shop=shop, agent=agent, category="wechat", masked_text="加我vx1******89",
        conversation_id="c-42", at=at or datetime.now(UTC))


def am_alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url + "/api/v2/alerts", timeout=5) as resp:
        return list(json.loads(resp.read()))


async def eventually(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := predicate()):
            await asyncio.sleep(0.02)
        return value


def sample(registry: CollectorRegistry, outcome: str) -> float:
    return registry.get_sample_value("chatwatch_alerts_pushed_total", {"outcome": outcome}) or 0.0


@contextlib.asynccontextmanager
async def running(pusher: AlertPusher):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(pusher.run())
    try:
        yield task
    finally:
        await pusher.close()
        await task
        pusher.close_spool()


def test_api_body_has_labels_and_annotations() -> None:
    body = forbidden(at=AT).to_api(AT)
    assert body["labels"] == {"alertname": "ForbiddenContent", "shop": "s1", "agent": "a1",
                              "severity": "page", "category": "wechat"}
    assert body["annotations"]["text"] == "加我vx1******89"
    assert body["annotations"]["conversation_id"] == "c-42"
    assert body["startsAt"] == "2026-11-11T02:00:00.000Z"
    assert body["endsAt"] == "2026-11-11T02:00:01.000Z"   # never before startsAt


def test_spool_round_trip() -> None:
    alert = EventAlert.reply_window_breached(shop="s1", agent="unassigned",
                                             conversation_id="c-1", at=AT, wait_seconds=300)
    assert EventAlert.from_json(alert.to_json()) == alert


@needs_alertmanager
async def test_delivers_to_real_alertmanager(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    with run_alertmanager(tmp_path / "am") as am:
        pusher = AlertPusher(am.url, tmp_path / "spool",
                             metrics=PrometheusPusherMetrics.create(registry))
        async with running(pusher):
            assert await pusher.submit(forbidden("a1"))
            assert await pusher.submit(EventAlert.reply_window_breached(
                shop="s2", agent="a2", conversation_id="c-7", at=datetime.now(UTC),
                wait_seconds=300))
            await asyncio.wait_for(pusher.drained(), 15)
        got = {a["labels"]["alertname"]: a for a in am_alerts(am.url)}
    assert set(got) == {"ForbiddenContent", "ReplyWindowBreached"}
    assert got["ForbiddenContent"]["labels"]["shop"] == "s1"
    assert got["ForbiddenContent"]["annotations"]["text"] == "加我vx1******89"
    assert got["ReplyWindowBreached"]["labels"]["severity"] == "warning"
    assert sample(registry, "sent") == 2
    assert registry.get_sample_value("chatwatch_alert_queue_depth") == 0


@needs_alertmanager
async def test_queues_while_down_and_survives_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    registry = CollectorRegistry()
    first = AlertPusher(url, tmp_path / "spool", backoff_initial=0.02, backoff_max=0.1,
                        metrics=PrometheusPusherMetrics.create(registry))
    async with running(first):
        await first.submit(forbidden("a1"))
        await first.submit(forbidden("a2"))
        await eventually(lambda: sample(registry, "retried") >= 4)   # two failed attempts
        assert first.pending == 2
    # the worker restarts: a new pusher on the same spool finds both alerts
    second = AlertPusher(url, tmp_path / "spool", backoff_initial=0.02, backoff_max=0.1)
    assert second.pending == 2
    async with running(second):
        with run_alertmanager(tmp_path / "am", port=port) as am:
            await asyncio.wait_for(second.drained(), 15)
            agents = sorted(a["labels"]["agent"] for a in am_alerts(am.url))
    assert agents == ["a1", "a2"]
    assert second.pending == 0


async def test_full_spool_drops_and_counts(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    pusher = AlertPusher(f"http://127.0.0.1:{free_port()}", tmp_path / "spool", max_pending=2,
                         metrics=PrometheusPusherMetrics.create(registry))
    assert pusher.submit_nowait(forbidden("a1"))
    assert pusher.submit_nowait(forbidden("a2"))
    assert not pusher.submit_nowait(forbidden("a3"))
    assert pusher.pending == 2
    assert sample(registry, "dropped") == 1
    assert registry.get_sample_value("chatwatch_alert_queue_depth") == 2
    pusher.close_spool()


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        forbidden().__class__.forbidden_content(
            shop="s", agent="a", category="qq", masked_text="", conversation_id="c",
            at=datetime(2026, 1, 1)).to_api(AT)  # noqa: DTZ001


# --- stale alerts: history replayed through the live worker does not page ----------------------


async def test_alert_older_than_the_hold_time_is_not_spooled_but_counted(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    now = AT + timedelta(hours=1)
    pusher = AlertPusher(f"http://127.0.0.1:{free_port()}", tmp_path / "spool",
                         hold_seconds=300, metrics=PrometheusPusherMetrics.create(registry),
                         clock=lambda: now)
    assert not pusher.submit_nowait(forbidden("a1", at=AT))                        # an hour old
    assert not pusher.submit_nowait(forbidden("a2", at=now - timedelta(seconds=300)))
    assert pusher.submit_nowait(forbidden("a3", at=now - timedelta(seconds=299)))
    assert pusher.pending == 1
    assert sample(registry, "stale") == 2 and sample(registry, "dropped") == 0
    assert registry.get_sample_value("chatwatch_alert_queue_depth") == 1
    pusher.close_spool()


async def test_a_spooled_alert_is_still_delivered_after_a_long_outage(tmp_path: Path) -> None:
    # The age is judged when the worker raises the alert; waiting in the spool while
    # Alertmanager is down must not turn it stale. It is sent firing: endsAt = send + hold.
    received: list[list[dict[str, Any]]] = []

    async def alerts(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({})

    clock = [AT]
    app = web.Application()
    app.router.add_post("/api/v2/alerts", alerts)
    port = free_port()
    pusher = AlertPusher(f"http://127.0.0.1:{port}", tmp_path / "spool", hold_seconds=300,
                         backoff_initial=0.02, backoff_max=0.05, clock=lambda: clock[0])
    async with running(pusher):
        assert pusher.submit_nowait(forbidden("a1", at=AT))
        await asyncio.sleep(0.1)                     # Alertmanager down: kept for retry
        assert pusher.pending == 1
        clock[0] = AT + timedelta(hours=2)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await asyncio.wait_for(pusher.drained(), 15)
        finally:
            await runner.cleanup()
    ((alert,),) = received
    assert alert["startsAt"] == "2026-11-11T02:00:00.000Z"
    assert alert["endsAt"] == "2026-11-11T04:05:00.000Z"


def test_replayed_history_through_the_pipeline_does_not_page(tmp_path: Path) -> None:
    # Pipeline._guard and Pipeline._breached submit alerts for events of any age; the pusher
    # keeps only those still live, so replaying last month's log pages nobody.
    settings = load_settings(environ={})
    registry = CollectorRegistry()
    t0 = int(AT.timestamp() * 1000)
    now = AT + timedelta(days=20)
    pusher = AlertPusher(f"http://127.0.0.1:{free_port()}", tmp_path / "spool",
                         metrics=PrometheusPusherMetrics.create(registry), clock=lambda: now)
    sink = _Records()
    pipeline = Pipeline(settings, Engine(settings.policies, settings.content.guard()),
                        ChatwatchMetrics(CollectorRegistry()), _Store(), sink, pusher)

    def event(eid: str, ts: int, sender: str, text: str, buyer: str) -> bytes:
        return json.dumps({"event_id": eid, "ts": ts, "shop_id": "s1", "buyer_id": buyer,
                           "type": "message", "sender": sender, "text": text,
                           "agent_id": "a1"}, ensure_ascii=False).encode()

    pipeline.on_message(0, 0, b"s1:b1", event("e1", t0, "agent", "加我微信 abc12345", "b1"))
    pipeline.on_message(0, 1, b"s1:b2", event("e2", t0, "buyer", "在吗", "b2"))
    pipeline.sweep(int(now.timestamp() * 1000), {0: True})          # the wait breaches
    # one breach record per KPI of the PDD shop (its 5-minute and 3-minute human waits)
    assert [t for t, _ in sink.records] == ["chat.violations", "chat.breaches", "chat.breaches"]
    assert sorted(json.loads(v)["kpi"] for t, v in sink.records if t == "chat.breaches") == [
        "pdd_3min_human", "pdd_5min"]
    assert pusher.pending == 0
    assert sample(registry, "stale") == 3  # the hand-over and the breach of each KPI
    # a live hand-over still pages
    live = int(now.timestamp() * 1000) - 1000
    pipeline.on_message(0, 2, b"s1:b3", event("e3", live, "agent", "加我微信 abc12345", "b3"))
    assert pusher.pending == 1
    pusher.close_spool()


class _Store:
    def put(self, partition: int, key: str, value: bytes) -> None:
        pass

    def delete(self, partition: int, key: str) -> None:
        pass


class _Records:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []

    def send(self, topic: str, key: bytes | None, value: bytes,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        self.records.append((topic, value))
