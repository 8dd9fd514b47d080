"""Distinct-buyer counts kept from row contributions (daily figures, order figures).

Pure; imports nothing of the core, so every figure book can use it.
"""

from __future__ import annotations

from collections import Counter


def shift_buyer(counter: Counter[str], buyer: str, before: bool, after: bool) -> None:
    """Count ``buyer`` in or out of a distinct-buyer counter as a contribution appears or goes.

    The counter holds, per buyer, how many rows contribute; a buyer is distinct while > 0.
    """
    if before == after:
        return
    if after:
        counter[buyer] += 1
    else:
        counter[buyer] -= 1
        if counter[buyer] <= 0:
            del counter[buyer]
