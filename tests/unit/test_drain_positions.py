"""The batched drain applies every events partition from where its applied events end.

The chaos run (seed 90001) lost events after rebalances: the consumer had handed out, and
faust had dropped, the first records after a partition's committed offset (the partition was
still paused for recovery when aiokafka returned them), so the first batch the worker applied
started tens of records later (committed 427, first applied 503). Those events were lost, or
applied later after the ones that followed them. The drain now refuses a batch that does not
continue the partition and reads it again from the right offset.

The consumer here is scripted: the drain (``agents.internals``) runs on it as on faust's.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from faust.types import TP

from agents import internals

TOPIC = "chat.events"


@dataclass
class Record:
    offset: int
    key: bytes = b"k"
    value: bytes = b"{}"


class _Monitor:
    def track_tp_end_offset(self, tp: TP, offset: Any) -> None:
        pass


class _App:
    def __init__(self) -> None:
        self.consumer_generation_id = 1
        self.monitor = _Monitor()
        self.should_stop = False


class ScriptedConsumer:
    """The parts of faust's consumer the drain uses; fetches come from ``script``.

    ``script`` holds what each fetch returns: ``{tp: [offsets]}``, or a callable run in its
    place (a rebalance, a seek to the committed offsets).
    """

    consumer_stopped_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, script: list[Any], committed: dict[TP, int | None]) -> None:
        self.app = _App()
        self.transport = self
        self.script: Iterator[Any] = iter(script)
        self.committed = committed
        self._stopped = asyncio.Event()
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self._n_acked = 0
        self._commit_every = None
        self._buffered_partitions: set[TP] = set()
        self.flow_active = True
        self.should_stop = False
        self.seeks: list[tuple[TP, int]] = []
        self.callback = None
        self.earliest: int | None = 0
        self.seek_fails = 0

    async def _wait_next_records(self, timeout: float) -> tuple[dict[TP, list[Record]], None]:
        for step in self.script:
            if callable(step):
                await step(self)
                continue
            return {tp: [Record(o) for o in offsets] for tp, offsets in step.items()}, None
        self._stopped.set()
        return {}, None

    def highwater(self, tp: TP) -> int:
        return 0

    def _to_message(self, tp: TP, record: Record) -> Record:
        return record

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        if self.seek_fails:
            self.seek_fails -= 1
            raise RuntimeError("not assigned")

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return dict(self.committed)

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int | None]:
        return {tp: self.earliest for tp in tps}

    async def commit(self) -> None:
        pass


def drain(consumer: ScriptedConsumer, handler: Any,
          after_batch: Any = None) -> None:
    """Run the drain on ``consumer`` until its script is done."""
    assert internals.install_drain(consumer, TOPIC, handler, after_batch=after_batch)

    class _Fetcher:
        _stopped = asyncio.Event()

    asyncio.run(asyncio.wait_for(consumer._drain_messages(_Fetcher()), 5))


def run_drain(script: list[Any], committed: dict[TP, int | None]
              ) -> tuple[list[tuple[int, list[int]]], ScriptedConsumer]:
    applied: list[tuple[int, list[int]]] = []
    consumer = ScriptedConsumer(script, committed)
    drain(consumer, lambda p, rs: applied.append((p, [r.offset for r in rs])))
    return applied, consumer


async def seek_to_committed(consumer: ScriptedConsumer) -> None:
    """What faust does once a partition's state is restored (``perform_seek``)."""
    await consumer.seek_to_committed()


def new_generation(generation: int) -> Any:
    async def rebalance(consumer: ScriptedConsumer) -> None:
        consumer.app.consumer_generation_id = generation
    return rebalance


P3 = TP(TOPIC, 3)


def test_a_batch_past_the_committed_offset_is_not_applied_but_read_again() -> None:
    # records 427..502 were handed out and dropped while the partition was paused
    applied, consumer = run_drain(
        [seek_to_committed, {P3: range(503, 535)}, {P3: range(427, 535)}], {P3: 427})
    assert applied == [(3, list(range(427, 535)))]
    assert consumer.seeks == [(P3, 427)]
    assert consumer._acked[P3] == list(range(427, 535))


