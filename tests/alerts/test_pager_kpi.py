"""Notices of the KPI alerts name the KPI in Chinese (「3分钟人工回复率」)."""

from __future__ import annotations

from typing import Any

from alerts.pager.render import notices


def payload(name: str, severity: str) -> dict[str, object]:
    labels = {"alertname": name, "severity": severity, "shop": "s1", "kpi": "pdd_3min_human",
              "title": "3分钟人工回复率"}
    return {"status": "firing", "groupLabels": {"alertname": name, "shop": "s1"},
            "commonLabels": labels,
            "alerts": [{"status": "firing", "labels": labels,
                        "annotations": {"summary": "店铺 s1 今日「3分钟人工回复率」41.67% 低于目标"},
                        "startsAt": "2026-11-11T02:00:00Z"}]}


def test_kpi_below_target_names_the_kpi_in_the_title_and_the_line():
    (notice,) = notices(payload("KpiBelowTarget", "page"))
    assert notice.title == "【紧急】「3分钟人工回复率」低于目标 · 店铺 s1"
    assert "指标：3分钟人工回复率" in notice.lines[0]
    assert "3分钟人工回复率" in notice.markdown()


def test_kpi_wait_at_risk_names_the_kpi():
    (notice,) = notices(payload("KpiWaitAtRisk", "warning"))
    assert notice.title == "【提醒】「3分钟人工回复率」买家等待即将超时 · 店铺 s1"


def shop_rate(name: str, severity: str, **kpi: str) -> dict[str, object]:
    labels = {"alertname": name, "severity": severity, "shop": "s1", **kpi}
    return {"status": "firing", "groupLabels": {"alertname": name, "shop": "s1"},
            "commonLabels": labels,
            "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": "s"},
                        "startsAt": "2026-11-11T02:00:00Z"}]}


def test_the_shops_own_rate_is_named_by_its_kpi_never_by_a_fixed_window():
    kpi = {"kpi": "reply_rate", "title": "3分钟回复率", "window": "180"}
    (notice,) = notices(shop_rate("ReplyRateBelowTarget", "page", **kpi))
    assert notice.title == "【紧急】「3分钟回复率」低于目标 · 店铺 s1"
    (notice,) = notices(shop_rate("WaitAtRisk", "warning", **kpi))
    assert notice.title == "【提醒】「3分钟回复率」买家等待即将超时 · 店铺 s1"
    # a rule evaluated on an older worker's series carries no KPI: no window is claimed
    (notice,) = notices(shop_rate("ReplyRateBelowTarget", "page"))
    assert notice.title == "【紧急】回复率低于目标 · 店铺 s1"


def test_a_breached_wait_notice_claims_no_window():
    (notice,) = notices(shop_rate("ReplyWindowBreached", "warning"))
    assert notice.title == "【提醒】买家等待超时未回复 · 店铺 s1"
    assert "5分钟" not in notice.markdown()


# KpiBudgetLow's summary as the rule renders it (alerts/rules/tests/chatwatch_test.yml)
BUDGET_2 = ("店铺 s1 今日3分钟人工回复率还可承受 2 个超时 / KPI pdd_3min_human can take 2 more"
            " breaches today")
BUDGET_0 = "店铺 s1 今日5分钟回复率可承受的超时已用完 / KPI pdd_5min breach budget used up today"


def budget_alert(kpi: str, title: str, summary: str, status: str = "firing") -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": "KpiBudgetLow", "severity": "warning",
                                         "shop": "s1", "kpi": kpi, "title": title},
            "annotations": {"summary": summary, "runbook_url": "/runbook/KpiBudgetLow"},
            "startsAt": "2026-11-11T07:00:00Z"}


def budget_payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    labels: list[dict[str, str]] = [a["labels"] for a in alerts]
    common = {k: v for k, v in labels[0].items() if all(o.get(k) == v for o in labels)}
    return {"status": "firing", "groupLabels": {"alertname": "KpiBudgetLow", "shop": "s1"},
            "commonLabels": common, "alerts": list(alerts)}


def test_kpi_budget_low_says_what_is_left_in_words() -> None:
    (notice,) = notices(budget_payload(budget_alert("pdd_3min_human", "3分钟人工回复率",
                                                    BUDGET_2)))
    assert notice.title == "【提醒】「3分钟人工回复率」今日可承受的超时不多 · 店铺 s1"
    assert notice.lines[0].startswith(
        "- 店铺：s1 · 指标：3分钟人工回复率 · 店铺 s1 今日3分钟人工回复率还可承受 2 个超时")
    assert "（开始 11-11 15:00:00，Asia/Shanghai）" in notice.lines[0]
    assert "今日3分钟人工回复率还可承受 2 个超时" in notice.plain()


def test_two_kpis_low_at_once_are_one_notice_naming_each_kpi_on_its_line() -> None:
    (notice,) = notices(budget_payload(
        budget_alert("pdd_3min_human", "3分钟人工回复率", BUDGET_2),
        budget_alert("pdd_5min", "5分钟回复率", BUDGET_0)))
    # the title claims neither KPI for both
    assert notice.title == "【提醒】考核指标今日可承受的超时不多 · 店铺 s1（2 条）"
    assert "指标：3分钟人工回复率" in notice.lines[0] and "还可承受 2 个超时" in notice.lines[0]
    assert "指标：5分钟回复率" in notice.lines[1] and "可承受的超时已用完" in notice.lines[1]


def test_kpi_budget_low_resolves_naming_the_kpi() -> None:
    alert = budget_alert("pdd_3min_human", "3分钟人工回复率", BUDGET_2, "resolved")
    (notice,) = notices({**budget_payload(alert), "status": "resolved"})
    assert notice.title == "【已恢复】「3分钟人工回复率」今日可承受的超时不多 · 店铺 s1"
