"""The rule file is what the generator writes, and promtool accepts and unit-tests it."""

from __future__ import annotations

import subprocess

import pytest

from alerts import rulegen, runbook
from alerts.local import RULES_DIR, rule_paths

pytestmark = pytest.mark.requires_tools("promtool")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def test_committed_rules_match_generator() -> None:
    committed = (RULES_DIR / "chatwatch.yml").read_text(encoding="utf-8")
    assert committed == rulegen.render(), (
        "alerts/rules/chatwatch.yml is stale: run python -m alerts.rulegen "
        "--out alerts/rules/chatwatch.yml")


def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", *map(str, rule_paths()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests() -> None:
    tests = sorted((RULES_DIR / "tests").glob("*.yml"))
    assert tests
    result = _promtool("test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_for_severity_and_runbook() -> None:
    rules = rulegen.build_rules()
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    names = {a["alert"] for a in alerts}
    assert {"ReplyRateBelowTarget", "WaitAtRisk", "ChatwatchDown", "EventLagHigh"} <= names
    for alert in alerts:
        assert "for" in alert
        assert alert["labels"]["severity"] in ("page", "warning")
        assert {"summary", "description", "runbook_url"} <= set(alert["annotations"])
        assert alert["annotations"]["runbook_url"] == "/runbook/" + alert["alert"]


def test_runbook_base_and_thresholds_are_configurable() -> None:
    text = rulegen.render(rulegen.Thresholds(runbook_base="https://wiki.example/alerts",
                                             min_consultations=50, for_reply_rate="10s"))
    assert "runbook_url: https://wiki.example/alerts/WaitAtRisk\n" in text
    assert "shop:chatwatch_consultations:sum >= 50" in text
    assert "for: 10s" in text
    # with the board's address the links open the board's runbook pages
    text = rulegen.render(rulegen.Thresholds(board_url="https://board.example/"))
    assert "runbook_url: https://board.example/runbook/WaitAtRisk\n" in text


def test_burn_factors_can_fire_at_a_70_percent_target() -> None:
    t = rulegen.Thresholds()
    budget = 1 - 0.70
    # the highest breach ratio is 1.0, so a factor can only fire if factor * budget < 1
    assert t.burn_fast_factor * budget < 1
    assert t.burn_slow_factor * budget < 1
    assert t.burn_slow_factor < t.burn_fast_factor


def test_every_alert_has_a_runbook_section() -> None:
    rules = rulegen.build_rules()
    names = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    documented = {s.name for s in runbook.sections().values()}
    assert names | {"ForbiddenContent", "ReplyWindowBreached"} <= documented
