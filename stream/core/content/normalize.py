"""Normalisation with an index map back to the original text.

Agents hide contact details behind look-alike characters, so every check runs on a normalised
view of the message: zero-width and combining characters dropped, NFKC (full-width, circled and
mathematical letters), case-folded, traditional -> simplified, Unicode confusables (Cyrillic and
Greek letters, letter-like currency signs such as ₳) read as the ASCII letter they imitate,
every digit-like character (①⑴⒈❶➀㈠, 〇一二…九, 壹贰叁…, 幺 两 洞 拐) turned into an ASCII
digit. Each character of a view remembers the index of the original character it came from, so
spans can point into the original text.

The per-character forms of the whole Basic Multilingual Plane (and the astral blocks that hold
letters and digits) are computed once per process into one ``str.translate`` table, so a view
costs one C-level pass; the index map is built only for texts holding a character whose form
is not exactly one character (a zero-width space, ``℡`` -> ``tel``).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from stream.core import SOURCE_ROOT

# From the package, not __file__: a compiled module (stream.native) lives elsewhere.
_DATA = SOURCE_ROOT / "content" / "data"

# Spoken-style digits the Unicode database does not know as numbers.
_SPOKEN_DIGITS = {"幺": "1", "两": "2", "兩": "2", "洞": "0", "拐": "7", "勾": "9"}
# Currency and other signs that imitate a Latin letter (and 丨, an ideograph used as a stroke
# between digit groups) and that nobody writes in a price here
# (¥ $ € £ ¢ stay themselves: they mark prices and share codes).
_LETTER_SIGNS = {
    "₳": "a", "₿": "b", "₵": "c", "₡": "c", "₫": "d", "₠": "e", "₣": "f", "₲": "g", "₴": "s",
    "₭": "k", "₺": "t", "₼": "m", "₦": "n", "₱": "p", "₽": "p", "₹": "r", "₮": "t", "₩": "w",
    "℘": "p", "℮": "e", "∂": "d", "ø": "o", "Ø": "o", "ß": "b", "○": "o", "◯": "o",
    "⭕": "o", "丨": "|", "亅": "|",
    # Emoji that stand for a channel: the green heart for WeChat, the penguin for QQ, the
    # plane for Telegram.
    "💚": "绿", "🐧": "企鹅", "✈": "飞机", "🛩": "飞机",
}
# Astral blocks with letters or digits worth reading: mathematical alphanumerics, enclosed
# alphanumerics (🄰 🅐 🅰), regional indicators (🇶), segmented digits.
_ASTRAL = ((0x1D400, 0x1D800), (0x1F100, 0x1F200), (0x1FBF0, 0x1FBFA))


def _load_t2s() -> dict[str, str]:
    pairs = json.loads((_DATA / "t2s.json").read_text(encoding="utf-8"))["pairs"]
    return {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}


_T2S = _load_t2s()


def _is_cjk(cp: int) -> bool:
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF


def package_data(package: str, name: str) -> bytes:
    """The bytes of data file ``name`` shipped inside installed ``package``.

    Found through the import system without importing the package: the table libraries keep
    their whole tables alive as module globals (hundreds of thousands of objects the garbage
    collector would walk for the life of the process); read once, ours are a fraction.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed: pip install chatwatch's dependencies")
    return (Path(next(iter(spec.submodule_search_locations))) / name).read_bytes()


@cache
def _confusables() -> dict[str, str]:
    """Non-ASCII, non-CJK characters that imitate one ASCII letter or digit (Unicode TR39).

    Read from the ``confusable-homoglyphs`` package's copy of the Unicode consortium's
    confusables list the first time a detector is built.
    """
    data = json.loads(package_data("confusable_homoglyphs", "confusables.json"))
    out: dict[str, str] = {}
    for ch, entries in data.items():
        if len(ch) != 1 or ch.isascii() or _is_cjk(ord(ch)) or 0x3000 <= ord(ch) <= 0x30FF:
            continue
        for entry in entries:
            form = unicodedata.normalize("NFKC", entry["c"]).casefold()
            if len(form) == 1 and form.isascii() and form.isalnum():
                out[ch] = form
                break
    return out


def char_form(ch: str, confusables: dict[str, str] | None = None) -> str:
    """Return the normalised form of one character ('' when it is dropped)."""
    if ch in _SPOKEN_DIGITS:
        return _SPOKEN_DIGITS[ch]
    if ch in _LETTER_SIGNS:
        return _LETTER_SIGNS[ch]
    cp = ord(ch)
    if 0x1F1E6 <= cp <= 0x1F1FF:  # regional indicator 🇦…🇿
        return chr(cp - 0x1F1E6 + 0x61)
    if 0x1F150 <= cp <= 0x1F169 or 0x1F170 <= cp <= 0x1F189:  # 🅐 🅰 (negative circled/squared)
        return chr((cp - 0x1F150) % 0x20 + 0x61)
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
    if value is not None and value == int(value) and 0 <= value <= 9 and _is_cjk(cp):
        return str(int(value))
    if not form.isascii() and len(form) == 1 and confusables and form in confusables:
        return confusables[form]
    if not form.isascii() and len(form) == 1 and not _is_cjk(cp):
        base = unicodedata.normalize("NFKD", form)
        if base[0].isascii() and base[0].isalpha() and all(
                unicodedata.category(c) == "Mn" for c in base[1:]):
            return base[0]  # ẉ ẋ é ǐ: a Latin letter under accents (and pinyin tone marks)
    if form.isascii() or len(form) != 1:
        return "".join(_T2S.get(c, c) for c in form)
    return _T2S.get(form, form)


