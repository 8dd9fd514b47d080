"""AlertPusher against a real Alertmanager, a down one, and a full spool."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerts.alertmanager import AlertPusher, EventAlert, PrometheusPusherMetrics
from alerts.testing import free_port, run_alertmanager
from tests.alerts.conftest import needs_alertmanager

AT = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def forbidden(agent: str = "a1", shop: str = "s1") -> EventAlert:
    return EventAlert.forbidden_content(
        shop=shop, agent=agent, category="wechat", masked_text="加我vx1******89",
        conversation_id="c-42", at=AT)


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
    body = forbidden().to_api(AT)
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
                shop="s2", agent="a2", conversation_id="c-7", at=AT, wait_seconds=300))
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
