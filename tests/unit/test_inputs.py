import gzip
import io
import json
import sys

import pytest

from stream.core.events import ChatEvent
from stream.errors import InputError
from stream.inputs import LogReader, Position, Summary, parse_columns, read_events
from stream.schema import Invalid


def _event(i, **over):
    body = {"event_id": f"e{i}", "ts": 1_794_362_400_000 + i, "shop_id": "s1",
            "buyer_id": f"b{i % 3}", "type": "message", "sender": "buyer", "text": f"在吗 {i}"}
    body.update(over)
    return json.dumps(body, ensure_ascii=False).encode()


def _write(path, lines, compress=False):
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path)


def test_jsonl_records_carry_source_line_raw_and_event(tmp_path):
    lines = [_event(1), _event(2, ts="2026-11-11T10:00:00+08:00")]
    path = _write(tmp_path / "log.jsonl", lines)
    records = list(read_events([path]))
    assert [(r.source, r.line_no, r.raw) for r in records] == [(path, 1, lines[0]),
                                                               (path, 2, lines[1])]
    assert all(isinstance(r.event, ChatEvent) for r in records)
    assert records[1].event.ts_ms == 1_794_362_400_000


def test_bad_lines_are_yielded_with_line_numbers_and_reasons(tmp_path):
    lines = [_event(1), b"{broken", b"", _event(3, shop_id=None).replace(b'"shop_id": null, ', b""),
             _event(4, type="typing"), b"\r", _event(5)]
    path = _write(tmp_path / "log.jsonl", lines)
    records = list(read_events([path]))
    bad = [(r.line_no, r.event.reason.split(":")[0]) for r in records if isinstance(r.event, Invalid)]
    assert bad == [(2, "not JSON"), (4, "schema"), (5, "schema")]
    assert "shop_id" in next(r for r in records if r.line_no == 4).event.reason
    assert [r.line_no for r in records if isinstance(r.event, ChatEvent)] == [1, 7]


def test_crlf_and_missing_final_newline(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(_event(1) + b"\r\n" + _event(2))
    records = list(read_events([str(path)]))
    assert [r.raw for r in records] == [_event(1), _event(2)]
    assert all(isinstance(r.event, ChatEvent) for r in records)


def test_strict_names_file_line_and_reason(tmp_path):
    path = _write(tmp_path / "log.jsonl", [_event(1), b"nope"])
    with pytest.raises(InputError, match=r"log\.jsonl:2: not JSON"):
        list(read_events([path], strict=True))


def test_gzip_is_detected_by_magic_bytes_even_without_suffix(tmp_path):
    lines = [_event(i) for i in range(5)]
    plain = list(read_events([_write(tmp_path / "a.jsonl.gz", lines, compress=True)]))
    odd = list(read_events([_write(tmp_path / "b.log", lines, compress=True)]))
    assert [r.raw for r in plain] == [r.raw for r in odd] == lines


def test_csv_with_column_mapping_and_typed_ts(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "msg_id,time,store,customer,kind,who,content,staff\n"
        "m1,1794362400000,s1,b1,message,buyer,\"在吗, 有货吗\",\n"
        "m2,2026-11-11T10:00:05+08:00,s1,b1,message,agent,\"亲 有的\n马上发\",a1\n"
        "m3,1794362410000,s1,b1,read,,,\n"
        "m4,1794362411000,s1,b1,message,agent,no agent id,\n", encoding="utf-8")
    columns = parse_columns(["event_id=msg_id", "ts=time", "shop_id=store", "buyer_id=customer",
                             "type=kind", "sender=who", "text=content", "agent_id=staff"])
    records = list(read_events([str(path)], csv_columns=columns))
    assert [r.line_no for r in records] == [2, 3, 5, 6]
    first, second, third, fourth = (r.event for r in records)
    assert first.text == "在吗, 有货吗" and first.ts_ms == 1_794_362_400_000
    assert second.text == "亲 有的\n马上发" and second.agent_id == "a1"
    assert second.ts_ms == 1_794_362_405_000
    assert third.type == "read" and third.sender is None
    assert isinstance(fourth, Invalid) and "agent_id" in fourth.reason
    assert json.loads(records[0].raw)["ts"] == 1_794_362_400_000


def test_csv_unknown_mapped_column_is_a_clear_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no column 'time'"):
        list(read_events([str(path)], csv_columns={"ts": "time"}))


def test_parse_columns_rejects_bad_pairs():
    assert parse_columns(["ts=time"]) == {"ts": "time"}
    with pytest.raises(InputError, match="FIELD=COLUMN"):
        parse_columns(["ts"])
    with pytest.raises(InputError, match="not an event field"):
        parse_columns(["when=time"])


def test_stdin_is_read_and_sniffed(monkeypatch):
    data = gzip.compress(_event(1) + b"\n" + _event(2) + b"\n")
    fake = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)))
    monkeypatch.setattr(sys, "stdin", fake)
    records = list(read_events(["-"]))
    assert [r.source for r in records] == ["<stdin>", "<stdin>"]
    assert [r.raw for r in records] == [_event(1), _event(2)]


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read .*nope.jsonl"):
        list(read_events([str(tmp_path / "nope.jsonl")]))


@pytest.mark.parametrize("compress", [False, True])
def test_resume_from_position_continues_after_the_last_line(tmp_path, compress):
    lines = [_event(i) for i in range(10)]
    path = _write(tmp_path / "log.jsonl", lines, compress=compress)
    reader = LogReader(path)
    it = iter(reader)
    for _ in range(4):
        next(it)
    pos = reader.position
    it.close()
    rest = list(LogReader(path, start=pos))
    assert [r.line_no for r in rest] == list(range(5, 11))
    assert [r.raw for r in rest] == lines[4:]


def test_csv_resume_skips_lines(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("event_id,ts,shop_id,buyer_id,type\n"
                    + "".join(f"e{i},{1000 + i},s,b,read\n" for i in range(5)))
    rest = list(LogReader(str(path), start=Position(line_no=3)))
    assert [r.event.event_id for r in rest] == ["e2", "e3", "e4"]


def test_summary_counts_and_keeps_first_bad_lines(tmp_path):
    path = _write(tmp_path / "log.jsonl", [_event(1), b"x", b"y", b"z"])
    summary = Summary(keep=2)
    for record in read_events([path]):
        summary.add(record)
    assert (summary.read, summary.valid, summary.invalid) == (4, 1, 3)
    text = summary.render()
    assert "4 lines read: 1 valid, 3 invalid" in text
    assert "first 2 of 3" in text and "log.jsonl:2: not JSON" in text


def test_bytes_read_reaches_file_size(tmp_path):
    path = _write(tmp_path / "log.jsonl", [_event(i) for i in range(100)], compress=True)
    reader = LogReader(path)
    for _ in reader:
        pass
    assert reader.size and reader.bytes_read == reader.size
