"""Backfill -> OpenMetrics -> promtool TSDB blocks -> a real Prometheus answers about the past."""

from __future__ import annotations

import itertools
import math
import subprocess
import time
import urllib.parse
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.local import find_tool, run_prometheus
from stream.backfill import run_backfill
from stream.config import Settings
from stream.core.engine import Engine
from stream.inputs import read_events
from stream.report.openmetrics import MetricsHistory
from stream.simulate import TrafficModel

pytestmark = [
    pytest.mark.slow,
    pytest.mark.requires_tools("promtool", "prometheus"),
]


def history_start_ms() -> int:
    """10:00 Shanghai time two days ago: inside counted hours and Prometheus' retention."""
    tz = ZoneInfo("Asia/Shanghai")
    day = (datetime.now(tz) - timedelta(days=2)).replace(hour=10, minute=0, second=0,
                                                         microsecond=0)
    return int(day.timestamp() * 1000)


def test_prometheus_serves_the_backfilled_reply_rate(tmp_path: Path, settings: Settings) -> None:
    model = TrafficModel(seed=7, shops=3, agents_per_shop=2, buyers=400,
                         start_ms=history_start_ms(), rate=5.0)
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(item.value + b"\n"
                             for item in itertools.islice(model.events(), 6000)))
    engine = Engine(settings.policies, settings.content.guard())
    history = MetricsHistory(engine, step_seconds=60)
    result = run_backfill(read_events([str(log)]), settings, engine=engine, metrics=history)
    om = tmp_path / "history.om"
    with open(om, "w", encoding="utf-8") as f:
        history.write(f)
    history.close()
    last_sample_s = (history.next_ms - history.step_ms) / 1000  # type: ignore[operator]

    prom_dir = tmp_path / "prom"
    done = subprocess.run([find_tool("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                           str(om), str(prom_dir / "data")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout

    rows = [r for r in result.report() if r.reply_rate is not None]
    assert rows, "the log should have counted waits"
    with run_prometheus(prom_dir) as prom:
        for row in rows:
            query = urllib.parse.urlencode({
                "query": f'chatwatch_reply_rate{{shop="{row.shop_id}"}}',
                "time": f"{last_sample_s:.3f}"})
            # Prometheus may still be loading the blocks just after it reports ready.
            deadline = time.monotonic() + 30
            while True:
                answer = prom.get_json(f"/api/v1/query?{query}")
                found = answer["data"]["result"]
                if found or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert len(found) == 1, answer
            value = float(found[0]["value"][1])
            assert not math.isnan(value)
            # the history ends after every deadline: the day's final reply rate
            assert value == pytest.approx(row.reply_rate, abs=1e-9), row
        breached = prom.get_json("/api/v1/query?" + urllib.parse.urlencode({
            "query": "sum(chatwatch_waits_breached_total)", "time": f"{last_sample_s:.3f}"}))
        total = float(breached["data"]["result"][0]["value"][1])
        assert total >= sum(r.waits_breached for r in result.report())
