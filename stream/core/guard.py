"""The content guard of the core: one decision per agent or bot message (DOMAIN.md §4).

The engine calls :meth:`ContentGuard.check` with the policy it resolved for the conversation
(platform and shop), so every driver — the live worker, ``replay``, ``backfill``, ``chatwatch
check`` and ``POST /check`` — gets the same findings for the same message. What it returns is
bounded whatever the text: at most ``limits.per_category`` findings of each category are
kept (the total is counted), only the first ``limits.budget_chars`` characters are scanned
(the rest is flagged ``oversized``), and the masked text carried along is cut to
``limits.text_chars``. A 280 KB message of 20,000 WeChat ids is therefore one small record,
checked in bounded time, not 40,000 findings in a 3.8 MB record.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from stream.core.content import Detector, Violation
from stream.core.policy import Policy

OVERSIZED = "oversized"


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """Bounds on the work and the output of one check (``content`` settings)."""

    # Findings kept per category; the rest are only counted (``total``).
    per_category: int = 20
    # Characters of a message that are scanned. The detector is linear in the text: about
    # 1-2 ms per 1,000 characters of ordinary chat on this project's benchmark machine, up to
    # ~20 us per character for adversarial shapes (digits split by emoji), so the default
    # bounds one message to well under half a second, far below the session timeout.
    budget_chars: int = 20_000
    # Characters of the masked text a finding carries (records, alerts, the board).
    text_chars: int = 2_000
    # Characters of one finding's masked match.
    match_chars: int = 200


class ContentFlagged(msgspec.Struct, frozen=True, gc=False):
    """An agent or bot message with findings (one record on ``chat.violations``).

    ``ts_ms`` is the effective event time (rule 7), ``day`` its business day in the shop's
    time zone. ``text`` is the message masked (and cut, marked ``cut_chars``) and
    ``findings`` the kept findings, sorted by position; ``total`` counts every finding of the
    scanned text, ``capped`` says that some were not kept, ``oversized`` that the text was
    longer than the scanning budget.
    """

    conversation_id: str
    event_id: str
    shop_id: str
    platform: str
    agent: str
    sender: str
    ts_ms: int
    day: int
    text: str
    findings: tuple[Violation, ...]
    total: int
    capped: bool = False
    oversized: bool = False
    cut_chars: int = 0

    @property
    def severities(self) -> frozenset[str]:
        """The severities present (a message counts once per severity)."""
        return frozenset(v.severity for v in self.findings)

    @property
    def kinds(self) -> frozenset[tuple[str, str]]:
        """The (category, severity) pairs present (a message counts once per pair)."""
        return frozenset((v.category, v.severity) for v in self.findings)

    @property
    def critical(self) -> Violation | None:
        """The first critical finding, if any (the one an alert names)."""
        return next((v for v in self.findings if v.severity == "critical"), None)


@dataclass(frozen=True, slots=True)
class Checked:
    """The findings of one text (see :class:`ContentFlagged` for the fields)."""

    findings: tuple[Violation, ...]
    total: int
    capped: bool
    oversized: bool
    masked: str
    cut_chars: int


class ContentGuard:
    """The detector with the project's bounds; immutable, shared by every driver."""

    def __init__(self, detector: Detector, limits: GuardLimits | None = None) -> None:
        self.detector = detector
        self.limits = limits or GuardLimits()

    def check(self, text: str, policy: Policy, platform: str, *,
              first_reply: bool = False) -> Checked | None:
        """The bounded findings of an agent or bot message, or None when it is clean."""
        limits = self.limits
        oversized = len(text) > limits.budget_chars
        scanned = text[:limits.budget_chars] if oversized else text
        found = self.detector.scan(scanned, mode=policy.content_mode, first_reply=first_reply,
                                   platform=platform)
        if oversized:
            found.append(Violation("quality", "warning", limits.budget_chars, len(text),
                                   f"{len(text) - limits.budget_chars} characters not checked",
                                   OVERSIZED))
        if not found:
            return None
        kept: list[Violation] = []
        per: dict[str, int] = {}
        for v in found:
            n = per.get(v.category, 0)
            per[v.category] = n + 1
            if n < limits.per_category:
                if len(v.match) > limits.match_chars:
                    v = Violation(v.category, v.severity, v.start, v.end,
                                  v.match[:limits.match_chars] + "…", v.how)
                kept.append(v)
        masked, cut = self.masked(scanned, text)
        return Checked(tuple(kept), len(found), len(kept) < len(found), oversized, masked, cut)

    def masked(self, scanned: str, text: str | None = None) -> tuple[str, int]:
        """The masked head of a text as records carry it, and how many characters were cut."""
        whole = len(text if text is not None else scanned)
        head = scanned[:self.limits.text_chars]
        return self.detector.mask(head), whole - len(head)

    def mask(self, text: str) -> str:
        """Any text (a buyer message too) with its contact details masked, within the budget."""
        limits = self.limits
        if len(text) <= limits.budget_chars:
            return self.detector.mask(text)
        return self.detector.mask(text[:limits.budget_chars]) + "…"
