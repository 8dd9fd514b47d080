"""Hostile and odd input: one record must never stop or bend the stream (issue 34).

The live driver with fake ports (no faust, no broker, the wall clock passed in), the decoder,
and the offline readers. The same inputs through a real broker and worker process are in
``tests/integration/test_hostile_live.py``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from agents.board.data import LocalSource, counting_notes, watermark_now
from agents.board.feed import BoardFeed
from agents.metrics import ChatwatchMetrics, EngineCollector
from agents.pipeline import Pipeline, decode_row, encode_row
from stream.backfill import run_backfill
from stream.config import load_settings
from stream.core.engine import Engine
from stream.core.score import SETTLED_PREFIX
from stream.errors import ConfigError
from stream.inputs import LogClock, read_events
from stream.schema import Invalid, TimeBounds, decode

T0 = 1794362400000  # 2026-11-11T10:00:00+08:00
WALL = T0 + 60_000  # the worker's wall clock in these tests
Y2100 = "2100-01-01T00:00:00Z"
Y9999 = "9999-12-31T23:59:59Z"


class Store:
    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}

    def put(self, partition, key, row):
        self.rows[key] = encode_row(row)

    def put_many(self, partition, rows):
        for key, row in rows:
            self.put(partition, key, row)

    def delete(self, partition, key):
        self.rows.pop(key, None)


class Sink:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes, list | None]] = []

    def send(self, topic, key, value, headers=None):
        self.records.append((topic, key, value, headers))

    def on(self, topic):
        return [r for r in self.records if r[0] == topic]

    def reasons(self):
        return [dict(h)["reason"].decode() for t, _, _, h in self.records
                if t == "chat.events.dlq"]


class Rec:
    def __init__(self, offset, key, value):
        self.offset, self.key, self.value = offset, key, value


def make(clock=lambda: WALL, **env):
    settings = load_settings(environ=env)
    registry = CollectorRegistry()
    store, sink = Store(), Sink()
    engine = Engine(settings.policies, settings.content.guard())
    pipeline = Pipeline(settings, engine, ChatwatchMetrics(registry), store, sink, None,
                        clock=clock)
    return pipeline, registry, store, sink


def event(eid, ts, sender="buyer", buyer="b1", **kw):
    body = {"event_id": eid, "ts": ts, "shop_id": "s1", "buyer_id": buyer, "type": "message",
            "sender": sender, "text": "在吗" if sender == "buyer" else "您好", **kw}
    if sender in ("agent", "bot"):
        body.setdefault("agent_id", "ag")
    return body


def raw(eid, ts, sender="buyer", buyer="b1", **kw) -> bytes:
    return json.dumps(event(eid, ts, sender, buyer, **kw), ensure_ascii=False).encode()


def count(registry, outcome):
    return registry.get_sample_value("chatwatch_events_total", {"outcome": outcome}) or 0.0


def figures(engine, partitions=(0,)):
    return [r.as_dict() for r in engine.book(list(partitions)).report()]


# -- 1. tombstones --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, b""])
def test_a_tombstone_is_dead_lettered_and_the_batch_goes_on(value):
    p, reg, _, sink = make()
    p.on_batch(0, [Rec(0, b"s1:b1", raw("e1", T0)), Rec(1, b"s1:b1", value),
                   Rec(2, b"s1:b2", raw("e2", T0 + 1000, buyer="b2"))])
    assert count(reg, "processed") == 2 and count(reg, "invalid") == 1
    (dlq,) = sink.on("chat.events.dlq")
    assert dlq[1] == b"s1:b1" and dlq[2] == b""
    headers = dict(dlq[3])
    assert headers["source"] == b"chat.events/0/1"
    if value is None:
        assert b"tombstone" in headers["reason"]
    assert p.last_offsets == {0: 2}


def test_nothing_in_the_live_path_escapes_its_error_handling(monkeypatch):
    p, reg, _, sink = make()

    def broken(*args, **kwargs):
        raise RuntimeError("decoder bug")

    monkeypatch.setattr("agents.pipeline.decode", broken)
    p.on_message(0, 0, b"k", raw("e1", T0))
    (reason,) = sink.reasons()
    assert reason.startswith("internal error: RuntimeError")
    assert count(reg, "invalid") == 1


# -- 2. event time bounds, live ---------------------------------------------------------------------


def test_an_event_far_in_the_future_is_dead_lettered_and_bends_nothing():
    p, reg, _, sink = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", T0))                       # a wait opens
    p.on_message(0, 1, b"s1:b9", raw("x", Y2100, buyer="b9"))          # the poison
    p.on_message(0, 2, b"s1:b1", raw("e2", T0 + 30_000, "agent"))      # answered in time
    p.on_message(0, 3, b"s1:b2", raw("e3", T0 + 40_000, buyer="b2"))   # a later wait
    (reason,) = sink.reasons()
    assert reason.startswith("event time: ts 2100-01-01T00:00:00.000+00:00 is ")
    assert "CHATWATCH_MAX_FUTURE_SECONDS" in reason
    part = p.engine.partition(0)
    assert part.max_event_ms == T0 + 40_000  # the watermark's source never saw 2100
    p.sweep(WALL, {0: True})
    assert sink.on("chat.breaches") == []  # no wait breached by the poison
    assert "s1:b9" not in p.engine.conversations
    (row,) = figures(p.engine)
    assert row["day"] == "2026-11-11" and row["waits"] == 2 and row["waits_breached"] == 0
    assert watermark_now(p.engine, [0]) < T0 + 3_600_000  # "today" is still today


def test_an_event_within_the_allowance_is_applied():
    p, reg, _, sink = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", WALL + 299_000))
    p.on_message(0, 1, b"s1:b2", raw("e2", WALL + 301_000, buyer="b2"))
    assert count(reg, "processed") == 1 and count(reg, "invalid") == 1


def test_the_allowance_and_the_earliest_time_are_configuration():
    p, reg, _, sink = make(CHATWATCH_MAX_FUTURE_SECONDS="3600",
                           CHATWATCH_EARLIEST_EVENT_TIME="2026-11-01")
    p.on_message(0, 0, b"s1:b1", raw("e1", WALL + 3_000_000))
    p.on_message(0, 1, b"s1:b2", raw("e2", "2026-10-31T23:59:59Z", buyer="b2"))
    assert count(reg, "processed") == 1
    (reason,) = sink.reasons()
    assert "before the earliest accepted event time 2026-11-01" in reason
    with pytest.raises(ConfigError, match="CHATWATCH_EARLIEST_EVENT_TIME"):
        load_settings(environ={"CHATWATCH_EARLIEST_EVENT_TIME": "yesterday"})
    with pytest.raises(ConfigError, match="CHATWATCH_MAX_FUTURE_SECONDS"):
        load_settings(environ={"CHATWATCH_MAX_FUTURE_SECONDS": "0"})


def test_a_1970_event_is_not_a_breach_now():
    p, reg, _, sink = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", 0))
    p.on_message(0, 1, b"s1:b1", raw("e2", "1970-01-02T00:00:00Z"))
    assert count(reg, "invalid") == 2 and count(reg, "processed") == 0
    p.sweep(WALL, {0: True})
    assert sink.on("chat.breaches") == []


def test_year_9999_is_refused_and_no_stored_time_breaks_an_endpoint():
    p, reg, store, sink = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", T0))
    p.on_message(0, 1, b"s1:b1", event_bytes := json.dumps(
        {"event_id": "r", "ts": Y9999, "shop_id": "s1", "buyer_id": "b1", "type": "read"}
    ).encode())
    p.on_message(0, 2, b"s1:b1", raw("e3", T0 + 1000))  # later valid events still apply
    assert count(reg, "processed") == 2 and len(sink.reasons()) == 1
    assert decode(event_bytes).__class__ is Invalid
    # A row written before the bounds existed, stamped 9999, restored into a new worker:
    engine = p.engine
    conv = engine.conversations["s1:b1"]
    conv.latest_ts = 253_402_300_799_000
    q, reg2, _, _ = make()
    q.load_partition(0, [("s1:b1", encode_row(conv))])
    assert q.engine.partition(0).max_event_ms == 0  # not the partition's event time
    q.engine.partition(0).watermark_ms = 253_402_300_799_000  # even if a watermark got there
    registry = CollectorRegistry()
    registry.register(EngineCollector(q.engine, lambda: watermark_now(q.engine, [0]),
                                      lambda: [0]))
    assert b"chatwatch_kpi" in generate_latest(registry)
    source = LocalSource(q.engine, BoardFeed(), lambda: [0], lambda: watermark_now(q.engine, [0]))
    assert source.summary()["shops"] is not None
    source.agents()
    source.waits()
    counting_notes(q.engine, [0])


# -- 3. restarts never double-count --------------------------------------------------------------


def _conversation(n: int) -> list[bytes]:
    """``n`` events of one conversation: buyer and agent in turn, a minute apart."""
    out = []
    for i in range(n):
        sender = "buyer" if i % 2 == 0 else "agent"
        out.append(raw(f"e{i}", T0 + i * 60_000, sender))
    return out


def test_a_restart_reapplying_hundreds_of_events_of_one_conversation_counts_nothing_twice():
    events = _conversation(600)
    clock = lambda: T0 + 700 * 60_000  # noqa: E731
    p, _, store, _ = make(clock)
    p.on_batch(0, [Rec(i, b"s1:b1", v) for i, v in enumerate(events)])
    once = figures(p.engine)
    assert once[0]["waits"] == 300
    # the worker dies before committing: its successor restores the rows and reads it all again
    q, reg, _, sink = make(clock)
    q.load_partition(0, [(k.encode().decode(), v) for k, v in store.rows.items()])
    q.on_batch(0, [Rec(i, b"s1:b1", v) for i, v in enumerate(events)])
    assert figures(q.engine) == once
    assert count(reg, "duplicate") == 600 and count(reg, "processed") == 0
    assert decode_row(store.rows["s1:b1"]).applied_offset == 599
    # and what comes after is applied as usual
    q.on_message(0, 600, b"s1:b1", raw("e600", T0 + 600 * 60_000))
    assert count(reg, "processed") == 1


def test_offsets_of_another_partition_do_not_mark_events_applied():
    p, reg, _, _ = make(lambda: T0 + 3_600_000)
    p.on_message(3, 100, b"s1:b1", raw("e1", T0))
    p.on_message(5, 7, b"s1:b1", raw("e2", T0 + 60_000, "agent"))  # keyed elsewhere: applied
    assert count(reg, "processed") == 2


# -- 4. the decoder's low items -------------------------------------------------------------------


@pytest.mark.parametrize("body, reason", [
    ({"amount": "１２"}, "not a decimal number"),
    ({"amount": "٣"}, "not a decimal number"),
    ({"amount": "-0"}, "negative"),
    ({"amount": -0.0}, "negative"),
])
def test_amounts_are_ascii_and_unsigned(body, reason):
    order = {"event_id": "o", "ts": T0, "shop_id": "s", "buyer_id": "b", "type": "order",
             "order_id": "1", "status": "paid", **body}
    result = decode(json.dumps(order, ensure_ascii=False).encode())
    assert isinstance(result, Invalid) and reason in result.reason


def test_a_field_given_twice_is_refused_but_its_name_in_a_text_is_not():
    twice = (b'{"event_id":"e1","ts":1794362400000,"shop_id":"s","buyer_id":"b",'
             b'"type":"read", "shop_id" : "t"}')
    result = decode(twice)
    assert isinstance(result, Invalid) and "`shop_id` appears more than once" in result.reason
    quoted = json.dumps(event("e", T0, text='"shop_id": "t"', extra={"shop_id": 1})).encode()
    assert not isinstance(decode(quoted), Invalid)


@pytest.mark.parametrize("field, value", [
    ("buyer_id", "b\u202e1"), ("shop_id", "s\x00"), ("agent_id", "a\u2066x"),
    ("event_id", "e\x1b[31m"), ("conversation_id", "c\u200f"),
])
def test_ids_with_control_or_bidi_characters_are_refused(field, value):
    body = event("e", T0, "agent", **{field: value})
    result = decode(json.dumps(body).encode())
    assert isinstance(result, Invalid) and f"`{field}`" in result.reason
    plain = event("e", T0, "agent", buyer="小明🌸 ok")
    assert not isinstance(decode(json.dumps(plain, ensure_ascii=False).encode()), Invalid)


# -- 5. the same rule offline: the time the log has reached ---------------------------------------


def _log(tmp_path: Path, lines: list[dict], name: str = "log.jsonl.gz") -> str:
    path = tmp_path / name
    with gzip.open(path, "wb") as out:
        out.write(b"\n".join(json.dumps(x).encode() for x in lines) + b"\n")
    return str(path)


def _day(start: int, buyers: int = 6) -> list[dict]:
    out = []
    for i in range(buyers):
        out.append(event(f"q{start}-{i}", start + i * 120_000, buyer=f"b{i}"))
        out.append(event(f"a{start}-{i}", start + i * 120_000 + 20_000, "agent", buyer=f"b{i}"))
    return out


def test_backfill_dead_letters_an_event_from_the_future_of_its_log(tmp_path):
    settings = load_settings(environ={})
    good = _day(T0)
    poisoned = [*good[:5], event("x", Y2100, buyer="bx"), *good[5:]]
    clean = run_backfill(read_events([_log(tmp_path, good, "a.jsonl.gz")]), settings)
    dirty = run_backfill(read_events([_log(tmp_path, poisoned, "b.jsonl.gz")]), settings)
    assert dirty.summary.invalid == 1 and dirty.summary.valid == len(good)
    assert [r.as_dict() for r in dirty.report()] == [r.as_dict() for r in clean.report()]


def test_the_log_clock_believes_a_quiet_night_and_refuses_a_lone_leap():
    # A log from the future of the wall clock (as a simulated one): only the log tells time.
    night = [*_day(T0), *_day(T0 + 20 * 3_600_000)]  # 20 quiet hours, then the next morning
    leap = [*night[:3], event("x", T0 + 2 * 86_400_000, buyer="bx"), *night[3:]]
    clock_wall = T0 - 86_400_000

    def judged(lines):
        clock = LogClock(TimeBounds(), wall_ms=clock_wall)
        records = [(r, 0, 0) for r in read_events([_log(Path(tmp), lines)], bounds=None)]
        return [r.event for r, _, _ in clock.judge(records)]

    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        assert not any(isinstance(e, Invalid) for e in judged(night))
    with tempfile.TemporaryDirectory() as tmp:
        verdicts = judged(leap)
    bad = [e for e in verdicts if isinstance(e, Invalid)]
    assert len(bad) == 1 and "ahead of the time the log has reached" in bad[0].reason


def test_a_log_from_the_future_of_the_wall_clock_keeps_its_last_events(tmp_path):
    # a small log dated after the run's wall clock: its last event, ten minutes after the one
    # before, has nothing after it to vouch for it, and is read as written all the same
    wall = T0 - 30 * 86_400_000
    lines = [event("e1", T0, buyer="b1"), event("e2", T0 + 10_000, "agent", buyer="b1"),
             event("e3", T0 + 600_000, buyer="b2")]

    def judged(lines):
        clock = LogClock(TimeBounds(), wall_ms=wall)
        records = [(r, 0, 0) for r in read_events([_log(tmp_path, lines)], bounds=None)]
        return [r.event for r, _, _ in clock.judge(records)]

    assert not any(isinstance(e, Invalid) for e in judged(lines))
    # a lone leap at the very end is still out: a month is the most the last event may jump
    tail = judged([*lines, event("x", Y2100, buyer="bx")])
    assert [isinstance(e, Invalid) for e in tail] == [False, False, False, True]
    weeks_later = judged([*lines, event("y", T0 + 20 * 86_400_000, buyer="by")])
    assert not any(isinstance(e, Invalid) for e in weeks_later)


def test_a_log_of_the_past_is_never_cut_by_the_rule(tmp_path):
    # events out of time order (a log grouped by conversation): the wall clock is far ahead
    lines = [*_day(T0 + 86_400_000), *_day(T0), *_day(T0 + 5 * 86_400_000)]
    result = run_backfill(read_events([_log(tmp_path, lines)]), load_settings(environ={}))
    assert result.summary.invalid == 0


def test_replay_resumes_after_the_record_it_last_sent_despite_the_lookahead(tmp_path):
    from stream.inputs import LogReader, Position

    lines = _day(T0, buyers=20)
    path = _log(tmp_path, lines, "r.jsonl")
    reader = LogReader(path, clock=LogClock(TimeBounds()))
    seen = []
    for record in reader:
        seen.append(record.event.event_id)
        if len(seen) == 7:
            position = reader.position
            break
    assert position == Position(7, position.offset)
    rest = [r.event.event_id for r in LogReader(path, start=position)]
    assert seen + rest == [x["event_id"] for x in lines]


# -- 6. a short retention does not change figures across a restart --------------------------------


def test_a_short_state_retention_keeps_the_figures_across_a_restart():
    hour = 3_600_000
    wall = [T0 + 3 * hour]
    p, _, store, _ = make(lambda: wall[0], CHATWATCH_STATE_RETENTION_HOURS="1")
    offset = 0
    for shop in range(51):
        for ts, sender in ((T0 + shop * 1000, "buyer"), (T0 + shop * 1000 + 20_000, "agent")):
            body = event(f"e{shop}-{sender}", ts, sender, buyer=f"b{shop}") | {
                "shop_id": f"shop-{shop:02d}"}
            p.on_message(0, offset, b"k", json.dumps(body).encode())
            offset += 1
    # two hours later one more event moves the partition's clock past the retention
    late = event("late", T0 + 2 * hour, buyer="late") | {"shop_id": "shop-00"}
    p.on_message(0, offset, b"k", json.dumps(late).encode())
    p.sweep(wall[0], {0: True})  # evicts what it may
    before = figures(p.engine)
    assert len({r["shop_id"] for r in before}) == 51
    q, _, _, _ = make(lambda: wall[0], CHATWATCH_STATE_RETENTION_HOURS="1")
    q.store = store  # the restarted worker's store is the one the first one wrote
    q.load_partition(0, list(store.rows.items()))
    q.sweep(wall[0], {0: True})
    assert figures(q.engine) == before
    # a day later, the rows go with their day
    wall[0] += 3 * 86_400_000
    later = event("later", wall[0] - 60_000, buyer="later") | {"shop_id": "shop-00"}
    q.on_message(0, offset + 1, b"k", json.dumps(later).encode())
    q._next_eviction_ms = 0
    q.sweep(wall[0], {0: True})
    # the conversation rows went; their day stays for the platform score, one record a shop
    settled = {k for k in store.rows if k.startswith(SETTLED_PREFIX)}
    assert set(store.rows) - settled == {"shop-00:later"}
    assert len(settled) == len({k.split("\x00")[2] for k in settled}) > 0


def test_ids_are_bounded_so_a_row_stays_small():
    body = event("e", T0, "agent")
    assert not isinstance(decode(json.dumps(body | {"shop_id": "s" * 128,
                                                    "buyer_id": "b" * 128}).encode()), Invalid)
    for field in ("event_id", "shop_id", "buyer_id", "agent_id", "platform"):
        result = decode(json.dumps(body | {field: "x" * 129}).encode())
        assert isinstance(result, Invalid) and f"`$.{field}`" in result.reason
    result = decode(json.dumps(body | {"conversation_id": "c" * 258}).encode())
    assert isinstance(result, Invalid) and "`$.conversation_id`" in result.reason
