"""Property: the live driver and ``chatwatch backfill`` publish the same thing for any log.

Random logs over several platforms, per-shop overrides, events without ``platform``,
forbidden content, orders (valid, repeated and invalid; DOMAIN.md §7), duplicates and
out-of-order times go through the live pipeline (fake
ports, any number of partitions, sweeps at random wall times, then one far in the future) and
through the backfill driver (records, tally, OpenMetrics history); producers run on time (their
clocks within the configured skew), as the live breach rule assumes. Required equal: the
``chat.breaches`` and ``chat.violations`` records (a breach record per KPI), the counters of
``/metrics`` and the last OpenMetrics sample (the KPI counters included), the daily figures,
the conversion figures per shop and agent, the violation counts of the report and the KPI
report, per shop and per agent.
The real worker is compared the same way in ``tests/integration/test_live_equals_backfill.py``.
"""

from __future__ import annotations

import io
import json
import zlib
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics
from agents.pipeline import Pipeline
from stream.backfill import RecordWriter, run_backfill
from stream.config import Settings
from stream.core.engine import Engine
from stream.inputs import Record
from stream.report.kpi_report import kpi_rows
from stream.report.openmetrics import MetricsHistory
from stream.report.tally import Tally, report_rows
from stream.schema import decode
from tests.unit.test_pipeline import FakeAlerts, FakeSink, FakeStore
from tests.unit.test_reply_window import T0, ev, settings_yaml

SETTINGS: Settings = settings_yaml("""
    shops:
      s3: {timezone: America/New_York, platform: taobao}
      s4: {content_mode: handover, window_seconds: 120}
""")

# (shop, buyer, conversation id or None for the default, platform of the first event)
CONVERSATIONS = [
    ("s1", "b1", None, None), ("s1", "b2", None, "pdd"), ("s2", "b1", None, "taobao"),
    ("s2", "b3", None, "jd"), ("s3", "b4", None, None), ("s4", "b5", "s4-c", "douyin"),
]
KINDS = ["buyer", "buyer", "agent", "agent", "bot", "ad", "system", "read", "transfer",
         "order", "order"]
STATUSES = ["created", "paid", "paid", "paid", "refunded", "refunded", "cancelled", "shipped"]
AMOUNTS = ["19.90", 19.9, "0.01", 100, "5", 7.35, "3.333", None]
TEXTS = ["好的亲", "在", "加我微信 wx_abc123", "亲，微信支付可以用的", "打我电话13812345678",
         "vx: lily_2024 或者 qq 123456789", "订单号231111-123456789012345已发货",
         "支付宝付款也行", "链接 www.example-shop.cn 看看", "好" * 40]
GUARD = SETTINGS.content.guard()  # immutable: one for every example (it takes a while to build)
FIGURE_COUNTERS = ("chatwatch_events", "chatwatch_events_out_of_order", "chatwatch_dead_letters",
                   "chatwatch_waits", "chatwatch_waits_breached", "chatwatch_agent_breaches",
                   "chatwatch_response_seconds", "chatwatch_violations",
                   "chatwatch_agent_violations", "chatwatch_kpi_breaches",
                   "chatwatch_agent_kpi_breaches", "chatwatch_first_response_seconds",
                   "chatwatch_orders_paid")
# Sales in yuan are floats at the metrics boundary: summed in another order (partitions) they
# may differ in the last bit, so they are compared to the fen.
SALES_COUNTERS = ("chatwatch_chat_sales_yuan", "chatwatch_silent_sales_yuan",
                  "chatwatch_agent_chat_sales_yuan", "chatwatch_chat_refunds_yuan")


@st.composite
def logs(draw: Any) -> list[dict[str, Any]]:
    """A random log; later events of a conversation often name no platform."""
    clock = T0
    log: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for _ in range(draw(st.integers(1, 50))):
        if log and draw(st.integers(0, 9)) == 0:
            log.append(dict(draw(st.sampled_from(log))))  # a redelivered event
            continue
        # Time moves on; a producer's clock may run a little behind (within the configured
        # skew): out of order within a conversation (rule 7) and across conversations.
        clock += timedelta(milliseconds=draw(st.sampled_from(
            [0, 1, 1_000, 15_000, 30_000, 30_001, 60_000, 120_000, 120_001, 180_001, 299_999,
             300_000, 300_001, 600_000])))
        jitter = draw(st.sampled_from([0, 0, 0, -1, -400]))
        shop, buyer, cid, platform = draw(st.sampled_from(CONVERSATIONS))
        extra: dict[str, Any] = {}
        if cid:
            extra["conversation_id"] = cid
        if platform and ((shop, buyer) not in seen or draw(st.booleans())):
            extra["platform"] = platform
        seen.add((shop, buyer))
        kind = draw(st.sampled_from(KINDS))
        if kind in ("agent", "bot", "transfer"):
            extra["agent_id"] = draw(st.sampled_from(["a1", "a2"]))
        if kind == "order":
            # long gaps too, so that payments fall on both sides of the conversion window;
            # the log stays within the live worker's state retention (48 h), which forgets
            # older days where backfill keeps them
            gap = timedelta(hours=draw(st.sampled_from([0] * 8 + [12, 23, 25])))
            if clock + gap - T0 < timedelta(hours=40):
                clock += gap
            event = ev("read", clock + timedelta(milliseconds=jitter), shop=shop, buyer=buyer,
                       **extra)
            event.update(type="order", order_id=draw(st.sampled_from(["o1", "o2"])),
                         status=draw(st.sampled_from(STATUSES)))
            amount = draw(st.sampled_from(AMOUNTS))
            if amount is not None:
                event["amount"] = amount
            if draw(st.integers(0, 5)) == 0:
                event["buyer_kind"] = "ad"
            log.append(event)
            continue
        event = ev(kind, clock + timedelta(milliseconds=jitter), shop=shop, buyer=buyer,
                   **extra)
        if event.get("type") == "message":
            event["text"] = draw(st.sampled_from(TEXTS))
        log.append(event)
    return log


