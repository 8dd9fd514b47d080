"""Importing what teams have (CSV exports, local times, Chinese roles, epoch seconds) and
writing what they open (CSV, Excel); bad input is one summary and a non-zero exit."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from stream.cli import cli
from stream.core.events import ChatEvent
from stream.errors import InputError
from stream.importing import ImportSpec, parse_maps
from stream.inputs import read_events
from stream.schema import Invalid

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 11, tzinfo=SHANGHAI)

# (local time, shop, buyer, role, agent, text): a day and a half of two shops, replies fast,
# slow and missing, one buyer writing after midnight (the next business day).
CHATS: list[tuple[datetime, str, str, str, str, str]] = []


def _chats() -> list[tuple[datetime, str, str, str, str, str]]:
    rows = []
    for i in range(12):
        at = DAY + timedelta(hours=9, minutes=37 * i)
        shop = "s1" if i % 3 else "s2"
        buyer = f"b{i}"
        rows.append((at, shop, buyer, "买家", "", f"在吗 {i}"))
        if i % 4 == 3:
            continue  # never answered
        delay = 20 if i % 2 else 400  # a fast reply, or one past the 5 minutes
        rows.append((at + timedelta(seconds=delay), shop, buyer, "客服", f"{shop}-a1", "亲，在的"))
    late = DAY + timedelta(days=1, hours=10)
    rows.append((late, "s1", "b99", "买家", "", "发货了吗"))
    rows.append((late + timedelta(seconds=30), "s1", "b99", "客服", "s1-a2", "已经发出了"))
    return rows


CHATS = _chats()
ROLES = {"买家": "buyer", "客服": "agent"}


def _jsonl(path: Path) -> Path:
    lines = []
    for n, (at, shop, buyer, role, agent, text) in enumerate(CHATS):
        body: dict[str, Any] = {"event_id": f"e{n}", "ts": int(at.timestamp() * 1000),
                                "shop_id": shop, "buyer_id": buyer, "type": "message",
                                "sender": ROLES[role], "text": text}
        if agent:
            body["agent_id"] = agent
        lines.append(json.dumps(body, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _csv(path: Path, time_format: str = "%Y-%m-%d %H:%M:%S") -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow(["time", "shop", "buyer", "role", "agent", "content"])
        for at, shop, buyer, role, agent, text in CHATS:
            out.writerow([at.strftime(time_format), shop, buyer, role, agent, text])
    return path


CSV_OPTIONS = ["--column", "ts=time", "--column", "shop_id=shop", "--column", "buyer_id=buyer",
               "--column", "sender=role", "--column", "agent_id=agent",
               "--column", "text=content", "--column", "type=message",
               "--map", "sender=客服:agent,买家:buyer"]


def _backfill(*args: str, config: str = "") -> Any:
    return CliRunner().invoke(cli, ["backfill", *args], env={"CHATWATCH_CONFIG": config})


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_csv_export_of_local_times_and_chinese_roles_gives_the_jsonl_figures(tmp_path):
    reference = _backfill("--input", str(_jsonl(tmp_path / "log.jsonl")),
                          "--report", str(tmp_path / "want.jsonl"),
                          "--kpi-report", str(tmp_path / "want-kpi.jsonl"))
    assert reference.exit_code == 0, reference.output
    result = _backfill("--input", str(_csv(tmp_path / "export.csv")), *CSV_OPTIONS,
                       "--report", str(tmp_path / "got.jsonl"),
                       "--kpi-report", str(tmp_path / "got-kpi.jsonl"))
    assert result.exit_code == 0, result.output
    want = _rows(tmp_path / "want.jsonl")
    assert [(r["shop_id"], r["day"]) for r in want] == [
        ("s1", "2026-11-11"), ("s1", "2026-11-12"), ("s2", "2026-11-11")]
    assert sum(r["waits_breached"] for r in want) > 0 and sum(r["responses"] for r in want) > 0
    assert _rows(tmp_path / "got.jsonl") == want
    assert _rows(tmp_path / "got-kpi.jsonl") == _rows(tmp_path / "want-kpi.jsonl")
    assert "0 invalid" in result.stderr
    assert "no event_id column" in result.stderr  # said once, not per row
    assert result.stderr.count("no event_id column") == 1


def test_slashed_local_times_without_seconds_and_an_explicit_time_zone(tmp_path):
    # The same export written in UTC, read with --timezone UTC: the same instants.
    path = tmp_path / "utc.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["time", "shop", "buyer", "role", "agent", "content"])
        for at, shop, buyer, role, agent, text in CHATS:
            out.writerow([at.astimezone(ZoneInfo("UTC")).strftime("%Y/%m/%d %H:%M"), shop, buyer,
                          role, agent, text])
    spec = ImportSpec(columns={"ts": "time", "shop_id": "shop", "buyer_id": "buyer",
                               "sender": "role", "agent_id": "agent", "text": "content",
                               "type": "message"},
                      maps=parse_maps(["sender=客服:agent,买家:buyer"]),
                      timezone=ZoneInfo("UTC"))
    events = [r.event for r in read_events([str(path)], spec=spec, bounds=None)]
    assert all(isinstance(e, ChatEvent) for e in events)
    assert [e.ts_ms for e in events] == [  # type: ignore[union-attr]
        int(at.replace(second=0).timestamp() * 1000) for at, *_ in CHATS]


def test_local_times_default_to_the_shops_configured_time_zone(tmp_path):
    config = tmp_path / "shops.yml"
    config.write_text("shops:\n  s2: {timezone: Europe/Berlin}\n", encoding="utf-8")
    path = tmp_path / "x.csv"
    path.write_text("time,shop,buyer,role,content\n2026-11-11 10:00:00,s1,b1,买家,在吗\n"
                    "2026-11-11 10:00:00,s2,b1,买家,在吗\n", encoding="utf-8")
    out = tmp_path / "daily.jsonl"
    result = _backfill("--input", str(path), *CSV_OPTIONS, "--report", str(out),
                       "--breach-records", str(tmp_path / "b.jsonl"), config=str(config))
    assert result.exit_code == 0, result.output
    starts = {r["shop_id"]: r["wait_start"] for r in _rows(tmp_path / "b.jsonl")}
    assert starts["s1"].startswith("2026-11-11T10:00:00") and starts["s1"].endswith("+08:00")
    assert starts["s2"].startswith("2026-11-11T10:00:00") and starts["s2"].endswith("+01:00")


def test_a_log_of_epoch_seconds_gives_the_right_days(tmp_path):
    seconds = tmp_path / "seconds.jsonl"
    lines = []
    for n, (at, shop, buyer, role, agent, text) in enumerate(CHATS):
        body = {"event_id": f"e{n}", "ts": int(at.timestamp()), "shop_id": shop,
                "buyer_id": buyer, "type": "message", "sender": ROLES[role], "text": text}
        if agent:
            body["agent_id"] = agent
        lines.append(json.dumps(body, ensure_ascii=False))
    seconds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _backfill("--input", str(seconds), "--report", str(tmp_path / "s.jsonl"))
    assert result.exit_code == 0, result.output
    days = sorted({r["day"] for r in _rows(tmp_path / "s.jsonl")})
    assert days == ["2026-11-11", "2026-11-12"]
    reference = _backfill("--input", str(_jsonl(tmp_path / "ms.jsonl")),
                          "--report", str(tmp_path / "ms-report.jsonl"))
    assert reference.exit_code == 0
    assert _rows(tmp_path / "s.jsonl") == _rows(tmp_path / "ms-report.jsonl")
    # read as it is written, the events are dated 1970: refused, and the run fails
    forced = _backfill("--input", str(seconds), "--ts-unit", "ms", "--report",
                       str(tmp_path / "f.jsonl"))
    assert forced.exit_code != 0
    assert "earliest accepted event time" in forced.stderr


def test_epoch_seconds_and_milliseconds_in_a_csv_are_told_apart(tmp_path):
    at = int(DAY.timestamp())
    path = tmp_path / "x.csv"
    path.write_text(f"event_id,ts,shop_id,buyer_id,type,sender,text\n"
                    f"a,{at},s1,b1,message,buyer,hi\nb,{at * 1000 + 5},s1,b1,read,buyer,\n"
                    f"c,{at}.25,s1,b1,end,buyer,\n", encoding="utf-8")
    events = [r.event for r in read_events([str(path)], bounds=None)]
    assert [e.ts_ms for e in events] == [at * 1000, at * 1000 + 5, at * 1000 + 250]  # type: ignore[union-attr]
    forced = [r.event for r in read_events([str(path)], bounds=None,
                                           spec=ImportSpec(ts_unit="s"))]
    assert isinstance(forced[1], Invalid)  # milliseconds read as seconds: beyond year 9999


def test_derived_event_ids_are_stable_and_number_identical_neighbours(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("ts,shop_id,buyer_id,type,sender,text\n"
                    "1794362400000,s1,b1,message,buyer,在吗\n"
                    "1794362400000,s1,b1,message,buyer,在吗\n"
                    "1794362401000,s1,b1,message,buyer,在吗\n", encoding="utf-8")
    first = [r.event.event_id for r in read_events([str(path)], bounds=None)]  # type: ignore[union-attr]
    again = [r.event.event_id for r in read_events([str(path)], bounds=None)]  # type: ignore[union-attr]
    assert first == again
    assert first[1] == first[0] + "-2" and len(set(first)) == 3
    assert all(i.startswith("row-") for i in first)


def test_a_file_of_only_bad_lines_exits_non_zero_with_one_summary(tmp_path):
    path = tmp_path / "export.csv"
    rows = "".join(f"2026-11-11 10:{m:02d}:00,s1,b{m},买家,,在吗\n" for m in range(40))
    path.write_text("time,shop,buyer,role,agent,content\n" + rows, encoding="utf-8")
    rejects = tmp_path / "rejects.txt"
    # the roles are not mapped: every line is bad the same way
    result = _backfill("--input", str(path), "--column", "ts=time", "--column", "shop_id=shop",
                       "--column", "buyer_id=buyer", "--column", "sender=role",
                       "--column", "text=content", "--column", "type=message",
                       "--report", str(tmp_path / "daily.jsonl"), "--rejects", str(rejects))
    assert result.exit_code != 0
    err = result.stderr
    assert "none of the 40 lines could be used" in err
    assert "40 x " in err and "$.sender" in err
    assert err.count("$.sender") == 1  # one summary line for the reason, not one per line
    assert len(err.splitlines()) < 12
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 40


def test_more_bad_lines_than_the_share_fails_and_fewer_pass(tmp_path):
    path = _jsonl(tmp_path / "log.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines + ["{broken", "{broken"]) + "\n", encoding="utf-8")
    share = 2 / (len(lines) + 2)
    failed = _backfill("--input", str(path), "--report", str(tmp_path / "a.jsonl"),
                       "--max-bad-share", f"{share * 0.9:.4f}")
    assert failed.exit_code == 1
    assert "more than --max-bad-share" in failed.stderr
    assert "2 x " in failed.stderr and "not JSON" in failed.stderr
    passed = _backfill("--input", str(path), "--report", str(tmp_path / "b.jsonl"),
                       "--max-bad-share", f"{share * 1.1:.4f}")
    assert passed.exit_code == 0, passed.output


def test_an_output_path_in_a_missing_folder_fails_before_any_work(tmp_path):
    log = _jsonl(tmp_path / "log.jsonl")
    for option in ("--report", "--kpi-report", "--breach-records", "--summary-html",
                   "--rejects"):
        result = _backfill("--input", str(log), option, str(tmp_path / "no" / "such" / "x.jsonl"))
        assert result.exit_code != 0
        assert isinstance(result.exception, InputError | SystemExit)
        assert "does not exist" in str(result.exception), option
        assert "lines read" not in result.stderr  # nothing was read


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_reports_named_csv_or_xlsx_are_written_as_such(tmp_path, suffix):
    log = _jsonl(tmp_path / "log.jsonl")
    result = _backfill("--input", str(log), "--report", str(tmp_path / "daily.jsonl"),
                       "--kpi-report", str(tmp_path / "kpi.jsonl"))
    assert result.exit_code == 0
    table = _backfill("--input", str(log), "--report", str(tmp_path / f"daily{suffix}"),
                      "--kpi-report", str(tmp_path / f"kpi{suffix}"),
                      "--breach-records", str(tmp_path / f"breaches{suffix}"))
    assert table.exit_code == 0, table.output
    for name in ("daily", "kpi"):
        want = _rows(tmp_path / f"{name}.jsonl")
        got = _read_table(tmp_path / f"{name}{suffix}")
        header = list(dict.fromkeys(key for row in want for key in row))  # every key, in order
        assert got[0] == header
        assert [[_same(v) for v in row] for row in got[1:]] == [
            [_same(row.get(key)) for key in header] for row in want]
    assert len(_read_table(tmp_path / f"breaches{suffix}")) > 1


def _same(value: Any) -> Any:
    """A cell as CSV or Excel gives it back and the JSON value, made comparable."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value)
    try:
        return float(value)  # Excel keeps 1.0 as 1; CSV gives "1.0"
    except (TypeError, ValueError):
        return str(value)


