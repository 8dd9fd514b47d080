"""The chaos harness: a broker behind a fault proxy, supervised workers, live traffic, a model.

- :class:`ProxiedBroker` starts the embedded broker advertising the proxy's address, so every
  client connection (workers and test clients alike) passes the proxy.
- :class:`Supervisor` keeps workers running the way Kubernetes would: a worker that exits
  (killed, or stopped itself with exit code 75) is started again after a short back-off.
- :class:`Traffic` produces simulator conversations at a steady rate with bursts, event
  times = now, from a thread of its own; its producer retries failed sends (a retry after a
  lost acknowledgement delivers an event twice, which is what the duplicate check is for).
- :func:`check_exact` backfills the log as the broker holds it and compares it with what the
  workers published: daily figures (merged over workers) and breach records.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stream.backfill import RecordWriter, run_backfill
from stream.broker import EmbeddedBroker, broker_binary, free_port
from stream.config import Settings
from stream.core.engine import Engine
from stream.core.kpi import BUILTIN_KPIS, DEFAULT_SESSION_GAP_SECONDS
from stream.inputs import read_events
from stream.simulate import Rates, TrafficModel
from stream.testing import WorkerProcess
from tests.chaos.proxy import FaultProxy

# Model time runs this much faster than the wall clock: a 60 s reply comes 6 s after the
# question, and the reply window (WINDOW_SECONDS here, 300 s on the platforms) shrinks alike.
SPEED = 10
WINDOW_SECONDS = 30


class ProxiedBroker(EmbeddedBroker):
    """The embedded broker on a private port, advertising ``proxy_port`` to its clients."""

    def __init__(self, proxy_port: int) -> None:
        super().__init__(port=free_port())
        self.proxy_port = proxy_port

    @property
    def url(self) -> str:
        """What clients are given: the proxy."""
        return f"kafka://127.0.0.1:{self.proxy_port}"

    def start(self, timeout: float = 15.0) -> ProxiedBroker:
        """Start Tansu listening on its port and advertising the proxy's."""
        import socket

        from stream.broker import _die_with_parent

        listener = f"tcp://{self.host}:{self.port}"
        cmd = [str(broker_binary()), "broker", "--listener-url", listener,
               "--advertised-listener-url", f"tcp://127.0.0.1:{self.proxy_port}", "--silent"]
        self._proc = subprocess.Popen(  # noqa: S603
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 0.2):
                return self
            time.sleep(0.05)
        raise RuntimeError("broker did not start")


@contextlib.contextmanager
def proxied_broker() -> Iterator[tuple[ProxiedBroker, FaultProxy]]:
    """A broker and the proxy in front of it."""
    proxy_port = free_port()
    broker = ProxiedBroker(proxy_port).start()
    proxy = FaultProxy("127.0.0.1", broker.port, port=proxy_port).start()
    try:
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()


def chaos_config(unique: str, zone: str, partitions: int = 8) -> dict[str, Any]:
    """Worker config: private topics, shops in a daytime zone, windows scaled by SPEED."""
    from stream.testing import topic_config

    shops = {f"shop-{i:02d}": {"timezone": zone} for i in range(1, 13)}
    platforms = {p: {"window_seconds": WINDOW_SECONDS} for p in ("pdd", "taobao", "jd")}
    # Every platform KPI's window (and the session gap) shrinks alike: unscaled, a 3-minute
    # KPI's waits would breach only after the run is checked, though the backfill of the
    # log declares them at its end.
    kpis = {k.name: {"window_seconds": max(1, round(k.window_seconds / SPEED))}
            for k in BUILTIN_KPIS.values()}
    return topic_config(unique, partitions=partitions, shops=shops, platforms=platforms,
                        kpis=kpis, session_gap_seconds=DEFAULT_SESSION_GAP_SECONDS // SPEED)


# --- workers ---------------------------------------------------------------------------------


def launch(worker: WorkerProcess) -> None:
    """Start a worker without waiting for it to own partitions."""
    with contextlib.suppress(TimeoutError):
        worker.start(timeout=0.01)


@dataclass
class Supervisor:
    """Restart workers that exit, like a pod's restart policy (back-off ``delay`` seconds)."""

    workers: list[WorkerProcess]
    delay: float = 1.0
    exits: Counter[int] = field(default_factory=Counter)
    restarts: int = 0
    _down_since: dict[str, float] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)

    def tick(self) -> None:
        """Restart whatever has been down for ``delay`` seconds."""
        now = time.monotonic()
        for w in self.workers:
            if w.name in self.paused:
                continue
            if w.proc is not None and w.proc.poll() is None:
                continue
            if w.proc is not None:
                self.exits[w.proc.returncode] += 1
                w.proc = None
                self._down_since[w.name] = now
            since = self._down_since.setdefault(w.name, now)
            if now - since >= self.delay:
                self._down_since.pop(w.name, None)
                launch(w)
                self.restarts += 1

    def alive(self) -> list[WorkerProcess]:
        """Workers whose process runs."""
        return [w for w in self.workers if w.proc is not None and w.proc.poll() is None]


