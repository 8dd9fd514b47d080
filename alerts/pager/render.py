"""Chinese-language notices from Alertmanager webhook payloads (version 4).

One :class:`Notice` per status in a webhook call: Alertmanager already groups alerts (per shop
and alert name), and the workers push breached waits as one alert per shop and KPI counting
them, so a burst of breached waits in one shop is one message with a line per KPI.

Every time is the shop's: an alert's ``timezone`` annotation (the workers' alerts carry the
shop's), else the bridge's ``timezone``; the zone is named next to the times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.alertmanager import board_link
from alerts.runbook import resolve

MAX_LISTED = 10   # a robot message stays readable; the rest is counted

WHAT = {
    "ForbiddenContent": "禁止内容",
    "ReplyWindowBreached": "买家等待超时未回复",
    "ReplyRateBelowTarget": "回复率低于目标",
    "WaitAtRisk": "买家等待即将超时",
    "ChatwatchDown": "监控中断",
    "EventLagHigh": "处理延迟",
    "ReplyBudgetBurnFast": "超时比例过高",
    "ReplyBudgetBurnSlow": "超时比例持续偏高",
    "KpiBelowTarget": "考核指标低于目标",
    "KpiWaitAtRisk": "买家等待即将超时",
    "KpiBudgetLow": "考核指标今日可承受的超时不多",
    "ConversionDrop": "询单转化率下降",
}
# Alerts about one KPI: the notice's title names the KPI (label ``title``, e.g.
# 「3分钟人工回复率」, joined in by the rules from chatwatch_kpi_info, and for the shop's own
# reply rate from chatwatch_reply_rate_info), never a window of its own.
KPI_WHAT = {"KpiBelowTarget": "「{}」低于目标", "KpiWaitAtRisk": "「{}」买家等待即将超时",
            "KpiBudgetLow": "「{}」今日可承受的超时不多",
            "ReplyRateBelowTarget": "「{}」低于目标", "WaitAtRisk": "「{}」买家等待即将超时"}
CATEGORY = {"phone": "手机号", "wechat": "微信", "qq": "QQ", "alipay": "支付宝", "email": "邮箱",
            "link": "站外链接", "word": "违禁词", "quality": "服务质量"}


@dataclass(frozen=True)
class Notice:
    """What a robot posts: a title, body lines and a link, plus the fields robots route on."""

    status: str            # firing | resolved
    severity: str          # page | warning | ...
    alertname: str
    shop: str
    agents: tuple[str, ...]
    title: str
    lines: tuple[str, ...]
    link: str
    alerts: tuple[dict[str, Any], ...]
    board: str = ""        # the supervisor's board, filtered to the shop (and conversation)
    timezone: str = "Asia/Shanghai"  # the shop's time zone: the notice's times are in it

    def markdown(self, newline: str = "\n") -> str:
        r"""Markdown body (DingTalk needs ``newline="\n\n"`` for line breaks)."""
        out = [f"### {self.title}", *self.lines]
        if self.link:
            out.append(f"[查看详情]({self.link})")
        if self.board and self.board != self.link:
            out.append(f"[看板]({self.board})")
        return newline.join(out)

    def plain(self) -> str:
        """Plain-text body (Feishu text messages, Slack)."""
        out = [self.title, *self.lines]
        if self.link:
            out.append(f"详情：{self.link}")
        if self.board and self.board != self.link:
            out.append(f"看板：{self.board}")
        return "\n".join(out)


def _zone(alert: dict[str, Any], default: ZoneInfo) -> ZoneInfo:
    """The alert's shop time zone (its ``timezone`` annotation), else ``default``."""
    name = (alert.get("annotations") or {}).get("timezone")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return default


def _local(stamp: str, tz: ZoneInfo, fmt: str = "%m-%d %H:%M:%S") -> str:
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return when.astimezone(tz).strftime(fmt)


def _breaches(alert: dict[str, Any], tz: ZoneInfo) -> str:
    """What a breach alert says: how many, and the latest buyer's wait (start, window end)."""
    ann: dict[str, str] = alert.get("annotations", {})
    what = f"{ann.get('count') or 1} 次等待超时未回复"
    since, until = ann.get("waiting_since"), ann.get("window_end")
    if since and until:
        what += (f"；最近一位 {_local(since, tz, '%H:%M:%S')} 开始等待，"
                 f"{_local(until, tz, '%H:%M:%S')} 回复时限已到")
    return what


