"""Issue 33, item 4: the notice budget of a busy hour, with real parts.

AlertPusher -> Alertmanager (the generated configuration) -> pager bridge -> its console
target. Three shops breach without pause on two KPIs each for an hour, on a clock sped up
120 times (an hour in 30 s: every interval of the configuration, the alert hold and the
pusher's refresh scaled alike). Each shop gets at most 12 notices in that hour (one per
``group_interval`` at the very most), the count they carry grows, and Alertmanager holds one
alert per shop and KPI, not one per breach.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from alerts.alertmanager import AlertPusher, EventAlert
from alerts.amconfig import RoutingOptions, render
from alerts.local import run_alertmanager
from alerts.pager import PagerConfig, Target, create_app
from stream.config import Settings
from tests.alerts.conftest import needs_alertmanager

pytestmark = pytest.mark.slow

SPEED = 120  # an hour in 30 s
HOUR = 3600 / SPEED
SHOPS = ("shop-a", "shop-b", "shop-c")
KPIS = (("pdd_5min", "5分钟回复率", 300), ("pdd_3min_human", "3分钟人工回复率", 180))
SHANGHAI = ZoneInfo("Asia/Shanghai")


def scaled(seconds: float) -> str:
    """An Alertmanager duration, ``seconds`` of the real configuration sped up."""
    return f"{round(seconds * 1000 / SPEED)}ms"


@needs_alertmanager
async def test_an_hour_of_continuous_breaching_is_a_few_notices_per_shop(
        tmp_path: Path) -> None:
    defaults = RoutingOptions()
    assert (defaults.group_interval, defaults.breach_repeat_interval) == ("5m", "15m")
    log = tmp_path / "notices.log"
    config = PagerConfig(token="tok", targets=(Target("local", "console", "", path=str(log)),))
    async with TestServer(create_app(config), host="127.0.0.1") as bridge:
        token = tmp_path / "token"
        token.write_text("tok")
        am_config = render(Settings(), RoutingOptions(
            pager_url=str(bridge.make_url("")).rstrip("/"), pager_token_file=str(token),
            group_wait=scaled(10), page_group_wait="0s", group_interval=scaled(300),
            repeat_interval=scaled(4 * 3600), page_repeat_interval=scaled(3600),
            breach_repeat_interval=scaled(900)))
        with run_alertmanager(tmp_path / "am", am_config) as am:
            pusher = AlertPusher(am.url, tmp_path / "spool", hold_seconds=300 / SPEED,
                                 refresh_seconds=60 / SPEED, worker="w1")
            task = asyncio.create_task(pusher.run())
            breaches = 0
            try:
                began = time.monotonic()
                while time.monotonic() - began < HOUR:  # a breach every 0.1 s per shop
                    now = datetime.now(SHANGHAI)
                    for shop in SHOPS:
                        kpi, title, window = KPIS[breaches % 2]
                        assert pusher.submit_nowait(EventAlert.reply_window_breached(
                            shop=shop, agent="a1", conversation_id=f"c-{breaches}", at=now,
                            wait_seconds=window, kpi=kpi, title=title))
                    breaches += 1
                    await asyncio.sleep(0.1)
                held = am.get_json("/api/v2/alerts")
            finally:
                await pusher.close()
                await task
                pusher.close_spool()
    blocks = [b for b in log.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    firing = [b for b in blocks if " firing " in b.splitlines()[0]]
    assert breaches > 200
    for shop in SHOPS:
        mine = [b for b in firing if f"店铺 {shop}" in b.splitlines()[1]]
        assert 2 <= len(mine) <= 12, (shop, len(mine), mine)
        counts = [int(m) for m in re.findall(r"（(\d+) 次）", "".join(mine))]
        assert len(counts) == len(mine) and counts == sorted(counts) and counts[-1] > counts[0]
        assert "开始等待" in mine[-1] and "回复时限已到" in mine[-1] and "Asia/Shanghai" in mine[-1]
    per_shop = sorted((a["labels"]["shop"], a["labels"]["kpi"]) for a in held
                      if a["labels"]["alertname"] == "ReplyWindowBreached")
    assert per_shop == sorted((s, k) for s in SHOPS for k, _, _ in KPIS)
