"""Open waits filed by the second their deadline falls in.

The engine must find, as event time (the watermark) moves on, every open wait whose deadline
it has passed. A heap of ``(deadline, conversation, seq)`` entries does that, at ~110 bytes
per open conversation (the tuple and the deadline's int). Here a wait costs one reference in
the list of its deadline's second (~9 bytes). The exact deadline is not stored: the engine
reads it from the conversation (wait start + window) when the second comes due, and an entry
whose conversation has closed its wait, or opened another one filed under a different
second, is dropped then. Entries are never removed early, as with the heap.
"""

from __future__ import annotations

import heapq


class Deadlines:
    """Conversation ids by deadline second; the seconds in a heap."""

    __slots__ = ("by_second", "seconds")

    def __init__(self) -> None:
        self.by_second: dict[int, list[str]] = {}
        self.seconds: list[int] = []  # heap of the keys of by_second

    def add(self, deadline_ms: int, conversation_id: str) -> None:
        """File a wait under the second of its deadline."""
        second = deadline_ms // 1000
        ids = self.by_second.get(second)
        if ids is None:
            ids = self.by_second[second] = []
            heapq.heappush(self.seconds, second)
        ids.append(conversation_id)

    def first_second(self) -> int | None:
        """The earliest second with entries, or None."""
        return self.seconds[0] if self.seconds else None

    def peek(self) -> list[str]:
        """The entries of the earliest second (there must be one)."""
        return self.by_second[self.seconds[0]]

    def pop(self) -> tuple[int, list[str]]:
        """Remove and return the earliest second and its entries."""
        second = heapq.heappop(self.seconds)
        return second, self.by_second.pop(second)

    def put_back(self, second: int, ids: list[str]) -> None:
        """Re-file entries of ``second`` that are not due yet."""
        self.by_second[second] = ids
        heapq.heappush(self.seconds, second)
