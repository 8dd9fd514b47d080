"""Per-shop gauges computed from the engine at scrape time (agents.metrics.EngineCollector)."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from agents.metrics import EngineCollector
from stream.config import settings_from_mapping
from stream.core.engine import Engine
from stream.schema import decode

T0 = 1794362400000  # 2026-11-11T10:00:00+08:00


def test_each_shop_exports_its_own_targets_from_configuration() -> None:
    settings = settings_from_mapping({
        "platforms": {"taobao": {"at_risk_seconds": 200}},
        "shops": {"s1": {"at_risk_seconds": 120, "reply_rate_target": 0.8}},
    }, {})
    engine = Engine(settings.policies)
    for shop, platform in (("s1", "pdd"), ("s2", "pdd"), ("s3", "taobao")):
        event = decode(json.dumps({
            "event_id": f"e-{shop}", "ts": T0, "shop_id": shop, "buyer_id": "b1",
            "platform": platform, "type": "message", "sender": "buyer", "text": "在吗"}).encode())
        engine.apply(event)
    registry = CollectorRegistry()
    registry.register(EngineCollector(engine, lambda: T0 + 30_000, lambda: [0]))

    def gauge(name: str, shop: str) -> float | None:
        return registry.get_sample_value(name, {"shop": shop})

    assert gauge("chatwatch_wait_at_risk_seconds", "s1") == 120   # the shop's override
    assert gauge("chatwatch_wait_at_risk_seconds", "s2") == 240   # the default
    assert gauge("chatwatch_wait_at_risk_seconds", "s3") == 200   # the platform's
    assert gauge("chatwatch_reply_rate_target", "s1") == 0.8
    assert gauge("chatwatch_oldest_wait_seconds", "s1") == 30


def test_a_scrape_before_any_watermark_answers() -> None:
    # right after start-up the event-time watermark is 0: every gauge still has a value
    from prometheus_client import CollectorRegistry, generate_latest

    from agents.metrics import EngineCollector
    from stream.config import load_settings
    from stream.core.engine import Engine
    from tests.unit.test_reply_window import ev, to_event

    engine = Engine(load_settings(environ={}).policies)
    engine.apply(to_event(ev("buyer", 0)))
    registry = CollectorRegistry()
    registry.register(EngineCollector(engine, lambda: 0, lambda: [0]))
    text = generate_latest(registry).decode()
    assert 'chatwatch_kpi_units{kpi="pdd_5min",shop="s1"} 0.0' in text
    assert 'chatwatch_open_waits{shop="s1"} 1.0' in text
