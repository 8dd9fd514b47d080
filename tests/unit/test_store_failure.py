"""Issue 34: a fatal error of the local store (a full disk) is recorded, named and ends the
worker; nothing is written after it (agents/store_failure.py, agents/app.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from agents.app import TableStore
from agents.store_failure import StoreFailed, StoreGuard, cause_of
from stream.core.rows import Conversation

DISK_FULL = Exception("IO error: No space left on device: While appending to file: "
                      "/data/v1/tables/000004.log: No space left on device")


class _FullDisk(dict[Any, Any]):
    def __setitem__(self, key: Any, value: Any) -> None:
        raise DISK_FULL

    def __delitem__(self, key: Any) -> None:
        raise DISK_FULL


class _Changelog:
    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes, bytes | None]] = []

    def add(self, partition: int, key: bytes, value: bytes | None) -> None:
        self.sent.append((partition, key, value))


def _row() -> Conversation:
    return Conversation(shop_id="s1", buyer_id="b1", platform="pdd", partition=1, seq=1,
                        latest_ts=1_000)


def test_causes_are_named() -> None:
    assert cause_of(DISK_FULL) == "disk full"
    assert cause_of(Exception("IO error: Read-only file system")) == "read-only file system"
    assert cause_of(Exception("Corruption: block checksum mismatch")) == "store corrupted"
    assert cause_of(ValueError("x")) == "store error (ValueError)"


def test_a_failed_write_is_fatal_named_and_nothing_follows_it() -> None:
    stops: list[str] = []
    guard = StoreGuard("/data", stop=stops.append)
    changelog = _Changelog()
    store = TableStore(SimpleNamespace(data=_FullDisk()), "chat.events",  # type: ignore[arg-type]
                       changelog, keep_objects=False, guard=guard)  # type: ignore[arg-type]
    with pytest.raises(StoreFailed, match="disk full") as failed:
        store.put(1, "s1:b1", _row())
    assert isinstance(failed.value.__cause__, Exception)
    assert changelog.sent == []  # the row that is not on disk is not sent either
    assert guard.failure is not None
    assert "disk full" in guard.failure and "No space left on device" in guard.failure
    assert "CHATWATCH_DATA_DIR=/data" in guard.failure
    assert stops == [guard.failure]  # off the loop: stopped at once
    with pytest.raises(StoreFailed):
        store.put(1, "s1:b2", _row())  # refused before touching the store
    with pytest.raises(StoreFailed):
        guard.check()


def test_a_failed_delete_is_fatal_but_a_missing_row_is_not() -> None:
    guard = StoreGuard("/data", stop=lambda reason: None)
    store = TableStore(SimpleNamespace(data={}), "chat.events",  # type: ignore[arg-type]
                       _Changelog(), guard=guard)  # type: ignore[arg-type]
    store.delete(1, "s1:nobody")  # KeyError: nothing to delete, not a failure
    assert guard.failure is None
    full = TableStore(SimpleNamespace(data=_FullDisk()), "chat.events",  # type: ignore[arg-type]
                      _Changelog(), guard=guard)  # type: ignore[arg-type]
    with pytest.raises(StoreFailed, match="disk full"):
        full.delete(1, "s1:b1")


def test_on_the_loop_the_exit_follows_after_the_grace() -> None:
    async def main() -> tuple[list[str], list[str]]:
        stops: list[str] = []
        guard = StoreGuard("/data", stop=stops.append, grace=0.05)
        guard.failed(DISK_FULL, "writing partition 1")
        guard.failed(DISK_FULL, "writing partition 2")  # the first one is the cause
        early = list(stops)
        await asyncio.sleep(0.2)
        return early, stops

    early, stops = asyncio.run(main())
    assert early == []  # /health and scrapes in flight still see the cause meanwhile
    assert len(stops) == 1 and "writing partition 1" in stops[0]
