"""The worker's processing pipeline: decode, reply window, content guard, records, metrics.

The pipeline is the live driver of the domain core. It knows nothing of faust: state writes,
output records and alerts go through the small ports below, which ``stream.app`` implements
with faust Tables and topics and tests implement with lists. Every method is synchronous, so
one event (or one sweep) is applied completely before anything else runs on the loop.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec

from agents.board.feed import BoardFeed
from agents.metrics import ChatwatchMetrics
from alerts.alertmanager import EventAlert
from stream.config import Settings
from stream.core.engine import Engine
from stream.core.events import ChatEvent
from stream.core.guard import ContentFlagged
from stream.core.kpi_state import KpiBreached
from stream.core.reply_window import BreachRetracted, WaitBreached
from stream.core.rows import Conversation
from stream.core.score import SETTLED_PREFIX, SettledDay, decode_settled
from stream.records import breach_record, dead_letter, fit_violation, violation_record
from stream.schema import Invalid, decode, decode_many

log = logging.getLogger(__name__)

EVICTION_INTERVAL_MS = 60_000  # idle-state eviction scans every conversation: keep it rare

_row_encoder = msgspec.msgpack.Encoder()
_row_decoder = msgspec.msgpack.Decoder(Conversation)
_json = msgspec.json.Encoder()


class StateStore(Protocol):
    """Durable per-conversation rows, written to the changelog partition of the conversation.

    The row object is the engine's own and changes with later events: what a store writes
    out is its encoding (:func:`encode_row`) at the time of the call.
    """

    def put(self, partition: int, key: str, row: Conversation | SettledDay) -> None:
        """Store one conversation row (or a settled day of the platform score)."""

    def delete(self, partition: int, key: str) -> None:
        """Remove one conversation row (a tombstone in the changelog)."""


class RecordSink(Protocol):
    """Output topics (dead letters, breaches, violations)."""

    def send(self, topic: str, key: bytes | None, value: bytes,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        """Queue one record for sending; must not block."""


class AlertSink(Protocol):
    """Event alerts for Alertmanager (forbidden content, breached waits)."""

    def submit_nowait(self, alert: EventAlert) -> bool:
        """Queue one alert durably; must not block on the network."""


def encode_row(conv: Conversation) -> bytes:
    """The durable form of a conversation row."""
    return _row_encoder.encode(conv)


def decode_row(raw: bytes) -> Conversation:
    """A conversation row from its durable form."""
    return _row_decoder.decode(raw)


def row_of(value: bytes | Conversation) -> Conversation:
    """A row as a store holds it: encoded, or (the worker's memory store) the row itself."""
    return value if isinstance(value, Conversation) else decode_row(value)


def wall_clock_ms() -> int:
    """The wall clock, in epoch milliseconds."""
    return int(time.time() * 1000)


def log_ref(conversation_id: str) -> str:
    """A stable stand-in for a conversation id in logs.

    Default conversation ids embed the buyer id, which must not reach log files; the digest
    still lets an operator match log lines to each other and to ``log_ref`` of a known id.
    """
    return "c-" + hashlib.blake2b(conversation_id.encode(), digest_size=6).hexdigest()


class Pipeline:
    """Applies raw Kafka messages to the engine and emits what follows from them."""

    def __init__(self, settings: Settings, engine: Engine, metrics: ChatwatchMetrics,
                 store: StateStore, records: RecordSink, alerts: AlertSink | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        """Drive ``engine`` (built with its content guard) and publish what it decides.

        ``clock`` is the wall clock in epoch milliseconds (tests pass their own): events
        stamped too far ahead of it are dead-lettered (``Settings.time_bounds``).
        """
        self.settings = settings
        self.bounds = settings.time_bounds
        self.clock = clock or wall_clock_ms
        self._now_ms: int | None = None  # the clock as read for the batch being applied
        self.engine = engine
        self.metrics = metrics
        self.store = store
        self.records = records
        self.alerts = alerts
        self.board = BoardFeed()  # what the supervisor's board shows that the engine does not keep
        self.skew_ms = int(settings.clock_skew_seconds * 1000)
        self.last_offsets: dict[int, int] = {}
        self.lag_seconds = 0.0  # as of the last sweep
        # Rows changed by the batch being applied (conversation id -> row), written once at its
        # end; None outside a batch, when every change is written at once.
        self._batch_rows: dict[str, Conversation] | None = None
        self.retention_ms = int(settings.state_retention_hours * 3_600_000)
        self._next_eviction_ms = 0

    # -- events -----------------------------------------------------------------------------

    def on_message(self, partition: int, offset: int, key: bytes | None,
                   raw: bytes | None, decoded: ChatEvent | Invalid | None = None) -> None:
        """Process one message of ``chat.events``; nothing it contains can stop the stream.

        A record that is not an event (a tombstone, bad JSON, an event time out of bounds)
        goes to the dead-letter topic with the reason; so does one whose processing fails.
        ``decoded``: ``raw`` already decoded (a batch is decoded in one call).
        """
        self.last_offsets[partition] = offset
        try:
            if not raw:
                self._dead_letter(partition, offset, key, Invalid(
                    "empty value: a tombstone or empty record is not an event", b""))
                return
            event = decode(raw, self.settings.default_platform) if decoded is None else decoded
            if not isinstance(event, Invalid):
                now = self._now_ms
                event = self.bounds.check(event, raw, self.clock() if now is None else now)
            if isinstance(event, Invalid):
                self._dead_letter(partition, offset, key, event)
                return
            self._apply(event, partition, offset)
        except Exception as exc:  # a bug must cost one message, visibly, not the worker
            log.exception("failed to process %s/%d/%d", self.settings.events_topic, partition,
                          offset)
            self._dead_letter(partition, offset, key,
                              Invalid(f"internal error: {type(exc).__name__}: {exc}",
                                      raw if isinstance(raw, bytes) else b""))

    def on_batch(self, partition: int, records: Sequence[Any]) -> None:
        """Process a partition's records (``.offset``, ``.key``, ``.value``) in offset order.

        Each record is handled exactly as by :meth:`on_message`; the only difference is that a
        conversation touched several times in the batch has its row written once, with its
        final state, when the batch is done.
        """
        rows: dict[str, Conversation] = {}
        self._batch_rows = rows
        self._now_ms = self.clock()  # one look at the clock per batch
        try:
            on_message = self.on_message
            for record, decoded in zip(records, self._decode_batch(records), strict=True):
                on_message(partition, record.offset, record.key, record.value, decoded)
        finally:
            self._batch_rows = None
            self._now_ms = None
            if all(c.partition == partition for c in rows.values()):
                self._put_rows(partition, list(rows.items()))
            else:
                for cid, conv in rows.items():
                    self.store.put(conv.partition, cid, conv)

    def _decode_batch(self, records: Sequence[Any]) -> list[ChatEvent | Invalid | None]:
        """The batch's values decoded in one call to the engine (None: left to on_message).

        Only plain non-empty bytes are; anything else (a tombstone, another type) is handled
        record by record, as is the whole batch should the one call fail.
        """
        raws = [r.value for r in records]
        wanted = [i for i, raw in enumerate(raws) if type(raw) is bytes and raw]
        out: list[ChatEvent | Invalid | None] = [None] * len(raws)
        try:
            for i, event in zip(wanted, decode_many([raws[i] for i in wanted],
                                                    self.settings.default_platform),
                                strict=True):
                out[i] = event
        except Exception:  # each record then meets the error handling of its own
            log.exception("decoding a batch of %d records failed; decoding one by one",
                          len(wanted))
            return [None] * len(raws)
        return out

    def _put_rows(self, partition: int, rows: list[tuple[str, Conversation]]) -> None:
        """Write rows of one partition, in one go when the store can (``put_many``)."""
        put_many = getattr(self.store, "put_many", None)
        if put_many is not None:
            put_many(partition, rows)
        else:
            for key, value in rows:
                self.store.put(partition, key, value)

    def _apply(self, event: ChatEvent, partition: int, offset: int = -1) -> None:
        applied = self.engine.apply(event, partition, offset)
        self.metrics.record(applied)
        if applied.duplicate:
            return
        conv = self.engine.conversations[event.conversation_id]
        for outcome in applied.outcomes:
            if isinstance(outcome, WaitBreached | KpiBreached):
                self._publish_breach(outcome, conv)
            elif isinstance(outcome, ContentFlagged):
                self._publish_violation(outcome, conv)
            elif isinstance(outcome, BreachRetracted):
                log.info("breach of wait %s#%d in shop %s retracted: a reply within the window "
                         "arrived late (consider a larger CHATWATCH_CLOCK_SKEW_SECONDS)",
                         log_ref(outcome.conversation_id), outcome.seq, outcome.shop_id)
        rows = self._batch_rows
        if rows is None:
            self.store.put(conv.partition, event.conversation_id, conv)
        else:
            rows[event.conversation_id] = conv

    def _dead_letter(self, partition: int, offset: int, key: bytes | None, bad: Invalid) -> None:
        self.metrics.record_invalid()
        source = f"{self.settings.events_topic}/{partition}/{offset}"
        key, value, headers = dead_letter(bad.raw, bad.reason, source, key)
        self.records.send(self.settings.dlq_topic, key, value, headers)
        log.warning("dead-lettered %s: %s", source, bad.reason[:300])

    def _publish_breach(self, breach: WaitBreached | KpiBreached, conv: Conversation) -> None:
        """One ``chat.breaches`` record and one breach alert per breached wait of each KPI.

        A mirror KPI's breach is its base wait's (that record names it). The alert pusher
        folds the alerts of one shop and KPI into one alert counting them.
        """
        if isinstance(breach, KpiBreached) and breach.mirror:
            return
        policies = self.engine.policies
        _, tz = policies.resolve(conv.platform, conv.shop_id)
        record = breach_record(breach, tz, policies.kpis(conv.platform, conv.shop_id).base_name)
        self.records.send(self.settings.breaches_topic, breach.conversation_id.encode(),
                          _json.encode(record))
        if not isinstance(breach, KpiBreached):
            self.board.breach(record)
        if self.alerts is not None:
            titles = {k.name: k.title for k in policies.kpis(conv.platform, conv.shop_id).kpis}
            self.alerts.submit_nowait(EventAlert.reply_window_breached(
                shop=breach.shop_id, agent=breach.agent,
                conversation_id=log_ref(breach.conversation_id),  # the id holds the buyer's
                start=datetime.fromtimestamp(breach.start_ms / 1000, tz),
                at=datetime.fromtimestamp(breach.deadline_ms / 1000, tz),
                wait_seconds=(breach.deadline_ms - breach.start_ms) / 1000,
                kpi=record["kpi"], title=titles.get(record["kpi"], "")))

    def _publish_violation(self, flagged: ContentFlagged, conv: Conversation) -> None:
        _, tz = self.engine.policies.resolve(conv.platform, conv.shop_id)
        record = violation_record(flagged, tz)
        self.records.send(self.settings.violations_topic, flagged.conversation_id.encode(),
                          fit_violation(record))
        self.board.violation(record)
        critical = flagged.critical
        if critical is not None and self.alerts is not None:
            self.alerts.submit_nowait(EventAlert.forbidden_content(
                shop=flagged.shop_id, agent=flagged.agent, category=critical.category,
                masked_text=flagged.text, conversation_id=log_ref(flagged.conversation_id),
                at=datetime.fromtimestamp(flagged.ts_ms / 1000, tz),
                ref=log_ref(flagged.event_id)))

    # -- time -------------------------------------------------------------------------------

    def sweep(self, wall_ms: int, caught_up: dict[int, bool]) -> float:
        """Advance every owned partition's watermark and declare the breaches it passes.

        A partition's watermark is its latest applied event time minus the skew tolerance;
        only when the partition is caught up may the wall clock move it further, so a
        lagging consumer never breaches a wait whose reply is still in the topic.
        """
        engine = self.engine
        lag = 0.0
        for partition, is_caught_up in caught_up.items():
            part = engine.partition(partition)
            watermark = part.max_event_ms - self.skew_ms
            if is_caught_up:
                watermark = max(watermark, wall_ms - self.skew_ms)
            elif part.max_event_ms:
                lag = max(lag, (wall_ms - part.max_event_ms) / 1000)
            rows: list[tuple[str, Conversation]] = []
            breaches = engine.advance(partition, watermark, kpis=True)
            if breaches:
                self.metrics.record_outcomes(breaches)
            for breach in breaches:
                conv = engine.conversations[breach.conversation_id]
                if isinstance(breach, WaitBreached):  # the default KPI, as before KPIs
                    self.metrics.breach_latency.observe(
                        max(0, wall_ms - breach.deadline_ms) / 1000)
                self._publish_breach(breach, conv)
                rows.append((breach.conversation_id, conv))
            if rows:
                self._put_rows(partition, rows)
        self.metrics.event_lag.set(lag)
        self.lag_seconds = lag
        if wall_ms >= self._next_eviction_ms:
            self._next_eviction_ms = wall_ms + EVICTION_INTERVAL_MS
            for partition in caught_up:
                # rows go only with their days: a restart rebuilds the figures from the rows
                for cid in engine.evict(partition, self.retention_ms, with_days=True):
                    self.store.delete(partition, cid)
                # the KPI days the rows no longer count for, kept for the platform score
                for key, settled in engine.take_settled(partition):
                    if settled is None:
                        self.store.delete(partition, key)
                    else:
                        self.store.put(partition, key, settled)
        return lag

    # -- rebalance --------------------------------------------------------------------------

    def load_partition(self, partition: int,
                       rows: Iterable[tuple[str, bytes | Conversation | SettledDay]]) -> int:
        """Adopt the recovered rows of a newly assigned partition; returns how many.

        Settled days of the platform score (stream.core.score) are adopted too, not counted.
        """
        self.engine.drop_partition(partition)
        part = self.engine.partition(partition)
        # A row stamped beyond the time bounds (written before they existed) must not become
        # the partition's event time: it would breach every wait and be "today".
        latest = self.clock() + self.bounds.max_future_ms
        n = 0
        for key, raw in rows:
            if key.startswith(SETTLED_PREFIX):
                settled = raw if isinstance(raw, SettledDay) else decode_settled(raw)
                if settled.partition == partition:
                    self.engine.load_settled(partition, settled)
                continue
            conv = row_of(raw)
            if conv.partition != partition:
                continue
            self.engine.load(key, conv)
            if part.max_event_ms < conv.latest_ts <= latest:
                part.max_event_ms = conv.latest_ts
            n += 1
        return n

    def drop_partition(self, partition: int) -> None:
        """Forget a partition that moved to another worker."""
        self.engine.drop_partition(partition)
        self.last_offsets.pop(partition, None)
