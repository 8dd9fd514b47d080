"""``chatwatch_kpi_counted_now{shop,kpi}``: whether each KPI counts at the worker's event-time
now, on the shop's local clock (KpiBudgetLow fires only then; alerts/rulegen.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from agents.metrics import EngineCollector
from stream.config import settings_from_mapping
from stream.core.engine import Engine
from tests.unit.test_reply_window import ev, to_event

SHANGHAI = ZoneInfo("Asia/Shanghai")
# shop -> platform: PDD's KPIs count 08:00-23:00, Taobao's 08:00-24:00, JD's 09:00-23:00
SHOPS = {"s_pdd": "pdd", "s_tb": "taobao", "s_jd": "jd"}


def gauges(now: datetime, settings_doc: dict | None = None) -> dict[tuple[str, str], float]:
    settings = settings_from_mapping(settings_doc or {}, {})
    engine = Engine(settings.policies)
    for shop, platform in SHOPS.items():
        engine.apply(to_event({**ev("buyer", 0, shop=shop), "platform": platform}))
    registry = CollectorRegistry()
    registry.register(EngineCollector(engine, lambda: round(now.timestamp() * 1000),
                                      lambda: [0]))
    return {(s.labels["shop"], s.labels["kpi"]): s.value
            for family in registry.collect() if family.name == "chatwatch_kpi_counted_now"
            for s in family.samples}


@pytest.mark.parametrize(("hour", "minute", "expected"), [
    (7, 59, {"pdd_5min": 0, "pdd_3min_human": 0, "taobao_3min_human": 0, "jd_30s_first": 0}),
    (8, 0, {"pdd_5min": 1, "pdd_3min_human": 1, "taobao_3min_human": 1, "jd_30s_first": 0}),
    (9, 0, {"pdd_5min": 1, "pdd_3min_human": 1, "taobao_3min_human": 1, "jd_30s_first": 1}),
    (22, 59, {"pdd_5min": 1, "pdd_3min_human": 1, "taobao_3min_human": 1, "jd_30s_first": 1}),
    # the end of the hours is excluded; Taobao's run to midnight
    (23, 0, {"pdd_5min": 0, "pdd_3min_human": 0, "taobao_3min_human": 1, "jd_30s_first": 0}),
    (23, 59, {"pdd_5min": 0, "pdd_3min_human": 0, "taobao_3min_human": 1, "jd_30s_first": 0}),
])
def test_each_kpi_counts_in_its_own_hours(hour: int, minute: int,
                                          expected: dict[str, int]) -> None:
    got = gauges(datetime(2026, 11, 11, hour, minute, tzinfo=SHANGHAI))
    assert got == {
        ("s_pdd", "pdd_5min"): expected["pdd_5min"],
        ("s_pdd", "pdd_3min_human"): expected["pdd_3min_human"],
        ("s_tb", "taobao_3min_human"): expected["taobao_3min_human"],
        ("s_jd", "jd_30s_first"): expected["jd_30s_first"],
    }


def test_the_hours_are_the_shops_local_ones() -> None:
    # 01:30 UTC is 09:30 in Shanghai: counted there, not in a shop kept on UTC
    doc = {"shops": {"s_pdd": {"timezone": "UTC"}}}
    got = gauges(datetime(2026, 11, 11, 9, 30, tzinfo=SHANGHAI), doc)
    assert got[("s_pdd", "pdd_5min")] == 0
    assert got[("s_tb", "taobao_3min_human")] == 1
    assert got[("s_jd", "jd_30s_first")] == 1


def test_configured_hours_are_followed() -> None:
    doc = {"shops": {"s_pdd": {"kpi_overrides": {"pdd_3min_human": {"counted_from": "10:00"}}}}}
    got = gauges(datetime(2026, 11, 11, 9, 30, tzinfo=SHANGHAI), doc)
    assert got[("s_pdd", "pdd_5min")] == 1
    assert got[("s_pdd", "pdd_3min_human")] == 0