def counters(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))):
            round(s.value, 2) if family.name in SALES_COUNTERS else s.value
            for family in registry.collect() if family.name in FIGURE_COUNTERS + SALES_COUNTERS
            for s in family.samples if not s.name.endswith("_created")}


def live(log: list[dict[str, Any]], partitions: int, sweeps: list[int]):
    registry = CollectorRegistry()
    sink = FakeSink()
    engine = Engine(SETTINGS.policies, GUARD)
    pipeline = Pipeline(SETTINGS, engine, ChatwatchMetrics(registry), FakeStore(), sink,
                        FakeAlerts())
    offsets = [0] * partitions
    for i, body in enumerate(log):
        raw = json.dumps(body, ensure_ascii=False).encode()
        cid = body.get("conversation_id") or f"{body['shop_id']}:{body['buyer_id']}"
        p = zlib.crc32(cid.encode()) % partitions
        pipeline.on_message(p, offsets[p], cid.encode(), raw)
        offsets[p] += 1
        if i < len(sweeps) and sweeps[i] >= 0:
            # the sweeper runs at wall time ~ the latest event's; the partition just written
            # to may still have records to read (not caught up)
            pipeline.sweep(body_ms(body) + sweeps[i], {q: q != p for q in range(partitions)})
    last = max(body_ms(b) for b in log)
    pipeline.sweep(last + 10**9, dict.fromkeys(range(partitions), True))  # long after
    return engine, registry, sink


def body_ms(body: dict[str, Any]) -> int:
    # as a read event: the time of an invalid order (dead-lettered) still moves the sweeps
    event = decode(json.dumps({**body, "type": "read"}).encode())
    return event.ts_ms  # type: ignore[union-attr]


def backfill(log: list[dict[str, Any]]):
    engine = Engine(SETTINGS.policies, GUARD)
    tally = Tally(engine, violations=True)
    history = MetricsHistory(engine, 60)
    breaches, violations = io.BytesIO(), io.BytesIO()
    records = (Record("log", n, json.dumps(b).encode(), decode(json.dumps(b).encode()))
               for n, b in enumerate(log, 1))
    result = run_backfill(records, SETTINGS, engine=engine, metrics=history,
                          listeners=[tally, RecordWriter(engine, breaches, violations)])
    history.close()
    return result, tally, history, breaches.getvalue(), violations.getvalue()


def lines(raw: bytes) -> list[dict[str, Any]]:
    return sorted((json.loads(line) for line in raw.splitlines()), key=lambda r: r["id"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs(), partitions=st.integers(1, 3),
       sweeps=st.lists(st.sampled_from([-1, -1, 0, 50, 100]), max_size=50))
def test_live_publishes_what_backfill_reports(log, partitions, sweeps):
    engine, registry, sink = live(log, partitions, sweeps)
    result, tally, history, breaches, violations = backfill(log)
    assert sorted(sink.on("chat.breaches"), key=lambda r: r["id"]) == lines(breaches)
    assert sorted(sink.on("chat.violations"), key=lambda r: r["id"]) == lines(violations)
    assert counters(registry) == counters(history.registry)
    assert [r.as_dict() for r in engine.book().report()] == [r.as_dict() for r in
                                                            result.report()]
    # every KPI: the --kpi-report rows are the live engine's read-outs, per shop and agent
    assert kpi_rows(result.engine) == kpi_rows(engine)
    live_agents, offline_agents = kpi_rows(engine, True), kpi_rows(result.engine, True)
    if partitions > 1:  # the concurrency peak is per partition's event order
        for row in live_agents + offline_agents:
            row.pop("max_concurrent")
    assert live_agents == offline_agents
    for agents in (False, True):
        assert [r.as_dict() for r in engine.order_book().report(agents=agents)] == \
            [r.as_dict() for r in result.conversion(agents=agents)]
        # the lead's counts: orders awaiting payment (by day of creation), lost inquiries
        assert [r.lead_fields() for r in engine.order_book().report(agents=agents)] == \
            [r.lead_fields() for r in result.conversion(agents=agents)]
    # and the lead's lists, whatever the sweeps did meanwhile (statuses read at one time)
    far = max(body_ms(b) for b in log) + 10**9
    assert [u.as_dict() for u in engine.unpaid_orders(every=True, now_ms=far)] == \
        [u.as_dict() for u in result.engine.unpaid_orders(every=True, now_ms=far)]
    assert [e.as_dict() for e in engine.lost_inquiries()] == \
        [e.as_dict() for e in result.engine.lost_inquiries()]
    # the sales counters are the report's chat sales summed per shop
    live_sales = {dict(labels)["shop"]: v for (name, labels), v in counters(registry).items()
                  if name == "chatwatch_chat_sales_yuan_total"}
    for shop in {r.shop_id for r in result.conversion()}:
        assert live_sales.get(shop, 0.0) == round(sum(
            int(r.chat_sales.replace(".", "")) for r in result.conversion()
            if r.shop_id == shop) / 100, 2)
    # the report's violation counts are the live counters summed per shop
    rows = report_rows(result.report(), tally, violations=True)
    for severity in ("critical", "warning", "info"):
        for shop in {r["shop_id"] for r in rows}:
            live_total = sum(v for (name, labels), v in counters(registry).items()
                             if name == "chatwatch_agent_violations_total"
                             and dict(labels)["shop"] == shop
                             and dict(labels)["severity"] == severity)
            assert live_total == sum(r[f"violations_{severity}"] for r in rows
                                     if r["shop_id"] == shop)
