"""The forbidden-content detector (DOMAIN.md §4): pure, fast, configured once.

``Detector.scan`` returns the violations in one agent or bot message; ``Detector.mask`` hides
every contact detail in any text (buyer messages included). Work happens on normalised views
(:mod:`.normalize`) and every span is mapped back into the original string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from operator import attrgetter

import ahocorasick_rs

from stream.core.content import explain, links
from stream.core.content.context import INVITE, OWN_CHANNEL, Context
from stream.core.content.keywords import CUES, DEFAULT_ABUSE, PLATFORM_DOMAINS, Cue
from stream.core.content.masking import mask_spans, mask_value
from stream.core.content.normalize import Compact, Normalizer, View, char_class, compact, tables
from stream.core.content.numbers import MEASURE, Group, clusters, find_numbers, read_zeros, valid
from stream.core.content.prefilter import CLEAN, COMMON, FULL, Prefilter
from stream.core.content.quality import bare_presence
from stream.core.content.sounds import (
    SHAPES,
    STRONG,
    WORD,
    SoundMatcher,
    is_official,
    matcher,
    ordinary,
)

CONTACT_CATEGORIES = frozenset({"phone", "wechat", "qq", "alipay", "email", "link", "handle"})
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
MODES = ("mention", "handover")
_ID_KINDS = frozenset({"wechat", "qq", "alipay", "handle", "contact"})
_CHANNELS = frozenset({"wechat", "qq", "alipay", "handle"})
_HOTLINE = re.compile(r"(?:0{0,2}86)?[48]00[0-9]{7}")
_LATIN = re.compile(r"[a-z]")
_DIGIT_RUN = re.compile(r"[0-9]+")
_NOT_DIGIT = re.compile(r"[^0-9]+")
_AFTER_KINDS = frozenset({"wechat", "qq", "alipay", "handle", "phone"})  # "13812345678 是我的电话"

# What may stand between a cue and the number it introduces: "微信号：", "qq是", "电话为",
# "留个号码给您：". At most 8 characters (``_FILLER_MAX``), so one lookup costs O(1).
_FILLER = re.compile(r"(?:[^0-9a-z\u4e00-\u9fff]|号|码|是|为|账|帐|户|id|搜|加|我|的|名|称|同|也"
                     r"|联系|给|您|你|一下|下|个|留|发|吧|哦|呢|啊|亲|这|在|就|直接|备注|群|索|添加)*")
_FILLER_MAX = 8
# Between an id and a cue written after it: "KTB582 威", "3172 6409 口口", "…是我的微信".
_AFTER_GAP = re.compile(r"[^0-9a-z\u4e00-\u9fff]{0,3}(?:这个是|这是|就是|是我的|是我|我的|是|加|的|我){0,2}"
                        r"[^0-9a-z\u4e00-\u9fff]{0,3}")
# A cue written after an id hands it over only when nothing but an ending follows it; 微信支付,
# 支付宝付款, 微信闪退 are product talk about the id-like token before them.
_TRAILING = re.compile(r"[^0-9a-z\u4e00-\u9fff]*(?:$|[^0-9a-z\u4e00-\u9fff]|号|群|加|联|找|搜|私|上|哦|呢|吧|的|哈|啊)")
# +V / ➕V: "add me on WeChat" (the plus is gone from the compact text the cue table reads);
# not +V领 or +V字 (a V-neck, a V shape).
_PLUS_V = re.compile(r"(?<![0-9a-z])[+➕]\s{0,2}v(?![a-z]|[领字型形脸口])")
_PLUS_V_CUE = Cue("wechat", True)
# A short Latin cue glued to a few digits is a model code (WX4669, QQ-332), not a channel.
# (Not when more digit groups follow: "QQ26❤844760" is a split number.)
# (A one-digit quantity after it, WX-3000 两款, leaves it a model code.)
_MODEL_CODE = re.compile(r"-?[0-9]{1,4}(?![0-9a-z]|(?:[^\w:¥$€£%@=]|_){1,4}[0-9](?!["
                         + "".join(sorted(MEASURE)) + "]))")
# An id that cannot be an English word: letters and digits mixed (kefu520, 582ktb), or letters
# joined by _ or - (lily_shop); not an e-mail (@ after it) or a domain (.com after it).
_CODE_ID = re.compile(r"(?=[0-9_-]{0,31}[a-z])(?:(?=[a-z_-]{0,31}[0-9])"
                      r"|(?=[a-z][a-z0-9]{0,30}[_-][a-z0-9]))"
                      r"[a-z0-9][a-z0-9_-]{4,31}+(?!@|\.[a-z])")
# An id with separators between its characters, read without them.
# Single characters with spaces between ("a b c 1 2 3"), or pieces joined by symbols
# ("kf❤2024"); never words with spaces between ("up for 218").
# Every repetition is bounded (an id has at most 32 characters): a match never runs past it.
_SPACED_ID = re.compile(r"(?:[a-z0-9][ \u3000]){2,31}+[a-z0-9](?:[ \u3000]?[a-z0-9]){0,31}+"
                        r"|[a-z0-9_-]{1,32}+(?:[^\w\s\u3400-\u9fff:：@./]{1,2}+[a-z0-9_-]{1,32}+){1,16}+")
_SPACES = re.compile(r"[^0-9a-z_-]+")
_TOKEN_BEFORE = re.compile(r"[a-z0-9_-]{5,32}$")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_SOLICIT = ("加", "+", "添加", "加我", "加个", "私", "留个")
# A letters-only WeChat id ("lilyshop") looks like any English word, so it counts only after a
# cue that hands one over: an alias (vx, wx, V信, 威信, weixin: nobody writes those when talking
# about paying), a 号/是/:/id between cue and id (微信号 lilyshop, 微信：lilyshop), or an
# invitation right before the cue (加我微信 kefuabc, 我的微信 …). Plain 微信/wechat followed by a
# word is product talk ("微信 iPhone 版", "WeChat Pay").
_PLAIN_WECHAT = frozenset({"微信", "wechat"})
_ID_MARKER = re.compile(r"\s*(?:(?:号+码?|账号|帐号|id|搜)\s*(?:是|为)?|是|为|:)"
                        r"[^0-9a-z\u4e00-\u9fff]*")
_ID_GAP = re.compile(r"[^0-9a-z\u4e00-\u9fff]*")
_HANDOVER_BEFORE = ("我的", "我", "私", "留个", "搜")  # and any 加 just before (加一下, 添加)
_LETTER_ID = re.compile(r"[a-z][a-z0-9_-]{5,19}(?![a-z0-9_-])")
# Words that follow 微信/vx in ordinary replies and are never handed-over ids.
_NOT_IDS = frozenset({
    "iphone", "android", "ipad", "windows", "macbook", "version", "online", "official",
    "account", "wallet", "payment", "support", "mobile", "scanner", "miniapp", "applet",
    "program", "qrcode", "fukuan", "zhifu", "zhuanzhang", "shoukuan", "saoma", "hongbao",
    "please", "thanks", "thank", "hello",
})


@dataclass(frozen=True, slots=True)
class Violation:
    """One finding in a message.

    ``start``/``end`` index the ORIGINAL text (Python str indices); ``match`` is
    ``text[start:end]`` masked with :func:`mask_value`. ``how`` says which stage found it, so
    a supervisor sees why a disguised message was flagged: ``keyword``, ``number``, ``id``,
    ``link``, ``email``, ``handle``, ``share-code``, ``word``, ``quality``, or the evasions seen
    through, joined by ``+``: ``homophone:微信``, ``look-alike`` (口口 for QQ), ``confusable``
    (look-alike letters such as 𝐔𝐗 or Cyrillic х), ``split-digits``, ``phone-shape`` (an
    unallocated mobile prefix next to a number cue), ``before-cue`` (the id written before
    its channel word). ``unexplained-id`` marks a contact-shaped token no benign reading
    explains (issue 27), joined with the cue that named its category or made it critical:
    ``invitation`` (加/联系/找/私 and 加微, 佳喂, 茄丘 by sound), ``group`` (群, 裙, qun, 君羊),
    ``official-account`` (公众号, 工枞号, gzh), ``glued`` (加vkd8812, 16176090261v), or a
    channel word's own stage.
    """

    category: str   # phone | wechat | qq | alipay | email | link | handle | word | quality
    severity: str   # critical | warning | info
    start: int
    end: int
    match: str
    how: str = ""   # the stage that found it (e.g. keyword, homophone:微信, split-digits)


# Internal records are plain (not frozen) slotted classes: a long text makes tens of
# thousands of them, and a frozen dataclass costs twice as much to build.
@dataclass(slots=True)
class _Hit:
    start: int  # original text
    end: int
    category: str
    severity: str
    how: str


@dataclass(slots=True)
class _Cue:
    """A cue found in the view: ``level`` is :data:`STRONG` for keywords."""

    start: int  # view text
    end: int
    cue: Cue
    level: int


@cache
def _sound_matcher() -> SoundMatcher:
    """The sound patterns, built once per process (reading pypinyin's table takes a second)."""
    return matcher(tables().translate, COMMON)


def _evasions(*parts: str) -> str:
    return "+".join(p for p in parts if p)


class Detector:
    """Finds forbidden content in agent messages and masks contact details in any text.

    Build it once (``from_settings``) and share it: it is immutable after construction. Time
    is linear in the text: every stage is one pass (a regular expression, an Aho-Corasick
    automaton or a loop over digit groups), each finding looks only at a bounded window
    around itself, and overlaps are resolved with an occupancy map, never by comparing a
    finding with all others.
    """

    def __init__(
        self,
        words: Mapping[str, Iterable[str]] | None = None,
        allow: Iterable[str] = (),
        platform_domains: Iterable[str] = (),
        default_words: Iterable[str] = DEFAULT_ABUSE,
    ) -> None:
        """Configure the detector.

        ``words`` maps a severity to extra words (category ``word``); ``default_words`` are
        added at ``warning``. ``allow`` lists strings never flagged. ``platform_domains`` are
        extra own-platform domains whose links are never off-platform.
        """
        self._norm = Normalizer()
        norm = self._norm
        self._looks_alike = re.compile(char_class(norm.looks_alike))
        self._cue_list: list[tuple[str, Cue]] = [
            (_compact_text(norm.text(k)), c) for k, c in CUES.items()]
        self._cues = ahocorasick_rs.AhoCorasick(
            [k for k, _ in self._cue_list], matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
        self._sounds = _sound_matcher()
        self._sound_cues = tuple(
            Cue(w.category, w.mention, how=f"homophone:{w.word}") for w in self._sounds.groups)
        word_severity: dict[str, str] = {}
        for word in default_words:
            word_severity[_compact_text(norm.text(word))] = "warning"
        for severity, items in (words or {}).items():
            if severity not in _SEVERITY_RANK:
                raise ValueError(f"word severity {severity!r}: use critical, warning or info")
            for word in items:
                key = _compact_text(norm.text(word))
                if key:
                    word_severity[key] = severity
        self._word_list = list(word_severity.items())
        self._words = (ahocorasick_rs.AhoCorasick(
            [w for w, _ in self._word_list], matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if self._word_list else None)
        # Each word holds its rarest character: texts without any skip the word automaton.
        rare = {next((c for c in w if c not in COMMON), w[0]) for w, _ in self._word_list}
        self._word_gate = re.compile(char_class(rare)) if rare else None
        allow_keys = [k for k in {_compact_text(norm.text(a)) for a in allow} if k]
        self._allow = ahocorasick_rs.AhoCorasick(allow_keys) if allow_keys else None
        extra = tuple(d.lower().strip(".") for d in platform_domains if d.strip("."))
        self._own: dict[str | None, tuple[str, ...]] = {
            p: ds + extra for p, ds in PLATFORM_DOMAINS.items()}
        # Cues that need an id or a number next to them matter only where digits or letters
        # are, which trigger the full scan anyway; so do the sound matches that are no
        # disguise by themselves.
        self._prefilter = Prefilter(
            [k for k, c in self._cue_list if c.mention]
            + [w for w, _ in self._word_list],
            extra=set().union(*self._sounds.strong))

    @classmethod
    def from_settings(cls, content: object) -> Detector:
        """Build from ``stream.config.ContentSettings`` (words, allow, platform_domains)."""
        return cls(words=getattr(content, "words", None) or {},
                   allow=getattr(content, "allow", ()) or (),
                   platform_domains=getattr(content, "platform_domains", ()) or ())

    # -- public API ---------------------------------------------------------------------------
    def scan(self, text: str, *, mode: str = "mention", first_reply: bool = False,
             platform: str | None = None) -> list[Violation]:
        """Violations in an agent/bot message, sorted by start, without overlaps.

        ``mode`` is ``Policy.content_mode``: ``"mention"`` (PDD: any mention of WeChat, QQ,
        Alipay, a phone, an e-mail or an off-platform link is critical) or ``"handover"`` (only
        handing over a contact is critical; a bare mention such as 微信支付 is allowed, an
        invitation such as 加微信 is a warning). Handing over an id on another app (``handle``)
        is critical in both. ``first_reply=True`` adds a ``quality``/``info`` flag when the
        message is only 「在」 (在的, 在吗, …). ``platform`` narrows which links count as the
        platform's own (default: every known platform's domains).
        """
        if mode not in MODES:
            raise ValueError(f"content mode {mode!r}: use 'mention' (PDD) or 'handover'")
        hits: list[_Hit] = []
        if first_reply:
            span = bare_presence(text)
            if span is not None:
                hits.append(_Hit(span[0], span[1], "quality", "info", "quality"))
        level = self._prefilter.level(text)
        if level != CLEAN:
            hits.extend(self._hits(text, mode, platform, full=level == FULL))
        if not hits:
            return []
        kept = _resolve(hits, len(text))
        if self._looks_alike.search(text) is None:
            return [Violation(h.category, h.severity, h.start, h.end,
                              mask_value(text[h.start:h.end]), h.how) for h in kept]
        how, looks = self._how, self._looks_alike
        return [Violation(h.category, h.severity, h.start, h.end,
                          mask_value(text[h.start:h.end]), how(text, h, looks)) for h in kept]

    def mask(self, text: str) -> str:
        """``text`` with every contact detail masked (first 3 and last 2 characters kept)."""
        if self._prefilter.level(text) != FULL:
            return text  # only ideographs: no contact detail can be present
        hits = self._hits(text, "handover", None, contacts_only=True)
        if not hits:
            return text
        return mask_spans(text, [(h.start, h.end) for h in _resolve(hits, len(text))])

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _how(text: str, hit: _Hit, looks: re.Pattern[str] | None) -> str:
        """``hit.how``, with ``confusable`` when look-alike letters are inside the hit."""
        if looks is None or hit.category in ("word", "quality"):
            return hit.how
        if looks.search(text, hit.start, hit.end) is not None:
            base = hit.how if hit.how not in ("keyword", "id", "number") else ""
            return _evasions("confusable", base)
        return hit.how

    def _hits(self, text: str, mode: str, platform: str | None,
              contacts_only: bool = False, full: bool = True) -> list[_Hit]:
        """Every finding in ``text``.

        ``full=False`` (no letter, digit or symbol in the text) looks only for keywords.
        """
        view = self._norm.normalize(text)
        if not view.text:
            return []
        hits: list[_Hit] = []
        if full:
            vt = read_zeros(view.text)
            if vt is not view.text:
                view = View(vt, view.index)
        small = compact(view)
        cues = self._find_cues(text, view, small)
        if full:
            # View positions inside own-platform links (None: there are none).
            shielded = self._links(view, text, platform, cues, hits)
            groups = list(clusters(vt))
            if groups:
                self._numbers(view, groups, cues, hits, shielded, mode)
            if cues:
                self._ids(view, cues, hits)
            self._unexplained(text, view, groups, cues, hits, shielded, mode)
        if not contacts_only:
            if cues:
                self._mentions(view, cues, mode, hits)
            if self._word_gate is not None and self._word_gate.search(small.text) is not None:
                self._word_hits(small, view, hits)
        if self._allow is not None and hits:
            hits = self._drop_allowed(small, view, hits, len(text))
        return hits

    def _find_cues(self, text: str, view: View, small: Compact) -> list[_Cue]:
        """Cue keywords and sound matches in ``view`` coordinates, sorted by start."""
        found: list[_Cue] = []
        vt = view.text
        st = small.text
        literal: set[tuple[int, int]] = set()
        sounds = self._sounds
        spoken = sounds.pattern.search(st)
        shield_end = -1
        for idx, s, e in self._cues.find_matches_as_indexes(st):
            cue = self._cue_list[idx][1]
            start, end = small.at(s), small.at(e - 1) + 1
            if (cue.boundary and start > 0 and "a" <= vt[start - 1] <= "z") or (
                    cue.right_boundary and end < len(vt) and "a" <= vt[end] <= "z"):
                continue
            if cue.boundary and (_MODEL_CODE.match(vt, end) is not None or (
                    shield_end >= 0 and start - shield_end <= _FILLER_MAX
                    and _FILLER.fullmatch(vt, shield_end, start))):
                continue  # WX4669, 优惠码 WX2024SALE: a code, not a channel
            if cue.kind == "shield":
                shield_end = end
            if cue.disguised_only and self._looks_alike.search(text, *view.span(start, end)) is None:
                continue
            if _repeated(st, s, e):
                continue
            if spoken is not None:
                literal.add((s, e))
            found.append(_Cue(start, end, cue, STRONG))
        if "+" in vt or "➕" in vt:
            plus = [_Cue(*m.span(), _PLUS_V_CUE, STRONG) for m in _PLUS_V.finditer(vt)]
            if plus:
                found.extend(plus)
                found.sort(key=lambda c: c.start)
        if spoken is None:
            return found  # the automaton reports matches in order: already sorted
        shields = {c.start for c in found if c.cue.kind == "shield"}
        for m in sounds.pattern.finditer(st, spoken.start()):
            s, e = m.span()
            if (s, e) in literal or _repeated(st, s, e):
                continue
            i = int(m.lastgroup[1:]) if m.lastgroup else 0
            word = sounds.groups[i]
            if word.syllables[0] == "v" and (
                    (s > 0 and "a" <= st[s - 1] <= "z") or st[s:e] in SHAPES):
                continue  # the v of a Latin word (new星), or a shape (V型领), not V信
            level = ordinary(st, s, e, sounds.strong[i] or sounds.single_strong, word.key)
            if word.single and level != STRONG:
                continue  # 为, 位, 维 alone are ordinary words; 胃 alone is a disguise
            start, end = small.at(s), small.at(e - 1) + 1
            if level == WORD and any(p in shields for p in range(start + 1, end)):
                continue  # 机型 in 耳机型号: its 型 begins 型号, a model number's cue
            found.append(_Cue(start, end, self._sound_cues[i], level))
        found.sort(key=lambda c: c.start)
        return found

    def _links(self, view: View, text: str, platform: str | None, cues: list[_Cue],
               hits: list[_Hit]) -> bytearray | None:
        """E-mails, links, handles and share codes; returns the own-platform links' map."""
        vt = view.text
        taken = bytearray(len(vt))
        shielded: bytearray | None = None
        at = "@" in vt
        if at or "at" in vt or "艾特" in vt or "圈a" in vt:
            alipay = {c.end for c in cues if c.cue.kind == "alipay"}
            for m in links.EMAIL.finditer(vt):
                s, e = m.span()
                taken[s:e] = b"\x01" * (e - s)
                # 支付宝账号 lily@163.com: the address is the Alipay account.
                kind = "alipay" if alipay and any(
                    p in alipay and _FILLER.fullmatch(vt, p, s)
                    for p in range(s, max(-1, s - _FILLER_MAX - 1), -1)) else "email"
                hits.append(_Hit(*view.span(s, e), kind, "critical", "email"))
        if links.LINK_GATE.search(vt) is not None:
            own = self._own.get(platform, self._own[None])
            for rx in (links.URL, links.BARE):
                for m in rx.finditer(vt):
                    s, e = m.span()
                    if taken.find(1, s, e) != -1:
                        continue
                    taken[s:e] = b"\x01" * (e - s)
                    name = links.host_of(m.group())
                    if any(name == d or name.endswith("." + d) for d in own):
                        if shielded is None:
                            shielded = bytearray(len(vt))
                        shielded[s:e] = b"\x01" * (e - s)
                        continue
                    hits.append(_Hit(*view.span(s, e), "link", "critical", "link"))
        if at:
            for m in links.HANDLE.finditer(vt):
                s, e = m.span()
                if taken.find(1, s, e) == -1:
                    hits.append(_Hit(*view.span(s, e), "handle", "critical", "handle"))
        if links.SHARE_SIGN.search(text) is not None:
            for m in links.SHARE_CODE.finditer(text):
                code = m.group(1) or m.group(2)
                if any(c.isalpha() for c in code) and any(c.isdigit() for c in code):
                    hits.append(_Hit(m.start(), m.end(), "link", "critical", "share-code"))
        return shielded

    def _cue_index(self, cues: list[_Cue]) -> tuple[dict[int, _Cue], dict[int, _Cue]]:
        ends: dict[int, _Cue] = {}
        starts: dict[int, _Cue] = {}
        # Where two cues share an edge (扣 and the sound match 扣蔻), the longer one speaks.
        for c in cues:
            other = ends.get(c.end)
            if other is None or c.end - c.start > other.end - other.start:
                ends[c.end] = c
            other = starts.get(c.start)
            if other is None or c.end - c.start > other.end - other.start:
                starts[c.start] = c
        return ends, starts

    def _numbers(self, view: View, groups_of: list[list[Group]], cues: list[_Cue],
                 hits: list[_Hit], shielded: bytearray | None, mode: str) -> None:
        vt = view.text
        n = len(vt)
        ends, starts = self._cue_index(cues)
        before: dict[int, _Cue | None] = {}
        chosen: dict[tuple[int, int], tuple[_Cue | None, bool]] = {}

        def cue_before(pos: int) -> _Cue | None:
            if pos in before:
                return before[pos]
            got = None
            for e in range(pos, max(-1, pos - _FILLER_MAX - 1), -1):
                c = ends.get(e)
                if c is not None and (e == pos or _FILLER.fullmatch(vt, e, pos)):
                    if c.level == WORD and _ID_MARKER.match(vt, c.end, pos) is None:
                        break  # 卫星 12345: an ordinary word needs 号/是/: to hand over
                    if c.cue.kind == "phone":
                        c = _channel_before(vt, c, ends) or c
                    got = c
                    break
            before[pos] = got
            return got

        def cue_at(start: int, end: int) -> str | None:
            c = cue_before(start)
            after = False
            if c is None and start > 0 and ("a" <= vt[start - 1] <= "z" or (
                    start > 1 and vt[start - 1] in "-_" and "a" <= vt[start - 2] <= "z")):
                return "shield"  # digits glued to letters: a waybill or model number (XR-1380)
            if c is None:
                c = _cue_after(vt, end, starts)
                after = c is not None
            chosen[(start, end)] = (c, after)
            return None if c is None else c.cue.kind

        for groups in groups_of:
            for s, e, kind, parts in find_numbers(groups, cue_at):
                if shielded is not None and shielded.find(1, s, e) != -1:
                    continue
                c, after = chosen.get((s, e), (None, False))
                if e < n and "a" <= vt[e] <= "z" and (c is None or c.cue.kind == "phone"):
                    continue  # "13812345678abc": part of a longer code
                if c is None and (explain.order_after(vt, e) or explain.order_before(vt, s)):
                    continue  # "09164693987 这个订单", "退款单09335853098": an order's number
                if s > 0 and vt[s - 1] == "+":
                    s -= 1  # "+86 138…": the plus belongs to the number
                digits = "".join(ch for ch in vt[s:e] if ch.isdigit())
                how = _evasions(
                    c.cue.how if c is not None and c.cue.how != "keyword" else "",
                    "split-digits" if parts > 1 else "",
                    "phone-shape" if kind == "phone" and c is not None and not valid(digits)
                    else "",
                    "before-cue" if after else "") or "number"
                # A 400/800 brand hotline is a phone: critical under PDD's mention rule, for
                # review elsewhere unless the shop allow-lists it (content.allow).
                severity = "warning" if (mode == "handover" and kind == "phone"
                                         and _HOTLINE.fullmatch(digits)) else "critical"
                hits.append(_Hit(*view.span(s, e), kind, severity, how))

    def _ids(self, view: View, cues: list[_Cue], hits: list[_Hit]) -> None:
        """Letters-and-digits ids after (or before) a cue: ``vx lily_2024``, ``KTB582 威``."""
        vt = view.text
        for c in cues:
            cue = c.cue
            if cue.kind not in _ID_KINDS and not cue.ids:
                continue
            kind = "handle" if cue.kind == "contact" or cue.ids else cue.kind
            how = cue.how if cue.how != "keyword" else ""
            pos = c.end
            marker = _ID_MARKER.match(vt, pos, pos + _FILLER_MAX + 1)
            m = _FILLER.match(vt, pos, pos + _FILLER_MAX + 1)
            if m is not None:
                pos = m.end()
            if c.level != WORD or marker is not None:  # 卫星 KTB582: a word needs 号/是/:
                idm = _CODE_ID.match(vt, pos)
                if idm is None:
                    idm = _SPACED_ID.match(vt, pos)  # "a b c 1 2 3", "kf❤2024"
                    if idm is not None and _CODE_ID.fullmatch(_SPACES.sub("", idm.group())) is None:
                        idm = None
                if idm is not None:
                    hits.append(_Hit(*view.span(*idm.span()), kind, "critical", how or "id"))
                    continue
            if cue.kind == "wechat" and cue.mention and c.level != WORD:
                letters = _letters_only_id(vt, c.start, c.end)
                if letters is not None:
                    hits.append(_Hit(*view.span(*letters), "wechat", "critical", how or "id"))
                    continue
            if cue.kind == "handle" and marker is not None:
                idm = _LETTER_ID.match(vt, marker.end())
                if idm is not None and idm.group() not in _NOT_IDS:
                    hits.append(_Hit(*view.span(*idm.span()), kind, "critical", how or "id"))
                    continue
            if cue.kind != "contact" and not cue.ids:
                self._id_before(view, c, kind, how, hits)

    # -- the contact is the invariant (DOMAIN.md §4) ------------------------------------------
    def _unexplained(self, text: str, view: View, groups_of: list[list[Group]], cues: list[_Cue],
                     hits: list[_Hit], shielded: bytearray | None, mode: str) -> None:
        """Contact-shaped tokens that no stage flagged and no benign reading explains.

        Critical on PDD (``mention``) and wherever a contact cue stands anywhere in the message;
        a ``warning`` for review otherwise. The cues decide the category.
        """
        vt = view.text
        # Letter-and-digit ids first: a digit run inside one is judged with it.
        # Addresses and handles first, then letter-and-digit ids outside them, then digit
        # runs outside both: a token is judged whole, as the longest shape it has.
        latin = _LATIN.search(vt) is not None
        found: list[tuple[int, int, str]] = (
            [(s, e, "link") for s, e in explain.link_shapes(vt)] if latin else [])
        if "@" in vt:
            found.extend((*m.span(), "handle") for m in explain.HANDLES.finditer(vt))
        inside: bytearray | None = None
        if latin:
            if " " in vt or "\u3000" in vt:
                found.extend((s, e, "spaced") for s, e in explain.spaced_tokens(vt))
            mixed = explain.mixed_tokens(vt)
            if mixed or found:
                inside = bytearray(len(vt))
                for s, e, _ in found:
                    inside[s:e] = b"\x01" * (e - s)
                for s, e in mixed:
                    if inside.find(1, s, e) == -1:
                        found.append((s, e, "mixed"))
                for s, e in mixed:
                    inside[s:e] = b"\x01" * (e - s)
        for groups in groups_of:
            # A group at either edge glued to letters (338195 24h) or to a unit (…，24小时)
            # belongs there.
            lo, hi = 0, len(groups)
            if hi == 1:
                g = groups[0]
                if 5 <= g.end - g.start <= 12 and (inside is None or inside.find(1, g.start, g.end) == -1):
                    found.append((g.start, g.end, "digits"))
                continue
            if explain.edge_group(vt, groups[-1].start, groups[-1].end, True):
                hi -= 1
            if hi - lo > 1 and explain.edge_group(vt, groups[0].start, groups[0].end, False):
                lo += 1
            n = 0
            for g in groups[lo:hi]:
                n += g.end - g.start
            s, e = groups[lo].start, groups[hi - 1].end
            if 5 <= n <= 12 and (inside is None or inside.find(1, s, e) == -1):
                found.append((s, e, "digits"))
        if not found:
            return
        busy = bytearray(len(text)) if hits else None  # what the other stages found
        if busy is not None:
            for h in hits:
                busy[h.start:h.end] = b"\x01" * (h.end - h.start)
        context: Context | None = None
        words: explain.Words | None = None
        explained: set[str] = set()  # a token read once (型号 le6542 和 le6542) reads so again
        for s, e, shape in found:
            a, b = view.span(s, e)
            if (busy is not None and busy.find(1, a, b) != -1) or (
                    shielded is not None and shielded.find(1, s, e) != -1):
                continue
            token = vt[s:e]
            if token in explained:
                continue
            if shape in ("digits", "mixed"):
                if words is None:
                    words = explain.Words(vt)
                reading = (explain.digit_reading(vt, s, e, _NOT_DIGIT.sub("", token), token, words)
                           if shape == "digits" else explain.mixed_reading(vt, s, e, text[a:b], words))
                if reading is not None and reading not in explain.SHAPE_ONLY:
                    explained.add(token)
                    continue
                if reading is not None:  # a code by its shape alone: unless a cue says otherwise
                    if context is None:
                        context = self._context(vt, cues)
                    if not context.names_channel(s, e) and OWN_CHANNEL.match(token) is None:
                        part = _contact_part(vt, s, e, words) if shape == "digits" else None
                        if part is None:
                            explained.add(token)
                            continue
                        s, e = part  # 一比一 19482750524: the joined digits hid a contact
                        a, b = view.span(s, e)
                        token = vt[s:e]
            if context is None:
                context = self._context(vt, cues)
            kind, how = context.category(vt, s, e, shape)
            severity = ("critical" if (mode == "mention" or kind == "link" or shape == "handle"
                                      or how.startswith("glued") or context.any_outside(s, e))
                        else "warning")
            if busy is None:
                busy = bytearray(len(text))
            busy[a:b] = b"\x01" * (b - a)
            hits.append(_Hit(a, b, kind, severity, _evasions("unexplained-id", how)))

    def _context(self, vt: str, cues: list[_Cue]) -> Context:
        """The contact cues of a message: its channel cues and the invitations by sound."""
        spans: list[tuple[int, int, str | None, str]] = []
        for c in cues:
            if c.cue.kind != "shield":
                kind = c.cue.kind if c.cue.kind in _CHANNELS else None
                # An ordinary word read like a channel (微小, 卫星) names it last of all.
                how = "" if c.cue.how == "keyword" else c.cue.how
                spans.append((c.start, c.end, kind, how if c.level != WORD else "sound:" + how))
        for m in self._sounds.invitations.finditer(vt):
            group = m.lastgroup or ""
            if group == "official" and not is_official(m.group()):
                continue
            kind = {"wechat": "wechat", "qq": "qq", "qie": "qq", "kou": "qq", "wei": "wechat",
                    "official": "wechat"}.get(group)
            how = {"wechat": "invitation", "qq": "invitation", "qie": "homophone:企鹅",
                   "kou": "homophone:扣扣", "wei": "homophone:微信"}.get(
                group, "group" if group == "group" else "official-account")
            spans.append((m.start(), m.end(), kind, how))
        for m in INVITE.finditer(vt):
            spans.append((m.start(), m.end(), None, "invitation" if m.group("strong") else "invitation-word"))
        return Context(spans)

    def _id_before(self, view: View, c: _Cue, kind: str, how: str, hits: list[_Hit]) -> None:
        vt = view.text
        if _TRAILING.match(vt, c.end, c.end + 4) is None:
            return
        gap = None
        for g in range(c.start, max(0, c.start - 12), -1):  # the gap: at most 12 characters
            if vt[g - 1] in _ID_CHARS:
                if _AFTER_GAP.fullmatch(vt, g, c.start):
                    gap = g
                break
        if gap is None:
            return
        tok = _TOKEN_BEFORE.search(vt, max(0, gap - 32), gap)
        if tok is None:
            return
        s, e = tok.span()
        while s < e and not vt[s].isalnum():
            s += 1
        ident = vt[s:e]
        if (len(ident) < 5 or (s > 0 and vt[s - 1] in _ID_CHARS) or not any(ch.isdigit() for ch in ident)
                or not any("a" <= ch <= "z" for ch in ident)):
            return
        hits.append(_Hit(*view.span(s, e), kind, "critical", _evasions(how, "before-cue")))

    def _mentions(self, view: View, cues: list[_Cue], mode: str, hits: list[_Hit]) -> None:
        for c in cues:
            if not c.cue.mention or c.level != STRONG:
                continue
            if mode == "mention":
                span = (c.start, c.end) if view.index is None else view.span(c.start, c.end)
                hits.append(_Hit(span[0], span[1], c.cue.kind, "critical", c.cue.how))
            elif view.text[max(0, c.start - 2):c.start].endswith(_SOLICIT):
                hits.append(_Hit(*view.span(c.start, c.end), c.cue.kind, "warning", c.cue.how))

    def _word_hits(self, small: Compact, view: View, hits: list[_Hit]) -> None:
        if self._words is None:
            return
        vt = view.text
        for idx, s, e in self._words.find_matches_as_indexes(small.text):
            word, severity = self._word_list[idx]
            start, end = small.at(s), small.at(e - 1) + 1
            if word.isascii() and ((start > 0 and vt[start - 1].isascii() and vt[start - 1].isalpha())
                                   or (end < len(vt) and vt[end].isascii() and vt[end].isalpha())):
                continue
            hits.append(_Hit(*view.span(start, end), "word", severity, "word"))

    def _drop_allowed(self, small: Compact, view: View, hits: list[_Hit],
                      length: int) -> list[_Hit]:
        assert self._allow is not None
        allowed = bytearray(length)
        for _, s, e in self._allow.find_matches_as_indexes(small.text, overlapping=True):
            a, b = view.span(small.at(s), small.at(e - 1) + 1)
            allowed[a:b] = b"\x01" * (b - a)
        return [h for h in hits if allowed.find(0, h.start, h.end) != -1]


def _contact_part(vt: str, s: int, e: int, words: explain.Words) -> tuple[int, int] | None:
    """The longest digit run of a split token read by its shape alone, if it is a contact.

    That is, when the run is contact-shaped and has no reading of its own (the 1 of 一比一
    joined to the number after it).
    """
    best: tuple[int, int] | None = None
    for m in _DIGIT_RUN.finditer(vt, s, e):
        if best is None or m.end() - m.start() > best[1] - best[0]:
            best = m.span()
    if best is None or best == (s, e) or not 5 <= best[1] - best[0] <= 11:
        return None
    digits = vt[best[0]:best[1]]
    return best if explain.digit_reading(vt, best[0], best[1], digits, digits, words) is None else None


def _channel_before(vt: str, c: _Cue, ends: dict[int, _Cue]) -> _Cue | None:
    """The channel cue just before a phone cue.

    微信同号 138…, 加个v，号码是 186…: the number is that channel's id.
    """
    for e in range(c.start, max(-1, c.start - _FILLER_MAX - 1), -1):
        other = ends.get(e)
        if other is not None and other.cue.kind in ("wechat", "qq", "alipay") and (
                other.level != WORD) and (e == c.start or _FILLER.fullmatch(vt, e, c.start)):
            return other
    return None


def _cue_after(vt: str, end: int, starts: dict[int, _Cue]) -> _Cue | None:
    """A cue written right after a number (``3172 6409 口口``) that hands it over."""
    gap = _AFTER_GAP.match(vt, end, end + 9)
    if gap is None:
        return None
    for p in range(gap.end(), end - 1, -1):
        c = starts.get(p)
        if c is not None and c.cue.kind in _AFTER_KINDS and (
                c.level != WORD) and _TRAILING.match(vt, c.end, c.end + 4) is not None:
            return c
    return None


def _repeated(st: str, s: int, e: int) -> bool:
    """Whether a cue spelt with one character (扣扣, 口口) sits in a longer run of it.

    扣扣扣扣 is live-stream chat ("扣" = type in the comments), not QQ.
    """
    ch = st[s]
    return e - s > 1 and st[s + 1] == ch and st.count(ch, s, e) == e - s and (
        (s > 0 and st[s - 1] == ch) or (e < len(st) and st[e] == ch))


def _compact_text(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _letters_only_id(vt: str, start: int, end: int) -> tuple[int, int] | None:
    """The view span of a letters-only WeChat id handed over by the cue at ``[start, end)``.

    ``None`` unless the cue hands one over (see ``_PLAIN_WECHAT``): an alias, a 号/是/:/id
    marker after it, or an invitation (加…, 我的) before it.
    """
    cue = "".join(ch for ch in vt[start:end] if ch.isalnum())
    marker = _ID_MARKER.match(vt, end, end + 9)
    gap = marker if marker is not None and marker.end() - end <= 8 else _ID_GAP.match(vt, end, end + 9)
    if gap is None or gap.end() - end > 8:
        return None
    before = _ID_GAP.sub("", vt[max(0, start - 4):start])[-3:]
    handover = (cue not in _PLAIN_WECHAT or cue.endswith("号") or gap is marker
                or "加" in before or before.endswith(_HANDOVER_BEFORE))
    idm = _LETTER_ID.match(vt, gap.end())
    if not handover or idm is None or idm.group() in _NOT_IDS or (
            idm.end() < len(vt) and vt[idm.end()] in "@."):
        return None
    return idm.span()


def _resolve(hits: list[_Hit], length: int) -> list[_Hit]:
    """Longest (then most severe) hit wins where hits overlap; result sorted by start.

    An occupancy map of the text replaces pairwise comparison: each hit costs its length.
    Hits that do not overlap at all (the usual case, and a long text's) are returned after
    one sort and one pass.
    """
    hits.sort(key=_by_start)
    end = -1
    for h in hits:
        if h.start < end:
            break
        end = h.end
    else:
        return hits
    hits.sort(key=lambda h: (h.start - h.end, _SEVERITY_RANK[h.severity], h.start))
    busy = bytearray(length)
    kept: list[_Hit] = []
    for h in hits:
        if busy.find(1, h.start, h.end) == -1:
            busy[h.start:h.end] = b"\x01" * (h.end - h.start)
            kept.append(h)
    kept.sort(key=_by_start)
    return kept


_by_start = attrgetter("start")
