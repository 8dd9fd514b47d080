"""Chinese-language notices from Alertmanager webhook payloads (version 4).

One :class:`Notice` per status in a webhook call: Alertmanager already groups alerts (per shop
and alert name), so a burst of breached waits in one shop is one message listing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

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
    "ConversionDrop": "询单转化率下降",
}
# Alerts about one KPI: the notice's title names the KPI (label ``title``, e.g.
# 「3分钟人工回复率」, joined in by the rules from chatwatch_kpi_info, and for the shop's own
# reply rate from chatwatch_reply_rate_info), never a window of its own.
KPI_WHAT = {"KpiBelowTarget": "「{}」低于目标", "KpiWaitAtRisk": "「{}」买家等待即将超时",
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


def _local(stamp: str, tz: ZoneInfo) -> str:
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return when.astimezone(tz).strftime("%m-%d %H:%M:%S")


def _describe(alert: dict[str, Any], tz: ZoneInfo) -> list[str]:
    labels: dict[str, str] = alert.get("labels", {})
    ann: dict[str, str] = alert.get("annotations", {})
    name = labels.get("alertname", "")
    who = [f"店铺：{labels['shop']}"] if labels.get("shop") else []
    if labels.get("agent"):
        who.append(f"客服：{labels['agent']}")
    if labels.get("kpi"):
        who.append(f"指标：{labels.get('title') or labels['kpi']}")
    if name == "ForbiddenContent":
        category = labels.get("category", "")
        what = f"发送了禁止内容（{CATEGORY.get(category, category)}）"
        if ann.get("text"):
            what += f"：{ann['text']}"
    elif name == "ReplyWindowBreached":
        what = ann.get("summary") or "买家等待超过回复时限未获回复"
    else:
        what = ann.get("summary") or ann.get("description") or name
    line = "- " + " · ".join([*who, what])
    extra = []
    if ann.get("conversation_id"):
        extra.append(f"会话 {ann['conversation_id']}")
    if alert.get("startsAt"):
        extra.append(f"开始 {_local(alert['startsAt'], tz)}")
    if alert.get("status") == "resolved" and alert.get("endsAt"):
        extra.append(f"恢复 {_local(alert['endsAt'], tz)}")
    if extra:
        line += "（" + "，".join(extra) + "）"
    return [line]


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
        shop = common.get("shop") or group.get("shop") or ""
        severity = common.get("severity") or first.get("severity", "warning")
        agents = tuple(sorted({a["labels"]["agent"] for a in alerts
                               if a.get("labels", {}).get("agent")}))
        prefix = ("【已恢复】" if status == "resolved"
                  else "【紧急】" if severity == "page" else "【提醒】")
        what = WHAT.get(name, name or "告警")
        kpi_title = common.get("title") or first.get("title") or first.get("kpi")
        if name in KPI_WHAT and kpi_title:
            what = KPI_WHAT[name].format(kpi_title)
        title = f"{prefix}{what}" + (f" · 店铺 {shop}" if shop else "")
        if len(alerts) > 1:
            title += f"（{len(alerts)} 条）"
        lines: list[str] = []
        for alert in alerts[:MAX_LISTED]:
            lines += _describe(alert, tz)
        if len(alerts) > MAX_LISTED:
            lines.append(f"- ……另有 {len(alerts) - MAX_LISTED} 条")
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
                          tuple(alerts), board))
    return out
