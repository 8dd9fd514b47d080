"""README "A lead's day": the unpaid orders and lost inquiries example runs as written on
``docs/lead-day.jsonl`` and its tables are what the files hold (the columns it picks)."""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from stream.cli import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TITLE = "### This morning's unpaid orders (催付) and yesterday's lost inquiries (询单流失)"


def _section() -> str:
    start = README.index(TITLE)
    return README[start:README.index("\n### ", start + len(TITLE))]


def _tables(text: str) -> list[list[str]]:
    return [block.strip().splitlines() for block in re.findall(r"```\n(.*?)\n```", text, re.S)]


def _picked(path: Path, header: str) -> list[str]:
    columns = header.split(",")
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return [header, *(",".join(r[c] for c in columns) for r in rows)]


def test_the_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _section()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("    chatwatch backfill ")]
    args = shlex.split(line.strip())[1:]
    monkeypatch.chdir(ROOT)
    for name in ("agents.csv", "unpaid.csv", "lost.csv"):
        args[args.index(name)] = str(tmp_path / name)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    unpaid, lost, agents = _tables(text)
    assert _picked(tmp_path / "unpaid.csv", unpaid[0]) == unpaid
    assert _picked(tmp_path / "lost.csv", lost[0]) == lost
    assert _picked(tmp_path / "agents.csv", agents[0]) == agents
