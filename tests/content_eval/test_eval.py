"""Recall and false-positive rate of the detector on the committed evaluation set.

Regenerate the data with ``python -m tests.content_eval.generate`` (seeded).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream.core.content import Detector

HERE = Path(__file__).resolve().parent


def _load(name: str) -> list[dict[str, str | None]]:
    with open(HERE / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def test_set_is_large_and_covers_every_category() -> None:
    positives = _load("positives.jsonl")
    negatives = _load("negatives.jsonl")
    assert len(positives) >= 1000 and len(negatives) >= 1000
    assert {p["category"] for p in positives} == {"phone", "wechat", "qq", "alipay", "email", "link"}


def test_recall_on_obfuscated_handovers_in_pdd_mode(detector: Detector) -> None:
    positives = _load("positives.jsonl")
    missed = [p["text"] for p in positives
              if p["category"] not in {v.category for v in detector.scan(p["text"], mode="mention")
                                       if v.severity == "critical"}]
    recall = 1 - len(missed) / len(positives)
    assert recall >= 0.98, f"recall {recall:.4f}; first misses: {missed[:10]}"


def test_false_positive_rate_on_ordinary_messages(detector: Detector) -> None:
    negatives = _load("negatives.jsonl")
    flagged = [(n["text"], v) for n in negatives
               for v in [detector.scan(n["text"], mode=n.get("mode") or "mention",
                                       platform=n.get("platform") or "pdd")] if v]
    rate = len(flagged) / len(negatives)
    assert rate <= 0.005, f"false-positive rate {rate:.4f}; first: {flagged[:5]}"


def test_handovers_are_critical_in_handover_mode_too(detector: Detector) -> None:
    positives = _load("positives.jsonl")
    missed = [p["text"] for p in positives
              if not any(v.severity == "critical"
                         for v in detector.scan(p["text"], mode="handover"))]
    assert len(missed) / len(positives) <= 0.02, missed[:10]


def test_letters_only_wechat_ids_are_critical_in_handover_mode(detector: Detector) -> None:
    rows = [p for p in _load("positives.jsonl") if p.get("letters_only")]
    assert len(rows) >= 100
    missed = [p["text"] for p in rows
              if not any(v.category == "wechat" and v.severity == "critical" and
                         str(p["text"])[v.start:v.end].isalpha()
                         for v in detector.scan(str(p["text"]), mode="handover"))]
    assert missed == []


def test_bare_mentions_next_to_english_words_stay_clean_on_other_platforms(
        detector: Detector) -> None:
    rows = [n for n in _load("negatives.jsonl") if n.get("mode") == "handover"]
    assert len(rows) >= 100
    flagged = [(n["text"], v) for n in rows
               for v in [detector.scan(str(n["text"]), mode="handover", platform=n["platform"])]
               if v]
    assert flagged == []


@pytest.mark.parametrize("text", ["微信支付就可以", "支付宝付款也行的亲", "可以用QQ钱包吗？支持的",
                                  "亲，微信、支付宝都能付", "亲，您可以用扣扣登录"])
def test_bare_mentions_pass_in_handover_mode_and_fail_on_pdd(detector: Detector, text: str) -> None:
    assert detector.scan(text, mode="handover") == []
    assert any(v.severity == "critical" for v in detector.scan(text, mode="mention"))
