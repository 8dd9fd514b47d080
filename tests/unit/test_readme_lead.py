"""README "A lead's day": the roster example runs as written on a simulated month, and the
printed answers of `dsr` and of the textbook Erlang C case are what the commands print."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from stream.cli import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start:end if end > 0 else len(README)]


def _commands(text: str, name: str) -> list[list[str]]:
    """The indented `chatwatch NAME ...` command lines of a README text (continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [shlex.split(line.strip())[1:] for line in joined.splitlines()
            if line.startswith("    chatwatch " + name + " ")]


def _block_after(text: str, command: str) -> str:
    """The fenced block that follows a command line."""
    rest = text[text.index(command):]
    start = rest.index("```\n") + 4
    return rest[start:rest.index("\n```", start)]


def test_the_lead_roster_runs_as_written_on_a_simulated_month(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lead = _section("## A lead's day")
    (simulate,) = _commands(lead, "simulate")
    (plan,) = _commands(lead, "plan")
    assert "--shifts" in plan and "--events" in simulate and "--rate" in simulate
    # the README's month, smaller: 20,000 events over the same 29 days (the rate scaled down)
    args = list(simulate)
    args[args.index("--events") + 1] = "20000"
    args[args.index("--rate") + 1] = str(0.2 * 20000 / 500000)
    log = tmp_path / "month.jsonl.gz"
    args[args.index("--out") + 1] = str(log)
    runner = CliRunner()
    made = runner.invoke(cli, args)
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(ROOT)  # the README runs from the repository: docs/shifts.yml
    plan = [str(log) if a == "month.jsonl.gz" else a for a in plan]
    result = runner.invoke(cli, [*plan, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["warnings"] == []  # a month of every hour: nothing assumed
    roster = out["roster"]
    assert [s["name"] for s in roster["shifts"]] == ["早班", "中班", "晚班", "夜班"]
    assert roster["total_agents"] > 0
    for hour in out["hours"]:
        assert hour["rostered"] == roster["hours"][hour["hour"]]["need"]
        assert roster["hours"][hour["hour"]]["cover"] >= hour["rostered"]
    # and the table as the README shows it
    table = runner.invoke(cli, plan).output
    assert "roster (each hour's on-duty need ÷ (1 − 30% shrinkage)" in table
    assert f"total: {roster['total_agents']} agents" in table


def test_the_readme_dsr_answer_is_what_the_command_prints() -> None:
    lead = _section("## A lead's day")
    (dsr,) = _commands(lead, "dsr")
    printed = _block_after(lead, "    chatwatch dsr ")
    result = CliRunner().invoke(cli, dsr)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == printed.strip()


def test_the_readme_textbook_case_is_what_the_command_prints() -> None:
    section = _section("## Planning for a sale day")
    (plan,) = [c for c in _commands(section, "plan") if "--contacts" in c]
    printed = _block_after(section, "    chatwatch plan --contacts")
    result = CliRunner().invoke(cli, plan)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == printed.strip()
    assert "14    88.8%     71.4%     7.8 s      20" in printed
