"""``chatwatch backfill --jobs N``: the backfill split over N processes, merged exactly.

Conversations are split by a stable hash of their id (CRC-32 of ``conversation_id``, or of
``shop_id:buyer_id`` when the event names none), so each conversation — its waits, its
de-duplication, its out-of-order clamp — is applied whole, in file order, by one process. Every
process reads every line but decodes only its own (a cheap look at the three id fields picks
them; a line without readable ids goes to process 0, which reports it as the single-process run
would). The parts are then merged per shop and day the way the live worker merges partitions:
sums add and distinct buyers are unions of buyer sets, never sums of counts. Records and
bad-line messages are merged back into the order one process would have written them (file
order, then the end-of-input breaches by deadline), so every output is byte for byte that of
``--jobs 1``.

Not with ``--openmetrics`` (samples over event time interleave every conversation),
``--retention-hours`` (evicted days keep only final rows, which cannot be merged) or
``--strict``; nor on stdin.
"""

from __future__ import annotations

import heapq
import multiprocessing
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import msgspec

from stream.backfill import BackfillResult, RecordWriter, run_backfill
from stream.config import Settings
from stream.core.engine import Applied, Engine, PartitionState
from stream.core.events import ChatEvent
from stream.core.kpi_state import KpiBreached
from stream.core.limits import Capped
from stream.core.reply_window import WaitBreached
from stream.errors import ChatwatchError
from stream.importing import ImportSpec
from stream.inputs import Record, Summary, read_events
from stream.report.tally import Tally


class JobsError(ChatwatchError):
    """``--jobs`` cannot be combined with an option: the message names it and the fix."""


class _Ids(msgspec.Struct):
    shop_id: Any = None
    buyer_id: Any = None
    conversation_id: Any = None


_ids = msgspec.json.Decoder(_Ids)


def owner(raw: bytes, jobs: int) -> int:
    """The process (0..jobs-1) that applies this line: by its conversation, else 0."""
    try:
        ids = _ids.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return 0
    cid = ids.conversation_id
    if not isinstance(cid, str) or not cid:
        shop, buyer = ids.shop_id, ids.buyer_id
        if not (isinstance(shop, str) and isinstance(buyer, str) and shop and buyer):
            return 0
        cid = f"{shop}:{buyer}"
    return zlib.crc32(cid.encode()) % jobs


@dataclass
class JobOptions:
    """What one process computes (the backfill command's options that matter to a part)."""

    inputs: Sequence[str]
    fmt: str
    csv_columns: dict[str, str]
    content: bool
    by_agent: bool
    violations: bool
    hours: bool
    breaches: bool
    violation_records: bool
    workdir: str
    spec: ImportSpec | None = None  # how to read an export (--column, --map, --timezone...)


@dataclass
class Part:
    """What one process hands back (picklable: no engine, no conversations)."""

    state: PartitionState  # the figures of its conversations, as partition 0 of its engine
    orders_applied: int  # order events applied (the report then has the §7 fields)
    duplicates: int
    out_of_order: int
    summary: Summary
    tally: dict[str, Any] | None
    files: dict[str, str] = field(default_factory=dict)  # kind -> path of sorted tagged lines
    capped: Capped = field(default_factory=Capped)  # what the row caps dropped


