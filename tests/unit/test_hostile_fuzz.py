"""Random and mutated records through the live driver (issue 34): no exception escapes, every
record is applied or dead-lettered, and a dead-lettered record changes nothing else.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics
from agents.pipeline import Pipeline, encode_row
from stream.config import load_settings
from stream.core.engine import Engine

T0 = 1794362400000  # 2026-11-11T10:00:00+08:00
WALL = T0 + 3_600_000
SETTINGS = load_settings(environ={})

VALID = [
    {"event_id": "e1", "ts": T0, "shop_id": "s1", "buyer_id": "b1", "type": "message",
     "sender": "buyer", "text": "在吗"},
    {"event_id": "e2", "ts": "2026-11-11T10:00:30+08:00", "shop_id": "s1", "buyer_id": "b1",
     "type": "message", "sender": "agent", "agent_id": "a1", "text": "加我微信 abc12345"},
    {"event_id": "e3", "ts": T0 + 40_000, "shop_id": "s1", "buyer_id": "b2", "type": "transfer",
     "agent_id": "a2"},
    {"event_id": "e4", "ts": T0 + 50_000, "shop_id": "s1", "buyer_id": "b1", "type": "order",
     "order_id": "o1", "status": "paid", "amount": "19.90"},
    {"event_id": "e5", "ts": T0 + 60_000, "shop_id": "s2", "buyer_id": "b3", "type": "read"},
]

ODD_VALUES = st.sampled_from([
    None, "", 0, -1, 2**63, -(2**63), 1.5e308, True, [], {}, "9999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "\u202e", "\x00", "１２", "-0", "NaN",
    "x" * 2000, {"a": [1, {"b": None}]},
])


@st.composite
def mutated(draw: st.DrawFn) -> bytes | None:
    """A valid event with a field removed, retyped or set to an odd value, or its bytes cut,
    flipped or repeated; sometimes a tombstone or random bytes."""
    kind = draw(st.sampled_from(["valid", "field", "drop", "bytes", "cut", "dup", "none",
                                 "random"]))
    body = dict(draw(st.sampled_from(VALID)))
    body["event_id"] = draw(st.text(min_size=1, max_size=6))
    if kind == "none":
        return None
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "field":
        body[draw(st.sampled_from(sorted({k for e in VALID for k in e})))] = draw(ODD_VALUES)
    if kind == "drop":
        body.pop(draw(st.sampled_from(sorted(body))))
    raw = json.dumps(body, ensure_ascii=False).encode()
    if kind == "bytes":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    if kind == "cut":
        raw = raw[:draw(st.integers(0, len(raw)))]
    if kind == "dup":
        key = draw(st.sampled_from(sorted(body)))
        raw = raw[:-1] + b"," + json.dumps({key: body[key]}).encode()[1:]
    return raw


class Store:
    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}

    def put(self, partition, key, row):
        self.rows[key] = encode_row(row)

    def delete(self, partition, key):
        self.rows.pop(key, None)


class Sink:
    def __init__(self) -> None:
        self.dead: list[int] = []
        self.other = 0

    def send(self, topic, key, value, headers=None):
        if topic == SETTINGS.dlq_topic:
            self.dead.append(int(dict(headers)["source"].rsplit(b"/", 1)[1]))
        else:
            self.other += 1


def _state(engine: Engine) -> tuple:
    return ({cid: encode_row(conv) for cid, conv in engine.conversations.items()},
            [r.as_dict() for r in engine.book([0]).report()], engine.duplicates,
            engine.out_of_order)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=25))
def test_every_record_is_applied_or_dead_lettered_and_nothing_else_changes(values):
    registry = CollectorRegistry()
    engine = Engine(SETTINGS.policies, SETTINGS.content.guard())
    sink, store = Sink(), Store()
    pipeline = Pipeline(SETTINGS, engine, ChatwatchMetrics(registry), store, sink, None,
                        clock=lambda: WALL)
    for offset, value in enumerate(values):
        before = _state(engine)
        dead = len(sink.dead)
        pipeline.on_message(0, offset, b"k", value)  # must not raise
        if len(sink.dead) > dead:
            assert sink.dead[-1] == offset
            assert _state(engine) == before, "a dead-lettered record changed the state"
    pipeline.sweep(WALL, {0: True})

    def count(outcome: str) -> float:
        return registry.get_sample_value("chatwatch_events_total", {"outcome": outcome}) or 0.0

    applied = count("processed") + count("duplicate")
    assert applied + count("invalid") == len(values)
    assert count("invalid") == len(sink.dead) == len(set(sink.dead))
