"""The worker's table store: what the memory and RocksDB forms hold (agents/app.py).

The memory store keeps the engine's own row objects, the changelog gets the encoded rows;
both are keyed by the encoded conversation id, as faust's recovery keys them, so that a row
or tombstone recovered from the changelog replaces the one it follows.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from agents.app import TableStore
from agents.pipeline import encode_row, row_of
from stream.core.rows import Conversation


class _Changelog:
    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes, bytes | None]] = []

    def add(self, partition: int, key: bytes, value: bytes | None) -> None:
        self.sent.append((partition, key, value))


def _store(keep_objects: bool) -> tuple[TableStore, dict[Any, Any], _Changelog]:
    data: dict[Any, Any] = {}
    changelog = _Changelog()
    store = TableStore(SimpleNamespace(data=data), "chat.events", changelog,  # type: ignore[arg-type]
                       keep_objects=keep_objects)
    return store, data, changelog


def _row(partition: int, seq: int = 1) -> Conversation:
    return Conversation(shop_id="s1", buyer_id="b1", platform="pdd", partition=partition,
                        seq=seq, latest_ts=1_000 * seq)


def test_memory_store_keeps_the_engines_object_under_the_encoded_key() -> None:
    store, data, changelog = _store(keep_objects=True)
    row = _row(3)
    store.put(3, "s1:b1", row)
    assert list(data) == [b"s1:b1"] and data[b"s1:b1"] is row  # the object, not a copy
    assert changelog.sent == [(3, b"s1:b1", encode_row(row))]
    # a row recovered from the changelog lands on the same key and replaces the object
    newer = _row(3, seq=5)
    data[b"s1:b1"] = encode_row(newer)
    assert row_of(data[b"s1:b1"]) == newer
    store.delete(3, "s1:b1")
    assert data == {}
    assert changelog.sent[-1] == (3, b"s1:b1", None)


def test_rocksdb_form_keeps_encoded_rows() -> None:
    store, data, _ = _store(keep_objects=False)
    row = _row(1)
    store.put(1, "s1:b1", row)
    assert data == {b"s1:b1": encode_row(row)}
    store.delete(1, "s1:b1")
    assert data == {}
