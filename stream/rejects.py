"""The lines an import could not use: one summary by reason, and when to call the run failed.

A wrong column mapping makes every line bad the same way; a summary that prints one error per
line buries the one thing to fix under thousands of copies. :class:`Rejects` takes every bad
line's message (``file:line: reason``), counts them by reason (numbers and quoted values
aside, so "row has 3 cells" and "row has 4 cells" are one reason) and keeps the first few
places of each; the whole list goes to a file when asked (``--rejects FILE``).

:func:`failure` says when a run must not pass for a success: no line could be used, or more
than ``max_share`` of the lines were rejected (``--max-bad-share``, default
:data:`DEFAULT_MAX_BAD_SHARE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import IO

# 5 %: a healthy export loses a few lines (truncated at the end, a test message, an unknown
# status); a wrong mapping or time format loses most of them.
DEFAULT_MAX_BAD_SHARE = 0.05

_MESSAGE = re.compile(r"(?s)(.*?):(\d+): (.*)")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


def reason_key(reason: str) -> str:
    """What a reason has in common with its like: numbers and quoted values taken out."""
    return _NUMBERS.sub("N", _QUOTED.sub("'…'", reason))[:160]


@dataclass
class Reason:
    """One kind of rejection: how many lines, the first one's wording, the first places."""

    count: int
    text: str
    places: list[str] = field(default_factory=list)


class Rejects:
    """A sink for bad-line messages (``write``, as a text stream): counted by reason.

    ``out``, when given, receives every message (the ``--rejects`` file); ``examples`` places
    are kept per reason, and at most ``reasons`` reasons are shown.
    """

    def __init__(self, out: IO[str] | None = None, examples: int = 3, reasons: int = 10,
                 path: str | None = None,
                 elsewhere: str = "every one with --rejects FILE") -> None:
        self.out = out
        self.path = path  # where ``out`` writes, to say so
        self.elsewhere = elsewhere  # where the full list is found without ``out``
        self.examples = examples
        self.shown = reasons
        self.reasons: dict[str, Reason] = {}
        self.total = 0

    def write(self, text: str) -> int:
        """Take one or more messages (``file:line: reason``, a newline after each)."""
        for line in text.splitlines():
            if line:
                self.add(line)
        return len(text)

    def add(self, message: str) -> None:
        """Count one message."""
        if self.out is not None:
            self.out.write(message + "\n")
        self.total += 1
        match = _MESSAGE.fullmatch(message)
        place, reason = ((f"{match[1]}:{match[2]}", match[3]) if match else ("", message))
        key = reason_key(reason)
        entry = self.reasons.get(key)
        if entry is None:
            entry = self.reasons[key] = Reason(0, reason)
        entry.count += 1
        if place and len(entry.places) < self.examples:
            entry.places.append(place)

    def render(self, command: str, rejects_path: str | None = None) -> list[str]:
        """The summary lines: each reason, most frequent first, its first line in full."""
        if not self.reasons:
            return []
        rejects_path = rejects_path or self.path
        where = f"every one in {rejects_path}" if rejects_path else self.elsewhere
        lines = [f"{command}: invalid lines by reason, most frequent first ({where}):"]
        ranked = sorted(self.reasons.values(), key=lambda r: -r.count)
        width = len(f"{ranked[0].count:,}")
        for entry in ranked[:self.shown]:
            text = entry.text if len(entry.text) <= 200 else entry.text[:199] + "…"
            first = f"{entry.places[0]}: {text}" if entry.places else text
            lines.append(f"  {entry.count:>{width},} x {first}")
            if len(entry.places) > 1:
                lines.append(f"  {'':>{width}}   also at {', '.join(entry.places[1:])}"
                             f"{', …' if entry.count > len(entry.places) else ''}")
        if len(ranked) > self.shown:
            rest = sum(r.count for r in ranked[self.shown:])
            lines.append(f"  … and {len(ranked) - self.shown} more reasons ({rest:,} lines)")
        return lines


def failure(read: int, valid: int, invalid: int, max_share: float) -> str | None:
    """Why the run failed (no usable line, too many rejected), or None when it did not."""
    if read == 0:
        return None  # an empty log (a day without chats) has nothing wrong in it
    if valid == 0:
        return (f"none of the {read:,} lines could be used (see the reasons above): fix the "
                f"--column / --map / --timezone options or the export")
    share = invalid / read if read else 0.0
    if share > max_share:
        return (f"{invalid:,} of {read:,} lines ({share:.1%}) were invalid, more than "
                f"--max-bad-share {max_share:.1%}: the figures would miss them (see the reasons "
                f"above); fix the input, or raise --max-bad-share if that many bad lines are "
                f"expected")
    return None