# --- traffic ---------------------------------------------------------------------------------


@dataclass
class TrafficStats:
    """What the producer did."""

    sent: int = 0
    retried: int = 0
    doubled: int = 0
    failed: int = 0


class Traffic(threading.Thread):
    """Simulated conversations produced at ``rate`` events/s with bursts, ts = send time."""

    def __init__(self, broker_url: str, topic: str, seed: int, rate: float,
                 seconds: float) -> None:
        super().__init__(name="traffic", daemon=True)
        self.broker_url, self.topic, self.seed = broker_url, topic, seed
        self.rate, self.seconds = rate, seconds
        self.stats = TrafficStats()
        self.error: BaseException | None = None
        self.last_ts_ms = 0
        # event id -> wall ms its first send was acknowledged: when the broker had it at the
        # latest, which tells a reply delivered late (a hung connection) from one a worker had
        self.acked_ms: dict[str, int] = {}

    def run(self) -> None:
        """Produce until ``seconds`` have passed (errors kept in ``error``)."""
        try:
            asyncio.run(self._produce())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    async def _produce(self) -> None:
        from stream.kafka import bootstrap_servers

        rng = random.Random(self.seed ^ 0xC4A05)
        model = TrafficModel(seed=self.seed, shops=12, agents_per_shop=2, buyers=400,
                             start_ms=0, rate=self.rate / SPEED, rates=Rates(invalid=0.0),
                             warm_up_s=120)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(self.broker_url),
                                    linger_ms=5, request_timeout_ms=5000, acks="all",
                                    retry_backoff_ms=200)
        await producer.start()
        try:
            start = time.monotonic()
            model_ms = 0.0  # model time reached
            last = start
            for sim in model.events():
                now = time.monotonic()
                if now - start > self.seconds:
                    break
                # bursts: for 3 s in every 20 s the model runs three times as fast
                speed = SPEED * (3 if (now - start) % 20 < 3 else 1)
                model_ms += (now - last) * 1000 * speed
                last = now
                ahead = (sim.at_ms - model_ms) / 1000 / speed
                if ahead > 0:
                    await asyncio.sleep(ahead)
                    model_ms = sim.at_ms
                    last = time.monotonic()
                body = msgspec.json.decode(sim.value)
                body["ts"] = int(time.time() * 1000)
                self.last_ts_ms = body["ts"]
                value = msgspec.json.encode(body)
                await self._send(producer, sim.key, value)
                self.acked_ms[body["event_id"]] = int(time.time() * 1000)
                if rng.random() < 0.01:  # a retry after an acknowledgement that got lost
                    await self._send(producer, sim.key, value)
                    self.stats.doubled += 1
            await producer.flush()
        finally:
            await producer.stop()

    async def _send(self, producer: AIOKafkaProducer, key: bytes, value: bytes) -> None:
        for attempt in itertools.count():
            try:
                fut = await producer.send(self.topic, value, key=key)
                await fut
                self.stats.sent += 1
                return
            except Exception:
                if attempt >= 20:
                    self.stats.failed += 1
                    raise
                self.stats.retried += 1
                await asyncio.sleep(0.2)


# --- the model check ---------------------------------------------------------------------------


