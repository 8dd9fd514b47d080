"""The forbidden-content detector (DOMAIN.md §4): pure, fast, configured once.

``Detector.scan`` returns the violations in one agent or bot message; ``Detector.mask`` hides
every contact detail in any text (buyer messages included). Work happens on normalised views
(:mod:`.normalize`) and every span is mapped back into the original string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import ahocorasick_rs

from stream.core.content.keywords import (
    CUES,
    DEFAULT_ABUSE,
    HOMOPHONE_CLASS,
    HOMOPHONE_KEYWORDS,
    HOMOPHONE_WORDS,
    PLATFORM_DOMAINS,
    TLDS,
    Cue,
)
from stream.core.content.masking import mask_spans, mask_value
from stream.core.content.normalize import Normalizer, View, compact
from stream.core.content.numbers import clusters, find_numbers
from stream.core.content.prefilter import Prefilter
from stream.core.content.quality import bare_presence

CONTACT_CATEGORIES = frozenset({"phone", "wechat", "qq", "alipay", "email", "link"})
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
MODES = ("mention", "handover")

_TLD = "(?:" + "|".join(sorted(TLDS, key=len, reverse=True)) + ")(?![a-z])"
_DOT = r"\s*(?:\.|点|。|\(dot\)|\[dot\]|(?<![a-z])dot(?![a-z]))\s*"
_AT = r"\s*(?:@|艾特|圈a|\(at\)|\[at\]|(?<![a-z])at(?![a-z]))\s*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]{{0,63}}{_AT}"
                    rf"(?:{_LABEL}{_DOT})+{_TLD}")
_URL = re.compile(r"(?:https?|ftp)\s*:\s*//[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef\"'<>]+"
                  r"|www\s*\.\s*[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef\"'<>]+")
_BARE = re.compile(rf"(?<![a-z0-9@.-])(?:{_LABEL}{_DOT})+{_TLD}(?:/[!-~]*)?")
_HOST = re.compile(r"(?:(?:https?|ftp)\s*:\s*//)?([^/?#:\s]+)")
_SHARE_CODE = re.compile(r"[¥$€£₤¢₳₴₰₵₲￡]\s*([a-z0-9]{8,14})\s*[¥$€£₤¢₳₴₰₵₲￡]"
                         r"|[(/]([a-z0-9]{11})[)/]")
_WECHAT_ID = re.compile(r"[a-z][a-z0-9_-]{5,19}")
# What may stand between a cue and the number it introduces: "微信号：", "qq是", "电话为".
_FILLER = re.compile(r"(?:[^0-9a-z\u4e00-\u9fff]|号|码|是|为|账|帐|户|id|搜|加|我|的|名|称|同|也|联系)*")
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
    ``text[start:end]`` masked with :func:`mask_value`.
    """

    category: str   # phone | wechat | qq | alipay | email | link | word | quality
    severity: str   # critical | warning | info
    start: int
    end: int
    match: str
    how: str = ""   # the stage that found it (e.g. keyword, homophone:微信, split-digits)


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int  # original text
    end: int
    category: str
    severity: str


