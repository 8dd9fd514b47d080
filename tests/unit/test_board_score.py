"""Issue 31: the board's KPI tiles carry the platform's view (DOMAIN.md §3, "Platform score").

Each KPI of ``/api/summary`` says today's rate, the rolling score, the gate, both breach
budgets and the end-of-day forecast, the same numbers as ``Engine.scores`` /
``Engine.forecasts`` (the worker's gauges); ``chatwatch board`` over several workers
recomputes them from the summed units, so a shop split over two workers shows what one
worker holding all of it shows.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from agents.board.data import LocalSource
from agents.board.feed import BoardFeed
from agents.board.merge import MergedSource, _add_shop, _copy
from stream.backfill import run_backfill
from stream.config import load_settings
from stream.core.engine import Engine
from stream.inputs import Record
from tests.unit.test_reply_window import T0, to_event
from tests.unit.test_score import day_of, week

SETTINGS = load_settings(environ={})
LAST = 5  # the week's last day, as days after T0


def engine_of(log: list[dict[str, Any]]) -> Engine:
    engine = Engine(SETTINGS.policies)
    run_backfill(iter(Record("log", n, b"", to_event(b)) for n, b in enumerate(log)),
                 SETTINGS, engine=engine)
    return engine


def summary(engine: Engine, days: int, shop: str | None = None) -> dict[str, Any]:
    """``/api/summary`` of one worker holding partition 0, ``days`` after T0 at 22:00."""
    now = int((T0 + timedelta(days=days, hours=12)).timestamp() * 1000)
    return LocalSource(engine, BoardFeed(), lambda: [0], lambda: now).summary(shop)


def tiles(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(s["shop_id"], k["name"]): k for s in body["shops"] for k in s["kpis"]}


def test_each_tile_carries_the_score_gate_budgets_and_forecast() -> None:
    engine = engine_of(week())
    body = summary(engine, LAST)
    shown = tiles(body)
    tb = shown[("tb", "taobao_3min_human")]
    # today 4 rounds, 2 late; the 30-day score sums the six days: 18 of 24 met
    assert (tb["units"], tb["breached"], tb["value"]) == (4, 2, 0.5)
    assert tb["score"] == pytest.approx(18 / 24) and tb["score_days"] == 30
    assert (tb["window_units"], tb["window_breached"]) == (24, 6)
    assert tb["budget"] == 0  # floor(4 x 0.30) = 1 allowed, 2 used: never below 0
    assert tb["score_budget"] == 1  # floor(24 x 0.30) = 7 allowed, 6 used
    assert tb["gate"] is None and tb["gate_units"] is None

    pdd = shown[("pdd", "pdd_5min")]
    # PDD's score is today's; the gate needs >= 50 % on each of the last 3 days: day 3 had 25 %
    assert pdd["score"] == 0.75 and pdd["score_days"] == 1
    assert pdd["gate"] == "failed" and (pdd["gate_days"], pdd["gate_min_rate"]) == (3, 0.5)
    assert pdd["gate_units"] == [[4, 3], [4, 1], [4, 1]]
    assert pdd["budget"] == 0  # floor(4 x 0.30) = 1, 1 used
    assert shown[("pdd", "pdd_3min_human")]["gate"] is None

    # the same numbers as the engine's read-outs the gauges export
    day = (T0 + timedelta(days=LAST)).date().toordinal()
    now = body["now_ms"]
    for shop in ("tb", "pdd"):
        platform = "taobao" if shop == "tb" else "pdd"
        for score in engine.scores(shop, day, [0], platform):
            tile = shown[(shop, score.kpi)]
            assert (tile["score"], tile["window_units"], tile["window_breached"],
                    tile["budget"], tile["score_budget"]) == (
                score.score, score.window_units, score.window_breached, score.budget,
                score.score_budget)
            assert tile["gate"] == {None: None, True: "ok", False: "failed"}[score.gate_ok]
        for expected in engine.forecasts(shop, now, [0], platform):
            tile = shown[(shop, expected.kpi)]
            assert (tile["forecast_rate"], tile["forecast_units"],
                    tile["forecast_history_days"]) == (expected.rate, expected.units,
                                                       expected.history_days)
    # five earlier days of 4 units each, none after 22:00: the day is expected to end at 4
    assert pdd["forecast_history_days"] == 5 and pdd["forecast_units"] == pytest.approx(4.0)


def test_the_gate_passes_when_every_day_of_its_window_does() -> None:
    engine = engine_of(week())
    shown = tiles(summary(engine, 2, "pdd"))  # days 0..2: 3 of 4 met each day
    assert shown[("pdd", "pdd_5min")]["gate"] == "ok"
    assert shown[("pdd", "pdd_5min")]["gate_units"] == [[4, 1], [4, 1], [4, 1]]


def _split(log: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The first buyer of each day (the late one) on one worker, the others on another."""
    first = [e for e in log if e["buyer_id"].endswith("b0")]
    rest = [e for e in log if not e["buyer_id"].endswith("b0")]
    return first, rest


