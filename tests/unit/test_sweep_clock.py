"""A caught-up worker breaches a wait only once it has seen the log past the deadline.

A chaos run (seed 303) recorded a breach of a 3 s KPI wait whose reply, stamped 111 ms
before the deadline, the broker had acknowledged 699 ms before the worker declared the
breach: the worker was caught up with the log as its last answered fetch showed it, and let
the wall clock carry the watermark past the deadline although the reply was on its way to
it. The sweep now moves caught-up watermarks only as far as that fetch (``sweep_clock``).
"""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from agents.app import sweep_clock
from agents.metrics import ChatwatchMetrics
from agents.pipeline import Pipeline
from stream.config import load_settings
from stream.core.engine import Engine

T0 = 1794362400000  # 2026-11-11T10:00:00+08:00, counted hours
WINDOW_MS = 300_000  # PDD's reply window
SKEW_MS = 500


class Sink:
    def __init__(self) -> None:
        self.breaches: list[dict[str, object]] = []

    def send(self, topic: str, key: bytes | None, value: bytes, headers: object = None) -> None:
        record = json.loads(value)
        if topic == "chat.breaches" and record["kpi"] == "pdd_5min":  # the 300 s window
            self.breaches.append(record)


class Store:
    def put(self, partition: int, key: str, row: object) -> None:
        pass

    def delete(self, partition: int, key: str) -> None:
        pass


def pipeline() -> tuple[Pipeline, Sink]:
    settings = load_settings(environ={})
    sink = Sink()
    return Pipeline(settings, Engine(settings.policies, settings.content.guard()),
                    ChatwatchMetrics(CollectorRegistry()), Store(), sink), sink


def message(eid: str, ts: int, sender: str = "buyer") -> bytes:
    event = {"event_id": eid, "ts": ts, "shop_id": "s1", "buyer_id": "b1", "type": "message",
             "sender": sender, "text": "在吗"}
    if sender == "agent":
        event["agent_id"] = "ag"
    return json.dumps(event, ensure_ascii=False).encode()


def test_a_reply_not_fetched_yet_is_not_breached_by_the_wall_clock() -> None:
    p, sink = pipeline()
    p.on_message(0, 0, b"s1:b1", message("e1", T0))
    deadline = T0 + WINDOW_MS
    reply_ts = deadline - 111
    now = deadline + SKEW_MS + 200
    # caught up with the log as it was at the last answered fetch, before the reply came
    p.sweep(sweep_clock(now, [reply_ts - 50]), {0: True})
    assert not sink.breaches
    p.on_message(0, 1, b"s1:b1", message("e2", reply_ts, "agent"))
    p.sweep(sweep_clock(now + 300, [now + 250]), {0: True})
    assert not sink.breaches


def test_the_wall_clock_still_breaches_once_a_fetch_saw_past_the_deadline() -> None:
    p, sink = pipeline()
    p.on_message(0, 0, b"s1:b1", message("e1", T0))
    deadline = T0 + WINDOW_MS
    p.sweep(sweep_clock(deadline + SKEW_MS + 400, [deadline + SKEW_MS - 1]), {0: True})
    assert not sink.breaches
    p.sweep(sweep_clock(deadline + SKEW_MS + 400, [deadline + SKEW_MS + 300]), {0: True})
    assert [b["kpi"] for b in sink.breaches] == ["pdd_5min"]


def test_the_oldest_view_bounds_and_unknown_views_do_not() -> None:
    assert sweep_clock(10_000, [9_000, 8_500, None]) == 8_500
    assert sweep_clock(10_000, []) == 10_000
    assert sweep_clock(10_000, [None, 12_000]) == 10_000
