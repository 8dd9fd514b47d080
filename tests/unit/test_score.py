"""The platform's score (DOMAIN.md §3, "Platform score"): rolling windows, gates, breach
budgets, the end-of-day forecast, and a live worker that shows the same after a restart."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics, EngineCollector
from agents.pipeline import Pipeline, encode_row
from stream.backfill import run_backfill
from stream.cli import cli
from stream.config import load_settings
from stream.core.engine import Engine
from stream.core.kpi import BUILTIN_KPIS, Gate, Kpi
from stream.core.score import SETTLED_PREFIX, budget, forecast, score_of
from stream.inputs import Record
from tests.unit.test_pipeline import FakeAlerts, FakeSink
from tests.unit.test_reply_window import T0, ev, to_event

# --- the rules, by hand ---------------------------------------------------------------------


@pytest.mark.parametrize(("units", "breached", "target", "expected"), [
    (20, 4, 0.70, 2),     # floor(20 x 0.30) = 6 allowed, 4 used
    (20, 7, 0.70, 0),     # over: never below 0
    (10, 0, 0.90, 1),     # floor(10 x 0.10) = 1 exactly (binary floats give 0.999...)
    (3, 0, 0.70, 0),      # floor(0.9) = 0
    (0, 0, 0.70, 0),
    (7, 1, 0.5, 2),       # floor(3.5) - 1
])
def test_breach_budget(units: int, breached: int, target: float, expected: int) -> None:
    assert budget(units, breached, target) == expected


TAOBAO = BUILTIN_KPIS["taobao_3min_human"]
PDD = BUILTIN_KPIS["pdd_5min"]
D = 740_000  # a day ordinal


def test_the_score_sums_units_over_its_window_and_ignores_days_without() -> None:
    days = {D: (10, 2), D - 1: (0, 0), D - 5: (30, 3), D - 29: (10, 10), D - 30: (100, 100)}
    found = score_of(TAOBAO, D, days)
    assert (found.window_units, found.window_breached) == (50, 15)  # D-30 is outside
    assert found.score == pytest.approx(35 / 50)
    assert found.score_days == 30
    assert found.budget == 1  # floor(10 x 0.30) - 2
    assert found.score_budget == 0  # floor(50 x 0.30) = 15 - 15
    assert found.gate_ok is None
    assert score_of(TAOBAO, D, {}).score is None


def test_the_gate_needs_every_day_at_min_rate_and_a_day_without_units_passes() -> None:
    assert PDD.gate == Gate(3, 0.50)
    assert PDD.score_days == 1
    assert score_of(PDD, D, {D: (10, 5), D - 1: (0, 0), D - 2: (4, 2)}).gate_ok is True
    assert score_of(PDD, D, {D: (10, 5), D - 1: (3, 2), D - 2: (4, 2)}).gate_ok is False
    assert score_of(PDD, D, {D - 3: (3, 3)}).gate_ok is True  # outside the window
    one_day = score_of(PDD, D, {D: (10, 5), D - 1: (9, 9)})
    assert one_day.score == 0.5 and one_day.window_units == 10  # score_days 1: today only


def test_gate_rates_compare_exactly() -> None:
    kpi = Kpi("k", 60, gate=Gate(1, 0.7))
    assert score_of(kpi, D, {D: (10, 3)}).gate_ok is True  # 0.7 exactly
    assert score_of(kpi, D, {D: (1000, 301)}).gate_ok is False


def test_the_forecast_reads_the_same_hours_of_past_days() -> None:
    # every past day: 100 units, all between 08:00 and 20:00, 10 an hour
    hours = [10 if 8 <= h < 18 else 0 for h in range(24)] + [0] * 24
    history = {D - k: (100, hours) for k in range(1, 8)}
    today = [10 if 8 <= h < 12 else 0 for h in range(24)] + [0] * 11 + [4] + [0] * 12
    at_noon = forecast("k", D, 12, 0, (40, 4), today, history)
    assert at_noon.units == pytest.approx(100)  # 40 so far + the 60 past days had after noon
    # the last hour (11:00-12:59) breached 4 of 10: 60 x 0.4 more breaches
    assert at_noon.rate == pytest.approx((100 - 4 - 24) / 100)
    assert at_noon.history_days == 7
    empty = forecast("k", D, 12, 0, (0, 0), None, {})
    assert empty.units == 0 and empty.rate is None


def test_the_forecast_prefers_the_same_weekdays() -> None:
    flat = [1] * 24 + [0] * 24
    evening = [0] * 20 + [1] * 4 + [0] * 24
    history = {D - 7: (70, evening), D - 14: (70, evening), D - 1: (10, flat), D - 2: (10, flat)}
    found = forecast("k", D, 12, 0, (0, 0), None, history)
    assert found.units == pytest.approx(70) and found.history_days == 2


# --- backfill --kpi-report ------------------------------------------------------------------


def day_of(k: int, shop: str, platform: str, late: int) -> list[dict[str, Any]]:
    """Day ``k`` after T0: 4 buyers of ``shop``, the first ``late`` answered after 6 minutes."""
    out = []
    for b in range(4):
        at = T0 + timedelta(days=k, minutes=10 * b)
        reply = timedelta(minutes=6) if b < late else timedelta(seconds=30)
        buyer = f"{shop}-d{k}b{b}"
        out += [ev("buyer", at, shop=shop, buyer=buyer, platform=platform),
                ev("agent", at + reply, shop=shop, buyer=buyer, platform=platform)]
    return out


def week() -> list[dict[str, Any]]:
    """Six days of a Taobao shop and a PDD shop; PDD's day 3 is below 50 %."""
    log: list[dict[str, Any]] = []
    for k in range(6):
        log += day_of(k, "tb", "taobao", late=k % 3)
        log += day_of(k, "pdd", "pdd", late=3 if k == 3 else 1)
    return log


