"""The faust application factory: topics, the conversations Table, agents, timer and web views.

``create_app(settings, broker_url)`` builds a fresh app; nothing here runs at import time, so
tests build their own apps and the worker command builds exactly one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust.types import TP
from prometheus_client import CollectorRegistry

from agents import internals, topic_declare
from agents.board.links import with_board_links
from agents.fencing import (
    EXIT_CONFIG,
    LogWatch,
    WriteFence,
    install_wake_check,
    join_refused,
    leave_now,
    probe_end_offsets,
)
from agents.metrics import ChatwatchMetrics
from agents.pipeline import AlertSink, Pipeline, encode_row, wall_clock_ms
from agents.runbook import register_runbook
from agents.series import SeriesCaps
from agents.store_failure import StoreFailed, StoreGuard
from agents.web import register_views
from stream.config import Settings
from stream.core.engine import Engine
from stream.core.reply_window import Conversation
from stream.core.score import SettledDay
from stream.listen import url_host
from stream.schema import LATEST_MS

log = logging.getLogger(__name__)


class ChangelogWriter:
    """Conversation rows to the Table's changelog, a batch per partition, through the client.

    faust sends every Table write as a message of its own through its producer buffer: a
    future, a queue hop and one awaited send each, about 25 µs a row, and on a backlog the
    buffer grows without bound (``docs/performance.md``). Rows are queued here instead and
    :meth:`flush` appends them to one Kafka record batch per partition. Callers flush before
    they acknowledge the offsets that produced the rows, so a commit (which flushes the
    client first) never covers a row that is not on its way; the lock keeps flushes in order,
    so the changelog holds every key's writes in the order they were made.
    """

    def __init__(self, app: faust.App, table: Any, guard: StoreGuard | None = None) -> None:
        self.app = app
        self.table = table
        self.guard = guard
        self.pending: dict[int, list[tuple[bytes, bytes | None]]] = {}
        self._lock = asyncio.Lock()

    def add(self, partition: int, key: bytes, value: bytes | None) -> None:
        """Queue one row (``None``: a tombstone) for the changelog partition ``partition``."""
        rows = self.pending.get(partition)
        if rows is None:
            rows = self.pending[partition] = []
        rows.append((key, value))

    async def flush(self) -> None:
        """Hand every queued row to the Kafka client (delivery is awaited by commits).

        Waits for a flush already under way even when nothing is queued: that one may hold
        the caller's rows, and the caller is about to acknowledge their offsets.
        """
        async with self._lock:
            if not self.pending:
                return
            pending, self.pending = self.pending, {}
            client = internals.producer_client(self.app)
            topic = self.table.changelog_topic.get_topic_name()
            for partition, rows in pending.items():
                batch, n = client.create_batch(), 0
                for key, value in rows:
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        await self._send(client, batch, n, topic, partition)
                        batch, n = client.create_batch(), 0
                        batch.append(key=key, value=value, timestamp=None)
                    n += 1
                await self._send(client, batch, n, topic, partition)

    async def _send(self, client: Any, batch: Any, n: int, topic: str, partition: int) -> None:
        delivered = await client.send_batch(batch, topic, partition=partition)
        tp = TP(topic, partition)

        def done(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled():
                return
            if fut.exception() is not None:
                log.error("changelog batch of %d rows to %s/%d not delivered: %r", n, topic,
                          partition, fut.exception())
                return
            # What faust records after each changelog write: RocksDB keeps the offset its
            # data is complete up to, so a restart replays only the changelog after it.
            try:
                self.table.data.set_persisted_offset(tp, fut.result().offset + n - 1)
            except Exception as exc:  # a callback's error would only be logged by asyncio
                if self.guard is None:
                    raise
                self.guard.failed(exc, f"recording the changelog offset of {topic}/{partition}")

        delivered.add_done_callback(done)


class TableStore:
    """:class:`agents.pipeline.StateStore` on a faust Table.

    Rows go to the changelog, encoded, through a :class:`ChangelogWriter`, and to the
    Table's local store. A RocksDB store keeps the encoded row (a restart then replays only
    the changelog after it). The memory store keeps the engine's own row object: the engine
    changes a row only together with queueing it for the changelog, so the object always is
    what was last written, and no second copy of every conversation is held (~120 bytes
    each). Recovery still fills the memory store with encoded rows; ``Pipeline.load_partition``
    reads both. Both stores key rows by the encoded id, as faust's recovery does, so that a
    recovered row or tombstone replaces the row it follows (keys of the engine's own id
    strings were tried and reverted: docs/performance.md).
    """

    def __init__(self, table: Any, source_topic: str, changelog: ChangelogWriter,
                 keep_objects: bool = False, guard: StoreGuard | None = None) -> None:
        self.table = table
        self.source_topic = source_topic
        self.changelog = changelog
        self.keep_objects = keep_objects
        # a fatal store error (a full disk) stops the worker instead of only its fetcher
        self.guard = guard or StoreGuard("?")

    def put(self, partition: int, key: str, row: Conversation | SettledDay) -> None:
        """Write one row (or a settled day) to the table and its changelog partition."""
        self.put_many(partition, ((key, row),))

    def put_many(self, partition: int,
                 rows: Iterable[tuple[str, Conversation | SettledDay]]) -> None:
        """Write rows that all belong to ``partition`` (one batch's changes)."""
        store = self.table.data
        add = self.changelog.add
        keep_objects = self.keep_objects
        # the RocksDB store picks the partition's database from the current event
        self.guard.check()
        with internals.as_partition(self.source_topic, partition):
            for key, row in rows:
                raw_key, raw = key.encode(), encode_row(row)
                try:
                    store[raw_key] = row if keep_objects else raw
                except Exception as exc:
                    raise self.guard.failed(exc, f"writing partition {partition}") from exc
                add(partition, raw_key, raw)

    def delete(self, partition: int, key: str) -> None:
        """Remove one row; the changelog gets a tombstone."""
        raw_key = key.encode()
        with internals.as_partition(self.source_topic, partition), contextlib.suppress(KeyError), \
                self.guard.guarding(f"deleting from partition {partition}"):
            del self.table.data[raw_key]
        self.changelog.add(partition, raw_key, None)


class TopicSink:
    """:class:`agents.pipeline.RecordSink`: output records, queued, then handed to the client.

    Like the changelog rows (:class:`ChangelogWriter`), records are queued synchronously and
    :meth:`flush` passes them to the Kafka client (its default partitioner: by key), without
    faust's per-message producer path. Unlike rows, their delivery is awaited (they are few:
    breaches and violations), so the rows of their events go out only after them.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.pending: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]] = []
        self._lock = asyncio.Lock()
        self.failed: BaseException | None = None
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()

    def send(self, topic: str, key: bytes | None, value: bytes,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        """Queue one record."""
        self.pending.append((topic, key, value, headers))

    async def flush(self) -> None:
        """Send every queued record and wait until the broker has them.

        Like :meth:`ChangelogWriter.flush`, waits for a flush already under way.
        """
        async with self._lock:
            if self.failed is not None:
                # Once a record is lost nothing may follow it out, above all not the rows
                # that would mark its event as applied (another flush may be waiting here).
                raise self.failed
            if not self.pending:
                return
            pending, self.pending = self.pending, []
            client = internals.producer_client(self.app)
            try:
                futures = await self._send_batches(client, pending)
                await asyncio.gather(*futures)
            except Exception as exc:
                self.failed = exc
                log.critical("%d output records not delivered (%r): stopping before their "
                             "events are acknowledged; a restart produces them again",
                             len(pending), exc)
                raise


    async def _send_batches(self, client: Any, pending: list[Any]) -> list[Any]:
        """Send records as one closed record batch per partition; the delivery futures.

        ``client.send`` would let each record linger in the producer (10 ms, FAUST_TUNING)
        before it goes out, and :meth:`flush` waits for delivery: a batch closed at once is
        sent at once. Partitions are chosen as the client's default partitioner does (by key).
        """
        batches: dict[tuple[str, int], Any] = {}
        futures: list[Any] = []
        for topic, key, value, headers in pending:
            partitions = self._partitions.get(topic)
            if partitions is None:
                partitions = self._partitions[topic] = sorted(await client.partitions_for(topic))
            tp = (topic, self._partitioner(key, partitions, partitions))
            batch = batches.get(tp)
            if batch is None:
                batch = batches[tp] = client.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers or []) is None:
                futures.append(await self._send(client, batch, tp))
                batch = batches[tp] = client.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers or [])
        for tp, batch in batches.items():
            futures.append(await self._send(client, batch, tp))
        return futures

    @staticmethod
    async def _send(client: Any, batch: Any, tp: tuple[str, int]) -> Any:
        batch.close()  # no linger: the caller waits for it
        return await client.send_batch(batch, tp[0], partition=tp[1])


def _credentials(settings: Settings) -> Any:
    from stream.kafka import ssl_context

    sec = settings.security
    ctx = ssl_context(sec)
    if sec.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(username=sec.sasl_username, password=sec.sasl_password,
                                     mechanism=sec.sasl_mechanism, ssl_context=ctx)
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None


# Throughput settings (docs/performance.md). faust's defaults send every Table change as its own
# produce request (linger 0) and commit every 10,000 acks; on the embedded broker that alone
# costs more than processing the event. ``broker_max_poll_records`` bounds one batch of the
# drain loop, i.e. how long the sweeper can be kept waiting while a backlog is applied
# (2,000 events at ~20 µs: 40 ms). With faust's 1 MiB per partition and fetch the worker
# waited for records a third of the time (a fetch is only sent once a partition's buffer is
# empty, and the answer takes a round trip); 4 MiB: ~20,000 -> ~30,000 events/s.
FAUST_TUNING: dict[str, Any] = {
    "producer_linger": 0.01,
    "producer_max_batch_size": 512 * 1024,
    "broker_max_poll_records": 2000,
    "consumer_max_fetch_size": 4 * 1024 * 1024,
    "broker_commit_every": 1_000_000,  # commit on the interval (2.8 s), not on a count
}


def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None


_trim = _malloc_trim()


def release_freed_memory() -> None:
    """Return memory freed after a backlog to the operating system (glibc's malloc_trim).

    Applying a backlog allocates and frees fetch buffers, decoded events and record batches
    between the rows that stay; glibc keeps most of those freed pages resident (~170 bytes
    per open conversation after 100,000 new ones, docs/performance.md). Runs in a thread:
    it takes a few milliseconds per hundred megabytes of heap.
    """
    if _trim is not None:
        _trim(0)


# The longest the broker holds a fetch with nothing to return (faust's is 1,500 ms): a quiet
# partition's view of the log is at most that old, and ``sweep_clock`` declares its breaches
# that much after deadline + skew at most (breach records within a second of the deadline).
FETCH_WAIT_MS = 200


def sweep_clock(wall_ms: int, views_ms: Iterable[int | None]) -> int:
    """The wall time a sweep may move the watermarks of caught-up partitions to.

    "Caught up" means: up to the end of the log as the last answered fetch of the partition
    showed it (``views_ms``: when each was answered). A reply the broker appended after
    that answer is not known to the worker yet, however fresh the wall clock: a chaos run
    breached a wait whose reply the broker had acknowledged 699 ms before the breach was
    declared (111 ms before a 3 s deadline; the skew tolerance is 0.5 s). So the wall clock
    counts only as far as the oldest of those views; a breach is declared at most one
    fetch wait (:data:`FETCH_WAIT_MS`) later, and not at all while fetches go unanswered (a
    hung connection).
    """
    return min([wall_ms, *(v for v in views_ms if v is not None)])


# --- the app ----------------------------------------------------------------------------------


@dataclass
class Worker:
    """The parts of a built app that tests and the CLI reach for."""

    app: faust.App
    pipeline: Pipeline
    registry: CollectorRegistry
    metrics: ChatwatchMetrics
    store_guard: StoreGuard | None = None


class _PusherMetrics:
    """Feeds the alert pusher's counts into the worker's metric bundle."""

    def __init__(self, metrics: ChatwatchMetrics) -> None:
        self.metrics = metrics

    def pushed(self, outcome: str, n: int) -> None:
        self.metrics.alerts_pushed.labels(outcome).inc(n)

    def queue_depth(self, n: int) -> None:
        self.metrics.alert_queue_depth.set(n)


def create_app(settings: Settings, broker_url: str, *, registry: CollectorRegistry | None = None,
               alerts: AlertSink | None = None) -> Worker:
    """Build the chatwatch faust app against ``broker_url``.

    With ``settings.alertmanager_url`` set (and no ``alerts`` sink given), event alerts go to
    Alertmanager through a durable spool under ``settings.data_dir``.
    """
    registry = registry or CollectorRegistry()
    fast_path: list[Any] = []  # (topic, handler), set below once the pipeline exists

    join_guard: list[Any] = []  # the group-join guard, set below

    class _App(faust.App):
        async def on_started(self) -> None:
            for guard in join_guard:  # before faust waits for the assignment and recovery
                self.add_future(guard())
            await super().on_started()

        # faust declares its topics through the first broker it lists: ask one that answers
        # (agents/topic_declare.py), so a worker starts while a broker of the cluster is down
        def _new_transport(self) -> Any:
            transport = super()._new_transport()
            topic_declare.install(transport)
            return transport

        def _new_producer_transport(self) -> Any:
            transport = super()._new_producer_transport()
            topic_declare.install(transport)
            return transport

        def _new_consumer(self) -> Any:
            consumer = super()._new_consumer()
            internals.install_durability(consumer, self, _probe_client)
            if fast_path:
                internals.install_drain(consumer, *fast_path, after_batch=flush_outputs)
            return consumer

    def _probe_client() -> Any:
        from aiokafka import AIOKafkaConsumer

        from stream.kafka import bootstrap_servers, client_kwargs

        return AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(broker_url), group_id=None,
                                enable_auto_commit=False, **client_kwargs(settings))

    app = _App(
        settings.app_id,
        broker=broker_url,
        broker_credentials=_credentials(settings),
        store=settings.store,
        datadir=settings.data_dir,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=url_host(settings.web_host),  # faust builds its URL from it: [::] for ::
        web_port=settings.web_port,
        # faust's own pages would serve any conversation row by key (/table/…, /router/…):
        # buyer ids and state. Only chatwatch's views are served.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_seconds,
        broker_rebalance_timeout=settings.rebalance_timeout_seconds,
        broker_heartbeat_interval=max(0.5, settings.session_timeout_seconds / 10),
        autodiscover=False,
        logging_config=None,
        **FAUST_TUNING,
    )
    events = app.topic(settings.events_topic, key_serializer="raw", value_serializer="raw",
                       partitions=settings.partitions)
    table = app.Table("conversations", key_type=bytes, value_type=bytes,
                      partitions=settings.partitions)
    metrics = ChatwatchMetrics(registry, caps=SeriesCaps.from_settings(settings))
    for outcome in ("sent", "retried", "dropped", "stale"):
        metrics.alerts_pushed.labels(outcome)
    pusher = None
    if alerts is None and settings.alertmanager_url:
        from alerts.alertmanager import AlertPusher

        pusher = AlertPusher(settings.alertmanager_url, Path(settings.data_dir) / "alert-spool",
                             hold_seconds=settings.alert_hold_seconds,
                             metrics=_PusherMetrics(metrics))
        alerts = pusher
    alerts = with_board_links(alerts, settings.board_url)
    engine = Engine(settings.policies, settings.content.guard())
    # Fault guards (agents/fencing.py): no write without a confirmed group membership, and a
    # clear exit when the broker lost the log this worker read.
    fence = WriteFence(settings.session_timeout_seconds)
    watch = LogWatch(settings.events_topic)
    store_guard = StoreGuard(settings.data_dir)
    changelog = ChangelogWriter(app, table, store_guard)
    sink = TopicSink(app)

    async def flush_outputs() -> None:
        store_guard.check()  # after a store failure nothing goes out: the process is ending
        if sink.pending or changelog.pending:
            await fence.before_write()
        # Output records are delivered before the rows that remember their events: a worker
        # that dies in between has not stored the events as applied, so its successor applies
        # them again and produces the records (a duplicate at worst, with the same ``id``),
        # instead of skipping them as already seen. A record that cannot be delivered raises
        # here, before any offset of its batch is acknowledged.
        await sink.flush()
        await changelog.flush()

    store = TableStore(table, settings.events_topic, changelog,
                       keep_objects=settings.store.startswith("memory:"), guard=store_guard)
    pipeline = Pipeline(settings, engine, metrics, store, sink, alerts)
    loaded: set[int] = set()
    pending: set[int] = set()
    backlog: set[bool] = set()  # non-empty while some partition has not caught up

    def owned() -> list[int]:
        return sorted(loaded)

    def event_time_now() -> int:
        marks = [engine.partitions[p].watermark_ms for p in loaded if p in engine.partitions]
        return min(max(marks, default=0), LATEST_MS)  # a date any time zone can show

    metrics.watch(engine, event_time_now, owned)  # the per-shop gauges, capped alike

    def load(partition: int) -> None:
        rows = ((k.decode(), v) for k, v in table.data.items())
        n = pipeline.load_partition(partition, rows)
        loaded.add(partition)
        pending.discard(partition)
        log.info("partition %d: %d conversations restored", partition, n)

    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        metrics.rebalances.inc()
        _fence_assigned()
        mine = {tp.partition for tp in assigned if tp.topic == settings.events_topic}
        for p in loaded - mine:
            pipeline.drop_partition(p)
            loaded.discard(p)
        pending.clear()
        pending.update(mine - loaded)

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        await flush_outputs()  # rows and records of partitions about to move go out first
        for tp in revoked:
            if tp.topic == settings.events_topic and tp.partition in loaded:
                pipeline.drop_partition(tp.partition)
                loaded.discard(tp.partition)

    def _fence_assigned() -> None:
        try:
            coordinator = internals.group_coordinator(app)
        except AttributeError:  # a faust without the aiokafka thread: no fence to keep
            log.warning("write fence not installed: faust consumer has no group coordinator")
            return
        fence.assigned(coordinator)
        internals.watch_heartbeats(coordinator, fence.renewed)

    def on_batch(partition: int, records: Any) -> None:
        fence.check()
        if partition not in loaded:
            load(partition)
        pipeline.on_batch(partition, records)
        if records:
            watch.read(partition, records[-1].offset + 1)

    fast_path[:] = [settings.events_topic, on_batch]

    @app.agent(events, name="conversations")
    async def conversations(stream: Any) -> None:
        # Only runs when the batched path (agents.internals.install_drain) could not be installed.
        async for event in stream.events():
            msg = event.message
            fence.check()
            if msg.partition not in loaded:
                load(msg.partition)
            pipeline.on_message(msg.partition, msg.offset, msg.key, msg.value)
            await flush_outputs()

    @app.timer(settings.sweep_interval_seconds, name="sweeper")
    async def sweeper() -> None:
        # faust sets `completed` after the first recovery and never clears it, so on its own
        # it would let a later rebalance load partitions before their changelog is restored;
        # `rebalancing` is true from revocation until that restore is done.
        # Nor once the worker is stopping: its final commit has flushed the changelog, and a
        # row written after it would be lost; the next owner declares those breaches.
        if not app.tables.recovery.completed.is_set() or app.rebalancing or app.should_stop \
                or store_guard.failure:
            return
        fence.check()  # a worker waking from a pause must not sweep with its jumped clock
        for p in sorted(pending):
            load(p)
        consumer = app.consumer
        if not fetch_wait_set and internals.shorten_fetch_wait(app, FETCH_WAIT_MS):
            fetch_wait_set.append(True)
        caught_up: dict[int, bool] = {}
        views: list[int | None] = []
        for p in loaded:
            tp = TP(settings.events_topic, p)
            try:
                high = consumer.highwater(tp)
            except Exception:  # not known yet for a partition just assigned
                high = None
            last = pipeline.last_offsets.get(p)
            if last is not None:
                done = last + 1
            else:
                # Nothing read since assignment (a restart on a quiet partition): everything
                # before the group's committed offset was processed by whoever owned it.
                # faust keeps the committed offsets it sought to after the assignment.
                done = internals.committed_offset(consumer, tp) or 0
            caught_up[p] = high is not None and done >= high
            if caught_up[p]:
                views.append(internals.fetch_view_ms(app, tp))
        try:
            pipeline.sweep(sweep_clock(wall_clock_ms(), views), caught_up)
            await flush_outputs()
        except StoreFailed:  # the guard stops the process; a crashed timer would end it at once
            return
        swept[0] = time.time()
        if all(caught_up.values()):
            if backlog:
                backlog.clear()
                await asyncio.get_running_loop().run_in_executor(None, release_freed_memory)
        else:
            backlog.add(True)

    async def group_join_guard() -> None:
        # A join the broker refuses for good leaves the worker running without partitions.
        # Not a faust timer: those start only once the partitions are assigned and restored.
        while not app.should_stop:
            reason = join_refused(internals.pending_group_error(app), settings.app_id,
                                  settings.session_timeout_seconds)
            if reason is not None:
                leave_now(f"{reason}; exiting with code {EXIT_CONFIG}", EXIT_CONFIG)
            await asyncio.sleep(1.0)

    join_guard[:] = [group_join_guard]

    @app.task
    async def guard_log() -> None:
        install_wake_check(fence)
        await watch.run(probe_end_offsets(_probe_client), settings.log_check_seconds)

    if pusher is not None:
        @app.task
        async def push_alerts() -> None:
            await pusher.run()

    swept: list[float] = [0.0]  # wall time of the last completed sweep
    fetch_wait_set: list[bool] = []

    def health() -> tuple[bool, dict[str, Any]]:
        """Ready only when assigned, restored and caught up within the lag limit."""
        body: dict[str, Any] = {"partitions": owned(), "lag_seconds": pipeline.lag_seconds}
        if store_guard.failure:
            return False, {**body, "status": "store failed", "reason": store_guard.failure}
        if not app.tables.recovery.completed.is_set() or app.rebalancing or pending:
            return False, {**body, "status": "recovering",
                           "reason": "restoring state or rebalancing partitions"}
        if not loaded:
            return False, {**body, "status": "no partitions",
                           "reason": "this worker owns no partition of "
                                     f"{settings.events_topic} (more workers than partitions?)"}
        stalled = time.time() - swept[0]
        if stalled > max(5.0, 20 * settings.sweep_interval_seconds):
            return False, {**body, "status": "stalled",
                           "reason": f"no sweep for {stalled:.0f} s"}
        if pipeline.lag_seconds > settings.health_max_lag_seconds:
            return False, {**body, "status": "lagging",
                           "reason": f"lagging {pipeline.lag_seconds:.0f} s behind the "
                                     f"events (limit {settings.health_max_lag_seconds:g} s)"}
        return True, {**body, "status": "ok"}

    register_views(app, settings, registry, engine, pipeline, owned, health)
    register_runbook(app)  # where every alert's runbook_url leads
    return Worker(app=app, pipeline=pipeline, registry=registry, metrics=metrics,
                  store_guard=store_guard)
