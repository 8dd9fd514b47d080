"""Normalisation with an index map back to the original text.

Agents hide contact details behind look-alike characters, so every check runs on a normalised
view of the message: zero-width and combining characters dropped, NFKC (full-width, circled and
mathematical letters), case-folded, traditional -> simplified, every digit-like character
(①⑴⒈❶➀㈠, 〇一二…九, 壹贰叁…, 幺 两 洞 拐) turned into an ASCII digit. Each character of a
view remembers the index of the original character it came from, so spans can point into the
original text.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"

# Spoken-style digits the Unicode database does not know as numbers.
_SPOKEN_DIGITS = {"幺": "1", "两": "2", "兩": "2", "洞": "0", "拐": "7", "勾": "9"}


def _load_t2s() -> dict[str, str]:
    pairs = json.loads((_DATA / "t2s.json").read_text(encoding="utf-8"))["pairs"]
    return {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}


_T2S = _load_t2s()


def _is_cjk(cp: int) -> bool:
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF


def char_form(ch: str) -> str:
    """Return the normalised form of one character ('' when it is dropped)."""
    if ch in _SPOKEN_DIGITS:
        return _SPOKEN_DIGITS[ch]
    if unicodedata.category(ch) in ("Cf", "Mn", "Me", "Cc") and ch not in "\t\n\r":
        return ""  # zero-width, variation selectors, combining strokes
    digit = unicodedata.digit(ch, None)
    if digit is not None:
        return str(digit)
    form = unicodedata.normalize("NFKC", ch).casefold()
    value = unicodedata.numeric(ch, None)
    # 〇 一 壹 ㈠ 🄋 are numbers; Roman numerals too, but "Ⅴ信" means V信, so letters win.
    if value is not None and value == int(value) and 0 <= value <= 9 and not form.isalpha():
        return str(int(value))
    if value is not None and value == int(value) and 0 <= value <= 9 and _is_cjk(ord(ch)):
        return str(int(value))
    if form.isascii() or len(form) != 1:
        return "".join(_T2S.get(c, c) for c in form)
    return _T2S.get(form, form)


@dataclass(frozen=True, slots=True)
class View:
    """A normalised text and, per character, the index of its source in the original."""

    text: str
    index: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Return the original ``[start, end)`` covered by view characters ``[start, end)``."""
        return self.index[start], self.index[end - 1] + 1


class Normalizer:
    """Builds :class:`View` objects; caches the form of every character it has seen."""

    def __init__(self) -> None:
        self._forms: dict[str, str] = {}

    def form(self, ch: str) -> str:
        """Return the cached :func:`char_form` of ``ch``."""
        got = self._forms.get(ch)
        if got is None:
            got = self._forms[ch] = char_form(ch)
        return got

    def normalize(self, text: str) -> View:
        """Return the full normalised view of ``text``."""
        forms = self._forms
        out: list[str] = []
        index: list[int] = []
        for i, ch in enumerate(text):
            got = forms.get(ch)
            if got is None:
                got = forms[ch] = char_form(ch)
            if len(got) == 1:
                out.append(got)
                index.append(i)
            elif got:
                out.extend(got)
                index.extend([i] * len(got))
        return View("".join(out), tuple(index))

    def text(self, text: str) -> str:
        """Return just the normalised string (for configured words and allow-lists)."""
        return self.normalize(text).text


def compact(view: View) -> View:
    """``view`` with separators removed: only letters, digits and CJK ideographs remain.

    Keywords are searched here so that "微 信", "v-x" and "支❤付❤宝" still match. Unlike
    other views, the index of a compact view points into ``view.text`` (not the original).
    """
    keep = [i for i, ch in enumerate(view.text) if ch.isalnum()]
    if len(keep) == len(view.text):
        return View(view.text, tuple(range(len(view.text))))
    return View("".join(view.text[i] for i in keep), tuple(keep))
