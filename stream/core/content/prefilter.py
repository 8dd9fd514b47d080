"""A cheap first look that lets most ordinary messages skip the expensive paths.

A message is skipped when every character is a "safe" CJK ideograph or common punctuation and
it holds fewer than five digit-like characters (一二三…): no digit run, letter, symbol or
keyword can then be present. The trigger set is derived from the keywords themselves, so a
keyword added to a table cannot be missed by the filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stream.core.content.normalize import Normalizer, char_form

_SAFE = ("\u4e00-\u9fff\u3001\u3002\u300a-\u3011\uff01\uff0c\uff1f\uff1a\uff1b\uff08\uff09"
         " \n,.!?;:\"'()~\\-\u2026\u201c\u201d\u2018\u2019\u2014\u00b7")
_MIN_DIGITS = 5


def _cjk_range() -> Iterable[str]:
    return (chr(cp) for cp in range(0x4E00, 0xA000))


class Prefilter:
    """Says whether a raw message may contain anything the detector looks for."""

    def __init__(self, keywords: Iterable[str], norm: Normalizer) -> None:
        """``keywords`` are normalised patterns; any original spelling of their first character
        (traditional form, homophone) triggers the full scan."""
        firsts = {k[0] for k in keywords if k}
        triggers: set[str] = set()
        numerals: set[str] = set()
        for ch in _cjk_range():
            form = char_form(ch)
            if form in firsts or ch in firsts:
                triggers.add(ch)
            elif form.isdigit():
                numerals.add(ch)
        del norm  # forms come from char_form directly; the argument documents the contract
        cls = "".join(sorted(triggers))
        self._trigger = re.compile(f"[^{_SAFE}]" + (f"|[{re.escape(cls)}]" if cls else ""))
        self._numeral = re.compile(f"[{re.escape(''.join(sorted(numerals)))}\u3007]")

    def may_match(self, text: str) -> bool:
        """False only when ``text`` certainly holds no violation and nothing to mask."""
        if self._trigger.search(text) is not None:
            return True
        return len(self._numeral.findall(text)) >= _MIN_DIGITS