class _Tagged(RecordWriter):
    """Records tagged with where ``--jobs 1`` would have written them.

    A record that follows from a line sorts by (0, input, line); a breach declared at the end
    of input in the order :meth:`Engine.finish` declares them (see ``_key``).
    """

    def __init__(self, engine: Engine, breaches: IO[bytes] | None,
                 violations: IO[bytes] | None) -> None:
        super().__init__(engine, breaches, violations)
        self.at: tuple[int, int] = (0, 0)
        self.finishing = False

    def _key(self, breach: Any = None) -> bytes:
        if breach is not None and self.finishing:
            # Engine.finish: the base waits by (deadline, conversation), then the other KPIs'
            # waits by (deadline, conversation, KPI)
            # (ids hex-encoded: no tab can end up in a tag; UTF-8 byte order is str order)
            cid = breach.conversation_id.encode().hex().encode()
            if isinstance(breach, KpiBreached):
                return b"2\t%020d\t%s\t%s\t" % (breach.deadline_ms, cid,
                                                  breach.kpi.encode().hex().encode())
            return b"1\t%020d\t%s\t\t" % (breach.deadline_ms, cid)
        return b"0\t%010d\t%012d\t\t" % self.at

    def on_event(self, event: ChatEvent, applied: Applied) -> None:
        """Write the records of one event, tagged with its line."""
        self._prefix = self._key()
        super().on_event(event, applied)

    def on_breaches(self, breaches: Iterable[WaitBreached]) -> None:
        """Write breaches, tagged with their line, or their deadline at end of input."""
        for breach in breaches:
            self._prefix = self._key(breach)
            super().on_breaches((breach,))

    def _write(self, out: IO[bytes], raw: bytes) -> None:
        out.write(self._prefix + raw + b"\n")


# What every part shares, set before the processes fork: they inherit it instead of receiving
# a pickled copy (the compiled core's frozen classes do not unpickle: stream/native.py).
_shared: tuple[Settings, JobOptions] | None = None


def _run_part(job_of: tuple[int, int]) -> Part:
    job, jobs = job_of
    assert _shared is not None, "run_jobs sets the shared settings before forking"
    settings, opts = _shared
    engine = Engine(settings.policies, settings.content.guard() if opts.content else None)
    tally = (Tally(engine, by_agent=opts.by_agent, violations=opts.violations, hours=opts.hours)
             if opts.by_agent or opts.violations or opts.hours else None)
    index = {path: i for i, path in enumerate(opts.inputs)}
    files: dict[str, str] = {}

    def path(kind: str) -> str:
        files[kind] = os.path.join(opts.workdir, f"{kind}.{job}")
        return files[kind]

    with open(path("errors"), "wb") as errors_file, \
            (open(path("breaches"), "wb") if opts.breaches else _null()) as breaches, \
            (open(path("violations"), "wb") if opts.violation_records else _null()) as found:
        writer = _Tagged(engine, breaches, found) if opts.breaches or opts.violation_records \
            else None
        errors = _TaggedErrors(errors_file)

        def located(records: Iterable[Record]) -> Iterator[Record]:
            for record in records:
                at = (index.get(record.source, 0), record.line_no)
                errors.at = at
                if writer is not None:
                    writer.at = at
                yield record
            if writer is not None:
                writer.finishing = True  # what follows is the end of input

        records = read_events(list(opts.inputs), fmt=opts.fmt, csv_columns=opts.csv_columns,
                              default_platform=settings.default_platform,
                              keep=lambda raw: owner(raw, jobs) == job,
                              bounds=settings.time_bounds, spec=opts.spec)
        listeners: list[Any] = [x for x in (tally, writer) if x is not None]
        result = run_backfill(located(records), settings, errors=errors, engine=engine,
                              listeners=listeners)
    tally_state = None if tally is None else {
        "shop_violations": tally.shop_violations,
        "agent_violations": tally.agent_violations, "breach_hours": tally.breach_hours}
    return Part(engine.partition(0), engine.conversions.applied, engine.duplicates,
                engine.out_of_order, result.summary, tally_state, files, engine.capped)


class _TaggedErrors:
    """Bad-line messages tagged with their line, for the merge."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.at: tuple[int, int] = (0, 0)

    def write(self, text: str) -> int:
        """One message (``bad_line_message`` plus a newline)."""
        self.out.write(b"%010d\t%012d\t" % self.at + text.encode())
        return len(text)


class _null:
    """A stand-in for an output file that is not asked for."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def check_options(jobs: int, inputs: Sequence[str], *, openmetrics: bool, retention: bool,
                  strict: bool) -> None:
    """Refuse what ``--jobs`` cannot give exactly, naming the option and the fix."""
    if jobs <= 1:
        return
    for flag, given in (("--openmetrics", openmetrics), ("--retention-hours", retention),
                        ("--strict", strict), ("an input on stdin ('-')", "-" in inputs)):
        if given:
            raise JobsError(f"--jobs {jobs} cannot be combined with {flag}: run it with "
                            f"--jobs 1 (the default)")