def _describe(alert: dict[str, Any], default: ZoneInfo) -> list[str]:
    tz = _zone(alert, default)
    labels: dict[str, str] = alert.get("labels", {})
    ann: dict[str, str] = alert.get("annotations", {})
    name = labels.get("alertname", "")
    who = [f"店铺：{labels['shop']}"] if labels.get("shop") else []
    if labels.get("agent"):
        who.append(f"客服：{labels['agent']}")
    if labels.get("kpi") or (name == "ReplyWindowBreached" and labels.get("title")):
        who.append(f"指标：{labels.get('title') or labels['kpi']}")
    if name == "ForbiddenContent":
        category = labels.get("category", "")
        what = f"发送了禁止内容（{CATEGORY.get(category, category)}）"
        if ann.get("text"):
            what += f"：{ann['text']}"
    elif name == "ReplyWindowBreached":
        what = _breaches(alert, tz) if ann.get("count") else "买家等待超过回复时限未获回复"
    else:
        what = ann.get("summary") or ann.get("description") or name
    line = "- " + " · ".join([*who, what])
    extra = []
    if name == "ReplyWindowBreached" and ann.get("agent"):
        extra.append(f"客服 {ann['agent']}")
    if ann.get("conversation_id"):
        extra.append(f"会话 {ann['conversation_id']}")
    if name == "ReplyWindowBreached" and ann.get("count"):
        # startsAt of a counted breach alert is when the first window ran out, not a start
        if alert.get("startsAt"):
            extra.append(f"首次超时 {_local(alert['startsAt'], tz)}")
    elif alert.get("startsAt"):
        extra.append(f"开始 {_local(alert['startsAt'], tz)}")
    if alert.get("status") == "resolved" and alert.get("endsAt"):
        extra.append(f"恢复 {_local(alert['endsAt'], tz)}")
    if extra:
        line += "（" + "，".join(extra) + f"，{tz.key}）"
    return [line]


def _per_kpi(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Breach alerts of one KPI from several workers as one: their counts added up.

    Each worker counts the breaches it declared (a shop's conversations are spread over
    every worker); the latest wait shown is the one whose window ran out last.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for alert in alerts:
        labels = alert.get("labels", {})
        ann = alert.get("annotations", {})
        if not ann.get("count"):
            out.append(alert)
            continue
        key = (labels.get("shop", ""), labels.get("kpi") or labels.get("title", ""))
        mine = merged.get(key)
        if mine is None:
            merged[key] = alert
            out.append(alert)
            continue
        theirs = mine["annotations"]
        latest = ann if ann.get("window_end", "") > theirs.get("window_end", "") else theirs
        both = {**mine, "annotations": {
                    **latest, "count": str(int(theirs["count"]) + int(ann["count"]))},
                "startsAt": min(mine.get("startsAt", ""), alert.get("startsAt", ""))}
        out[out.index(mine)] = merged[key] = both
    return out


def notices(payload: dict[str, Any], timezone: str = "Asia/Shanghai",
            board_url: str | None = None) -> list[Notice]:
    """Turn one webhook payload into one notice per status (firing first, then resolved).

    Each notice links to the board: the first alert's ``board_url`` annotation (event alerts
    carry one filtered to their conversation), else ``board_url`` filtered to the shop.
    """
    tz = ZoneInfo(timezone)
    common: dict[str, str] = payload.get("commonLabels") or {}
    group: dict[str, str] = payload.get("groupLabels") or {}
    out = []
    for status in ("firing", "resolved"):
        alerts = [a for a in payload.get("alerts", []) if a.get("status") == status]
        if not alerts:
            continue
        first = alerts[0].get("labels", {})
        name = common.get("alertname") or group.get("alertname") or first.get("alertname", "")
        shown = _per_kpi(alerts) if name == "ReplyWindowBreached" else alerts
        shop = common.get("shop") or group.get("shop") or ""
        severity = common.get("severity") or first.get("severity", "warning")
        agents = tuple(sorted({a["labels"]["agent"] for a in alerts
                               if a.get("labels", {}).get("agent")}))
        prefix = ("【已恢复】" if status == "resolved"
                  else "【紧急】" if severity == "page" else "【提醒】")
        what = WHAT.get(name, name or "告警")
        # A group of one shop's alerts may hold several KPIs (two budgets low at once): the
        # title names a KPI only when every alert is about it; each line names its own.
        kpis = {a.get("labels", {}).get("title") or a.get("labels", {}).get("kpi")
                for a in alerts}
        kpi_title = common.get("title") or (kpis.pop() if len(kpis) == 1 else None)
        if name in KPI_WHAT and kpi_title:
            what = KPI_WHAT[name].format(kpi_title)
        title = f"{prefix}{what}" + (f" · 店铺 {shop}" if shop else "")
        counted = [int(a.get("annotations", {}).get("count") or 0) for a in shown]
        if name == "ReplyWindowBreached" and any(counted):
            title += f"（{sum(counted)} 次）"
        elif len(shown) > 1:
            title += f"（{len(shown)} 条）"
        lines: list[str] = []
        for alert in shown[:MAX_LISTED]:
            lines += _describe(alert, tz)
        if len(shown) > MAX_LISTED:
            lines.append(f"- ……另有 {len(shown) - MAX_LISTED} 条")
        ann = alerts[0].get("annotations", {})
        # A rule rendered without the board's address links to the path /runbook/<alert>
        # on the board; completed here, or left out when no board is configured (a bare path
        # opens nothing in a robot message).
        runbook = resolve(ann.get("runbook_url", ""), board_url)
        if runbook and not runbook.startswith("/"):
            lines.append(f"处理手册：{runbook}")
        link = alerts[0].get("generatorURL") or payload.get("externalURL") or ""
        board = ann.get("board_url") or (
            board_link(board_url, shop or first.get("shop", "")) if board_url else "")
        out.append(Notice(status, severity, name, shop, agents, title, tuple(lines), link,
                          tuple(alerts), board, _zone(alerts[0], tz).key))
    return out
