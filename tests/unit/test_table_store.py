"""The worker's table store: what the memory store holds, adopts and forgets (agents/app.py).

The memory store keeps the engine's own row objects under the engine's own id strings; the
changelog gets the encoded rows. Recovery puts encoded rows under encoded keys next to them,
and the store must hand the recovered (never older) one to the engine, then keep only the
engine's form; rows of a partition that moved away must not come back.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from agents.app import TableStore
from agents.pipeline import encode_row, row_of
from stream.core.reply_window import Conversation


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


def _row(partition: int, seq: int = 1, buyer: str = "b1") -> Conversation:
    return Conversation(shop_id="s1", buyer_id=buyer, platform="pdd", partition=partition,
                        seq=seq, latest_ts=1_000 * seq)


def test_memory_store_keeps_the_engines_object_under_its_own_key_string() -> None:
    store, data, changelog = _store(keep_objects=True)
    key = "s1:b1"
    row = _row(3)
    store.put(3, key, row)
    (stored_key, stored), = data.items()
    assert stored_key is key and stored is row  # shared, not copied
    assert changelog.sent == [(3, b"s1:b1", encode_row(row))]
    store.delete(3, key)
    assert data == {}
    assert changelog.sent[-1] == (3, b"s1:b1", None)


def test_rocksdb_form_keeps_encoded_keys_and_rows() -> None:
    store, data, _ = _store(keep_objects=False)
    row = _row(1)
    store.put(1, "s1:b1", row)
    assert data == {b"s1:b1": encode_row(row)}
    assert [(k, row_of(v)) for k, v in store.rows()] == [("s1:b1", row)]
    store.adopt(1, {"s1:b1": row})
    assert list(data) == [b"s1:b1"]  # nothing to convert in an encoded store
    store.delete(1, "s1:b1")
    assert data == {}


def test_recovered_row_is_read_after_the_object_and_then_replaces_it() -> None:
    store, data, _ = _store(keep_objects=True)
    old = _row(2, seq=1)
    store.put(2, "s1:b1", old)
    newer = _row(2, seq=5)  # what another owner wrote, read back by recovery
    data[b"s1:b1"] = encode_row(newer)
    data[b"s1:b2"] = encode_row(_row(2, seq=1, buyer="b2"))
    data[b"s1:b9"] = encode_row(_row(7, buyer="b9"))  # another partition's, not loaded yet
    rows = store.rows()
    # the recovered rows come last: a loader that lets later rows win adopts them
    assert [k for k, _ in rows] == ["s1:b1", "s1:b1", "s1:b2", "s1:b9"]
    assert row_of(rows[1][1]).seq == 5
    engine = {k: row_of(v) for k, v in rows if row_of(v).partition == 2}
    store.adopt(2, engine)
    assert set(data) == {"s1:b1", "s1:b2", b"s1:b9"}
    assert data["s1:b1"] is engine["s1:b1"] and data["s1:b1"].seq == 5
    assert data["s1:b2"] is engine["s1:b2"]
    assert isinstance(data[b"s1:b9"], bytes)


def test_forget_drops_only_the_rows_of_the_partition_that_moved() -> None:
    store, data, _ = _store(keep_objects=True)
    store.put(1, "s1:b1", _row(1))
    store.put(2, "s1:b2", _row(2, buyer="b2"))
    data[b"s1:b3"] = encode_row(_row(1, buyer="b3"))  # recovered: faust itself clears those
    store.forget(1)
    assert set(data) == {"s1:b2", b"s1:b3"}
    store.forget(2)
    assert set(data) == {b"s1:b3"}