def run_jobs(settings: Settings, opts: JobOptions, jobs: int, *, errors: IO[str],
             breaches_out: IO[bytes] | None, violations_out: IO[bytes] | None,
             tally: Tally | None) -> BackfillResult:
    """Run ``jobs`` processes and merge them into ``tally`` and the returned result.

    The result's engine holds each part's figures as one partition (its read-outs merge them),
    and the counts; the record outputs and bad-line messages are written in single-process
    order.
    """
    with tempfile.TemporaryDirectory(prefix="chatwatch-jobs-") as workdir:
        opts.workdir = workdir
        global _shared
        _shared = (settings, opts)
        ctx = multiprocessing.get_context("fork")  # the children inherit settings and code
        try:
            with ctx.Pool(jobs) as pool:
                parts = pool.map(_run_part, [(k, jobs) for k in range(jobs)])
        finally:
            _shared = None
        _merge_lines([p.files["errors"] for p in parts], 2, _TextSink(errors))
        if breaches_out is not None:
            _merge_lines([p.files["breaches"] for p in parts], 4, breaches_out)
        if violations_out is not None:
            _merge_lines([p.files["violations"] for p in parts], 4, violations_out)
        bad_lines = _first_bad_lines([p.files["errors"] for p in parts], Summary.keep)
    # Each part becomes a partition of one engine: its read-outs merge partitions exactly as
    # the live worker's do (every figure book, not only the daily one).
    engine = Engine(settings.policies)
    summary = Summary()
    for k, part in enumerate(parts):
        engine.partitions[k] = part.state
        engine.conversions.applied += part.orders_applied
        engine.duplicates += part.duplicates
        engine.out_of_order += part.out_of_order
        engine.capped.absorb(part.capped)
        summary.read += part.summary.read
        summary.valid += part.summary.valid
        summary.invalid += part.summary.invalid
        if tally is not None and part.tally is not None:
            _merge_tally(tally, part.tally)
    summary.bad_lines = bad_lines
    if tally is not None:
        tally.engine = engine
    return BackfillResult(engine, summary, tally, (tally,) if tally else ())


def _merge_tally(tally: Tally, part: dict[str, Any]) -> None:
    # the agent figures are in each part's partition state, merged by the engine's read-outs
    for name in ("shop_violations", "agent_violations"):
        target = getattr(tally, name)
        for key, counts in part[name].items():
            mine = target.get(key)
            if mine is None:
                target[key] = counts
            else:
                for severity in ("critical", "warning", "info"):
                    setattr(mine, severity, getattr(mine, severity) + getattr(counts, severity))
    for shop, hours in part["breach_hours"].items():
        mine = tally.breach_hours.setdefault(shop, [0] * 24)
        for hour, n in enumerate(hours):
            mine[hour] += n


def _tagged(path: str, fields: int) -> Iterator[tuple[bytes, bytes]]:
    with open(path, "rb") as f:
        for line in f:
            parts = line.split(b"\t", fields)
            yield b"\t".join(parts[:fields]), parts[fields]


def _merge_lines(paths: list[str], fields: int, out: IO[bytes] | _TextSink) -> None:
    """Merge the parts' sorted tagged files into ``out``, tags removed."""
    streams = [_tagged(p, fields) for p in paths]
    for _, body in heapq.merge(*streams, key=lambda item: item[0]):
        out.write(body)


def _first_bad_lines(paths: list[str], keep: int) -> list[str]:
    streams = [_tagged(p, 2) for p in paths]
    out: list[str] = []
    for _, body in heapq.merge(*streams, key=lambda item: item[0]):
        if len(out) == keep:
            break
        out.append(body.decode().rstrip("\n"))
    return out


class _TextSink:
    """Bytes to a text stream (stderr)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, raw: bytes) -> None:
        """Write one message."""
        self.out.write(raw.decode())

