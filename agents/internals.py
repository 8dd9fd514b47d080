"""Every place chatwatch relies on faust's or aiokafka's internals, in one module.

faust and aiokafka are pinned (pyproject.toml), but an upgrade may rename what is reached
here. :data:`PRIVATE_NAMES` lists each private name used, on which class; :func:`missing`
checks them all and ``tests/unit/test_internals.py`` fails naming the one that is gone, so an
upgrade breaks a unit test, not a worker on Double 11. At run time each install function
also checks its names and falls back to faust's own path when one is missing.

Three seams live here:

1. **A batched drain of the events topic** (:func:`install_drain`).
   A batched fast path from faust's Kafka consumer to the pipeline, for one topic.

   Why it exists: faust hands every record to its agents one at a time. Per record the consumer
   awaits ``wait_first(callback, suspend_flow.wait())`` (two tasks and a future), the conductor
   takes flow control and the producer's back-pressure gate, decodes into an ``Event``, queues
   it, and the stream takes it out again, sets the current event and acks the previous one. On
   two cores that machinery costs about 85 µs per record: a worker whose agent does *nothing*
   drains about 12,000 records/s while a plain aiokafka consumer reads about 580,000/s from the
   same broker (``docs/performance.md``). The chatwatch work itself costs about 20 µs.

   So for the events topic this module replaces the consumer's drain loop: it fetches batches
   exactly as faust does (same flow control, active-partition and generation checks, same
   ``max_poll_records``), hands each partition's records to a synchronous batch handler, then
   marks their offsets acknowledged the way the stream would, so faust's offset commits, gap
   handling and rebalance logic keep working unchanged. Records of any other topic (changelog
   recovery, other agents) still take faust's ordinary per-record path. The faust agent on the
   events topic stays subscribed — that is what puts the topic and its co-partitioned Table
   into the assignment — and remains the fallback when the fast path cannot be installed.
   Unlike faust's loop it applies a partition only from where its applied events end (the
   committed offset faust seeks to after each assignment, then each batch's end) and reads
   the partition again when the consumer hands out a batch that starts later
   (:class:`Positions`): faust drops records it is handed while a partition is paused, after
   the consumer has moved past them.

   The handler runs synchronously, so a batch is applied completely before the sweeper or a
   rebalance callback runs, exactly like one event was before.

2. **Durability guards** (:func:`install_durability`).
   Three guards on faust's consumer so that state survives a stop and a restart intact.

   1. **Offsets never run ahead of the changelog.** Table writes and output records are queued
      with ``send_soon`` on faust's producer buffer. Before it commits offsets, faust flushes that
      buffer, but the flush gives up as soon as one record takes longer than 0.1 s to be handed
      to the Kafka client (a metadata refresh, a full batch) and the commit then goes ahead with
      records still queued. Stopped right then, the worker has committed events whose table rows
      were never written. :func:`install` makes every commit - the periodic one and the final one
      of a graceful stop - wait until the buffer is empty and the client has delivered it.

   2. **Recovery reads the changelog to its last record.** faust restores a Table until it has
      read up to the end offset the broker reports for each changelog partition. The embedded
      broker (Tansu 0.6, memory engine) reports the base offset of the partition's last record
      batch plus one, not the last record's offset plus one: when the last batch held several
      rows, recovery stopped early and the rows after the first one of that batch were lost on
      restart (a SIGTERM test saw 4 of 5 conversations come back). :func:`true_end_offsets`
      reads the last batch to find the real end; on Apache Kafka it returns what was reported.

   3. **Recovery never seeks below offset 0.** faust starts changelog recovery at the earliest
      offset minus one and maps only -1 to 0. During rebalance storms on the embedded broker
      it asked for -2 and its recovery crashed the worker (``Offset must be a positive
      integer``, five times in a 600 s chaos run). An earliest offset the broker answers as
      -1 is read as 0, and any seek below 0 reads the partition from its start (logged).

3. **Small accessors**: :func:`as_partition` (Table writes outside an agent),
   :func:`producer_client` (the aiokafka producer under faust's), :func:`committed_offset`,
   and :func:`group_coordinator` / :func:`watch_heartbeats` for the write fence
   (``agents/fencing.py``: writes only while the group membership is confirmed), and
   :func:`pending_group_error` (a group join the broker refused for good).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MethodType
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

log = logging.getLogger(__name__)

# (module, class, attribute): every private name of faust and aiokafka used below.
PRIVATE_NAMES: tuple[tuple[str, str, str], ...] = (
    ("faust.streams", "", "_current_event"),
    ("faust.transport.consumer", "Consumer", "_wait_next_records"),
    ("faust.transport.consumer", "Consumer", "_to_message"),
    ("faust.transport.consumer", "Consumer", "_drain_messages"),
    ("faust.transport.consumer", "Consumer", "_commit_offsets"),
    ("faust.transport.consumer", "Consumer", "_acked"),
    ("faust.transport.consumer", "Consumer", "_acked_index"),
    ("faust.transport.consumer", "Consumer", "_read_offset"),
    ("faust.transport.consumer", "Consumer", "_committed_offset"),
    ("faust.transport.consumer", "Consumer", "_n_acked"),
    ("faust.transport.consumer", "Consumer", "_commit_every"),
    ("faust.transport.consumer", "Consumer", "_buffered_partitions"),
    ("faust.transport.consumer", "Consumer", "_stopped"),
    ("faust.transport.drivers.aiokafka", "Producer", "_ensure_producer"),
    ("faust.transport.consumer", "ThreadDelegateConsumer", "_thread"),
    ("faust.transport.drivers.aiokafka", "AIOKafkaConsumerThread", "_ensure_consumer"),
    ("aiokafka.consumer.consumer", "AIOKafkaConsumer", "_coordinator"),
    ("aiokafka.consumer.consumer", "AIOKafkaConsumer", "_fetcher"),
    ("aiokafka.consumer.fetcher", "Fetcher", "_fetch_max_wait_ms"),
    ("aiokafka.consumer.group_coordinator", "GroupCoordinator", "_do_heartbeat"),
    ("aiokafka.consumer.group_coordinator", "GroupCoordinator", "_pending_exception"),
)


def missing() -> list[str]:
    """The names of :data:`PRIVATE_NAMES` that the installed faust/aiokafka lack."""
    import importlib

    gone: list[str] = []
    for module_name, cls_name, attr in PRIVATE_NAMES:
        where = f"{module_name}.{cls_name + '.' if cls_name else ''}{attr}"
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            gone.append(where)
            continue
        owner: Any = getattr(module, cls_name, None) if cls_name else module
        if owner is None or not _has(owner, attr):
            gone.append(where)
    return gone


def _has(owner: Any, attr: str) -> bool:
    """Whether a class (or module) defines ``attr``, as a class attribute or in ``__init__``."""
    if hasattr(owner, attr):
        return True
    import inspect

    for klass in getattr(owner, "__mro__", ()):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            source = inspect.getsource(init)
        except (OSError, TypeError):
            continue
        if f"self.{attr}" in source:
            return True
    return False


# --- 1. batched drain ---------------------------------------------------------------------------

log = logging.getLogger(__name__)


BatchHandler = Callable[[int, Sequence[Any]], None]


class Positions:
    """Where the next record of each events partition must start for it to be applied.

    Set from the offsets faust seeks to after each assignment (the group's committed
    offsets: the state restored from the changelog holds every event before them) and moved
    past each applied batch. Valid only in the consumer generation that set them: after a
    rebalance nothing of a partition is applied until faust has sought it again.

    Why: the consumer hands out records and moves its fetch position before faust decides
    whether to deliver them, and several of faust's checks then drop them without rewinding
    (a partition paused for recovery, flow stopped for a rebalance, a generation that
    changed; aiokafka returns every partition's prefetched records when the set of active
    partitions it is given happens to be empty). Records dropped between a partition's seek
    to its committed offset and its first delivered batch were never applied, and the later
    ones were (chaos runs lost a few seconds of events of a partition after a rebalance, or
    applied them after later ones, out of order). A batch that does not start where the
    partition's applied events end is therefore not applied: the partition is read again
    from where they end.
    """

    UNKNOWN = object()  # not sought in this generation

    def __init__(self) -> None:
        self._next: dict[TP, tuple[int, int | None]] = {}  # tp -> (generation, offset)
        self._rewound: dict[TP, tuple[int, int]] = {}

    def sought(self, generation: int, offsets: Mapping[TP, int | None]) -> None:
        """faust sought these partitions to these offsets (None: no committed offset)."""
        for tp, offset in offsets.items():
            self._next[tp] = (generation, offset if offset is not None and offset >= 0
                              else None)
            self._rewound.pop(tp, None)

    def next(self, tp: TP, generation: int) -> Any:
        """The offset the next applied record of ``tp`` must have.

        None: any (nothing was committed, the consumer starts at the log's start);
        :attr:`UNKNOWN`: not sought in ``generation``, apply nothing.
        """
        entry = self._next.get(tp)
        if entry is None or entry[0] != generation:
            return self.UNKNOWN
        return entry[1]

    def applied(self, tp: TP, generation: int, next_offset: int) -> None:
        """Records of ``tp`` before ``next_offset`` were applied."""
        self._next[tp] = (generation, next_offset)
        self._rewound.pop(tp, None)

    def rewind_failed(self, tp: TP) -> None:
        """The seek :meth:`rewind` asked for did not happen: ask again next time."""
        self._rewound.pop(tp, None)

    def rewind(self, tp: TP, generation: int, offset: int) -> bool:
        """Whether to read ``tp`` again from ``offset``.

        False once it was: the log itself has no record there (a transaction marker, a
        compacted record), and the batch is applied from where it starts.
        """
        if self._rewound.get(tp) == (generation, offset):
            return False
        self._rewound[tp] = (generation, offset)
        return True


def install_drain(consumer: Any, topic: str, handler: BatchHandler, *,
            after_batch: Callable[[], Awaitable[None]] | None = None) -> bool:
    """Make ``consumer`` (a faust consumer) deliver ``topic`` in batches to ``handler``.

    ``handler(partition, records)`` gets the records of one partition in offset order and must
    apply them all before it returns; ``after_batch()`` is awaited after each handler call and
    before the batch's offsets are acknowledged (the state writes and records it caused go out
    first; the Kafka client's send path is also the back-pressure). Every batch handed over
    continues exactly where the partition's applied records end (:class:`Positions`).
    Returns False (and leaves faust alone) when the consumer lacks the internals this relies
    on, e.g. after a faust upgrade.
    """
    needed = ("_wait_next_records", "_to_message", "_acked", "_acked_index", "_read_offset",
              "_committed_offset", "callback", "highwater", "flow_active", "seek",
              "seek_to_committed")
    missing = [name for name in needed if not hasattr(consumer, name)]
    if missing:
        log.warning("batched consumption not installed (faust consumer lacks %s); "
                    "events take faust's per-record path", ", ".join(missing))
        return False
    positions = Positions()
    seek_to_committed: Callable[[], Awaitable[Mapping[Any, int | None]]] = \
        consumer.seek_to_committed
    app = consumer.app

    async def _seek_to_committed() -> Mapping[Any, int | None]:
        generation = app.consumer_generation_id
        committed = await seek_to_committed()
        offsets: dict[TP, int | None] = {TP(tp.topic, tp.partition): offset
                                         for tp, offset in committed.items()
                                         if tp.topic == topic}
        # Nothing committed: the consumer starts where the log starts (auto_offset_reset
        # earliest), so that is where the partition's first batch must start.
        fresh = [tp for tp, offset in offsets.items() if offset is None]
        if fresh:
            with contextlib.suppress(Exception):  # unknown: the first batch is taken as is
                offsets.update(await consumer.earliest_offsets(*fresh))
        # aiokafka seeks only to a committed offset above 0: a partition with none (or 0)
        # keeps the fetch position its prefetched records left, and records fetched before
        # this seek are dropped (not sought yet). Seek those back to where they start.
        unsought = [tp for tp, offset in committed.items()
                    if tp.topic == topic and not (offset and offset > 0)]
        if app.consumer_generation_id != generation:
            return committed
        for tp in unsought:
            start = offsets.get(TP(tp.topic, tp.partition))
            await consumer.seek(tp, start if start is not None and start > 0 else 0)
        if app.consumer_generation_id == generation:
            positions.sought(generation, offsets)
        return committed

    consumer.seek_to_committed = _seek_to_committed
    consumer._drain_messages = MethodType(
        _make_drain(topic, handler, after_batch, positions), consumer)
    return True


def _make_drain(topic: str, handler: BatchHandler,
                after_batch: Callable[[], Awaitable[None]] | None,
                positions: Positions) -> Callable[..., Any]:
    async def drain(self: Any, fetcher: Any) -> None:  # pragma: no cover - runs in the worker
        callback = self.callback
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        read_offset = self._read_offset
        commit_every = self._commit_every
        app = self.app
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                records, active = await self._wait_next_records(1.0)
                await asyncio.sleep(0)  # let the web server and timers in between fetches
                if not records or self.should_stop:
                    continue
                generation = app.consumer_generation_id
                for tp, batch in records.items():
                    # faust's checks, once per partition batch instead of once per record
                    if not self.flow_active or app.consumer_generation_id != generation:
                        break
                    if active is not None and tp not in active \
                            and tp not in self._buffered_partitions:
                        continue
                    app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    if tp.topic == topic:
                        await _apply(self, tp, batch, generation)
                        continue
                    last = read_offset[tp]
                    if last is not None:
                        batch = [r for r in batch if r.offset >= last]
                    for record in batch:  # faust's own path, one record at a time
                        await self.wait_first(callback(self._to_message(tp, record)),
                                              self.suspend_flow.wait())
                        read_offset[tp] = record.offset
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise

    async def _apply(self: Any, tp: TP, batch: Sequence[Any], generation: int) -> None:
        expected = positions.next(tp, generation)
        if expected is Positions.UNKNOWN:
            # fetched before this assignment's seek to the committed offset, which rewinds
            return
        if expected is not None:
            batch = [r for r in batch if r.offset >= expected]
            if not batch:
                return
            if batch[0].offset > expected and positions.rewind(tp, generation, expected):
                log.info("%s/%d: fetched records start at offset %d but the partition's "
                         "applied events end before %d (records dropped by the consumer): "
                         "reading again from %d", tp.topic, tp.partition, batch[0].offset,
                         expected, expected)
                try:
                    await self.seek(tp, expected)
                except Exception as exc:  # e.g. no longer assigned: a rebalance seeks it anew
                    log.warning("%s/%d: seek to %d failed (%r); tried again with the next "
                                "batch", tp.topic, tp.partition, expected, exc)
                    positions.rewind_failed(tp)
                return
        first = batch[0].offset if expected is None else expected
        handler(tp.partition, batch)
        positions.applied(tp, generation, batch[-1].offset + 1)
        if after_batch is not None:
            await after_batch()
        if self.app.consumer_generation_id != generation:
            # a rebalance during the flush: faust forgot this generation's acknowledgements,
            # and the partition is read again from its committed offset wherever it goes
            return
        _ack_range(self, tp, first, batch[-1].offset)
        self._read_offset[tp] = batch[-1].offset

    return drain


def _ack_range(consumer: Any, tp: TP, first: int, last: int) -> None:
    """Acknowledge offsets ``first..last`` as the stream would, one by one.

    Offsets the broker skipped (transaction markers, compaction) are acknowledged too, as
    faust's gap tracking would; otherwise the commit could never move past them.
    """
    committed = consumer._committed_offset[tp]
    if committed is not None and first < committed:
        first = committed
    if first > last:
        return
    offsets = range(first, last + 1)
    index = consumer._acked_index[tp]
    index.update(offsets)
    consumer._acked[tp].extend(offsets)
    consumer._n_acked += len(offsets)


# --- 2. durability guards -----------------------------------------------------------------------

log = logging.getLogger(__name__)

ClientFactory = Callable[[], AIOKafkaConsumer]


async def flush_producer(app: Any) -> None:
    """Wait until faust's producer buffer is empty and the Kafka client has sent it all."""
    producer = app.producer
    buffer = producer.buffer
    # ProducerBuffer.flush returns early when one record takes > 0.1 s; go on until empty.
    while buffer.size and not buffer.should_stop:
        await buffer.flush()
    await producer.flush()


async def true_end_offsets(ends: Mapping[Any, int | None], client: ClientFactory,
                           timeout: float = 5.0,
                           keep_unconfirmed: bool = True) -> dict[Any, int | None]:
    """The end offsets ``ends`` (as a broker reported them) corrected to last record + 1.

    Each non-empty partition is read from ``end - 1``: a fetch returns the whole batch that
    holds that offset, so the last record read gives the real end. Partitions that return
    nothing within ``timeout`` keep the reported end, or get None with ``keep_unconfirmed``
    False (a caller that must not act on an end it could not confirm).
    """
    out = dict(ends)
    probe = {TopicPartition(tp.topic, tp.partition): (tp, end)
             for tp, end in ends.items() if end}
    if not probe:
        return out
    consumer = client()
    await consumer.start()
    try:
        consumer.assign(list(probe))
        for ktp, (_, end) in probe.items():
            consumer.seek(ktp, end - 1)
        waiting = set(probe)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while waiting and loop.time() < deadline:
            batch = await consumer.getmany(*waiting, timeout_ms=200)
            for ktp, records in batch.items():
                if records:
                    tp, end = probe[ktp]
                    out[tp] = max(end, records[-1].offset + 1)
                    waiting.discard(ktp)
        if waiting:
            log.warning("end offsets of %d partitions not confirmed within %.0f s; %s",
                        len(waiting), timeout,
                        "using the broker's" if keep_unconfirmed else "left unknown")
            if not keep_unconfirmed:
                for ktp in waiting:
                    out[probe[ktp][0]] = None
    finally:
        await consumer.stop()
    corrected = {tp: (end, out[tp]) for tp, end in ends.items()
                 if out[tp] is not None and out[tp] != end}
    if corrected:
        log.info("broker under-reported %d end offsets; corrected: %s", len(corrected),
                 ", ".join(f"{tp.topic}/{tp.partition} {a}->{b}"
                           for tp, (a, b) in sorted(corrected.items())))
    return out


def recovery_seeks(partitions: Mapping[Any, int | None]) -> dict[Any, int]:
    """The changelog offsets recovery may seek to: below 0 or unknown (None) reads from 0.

    During back-to-back rebalances faust asks to seek below 0 (the embedded broker answers -1
    for some earliest offsets) or to an offset it has lost track of (None, the next
    assignment reset it). Either crashed recovery, and the worker with it; reading those
    changelog partitions from their start restores the same rows, only later.
    """
    odd = {tp: offset for tp, offset in partitions.items() if offset is None or offset < 0}
    if odd:
        log.warning("recovery asked to seek below offset 0 or to an unknown offset (%s); "
                    "reading those changelog partitions from their start", ", ".join(
                        f"{tp.topic}/{tp.partition}@{offset}"
                        for tp, offset in sorted(odd.items())))
    return {tp: 0 if offset is None else max(0, offset) for tp, offset in partitions.items()}


def install_durability(consumer: Any, app: Any, client: ClientFactory) -> bool:
    """Apply both guards to a faust consumer; False (faust left alone) if it lacks the hooks."""
    missing = [name for name in ("_commit_offsets", "highwaters") if not hasattr(consumer, name)]
    if missing:
        log.warning("durability guards not installed (faust consumer lacks %s)",
                    ", ".join(missing))
        return False
    commit_offsets: Callable[..., Awaitable[bool]] = consumer._commit_offsets
    highwaters: Callable[..., Awaitable[Mapping[Any, int]]] = consumer.highwaters

    async def _commit_offsets(offsets: Mapping[Any, int], *args: Any, **kwargs: Any) -> bool:
        await flush_producer(app)
        return await commit_offsets(offsets, *args, **kwargs)

    async def _highwaters(*tps: Any) -> Mapping[Any, int | None]:
        return await true_end_offsets(await highwaters(*tps), client)

    earliest_offsets: Callable[..., Awaitable[Mapping[Any, int | None]]] = \
        consumer.earliest_offsets
    seek_wait: Callable[[Mapping[Any, int]], Awaitable[None]] = consumer.seek_wait

    async def _earliest_offsets(*tps: Any) -> Mapping[Any, int | None]:
        found = await earliest_offsets(*tps)
        return {tp: None if offset is None else max(0, offset) for tp, offset in found.items()}

    async def _seek_wait(partitions: Mapping[Any, int | None]) -> None:
        await seek_wait(recovery_seeks(partitions))

    consumer._commit_offsets = _commit_offsets
    consumer.highwaters = _highwaters
    consumer.earliest_offsets = _earliest_offsets
    consumer.seek_wait = _seek_wait
    return True


# --- 3. accessors --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True, weakref_slot=True)
class _PartitionEvent:
    message: _Message


@contextlib.contextmanager
def as_partition(topic: str, partition: int) -> Iterator[None]:
    """Let Table writes outside an agent land in ``partition`` of the changelog.

    faust routes a Table write to the changelog (and the RocksDB column) of the partition of
    the *current event*, and refuses writes when there is none — as in a timer. The sweeper
    knows exactly which partition each conversation belongs to, so it names it here.
    """
    from faust.streams import _current_event

    stand_in = _PartitionEvent(_Message(topic, partition))
    token = _current_event.set(weakref.ref(stand_in))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


def producer_client(app: Any) -> Any:
    """The aiokafka producer under faust's (record batches go straight to it)."""
    return app.producer._ensure_producer()


def committed_offset(consumer: Any, tp: TP) -> int | None:
    """The committed offset faust sought to for ``tp`` after the assignment, if any."""
    offset: int | None = consumer._committed_offset.get(tp)
    return offset


def fetch_view_ms(app: Any, tp: TP) -> int | None:
    """When the broker last answered a fetch of ``tp`` (wall ms), or None if unknown.

    aiokafka stamps it together with the highwater it reads from the same answer, so
    :meth:`highwater` describes the log as it was then. A plain attribute of the aiokafka
    consumer, safe to read from the app's loop.
    """
    try:
        stamp: int | None = app.consumer._thread._ensure_consumer().last_poll_timestamp(
            TopicPartition(tp.topic, tp.partition))
    except Exception:  # not assigned (any more), consumer not started: no view
        return None
    return stamp


def shorten_fetch_wait(app: Any, wait_ms: int) -> bool:
    """Let the broker hold a fetch with nothing to return ``wait_ms`` at most (faust: 1,500).

    A quiet partition's view of the log (:func:`fetch_view_ms`) is then at most that old, and
    the sweeper declares its breaches at most that much later. False if the consumer is not
    there yet.
    """
    try:
        app.consumer._thread._ensure_consumer()._fetcher._fetch_max_wait_ms = wait_ms
    except Exception:  # not started yet: try again on the next sweep
        return False
    return True


def group_coordinator(app: Any) -> Any:
    """The aiokafka group coordinator of faust's consumer (its generation and member id).

    faust runs the aiokafka consumer in a thread of its own; the coordinator's ``generation``
    and ``member_id`` are plain attributes, safe to read from the app's loop.
    """
    return app.consumer._thread._ensure_consumer()._coordinator


def pending_group_error(app: Any) -> BaseException | None:
    """The error aiokafka's group coordinator keeps for the consumer's next fetch, if any.

    A group join the broker refuses for good (a session timeout outside its bounds, a group
    the worker may not read) is logged once and kept there; faust fetches only for assigned
    partitions, so nothing else ever raises it. None while the consumer is not started.
    """
    try:
        coordinator = group_coordinator(app)
    except Exception:  # noqa: BLE001 - ConsumerNotStarted, or a faust without the thread
        return None
    error = getattr(coordinator, "_pending_exception", None)
    return error if isinstance(error, BaseException) else None


def watch_heartbeats(coordinator: Any, confirmed: Callable[[float], None]) -> None:
    """Call ``confirmed(sent_at)`` (``time.monotonic``) after every accepted heartbeat.

    ``sent_at`` is when the heartbeat was sent: the broker received it later, so the group
    keeps this member at least until ``sent_at`` plus the session timeout. A heartbeat
    answered "rebalancing" counts (the member stays in the group through the rebalance).
    Installed once per coordinator.
    """
    if getattr(coordinator, "_chatwatch_watched", False):
        return
    import time

    beat: Callable[[], Awaitable[bool]] = coordinator._do_heartbeat

    async def _do_heartbeat() -> bool:
        sent_at = time.monotonic()
        ok = await beat()
        if ok:
            confirmed(sent_at)
        return ok

    coordinator._do_heartbeat = _do_heartbeat
    coordinator._chatwatch_watched = True
