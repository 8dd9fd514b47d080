"""E-mail addresses, URLs, bare domains, share codes and Telegram-style ``@handles``.

Every pattern is bounded (a domain has at most eight labels, a local part 64 characters), so
no match can scan the text far beyond its own end: the whole text costs linear time.
"""

from __future__ import annotations

import re

from stream.core.content.keywords import TLDS

_TLD = "(?:" + "|".join(sorted(TLDS, key=len, reverse=True)) + ")(?![a-z])"
DOT = r"\s{0,3}(?:\.|点|。|·|•|丶|\(dot\)|\[dot\]|(?<![a-z])dot(?![a-z]))\s{0,3}"
_AT = r"\s{0,3}(?:@|艾特|圈a|\(at\)|\[at\]|(?<![a-z])at(?![a-z]))\s{0,3}"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
EMAIL = re.compile(rf"(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]{{0,63}}{_AT}"
                   rf"(?:{_LABEL}{DOT}){{1,8}}{_TLD}")
# A URL runs to a space, an ideograph or a comma (the view has read "，" as ","): a link is
# usually followed by Chinese text.
_URL_CHARS = "[^\\s,\u3000-\u303f\u4e00-\u9fff\uff00-\uffef\"'<>]+"
URL = re.compile(rf"(?:https?|ftp|tg)\s{{0,3}}:\s{{0,3}}//{_URL_CHARS}|www\s{{0,3}}\.\s{{0,3}}{_URL_CHARS}")
BARE = re.compile(rf"(?<![a-z0-9@.-])(?:{_LABEL}{DOT}){{1,8}}{_TLD}(?:/[!-~]*)?")
# Every URL or bare domain holds one of these: texts without any skip both patterns.
LINK_GATE = re.compile(r"[.点。·•丶]|dot|://|www")
HOST = re.compile(r"(?:(?:https?|ftp)\s*:\s*//)?([^/?#:\s]+)")
DOT_RE = re.compile(DOT)
# Share codes (淘口令) between currency signs, read on the original text: the view reads some of
# these signs as letters (₳ -> a).
_SIGN = "[¥$€£₤¢₳₴₰₵₲￡￥＄]"
SHARE_SIGN = re.compile(r"[¥$€£₤¢₳₴₰₵₲￡￥＄(/（]")  # what every share code holds
SHARE_CODE = re.compile(rf"{_SIGN}\s?([0-9A-Za-z０-９Ａ-Ｚａ-ｚ]{{8,14}})\s?{_SIGN}"
                        r"|[(/（]([0-9A-Za-z]{11})[)/）]")
# Telegram (and other apps') user names: @ and 5-32 letters, digits or _, starting with a
# letter; not an e-mail (no name before the @, no domain after the name).
HANDLE = re.compile(r"(?<![a-z0-9._%+-])@\s?([a-z][a-z0-9_]{4,31})(?![a-z0-9_@]|\.[a-z])")


def host_of(matched: str) -> str:
    """The host name of a matched URL or bare domain (``点``/``dot`` read as dots)."""
    host = HOST.match(DOT_RE.sub(".", matched))
    name = host.group(1).strip(".") if host else ""
    return name[4:] if name.startswith("www.") else name
