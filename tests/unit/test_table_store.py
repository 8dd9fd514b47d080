"""The worker's row store (agents.app.TableStore): what it keeps locally in each store mode."""

from __future__ import annotations

from typing import Any

from agents.app import TableStore
from agents.pipeline import decode_row, encode_row
from stream.core.reply_window import Conversation


class Changelog:
    def __init__(self) -> None:
        self.rows: list[tuple[int, bytes, bytes | None]] = []

    def add(self, partition: int, key: bytes, value: bytes | None) -> None:
        self.rows.append((partition, key, value))


class Table:
    def __init__(self) -> None:
        self.data: dict[bytes, Any] = {}


def row(buyer: str) -> Conversation:
    return Conversation(shop_id="s1", buyer_id=buyer, platform="pdd", partition=2, seq=1)


def test_a_memory_store_sends_rows_only_to_the_changelog_and_drops_recovered_ones():
    table, changelog = Table(), Changelog()
    store = TableStore(table, "events", changelog, local=False)  # type: ignore[arg-type]
    store.put_many(2, [("s1:b1", row("b1")), ("s1:b2", row("b2"))])
    assert table.data == {}  # no second key and slot next to the engine's entry
    assert [(p, k) for p, k, _ in changelog.rows] == [(2, b"s1:b1"), (2, b"s1:b2")]
    assert decode_row(changelog.rows[0][2] or b"") == row("b1")
    # what recovery put in the store, for the loaded partition and for another one
    table.data.update({b"s1:b1": encode_row(row("b1")), b"s1:b9": encode_row(row("b9"))})
    store.loaded(["s1:b1"])
    assert list(table.data) == [b"s1:b9"]
    store.delete(2, "s1:b9")
    assert table.data == {} and changelog.rows[-1] == (2, b"s1:b9", None)


def test_a_rocksdb_store_keeps_each_encoded_row_locally():
    table, changelog = Table(), Changelog()
    store = TableStore(table, "events", changelog, local=True)  # type: ignore[arg-type]
    store.put(2, "s1:b1", row("b1"))
    assert table.data == {b"s1:b1": encode_row(row("b1"))} == {
        k: v for _, k, v in changelog.rows}
    store.loaded(["s1:b1"])  # a durable store keeps its rows
    assert list(table.data) == [b"s1:b1"]
