"""How a team's own export becomes chat events: column mappings, constants, value maps, times.

A chat export is rarely in the event contract's shape. :class:`ImportSpec` says how to read
one (the ``--column``, ``--map``, ``--timezone`` and ``--ts-unit`` options of ``backfill`` and
``replay``), and :class:`RowMapper` turns each row (a CSV row, or a JSON object) into a wire
event:

* ``--column FIELD=COLUMN`` reads the event field from that column (a JSON key for JSONL);
  columns already named like a field map to themselves;
* ``--column FIELD=VALUE`` where the header has no column ``VALUE`` sets a constant for every
  row, for the fields a constant makes sense for (``type=message``, ``sender=buyer``,
  ``platform=pdd``, ``buyer_kind``, ``status``, ``shop_id``, ``agent_id``); an unknown column
  for any other field stays an error naming the header;
* ``--map FIELD=FROM:TO,FROM:TO`` replaces values (``--map sender=客服:agent,买家:buyer``);
* times: a number below 10^11 is epoch seconds, above it epoch milliseconds (1973 in
  milliseconds is 5138 in seconds, so the two never meet; ``--ts-unit s|ms`` forces one); a
  local time without an offset (``2026-11-11 20:15:03``, ``2026/11/11 20:15``) is read in
  ``--timezone``, by default the time zone of the row's shop in the configuration; a time with
  an offset keeps it;
* a row without an event id gets one derived from a hash of the row's content
  (``row-<hash>``; the same row exported twice gets the same id and counts once, while
  identical rows one after the other are numbered ``-2``, ``-3``…).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import xxhash

from stream.core.orders import STATUSES
from stream.core.policy import DEFAULT_PLATFORM, DEFAULT_TIMEZONE, PolicyBook
from stream.errors import InputError
from stream.rejects import DEFAULT_MAX_BAD_SHARE

EVENT_FIELDS = ("event_id", "ts", "shop_id", "buyer_id", "conversation_id", "platform", "type",
                "sender", "agent_id", "text", "buyer_kind", "order_id", "status", "amount")
TS_UNITS = ("auto", "s", "ms")
# Epoch numbers below this are seconds, from it on milliseconds (1973-03-03 in ms).
SECONDS_BELOW = 100_000_000_000

# The legal values of the enumerated fields; a constant or a --map target must be one.
ENUMS: dict[str, tuple[str, ...]] = {
    "type": ("message", "read", "end", "transfer", "order"),
    "sender": ("buyer", "agent", "bot", "system"),
    "buyer_kind": ("customer", "ad", "peer"),
    "status": STATUSES,
}
# Fields a constant may be given for (others need a column: a typo must not become a value).
CONSTANT_FIELDS = frozenset({*ENUMS, "platform", "shop_id", "agent_id"})

_LOCAL_TIME = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_columns(pairs: Iterable[str]) -> dict[str, str]:
    """``["ts=time", "type=message"]`` (the ``--column`` flags) -> ``{"ts": "time", ...}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        fld, sep, column = pair.partition("=")
        fld, column = fld.strip(), column.strip()
        if not sep or not fld or not column:
            raise InputError(f"bad --column {pair!r}: write FIELD=COLUMN (or FIELD=VALUE for a "
                             f"constant), e.g. --column ts=time")
        if fld not in EVENT_FIELDS:
            raise InputError(f"bad --column {pair!r}: {fld!r} is not an event field; use one of "
                             f"{', '.join(EVENT_FIELDS)}")
        mapping[fld] = column
    return mapping


def parse_maps(pairs: Iterable[str]) -> dict[str, dict[str, str]]:
    """``["sender=客服:agent,买家:buyer"]`` (the ``--map`` flags) -> ``{"sender": {...}}``."""
    maps: dict[str, dict[str, str]] = {}
    for pair in pairs:
        fld, sep, body = pair.partition("=")
        fld = fld.strip()
        if not sep or fld not in EVENT_FIELDS or fld == "ts":
            raise InputError(f"bad --map {pair!r}: write FIELD=FROM:TO,FROM:TO with an event "
                             f"field other than ts, e.g. --map sender=客服:agent,买家:buyer")
        values = maps.setdefault(fld, {})
        for item in body.split(","):
            source, colon, target = item.partition(":")
            source, target = source.strip(), target.strip()
            if not colon or not source or not target:
                raise InputError(f"bad --map {pair!r}: {item!r} is not FROM:TO, e.g. 客服:agent")
            legal = ENUMS.get(fld)
            if legal is not None and target not in legal:
                raise InputError(f"bad --map {pair!r}: {fld} cannot be {target!r}; use one of "
                                 f"{', '.join(legal)}")
            values[source] = target
    return maps


