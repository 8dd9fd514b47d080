"""Engine properties: the figures never depend on *when* breaches are declared.

The live worker declares breaches from a watermark (its sweeper), splits conversations over
partitions and workers, and rebuilds its engine from stored rows after a restart; a backfill
feeds the same events in one go and ends the input. These tests drive the pure engine all of
those ways over random logs and require identical daily figures.
"""

from __future__ import annotations

import zlib
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from agents.pipeline import decode_row, encode_row
from stream.config import Settings
from stream.core.engine import Engine
from stream.core.events import ChatEvent
from stream.core.figures import DayBook
from stream.core.reply_window import BreachRetracted
from stream.core.rows import Conversation
from tests.unit.test_reply_window import T0, ev, feed, report, settings_yaml, to_event

SETTINGS: Settings = settings_yaml("""
    shops:
      s3: {timezone: America/New_York, platform: taobao}
""")

# (shop, buyer, conversation id or None for the default, platform)
CONVERSATIONS = [
    ("s1", "b1", None, None), ("s1", "b2", None, "pdd"), ("s1", "b1", "s1-alt", None),
    ("s2", "b1", None, "taobao"), ("s2", "b3", None, "jd"), ("s3", "b4", None, None),
]
KINDS = ["buyer", "buyer", "buyer", "agent", "agent", "bot", "ad", "peer", "system", "read",
         "end"]
STARTS = [T0, T0.replace(hour=7, minute=55), T0.replace(hour=22, minute=52),
          T0.replace(hour=23, minute=58)]


@st.composite
def event_logs(draw: Any) -> list[dict[str, Any]]:
    """A random chat log: several shops and buyers, late, missing and out-of-order replies,
    bot replies, ads, duplicates and every ``ts`` form."""
    clock = draw(st.sampled_from(STARTS))
    log: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 60))):
        if log and draw(st.integers(0, 9)) == 0:
            log.append(dict(draw(st.sampled_from(log))))  # a redelivered event
            continue
        clock += timedelta(milliseconds=draw(st.integers(0, 200_000)))
        jitter = draw(st.sampled_from([0, 0, 0, 0, -1, -90_000, 299_999, 300_000, 300_001]))
        shop, buyer, cid, platform = draw(st.sampled_from(CONVERSATIONS))
        extra: dict[str, Any] = {}
        if cid:
            extra["conversation_id"] = cid
        if platform:
            extra["platform"] = platform
        kind = draw(st.sampled_from(KINDS))
        if kind == "agent":
            extra["agent_id"] = draw(st.sampled_from(["a1", "a2"]))
        log.append(ev(kind, clock + timedelta(milliseconds=jitter), shop=shop, buyer=buyer,
                      form=draw(st.sampled_from(["offset", "utc", "epoch"])), **extra))
    return log


def decoded(log: list[dict[str, Any]]) -> list[ChatEvent]:
    return [to_event(e) for e in log]


def backfill_report(log: list[dict[str, Any]]) -> list[dict[str, object]]:
    return report(feed(log, SETTINGS)[0])


def partition_of(event: ChatEvent, n: int) -> int:
    return zlib.crc32(event.conversation_id.encode()) % n


PROPERTY = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(log=event_logs(), data=st.data())
def test_watermarks_at_arbitrary_times_do_not_change_the_figures(log: list[dict[str, Any]],
                                                                 data: Any) -> None:
    engine = Engine(SETTINGS.policies)
    for chat in decoded(log):
        applied = engine.apply(chat)
        if any(isinstance(o, BreachRetracted) for o in applied.outcomes):
            note_event("a watermark breach was retracted")
        if data.draw(st.booleans()):
            offset = data.draw(st.integers(-600_000, 900_000))
            engine.advance(0, chat.ts_ms + offset)
    engine.finish()
    assert report(engine) == backfill_report(log)


@PROPERTY
@given(log=event_logs(), n=st.integers(1, 4), data=st.data())
def test_partitions_and_workers_merge_to_the_same_figures(log: list[dict[str, Any]], n: int,
                                                          data: Any) -> None:
    one = Engine(SETTINGS.policies)  # one worker owning every partition
    workers = [Engine(SETTINGS.policies) for _ in range(n)]  # one worker per partition
    for event in decoded(log):
        p = partition_of(event, n)
        one.apply(event, p)
        workers[p].apply(event, p)
        if data.draw(st.booleans()):
            mark = event.ts_ms + data.draw(st.integers(0, 600_000))
            one.advance(p, mark)
            workers[p].advance(p, mark)
    one.finish()
    merged = DayBook()
    for worker in workers:
        worker.finish()
        merged.merge(worker.book())
    expected = backfill_report(log)
    assert report(one) == expected
    assert [row.as_dict() for row in merged.report()] == expected


