"""A cheap first look that lets most ordinary messages skip the expensive paths.

A message is skipped when every character is a "safe" CJK ideograph or common punctuation and
it holds fewer than five digit-like characters (一二三…): no digit run, letter, symbol or
keyword can then be present. A keyword can only be present if each of its characters is, so
each keyword contributes one character to the trigger set, its least common one (any spelling
of it: traditional form, homophone); that is how "不买就滚" does not send every message with
不 down the slow path. A keyword made only of common characters (去死) is looked for whole. The set is derived from the keywords themselves, so a keyword added to a
table cannot be missed by the filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stream.core.content.normalize import tables

_SAFE = ("\u4e00-\u9fff\u3001\u3002\u300a-\u3011\uff01\uff0c\uff1f\uff1a\uff1b\uff08\uff09"
         " \n,.!?;:\"'()~\\-\u2026\u201c\u201d\u2018\u2019\u2014\u00b7")
_MIN_DIGITS = 5
CLEAN, WORDS, FULL = 0, 1, 2
# The most frequent characters of ordinary Chinese text: never chosen as a keyword's trigger
# while the keyword has a rarer one.
COMMON = frozenset(
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年"
    "过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心"
    "她本前开但因只从想实日者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由"
    "问很最重并物手应向头文体美相见被利什二等产或新己制身果加西月话合回特代内信表化老给世位次度"
    "门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活更别打女变四总何电数"
    "安少报才结反受目太量再感建务做接必场件计管期市直资命山金指许区保至形便空决治展科司五基眼书"
    "非则听白却界达光放强即像难且权思象完设式色路记南品住告类求据程北边死张该交规万取拉格望觉术"
    "领共确传师观清今切院让识候带导争运笔房买卖亲您吧呢哦吗啊货款")


def _cjk_range() -> Iterable[str]:
    return (chr(cp) for cp in range(0x4E00, 0xA000))


class Prefilter:
    """Says whether a raw message may contain anything the detector looks for."""

    def __init__(self, keywords: Iterable[str], extra: Iterable[str] = ()) -> None:
        """Build the trigger set for ``keywords`` (normalised patterns).

        Any original spelling of the chosen character of each (traditional form, homophone)
        triggers the full scan, and so does any character of ``extra`` (the characters that
        make a sound match a disguise, :mod:`.sounds`).
        """
        extra_set = set(extra)
        keywords = [k for k in keywords if k]
        # A keyword made only of common characters (去死, 活该) would send every text with 去
        # or 活 down the slow path: it is looked for whole instead, in any spelling.
        whole = [k for k in keywords if all(c in COMMON for c in k)]
        firsts = {next(c for c in k if c not in COMMON) for k in keywords if k not in whole}
        triggers: set[str] = set()
        numerals: set[str] = set()
        spellings: dict[str, set[str]] = {c: {c} for k in whole for c in k}
        table = tables().translate
        for ch in _cjk_range():
            form = table.get(ord(ch), ch)
            if form in firsts or ch in firsts or form in extra_set:
                triggers.add(ch)
            elif form.isdigit():
                numerals.add(ch)
            if form in spellings:
                spellings[form].add(ch)
        gap = r"[\W_]*+"
        self._whole = re.compile("|".join(
            gap.join("[" + re.escape("".join(sorted(spellings[c]))) + "]" for c in k)
            for k in sorted(whole))) if whole else None
        cls = "".join(sorted(triggers))
        unsafe = f"([^{_SAFE}])"
        self._unsafe = re.compile(unsafe)
        # One pass finds the first unsafe or trigger character (most texts have neither).
        self._first = re.compile(unsafe + (f"|[{re.escape(cls)}]" if cls else ""))
        num = f"[{re.escape(''.join(sorted(numerals)))}\u3007]"
        not_num = f"[^{re.escape(''.join(sorted(numerals)))}\u3007]"
        # Five numerals anywhere; the possessive gaps keep the search linear.
        self._numerals = re.compile(f"{num}(?:{not_num}*+{num}){{{_MIN_DIGITS - 1}}}")

    def level(self, text: str) -> int:
        """How much of the detector ``text`` needs: :data:`CLEAN`, :data:`WORDS` or :data:`FULL`.

        ``CLEAN``: certainly no violation and nothing to mask. ``WORDS``: only ideographs and
        common punctuation with fewer than five numerals, so no number, id, address or link can
        be present; only keywords can. ``FULL``: everything.
        """
        m = self._first.search(text)
        if m is not None and m.group(1) is not None:
            return FULL
        if self._numerals.search(text) is not None:
            return FULL
        if m is None:
            whole = self._whole
            return WORDS if whole is not None and whole.search(text) is not None else CLEAN
        return FULL if self._unsafe.search(text, m.end()) is not None else WORDS

    def may_match(self, text: str) -> bool:
        """Return False only when ``text`` certainly holds no violation and nothing to mask."""
        return self.level(text) != CLEAN
