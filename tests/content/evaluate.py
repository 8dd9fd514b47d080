"""Recall per evasion class and false-positive rate per negative class on the corpus.

    python -m tests.content.evaluate      (``make eval``)

A positive is caught when the scan reports a ``critical`` finding of its category in both
modes (PDD's ``mention`` and the other platforms' ``handover``): a disguised hand-over is
critical everywhere. A negative is a false positive when the scan in its mode reports
anything at all.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from stream.core.content import Detector

HERE = Path(__file__).resolve().parent


def load(name: str) -> list[dict[str, str]]:
    """The rows of one corpus file."""
    with open(HERE / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@dataclass
class Report:
    """Per-class counts and the first misses / false alarms of each class."""

    positives: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    negatives: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    misses: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    alarms: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def recall(self) -> dict[str, float]:
        """Caught / total per positive class."""
        return {c: hit / n for c, (hit, n) in self.positives.items()}

    def false_positive_rate(self) -> dict[str, float]:
        """Flagged / total per negative class."""
        return {c: bad / n for c, (bad, n) in self.negatives.items()}


def caught(detector: Detector, text: str, category: str) -> bool:
    """Whether ``text`` gets a critical ``category`` finding in both modes."""
    return all(
        any(v.category == category and v.severity == "critical"
            for v in detector.scan(text, mode=mode))
        for mode in ("mention", "handover"))


def evaluate(detector: Detector) -> Report:
    """Scan the whole corpus."""
    report = Report()
    for row in load("positives.jsonl"):
        counts = report.positives[row["cls"]]
        counts[1] += 1
        if caught(detector, row["text"], row["category"]):
            counts[0] += 1
        else:
            report.misses[row["cls"]].append(row["text"])
    for row in load("negatives.jsonl"):
        counts = report.negatives[row["cls"]]
        counts[1] += 1
        found = detector.scan(row["text"], mode=row["mode"], platform=row["platform"])
        if found:
            counts[0] += 1
            report.alarms[row["cls"]].append(
                f"{row['text']}  -> {[(v.category, v.how) for v in found]}")
    return report


def main() -> None:
    """Print recall per class and false-positive rate per negative class."""
    report = evaluate(Detector())
    print("recall per evasion class (critical, both modes):")
    for cls, rate in report.recall().items():
        hit, n = report.positives[cls]
        print(f"  {cls:22s} {rate:7.2%}  ({hit}/{n})")
        for text in report.misses[cls][:3]:
            print(f"      missed: {text}")
    print("false-positive rate per negative class:")
    for cls, rate in report.false_positive_rate().items():
        bad, n = report.negatives[cls]
        print(f"  {cls:22s} {rate:7.2%}  ({bad}/{n})")
        for text in report.alarms[cls][:3]:
            print(f"      flagged: {text}")


if __name__ == "__main__":
    main()