def merged_summary(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """``chatwatch board``'s summary over workers that answered ``bodies`` (as JSON)."""
    answers = {f"w{i}": json.loads(json.dumps(body)) for i, body in enumerate(bodies)}
    merged = MergedSource(lambda: list(answers))

    async def fetch(url: str, path: str, query: dict[str, Any]) -> dict[str, Any]:
        assert path == "/api/summary"
        return answers[url]

    merged._fetch = fetch  # type: ignore[method-assign]
    body: dict[str, Any] = asyncio.run(merged.summary())
    assert all(w["ok"] for w in body["workers"])
    return body


def test_merging_workers_recomputes_the_score_gate_and_budgets_from_the_sums() -> None:
    log = [e for k in range(3) for e in day_of(k, "pdd", "pdd", late=1)
           + day_of(k, "tb", "taobao", late=1)]
    whole = tiles(summary(engine_of(log), 2))
    one, other = (summary(engine_of(part), 2) for part in _split(log))
    merged = tiles(merged_summary([one, other]))

    # the worker holding only the late buyer fails the gate every day (0 of 1 met), the
    # shop as a whole passes it (3 of 4 each day): the gate is judged on the summed days
    assert tiles(one)[("pdd", "pdd_5min")]["gate"] == "failed"
    assert merged[("pdd", "pdd_5min")]["gate"] == whole[("pdd", "pdd_5min")]["gate"] == "ok"
    assert merged[("pdd", "pdd_5min")]["gate_units"] == [[4, 1], [4, 1], [4, 1]]
    # budgets from the summed units: floor(12 x 0.30) - 3 = 0 over the window, whatever
    # each worker's own budget was (floor(9 x 0.30) = 2 on the punctual worker)
    assert tiles(other)[("tb", "taobao_3min_human")]["score_budget"] == 2
    for key, tile in whole.items():
        for name in ("units", "breached", "value", "score", "score_days", "window_units",
                     "window_breached", "budget", "score_budget", "gate", "gate_units"):
            assert merged[key][name] == tile[name], (key, name)


def test_merged_forecast_is_the_expected_units_met_over_the_expected_units() -> None:
    def row(units: float, rate: float | None, history: int) -> dict[str, Any]:
        kpi = {"name": "k", "window_seconds": 300, "units": 0, "breached": 0, "value": None,
               "target": 0.7, "score": None, "score_days": 1, "window_units": 0,
               "window_breached": 0, "budget": 0, "score_budget": 0, "gate": None,
               "gate_days": None, "gate_min_rate": None, "gate_units": None,
               "forecast_rate": rate, "forecast_units": units, "forecast_history_days": history}
        return {"day": "2026-11-11", "open_waits": 0, "uncounted_open_waits": 0,
                "at_risk_waits": 0, "breached_waits": 0, "waiting": 0,
                "oldest_wait_seconds": 0.0, "figures": None, "kpis": [kpi]}

    mine = _copy(row(30.0, 0.9, 7))
    _add_shop(mine, row(10.0, 0.5, 3))
    [kpi] = mine["kpis"]
    assert kpi["forecast_units"] == 40.0
    assert kpi["forecast_rate"] == pytest.approx((27 + 5) / 40)
    assert kpi["forecast_history_days"] == 7
    _add_shop(mine, row(0.0, None, 0))  # a worker expecting nothing changes nothing
    assert kpi["forecast_rate"] == pytest.approx(32 / 40)


def test_the_worker_reads_a_page_s_scores_in_slices_before_the_summary(monkeypatch) -> None:
    import agents.board.data as data

    engine = engine_of(week())
    now = int((T0 + timedelta(days=LAST, hours=12)).timestamp() * 1000)
    src = LocalSource(engine, BoardFeed(), lambda: [0], lambda: now)
    whole = src.summary()
    asyncio.run(src.prepare("summary", None, limit=1, cursor="pdd"))  # the page: "tb"
    read: list[str] = []
    real = data.shop_scores
    monkeypatch.setattr(data, "shop_scores", lambda engine, shop, *rest: (
        read.append(shop), real(engine, shop, *rest))[1])
    page = src.summary(None, 1, "pdd")
    assert read == [] and page["shops"] == [s for s in whole["shops"] if s["shop_id"] == "tb"]
    src.summary(None, 1, "pdd")  # read once: the next summary reads the engine again
    assert read == ["tb"]