class Detector:
    """Finds forbidden content in agent messages and masks contact details in any text.

    Build it once (``from_settings``) and share it: it is immutable after construction apart
    from a per-character normalisation cache.
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
        cue_keys = list(CUES)
        self._cue_list: list[tuple[str, Cue]] = [(norm.text(k), CUES[k]) for k in cue_keys]
        self._cues = ahocorasick_rs.AhoCorasick(
            [k for k, _ in self._cue_list], matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
        self._homophones = ahocorasick_rs.AhoCorasick(list(HOMOPHONE_KEYWORDS))
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
        allow_keys = [k for k in {_compact_text(norm.text(a)) for a in allow} if k]
        self._allow = ahocorasick_rs.AhoCorasick(allow_keys) if allow_keys else None
        extra = tuple(d.lower().strip(".") for d in platform_domains if d.strip("."))
        self._own: dict[str | None, tuple[str, ...]] = {
            p: ds + extra for p, ds in PLATFORM_DOMAINS.items()}
        # Phone and shield cues matter only next to digits, which trigger the full scan anyway.
        self._prefilter = Prefilter(
            [k for k, c in self._cue_list if c.kind not in ("phone", "shield")]
            + [w for w, _ in self._word_list]
            + [chr(cp) for cp, canon in HOMOPHONE_CLASS.items() if canon in _HOMOPHONE_TRIGGERS])

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
        invitation such as 加微信 is a warning). ``first_reply=True`` adds a ``quality``/``info``
        flag when the message is only 「在」 (在的, 在吗, …). ``platform`` narrows which links
        count as the platform's own (default: every known platform's domains).
        """
        if mode not in MODES:
            raise ValueError(f"content mode {mode!r}: use 'mention' (PDD) or 'handover'")
        hits: list[_Hit] = []
        if first_reply:
            span = bare_presence(text)
            if span is not None:
                hits.append(_Hit(span[0], span[1], "quality", "info"))
        if self._prefilter.may_match(text):
            hits.extend(self._hits(text, mode, platform))
        if not hits:
            return []
        return [Violation(h.category, h.severity, h.start, h.end, mask_value(text[h.start:h.end]))
                for h in _resolve(hits)]

    def mask(self, text: str) -> str:
        """``text`` with every contact detail masked (first 3 and last 2 characters kept)."""
        if not self._prefilter.may_match(text):
            return text
        spans = [(h.start, h.end) for h in self._hits(text, "handover", None, contacts_only=True)]
        return mask_spans(text, spans) if spans else text

    # -- internals ------------------------------------------------------------------------------
    def _hits(self, text: str, mode: str, platform: str | None,
              contacts_only: bool = False) -> list[_Hit]:
        view = self._norm.normalize(text)
        if not view.text:
            return []
        small = compact(view)  # index -> positions in view.text
        cues = self._find_cues(view, small)
        hits: list[_Hit] = []
        shielded: list[tuple[int, int]] = []  # view spans of own-platform links
        self._links(view, platform, hits, shielded)
        self._numbers(view, cues, hits, shielded)
        self._wechat_ids(view, cues, hits)
        if not contacts_only:
            self._mentions(view, small, cues, mode, hits)
            self._word_hits(small, view, hits)
        if self._allow is not None and hits:
            hits = self._drop_allowed(small, view, hits)
        return hits

    def _find_cues(self, view: View, small: View) -> list[tuple[int, int, Cue]]:
        """Cue keywords as (start, end, cue) in ``view`` coordinates, sorted by end."""
        found: list[tuple[int, int, Cue]] = []
        vt = view.text
        for idx, s, e in self._cues.find_matches_as_indexes(small.text):
            cue = self._cue_list[idx][1]
            start, end = small.index[s], small.index[e - 1] + 1
            if (cue.boundary and start > 0 and "a" <= vt[start - 1] <= "z") or (
                    cue.right_boundary and end < len(vt) and "a" <= vt[end] <= "z"):
                continue
            found.append((start, end, cue))
        for idx, s, e in self._homophones.find_matches_as_indexes(
                small.text.translate(HOMOPHONE_CLASS)):
            original = small.text[s:e]
            keyword = list(HOMOPHONE_KEYWORDS)[idx]
            if original in CUES or _forms_word(small.text, s, e, original, keyword):
                continue
            start, end = small.index[s], small.index[e - 1] + 1
            found.append((start, end, Cue(HOMOPHONE_KEYWORDS[keyword], True)))
        found.sort(key=lambda c: (c[1], c[0]))
        return found

    def _links(self, view: View, platform: str | None, hits: list[_Hit],
               shielded: list[tuple[int, int]]) -> None:
        vt = view.text
        taken: list[tuple[int, int]] = []
        for m in _EMAIL.finditer(vt):
            taken.append(m.span())
            hits.append(_Hit(*view.span(*m.span()), "email", "critical"))
        own = self._own.get(platform, self._own[None]) if platform in self._own else self._own[None]
        for rx in (_URL, _BARE):
            for m in rx.finditer(vt):
                s, e = m.span()
                if any(s < te and ts < e for ts, te in taken):
                    continue
                taken.append((s, e))
                host = _HOST.match(re.sub(_DOT, ".", m.group()))
                name = host.group(1).strip(".") if host else ""
                if name.startswith("www."):
                    name = name[4:]
                if any(name == d or name.endswith("." + d) for d in own):
                    shielded.append((s, e))
                    continue
                hits.append(_Hit(*view.span(s, e), "link", "critical"))
        for m in _SHARE_CODE.finditer(vt):
            code = m.group(1) or m.group(2)
            if any(c.isalpha() for c in code) and any(c.isdigit() for c in code):
                hits.append(_Hit(*view.span(*m.span()), "link", "critical"))

    def _numbers(self, view: View, cues: list[tuple[int, int, Cue]], hits: list[_Hit],
                 shielded: list[tuple[int, int]]) -> None:
        vt = view.text

        def cue_at(pos: int) -> str | None:
            for _start, end, cue in reversed(cues):
                if end > pos:
                    continue
                if end == pos or (pos - end <= 8 and _FILLER.fullmatch(vt, end, pos)):
                    return cue.kind
                break
            if pos > 0 and ("a" <= vt[pos - 1] <= "z" or (
                    pos > 1 and vt[pos - 1] in "-_" and "a" <= vt[pos - 2] <= "z")):
                return "shield"  # digits glued to letters: a waybill or model number (XR-1380)
            return None

        for groups in clusters(vt):
            if len(groups) == 1 and len(groups[0].digits) < 5:
                continue
            for s, e, kind in find_numbers(groups, cue_at):
                if any(ss <= s and e <= se for ss, se in shielded):
                    continue
                if e < len(vt) and "a" <= vt[e] <= "z" and cue_at(s) in (None, "phone"):
                    continue  # "13812345678abc": part of a longer code
                if s > 0 and vt[s - 1] == "+":
                    s -= 1  # "+86 138…": the plus belongs to the number
                hits.append(_Hit(*view.span(s, e), kind, "critical"))

    def _wechat_ids(self, view: View, cues: list[tuple[int, int, Cue]],
                    hits: list[_Hit]) -> None:
        vt = view.text
        for start, end, cue in cues:
            if cue.kind not in ("wechat", "qq", "alipay"):
                continue
            pos = end
            m = _FILLER.match(vt, pos)
            if m is not None and m.end() - pos <= 8:
                pos = m.end()
            idm = _WECHAT_ID.match(vt, pos)
            if idm is None or (idm.end() < len(vt) and vt[idm.end()] in "@."):
                continue
            if any(c.isdigit() or c in "_-" for c in idm.group()):
                hits.append(_Hit(*view.span(*idm.span()), cue.kind, "critical"))
            elif cue.kind == "wechat" and cue.mention:
                letters = _letters_only_id(vt, start, end)
                if letters is not None:
                    hits.append(_Hit(*view.span(*letters), "wechat", "critical"))

    def _mentions(self, view: View, small: View, cues: list[tuple[int, int, Cue]], mode: str,
                  hits: list[_Hit]) -> None:
        for start, end, cue in cues:
            if not cue.mention:
                continue
            if mode == "mention":
                hits.append(_Hit(*view.span(start, end), cue.kind, "critical"))
            elif view.text[max(0, start - 2):start].endswith(_SOLICIT):
                hits.append(_Hit(*view.span(start, end), cue.kind, "warning"))

    def _word_hits(self, small: View, view: View, hits: list[_Hit]) -> None:
        if self._words is None:
            return
        for idx, s, e in self._words.find_matches_as_indexes(small.text):
            word, severity = self._word_list[idx]
            start, end = small.index[s], small.index[e - 1] + 1
            vt = view.text
            if word.isascii() and ((start > 0 and vt[start - 1].isascii() and vt[start - 1].isalpha())
                                   or (end < len(vt) and vt[end].isascii() and vt[end].isalpha())):
                continue
            hits.append(_Hit(*view.span(start, end), "word", severity))

    def _drop_allowed(self, small: View, view: View, hits: list[_Hit]) -> list[_Hit]:
        assert self._allow is not None
        spans = [view.span(small.index[s], small.index[e - 1] + 1)
                 for _, s, e in self._allow.find_matches_as_indexes(small.text, overlapping=True)]
        return [h for h in hits if not any(s <= h.start and h.end <= e for s, e in spans)]


