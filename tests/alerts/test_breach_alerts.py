"""Issue 33, item 4: breached waits reach Alertmanager as one alert per shop and KPI carrying
the count, pushed at the first breach and then at most every ``refresh_seconds``; the notice
says when the latest buyer began to wait and when the window ran out, in the shop's time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alerts.alertmanager import AlertPusher, EventAlert
from alerts.pager.render import notices
from stream.broker import free_port

SHANGHAI = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 11, 10, 0, tzinfo=SHANGHAI)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def breach(at: datetime, shop: str = "s1", kpi: str = "pdd_5min", title: str = "5分钟回复率",
           window: int = 300, agent: str = "a1", ref: str = "c-1") -> EventAlert:
    return EventAlert.reply_window_breached(
        shop=shop, agent=agent, conversation_id=ref, at=at, wait_seconds=window, kpi=kpi,
        title=title, start=at - timedelta(seconds=window))


def pushed(pusher: AlertPusher) -> list[dict[str, Any]]:
    """The spooled alerts as Alertmanager would get them."""
    return [EventAlert.from_json(raw).to_api(pusher.clock()) for _, raw in pusher.spool.head(10_000)]


def pusher_at(tmp_path: Path, clock: Clock) -> AlertPusher:
    return AlertPusher(f"http://127.0.0.1:{free_port()}", tmp_path / "spool", clock=clock,
                       hold_seconds=300, refresh_seconds=60, worker="w1")


def test_a_busy_shop_is_one_alert_per_kpi_counting_its_breaches(tmp_path: Path) -> None:
    clock = Clock(T)
    pusher = pusher_at(tmp_path, clock)
    # ten minutes of a breach every 5 s, on two KPIs, the flush loop ticking every second
    for second in range(600):
        clock.at = T + timedelta(seconds=second)
        if second % 5 == 0:
            assert pusher.submit_nowait(breach(clock.at, ref=f"c-{second}"))
            assert pusher.submit_nowait(breach(clock.at, kpi="pdd_3min_human",
                                               title="3分钟人工回复率", window=180))
        pusher.flush_counts()
    clock.at = T + timedelta(seconds=660)  # the breaches of the last minute: pushed once due
    pusher.flush_counts()
    alerts = pushed(pusher)
    identities = {json.dumps(a["labels"], sort_keys=True) for a in alerts}
    assert len(identities) == 2  # one alert per KPI, however many breaches
    assert len(alerts) <= 2 * (660 // 60 + 1)  # pushed at most once a refresh each
    five = [a for a in alerts if a["labels"]["kpi"] == "pdd_5min"]
    assert five[0]["labels"] == {"alertname": "ReplyWindowBreached", "shop": "s1",
                                 "severity": "warning", "category": "reply_window",
                                 "title": "5分钟回复率", "kpi": "pdd_5min", "worker": "w1"}
    counts = [int(a["annotations"]["count"]) for a in five]
    assert counts[0] == 1 and counts == sorted(counts) and counts[-1] == 120
    last = five[-1]["annotations"]
    assert last["waiting_since"] == "2026-11-11T10:04:55+08:00"  # the latest buyer's wait
    assert last["window_end"] == "2026-11-11T10:09:55+08:00"
    assert last["timezone"] == "Asia/Shanghai" and last["agent"] == "a1"
    assert five[-1]["startsAt"] == "2026-11-11T02:00:00.000Z"  # the first window ran out
    pusher.close_spool()


def test_a_quiet_spell_ends_the_count_and_a_new_breach_starts_again(tmp_path: Path) -> None:
    clock = Clock(T)
    pusher = pusher_at(tmp_path, clock)
    pusher.submit_nowait(breach(T))
    clock.at = T + timedelta(seconds=10)
    pusher.submit_nowait(breach(clock.at))  # counted, pushed with the next flush that is due
    assert len(pushed(pusher)) == 1
    clock.at = T + timedelta(seconds=61)
    pusher.flush_counts()
    assert [a["annotations"]["count"] for a in pushed(pusher)] == ["1", "2"]
    clock.at = T + timedelta(seconds=61 + 300)  # the alert has ended: a new episode
    pusher.flush_counts()
    pusher.submit_nowait(breach(clock.at))
    last = pushed(pusher)[-1]
    assert last["annotations"]["count"] == "1"
    assert last["startsAt"] == "2026-11-11T02:06:01.000Z"
    pusher.close_spool()


def test_shops_and_kpis_are_apart_and_no_label_names_an_agent_or_a_buyer(
        tmp_path: Path) -> None:
    clock = Clock(T)
    pusher = pusher_at(tmp_path, clock)
    for shop in ("s1", "s2"):
        for agent in ("a1", "a2"):
            pusher.submit_nowait(breach(T, shop=shop, agent=agent, ref="c-secret"))
    alerts = pushed(pusher)
    assert sorted(a["labels"]["shop"] for a in alerts) == ["s1", "s2"]
    for alert in alerts:
        assert "agent" not in alert["labels"] and "ref" not in alert["labels"]
        assert "c-secret" not in json.dumps(alert["labels"])
    pusher.close_spool()


def test_the_notice_says_how_many_and_when_the_latest_buyer_began_to_wait() -> None:
    def alert(worker: str, count: int, since: str, until: str) -> dict[str, Any]:
        labels = {"alertname": "ReplyWindowBreached", "shop": "s1", "severity": "warning",
                  "kpi": "pdd_5min", "title": "5分钟回复率", "worker": worker}
        return {"status": "firing", "labels": labels, "fingerprint": worker,
                "annotations": {"count": str(count), "waiting_since": since,
                                "window_end": until, "timezone": "Asia/Shanghai",
                                "agent": "小王", "conversation_id": f"c-{worker}"},
                "startsAt": "2026-11-11T02:00:00Z"}

    payload = {"groupLabels": {"alertname": "ReplyWindowBreached", "shop": "s1"},
               "commonLabels": {"alertname": "ReplyWindowBreached", "shop": "s1",
                                "severity": "warning"},
               "alerts": [alert("w1", 7, "2026-11-11T10:20:00+08:00", "2026-11-11T10:25:00+08:00"),
                          alert("w2", 5, "2026-11-11T10:31:02+08:00", "2026-11-11T10:36:02+08:00")]}
    [notice] = notices(payload, timezone="UTC")
    assert notice.title == "【提醒】买家等待超时未回复 · 店铺 s1（12 次）"
    [line] = notice.lines[:1]
    assert "指标：5分钟回复率" in line and "12 次等待超时未回复" in line
    # the latest buyer: when the wait began and when the window ran out, in the shop's time
    assert "最近一位 10:31:02 开始等待，10:36:02 回复时限已到" in line
    assert "首次超时 11-11 10:00:00" in line and "Asia/Shanghai" in line
    assert "开始 " not in line  # no breach time passed off as a start
    assert notice.timezone == "Asia/Shanghai"


def test_a_breach_of_another_window_is_named_by_its_own_kpi() -> None:
    alert = EventAlert.reply_window_breached(shop="s1", agent="a1", conversation_id="c-1",
                                             at=T, wait_seconds=30)
    body = alert.to_api(T)
    assert body["labels"]["title"] == "30秒回复率"
    assert "5分钟" not in json.dumps(body, ensure_ascii=False)
