"""The Kafka Streams peer of ``make bench`` computes the bare reply window right (issue 29).

The peer is Java (``bench/peers/kafka_streams/``), built with Maven and run on Apache Kafka
exactly as the bench runs it (``bench.peers.run_peer``): over a small produced log, generated
traffic plus hand-made records for every rule of ``bench.peers.window.classify`` (RFC 3339
times, bots off PDD, ads, null fields, broken and trailing JSON, a float time), its final
counters must equal ``window.expected_counters`` of the same records, or it gets no rate.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.live import create_topic, fill, realistic_events
from bench.peers import kafka_streams_app, run_peer
from bench.peers.window import expected_counters, shop_day

pytestmark = pytest.mark.slow

T0 = 1_794_362_400_000  # 2026-11-11 10:00 +08:00


def _rec(conv: str, ts: object, sender: str, **extra: object) -> tuple[bytes, bytes]:
    shop, buyer = conv.split(":")
    body = {"event_id": f"{conv}{ts}{sender}", "ts": ts, "shop_id": shop, "buyer_id": buyer,
            "type": "message", "sender": sender, "text": "在吗", **extra}
    return conv.encode(), json.dumps(body, ensure_ascii=False).encode()


def hand_made() -> list[tuple[bytes, bytes]]:
    """Records for each rule of ``classify``, in conversations of their own (shop ``hm``)."""
    return [
        _rec("hm:a", T0, "buyer"),                                 # opens
        _rec("hm:a", T0 + 10_000, "buyer"),                        # already open
        _rec("hm:a", T0 + 300_000, "agent", agent_id="x"),         # exactly at the window
        _rec("hm:b", T0, "buyer"),
        _rec("hm:b", T0 + 300_001, "bot", agent_id="r"),           # late; a bot, default pdd
        _rec("hm:c", T0, "buyer", platform="taobao"),
        _rec("hm:c", T0 + 1_000, "bot", agent_id="r", platform="taobao"),  # no reply there
        _rec("hm:c", T0 + 2_000, "bot", agent_id="r", platform=None),      # nor on null
        _rec("hm:d", T0, "buyer", buyer_kind="ad"),                # ads open nothing
        _rec("hm:d", T0 + 500, "buyer", buyer_kind=None),          # nor a null kind
        _rec("hm:d", T0 + 1_000, "agent", agent_id="x"),           # nothing open to close
        _rec("hm:e", "2026-11-11T10:00:00+08:00", "buyer"),        # RFC 3339 time
        _rec("hm:e", "2026-11-11T02:06:00.250Z", "agent"),         # 'Z', 360.25 s: late
        _rec("hm:f", 1.5e12, "buyer"),                             # a float time: nothing
        _rec("hm:f", "yesterday", "buyer"),                        # an unreadable time
        _rec("hm:f", True, "buyer"),                               # a boolean is no time
        (b"hm:g", b"{not json"),
        (b"hm:g", _rec("hm:g", T0, "buyer")[1] + b" trailing"),    # not one JSON value
        (b"hm:g", b'["message"]'),
        (b"hm:g", b""),
        (b"hm:h", json.dumps({"type": "message", "sender": "buyer", "shop_id": "hm",
                              "ts": T0}).encode()),                # no buyer id
        (b"hm:h", json.dumps({"type": "message", "sender": "buyer", "shop_id": 7,
                              "buyer_id": "h", "ts": T0}).encode()),  # a shop id not a string
        _rec("hm:i", T0 - 10 * 3_600_000 - 1, "buyer"),            # 23:59:59.999 the day before
        _rec("hm:i", T0, "agent", agent_id="x"),                   # late, for the wait's day
        _rec("hm:j", T0, "system"),                                # system messages: nothing
        (b"hm:k", json.dumps({"type": "read", "sender": "buyer", "shop_id": "hm",
                              "buyer_id": "k", "ts": T0}).encode()),
    ]


@pytest.fixture(scope="module")
def produced(kafka):
    topic = "bench.kafka-streams.events"
    records = realistic_events(20_000, seed=7) + hand_made()
    asyncio.run(create_topic(kafka.bootstrap, topic, 4))
    assert asyncio.run(fill(kafka.bootstrap, topic, records)) == len(records)
    return topic, records, expected_counters(records)


def test_hand_made_records_cover_the_rules():
    # the reference itself on the hand-made records: what the peer must reproduce
    want = expected_counters(hand_made())
    day = int(shop_day("hm", T0).split("|")[1])
    assert want == {f"hm|{day}": [4, 2, 3], f"hm|{day - 1}": [1, 1, 1]}


def test_kafka_streams_counts_the_produced_log(kafka, produced):
    topic, records, want = produced
    assert sum(c[1] for c in want.values()) > 0  # late replies in the log
    result = run_peer("kafka_streams", kafka.bootstrap, topic, len(records), want, timeout=300)
    assert result.get("error") is None
    assert result["events_per_s"] > 0


def test_kafka_streams_with_other_counts_gets_no_rate(kafka, produced):
    topic, records, want = produced
    key = next(k for k in want if k.startswith("hm|"))
    wrong = {**want, key: [want[key][0], want[key][1] + 1, want[key][2]]}
    result = run_peer("kafka_streams", kafka.bootstrap, topic, len(records), wrong, timeout=300)
    assert result["events_per_s"] is None
    assert "1 of" in result["error"] and key in result["error"]


def test_the_jar_is_built_once_per_source(tmp_path):
    jar = kafka_streams_app.build(cache=tmp_path)
    assert jar.is_file() and jar.parent == kafka_streams_app.build_dir(tmp_path)
    stamp = jar.stat().st_mtime_ns
    assert kafka_streams_app.build(cache=tmp_path) == jar  # no second build
    assert jar.stat().st_mtime_ns == stamp
