"""Readers for historical chat logs (JSONL or CSV, optionally gzip, or stdin), for replay and backfill.

Files are streamed in large chunks and never loaded whole. Every non-blank line (CSV: every
data row) comes out as a :class:`Record` carrying its source, its 1-based line number, the
bytes to send on the wire and the decoded :class:`ChatEvent` or :class:`Invalid` reason. Bad
lines are yielded, not raised, so the caller counts and reports them; ``strict=True`` turns the
first bad line into an :class:`~stream.errors.InputError` instead.

CSV rows are converted to the JSON event contract by an :class:`~stream.importing.ImportSpec`:
a column mapping (``{"ts": "time"}`` means the event field ``ts`` is read from the column
``time``) names where each field comes from, columns already named like an event field map to
themselves, empty cells mean "absent"; constants, value maps, local times and epoch seconds
are described in ``stream/importing.py``. The JSON encoding of the converted row is what
replay produces for that row. JSONL lines go through the same conversion when any import
option is given; otherwise they are decoded as they are, except that an integer ``ts`` below
10^11 is epoch seconds (a log of seconds read as milliseconds would date from January 1970)
and a local ``ts`` without an offset is read in its shop's time zone.

This module imports nothing from Kafka: backfill reads logs offline with it.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, NamedTuple, TypeVar, cast

import msgspec

from stream.core.events import ChatEvent
from stream.core.policy import DEFAULT_PLATFORM
from stream.errors import InputError
from stream.importing import EVENT_FIELDS, SECONDS_BELOW, ImportSpec, RowMapper, parse_columns
from stream.rejects import Rejects
from stream.schema import Invalid, TimeBounds, decode, decode_many

STDIN = "-"
FORMATS = ("auto", "jsonl", "csv")
__all__ = ["EVENT_FIELDS", "ImportSpec", "parse_columns"]  # re-exported for the drivers

# 1 MiB reads: big enough that per-read overhead vanishes, small enough to keep memory flat.
CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


class Record(NamedTuple):
    """One input line: where it came from, the bytes to produce, and what they decode to."""

    source: str
    line_no: int
    raw: bytes
    event: ChatEvent | Invalid


class Position(NamedTuple):
    """Where to resume reading a file: after ``line_no`` lines, ``offset`` bytes in.

    ``offset`` counts bytes of the (decompressed) content, so it is the same for a file and its
    gzip twin; JSONL readers use it, CSV readers skip ``line_no`` lines instead.
    """

    line_no: int = 0
    offset: int = 0


class LogReader:
    """Reads one log file (or stdin) record by record and knows how far it has got.

    ``position`` is the resume point just after the last record yielded; ``bytes_read`` is how
    far into the underlying file (compressed, if gzip) the reader is, for progress and ETA;
    ``size`` is the file size in bytes, or None for stdin.
    """

    def __init__(self, path: str, *, fmt: str = "auto", csv_columns: Mapping[str, str] | None = None,
                 default_platform: str = DEFAULT_PLATFORM, start: Position | None = None,
                 keep: Callable[[bytes], bool] | None = None,
                 clock: LogClock | None = None, spec: ImportSpec | None = None) -> None:
        """``keep(raw)``, when given, picks the lines to decode and yield (``--jobs``).

        With a ``clock``, events whose time is out of its bounds are yielded as invalid.
        ``spec`` says how to read an export (its columns are ``csv_columns`` when None).
        """
        if fmt not in FORMATS:
            raise InputError(f"unknown input format {fmt!r}: use one of {', '.join(FORMATS)}")
        self.path = path
        self.source = "<stdin>" if path == STDIN else path
        self.fmt = fmt
        self.csv_columns = dict(csv_columns or {})
        self.spec = spec or ImportSpec(columns=self.csv_columns,
                                       default_platform=default_platform)
        self.default_platform = default_platform
        self.start = start or Position()
        self.keep = keep
        self.clock = clock
        # the resume point, kept as two ints (set for every line; a Position only when asked)
        self._line_no, self._offset = self.start
        self.size: int | None = None
        self._raw: IO[bytes] | None = None

    @property
    def position(self) -> Position:
        """The resume point just after the last record yielded."""
        return Position(self._line_no, self._offset)

    @property
    def bytes_read(self) -> int:
        """Bytes consumed from the underlying file so far (for a progress bar)."""
        raw = self._raw
        if raw is None or raw.closed:
            return self.size or 0
        try:
            return raw.tell()
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[Record]:
        clock = self.clock
        if clock is None:
            yield from self._records()
            return

        def placed() -> Iterator[tuple[Record, int, int]]:
            for record in self._records():
                yield record, self._line_no, self._offset

        # The clock looks a few records ahead: the resume point is that of the record yielded.
        for record, line_no, offset in clock.judge(placed()):
            self._line_no, self._offset = line_no, offset
            yield record

    def _records(self) -> Iterator[Record]:
        raw, stream = self._open()
        try:
            head = stream.peek(64)[:64] if hasattr(stream, "peek") else b""
            fmt = self._detect(head)
            if fmt == "jsonl":
                yield from self._jsonl(stream)
            else:
                yield from self._csv(stream)
        finally:
            if self.path != STDIN:
                stream.close()
                raw.close()

    # -- opening ------------------------------------------------------------------------------
    def _open(self) -> tuple[IO[bytes], io.BufferedReader]:
        raw: IO[bytes]
        if self.path == STDIN:
            raw = sys.stdin.buffer
        else:
            try:
                raw = open(self.path, "rb")  # noqa: SIM115 - closed in __iter__
                self.size = os.fstat(raw.fileno()).st_size
            except OSError as exc:
                raise InputError(f"cannot read {self.path}: {exc.strerror}; check the path "
                                 f"and permissions") from exc
        self._raw = raw
        buffered = (raw if isinstance(raw, io.BufferedReader)
                    else io.BufferedReader(cast(io.RawIOBase, raw), CHUNK))
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            # GzipFile reads through `buffered`, so the raw file position still tracks progress.
            unzipped = gzip.GzipFile(fileobj=buffered, mode="rb")
            return raw, io.BufferedReader(cast(io.RawIOBase, unzipped), CHUNK)
        return raw, buffered

    def _detect(self, head: bytes) -> str:
        if self.fmt != "auto":
            return self.fmt
        name = self.path.lower().removesuffix(".gz")
        if name.endswith(".csv"):
            return "csv"
        if name.endswith(_JSONL_SUFFIXES):
            return "jsonl"
        return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"

    # -- JSONL --------------------------------------------------------------------------------
    def _jsonl(self, stream: io.BufferedReader) -> Iterator[Record]:
        line_no, offset = self.start.line_no, self.start.offset
        _skip(stream, offset)
        source, keep = self.source, self.keep
        convert = self._json_converter()
        # a log in the contract's own form is decoded a chunk at a time, in one call each
        many = self._plain_batch() if not self.spec.rewrites_json else None
        rest = b""
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
            rest = lines.pop()
            kept: list[tuple[int, int, bytes]] = []
            for line in lines:
                line_no += 1
                offset += len(line) + 1
                if line.endswith(b"\r"):
                    line = line[:-1]
                if not line or line.isspace():
                    continue
                kept.append((line_no, offset, line))
            converted = many([line for _, _, line in kept]) if many is not None else \
                [convert(line) for _, _, line in kept]
            for (at_line, at_offset, _), (raw, event) in zip(kept, converted, strict=True):
                self._line_no, self._offset = at_line, at_offset
                if keep is None or keep(raw):
                    yield Record(source, at_line, raw, event)
        if rest.strip():
            line_no += 1
            offset += len(rest)
            self._line_no, self._offset = line_no, offset
            raw, event = convert(rest.rstrip(b"\r"))
            if keep is None or keep(raw):
                yield Record(source, line_no, raw, event)

    def _plain_batch(self) -> Callable[[list[bytes]], list[tuple[bytes, ChatEvent | Invalid]]]:
        """Decode lines of the contract's own form, a batch per call.

        ``ts`` in epoch seconds (``--ts-unit`` auto) and local times without an offset are
        read as the import options say (a line at a time: they are the exception).
        """
        platform, spec = self.default_platform, self.spec
        seconds = spec.ts_unit == "auto"
        times = spec.mapper(None, self.source)

        def fix(line: bytes, event: ChatEvent | Invalid) -> tuple[bytes, ChatEvent | Invalid]:
            if type(event) is ChatEvent:
                if seconds and event.ts_ms < SECONDS_BELOW:
                    return _seconds_to_ms(line, event, platform)
            elif event.reason.endswith("`$.ts`"):  # type: ignore[union-attr]
                return _local_time(line, event, platform, times)
            return line, event

        def plain(lines: list[bytes]) -> list[tuple[bytes, ChatEvent | Invalid]]:
            return [fix(line, event)
                    for line, event in zip(lines, decode_many(lines, platform), strict=True)]

        return plain

    def _json_converter(self) -> Callable[[bytes], tuple[bytes, ChatEvent | Invalid]]:
        """Decode a line as it is, or through the import mapping when one is asked for."""
        platform, spec = self.default_platform, self.spec
        if not spec.rewrites_json:
            batch = self._plain_batch()
            return lambda line: batch([line])[0]
        mapper = spec.mapper(None, self.source)
        encode = msgspec.json.encode

        def mapped(line: bytes) -> tuple[bytes, ChatEvent | Invalid]:
            try:
                obj = msgspec.json.decode(line)
            except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
                return line, decode(line, platform)  # the decoder says why
            if not isinstance(obj, dict):
                return line, decode(line, platform)
            body, problem = mapper.json_object(obj, line)
            raw = encode(body)
            return raw, (Invalid(problem, raw) if problem else decode(raw, platform))

        return mapped

    # -- CSV ----------------------------------------------------------------------------------
    def _csv(self, stream: io.BufferedReader) -> Iterator[Record]:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        mapper: RowMapper = self.spec.mapper(header, self.source)
        encode = msgspec.json.encode
        skip_until = self.start.line_no
        previous_line = reader.line_num
        for row in reader:
            line_no = reader.line_num
            first_line, previous_line = previous_line + 1, line_no
            if line_no <= skip_until:
                continue
            self._line_no, self._offset = line_no, 0
            if not any(row):
                continue
            body, problem = mapper.csv_row(row)
            raw = encode(body)
            if self.keep is not None and not self.keep(raw):
                continue
            if problem:
                yield Record(self.source, first_line, raw, Invalid(problem, raw))
            else:
                yield Record(self.source, first_line, raw, decode(raw, self.default_platform))


def _local_time(line: bytes, invalid: ChatEvent | Invalid, platform: str,
                times: RowMapper) -> tuple[bytes, ChatEvent | Invalid]:
    """A line whose ``ts`` is a local time without an offset, read in its shop's time zone.

    Any other bad time stays the decoder's verdict.
    """
    try:
        obj = msgspec.json.decode(line)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return line, invalid
    if not isinstance(obj, dict) or not isinstance(obj.get("ts"), str):
        return line, invalid
    ts = times.time(obj["ts"], obj)
    if not isinstance(ts, int):
        return line, invalid
    obj["ts"] = ts
    raw = msgspec.json.encode(obj)
    event = decode(raw, platform)
    return (raw, event) if type(event) is ChatEvent else (line, invalid)


def _seconds_to_ms(line: bytes, event: ChatEvent,
                   platform: str) -> tuple[bytes, ChatEvent | Invalid]:
    """A line whose integer ``ts`` is epoch seconds, rewritten in milliseconds."""
    try:
        obj = msgspec.json.decode(line)
    except msgspec.DecodeError:  # pragma: no cover - the line decoded as an event
        return line, event
    if not isinstance(obj, dict) or type(obj.get("ts")) is not int:
        return line, event  # an RFC 3339 time before 1973: judged as it is
    obj["ts"] *= 1000
    raw = msgspec.json.encode(obj)
    return raw, decode(raw, platform)


def _skip(stream: IO[bytes], offset: int) -> None:
    """Move ``offset`` bytes into the (possibly decompressed) stream."""
    if offset <= 0:
        return
    if stream.seekable():
        # A gzip stream "seeks" forward by decompressing, which is what we would do anyway.
        stream.seek(offset)
        return
    left = offset
    while left > 0:
        got = stream.read(min(left, CHUNK))
        if not got:
            break
        left -= len(got)


DEFAULT_BOUNDS = TimeBounds()


def read_events(paths: Iterable[str], *, fmt: str = "auto",
                csv_columns: Mapping[str, str] | None = None,
                default_platform: str = DEFAULT_PLATFORM, strict: bool = False,
                keep: Callable[[bytes], bool] | None = None,
                bounds: TimeBounds | None = DEFAULT_BOUNDS,
                spec: ImportSpec | None = None) -> Iterator[Record]:
    """Stream the records of several logs in order (``"-"`` is stdin).

    Invalid lines are yielded with their reason; with ``strict`` the first one raises
    :class:`InputError` naming the file, the line and the reason. Event times are judged by
    ``bounds`` against the time the log has reached (:class:`LogClock`; None: not judged).
    """
    clock = None if bounds is None else LogClock(bounds)
    for path in paths:
        reader = LogReader(path, fmt=fmt, csv_columns=csv_columns,
                           default_platform=default_platform, keep=keep, clock=clock, spec=spec)
        if strict:
            yield from strict_records(reader)
        else:
            yield from reader


def strict_records(records: Iterable[Record]) -> Iterator[Record]:
    """Pass records through, raising :class:`InputError` at the first invalid one."""
    for record in records:
        if isinstance(record.event, Invalid):
            raise InputError(bad_line_message(record) + " (--strict stops at the first bad "
                             "line; drop --strict to skip and count bad lines)")
        yield record


def bad_line_message(record: Record) -> str:
    """``file:line: reason`` for an invalid record."""
    reason = record.event.reason if isinstance(record.event, Invalid) else "valid"
    return f"{record.source}:{record.line_no}: {reason}"


@dataclass
class Summary:
    """Counts for the end-of-run summary, and the first ``keep`` bad lines for the report."""

    keep: int = 10
    read: int = 0
    valid: int = 0
    invalid: int = 0
    bad_lines: list[str] = field(default_factory=list)

    def add(self, record: Record) -> bool:
        """Count one record; True when it is valid."""
        self.read += 1
        if isinstance(record.event, Invalid):
            self.invalid += 1
            if len(self.bad_lines) < self.keep:
                self.bad_lines.append(bad_line_message(record))
            return False
        self.valid += 1
        return True

    def render(self, rejects: Rejects | None = None, command: str = "backfill",
               rejects_path: str | None = None) -> str:
        """Render a few lines for stderr: totals, then the bad lines by reason (``rejects``).

        Without ``rejects``, the first bad lines one by one.
        """
        lines = [f"{self.read:,} lines read: {self.valid:,} valid, {self.invalid:,} invalid "
                 f"(skipped)"]
        if rejects is not None and rejects.reasons:
            lines.extend(rejects.render(command, rejects_path))
        elif self.bad_lines:
            shown = len(self.bad_lines)
            more = f" (first {shown} of {self.invalid:,})" if self.invalid > shown else ""
            lines.append(f"invalid lines{more}:")
            lines.extend(f"  {line}" for line in self.bad_lines)
        return "\n".join(lines)


_Item = TypeVar("_Item", bound=tuple[Record, int, int])


class LogClock:
    """The offline clock of :class:`~stream.schema.TimeBounds`: the time a log has reached.

    Live, an event is judged against the wall clock when it arrives. A log has no wall clock
    of its own, but a log written as things happened has the next best thing: the events
    around each one. The time the log has reached is the latest event time believed so far,
    and never earlier than the wall clock of the run (no past event can be from the future).
    An event further ahead than ``max_future`` of that is believed only when the log goes on
    from there: when the median time of the next :attr:`LOOKAHEAD` valid events is within
    ``max_future`` of it (the log caught up with it, as the wall clock would have); the
    log's last event, which nothing follows, when it is at most a month (:attr:`LAST_LEAP_MS`)
    ahead. So a quiet night followed by the morning's chats is read as written, and so is a
    log dated after the run's wall clock, its last event included, while one event stamped
    in 2100 amid the log's own day, or at its end, is out. A log of the past is never cut by
    the rule: its events are all behind the wall clock.
    """

    LOOKAHEAD = 9
    # How far ahead the log's last event may be of the time reached (nothing follows it): a
    # month, the longest quiet spell a log of one shop plausibly has.
    LAST_LEAP_MS = 31 * 86_400_000

    def __init__(self, bounds: TimeBounds, wall_ms: int | None = None) -> None:
        """Judge by ``bounds``; ``wall_ms`` is the run's wall clock (now when None)."""
        self.bounds = bounds
        self.reached = int(time.time() * 1000) if wall_ms is None else wall_ms

    def judge(self, items: Iterable[_Item]) -> Iterator[_Item]:
        """Pass ``items`` (a record first) on in order, out-of-bounds events made invalid."""
        buffer: deque[_Item] = deque()
        ahead = self.LOOKAHEAD
        for item in items:
            buffer.append(item)
            if len(buffer) > ahead:
                yield self._verdict(buffer.popleft(), buffer)
        while buffer:
            yield self._verdict(buffer.popleft(), buffer)

    def _verdict(self, item: _Item, following: deque[_Item]) -> _Item:
        record = item[0]
        event = record.event
        if isinstance(event, Invalid):
            return item
        bounds = self.bounds
        ts = event.ts_ms
        reason = bounds.too_early(ts)
        if reason is None:
            if ts <= self.reached + bounds.max_future_ms:
                self.reached = max(self.reached, ts)
                return item
            later = sorted(f[0].event.ts_ms for f in following
                           if not isinstance(f[0].event, Invalid))
            if later:
                clock = max(self.reached, later[(len(later) - 1) // 2])
            else:
                # the log's last event: nothing follows to say whether the log went on from
                # there, so a leap within a month is read as written, a leap further is not
                clock = self.reached + self.LAST_LEAP_MS - bounds.max_future_ms
            reason = bounds.too_late(ts, clock, "the time the log has reached")
            if reason is None:
                self.reached = ts
                return item
        judged = record._replace(event=Invalid(reason, record.raw))
        return cast(_Item, (judged, *item[1:]))
