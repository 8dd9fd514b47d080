"""Notices of the KPI alerts name the KPI in Chinese (「3分钟人工回复率」)."""

from __future__ import annotations

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