def char_class(chars: set[str] | frozenset[str]) -> str:
    """A regex character class of ``chars`` written as ranges of consecutive code points.

    The regex engine tests a class's characters outside the Basic Multilingual Plane one by
    one; written as ranges (the mathematical alphabets are contiguous) they cost a compare.
    """
    cps = sorted(ord(c) for c in chars)
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = re.escape(chr(cps[i])), re.escape(chr(cps[j]))
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "[" + "".join(parts) + "]"


@dataclass(frozen=True, slots=True)
class Tables:
    """The translate table of every character whose form differs, and the irregular ones."""

    translate: dict[int, str]
    irregular: re.Pattern[str]  # characters whose form is not exactly one character
    looks_alike: frozenset[str]  # characters read as a different Latin letter (confusables)


@cache
def tables() -> Tables:
    """Build (once per process) the normalisation tables."""
    confusables = _confusables()
    table: dict[int, str] = {}
    irregular: list[str] = []
    looks: set[str] = set()
    ranges = [(0, 0xD800), (0xE000, 0x10000), *_ASTRAL]
    astral_signs = [ord(c) for c in _LETTER_SIGNS if ord(c) >= 0x10000]  # 💚 🐧 🛩
    for cp in itertools.chain(*(range(lo, hi) for lo, hi in ranges), astral_signs):
        ch = chr(cp)
        form = char_form(ch, confusables)
        if form == ch:
            continue
        table[cp] = form
        if len(form) != 1:
            irregular.append(ch)
        elif form.isascii() and form.isalpha() and not ch.isascii() and (
                unicodedata.normalize("NFKC", ch).casefold() != form
                or 0x1D400 <= cp < 0x1D800 or 0x1F100 <= cp < 0x1F200
                or 0x2100 <= cp < 0x2150):
            looks.add(ch)  # not just full-width: a Cyrillic а, a ₳, a 𝐔
    return Tables(table, re.compile(char_class(set(irregular))), frozenset(looks))


@dataclass(frozen=True, slots=True)
class View:
    """A normalised text and, per character, the index of its source in the original.

    ``index`` is ``None`` when the view is character-for-character the original (the usual
    case): then a view position is an original position.
    """

    text: str
    index: list[int] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Return the original ``[start, end)`` covered by view characters ``[start, end)``."""
        if self.index is None:
            return start, end
        return self.index[start], self.index[end - 1] + 1


class Normalizer:
    """Builds :class:`View` objects from the process-wide tables."""

    def __init__(self) -> None:
        t = tables()
        self._table = t.translate
        self.table = t.translate
        self._irregular = t.irregular
        self.looks_alike = t.looks_alike

    def form(self, ch: str) -> str:
        """Return the normalised form of ``ch``."""
        return ch.translate(self._table)

    def normalize(self, text: str) -> View:
        """Return the full normalised view of ``text`` (one pass; an index map only if needed)."""
        table = self._table
        if self._irregular.search(text) is None:
            return View(text.translate(table), None)
        out: list[str] = []
        index: list[int] = []
        for i, ch in enumerate(text):
            got = table.get(ord(ch), ch)
            if len(got) == 1:
                out.append(got)
                index.append(i)
            elif got:
                out.extend(got)
                index.extend([i] * len(got))
        return View("".join(out), index)

    def text(self, text: str) -> str:
        """Return just the normalised string (for configured words and allow-lists)."""
        return self.normalize(text).text


_SEPARATORS = re.compile(r"[\W_]+")


class Compact:
    """``view.text`` with separators removed: only letters, digits and CJK ideographs remain.

    Keywords are searched here so that "微 信", "v-x" and "支❤付❤宝" still match. A compact
    position maps back to ``view.text`` through the separator runs removed before it
    (``bounds``: compact positions where a run was cut; ``shifts``: characters removed up to
    there), found by bisection. The runs are listed on the first lookup: most texts never
    need one.
    """

    __slots__ = ("text", "_view", "_bounds", "_shifts")

    def __init__(self, text: str, view: str) -> None:
        """Wrap the compact ``text`` of ``view``."""
        self.text = text
        self._view = view
        self._bounds: list[int] | None = None if len(text) != len(view) else []
        self._shifts: list[int] = [0]

    def at(self, pos: int) -> int:
        """Position in ``view.text`` of compact character ``pos``."""
        bounds = self._bounds
        if bounds is None:
            bounds = self._bounds = []
            removed = 0
            for m in _SEPARATORS.finditer(self._view):
                s, e = m.span()
                bounds.append(s - removed)
                removed += e - s
                self._shifts.append(removed)
        if not bounds:
            return pos
        return pos + self._shifts[bisect_right(bounds, pos)]


def compact(view: View) -> Compact:
    """The compact form of ``view`` (see :class:`Compact`)."""
    return Compact(_SEPARATORS.sub("", view.text), view.text)