def test_backfill_kpi_report_carries_the_score_gate_and_budget(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in week()))
    out = tmp_path / "kpi.jsonl"
    result = CliRunner().invoke(cli, ["backfill", "--input", str(path), "--report",
                                      str(tmp_path / "d.jsonl"), "--kpi-report", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    tb = [r for r in rows if r["shop_id"] == "tb"]
    assert [r["units_breached"] for r in tb] == [0, 1, 2, 0, 1, 2]
    # Taobao's score is rolling 30 days: Σ(units - breached) / Σ units up to each day
    assert [r["score"] for r in tb] == pytest.approx(
        [4 / 4, 7 / 8, 9 / 12, 13 / 16, 16 / 20, 18 / 24])
    assert {r["score_days"] for r in tb} == {30}
    assert [r["breach_budget"] for r in tb] == [1, 0, 0, 1, 0, 0]  # floor(4 x 0.3) = 1
    assert all("gate_ok" not in r for r in tb)
    pdd = [r for r in rows if r["shop_id"] == "pdd" and r["kpi"] == "pdd_5min"]
    # the gate: day 3 at 25 % fails it for days 3, 4 and 5 (3 days ending on each)
    assert [r["gate_ok"] for r in pdd] == [True, True, True, False, False, False]
    assert [r["score"] for r in pdd] == [0.75, 0.75, 0.75, 0.25, 0.75, 0.75]
    human = [r for r in rows if r["shop_id"] == "pdd" and r["kpi"] == "pdd_3min_human"]
    assert human and all("gate_ok" not in r for r in human)


# --- live: the same numbers, and after a restart --------------------------------------------


def live(settings: Any, store: Any) -> tuple[Pipeline, CollectorRegistry]:
    registry = CollectorRegistry()
    pipeline = Pipeline(settings, Engine(settings.policies), ChatwatchMetrics(registry), store,
                        FakeSink(), FakeAlerts())
    return pipeline, registry


class Store:
    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}

    def put(self, partition: int, key: str, row: Any) -> None:
        self.rows[key] = encode_row(row)

    def delete(self, partition: int, key: str) -> None:
        self.rows.pop(key, None)


def test_a_restarted_worker_shows_the_score_a_backfill_gives() -> None:
    settings = load_settings(environ={"CHATWATCH_STATE_RETENTION_HOURS": "24"})
    log = week()
    store = Store()
    pipeline, _ = live(settings, store)
    wall = 0
    for offset, body in enumerate(log):
        pipeline.on_message(0, offset, b"k", json.dumps(body).encode())
        wall += 3_600_000  # the sweeper runs, and evicts now and then
        pipeline.sweep(wall, {0: True})
    engine = pipeline.engine
    last = (T0 + timedelta(days=5)).date().toordinal()
    assert any(k.startswith(SETTLED_PREFIX) for k in store.rows), "no day was settled"
    assert len({d for _, d in engine.kpi_book().totals}) < 6  # the rows forgot early days

    full = Engine(settings.policies)
    run_backfill(iter(Record("log", n, b"", to_event(b)) for n, b in enumerate(log)),
                 settings, engine=full)
    for shop in ("tb", "pdd"):
        assert engine.scores(shop, last) == full.scores(shop, last), shop

    restarted, registry = live(settings, store)
    restarted.load_partition(0, list(store.rows.items()))
    for shop in ("tb", "pdd"):
        assert restarted.engine.scores(shop, last) == full.scores(shop, last), shop
    registry.register(EngineCollector(restarted.engine, lambda: engine.partition(0).max_event_ms,
                                      lambda: [0]))
    tb = full.scores("tb", last)[0]
    assert registry.get_sample_value("chatwatch_kpi_score", {"shop": "tb", "kpi": tb.kpi}) \
        == pytest.approx(18 / 24) == tb.score
    assert registry.get_sample_value("chatwatch_kpi_gate_ok",
                                     {"shop": "pdd", "kpi": "pdd_5min"}) == 0.0
    assert registry.get_sample_value("chatwatch_kpi_breach_budget",
                                     {"shop": "tb", "kpi": tb.kpi, "scope": "score"}) == 1.0
    # floor(24 x 0.30) = 7 allowed over the window, 6 breached
