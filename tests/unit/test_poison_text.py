"""Poison text: any input a producer can send yields bounded work and bounded records."""

from __future__ import annotations

import json

import msgspec
import pytest

from agents.web import CHECK_MAX_DEPTH, CheckRequest, parse_check_request
from stream.config import Settings, settings_from_mapping
from stream.core.content import Detector, Violation
from stream.core.guard import ContentFlagged, ContentGuard, GuardLimits
from stream.core.policy import Policy
from stream.errors import ConfigError
from stream.records import (
    MAX_RECORD_BYTES,
    MAX_VIOLATION_BYTES,
    dead_letter,
    encode_breach,
    encode_violation,
)
from tests.unit.test_one_driver import T0, live

PDD = Policy(bot_replies_close_wait=True, content_mode="mention")
POISON = "微信 abc123 " * 20_000  # ~280 KB of UTF-8, 40,000 findings unbounded


def test_a_long_message_gives_bounded_findings_and_says_so():
    guard = ContentGuard(Detector(), GuardLimits(per_category=20, budget_chars=30_000))
    checked = guard.check(POISON, PDD, "pdd")
    assert checked is not None and checked.capped and checked.oversized
    per: dict[str, int] = {}
    for v in checked.findings:
        per[v.category] = per.get(v.category, 0) + 1
    assert per["wechat"] == 20
    assert checked.total > 2 * 20  # counted though not kept
    assert any(v.how == "oversized" and v.category == "quality" for v in checked.findings)
    assert checked.cut_chars == len(POISON) - guard.limits.text_chars
    assert "abc123" not in checked.masked


def test_a_text_within_the_budget_is_neither_capped_nor_oversized():
    checked = ContentGuard(Detector()).check("加我微信 wx_abc123", PDD, "pdd")
    assert checked is not None and not checked.capped and not checked.oversized
    assert checked.total == len(checked.findings)


def test_the_poison_message_is_one_small_record_live():
    text = "微信 abc123 " * 1_500  # within the default budget: checked whole
    registry, sink = live([
        {"event_id": "e1", "ts": T0, "shop_id": "s1", "buyer_id": "b1", "type": "message",
         "sender": "buyer", "text": "在吗"},
        {"event_id": "e2", "ts": T0 + 1000, "shop_id": "s1", "buyer_id": "b1",
         "type": "message", "sender": "agent", "agent_id": "a1", "text": text}])
    (topic, _, value, _), = [r for r in sink.records if r[0] == "chat.violations"]
    assert len(value) < MAX_VIOLATION_BYTES
    record = json.loads(value)
    assert record["capped"] is True and record["total"] >= 3_000
    assert "oversized" not in record
    assert len(record["violations"]) <= 20 * 2  # per category: wechat (+ quality)
    assert registry.get_sample_value("chatwatch_violations_total", {
        "shop": "s1", "category": "wechat", "severity": "critical"}) == 1


def test_an_oversized_message_is_counted_as_such():
    registry, sink = live([
        {"event_id": "e2", "ts": T0, "shop_id": "s1", "buyer_id": "b1", "type": "message",
         "sender": "agent", "agent_id": "a1", "text": "好" * 60_000}])
    assert registry.get_sample_value("chatwatch_events_total", {"outcome": "oversized"}) == 1
    (record,) = sink.on("chat.violations")
    assert record["oversized"] is True
    assert [v["how"] for v in record["violations"]] == ["oversized"]


def _flagged(findings: int, match: str) -> ContentFlagged:
    found = tuple(Violation("wechat", "critical", i, i + len(match), match, "keyword")
                  for i in range(findings))
    return ContentFlagged("s1:b1", "e1", "s1", "pdd", "a1", "agent", T0, 739_931, "x" * 20_000,
                          found, findings)


def test_a_violation_record_stays_under_its_bound_whatever_the_guard_kept():
    from zoneinfo import ZoneInfo

    raw = encode_violation(_flagged(5_000, "m" * 200), ZoneInfo("Asia/Shanghai"))
    assert len(raw) <= MAX_VIOLATION_BYTES
    record = json.loads(raw)
    assert record["capped"] is True and record["total"] == 5_000 and record["violations"]


