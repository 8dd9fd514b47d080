"""The event contract (DOMAIN.md §2): decoder, defaults, reasons, and the JSON Schema file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stream
from stream.core.events import ChatEvent
from stream.schema import Invalid, decode, encode_event

SCHEMA = json.loads((Path(stream.__file__).parent / "chat-event.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

BASE = {"event_id": "e1", "ts": "2026-11-11T10:00:00+08:00", "shop_id": "s1",
        "buyer_id": "b1", "type": "message", "sender": "buyer", "text": "在吗"}


def enc(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def with_(**kw):
    d = dict(BASE)
    for k, v in kw.items():
        if v is ...:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def test_valid_message_with_defaults():
    ev = decode(enc(BASE))
    assert isinstance(ev, ChatEvent)
    assert ev.ts_ms == int(datetime(2026, 11, 11, 2, 0, tzinfo=UTC).timestamp() * 1000)
    assert ev.conversation_id == "s1:b1"
    assert ev.platform == "pdd"
    assert ev.buyer_kind == "customer"


def test_default_platform_comes_from_config():
    ev = decode(enc(BASE), default_platform="taobao")
    assert isinstance(ev, ChatEvent) and ev.platform == "taobao"


@pytest.mark.parametrize("ts", ["2026-11-11T02:00:00Z", "2026-11-11T10:00:00+08:00",
                                "2026-11-11T02:00:00.000+00:00", 1794362400000])
def test_both_ts_forms_give_the_same_instant(ts):
    ev = decode(enc(with_(ts=ts)))
    assert isinstance(ev, ChatEvent)
    assert ev.ts_ms == 1794362400000


def test_explicit_conversation_and_platform_kept():
    ev = decode(enc(with_(conversation_id="c-9", platform="jd", buyer_kind="ad")))
    assert isinstance(ev, ChatEvent)
    assert (ev.conversation_id, ev.platform, ev.buyer_kind) == ("c-9", "jd", "ad")


def test_read_and_end_need_no_sender_or_text():
    for kind in ("read", "end"):
        ev = decode(enc(with_(type=kind, sender=..., text=...)))
        assert isinstance(ev, ChatEvent) and ev.type == kind


def test_unknown_fields_are_ignored():
    assert isinstance(decode(enc(with_(extra={"x": 1}))), ChatEvent)


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"", "not JSON"),
    (b"[1, 2]", "Expected `object`"),
    (b"null", "Expected `object`"),
    (enc(with_(event_id=...)), "event_id"),
    (enc(with_(event_id="")), "$.event_id"),
    (enc(with_(ts=...)), "ts"),
    (enc(with_(ts="2026-11-11T10:00:00")), "timezone"),
    (enc(with_(ts="yesterday")), "$.ts"),
    (enc(with_(ts=True)), "$.ts"),
    (enc(with_(ts=1.5)), "$.ts"),
    (enc(with_(ts=-1)), "$.ts"),
    (enc(with_(ts=10**18)), "$.ts"),
    (enc(with_(shop_id=...)), "shop_id"),
    (enc(with_(shop_id=7)), "$.shop_id"),
    (enc(with_(buyer_id=...)), "buyer_id"),
    (enc(with_(type="typing")), "$.type"),
    (enc(with_(type=...)), "type"),
    (enc(with_(sender="customer")), "$.sender"),
    (enc(with_(sender=...)), "sender"),
    (enc(with_(text=...)), "text"),
    (enc(with_(text=5)), "$.text"),
    (enc(with_(sender="agent")), "agent_id"),
    (enc(with_(sender="bot")), "agent_id"),
    (enc(with_(buyer_kind="vip")), "$.buyer_kind"),
])
def test_each_kind_of_invalid_has_a_reason(raw, reason):
    bad = decode(raw)
    assert isinstance(bad, Invalid)
    assert reason in bad.reason
    assert bad.raw == raw


AGREEMENT_CASES = [
    BASE, with_(ts=1794362400000), with_(type="read", sender=..., text=...),
    with_(sender="agent", agent_id="a1"), with_(sender="bot", agent_id="bot"),
    with_(sender="system"), with_(conversation_id="c"), with_(buyer_kind="peer"),
    with_(event_id=...), with_(ts=...), with_(ts="2026-11-11T10:00:00"), with_(ts=True),
    with_(ts=-5), with_(shop_id=1), with_(type="x"), with_(sender="agent"),
    with_(text=...), with_(sender=...), with_(buyer_kind="vip"), with_(event_id=""),
    [1], "text", 5,
]


@pytest.mark.parametrize("obj", AGREEMENT_CASES)
def test_json_schema_and_decoder_agree(obj):
    schema_ok = VALIDATOR.is_valid(obj)
    decoder_ok = isinstance(decode(enc(obj)), ChatEvent)
    assert schema_ok == decoder_ok


def test_encode_round_trip():
    ev = decode(enc(with_(sender="agent", agent_id="a1", platform="taobao")))
    assert isinstance(ev, ChatEvent)
    again = decode(encode_event(ev))
    assert again == ev


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_no_bytes_crash_the_decoder(raw):
    result = decode(raw)
    assert isinstance(result, ChatEvent | Invalid)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=4),
    max_leaves=10)


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional={k: json_values | st.just(v)
                                           for k, v in {**BASE, "agent_id": "a",
                                                        "buyer_kind": "ad",
                                                        "conversation_id": "c"}.items()}))
def test_no_json_object_crashes_the_decoder(obj):
    result = decode(enc(obj))
    assert isinstance(result, ChatEvent | Invalid)
    if isinstance(result, ChatEvent):
        assert result.event_id and result.shop_id and result.buyer_id
        assert result.type in ("message", "read", "end")


def test_invalid_utf8_is_a_dead_letter_not_a_crash() -> None:
    from stream.schema import Invalid, decode

    raw = b'{"event_id":"e1","ts":0,"shop_id":"s","buyer_id":"b","type":"message",' \
          b'"sender":"buyer","text":"\xff\xfe"}'
    bad = decode(raw)
    assert isinstance(bad, Invalid) and "UTF-8" in bad.reason and bad.raw == raw
