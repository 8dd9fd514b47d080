"""``chatwatch check``: bulk forbidden-content check of messages read one per line on stdin.

One content guard (the core's, with its bounds) is built once and every line is checked in
the same process, with buffered output, so the command suits large exports. :func:`check_text`
is the same check for one text, used by the worker's ``POST /check`` endpoint. Both resolve
the policy as the engine does: the shop's overrides apply when ``--shop`` is given.
"""

from __future__ import annotations

from typing import IO, Any

import click
import orjson

from stream.core.guard import ContentGuard
from stream.core.policy import PolicyBook
from stream.records import violation_dict

ROLES = ("agent", "buyer")

__all__ = ["ROLES", "check", "check_stream", "check_text", "violation_dict"]


def _resolve(policies: PolicyBook, platform: str | None, shop_id: str | None) -> tuple[Any, str]:
    """The policy and platform a message is judged under, as the engine resolves them.

    A shop's configured platform wins over the one given, as for its conversations.
    """
    shop = shop_id or ""
    platform = policies.platform_of(platform, shop)
    return policies.resolve(platform, shop)[0], platform


def check_text(guard: ContentGuard, policies: PolicyBook, text: str, platform: str | None,
               role: str = "agent", shop_id: str | None = None) -> dict[str, Any]:
    """The check of one message: ``violations`` (JSON-ready), ``total``, ``capped``.

    Buyer messages never violate. ``platform`` (default: the configured default platform) and
    ``shop_id`` pick the policy, the shop's overrides included, exactly as the engine does.
    """
    if role not in ROLES:
        raise ValueError(f"role {role!r}: use agent or buyer")
    if role == "buyer":
        return {"violations": [], "total": 0, "capped": False}
    policy, platform = _resolve(policies, platform, shop_id)
    checked = guard.check(text, policy, platform)
    if checked is None:
        return {"violations": [], "total": 0, "capped": False}
    return {"violations": [violation_dict(v) for v in checked.findings],
            "total": checked.total, "capped": checked.capped}


def check_stream(guard: ContentGuard, policies: PolicyBook, lines: IO[str], out: IO[bytes],
                 platform: str | None, role: str, shop_id: str | None = None) -> int:
    """Check every line of ``lines``, writing one JSON object per line; returns the count."""
    policy, platform = _resolve(policies, platform, shop_id)
    check = guard.check
    buf = bytearray()  # written in 64 KiB chunks: one syscall per few hundred lines
    n = 0
    for n, raw in enumerate(lines, start=1):  # noqa: B007 - n is the line count afterwards
        text = raw[:-1] if raw.endswith("\n") else raw
        if text.endswith("\r"):
            text = text[:-1]
        if role == "buyer":
            record: dict[str, Any] = {"line": n, "violations": [], "masked": guard.mask(text)}
        else:
            checked = check(text, policy, platform)
            record = {"line": n, "violations": [] if checked is None else [
                violation_dict(v) for v in checked.findings]}
            if checked is not None and checked.capped:
                record["total"] = checked.total
                record["capped"] = True
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
@click.option("--shop", "shop_id", default=None,
              help="Shop whose configured overrides (platform, content mode) apply.")
@click.pass_obj
def check(obj: Any, platform: str | None, role: str, shop_id: str | None) -> None:
    """Check messages read one per line on stdin; print one JSON object per line."""
    settings = obj.settings
    if platform is not None and (problem := settings.platform_problem(platform)):
        raise click.BadParameter(problem, param_hint="--platform")
    guard = settings.content.guard()
    stdin = click.get_text_stream("stdin", encoding="utf-8", errors="replace")
    out = click.get_binary_stream("stdout")  # buffered; flushed once at the end
    check_stream(guard, settings.policies, stdin, out, platform, role, shop_id)
    out.flush()
