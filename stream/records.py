"""The output records: breaches, violations and dead letters, encoded in one place.

Every driver writes these shapes — the live worker to ``chat.breaches``, ``chat.violations``
and ``chat.events.dlq``, ``chatwatch backfill --breach-records/--violation-records`` to files
— so a consumer reads the same record whichever produced it. Each record carries an
idempotency key (``id``): a breach is ``conversation#wait``, a violation the message's event
id; a worker that crashed after producing but before acknowledging its input produces the
same record again on restart, and a consumer de-duplicates on ``id``.

No record may exceed the producer's request limit (``MAX_RECORD_BYTES``, under Kafka's and
aiokafka's 1 MiB default): the content guard already bounds a violation (findings per
category, text cut), :func:`violation_record` drops findings should the bound still be
passed, and a dead letter's original bytes are cut with the original size and digest in its
headers. A record too large would otherwise make the client raise and take the worker down.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from stream.core.content import Violation
from stream.core.guard import ContentFlagged
from stream.core.kpi_state import KpiBreached
from stream.core.reply_window import WaitBreached

# What one record (value plus headers) may take. aiokafka refuses requests over
# max_request_size (1 MiB by default) and Kafka brokers messages over message.max.bytes
# (1 MB by default); a margin is left for the key and the record batch framing.
MAX_RECORD_BYTES = 1_000_000
# A violation record stays under this whatever the message (issue: poison text).
MAX_VIOLATION_BYTES = 64 * 1024
DLQ_MARGIN = 4096  # headers, key and framing of a dead letter

_json = msgspec.json.Encoder()


def iso(ts_ms: int, tz: ZoneInfo) -> str:
    """An event time as RFC 3339 in the shop's time zone."""
    return datetime.fromtimestamp(ts_ms / 1000, tz).isoformat(timespec="milliseconds")


def day_iso(day: int) -> str:
    """A business-day ordinal as YYYY-MM-DD."""
    return datetime.fromordinal(day).date().isoformat()


def breach_id(breach: WaitBreached | KpiBreached) -> str:
    """The idempotency key of a breach record.

    The base wait (the default KPI): the conversation and its wait number, as before KPIs;
    another KPI's wait: the conversation, the KPI and the wait's start.
    """
    if isinstance(breach, KpiBreached):
        return f"{breach.conversation_id}#{breach.kpi}@{breach.start_ms}"
    return f"{breach.conversation_id}#{breach.seq}"


def breach_record(breach: WaitBreached | KpiBreached, tz: ZoneInfo,
                  kpi: str | None = None) -> dict[str, Any]:
    """The ``chat.breaches`` record of one breached wait, naming its KPI.

    ``kpi`` names the KPI of a base wait (``KpiSet.base_name``); a :class:`KpiBreached`
    names its own.
    """
    return {
        "id": breach_id(breach),
        "kpi": breach.kpi if isinstance(breach, KpiBreached) else kpi,
        "shop_id": breach.shop_id,
        "conversation_id": breach.conversation_id,
        "agent": breach.agent,
        "wait_start": iso(breach.start_ms, tz),
        "deadline": iso(breach.deadline_ms, tz),
        "day": day_iso(breach.day),
        "counted": breach.counted,
    }


def violation_dict(v: Violation) -> dict[str, Any]:
    """The JSON shape of one finding (``chatwatch check``, ``POST /check``, records)."""
    return {"category": v.category, "severity": v.severity, "start": v.start, "end": v.end,
            "match": v.match, "how": v.how}


def violation_record(flagged: ContentFlagged, tz: ZoneInfo) -> dict[str, Any]:
    """The ``chat.violations`` record of one flagged message (text masked, bounded)."""
    record: dict[str, Any] = {
        "id": flagged.event_id,
        "event_id": flagged.event_id,
        "shop_id": flagged.shop_id,
        "conversation_id": flagged.conversation_id,
        "platform": flagged.platform,
        "agent": flagged.agent,
        "sender": flagged.sender,
        "ts": iso(flagged.ts_ms, tz),
        "day": day_iso(flagged.day),
        "text": flagged.text,
        "violations": [violation_dict(v) for v in flagged.findings],
        "total": flagged.total,
        "capped": flagged.capped,
    }
    if flagged.cut_chars:
        record["text_cut_chars"] = flagged.cut_chars
    if flagged.oversized:
        record["oversized"] = True
    return record


def encode_violation(flagged: ContentFlagged, tz: ZoneInfo) -> bytes:
    """A violation record as bytes, never over ``MAX_VIOLATION_BYTES``.

    The guard's bounds keep it far below; should configured bounds be set too high, the
    findings are halved (keeping the first of each severity order) until it fits.
    """
    return fit_violation(violation_record(flagged, tz))


def fit_violation(record: dict[str, Any]) -> bytes:
    """A :func:`violation_record` as bytes, findings (then text) halved until it fits."""
    raw = _json.encode(record)
    while len(raw) > MAX_VIOLATION_BYTES:
        found = record["violations"]
        record["capped"] = True
        if len(found) > 1:
            record["violations"] = found[:len(found) // 2]
        else:
            record["text"] = record["text"][:len(record["text"]) // 2]
        raw = _json.encode(record)
    return raw


def encode_breach(breach: WaitBreached | KpiBreached, tz: ZoneInfo,
                  kpi: str | None = None) -> bytes:
    """A breach record as bytes (small by construction: ids and times)."""
    return _json.encode(breach_record(breach, tz, kpi))


MAX_DLQ_KEY_BYTES = 1024  # a longer key is replaced by its digest (no conversation id is that long)


def dead_letter(raw: bytes, reason: str, source: str, key: bytes | None = None,
                limit: int = MAX_RECORD_BYTES
                ) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """The key, value and headers of a dead letter: the original bytes, reason and source.

    Bytes that would not fit in one record, the key counted, are cut to fit; the headers then
    say so and carry the original size and SHA-256, so the message can still be found in the
    producer's logs. A key over ``MAX_DLQ_KEY_BYTES`` is replaced by its SHA-256 the same way.
    """
    reason = reason if len(reason) <= 1000 else reason[:1000] + "…"
    headers = [("reason", reason.encode()), ("source", source.encode())]
    if key is not None and len(key) > MAX_DLQ_KEY_BYTES:
        headers += [("original_key_bytes", str(len(key)).encode()),
                    ("original_key_sha256", hashlib.sha256(key).hexdigest().encode())]
        key = hashlib.sha256(key).hexdigest().encode()
    room = limit - DLQ_MARGIN - (len(key) if key is not None else 0)
    if len(raw) > room:
        headers += [("truncated", b"true"), ("original_bytes", str(len(raw)).encode()),
                    ("original_sha256", hashlib.sha256(raw).hexdigest().encode())]
        raw = raw[:room]
    return key, raw, headers