def _read_table(path: Path) -> list[list[Any]]:
    if path.suffix == ".csv":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with the BOM
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.reader(f))
    from openpyxl import load_workbook

    sheet = load_workbook(path, read_only=True).active
    return [["" if c is None else c for c in row] for row in sheet.iter_rows(values_only=True)]


def test_an_unknown_platform_constant_or_map_names_the_known_ones(tmp_path):
    path = _csv(tmp_path / "x.csv")
    result = _backfill("--input", str(path), *CSV_OPTIONS, "--column", "platform=pinduoduo")
    assert result.exit_code != 0
    assert "pinduoduo" in str(result.exception) and "pdd, taobao" in str(result.exception)
    with pytest.raises(InputError, match="unknown platform 'pinduoduo'"):
        ImportSpec(maps=parse_maps(["platform=拼多多:pinduoduo"]), platforms=("pdd", "taobao"))


def test_a_constant_for_an_enumerated_field_must_be_one_of_its_values(tmp_path):
    path = _csv(tmp_path / "x.csv")
    with pytest.raises(InputError, match="must be one of message"):
        list(read_events([str(path)], csv_columns={"type": "msg"}))
    with pytest.raises(InputError, match="sender cannot be 'boss'"):
        parse_maps(["sender=老板:boss"])