def test_a_dead_letter_at_the_limit_is_cut_with_its_size_and_digest():
    raw = b"x" * (MAX_RECORD_BYTES + 10)
    _, value, headers = dead_letter(raw, "not JSON: " + "r" * 5000, "chat.events/0/7")
    names = dict(headers)
    assert len(value) + sum(len(k) + len(v) for k, v in headers) < MAX_RECORD_BYTES
    assert names["truncated"] == b"true"
    assert names["original_bytes"] == str(len(raw)).encode()
    assert len(names["reason"]) < 1100
    _, small, small_headers = dead_letter(b'{"a":', "not JSON", "chat.events/0/8")
    assert small == b'{"a":' and "truncated" not in dict(small_headers)


def test_a_dead_letter_counts_its_key_and_a_huge_key_is_replaced_by_its_digest():
    raw = b"x" * (MAX_RECORD_BYTES + 10)
    key = b"k" * 1_100_000
    out_key, value, headers = dead_letter(raw, "not JSON", "chat.events/0/9", key)
    names = dict(headers)
    assert out_key is not None and len(out_key) == 64
    assert names["original_key_bytes"] == str(len(key)).encode()
    size = len(out_key) + len(value) + sum(len(k) + len(v) for k, v in headers)
    assert size < MAX_RECORD_BYTES
    short_key, _, short_headers = dead_letter(b"{}", "schema", "chat.events/0/10", b"shop:buyer")
    assert short_key == b"shop:buyer" and "original_key_bytes" not in dict(short_headers)
    # a key just under the cut still leaves the value room within the limit
    kept_key, kept, _ = dead_letter(raw, "not JSON", "chat.events/0/11", b"k" * 1000)
    assert kept_key == b"k" * 1000 and len(kept_key) + len(kept) < MAX_RECORD_BYTES - 1000


def test_a_breach_record_is_small():
    from zoneinfo import ZoneInfo

    from stream.core.reply_window import WaitBreached

    breach = WaitBreached("c" * 2000, "s" * 2000, "a" * 2000, T0, T0 + 300_000, 739_931, True, 1)
    assert len(encode_breach(breach, ZoneInfo("Asia/Shanghai"))) < 10_000


@pytest.mark.parametrize("body, reason", [
    (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
    (b'{"text": ' + b"[" * 40 + b"]" * 40 + b"}", "nests deeper"),
    (b'{"text": "\xff\xfe"}', "JSON"),
    (b"", "JSON"),
    (b"[1, 2]", "object"),
    (b'{"text": 5}', "text"),
    (b'{"platform": "pdd"}', "text"),
    (b'{"text": "x", "role": "boss"}', "role"),
    (b'{"text": "x"} trailing', "JSON"),
])
def test_a_bad_check_body_is_a_one_line_reason(body: bytes, reason: str):
    answer = parse_check_request(body)
    assert isinstance(answer, str) and reason in answer and "\n" not in answer


def test_a_check_body_may_carry_other_fields_nested_within_the_limit():
    nested = b"[" * (CHECK_MAX_DEPTH - 1) + b"]" * (CHECK_MAX_DEPTH - 1)
    body = b'{"text": "hi", "shop_id": "s1", "extra": ' + nested + b', "s": "[[[[[[[[[["}'
    assert parse_check_request(body) == CheckRequest(text="hi", shop_id="s1")
    assert msgspec.json.decode(body)  # valid JSON


def test_content_limits_are_configured_and_validated():
    settings = settings_from_mapping({"content": {"per_category": 5}},
                                     {"CHATWATCH_CONTENT_BUDGET_CHARS": "30000"})
    assert settings.content.limits == GuardLimits(per_category=5, budget_chars=30_000)
    with pytest.raises(ConfigError, match="content.per_category"):
        settings_from_mapping({"content": {"per_category": 0}}, {})
    with pytest.raises(ConfigError, match="CHATWATCH_CONTENT_BUDGET_CHARS"):
        settings_from_mapping({}, {"CHATWATCH_CONTENT_BUDGET_CHARS": "lots"})
    with pytest.raises(ConfigError, match="content.budget"):
        settings_from_mapping({"content": {"budget": 1}}, {})
    assert Settings().content.limits == GuardLimits()
