"""Issue 6 item 4: replaying a log through Kafka and the live worker gives backfill's figures."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from stream.backfill import run_backfill
from stream.config import Settings
from stream.inputs import read_events
from stream.simulate import TrafficModel
from stream.testing import WorkerProcess, topic_config, wait_for

pytestmark = pytest.mark.slow


def past_morning_ms() -> int:
    """Yesterday 10:00 in Shanghai: past, so a caught-up worker's clock passes every deadline."""
    tz = ZoneInfo("Asia/Shanghai")
    day = (datetime.now(tz) - timedelta(days=1)).replace(hour=10, minute=0, second=0,
                                                         microsecond=0)
    return int(day.timestamp() * 1000)


def test_replay_into_the_worker_gives_the_backfill_figures(broker, tmp_path: Path, unique: str,
                                                           settings: Settings) -> None:
    # Realistic traffic: several shops and platforms, bots, late and missing replies,
    # duplicates, out-of-order and invalid lines (replay and backfill both skip those).
    model = TrafficModel(seed=11, shops=4, agents_per_shop=3, buyers=300,
                         start_ms=past_morning_ms(), rate=8.0)
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(item.value + b"\n"
                             for item in itertools.islice(model.events(), 4000)))
    expected = [row.as_dict() for row in
                run_backfill(read_events([str(log)]), settings).report()]
    assert expected and any(r["waits_breached"] for r in expected)

    cfg = topic_config(unique)
    config_path = tmp_path / "replay.yml"
    config_path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
    with WorkerProcess(tmp_path / "worker", broker.url, cfg) as worker:
        done = subprocess.run(
            [sys.executable, "-m", "stream", "--config", str(config_path), "replay", str(log),
             "--speed", "0", "--broker", broker.url, "--no-progress"],
            env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"produced to {cfg['events_topic']}" in done.stderr
        try:
            wait_for(lambda: worker.figures() == expected, timeout=60)
        except TimeoutError:
            assert worker.figures() == expected, worker.tail()
