"""``chatwatch replay``: push historical chat logs through the live pipeline.

Valid lines are produced to ``chat.events`` unchanged (the original bytes, so the original
event times), keyed by conversation so each conversation stays in one partition in file
order. Invalid lines are counted and skipped, and summed up by reason at the end (every one
with ``--rejects FILE``; ``--strict`` stops at the first); the command exits 1 when no line
could be used or more than ``--max-bad-share`` of them were invalid. Exports are read as
``stream/importing.py`` says (``--column``, ``--map``, ``--timezone``, ``--ts-unit``): what is
produced is the converted event. ``--speed`` paces by event time: 0 is as fast as possible, 1 real time,
60 a minute of log per second.

A replay is resumable: with ``--checkpoint`` the position of what the broker has
*acknowledged* is written every few thousand events and at exit (the producer is flushed
first), so an interrupted replay continues where it stopped without re-sending. A crash
(SIGKILL, power loss) can re-send at most the events since the last checkpoint; the worker
drops those as duplicates by ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import click
from tqdm import tqdm

from stream.config import Settings
from stream.errors import BrokerError, InputError
from stream.importing import ImportSpec, build_spec, import_options
from stream.inputs import (
    FORMATS,
    STDIN,
    LogClock,
    LogReader,
    Position,
    Summary,
    bad_line_message,
    strict_records,
)
from stream.kafka import ensure_topics
from stream.kafka import producer as kafka_producer
from stream.rejects import Rejects, failure
from stream.report.writers import check_output
from stream.schema import Invalid
from stream.simulate import install_stop_handlers, require_broker

CHECKPOINT_VERSION = 1


class Pacer:
    """Maps event time to wall time at ``speed`` (0 = no pacing).

    The first event fixes the origin; an event ``d`` ms of event time later is due ``d /
    speed`` ms of wall time later. Events with an earlier ``ts`` than the origin's pace are
    due at once. Pure: the caller passes ``now`` (seconds of a monotonic clock).
    """

    def __init__(self, speed: float) -> None:
        if speed < 0:
            raise ValueError(f"speed {speed} must be >= 0")
        self.speed = speed
        self._origin: tuple[int, float] | None = None

    def delay(self, ts_ms: int, now: float) -> float:
        """Seconds to wait before sending an event with event time ``ts_ms``."""
        if self.speed == 0:
            return 0.0
        if self._origin is None:
            self._origin = (ts_ms, now)
            return 0.0
        origin_ts, origin_wall = self._origin
        due = origin_wall + (ts_ms - origin_ts) / 1000 / self.speed
        return max(0.0, due - now)


@dataclass
class FileMark:
    """How far one input file has been acknowledged, and the fingerprint of that file."""

    size: int
    mtime_ns: int
    line_no: int = 0
    offset: int = 0
    done: bool = False


@dataclass
class Checkpoint:
    """The resume file: per input file, the acknowledged position; written atomically."""

    path: Path
    topic: str
    files: dict[str, FileMark] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str], topic: str) -> Checkpoint:
        """Read the checkpoint at ``path``, or start an empty one if there is none."""
        p = Path(path)
        if not p.exists():
            return cls(p, topic)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            if doc.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"version {doc.get('version')!r}")
            files = {name: FileMark(**mark) for name, mark in doc["files"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cannot use checkpoint {p} ({exc}): delete it to replay from "
                             f"the start") from exc
        if doc.get("topic") != topic:
            raise InputError(f"checkpoint {p} belongs to a replay into topic "
                             f"{doc.get('topic')!r}, not {topic!r}: use another --checkpoint "
                             f"file or delete it")
        return cls(p, topic, files)

    def start_of(self, path: str) -> Position | None:
        """Where to resume ``path``; None when it is already complete."""
        if path == STDIN:
            raise InputError("stdin cannot be resumed from a checkpoint: replay a file, or "
                             "drop --checkpoint")
        key = str(Path(path).resolve())
        size, mtime_ns = _fingerprint(path)
        mark = self.files.get(key)
        if mark is None:
            self.files[key] = FileMark(size, mtime_ns)
            return Position()
        if (mark.size, mark.mtime_ns) != (size, mtime_ns):
            raise InputError(f"{path} changed since checkpoint {self.path} was written (size or "
                             f"modification time differ): delete the checkpoint to replay it "
                             f"from the start")
        return None if mark.done else Position(mark.line_no, mark.offset)

    def mark(self, path: str, position: Position, done: bool = False) -> None:
        """Record the acknowledged position of ``path`` (call :meth:`save` to persist)."""
        entry = self.files[str(Path(path).resolve())]
        entry.line_no, entry.offset, entry.done = position.line_no, position.offset, done

    def save(self) -> None:
        """Write the file atomically: a crash leaves the old or the new version, never half."""
        doc = {"version": CHECKPOINT_VERSION, "topic": self.topic,
               "files": {name: asdict(mark) for name, mark in self.files.items()}}
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def _fingerprint(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    return st.st_size, st.st_mtime_ns


@dataclass
class ReplayResult:
    """What a replay did: events produced, line counts, and whether it reached the end."""

    sent: int
    summary: Summary
    complete: bool
    seconds: float


class _Delivery:
    """Counts failed deliveries reported by producer futures (checked before checkpoints)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def __call__(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is not None and self.error is None:
            self.error = fut.exception()


async def replay(settings: Settings, broker_url: str, paths: Sequence[str], *,
                 speed: float = 0.0, fmt: str = "auto", csv_columns: Mapping[str, str] | None = None,
                 strict: bool = False, checkpoint: str | os.PathLike[str] | None = None,
                 stop: asyncio.Event | None = None, max_events: int | None = None,
                 checkpoint_every: int = 20_000, show_invalid: int = 100, progress: bool = True,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] | None = None,
                 out: TextIO = sys.stderr, spec: ImportSpec | None = None,
                 rejects: Rejects | None = None) -> ReplayResult:
    """Produce the valid events of ``paths`` to ``settings.events_topic``; see the module doc.

    ``max_events`` stops after that many events as an interruption would (tests use it);
    ``stop`` is set by Ctrl-C / SIGTERM. ``clock`` and ``sleep`` drive the pacing. Invalid
    lines go to ``rejects`` (one by default), whose summary by reason is written to ``out``
    at the end, ``show_invalid`` reasons at most.
    """
    rejects = rejects if rejects is not None else Rejects(reasons=max(show_invalid, 1))
    stop = stop or asyncio.Event()
    pacer = Pacer(speed)
    book = Checkpoint.load(checkpoint, settings.events_topic) if checkpoint else None
    starts = [book.start_of(p) if book else Position() for p in paths]
    summary = Summary(keep=0)  # the bad lines are summed up by reason, not listed
    await ensure_topics(settings, broker_url)
    # Fast replays want big batches; paced ones want each event out promptly.
    opts = ({"linger_ms": 50, "max_batch_size": 1 << 20} if speed == 0 else {"linger_ms": 2})
    producer = kafka_producer(settings, broker_url, **opts)
    await producer.start()
    delivery = _Delivery()
    topic, send = settings.events_topic, producer.send
    sizes = [None if p == STDIN else _fingerprint(p)[0] for p in paths]
    total = None if None in sizes else sum(s or 0 for s in sizes)
    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=out,
               disable=not progress or None, dynamic_ncols=True, desc="replay",
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                          "[{elapsed}<{remaining}{postfix}]")
    sent = 0
    began = clock()
    complete = False

    async def commit(reader: LogReader | None, pos: Position, done: bool = False) -> None:
        await producer.flush()
        if delivery.error is not None:
            raise BrokerError(f"the broker at {broker_url} refused events ({delivery.error}); "
                              f"the checkpoint keeps the last acknowledged position")
        if book is not None and reader is not None:
            book.mark(reader.path, pos, done)
            book.save()

    reader: LogReader | None = None
    pos = Position()
    # Events the worker would refuse as out of time are bad lines here too (the same rule).
    log_clock = LogClock(settings.time_bounds)
    try:
        for i, path in enumerate(paths):
            start = starts[i]
            if start is None:  # finished in an earlier run
                bar.update(sizes[i] or 0)
                continue
            reader = LogReader(path, fmt=fmt, csv_columns=csv_columns,
                               default_platform=settings.default_platform, start=start,
                               clock=log_clock, spec=spec)
            pos, base = start, bar.n
            records = strict_records(reader) if strict else reader
            stopped = False
            for record in records:
                event = record.event
                if isinstance(event, Invalid):
                    summary.add(record)
                    rejects.add(bad_line_message(record))
                    pos = reader.position
                    continue
                wait = pacer.delay(event.ts_ms, clock())
                if wait >= 0.001:  # below a millisecond a timer costs more than it paces
                    if sleep is not None:
                        await sleep(wait)
                    else:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), wait)
                if stop.is_set():
                    stopped = True
                    break
                fut = await send(topic, record.raw, key=event.conversation_id.encode())
                fut.add_done_callback(delivery)
                summary.add(record)  # counted once sent: an unsent line is read again on resume
                sent += 1
                pos = reader.position
                if sent % 1000 == 0:
                    _progress(bar, base, reader, sent, clock() - began)
                if sent % checkpoint_every == 0:
                    await commit(reader, pos)
                if max_events is not None and sent >= max_events:
                    stopped = True
                    break
            if stopped:
                break
            await commit(reader, pos, done=True)
            _progress(bar, base, reader, sent, clock() - began)
            bar.update(base + (sizes[i] or reader.bytes_read) - bar.n)
        else:
            complete = True
    finally:
        try:
            if not complete and reader is not None:
                await commit(reader, pos)
        finally:
            bar.close()
            await producer.stop()
            lines = rejects.render("replay")
            if lines:
                print("\n".join(lines), file=out, flush=True)
    return ReplayResult(sent, summary, complete, clock() - began)


