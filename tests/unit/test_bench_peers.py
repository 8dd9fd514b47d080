"""The peers of ``make bench`` compute the bare reply window right (issue 19).

The comparison with Quix Streams and Bytewax is only honest if they do the job: the reference
counts are checked on hand-made events, and the Bytewax dataflow is run over a generated log
(its own testing source, no broker) and must end with exactly those counts. The Quix app needs
a broker: tests/integration/test_bench_peers.py.
"""

from __future__ import annotations

import json

from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSource, run_main

from bench.live import realistic_events
from bench.peers import bytewax_app
from bench.peers.window import Span, classify, expected_counters, mismatch, shop_day

T0 = 1_794_362_400_000  # 2026-11-11 10:00 +08:00


def _rec(conv: str, ts: int | str, sender: str, **extra: object) -> tuple[bytes, bytes]:
    shop, buyer = conv.split(":")
    body = {"event_id": f"{conv}{ts}{sender}", "ts": ts, "shop_id": shop, "buyer_id": buyer,
            "type": "message", "sender": sender, "text": "在吗", **extra}
    return conv.encode(), json.dumps(body, ensure_ascii=False).encode()


def test_reference_counts_the_bare_reply_window():
    day = shop_day("s1", T0).split("|")[1]
    records = [
        _rec("s1:a", T0, "buyer"),                     # opens
        _rec("s1:a", T0 + 10_000, "buyer"),            # already open: no new wait
        _rec("s1:a", T0 + 300_000, "agent", agent_id="x"),   # exactly at the window: in time
        _rec("s1:b", T0, "buyer"),
        _rec("s1:b", T0 + 300_001, "bot", agent_id="r", platform="pdd"),  # late, bot on pdd
        _rec("s1:c", T0, "buyer", platform="taobao"),
        _rec("s1:c", T0 + 1_000, "bot", agent_id="r", platform="taobao"),  # not a reply there
        _rec("s1:d", T0, "buyer", buyer_kind="ad"),    # ads open nothing
        _rec("s1:d", T0 + 1_000, "agent", agent_id="x"),  # nothing open: nothing closed
        _rec("s1:e", "2026-11-11T10:00:00+08:00", "buyer"),  # RFC 3339 time
        _rec("s1:e", T0 + 5_000, "system"),            # system messages close nothing
        (b"s1:f", b"{not json"),
        (b"s1:g", json.dumps({"type": "read", "sender": "buyer", "shop_id": "s1",
                              "buyer_id": "g", "ts": T0}).encode()),
        _rec("s2:a", T0 - 10 * 3_600_000 - 1, "buyer"),  # 23:59:59.999 the day before
    ]
    counts = expected_counters(records)
    prev = int(day) - 1
    assert counts == {f"s1|{day}": [4, 1, 2], f"s2|{prev}": [1, 0, 0]}
    assert classify(b"[1, 2]") is None and classify(b"\xff") is None


def test_mismatch_names_the_differences():
    assert mismatch({"a": [1, 0, 1]}, {"a": [1, 0, 1]}) is None
    assert "1 of 1 shop-days differ" in mismatch({"a": [1, 0, 0]}, {"a": [1, 0, 1]})
    assert mismatch({}, {"a": [1, 0, 1]}) is not None


def test_bytewax_flow_ends_with_the_known_counts_of_a_generated_log():
    records = realistic_events(20_000, seed=3)  # > 5 min of event time: late replies too
    want = expected_counters(records)
    assert sum(c[0] for c in want.values()) > 1_000  # a log with real work in it
    assert sum(c[1] for c in want.values()) > 0
    span = Span()
    sink = bytewax_app.LatestSink(span)
    source = TestingSource([KafkaSourceMessage(key, value) for key, value in records])
    run_main(bytewax_app.build_flow(source, sink, span))
    assert span.count == len(records)
    assert sink.counters == want


def test_bytewax_state_is_per_conversation():
    # the same buyer message in two conversations opens two waits; a reply closes only its own
    records = [_rec("s1:a", T0, "buyer"), _rec("s1:b", T0, "buyer"),
               _rec("s1:a", T0 + 400_000, "agent", agent_id="x")]
    span = Span()
    sink = bytewax_app.LatestSink(span)
    source = TestingSource([KafkaSourceMessage(key, value) for key, value in records])
    run_main(bytewax_app.build_flow(source, sink, span))
    assert list(sink.counters.values()) == [[2, 1, 1]]
    assert sink.counters == expected_counters(records)
