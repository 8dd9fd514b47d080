"""Masking of contact details: keep the first 3 and last 2 characters (DOMAIN.md §4)."""

from __future__ import annotations

from collections.abc import Iterable


def mask_value(s: str) -> str:
    """``'13812345678'`` -> ``'138******78'``.

    Strings of 6 characters or more keep their first 3 and last 2 characters. Shorter ones
    cannot keep that much and still hide anything, so 3-5 characters keep only the first and
    the last, and 1-2 characters (a keyword such as 微信) are returned as they are.
    """
    n = len(s)
    if n >= 6:
        return s[:3] + "*" * (n - 5) + s[-2:]
    if n >= 3:
        return s[0] + "*" * (n - 2) + s[-1]
    return s


def mask_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with each ``[start, end)`` span replaced by its :func:`mask_value`."""
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:  # overlapping spans: mask the part not yet masked
            start = pos
        if start >= end:
            continue
        out.append(text[pos:start])
        out.append(mask_value(text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)
