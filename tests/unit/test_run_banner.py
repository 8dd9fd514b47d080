"""Issue 33, problem 6: ``make run`` advertises pages that exist on the tools installed.

Debian's Prometheus serves its alerts page at ``/classic/alerts`` only (``/alerts`` is 404),
and Debian's Alertmanager ships no web UI; an upstream build serves both."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import alerts.local
import stream.run
from stream.config import load_settings
from stream.run import RunOptions, Stack


def _stack(tmp_path: Path) -> Stack:
    stack = Stack(load_settings(environ={}), RunOptions(run_dir=tmp_path / "run"), None)
    stack.with_alerts = True
    return stack


def _serving(monkeypatch: pytest.MonkeyPatch, *paths: str) -> None:
    def http_get(url: str, timeout: float = 2.0, token: str | None = None) -> bytes | None:
        return b"ok" if any(url.endswith(p) for p in paths) else None

    monkeypatch.setattr(stream.run, "http_get", http_get)


def test_the_debian_builds_are_advertised_by_what_they_serve(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _serving(monkeypatch, ":9090/classic/alerts", ":9090/graph", ":9093/api/v2/alerts")
    text = _stack(tmp_path).banner()
    assert "http://127.0.0.1:9090/classic/alerts" in text
    assert "9090/alerts " not in text
    assert "amtool --alertmanager.url=http://127.0.0.1:9093 alert query" in text
    assert "http://127.0.0.1:9093/api/v2/alerts" in text


def test_an_upstream_build_gets_its_own_pages(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _serving(monkeypatch, ":9090/alerts", ":9090/graph", ":9093/script.js")
    text = _stack(tmp_path).banner()
    assert "http://127.0.0.1:9090/alerts " in text
    assert "Alertmanager  http://127.0.0.1:9093\n" in text and "amtool" not in text


def test_the_local_alertmanager_groups_as_production_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts.local, "find_tool", lambda name: f"/usr/bin/{name}")
    stack = _stack(tmp_path)
    stack.run_dir.mkdir(parents=True)
    stack._alerting_children({})
    route = yaml.safe_load((stack.run_dir / "alertmanager" / "alertmanager.yml").read_text(
        encoding="utf-8"))["route"]
    assert route["group_interval"] == "5m"
    [breaches] = [r for r in route["routes"]
                  if 'alertname="ReplyWindowBreached"' in r.get("matchers", [])]
    assert breaches["repeat_interval"] == "15m"
