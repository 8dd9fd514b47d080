"""A batched fast path from faust's Kafka consumer to the pipeline, for one topic.

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

The handler runs synchronously, so a batch is applied completely before the sweeper or a
rebalance callback runs, exactly like one event was before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import MethodType
from typing import Any, Protocol

from faust.types import TP

log = logging.getLogger(__name__)


class KafkaRecord(Protocol):
    """What the handler reads of a fetched record (aiokafka's ``ConsumerRecord``)."""

    offset: int
    key: bytes | None
    value: bytes


BatchHandler = Callable[[int, Sequence[Any]], None]


def install(consumer: Any, topic: str, handler: BatchHandler, *,
            after_batch: Callable[[], Awaitable[None]] | None = None) -> bool:
    """Make ``consumer`` (a faust consumer) deliver ``topic`` in batches to ``handler``.

    ``handler(partition, records)`` gets the records of one partition in offset order and must
    apply them all before it returns; ``after_batch()`` is awaited after each handler call and
    before the batch's offsets are acknowledged (the state writes and records it caused go out
    first; the Kafka client's send path is also the back-pressure).
    Returns False (and leaves faust alone) when the consumer lacks the internals this relies
    on, e.g. after a faust upgrade.
    """
    needed = ("_wait_next_records", "_to_message", "_acked", "_acked_index", "_read_offset",
              "_committed_offset", "callback", "highwater", "flow_active")
    missing = [name for name in needed if not hasattr(consumer, name)]
    if missing:
        log.warning("batched consumption not installed (faust consumer lacks %s); "
                    "events take faust's per-record path", ", ".join(missing))
        return False
    consumer._drain_messages = MethodType(
        _make_drain(topic, handler, after_batch), consumer)
    return True


def _make_drain(topic: str, handler: BatchHandler,
                after_batch: Callable[[], Awaitable[None]] | None) -> Callable[..., Any]:
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
                    last = read_offset[tp]
                    if last is not None:
                        batch = [r for r in batch if r.offset >= last]
                    if not batch:
                        continue
                    if tp.topic == topic:
                        handler(tp.partition, batch)
                        if after_batch is not None:
                            await after_batch()
                        first = batch[0].offset
                        _ack_range(self, tp, first if last is None else min(first, last + 1),
                                   batch[-1].offset)
                        read_offset[tp] = batch[-1].offset
                    else:
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
