"""``chatwatch backfill``: the report file, bad lines on stderr, end of input (§3 rule 8)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from stream.backfill import run_backfill
from stream.cli import cli
from stream.config import load_settings
from stream.inputs import read_events
from tests.unit.test_reply_window import T0, ev

FIELDS = ["shop_id", "day", "consultations", "unreplied", "reply_rate", "waits",
          "waits_breached", "responses", "mean_response_seconds", "fast_responses"]


def _write_log(path: Path, lines: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False))
                    + "\n")
    return path


def _log() -> list[Any]:
    reply = ev("agent", 20, shop="zeta")
    return [
        ev("buyer", 0, shop="zeta"), reply,                      # line 1-2
        "{not json",                                              # line 3: invalid
        ev("buyer", 86_400, shop="zeta", buyer="b2", form="epoch"),  # next day, never answered
        ev("buyer", 5, shop="alpha", form="utc"),
        {"event_id": "x", "ts": "yesterday", "shop_id": "s", "buyer_id": "b",
         "type": "read"},                                         # line 6: invalid
        ev("bot", 7, shop="alpha"),                               # pdd: closes, 2 s
        dict(reply),                                              # duplicate
        ev("agent", 10, shop="zeta"),                             # out of order, no wait open
        ev("ad", 0, shop="beta"),                                 # excluded
    ]


def test_backfill_cli_writes_sorted_rows_with_exact_fields(tmp_path: Path) -> None:
    log = _write_log(tmp_path / "log.jsonl", _log())
    out = tmp_path / "daily.jsonl"
    # two of its ten lines are bad on purpose: more than the default --max-bad-share
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--report", str(out),
                                      "--max-bad-share", "0.2"],
                                env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [list(r) for r in rows] == [FIELDS] * 3
    assert rows == [
        {"shop_id": "alpha", "day": "2026-11-11", "consultations": 1, "unreplied": 0,
         "reply_rate": 1.0, "waits": 1, "waits_breached": 0, "responses": 1,
         "mean_response_seconds": 2.0, "fast_responses": 1},
        {"shop_id": "zeta", "day": "2026-11-11", "consultations": 1, "unreplied": 0,
         "reply_rate": 1.0, "waits": 1, "waits_breached": 0, "responses": 1,
         "mean_response_seconds": 20.0, "fast_responses": 0},
        {"shop_id": "zeta", "day": "2026-11-12", "consultations": 1, "unreplied": 1,
         "reply_rate": 0.0, "waits": 1, "waits_breached": 1, "responses": 0,
         "mean_response_seconds": None, "fast_responses": 0},
    ]
    err = result.stderr
    assert f"{log}:3: not JSON" in err
    assert f"{log}:6: schema" in err and "$.ts" in err
    assert "10 lines read: 8 valid, 2 invalid" in err
    assert "1 duplicate" in err and "1 out-of-order" in err
    assert "3 shop-day rows written" in err


def test_backfill_cli_report_to_stdout_and_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yml"
    cfg.write_text("shops:\n  alpha: {bot_replies_close_wait: false}\n", encoding="utf-8")
    log = _write_log(tmp_path / "log.jsonl", _log())
    result = CliRunner().invoke(cli, ["--config", str(cfg), "backfill", "--input", str(log),
                                      "--max-bad-share", "0.2"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    alpha = rows[0]
    assert (alpha["shop_id"], alpha["waits_breached"], alpha["responses"]) == ("alpha", 1, 0)


def test_run_backfill_breaches_open_waits_at_end_and_reports_bad_lines(tmp_path: Path) -> None:
    log = _write_log(tmp_path / "log.jsonl", [ev("buyer", T0), "[]", ev("buyer", 1, buyer="b2"),
                                              ev("agent", 302, buyer="b2")])
    errors = io.StringIO()
    result = run_backfill(read_events([str(log)]), load_settings(environ={}), errors)
    assert errors.getvalue().startswith(f"{log}:2: schema")
    assert (result.summary.read, result.summary.valid, result.summary.invalid) == (4, 3, 1)
    [row] = [r.as_dict() for r in result.report()]
    assert (row["waits"], row["waits_breached"], row["unreplied"], row["responses"]) == \
        (2, 2, 2, 1)
    assert not list(result.engine.open_waits())


def test_backfill_of_an_empty_log_writes_no_rows(tmp_path: Path) -> None:
    log = _write_log(tmp_path / "log.jsonl", [])
    out = tmp_path / "daily.jsonl"
    result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--report", str(out)],
                                env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == b""