# One class per homophone keyword is enough for the prefilter; these are the rarest ones.
_HOMOPHONE_TRIGGERS = frozenset("微扣宝")


def _compact_text(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _letters_only_id(vt: str, start: int, end: int) -> tuple[int, int] | None:
    """The view span of a letters-only WeChat id handed over by the cue at ``[start, end)``.

    ``None`` unless the cue hands one over (see ``_PLAIN_WECHAT``): an alias, a 号/是/:/id
    marker after it, or an invitation (加…, 我的) before it.
    """
    cue = "".join(ch for ch in vt[start:end] if ch.isalnum())
    marker = _ID_MARKER.match(vt, end)
    gap = marker if marker is not None and marker.end() - end <= 8 else _ID_GAP.match(vt, end)
    assert gap is not None  # the gap pattern matches the empty string
    if gap.end() - end > 8:
        return None
    before = _ID_GAP.sub("", vt[max(0, start - 4):start])[-3:]
    handover = (cue not in _PLAIN_WECHAT or cue.endswith("号") or gap is marker
                or "加" in before or before.endswith(_HANDOVER_BEFORE))
    idm = _LETTER_ID.match(vt, gap.end())
    if not handover or idm is None or idm.group() in _NOT_IDS or (
            idm.end() < len(vt) and vt[idm.end()] in "@."):
        return None
    return idm.span()


def _forms_word(text: str, s: int, e: int, original: str, keyword: str) -> bool:
    """Whether a homophone hit is really ordinary words ("维新", "作为新", "支付包装")."""
    if original == keyword:
        return False
    if original in HOMOPHONE_WORDS:
        return True
    before = text[s - 1:s + 1] if s > 0 else ""
    after = text[e - 1:e + 1] if e < len(text) else ""
    return before in HOMOPHONE_WORDS or (after in HOMOPHONE_WORDS and after[1] not in "号账")


def _resolve(hits: list[_Hit]) -> list[_Hit]:
    """Longest (then most severe) hit wins where hits overlap; result sorted by start."""
    hits.sort(key=lambda h: (h.start - h.end, _SEVERITY_RANK[h.severity], h.start))
    kept: list[_Hit] = []
    for h in hits:
        if all(h.end <= k.start or k.end <= h.start for k in kept):
            kept.append(h)
    kept.sort(key=lambda h: h.start)
    return kept
