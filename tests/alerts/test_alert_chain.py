"""The event-alert chain with real parts: AlertPusher -> Alertmanager (generated configuration)
-> pager bridge -> a fake DingTalk robot. A page arrives, then its resolved notice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from alerts.alertmanager import AlertPusher, EventAlert
from alerts.local import fast_alertmanager_config, run_alertmanager
from alerts.pager import PagerConfig, Target, create_app
from tests.alerts.conftest import needs_alertmanager


async def eventually(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := predicate()):
            await asyncio.sleep(0.05)
        return value


@needs_alertmanager
async def test_forbidden_content_pages_and_resolves(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []

    async def dingtalk(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    robot = web.Application()
    robot.router.add_post("/robot/send", dingtalk)
    async with TestServer(robot, host="127.0.0.1") as robot_server:
        robot_url = str(robot_server.make_url("/robot/send")) + "?access_token=t"
        config = PagerConfig(token="tok", targets=(
            Target("ops", "dingtalk", robot_url, secret="SEC", severities=("page",)),))
        async with TestServer(create_app(config), host="127.0.0.1") as bridge:
            token_file = tmp_path / "token"
            token_file.write_text("tok")
            am_config = fast_alertmanager_config(str(bridge.make_url("")).rstrip("/"), token_file)
            with run_alertmanager(tmp_path / "am", am_config) as am:
                pusher = AlertPusher(am.url, tmp_path / "spool", hold_seconds=1)
                task = asyncio.create_task(pusher.run())
                try:
                    await pusher.submit(EventAlert.forbidden_content(
                        shop="shop-a", agent="a7", category="phone",
                        masked_text="打我电话138******78", conversation_id="c-9",
                        at=datetime.now(UTC)))
                    await eventually(lambda: len(received) >= 1)
                    await eventually(lambda: len(received) >= 2)
                finally:
                    await pusher.close()
                    await task
                    pusher.close_spool()
    first, second = received[0]["markdown"], received[1]["markdown"]
    assert first["title"] == "【紧急】禁止内容 · 店铺 shop-a"
    assert "客服：a7" in first["text"] and "打我电话138******78" in first["text"]
    assert "会话 c-9" in first["text"]
    assert second["title"] == "【已恢复】禁止内容 · 店铺 shop-a"


METRICS = """\
# TYPE chatwatch_consultations gauge
chatwatch_consultations{shop="shop-a"} 30
chatwatch_consultations{shop="shop-b"} 30
# TYPE chatwatch_unreplied gauge
chatwatch_unreplied{shop="shop-a"} 12
chatwatch_unreplied{shop="shop-b"} 3
# TYPE chatwatch_reply_rate_target gauge
chatwatch_reply_rate_target{shop="shop-a"} 0.7
chatwatch_reply_rate_target{shop="shop-b"} 0.7
# TYPE chatwatch_oldest_wait_seconds gauge
chatwatch_oldest_wait_seconds{shop="shop-a"} 10
# TYPE chatwatch_event_lag_seconds gauge
chatwatch_event_lag_seconds 0
"""


@needs_alertmanager
async def test_prometheus_rules_page_through_alertmanager(tmp_path: Path) -> None:
    """Real Prometheus scraping a fake exporter with the fast rules: shop-a (60 %) pages."""
    from alerts.local import run_prometheus, write_fast_rules


    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=METRICS, content_type="text/plain")

    exporter = web.Application()
    exporter.router.add_get("/metrics", metrics)
    async with TestServer(exporter, host="127.0.0.1") as server:
        target = f"127.0.0.1:{server.port}"
        with run_alertmanager(tmp_path / "am") as am, \
                run_prometheus(tmp_path / "prom", [target], rule_files=[write_fast_rules(tmp_path)],
                               alertmanagers=[am.address]) as prom:
            def page() -> list[dict[str, Any]]:
                return [a for a in am.get_json("/api/v2/alerts")
                        if a["labels"]["alertname"] == "ReplyRateBelowTarget"]
            alerts = await eventually(page)
            up = prom.get_json('/api/v1/query?query=up%7Bjob%3D%22chatwatch%22%7D')
    assert [a["labels"]["shop"] for a in alerts] == ["shop-a"]
    assert alerts[0]["labels"]["severity"] == "page"
    assert up["data"]["result"][0]["value"][1] == "1"
