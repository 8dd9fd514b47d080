"""``chatwatch check``: bulk forbidden-content check of messages read one per line on stdin.

One detector is built once and every line is checked in the same process, with buffered
output, so the command suits large exports. :func:`check_text` is the same check for one text,
used by the worker's ``POST /check`` endpoint.
"""

from __future__ import annotations

from typing import IO, Any

import click
import orjson

from stream.core.content import Detector, Violation
from stream.core.policy import PolicyBook

ROLES = ("agent", "buyer")


def violation_dict(v: Violation) -> dict[str, Any]:
    """Return the JSON shape of one violation (chatwatch check, POST /check, chat.violations)."""
    return {"category": v.category, "severity": v.severity, "start": v.start, "end": v.end,
            "match": v.match}


def check_text(detector: Detector, policies: PolicyBook, text: str, platform: str | None,
               role: str = "agent") -> list[dict[str, Any]]:
    """Violations of one message as JSON-ready dicts; buyer messages never violate.

    ``platform`` picks the content mode (``policies.platform_policy(platform).content_mode``);
    None means the configured default platform.
    """
    if role not in ROLES:
        raise ValueError(f"role {role!r}: use agent or buyer")
    if role == "buyer":
        return []
    platform = platform or policies.default_platform
    mode = policies.platform_policy(platform).content_mode
    return [violation_dict(v) for v in detector.scan(text, mode=mode, platform=platform)]


def check_stream(detector: Detector, policies: PolicyBook, lines: IO[str], out: IO[bytes],
                 platform: str | None, role: str) -> int:
    """Check every line of ``lines``, writing one JSON object per line; returns the count."""
    platform = platform or policies.default_platform
    mode = policies.platform_policy(platform).content_mode
    scan = detector.scan
    buf = bytearray()  # written in 64 KiB chunks: one syscall per few hundred lines
    n = 0
    for n, raw in enumerate(lines, start=1):  # noqa: B007 - n is the line count afterwards
        text = raw[:-1] if raw.endswith("\n") else raw
        if text.endswith("\r"):
            text = text[:-1]
        if role == "buyer":
            record: dict[str, Any] = {"line": n, "violations": [], "masked": detector.mask(text)}
        else:
            record = {"line": n, "violations": [
                violation_dict(v) for v in scan(text, mode=mode, platform=platform)]}
        buf += orjson.dumps(record)
        buf += b"\n"
        if len(buf) >= 1 << 16:
            out.write(buf)
            buf.clear()
    out.write(buf)
    return n


@click.command("check")
@click.option("--platform", default=None,
              help="Platform whose content rules apply (pdd: any mention is critical). "
                   "Default: the configured default platform.")
@click.option("--role", type=click.Choice(ROLES), default="agent", show_default=True,
              help="Who wrote the messages; buyer lines never violate and are printed masked.")
@click.pass_obj
def check(obj: Any, platform: str | None, role: str) -> None:
    """Check messages read one per line on stdin; print one JSON object per line."""
    settings = obj.settings
    detector = Detector.from_settings(settings.content)
    stdin = click.get_text_stream("stdin", encoding="utf-8", errors="replace")
    out = click.get_binary_stream("stdout")  # buffered; flushed once at the end
    check_stream(detector, settings.policies, stdin, out, platform, role)
    out.flush()