def zone(name: str, option: str = "--timezone") -> ZoneInfo:
    """The IANA time zone ``name``, or an :class:`InputError` naming ``option``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"bad {option} {name!r}: use an IANA time zone such as "
                         f"Asia/Shanghai") from None


def _default_zone(platform: str, shop_id: str) -> tzinfo:
    return ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True)
class ImportSpec:
    """How to read rows into events (see the module docstring).

    ``zone_of(platform, shop_id)`` is a shop's time zone (the configuration's), used for local
    times when ``timezone`` is None; ``platforms`` are the known ones, that a ``platform``
    constant or map target must name (empty: not checked).
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    timezone: tzinfo | None = None
    ts_unit: str = "auto"
    default_platform: str = DEFAULT_PLATFORM
    zone_of: Callable[[str, str], tzinfo] = _default_zone
    platforms: tuple[str, ...] = ()
    # what the mappers did that the user should hear of (each file's constants, derived ids)
    notes: list[str] = field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        """Check what can be checked before a row is read."""
        if self.ts_unit not in TS_UNITS:
            raise InputError(f"bad --ts-unit {self.ts_unit!r}: use one of {', '.join(TS_UNITS)}")
        for name in self.maps.get("platform", {}).values():
            self.check_platform(name, "--map platform")

    def check_platform(self, name: str, option: str) -> None:
        """Refuse a platform that the configuration does not know, naming the known ones."""
        if self.platforms and name not in self.platforms:
            raise InputError(f"bad {option}: unknown platform {name!r}; known platforms: "
                             f"{', '.join(self.platforms)} (add it under platforms: in the "
                             f"configuration to define its rules)")

    @property
    def rewrites_json(self) -> bool:
        """Whether JSONL lines must go through the mapper (any option given)."""
        return bool(self.columns or self.maps or self.timezone is not None
                    or self.ts_unit == "s")

    def mapper(self, header: Iterable[str] | None, source: str) -> RowMapper:
        """A mapper for one file; ``header`` is the CSV header (None: JSON objects)."""
        return RowMapper(self, None if header is None else [h.strip() for h in header], source)


class RowMapper:
    """Turns the rows of one file into wire events (dicts), by an :class:`ImportSpec`.

    Resolves the column mapping against the header once: each field is a column, a constant
    or absent. ``notes`` says, once, what a reader may want to know (constants set, ids
    derived).
    """

    def __init__(self, spec: ImportSpec, header: list[str] | None, source: str) -> None:
        self.spec = spec
        self.notes: list[str] = []
        self.constants: dict[str, str] = {}
        self.sources: dict[str, str] = {}  # field -> column or JSON key
        self.indexes: dict[str, int] = {}  # field -> CSV cell index
        self._last_hash = ""
        self._repeat = 1
        index = {} if header is None else {name: i for i, name in enumerate(header)}
        for fld in EVENT_FIELDS:
            column = spec.columns.get(fld, fld)
            if header is None:
                self.sources[fld] = column
                if fld in spec.columns and fld in CONSTANT_FIELDS:
                    self.constants[fld] = column  # used when the object lacks that key
                continue
            if column in index:
                self.indexes[fld] = index[column]
            elif fld in spec.columns:
                self._constant(fld, column, header, source)
        if header is not None and "event_id" not in self.indexes:
            self.notes.append(f"{source}: no event_id column: each row's id is derived from "
                              f"a hash of the row")
        for fld, value in self.constants.items():
            if header is not None:
                self.notes.append(f"{source}: {fld}={value!r} on every row (a constant: "
                                  f"the header has no column {value!r})")
        spec.notes.extend(self.notes)

    def _constant(self, fld: str, value: str, header: list[str], source: str) -> None:
        if fld not in CONSTANT_FIELDS:
            raise InputError(f"{source}: --column {fld}={value}: the CSV header has no column "
                             f"{value!r}; it has {', '.join(map(repr, header))}")
        legal = ENUMS.get(fld)
        if legal is not None and value not in legal:
            raise InputError(f"{source}: --column {fld}={value}: the header has no column "
                             f"{value!r}, and as a constant {fld} must be one of "
                             f"{', '.join(legal)}; the header has "
                             f"{', '.join(map(repr, header))}")
        if fld == "platform":
            self.spec.check_platform(value, f"--column platform={value}")
        self.constants[fld] = value

    def csv_row(self, row: list[str]) -> tuple[dict[str, Any], str]:
        """A CSV row as a wire dict, and a reason when it is malformed ("" when not)."""
        values: dict[str, Any] = {}
        for fld, i in self.indexes.items():
            if i >= len(row):
                return values, f"csv: row has {len(row)} cells, column {fld!r} is cell {i + 1}"
            cell = row[i]
            if fld != "text":
                cell = cell.strip()
            if cell != "":
                values[fld] = cell
        return self._finish(values, "\x1f".join(row).encode())

    def json_object(self, obj: Mapping[str, Any], raw: bytes) -> tuple[dict[str, Any], str]:
        """A JSON object as a wire dict (fields renamed, constants, maps, times, ids)."""
        values: dict[str, Any] = {}
        for fld, key in self.sources.items():
            if key in obj and obj[key] is not None:
                values[fld] = obj[key]
        return self._finish(values, raw)

    def _finish(self, values: dict[str, Any], content: bytes) -> tuple[dict[str, Any], str]:
        spec = self.spec
        reorder = False
        for fld, value in self.constants.items():
            if fld not in values:
                values[fld] = value
                reorder = True
        for fld, table in spec.maps.items():
            found = values.get(fld)
            if isinstance(found, str) and found in table:
                values[fld] = table[found]
        if "ts" in values:
            ts = self.time(values["ts"], values)
            if isinstance(ts, str) and ts.startswith("!"):
                return values, ts[1:]
            values["ts"] = ts
        if not values.get("event_id"):
            values["event_id"] = self._derived_id(content)
            reorder = True
        if not reorder:  # read in contract order already
            return values, ""
        # in contract order (the bytes replay produces read like any other event)
        return {fld: values[fld] for fld in EVENT_FIELDS if fld in values}, ""

    def time(self, value: Any, values: Mapping[str, Any]) -> Any:
        """``value`` as epoch milliseconds where it is a number or a local time.

        Other strings are left to the decoder (which judges RFC 3339); a string starting
        with ``!`` is a reason the value cannot be a time.
        """
        unit = self.spec.ts_unit
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            number: float = value
        elif isinstance(value, str) and _NUMBER.fullmatch(value):
            number = int(value) if value.isdigit() else float(value)
        elif isinstance(value, str):
            return self._local(value, values)
        else:
            return value
        if unit == "s" or (unit == "auto" and number < SECONDS_BELOW):
            number *= 1000
        return int(number)

    def _local(self, text: str, values: Mapping[str, Any]) -> Any:
        if len(text) > 19 and text[10] == "T" and (text[-1] == "Z" or text[-6] in "+-"):
            return text  # RFC 3339 with its offset: the decoder's to read, as in a JSON log
        match = _LOCAL_TIME.fullmatch(text.strip())
        if match is None:
            return text
        year, month, day, hour, minute, second, frac, offset = match.groups()
        zone_info: tzinfo
        if offset:
            zone_info = UTC if offset == "Z" else _offset(offset)
        elif self.spec.timezone is not None:
            zone_info = self.spec.timezone
        else:
            platform = values.get("platform")
            shop = values.get("shop_id")
            zone_info = self.spec.zone_of(
                platform if isinstance(platform, str) else self.spec.default_platform,
                shop if isinstance(shop, str) else "")
        try:
            micros = int((frac or "0")[:6].ljust(6, "0"))
            when = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                            int(second or 0), micros, tzinfo=zone_info)
        except ValueError as exc:
            return f"!ts: {text[:40]!r} is not a time ({exc})"
        return int(when.timestamp() * 1000)

    def _derived_id(self, content: bytes) -> str:
        digest = xxhash.xxh3_64_hexdigest(content)
        if digest == self._last_hash:
            self._repeat += 1
            return f"row-{digest}-{self._repeat}"
        self._last_hash, self._repeat = digest, 1
        return f"row-{digest}"


