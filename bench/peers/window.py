"""The bare reply window that the peer apps compute, and its reference counts.

What each peer does per record, and nothing more (no content check, no metrics, no output
topics, no timers):

* a ``message`` from a ``customer`` buyer opens a wait in its conversation (the record's key)
  when none is open there, and counts one wait for its shop and day;
* a shop reply (``agent``, or ``bot`` on ``pdd``, the default platform) closes the open wait,
  counts one response for the shop and the day the wait started, and one breach if it came
  more than ``WINDOW_MS`` after the start;
* everything else (other events, other senders, ads, peers, broken lines) changes nothing.

The day is the wait start's date at +08:00 (a day number). Both peers decode a record with
``classify`` and name a shop-day with ``shop_day``; the state they keep (the open wait per
conversation, three counters per shop-day) is theirs, in their framework's keyed state.
``expected_counters`` is the same definition as a plain loop, to check a peer's final counters
against: a peer that dropped or double-counted records cannot pass for a fast one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

WINDOW_MS = 300_000  # the default 5-minute window
DAY_MS = 86_400_000
OFFSET_MS = 8 * 3_600_000  # Asia/Shanghai has no daylight saving time

OPEN, REPLY = 1, 2
WAITS, BREACHED, RESPONSES = 0, 1, 2  # positions in a shop-day's counters

Counters = dict[str, list[int]]  # "shop|day" -> [waits, breached, responses]


def ts_ms(value: Any) -> int:
    """Event time in epoch milliseconds from an int or an RFC 3339 string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return round(datetime.fromisoformat(value).timestamp() * 1000)
    raise ValueError(f"bad ts {value!r}")


def classify(value: bytes) -> tuple[str, int, int] | None:
    """``(shop_id, ts_ms, OPEN | REPLY)`` for a record that can open or close a wait, else None."""
    try:
        event = orjson.loads(value)
        if event.get("type") != "message":
            return None
        sender, shop = event.get("sender"), event["shop_id"]
        if not isinstance(shop, str) or not isinstance(event["buyer_id"], str):
            return None
        if sender == "buyer":
            if event.get("buyer_kind", "customer") != "customer":
                return None
            kind = OPEN
        elif sender == "agent" or (sender == "bot" and event.get("platform", "pdd") == "pdd"):
            kind = REPLY
        else:
            return None
        return shop, ts_ms(event["ts"]), kind
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None


def shop_day(shop: str, start_ms: int) -> str:
    """The counters' key: shop and the local day number of a wait's start."""
    return f"{shop}|{(start_ms + OFFSET_MS) // DAY_MS}"


def expected_counters(records: Iterable[tuple[bytes, bytes]]) -> Counters:
    """The counters every peer must end with, from ``(key, value)`` records in topic order."""
    open_waits: dict[bytes, int] = {}
    counters: Counters = {}
    for key, value in records:
        event = classify(value)
        if event is None:
            continue
        shop, ts, kind = event
        if kind == OPEN:
            if key not in open_waits:
                open_waits[key] = ts
                counters.setdefault(shop_day(shop, ts), [0, 0, 0])[WAITS] += 1
        elif key in open_waits:
            start = open_waits.pop(key)
            counts = counters[shop_day(shop, start)]
            counts[RESPONSES] += 1
            counts[BREACHED] += ts - start > WINDOW_MS
    return counters


def mismatch(got: Counters, want: Counters) -> str | None:
    """None when the counters are equal, else a short description of the first differences."""
    if got == want:
        return None
    wrong = sorted(k for k in want.keys() | got.keys() if got.get(k) != want.get(k))
    shown = ", ".join(f"{k}: {got.get(k)} != {want.get(k)}" for k in wrong[:3])
    return f"{len(wrong)} of {len(want)} shop-days differ ({shown})"


class Span:
    """Wall time from the first record a peer handled to the last one."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    def tick(self, n: int = 1) -> None:
        """``n`` more records handled now."""
        now = time.perf_counter()
        if not self.count:
            self.first = now
        self.count += n
        self.last = now

    @property
    def seconds(self) -> float:
        """From the first tick to the last."""
        return self.last - self.first
