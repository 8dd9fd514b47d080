"""The contact cues of one message, indexed for the unexplained-id stage.

Every contact-shaped token of a message asks the same questions of the message's cues: is any
cue there at all (outside the token), does a channel word speak for it, which cue is nearest.
A message can hold thousands of tokens and cues, so the answers come from sorted spans and
prefix/suffix extremes (a bisection each), never from a pass over all cues per token.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

from stream.core.content import explain

# Invitation words with no channel (加 20456617, 联系 kd8812, 需要的…), the notes that go with
# a dotless address, other apps' names, and the @ of a handle. ``strong`` ones also speak for
# a code next to them (加 QZY28451); 需要 and 想要 alone are too common in service talk.
INVITE = re.compile(r"(?P<strong>(?<![增参追外附更再叠])加(?![绒厚大长购急油工宽高价热强固湿量班盟重快速减分钱])"
                    r"|联(?![名盟合通想动网])|(?<![寻查])找(?![到不回零钱补平])|私(?![密有自服])"
                    r"|(?<![一点水])滴(?![水胶漏灌])|戳|搜|好友|[+➕]|@"
                    r"|闲鱼|咸鱼|钉钉|飞书|企微|陌陌|探探|微博|小红书|抖音|快手"
                    r"|我的号|我号|小号|大号|主号|备用号|号是"
                    r"|(?<![您你])(?:需要|想要)的|(?<![您你])有需要)"
                    r"|需要|有需|想要|空格|浏览器")
# How close a strong invitation must stand to a code for it to speak for the code.
INVITE_REACH = 8
# An id glued to the letter of its channel: 加vkd8812, +w778812345, 加q20456617.
_GLUED_CHANNEL = re.compile(r"(?:加|[+➕]|十|个)\s?(?:(?P<wechat>v|w|vx|wx)|(?P<qq>q|qq))$")
# A channel's letters at the head of an id (gzhleo745: 公众号 leo745).
_HEAD_CHANNEL = re.compile(r"(?P<wechat>gzh|vx|wx|weixin)|(?P<qq>qq|kk)|(?P<group>qun)")
# The heads no product code starts with (WX4669 and QQ-332 are model codes, GZHKTB_6533 is not).
OWN_CHANNEL = re.compile(r"gzh|weixin|wechat")
# … or glued after a number: 16176090261v同.
_TAIL_CHANNEL = re.compile(r"[0-9](?:(?P<wechat>v|w|vx|wx)|(?P<qq>q|qq))$")
_HOTLINE = re.compile(r"(?:0{0,2}86)?[48]00[0-9]{7}")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_NOT_DIGIT = re.compile(r"[^0-9]+")

Span = tuple[int, int, str | None, str]  # view start, end, category or None, how


class _Nearest:
    """The cue nearest to a token among some spans.

    Before it: the greatest end of the spans starting before the token; after it: the least
    start of the spans ending after it.
    """

    __slots__ = ("_starts", "_before", "_ends", "_after")

    def __init__(self, spans: list[Span]) -> None:
        by_start = sorted(spans, key=lambda sp: sp[0])
        self._starts = [sp[0] for sp in by_start]
        self._before: list[Span] = []
        for sp in by_start:
            prev = self._before[-1] if self._before else None
            self._before.append(sp if prev is None or sp[1] > prev[1] else prev)
        by_end = sorted(spans, key=lambda sp: sp[1])
        self._ends = [sp[1] for sp in by_end]
        self._after: list[Span] = list(by_end)
        for i in range(len(by_end) - 2, -1, -1):
            if self._after[i + 1][0] < self._after[i][0]:
                self._after[i] = self._after[i + 1]

    def find(self, s: int, e: int) -> tuple[int, Span] | None:
        """``(distance, span)`` of the nearest span not inside ``[s, e)``, or None."""
        best: tuple[int, Span] | None = None
        i = bisect_left(self._starts, s) - 1
        if i >= 0:
            sp = self._before[i]
            best = (max(0, s - sp[1]), sp)
        j = bisect_right(self._ends, e)
        if j < len(self._after):
            sp = self._after[j]
            distance = max(0, sp[0] - e)
            if best is None or distance < best[0]:
                best = (distance, sp)
        return best


def _rank(how: str) -> int:
    """How surely a cue names a channel (0 first).

    0: a channel word or its disguise; 1: an invitation or group word naming a channel by
    sound; 2: an ordinary word read like a channel (微小, 卫星).
    """
    if how in ("", "look-alike") or how.startswith("homophone"):
        return 0
    return 2 if how.startswith("sound:") else 1


class Context:
    """The contact cues of one message (view spans, category or None, how)."""

    __slots__ = ("_lo", "_hi", "_named_lo", "_named_hi", "_invite_ends", "_invite_starts",
                 "_ranks", "_stage")

    def __init__(self, spans: list[Span]) -> None:
        """Index ``spans``."""
        self._lo = min((sp[0] for sp in spans), default=1 << 62)
        self._hi = max((sp[1] for sp in spans), default=-1)
        named = [sp for sp in spans if (sp[2] is not None and not sp[3].startswith("sound:"))
                 or sp[3] in ("group", "official-account")]
        self._named_lo = min((sp[0] for sp in named), default=1 << 62)
        self._named_hi = max((sp[1] for sp in named), default=-1)
        invites = [sp for sp in spans if sp[3] == "invitation"]
        self._invite_ends = sorted(sp[1] for sp in invites)
        self._invite_starts = sorted(sp[0] for sp in invites)
        by_rank: list[list[Span]] = [[], [], []]
        for sp in spans:
            if sp[2] is not None:
                by_rank[_rank(sp[3])].append(sp)
        self._ranks = [_Nearest(group) if group else None for group in by_rank]
        self._stage = next((sp[3] for sp in reversed(spans) if sp[2] is None and sp[3]), "")

    def any_outside(self, s: int, e: int) -> bool:
        """Whether a cue stands anywhere in the message outside ``[s, e)``."""
        return self._lo < s or self._hi > e

    def names_channel(self, s: int, e: int) -> bool:
        """Whether a cue outside ``[s, e)`` says the code there is a contact.

        A channel, group or official-account word anywhere, or a strong invitation within
        ``INVITE_REACH`` characters either side (加 QZY28451, 搜索 KD8812 加好友): a code's
        shape then explains nothing.
        """
        if self._named_lo < s or self._named_hi > e:
            return True
        ends, starts = self._invite_ends, self._invite_starts
        i = bisect_left(ends, s - INVITE_REACH)
        if i < len(ends) and ends[i] <= s:
            return True
        j = bisect_left(starts, e)
        return j < len(starts) and starts[j] <= e + INVITE_REACH

    def category(self, vt: str, s: int, e: int, shape: str) -> tuple[str, str]:
        """The category of the token ``vt[s:e]`` and the cue stage that names it.

        A channel glued to the token decides; then the nearest channel word (either side);
        then an invitation or group word that names a channel by sound; then the token's own
        shape (a link, a mobile or landline shape, else a handle).
        """
        token = vt[s:e]
        glued = _GLUED_CHANNEL.search(vt, max(0, s - 3), s + 2)
        if shape == "mixed" and glued is None and token[:1] in "vwq":
            glued = _GLUED_CHANNEL.search(vt, max(0, s - 2), s + 1)
        if glued is None and shape == "mixed":
            glued = _HEAD_CHANNEL.match(token) or _TAIL_CHANNEL.search(token)
        if glued is None and shape == "digits":
            glued = _TAIL_CHANNEL.match(vt, e - 1, e + 2)
            if glued is not None and "a" <= vt[glued.end():glued.end() + 1] <= "z":
                glued = None  # 9404vip: a code, not a channel
        if glued is not None and glued.groupdict().get("group"):
            return ("phone" if _MOBILE.fullmatch(token[3:]) else "handle"), "glued+group"
        if glued is not None:
            return ("wechat" if glued.group("wechat") else "qq"), "glued"
        best: Span | None = None
        for nearest in self._ranks:
            found = nearest.find(s, e) if nearest is not None else None
            if found is not None:
                best = found[1]
                break
        how = "" if best is None else best[3].removeprefix("sound:")
        if shape in ("handle", "link"):
            return shape, how if best is not None else self._stage
        digits = _NOT_DIGIT.sub("", token)
        if best is not None and best[2] == "qq" and shape == "digits" and not (
                5 <= len(digits) <= 11 and digits[0] != "0"):
            best = None  # QQ 123456789012: no QQ number has twelve digits; read by its shape
        if best is not None and best[2] is not None:
            return best[2], how
        if shape == "mixed" and explain.glued_tld(token):
            return "link", self._stage
        if shape == "digits" and (_MOBILE.fullmatch(digits) or digits[:1] == "0"
                                  or _HOTLINE.fullmatch(digits)):
            return "phone", self._stage
        return "handle", self._stage
