"""Orders (DOMAIN.md §7) through the drivers: the live pipeline, metrics, ``/figures``,
``chatwatch backfill`` (report, ``--by agent``, HTML, CSV columns, retention), the simulator."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics, EngineCollector
from agents.pipeline import Pipeline
from stream.backfill import run_backfill
from stream.cli import cli
from stream.config import load_settings
from stream.core.engine import Engine
from stream.inputs import read_events
from stream.report.conversion import figures_view
from stream.schema import Invalid, decode
from stream.simulate import Rates, TrafficModel
from tests.unit.test_backfill import FIELDS, _log, _write_log
from tests.unit.test_orders import order
from tests.unit.test_pipeline import FakeSink, FakeStore
from tests.unit.test_reply_window import T0_MS, ev

ORDER_FIELDS = ["inquiries", "paid_buyers", "conversion_rate", "chat_sales", "refunds",
                "avg_order_value", "silent_orders", "silent_sales",
                # the lead's counts (orders awaiting payment, by their day of creation)
                "unpaid_orders", "unpaid_amount", "unpaid_recovered"]


def chat() -> list[dict[str, Any]]:
    """Two shops: b1 consults a1 and pays, b2 pays silently, b3 asks a2 and does not pay."""
    return [
        ev("buyer", 0), ev("agent", 20), ev("buyer", 40), ev("agent", 50),
        order("created", 60), order("paid", 90, amount="199.00"),
        order("paid", 100, "o2", 20, buyer="b2"),
        ev("buyer", 120, buyer="b3"), ev("agent", 130, buyer="b3", agent_id="a2"),
        ev("buyer", 140, buyer="b3"), ev("agent", 150, buyer="b3", agent_id="a2"),
        order("refunded", 3600, amount="9.50"),
        ev("buyer", 0, shop="s2"),  # answered by nobody; no orders
    ]


def live(log: list[dict[str, Any]]) -> tuple[Pipeline, CollectorRegistry, FakeSink, FakeStore]:
    settings = load_settings(environ={})
    registry = CollectorRegistry()
    engine = Engine(settings.policies)
    store, sink = FakeStore(), FakeSink()
    pipeline = Pipeline(settings, engine, ChatwatchMetrics(registry), store, sink)
    registry.register(EngineCollector(engine, lambda: T0_MS + 4_000_000, lambda: [0]))
    for i, body in enumerate(log):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        pipeline.on_message(0, i, b"k", raw)
    return pipeline, registry, sink, store


def test_live_counters_gauges_and_dead_letters():
    bad = order("paid", 10, "o9", "1.005")
    pipeline, registry, sink, _ = live([*chat(), bad, order("shipped", 10, "o8")])
    value = registry.get_sample_value
    assert value("chatwatch_chat_sales_yuan_total", {"shop": "s1"}) == 199.0
    assert value("chatwatch_agent_chat_sales_yuan_total", {"shop": "s1", "agent": "a1"}) == 199.0
    assert value("chatwatch_silent_sales_yuan_total", {"shop": "s1"}) == 20.0
    assert value("chatwatch_chat_refunds_yuan_total", {"shop": "s1"}) == 9.5
    assert value("chatwatch_orders_paid_total", {"shop": "s1", "kind": "chat"}) == 1
    assert value("chatwatch_orders_paid_total", {"shop": "s1", "kind": "silent"}) == 1
    assert value("chatwatch_inquiries", {"shop": "s1"}) == 2
    assert value("chatwatch_conversion_rate", {"shop": "s1"}) == 0.5
    assert value("chatwatch_inquiries", {"shop": "s2"}) == 1
    assert value("chatwatch_conversion_rate", {"shop": "s2"}) == 0.0
    assert value("chatwatch_agent_conversion_rate", {"shop": "s1", "agent": "a1"}) == 1.0
    assert value("chatwatch_agent_conversion_rate", {"shop": "s1", "agent": "a2"}) == 0.0
    # the first waits opened before anyone spoke: unassigned, no payments
    assert value("chatwatch_agent_conversion_rate", {"shop": "s1", "agent": "unassigned"}) == 0
    dlq = sink.on("chat.events.dlq")
    assert len(dlq) == 2
    reasons = [dict(h)["reason"].decode() for t, _, _, h in sink.records
               if t == "chat.events.dlq"]
    assert "more than 2 decimals" in reasons[0] and "status 'shipped'" in reasons[1]
    assert value("chatwatch_dead_letters_total") == 2


def test_a_shop_without_inquiries_today_has_a_nan_rate():
    settings = load_settings(environ={})
    registry = CollectorRegistry()
    engine = Engine(settings.policies)
    pipeline = Pipeline(settings, engine, ChatwatchMetrics(registry), FakeStore(), FakeSink())
    registry.register(EngineCollector(engine, lambda: T0_MS, lambda: [0]))
    pipeline.on_message(0, 0, b"k", json.dumps(order("paid", 0, amount="5")).encode())
    assert math.isnan(registry.get_sample_value("chatwatch_conversion_rate", {"shop": "s1"}))
    assert registry.get_sample_value("chatwatch_inquiries", {"shop": "s1"}) == 0


def test_duplicate_orders_are_counted_as_duplicates_live():
    paid = order("paid", 90, amount="199.00")
    _, registry, _, _ = live([ev("buyer", 0), paid, dict(paid),
                              {**order("paid", 95, amount="1"), "event_id": "other"}])
    assert registry.get_sample_value("chatwatch_events_total", {"outcome": "duplicate"}) == 2
    assert registry.get_sample_value("chatwatch_chat_sales_yuan_total", {"shop": "s1"}) == 199


def test_restart_from_the_stored_rows_gives_the_same_figures_and_duplicates():
    pipeline, _, _, store = live(chat())
    settings = load_settings(environ={})
    restarted = Pipeline(settings, Engine(settings.policies), ChatwatchMetrics(CollectorRegistry()),
                         FakeStore(), FakeSink())
    assert restarted.load_partition(0, store.rows.items()) == len(store.rows)
    before = figures_view(pipeline.engine, [0])
    assert figures_view(restarted.engine, [0]) == before
    # a payment redelivered after the restart is still a duplicate
    restarted.on_message(0, 99, b"k", json.dumps(order("paid", 90, amount="199.00")).encode())
    assert figures_view(restarted.engine, [0]) == before


def test_figures_view_per_shop_and_ranked_agents():
    pipeline, _, _, _ = live(chat())
    view = figures_view(pipeline.engine, [0])
    s1 = next(r for r in view["shops"] if r["shop_id"] == "s1")
    assert s1["inquiries"] == 2 and s1["paid_buyers"] == 1 and s1["chat_sales"] == "199.00"
    assert s1["settled"] is False  # the window after b3's first wait is still open
    agents = [(r["agent"], r["rank"]) for r in view["agents"] if r["shop_id"] == "s1"]
    assert agents == [("a1", 1), ("a2", 2), ("unassigned", 3)]
    pipeline.engine.advance(0, T0_MS + 25 * 3_600_000)
    s1 = next(r for r in figures_view(pipeline.engine, [0])["shops"] if r["shop_id"] == "s1")
    assert s1["settled"] is True


# --- backfill ------------------------------------------------------------------------------------


def test_report_without_orders_is_unchanged(tmp_path: Path):
    log = _write_log(tmp_path / "log.jsonl", _log())
    out = tmp_path / "daily.jsonl"
    # the log has bad lines on purpose: more than the default --max-bad-share
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--report", str(out),
                                      "--max-bad-share", "0.5"], catch_exceptions=False)
    assert result.exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(list(r) == FIELDS for r in rows)
    settings = load_settings(environ={})
    expected = b"".join(json.dumps(r.as_dict(), separators=(",", ":")).encode() + b"\n"
                        for r in run_backfill(read_events([str(log)]), settings).report())
    assert out.read_bytes() == expected


def test_report_with_orders_has_every_shop_day_with_inquiries_or_orders(tmp_path: Path):
    night = order("paid", 0, "o7", "8.80", shop="s3")  # a shop with only a silent order
    log = _write_log(tmp_path / "log.jsonl", [*chat(), night])
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log)], catch_exceptions=False)
    rows = {r["shop_id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == {"s1", "s2", "s3"}
    assert all(list(r) == FIELDS + ORDER_FIELDS for r in rows.values())
    assert rows["s1"]["waits"] == 4 and rows["s1"]["inquiries"] == 2
    assert rows["s1"]["conversion_rate"] == 0.5 and rows["s1"]["chat_sales"] == "199.00"
    assert rows["s1"]["refunds"] == "9.50" and rows["s1"]["avg_order_value"] == "199.00"
    assert rows["s1"]["silent_orders"] == 1 and rows["s1"]["silent_sales"] == "20.00"
    assert rows["s2"]["inquiries"] == 1 and rows["s2"]["paid_buyers"] == 0
    assert rows["s3"]["consultations"] == 0 and rows["s3"]["reply_rate"] is None
    assert rows["s3"]["inquiries"] == 0 and rows["s3"]["conversion_rate"] is None
    assert rows["s3"]["silent_orders"] == 1 and rows["s3"]["silent_sales"] == "8.80"


def test_by_agent_ranks_agents_by_conversion_then_sales(tmp_path: Path):
    log = [ev("buyer", 0), ev("agent", 10), ev("buyer", 20), ev("agent", 30),
           order("paid", 40, amount="5")]
    for buyer, agent, amount in (("b2", "a2", "50"), ("b3", "a3", "50"), ("b4", "a3", None)):
        log += [ev("buyer", 0, buyer=buyer), ev("agent", 10, buyer=buyer, agent_id=agent),
                ev("buyer", 20, buyer=buyer), ev("agent", 30, buyer=buyer, agent_id=agent)]
        if amount:
            log.append(order("paid", 40, f"o-{buyer}", amount, buyer=buyer))
    path = _write_log(tmp_path / "log.jsonl", log)
    result = CliRunner().invoke(cli, ["backfill", "--input", str(path), "--by", "agent",
                                      "--violations"], catch_exceptions=False)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    ranking = [(r["agent"], r["rank"], r["conversion_rate"], r["chat_sales"]) for r in rows]
    assert ranking == [("a2", 1, 1.0, "50.00"), ("a1", 2, 1.0, "5.00"),
                       ("a3", 3, 0.5, "50.00"), ("unassigned", 4, 0.0, "0.00")]
    assert all("violations_critical" in r and "silent_orders" not in r for r in rows)


def test_csv_order_columns_are_mapped(tmp_path: Path):
    path = tmp_path / "log.csv"
    path.write_text(
        "id,time,shop,buyer,kind,who,agent,text,order,state,yuan\n"
        f"1,{T0_MS},s1,b1,message,buyer,,在吗,,,\n"
        f"2,{T0_MS + 10_000},s1,b1,message,agent,a1,在的,,,\n"
        f"3,{T0_MS + 60_000},s1,b1,order,,,,T-1,paid,19.90\n"
        f"4,{T0_MS + 70_000},s1,b1,order,,,,T-2,paid,-3\n", encoding="utf-8")
    columns = ["event_id=id", "ts=time", "shop_id=shop", "buyer_id=buyer", "type=kind",
               "sender=who", "agent_id=agent", "order_id=order", "status=state", "amount=yuan"]
    args = ["backfill", "--input", str(path)] + [a for c in columns for a in ("--column", c)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["chat_sales"] == "19.90" and rows[0]["paid_buyers"] == 1
    assert "negative" in result.stderr


def test_html_summary_shows_conversion_and_agent_ranking(tmp_path: Path):
    log = _write_log(tmp_path / "log.jsonl", chat())
    page = tmp_path / "summary.html"
    CliRunner().invoke(cli, ["backfill", "--input", str(log), "--summary-html", str(page)],
                       catch_exceptions=False)
    text = page.read_text(encoding="utf-8")
    assert "询单转化率 Daily inquiry conversion" in text and 'class="ranking"' in text
    ranking = text.split('class="ranking"')[1].split("</table>")[0]
    assert ranking.index("a1") < ranking.index("a2")
    assert "<td>199.00</td>" in ranking


def test_retention_keeps_the_conversion_of_days_it_sets_aside():
    settings = load_settings(environ={})
    log = [*chat(), ev("buyer", 5 * 86_400, buyer="late")]
    plain = run_backfill(_records(log), settings)
    bounded = run_backfill(_records(log), settings, retention_hours=1)
    assert [r.as_dict() for r in bounded.conversion()] == \
        [r.as_dict() for r in plain.conversion()]
    assert [r.as_dict() for r in bounded.conversion(agents=True)] == \
        [r.as_dict() for r in plain.conversion(agents=True)]


def _records(log: list[dict[str, Any]]):
    from stream.inputs import Record

    for n, body in enumerate(log, 1):
        raw = json.dumps(body).encode()
        yield Record("log", n, raw, decode(raw))


# --- the simulator -------------------------------------------------------------------------------


def test_simulated_traffic_has_orders_mostly_after_a_consultation():
    model = TrafficModel(seed=5, shops=3, agents_per_shop=2, buyers=3000, rate=30)
    events = [e for e in (decode(s.value) for s in itertools.islice(model.events(), 20_000))
              if not isinstance(e, Invalid)]
    statuses = Counter(e.status for e in events if e.type == "order")
    assert statuses["paid"] > 100 and statuses["created"] >= statuses["paid"]
    assert 0 < statuses["refunded"] < statuses["paid"] / 4 and statuses["cancelled"] > 0
    settings = load_settings(environ={})
    engine = Engine(settings.policies)
    for e in events:
        engine.apply(e)
    rows = engine.order_book().report()
    paid = sum(r.paid_buyers for r in rows)
    silent = sum(r.silent_orders for r in rows)
    assert 0 < silent < paid
    rate = sum(r.paid_buyers for r in rows) / sum(r.inquiries for r in rows)
    assert 0.1 < rate < 0.6
    assert TrafficModel(seed=5, rates=Rates(order=0, silent_buyer=0)).rates.order == 0
    quiet = TrafficModel(seed=5, shops=3, buyers=3000, rate=30,
                         rates=Rates(order=0, silent_buyer=0))
    assert not any(b'"order"' in s.value for s in itertools.islice(quiet.events(), 5000))
