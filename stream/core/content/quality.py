"""Coaching flags: a first reply that is only 「在」 tells the buyer nothing."""

from __future__ import annotations

import re

# 在 / 在的 / 在吗 / 在呢 …, optionally with 亲, wrapped in punctuation, spaces or emoji.
_BARE_PRESENCE = re.compile(
    r"[\W_]*((?:亲[\W_]*)?在(?:的|吗|么|嘛|呢|哦|噢|呀|啊|滴|嘞|哒|啦|在|的呢|的哦|的呀|的亲|呢亲)?"
    r"(?:[\W_]*亲)?)[\W_]*")


def bare_presence(text: str) -> tuple[int, int] | None:
    """Return the span of the reply if it is only 「在」 (在的, 在吗, 亲在的 …), else None."""
    m = _BARE_PRESENCE.fullmatch(text)
    return m.span(1) if m else None