def test_jobs_read_an_export_the_same_way(tmp_path):
    export = _csv(tmp_path / "export.csv")
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"daily-{jobs}.csv"
        result = _backfill("--input", str(export), *CSV_OPTIONS, "--jobs", jobs,
                           "--report", str(out),
                           "--breach-records", str(tmp_path / f"breaches-{jobs}.csv"))
        assert result.exit_code == 0, result.output
        outputs[jobs] = (out.read_bytes(), (tmp_path / f"breaches-{jobs}.csv").read_bytes())
    assert outputs["1"] == outputs["2"]
    assert outputs["1"][1].count(b"\n") > 2  # a header and breaches


def test_a_jsonl_export_with_its_own_keys_is_mapped_like_a_csv(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text("".join(
        json.dumps({"time": at.strftime("%Y-%m-%d %H:%M:%S"), "shop": shop, "buyer": buyer,
                    "role": role, "agent": agent or None, "content": text},
                   ensure_ascii=False) + "\n"
        for at, shop, buyer, role, agent, text in CHATS), encoding="utf-8")
    reference = _backfill("--input", str(_jsonl(tmp_path / "log.jsonl")),
                          "--report", str(tmp_path / "want.jsonl"))
    assert reference.exit_code == 0
    result = _backfill("--input", str(path), *CSV_OPTIONS, "--report", str(tmp_path / "got.jsonl"))
    assert result.exit_code == 0, result.output
    assert _rows(tmp_path / "got.jsonl") == _rows(tmp_path / "want.jsonl")


def test_an_export_of_one_shop_takes_its_shop_as_a_constant(tmp_path):
    path = tmp_path / "one-shop.csv"
    path.write_text("time,buyer,role,content\n2026-11-11 10:00:00,b1,买家,在吗\n",
                    encoding="utf-8")
    options = ["--column", "ts=time", "--column", "buyer_id=buyer", "--column", "sender=role",
               "--column", "text=content", "--column", "type=message",
               "--column", "shop_id=旗舰店", "--map", "sender=买家:buyer"]
    result = _backfill("--input", str(path), *options, "--report", str(tmp_path / "d.jsonl"))
    assert result.exit_code == 0, result.output
    [row] = _rows(tmp_path / "d.jsonl")
    assert (row["shop_id"], row["day"], row["unreplied"]) == ("旗舰店", "2026-11-11", 1)
    assert "shop_id='旗舰店' on every row" in result.stderr


def test_local_times_in_a_plain_jsonl_log_are_read_in_the_shops_zone(tmp_path):
    path = tmp_path / "local.jsonl"
    lines = [{"event_id": "a", "ts": "2026-11-11 10:00:00", "shop_id": "s1", "buyer_id": "b1",
              "type": "read", "sender": "buyer"},
             {"event_id": "b", "ts": "2026-11-11T10:00:00", "shop_id": "s2", "buyer_id": "b1",
              "type": "read", "sender": "buyer"},
             {"event_id": "c", "ts": "yesterday", "shop_id": "s1", "buyer_id": "b1",
              "type": "read", "sender": "buyer"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    from stream.config import settings_from_mapping

    settings = settings_from_mapping({"shops": {"s2": {"timezone": "Europe/Berlin"}}}, {})
    spec = ImportSpec(default_platform=settings.default_platform,
                      zone_of=lambda p, s: settings.policies.resolve(p, s)[1])
    events = [r.event for r in read_events([str(path)], spec=spec, bounds=None)]
    assert events[0].ts_ms == int(datetime(2026, 11, 11, 10, tzinfo=SHANGHAI).timestamp() * 1000)
    berlin = datetime(2026, 11, 11, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    assert events[1].ts_ms == int(berlin.timestamp() * 1000)
    assert isinstance(events[2], Invalid) and "$.ts" in events[2].reason
