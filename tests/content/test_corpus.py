"""Floors on the evasion corpus: recall per evasion class, false positives per negative class.

``make eval`` prints the same figures (``python -m tests.content.evaluate``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from stream.core.content import Detector
from tests.content import generate
from tests.content.evaluate import HERE, Report, evaluate, load


@pytest.fixture(scope="module")
def report() -> Report:
    return evaluate(Detector())


def test_corpus_is_large_and_every_class_is_populated() -> None:
    positives, negatives = load("positives.jsonl"), load("negatives.jsonl")
    assert len(positives) >= 1500 and len(negatives) >= 1500
    pos_classes = Counter(row["cls"] for row in positives)
    neg_classes = Counter(row["cls"] for row in negatives)
    assert set(pos_classes) == set(generate.POSITIVES)
    assert set(neg_classes) == set(generate.NEGATIVES)
    assert min(pos_classes.values()) >= 50, pos_classes
    assert min(neg_classes.values()) >= 100, neg_classes
    assert {row["category"] for row in positives} >= {"phone", "wechat", "qq", "alipay",
                                                       "handle", "link"}


def test_committed_corpus_is_what_the_seeded_generator_writes(tmp_path: Path) -> None:
    generate.main(tmp_path)
    for name in ("positives.jsonl", "negatives.jsonl"):
        assert (tmp_path / name).read_text(encoding="utf-8") == \
            (HERE / name).read_text(encoding="utf-8"), f"{name}: run python -m tests.content.generate"


@pytest.mark.parametrize("cls", list(generate.POSITIVES))
def test_recall_per_evasion_class(report: Report, cls: str) -> None:
    hit, n = report.positives[cls]
    assert n >= 50
    assert hit / n >= 0.99, f"{cls}: recall {hit}/{n}; missed: {report.misses[cls][:10]}"


@pytest.mark.parametrize("cls", list(generate.NEGATIVES))
def test_false_positives_per_negative_class(report: Report, cls: str) -> None:
    bad, n = report.negatives[cls]
    assert n >= 100
    assert bad / n <= 0.002, f"{cls}: {bad}/{n} flagged: {report.alarms[cls][:10]}"


def test_the_earlier_evaluation_set_stays_perfect() -> None:
    """tests/content_eval (obfuscations of the first issue) must not get worse: all caught,
    nothing flagged."""
    from tests.content_eval.test_eval import _load

    detector = Detector()
    missed = [p["text"] for p in _load("positives.jsonl")
              if p["category"] not in {v.category for v in detector.scan(str(p["text"]))
                                       if v.severity == "critical"}]
    flagged = [n["text"] for n in _load("negatives.jsonl")
               if detector.scan(str(n["text"]), mode=n.get("mode") or "mention",
                                platform=n.get("platform") or "pdd")]
    assert missed == [] and flagged == [], (missed[:10], flagged[:10])