def _progress(bar: tqdm, base: int, reader: LogReader, sent: int,
              elapsed: float) -> None:
    """Advance the bar by bytes read (that is what the ETA needs) and show events and rate."""
    done = base + reader.bytes_read
    bar.set_postfix_str(f"{sent:,} events, {sent / max(elapsed, 1e-9):,.0f} events/s", refresh=False)
    if done > bar.n:
        bar.update(done - bar.n)


@click.command("replay")
@click.argument("files", nargs=-1, required=True)
@click.option("--speed", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="0 = as fast as possible, 1 = real time, 60 = one minute of log per second.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Input format; auto looks at the file name, then the first bytes.")
@import_options
@click.option("--strict", is_flag=True, help="Stop at the first invalid line.")
@click.option("--checkpoint", type=click.Path(dir_okay=False),
              help="Resume file: an interrupted replay continues from here.")
@click.option("--broker", "broker_flag", help="kafka://HOST:PORT (default: KAFKA_BROKER).")
@click.option("--show-invalid", default=10, show_default=True, type=click.IntRange(min=0),
              help="Show at most this many reasons for invalid lines in the summary.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_obj
def replay_command(ctx: Any, files: tuple[str, ...], speed: float, fmt: str,
                   columns: tuple[str, ...], maps: tuple[str, ...], timezone_name: str | None,
                   ts_unit: str, rejects_path: str | None, max_bad_share: float, strict: bool,
                   checkpoint: str | None, broker_flag: str | None, show_invalid: int,
                   no_progress: bool) -> None:
    """Produce historical chat logs (JSONL or CSV, gzip or not, - for stdin) to chat.events."""
    settings: Settings = ctx.settings
    spec = build_spec(columns, maps, timezone_name, ts_unit, settings.policies,
                      settings.known_platforms)
    check_output(rejects_path, "--rejects")
    broker_url = require_broker(broker_flag, settings, "replay")

    async def main() -> ReplayResult:
        stop = asyncio.Event()
        install_stop_handlers(stop)
        with contextlib.ExitStack() as files_open:
            out = (files_open.enter_context(open(rejects_path, "w", encoding="utf-8"))
                   if rejects_path else None)
            rejects = Rejects(out, reasons=max(show_invalid, 1), path=rejects_path)
            return await replay(settings, broker_url, list(files), speed=speed, fmt=fmt,
                                csv_columns=dict(spec.columns), strict=strict,
                                checkpoint=checkpoint, stop=stop, show_invalid=show_invalid,
                                progress=not no_progress, spec=spec, rejects=rejects,
                                out=sys.stderr)

    result = asyncio.run(main())
    rate = result.sent / max(result.seconds, 1e-9)
    click.echo(f"replay: {result.sent:,} events produced to {settings.events_topic} in "
               f"{result.seconds:.1f} s ({rate:,.0f} events/s)", err=True)
    for note in dict.fromkeys(spec.notes):
        click.echo(f"replay: {note}", err=True)
    click.echo(result.summary.render(), err=True)
    if not result.complete:
        hint = (f"run the same command again to resume from {checkpoint}" if checkpoint
                else "use --checkpoint FILE to make a replay resumable")
        click.echo(f"replay: interrupted; {hint}", err=True)
        sys.exit(130)
    summary = result.summary
    problem = failure(summary.read, summary.valid, summary.invalid, max_bad_share)
    if problem is not None:
        click.echo(f"replay: failed: {problem}", err=True)
        sys.exit(1)
