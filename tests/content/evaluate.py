"""Recall per evasion class and false-positive rate per negative class on the corpus.

    python -m tests.content.evaluate      (``make eval``)

A positive is caught when the scan reports a ``critical`` finding of its category (one of
them, where a row names several: ``phone|wechat``) in both modes (PDD's ``mention`` and the
other platforms' ``handover``): a disguised hand-over is critical everywhere. A row written
with no contact cue at all (``"cue": false``: an advertisement ending in a number) is caught
off PDD by a ``warning`` of its category too (DOMAIN.md §4: an unexplained id without a cue is
for review there). A negative is a false positive when the scan in its mode reports anything
at all. The report also counts the positives caught only by the ``unexplained-id`` stage.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream.core.content import Detector, Violation
from tests.content.generate import PER_POSITIVE_CLASS, held_out_positives

HERE = Path(__file__).resolve().parent


def load(name: str) -> list[dict[str, Any]]:
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
    # Per positive class: caught only through a finding of the unexplained-id stage.
    unexplained_only: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def recall(self) -> dict[str, float]:
        """Caught / total per positive class."""
        return {c: hit / n for c, (hit, n) in self.positives.items()}

    def false_positive_rate(self) -> dict[str, float]:
        """Flagged / total per negative class."""
        return {c: bad / n for c, (bad, n) in self.negatives.items()}


def findings(detector: Detector, text: str, category: str, cue: bool = True) -> list[Violation] | None:
    """The findings that catch ``text`` in both modes, or None when it is missed.

    ``category`` may name several categories joined by ``|``; ``cue=False`` lets a warning
    catch it in ``handover`` mode.
    """
    wanted = set(category.split("|"))
    got: list[Violation] = []
    for mode, platform in (("mention", "pdd"), ("handover", "jd")):
        ok = {"critical"} if cue or mode == "mention" else {"critical", "warning"}
        hits = [v for v in detector.scan(text, mode=mode, platform=platform)
                if v.category in wanted and v.severity in ok]
        if not hits:
            return None
        got.extend(hits)
    return got


def caught(detector: Detector, text: str, category: str, cue: bool = True) -> bool:
    """Whether ``text`` gets a critical ``category`` finding in both modes (see ``findings``)."""
    return findings(detector, text, category, cue) is not None


def score_positives(detector: Detector, rows: list[dict[str, object]], report: Report) -> None:
    """Add ``rows`` (positives) to ``report``."""
    for row in rows:
        cls = str(row["cls"])
        counts = report.positives[cls]
        counts[1] += 1
        got = findings(detector, str(row["text"]), str(row["category"]), bool(row.get("cue", True)))
        if got is None:
            report.misses[cls].append(str(row["text"]))
            continue
        counts[0] += 1
        if all("unexplained-id" in v.how for v in got):
            report.unexplained_only[cls] += 1


def evaluate(detector: Detector) -> Report:
    """Scan the whole corpus."""
    report = Report()
    score_positives(detector, load("positives.jsonl"), report)
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
    detector = Detector()
    report = evaluate(detector)
    print("recall per evasion class (critical, both modes; "
          "'only unexplained-id': caught by that stage alone):")
    for cls, rate in report.recall().items():
        hit, n = report.positives[cls]
        only = report.unexplained_only.get(cls, 0)
        print(f"  {cls:22s} {rate:7.2%}  ({hit}/{n})  only unexplained-id: {only}")
        for text in report.misses[cls][:3]:
            print(f"      missed: {text}")
    held = Report()
    score_positives(detector, held_out_positives(PER_POSITIVE_CLASS), held)
    print("held-out phrasings of the issue-27 classes (parts the corpus never used):")
    for cls, rate in held.recall().items():
        hit, n = held.positives[cls]
        print(f"  {cls:22s} {rate:7.2%}  ({hit}/{n})")
        for text in held.misses[cls][:3]:
            print(f"      missed: {text}")
    print("false-positive rate per negative class:")
    for cls, rate in report.false_positive_rate().items():
        bad, n = report.negatives[cls]
        print(f"  {cls:22s} {rate:7.2%}  ({bad}/{n})")
        for text in report.alarms[cls][:3]:
            print(f"      flagged: {text}")


if __name__ == "__main__":
    main()
