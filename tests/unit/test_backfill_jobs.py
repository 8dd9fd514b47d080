"""``backfill --jobs N``: the same output, byte for byte, as one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.gen_log import write_log
from stream.cli import cli
from stream.jobs import owner

OUTPUTS = {"--report": "r.jsonl", "--breach-records": "b.jsonl",
           "--violation-records": "v.jsonl", "--summary-html": "s.html",
           "--kpi-report": "k.jsonl"}


def backfill(log: Path, out: Path, jobs: int, *extra: str) -> tuple[dict[str, bytes], str]:
    out.mkdir()
    args = ["backfill", "--input", str(log), "--jobs", str(jobs), *extra]
    for flag, name in OUTPUTS.items():
        args += [flag, str(out / name)]
    result = CliRunner().invoke(cli, args, env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code == 0, result.output
    return {name: (out / name).read_bytes() for name in OUTPUTS.values()}, result.stderr


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jobs") / "log.jsonl"
    write_log(str(path), 30_000, seed=3)  # with invalid lines, duplicates, out-of-order
    return path


@pytest.mark.parametrize("extra", [(), ("--by", "agent", "--violations")])
def test_jobs_give_the_same_output_byte_for_byte(log: Path, tmp_path: Path,
                                                 extra: tuple[str, ...]) -> None:
    one, one_err = backfill(log, tmp_path / "one", 1, *extra)
    three, three_err = backfill(log, tmp_path / "three", 3, *extra)
    assert one == three
    assert [json.loads(line) for line in one["b.jsonl"].splitlines()]  # not vacuous
    assert [json.loads(line) for line in one["v.jsonl"].splitlines()]
    # summary, first bad lines, counts: all the same (but for where the outputs went)
    assert one_err.replace("/one/", "/x/") == three_err.replace("/three/", "/x/")
    assert "invalid" in one_err


def test_jobs_refuse_what_they_cannot_merge(log: Path, tmp_path: Path) -> None:
    for extra in (["--openmetrics", str(tmp_path / "h.om")], ["--retention-hours", "6"],
                  ["--strict"]):
        result = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--jobs", "2",
                                          *extra], env={"CHATWATCH_CONFIG": ""})
        assert result.exit_code != 0
        assert "--jobs 1" in (result.stderr + str(result.exception)), extra


def test_a_conversation_belongs_to_one_process() -> None:
    line = b'{"event_id":"e","shop_id":"s","buyer_id":"b","ts":0,"type":"read"}'
    same = b'{"conversation_id":"s:b","shop_id":"x","buyer_id":"y"}'
    assert owner(line, 4) == owner(same, 4)
    assert {owner(b'{"shop_id":"s","buyer_id":"b%d"}' % i, 4) for i in range(200)} == {
        0, 1, 2, 3}
    for bad in (b"{broken", b"[1]", b'{"shop_id": 5, "buyer_id": "b"}', b"\xff"):
        assert owner(bad, 4) == 0  # reported once, by the first process


def test_a_buyer_in_two_processes_counts_once(tmp_path: Path) -> None:
    # One buyer, two conversations that land in different processes: distinct buyers are a
    # union of sets, not a sum of counts.
    ids = [f"s1:c{i}" for i in range(50)]
    first = ids[0]
    other = next(c for c in ids if owner(b'{"conversation_id":"%s"}' % c.encode(), 2)
                 != owner(b'{"conversation_id":"%s"}' % first.encode(), 2))
    t0 = 1794362400000  # 2026-11-11 10:00 +08:00
    events = []
    for n, cid in enumerate((first, other)):
        events += [{"event_id": f"q{n}", "ts": t0 + n, "shop_id": "s1", "buyer_id": "b1",
                    "conversation_id": cid, "type": "message", "sender": "buyer",
                    "text": "在吗"}]
    events.append({"event_id": "a0", "ts": t0 + 5000, "shop_id": "s1", "buyer_id": "b1",
                   "conversation_id": first, "type": "message", "sender": "agent",
                   "agent_id": "a1", "text": "在的"})
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events),
                   encoding="utf-8")
    one, _ = backfill(log, tmp_path / "one", 1)
    two, _ = backfill(log, tmp_path / "two", 2)
    assert one == two
    (row,) = [json.loads(line) for line in two["r.jsonl"].splitlines()]
    assert (row["consultations"], row["unreplied"], row["waits"]) == (1, 1, 2)
