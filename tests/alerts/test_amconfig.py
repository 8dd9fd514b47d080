"""Generated Alertmanager configuration: amtool accepts it, routes go where they should,
and inhibition works in a real Alertmanager."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.amconfig import RoutingOptions, build_config, render
from alerts.local import run_alertmanager
from stream.cli import cli
from stream.config import load_settings
from stream.testing import wait_for
from tests.alerts.conftest import needs_alertmanager

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "alertmanager"
EXAMPLE = DEPLOY / "example-chatwatch.yml"
COMMITTED = DEPLOY / "alertmanager.yml"
needs_amtool = pytest.mark.requires_tools("amtool")


def test_committed_config_is_generated_from_the_example() -> None:
    result = CliRunner().invoke(cli, ["--config", str(EXAMPLE), "alertmanager-config",
                                      "--pager-url", "http://pager:9095"])
    assert result.exit_code == 0, result.output
    assert result.stdout == COMMITTED.read_text(encoding="utf-8"), (
        "deploy/alertmanager/alertmanager.yml is stale; regenerate it with the command in "
        "deploy/alertmanager/example-chatwatch.yml")


def test_out_option_writes_file(tmp_path: Path) -> None:
    out = tmp_path / "am.yml"
    result = CliRunner().invoke(cli, ["--config", str(EXAMPLE), "alertmanager-config",
                                      "--out", str(out), "--pager-token-file", ""])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "shop-shop-b" in text and "credentials_file" not in text


def test_token_only_goes_to_the_bridge() -> None:
    text = COMMITTED.read_text(encoding="utf-8")
    external = text.split("https://ops.example.com/hooks/chatwatch", 1)[1]
    assert "credentials_file" not in external


@needs_amtool
def test_amtool_check_config() -> None:
    result = subprocess.run(["amtool", "check-config", str(COMMITTED)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
@pytest.mark.parametrize(("labels", "receivers"), [
    (["alertname=ForbiddenContent", "shop=shop-a", "severity=page", "agent=a1"],
     "shop-shop-a,pager-page"),
    (["alertname=ReplyWindowBreached", "shop=shop-b", "severity=warning"],
     "shop-shop-b,pager-warning"),
    (["alertname=ReplyRateBelowTarget", "shop=shop-z", "severity=page"], "pager-page"),
    (["alertname=WaitAtRisk", "shop=shop-z", "severity=warning"], "pager-warning"),
    (["alertname=ChatwatchDown", "severity=page", "job=chatwatch"], "pager-page"),
    (["alertname=EventLagHigh", "severity=page", "instance=w1"], "pager-page"),
    (["alertname=Unknown"], "pager-warning"),
])
def test_amtool_routes(labels: list[str], receivers: str) -> None:
    result = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={COMMITTED}",
         f"--verify.receivers={receivers}", *labels],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_inhibition_rules_and_the_labels_they_tie_on() -> None:
    # ReplyRateBelowTarget and the burn alerts come from `by (shop)` recording rules: no
    # instance label, so one down worker silences them for every shop (their sums are partial).
    settings = load_settings(EXAMPLE, environ={})
    rules = build_config(settings)["inhibit_rules"]
    down = [r for r in rules if r["source_matchers"] == ['alertname="ChatwatchDown"']]
    assert [(r["target_matchers"], r.get("equal")) for r in down] == [
        (['alertname=~"ReplyRateBelowTarget|ReplyBudgetBurnFast|ReplyBudgetBurnSlow"'], None),
        (['alertname="EventLagHigh"'], ["instance"]),
    ]
    assert not any("WaitAtRisk" in m for r in rules for m in r["target_matchers"])


@needs_alertmanager
def test_one_worker_down_inhibits_partial_sums_not_healthy_workers_alerts(
        tmp_path: Path) -> None:
    settings = load_settings(EXAMPLE, environ={})
    text = render(settings, RoutingOptions(pager_url="http://127.0.0.1:9", pager_token_file=None))
    now = datetime.now(UTC)

    def alert(name: str, **labels: str) -> dict[str, object]:
        return {"labels": {"alertname": name, **labels},
                "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat()}
    # Worker w1 is down; w2 is healthy but lagging after taking over w1's partitions.
    body = [alert("ChatwatchDown", severity="page", job="chatwatch", instance="w1"),
            alert("ReplyRateBelowTarget", severity="page", shop="shop-a"),
            alert("WaitAtRisk", severity="warning", shop="shop-a"),
            alert("EventLagHigh", severity="page", instance="w2"),
            alert("ForbiddenContent", severity="page", shop="shop-a", agent="a1")]
    with run_alertmanager(tmp_path / "am", text) as am:
        req = urllib.request.Request(am.url + "/api/v2/alerts", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).close()

        def states() -> dict[str, str] | None:
            got = {a["labels"]["alertname"]: a["status"]["state"]
                   for a in am.get_json("/api/v2/alerts")}
            return got if got.get("ReplyRateBelowTarget") == "suppressed" else None
        got = wait_for(states, timeout=20, what="ReplyRateBelowTarget inhibited")
    assert got == {"ChatwatchDown": "active", "ReplyRateBelowTarget": "suppressed",
                   "WaitAtRisk": "active", "EventLagHigh": "active",
                   "ForbiddenContent": "active"}