def test_nothing_is_applied_before_the_assignment_sought_the_committed_offset() -> None:
    # fetched by a new generation before faust sought its partitions: dropped, the seek rewinds
    applied, _ = run_drain([new_generation(2), {P3: range(503, 535)}, seek_to_committed,
                            {P3: range(427, 440)}], {P3: 427})
    assert applied == [(3, list(range(427, 440)))]


def test_batches_continue_and_redelivered_records_are_skipped() -> None:
    applied, consumer = run_drain(
        [seek_to_committed, {P3: range(10, 20)}, {P3: range(15, 25)}, {P3: range(25, 30)}],
        {P3: 10})
    assert applied == [(3, list(range(10, 20))), (3, list(range(20, 25))),
                       (3, list(range(25, 30)))]
    assert consumer.seeks == []
    assert consumer._acked[P3] == list(range(10, 30))


def test_a_gap_in_the_log_itself_is_accepted_after_one_reread() -> None:
    # offset 20 holds no record (a transaction marker): read again once, then applied
    applied, consumer = run_drain(
        [seek_to_committed, {P3: range(10, 20)}, {P3: range(21, 25)}, {P3: range(21, 25)}],
        {P3: 10})
    assert applied == [(3, list(range(10, 20))), (3, list(range(21, 25)))]
    assert consumer.seeks == [(P3, 20)]
    assert consumer._acked[P3] == list(range(10, 25))  # the marker's offset too


def test_a_partition_without_committed_offset_starts_where_the_log_starts() -> None:
    applied, consumer = run_drain(
        [seek_to_committed, {P3: range(3, 5)}, {P3: range(0, 5)}], {P3: None})
    assert applied == [(3, [0, 1, 2, 3, 4])]
    # sought to the log's start with the committed offsets, and again when the batch skipped
    # records (this scripted consumer does not follow seeks)
    assert consumer.seeks == [(P3, 0), (P3, 0)]


def test_a_partition_committed_at_zero_or_never_is_sought_back_to_its_start() -> None:
    # aiokafka seeks only to committed offsets above 0; records a new generation prefetched
    # before the seek are dropped (not sought yet), so without a seek of its own the
    # partition would resume after them and those events were never applied (a zombie
    # test run: 12 replies never applied after the partitions moved)
    for committed in (0, None):
        applied, consumer = run_drain(
            [new_generation(2), {P3: range(0, 8)}, seek_to_committed], {P3: committed})
        assert applied == []
        assert consumer.seeks == [(P3, 0)], committed


def test_a_partition_committed_above_zero_is_left_to_the_client_seek() -> None:
    _, consumer = run_drain([seek_to_committed], {P3: 5})
    assert consumer.seeks == []


def test_a_rebalance_during_the_flush_leaves_the_batch_unacknowledged() -> None:
    applied: list[list[int]] = []
    consumer = ScriptedConsumer([seek_to_committed, {P3: range(10, 15)}], {P3: 10})

    async def flush() -> None:
        consumer.app.consumer_generation_id = 2  # faust dropped generation 1's acks

    drain(consumer, lambda p, rs: applied.append([r.offset for r in rs]), after_batch=flush)
    assert applied == [list(range(10, 15))]
    assert not consumer._acked[P3]


def test_a_failed_seek_is_tried_again_and_nothing_is_applied_meanwhile() -> None:
    consumer = ScriptedConsumer([seek_to_committed, {P3: range(15, 20)}, {P3: range(15, 20)},
                                 {P3: range(10, 20)}], {P3: 10})
    consumer.seek_fails = 1
    applied: list[list[int]] = []
    drain(consumer, lambda p, rs: applied.append([r.offset for r in rs]))
    assert consumer.seeks == [(P3, 10), (P3, 10)]
    assert applied == [list(range(10, 20))]
