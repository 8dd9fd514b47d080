"""Issue 34: ``chatwatch run`` still scrapes and reads a worker whose /metrics and /figures
want tokens: its Prometheus gets the metrics token as a credentials file, its status line
sends the tokens."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

import alerts.local
import stream.run
from stream.config import load_settings
from stream.run import RunOptions, Stack, StatusReporter


def _stack(tmp_path: Path, env: dict[str, str]) -> Stack:
    settings = load_settings(environ=env)
    stack = Stack(settings, RunOptions(run_dir=tmp_path / "run"), None)
    stack.run_dir.mkdir(parents=True)
    return stack


def test_local_prometheus_reads_the_metrics_token_from_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts.local, "find_tool", lambda name: f"/usr/bin/{name}")
    stack = _stack(tmp_path, {"CHATWATCH_METRICS_TOKEN": "metrics-tok-123"})
    stack._alerting_children({})
    config = yaml.safe_load((stack.run_dir / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "chatwatch"]
    token_file = Path(job["authorization"]["credentials_file"])
    assert token_file.read_text() == "metrics-tok-123"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    plain = _stack(tmp_path / "plain", {})
    plain._alerting_children({})
    config = yaml.safe_load((plain.run_dir / "prometheus" / "prometheus.yml").read_text())
    assert "authorization" not in config["scrape_configs"][0]  # nothing asked, nothing sent


def test_status_line_sends_the_workers_tokens(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    asked: dict[str, Any] = {}

    def http_get(url: str, timeout: float = 2.0, token: str | None = None) -> bytes:
        asked[url.rsplit("/", 1)[-1]] = token
        return b"{}" if url.endswith("/figures") else b""

    monkeypatch.setattr(stream.run, "http_get", http_get)
    stack = _stack(tmp_path, {"CHATWATCH_METRICS_TOKEN": "metrics-tok-123",
                              "CHATWATCH_BOARD_TOKEN": "board-tok-456"})
    StatusReporter(stack, lambda line: None).status()
    assert asked == {"metrics": "metrics-tok-123", "figures": "board-tok-456"}
