"""Digit runs in a normalised text, and which of them are contact numbers.

Obfuscated numbers are split by separators ("138 1234 5678", "138🌸1234🌸5678", "61-384-27-90",
"─7三9 2046"), so digit groups separated by up to four separator characters form a *cluster*.
Inside a cluster only whole groups are joined (never a slice of an order number), and the
longest valid contact wins; what is left is searched again, so two numbers in one cluster are
both found. A cluster has at most ``_MAX_GROUPS`` groups and a candidate at most 20 digits, so
the work per digit is bounded and the whole text costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

_GROUP = re.compile(r"[0-9]+")
_MAX_GROUPS = 40
_MOBILE = re.compile(r"(?:0{0,2}86)?1[3-9][0-9]{9}")
_TOLL = re.compile(r"[48]00[0-9]{7}")
_LANDLINE = re.compile(r"0[1-9][0-9]{8,10}")
_PLAIN_LOCAL = re.compile(r"[2-8][0-9]{6,7}")
# A run of digits with o / 口 standing in for 0 ("138o123口5678"): the letters become zeros.
# The run starts with a digit, so a 口口 cue before a number ("口口12345") stays a cue.
_ZERO_LOOKALIKE = re.compile(r"(?<![a-z0-9])(?=[0-9][0-9o口]*[o口])(?=(?:[o口]*[0-9]){4})"
                             r"[0-9][0-9o口]{4,}(?![a-z0-9])")
_ZEROS = str.maketrans("o口", "00")


@dataclass(slots=True)  # not frozen: built for every digit run, and frozen costs twice
class Group:
    """One run of ASCII digits at ``[start, end)`` of the normalised text."""

    start: int
    end: int
    digits: str


def read_zeros(text: str) -> str:
    """``text`` with o/口 read as 0 inside digit runs (length preserved)."""
    if "o" not in text and "口" not in text:
        return text
    return _ZERO_LOOKALIKE.sub(lambda m: m.group().translate(_ZEROS), text)


# A cluster: digit groups joined by gaps of at most four separator characters: no letter,
# digit or ideograph, nor one of ``:¥$€£%@=``, which mark prices, times, scores, addresses. One regex pass finds them; a cluster
# shorter than five characters cannot hold a five-digit number and costs nothing more.
_CLUSTER = re.compile(r"[0-9]+(?:(?:[^\w:¥$€£%@=]|_){1,4}[0-9]+)*")


# A one-digit group right before one of these is a quantity (WX-3000 两款, 3000 2件), never the
# last digits of a split number.
MEASURE = frozenset("款件个种位台张只条双盒包套瓶斤次份天年月周箱袋支本把顶颗粒色码")


def clusters(text: str) -> Iterator[list[Group]]:
    """Digit groups of ``text`` chained by short separator gaps (at most ``_MAX_GROUPS``)."""
    for m in _CLUSTER.finditer(text):
        s, e = m.span()
        if e - s < 5:
            continue
        groups = [Group(g.start(), g.end(), g.group()) for g in _GROUP.finditer(text, s, e)]
        if len(groups) > 1 and len(groups[-1].digits) == 1 and text[e:e + 1] in MEASURE:
            groups.pop()
        for i in range(0, len(groups), _MAX_GROUPS):
            yield groups[i:i + _MAX_GROUPS]


@lru_cache(maxsize=4096)
def _valid_cn(number: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, "CN"))
    except phonenumbers.NumberParseException:
        return False


def phone_kind(digits: str, cue: str | None) -> str | None:
    """Return the category of a digit string given the cue next to it (None: not a contact).

    ``cue`` is the kind of the keyword next to the digits: a contact category, ``phone``,
    ``contact`` (联系, 私聊), ``shield`` (订单号 and the like: never a contact) or None.
    """
    if cue == "shield":
        return None
    n = len(digits)
    contact = cue if cue in ("wechat", "qq", "alipay", "handle") else "phone"
    # Said to be a contact ("电话", "打", "留个号码"): the shape is enough, whether or not the
    # prefix is allocated today. Otherwise the number must be in an allocated range, which
    # keeps order-number fragments from looking like phones.
    said = cue is not None
    if _MOBILE.fullmatch(digits) and (said or _valid_cn(digits[-11:])):
        return contact
    if n == 10 and _TOLL.fullmatch(digits) and (said or _valid_cn(digits)):
        return contact
    if 10 <= n <= 12 and _LANDLINE.fullmatch(digits) and (said or _valid_cn(digits)):
        return contact
    if cue in ("qq", "wechat", "alipay", "handle") and len(set(digits)) == 1:
        return None  # 扣666666: live-stream cheering, not an account
    if cue == "qq" and 5 <= n <= 11 and digits[0] != "0":
        return "qq"
    if cue == "wechat" and 5 <= n <= 20:
        return "wechat"
    if cue == "alipay" and 6 <= n <= 20:
        return "alipay"
    if cue == "handle" and 5 <= n <= 20:
        return "handle"
    if cue == "phone" and _PLAIN_LOCAL.fullmatch(digits):
        return "phone"  # a local landline without area code, said to be a phone number
    return None


def valid(digits: str) -> bool:
    """Whether a phone-category number is in an allocated range.

    When it is not, only its shape and the cue next to it made it a phone (``phone-shape``).
    """
    return not _MOBILE.fullmatch(digits) or _valid_cn(digits[-11:])


def find_numbers(
    groups: list[Group], cue_at: Callable[[int, int], str | None]
) -> Iterator[tuple[int, int, str, int]]:
    """``(start, end, category, n_groups)`` of every contact number in one cluster.

    ``cue_at(start, end)`` tells the kind of the cue next to text span ``[start, end)``.
    """
    if len(groups) == 1:  # the usual case: one run of digits
        g = groups[0]
        if 5 <= len(g.digits) <= 20:
            kind = phone_kind(g.digits, cue_at(g.start, g.end))
            if kind is not None:
                yield g.start, g.end, kind, 1
        return
    stack = [(0, len(groups))]
    while stack:
        lo, hi = stack.pop()
        best: tuple[int, int, int, str] | None = None  # (length, i, j, category)
        for i in range(lo, hi):
            digits = ""
            for j in range(i, hi):
                digits += groups[j].digits
                if len(digits) > 20:
                    break
                if len(digits) < 5:
                    continue
                kind = phone_kind(digits, cue_at(groups[i].start, groups[j].end))
                if kind is not None and (best is None or len(digits) > best[0]):
                    best = (len(digits), i, j, kind)
        if best is None:
            continue
        _, i, j, kind = best
        yield groups[i].start, groups[j].end, kind, j - i + 1
        if i > lo:
            stack.append((lo, i))
        if j + 1 < hi:
            stack.append((j + 1, hi))