@PROPERTY
@given(log=event_logs(), data=st.data())
def test_engine_rebuilt_from_stored_rows_continues_identically(log: list[dict[str, Any]],
                                                               data: Any) -> None:
    events = decoded(log)
    cut = data.draw(st.integers(0, len(events)))
    first = Engine(SETTINGS.policies)
    for event in events[:cut]:
        first.apply(event, partition_of(event, 3))
        if data.draw(st.booleans()):
            first.advance(partition_of(event, 3), event.ts_ms + data.draw(st.integers(0, 600_000)))
    rows = {cid: encode_row(conv) for cid, conv in first.conversations.items()}
    assert report(first) == report(_rebuilt(rows))  # figures come from the rows alone

    second = _rebuilt(rows)
    # at-least-once delivery: events after the last committed offset come again
    redelivered = events[max(0, cut - data.draw(st.integers(0, 5))):cut]
    for event in [*redelivered, *events[cut:]]:
        applied = second.apply(event, partition_of(event, 3))
        if event in redelivered:
            assert applied.duplicate
    second.finish()
    assert report(second) == backfill_report(log)


def _rebuilt(rows: dict[str, bytes]) -> Engine:
    engine = Engine(SETTINGS.policies)
    for cid, raw in rows.items():
        engine.load(cid, decode_row(raw))
    return engine


@PROPERTY
@given(log=event_logs())
def test_conversation_rows_survive_a_msgpack_round_trip(log: list[dict[str, Any]]) -> None:
    engine, _ = feed(log, SETTINGS, finish=False)
    for conv in engine.conversations.values():
        raw = encode_row(conv)
        again = decode_row(raw)
        assert isinstance(again, Conversation) and again == conv
        assert encode_row(again) == raw


def test_restored_open_wait_is_breached_by_the_watermark_of_the_new_engine() -> None:
    engine, _ = feed([ev("buyer", 0), ev("agent", 10, buyer="b2")], SETTINGS, finish=False)
    restored = _rebuilt({cid: encode_row(c) for cid, c in engine.conversations.items()})
    start = int(T0.timestamp() * 1000)
    assert restored.next_deadline(0) == start + 300_000
    assert restored.advance(0, start + 300_000) == []
    [breach] = restored.advance(0, start + 300_001)
    assert breach.conversation_id == "s1:b1"
    assert restored.finish() == []


def test_dropped_partition_forgets_its_conversations_and_figures() -> None:
    engine = Engine(SETTINGS.policies)
    a, b = to_event(ev("buyer", 0, buyer="x")), to_event(ev("buyer", 0, buyer="y"))
    engine.apply(a, 0)
    engine.apply(b, 1)
    engine.drop_partition(0)
    assert list(engine.conversations) == ["s1:y"]
    assert [r["consultations"] for r in report(engine)] == [1]


@settings(deadline=None)  # no timing in unit tests: a loaded machine is not a failure
@given(log=event_logs(), n=st.integers(1, 3), data=st.data())
def test_read_outs_equal_a_scan_of_every_conversation(log: list[dict[str, Any]], n: int,
                                                      data: Any) -> None:
    # open_waits() walks the deadline entries, shops() and figures() the partition states;
    # whatever the watermarks did, they must say what a scan of every conversation says.
    engine = Engine(SETTINGS.policies)
    for chat in decoded(log):
        engine.apply(chat, zlib.crc32(chat.conversation_id.encode()) % n)
        if data.draw(st.booleans()):
            engine.advance(data.draw(st.integers(0, n - 1)),
                           chat.ts_ms + data.draw(st.integers(-600_000, 900_000)))
        waiting = {cid for cid, conv in engine.conversations.items()
                   if conv.has_open_wait and not conv.wait_breached}
        listed = [cid for cid, _ in engine.open_waits()]
        assert sorted(listed) == sorted(waiting)
    assert set(engine.shops()) == {conv.shop_id for conv in engine.conversations.values()}
    full = engine.book()
    for shop, day in full.totals:
        assert engine.figures(shop, day) == full.figures(shop, day)