async def read_topic(broker_url: str, topic: str, partitions: int,
                     expect_records: bool = False) -> list[Any]:
    """Every record of ``topic`` (partition by partition, in offset order)."""
    from stream.kafka import bootstrap_servers

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(broker_url),
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = partitions
        tps = [TopicPartition(topic, p) for p in range(parts)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            # Not seek_to_beginning: the embedded broker sometimes answers -1 for a partition's
            # earliest offset after many rebalances, and the consumer then resets forever.
            # Nothing is ever deleted from these topics, so they start at 0.
            consumer.seek(tp, 0)
        out: dict[int, list[Any]] = {p: [] for p in range(parts)}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for tp, msgs in batch.items():
                out[tp.partition].extend(msgs)
            if all((out[tp.partition][-1].offset + 1 if out[tp.partition] else 0) >= ends[tp]
                   for tp in tps):
                break
        got = {tp.partition: (out[tp.partition][-1].offset + 1 if out[tp.partition] else 0)
               for tp in tps}
        short = {p: (got[p], ends[TopicPartition(topic, p)]) for p in got
                 if got[p] < ends[TopicPartition(topic, p)]}
        if short:
            raise AssertionError(f"{topic}: could not read to the end of partitions "
                                 f"{short} (read up to, end) within 60 s")
        if expect_records and not any(ends.values()):
            raise AssertionError(f"{topic}: the broker reports every partition empty: {ends}")
        return [m for p in range(parts) for m in out[p]]
    finally:
        await consumer.stop()


FIGURE_COUNTS = ("consultations", "unreplied", "waits", "waits_breached", "responses",
                 "fast_responses")


def merge_figures(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Figures of the same shop-day from several workers (disjoint partitions) added up."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["shop_id"], row["day"])
        have = out.setdefault(key, {**{k: 0 for k in FIGURE_COUNTS}, "_seconds": 0.0})
        for k in FIGURE_COUNTS:
            have[k] += row.get(k) or 0
        have["_seconds"] += (row.get("mean_response_seconds") or 0) * (row.get("responses") or 0)
    for have in out.values():
        seconds = have.pop("_seconds")
        have["mean_response_seconds"] = seconds / have["responses"] if have["responses"] else None
    return out


def differing(expected: dict[tuple[str, str], dict[str, Any]],
              actual: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Every (shop, day, figure) that differs, described."""
    out = []
    for key in sorted(set(expected) | set(actual)):
        e, a = expected.get(key), actual.get(key)
        if e is None or a is None:
            out.append(f"{key}: expected {e}, workers {a}")
            continue
        for k in (*FIGURE_COUNTS, "mean_response_seconds"):
            x, y = e.get(k), a.get(k)
            if isinstance(x, float) and isinstance(y, float):
                if abs(x - y) > 1e-6 * max(1.0, abs(x)):
                    out.append(f"{key}.{k}: expected {x}, workers {y}")
            elif x != y:
                out.append(f"{key}.{k}: expected {x}, workers {y}")
    return out


@dataclass
class Verdict:
    """The comparison of the live run with the backfill of its log."""

    events: int
    figures_compared: int
    figures_differing: list[str]
    breaches_expected: int
    breach_records: int
    duplicate_breach_records: int
    missing_breaches: list[str]
    false_breaches: list[str]
    # chat.violations: one record per flagged message, ``id`` = the message's event id
    violations_expected: int = 0
    violation_records: int = 0
    duplicate_violation_records: int = 0
    missing_violations: list[str] = field(default_factory=list)
    false_violations: list[str] = field(default_factory=list)


def backfill(events: list[Any], settings: Settings, tmp: Path
             ) -> tuple[dict[tuple[str, str], dict[str, Any]], set[str], set[str]]:
    """The backfill's figures, breach ids and violation ids of the log as the broker holds it."""
    path = tmp / "produced.jsonl"
    path.write_bytes(b"".join(m.value + b"\n" for m in events))
    # with the content guard, as the workers run it: the violation records come from it
    engine = Engine(settings.policies, settings.content.guard())
    out, flagged = BytesIO(), BytesIO()
    result = run_backfill(read_events([str(path)]), settings, engine=engine,
                          listeners=[RecordWriter(engine, out, flagged)])
    rows = json.loads(json.dumps([r.as_dict() for r in result.report()]))
    ids = {json.loads(line)["id"] for line in out.getvalue().splitlines() if line}
    violation_ids = {json.loads(line)["id"] for line in flagged.getvalue().splitlines() if line}
    return merge_figures(rows), ids, violation_ids


def check_exact(broker_url: str, cfg: dict[str, Any], settings: Settings,
                workers: list[WorkerProcess], tmp: Path) -> Verdict:
    """Compare the workers' figures and breach records with the backfill of the log."""
    events = asyncio.run(read_topic(broker_url, cfg["events_topic"], cfg["partitions"],
                                    expect_records=True))
    expected, expected_ids, expected_violations = backfill(events, settings, tmp)
    rows = [r for w in workers for r in w.figures()]
    actual = merge_figures(rows)
    records = asyncio.run(read_topic(broker_url, cfg["breaches_topic"], cfg["partitions"]))
    # kept beside produced.jsonl: when each record was produced (the worker declared it)
    (tmp / "breaches.jsonl").write_text("".join(
        json.dumps({"declared_ms": m.timestamp, "partition": m.partition, "offset": m.offset,
                    "record": json.loads(m.value)}) + "\n" for m in records))
    ids = Counter(json.loads(m.value)["id"] for m in records)
    flagged = asyncio.run(read_topic(broker_url, cfg["violations_topic"], cfg["partitions"]))
    violations = Counter(json.loads(m.value)["id"] for m in flagged)
    return Verdict(
        events=len(events),
        figures_compared=len(expected) * (len(FIGURE_COUNTS) + 1),
        figures_differing=differing(expected, actual),
        breaches_expected=len(expected_ids),
        breach_records=sum(ids.values()),
        duplicate_breach_records=sum(n - 1 for n in ids.values()),
        missing_breaches=sorted(expected_ids - set(ids)),
        false_breaches=sorted(set(ids) - expected_ids),
        violations_expected=len(expected_violations),
        violation_records=sum(violations.values()),
        duplicate_violation_records=sum(n - 1 for n in violations.values()),
        missing_violations=sorted(expected_violations - set(violations)),
        false_violations=sorted(set(violations) - expected_violations),
    )


def signal_name(sig: int) -> str:
    """SIGKILL etc."""
    return signal.Signals(sig).name