def _offset(text: str) -> tzinfo:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def build_spec(columns: Iterable[str], maps: Iterable[str], timezone_name: str | None,
               ts_unit: str, policies: PolicyBook, platforms: tuple[str, ...] = ()) -> ImportSpec:
    """The :class:`ImportSpec` of a command's options, shop time zones from ``policies``."""

    def zone_of(platform: str, shop_id: str) -> tzinfo:
        return policies.resolve(platform, shop_id)[1]

    return ImportSpec(columns=parse_columns(columns), maps=parse_maps(maps),
                      timezone=None if timezone_name is None else zone(timezone_name),
                      ts_unit=ts_unit, default_platform=policies.default_platform,
                      zone_of=zone_of, platforms=platforms)


_F = TypeVar("_F", bound=Callable[..., Any])


def import_options(command: _F) -> _F:
    """The options of ``backfill`` and ``replay`` that say how to read an export."""
    options = [
        click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN",
                     help="Read event FIELD from COLUMN (CSV column or JSON key), or set it "
                          "for every row when there is no such column (type=message, "
                          "sender=buyer, platform=pdd, shop_id=...). Repeatable."),
        click.option("--map", "maps", multiple=True, metavar="FIELD=FROM:TO,...",
                     help="Replace values of FIELD, e.g. --map sender=客服:agent,买家:buyer. "
                          "Repeatable."),
        click.option("--timezone", "timezone_name", metavar="ZONE",
                     help="Time zone of times without an offset (2026-11-11 20:15:03), e.g. "
                          "Asia/Shanghai. Default: each shop's configured time zone."),
        click.option("--ts-unit", type=click.Choice(TS_UNITS), default="auto",
                     show_default=True,
                     help="Unit of numeric times; auto: below 10^11 seconds, else "
                          "milliseconds."),
        click.option("--rejects", "rejects_path", metavar="FILE",
                     help="Write every invalid line (file:line: reason) to FILE; stderr gets "
                          "a summary by reason."),
        click.option("--max-bad-share", type=click.FloatRange(0, 1),
                     default=DEFAULT_MAX_BAD_SHARE, show_default=True,
                     help="Exit non-zero when more than this share of the lines is invalid "
                          "(and always when no line could be used)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command
