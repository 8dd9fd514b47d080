"""``POST /check`` off the event loop: checker processes behind a concurrency limit.

The content check of one text costs milliseconds of CPU (about 10 ms for 18 KB); on the
worker's event loop, 200 clients posting at once stopped the stream (962 -> 4 events/s), and a
thread would not help, as the check holds the GIL. So checks run in ``check_processes``
processes of their own (started with ``spawn``: the worker has threads, which ``fork`` must
not copy), each with the guard and policies built once, and at most ``check_concurrency``
requests are served at a time: :meth:`CheckPool.slot` gives None beyond that, and the view
answers 429 with ``Retry-After`` before it has read the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import multiprocessing
import os
import pickle
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Literal

import msgspec

from stream.check import check_text
from stream.config import ContentSettings
from stream.core.guard import ContentGuard
from stream.core.policy import PolicyBook

log = logging.getLogger(__name__)

# Seconds a client refused with 429 is asked to wait: a check takes milliseconds, so a slot
# is free again well within it.
RETRY_AFTER_SECONDS = 1
# The 429 itself is sent this long after the request: a client that asks again at once,
# Retry-After or not, then costs the event loop two short answers a second per connection
# instead of as many as it can send (200 such clients: ~4,000 answers a second, ~40 % of the
# loop, before this).
REFUSAL_DELAY_SECONDS = 0.5
# How much lower than the worker the checker processes run (nice(2) increment).
CHECK_NICENESS = 10

# How deeply a body may nest (README).
CHECK_MAX_DEPTH = 32


class CheckRequest(msgspec.Struct, frozen=True):
    """The body of ``POST /check``; unknown fields are ignored."""

    text: str
    platform: str | None = None
    role: Literal["agent", "bot", "buyer"] = "agent"
    shop_id: str | None = None


_check_decoder = msgspec.json.Decoder(CheckRequest)


def parse_check_request(raw: bytes) -> CheckRequest | str:
    """The request, or a one-line reason why the body is not one (answered with 400)."""
    if raw.count(b"[") + raw.count(b"{") > CHECK_MAX_DEPTH and _depth(raw) > CHECK_MAX_DEPTH:
        return f"the body nests deeper than {CHECK_MAX_DEPTH} levels"
    try:
        return _check_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return f"the body must be a JSON object with a string field `text`: {exc}"
    except msgspec.DecodeError as exc:
        return f"the body must be JSON (UTF-8): {exc}"
    except UnicodeDecodeError:
        return "the body must be JSON (UTF-8): it is not valid UTF-8"
    except (RecursionError, ValueError, OverflowError) as exc:
        return f"the body is not a check request: {type(exc).__name__}"


def _depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > CHECK_MAX_DEPTH:
                    return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


# The checker process's guard and policies, set by :func:`_start` (never in the worker).
_checker: tuple[ContentGuard, PolicyBook] | None = None


def _start(settings: bytes) -> None:
    global _checker  # noqa: PLW0603 - one per checker process, built once
    # The stream comes first: where the checks and the stream share too few cores, the
    # scheduler gives the worker's own process the CPU it wants before any check.
    with contextlib.suppress(OSError):
        os.nice(CHECK_NICENESS)
    content, policies = pickle.loads(settings)  # noqa: S301 - from the worker itself
    _checker = (content.guard(), policies)


def _rebuild(cls: type, values: dict[str, Any]) -> Any:
    return cls(**values)


class _Pickler(pickle.Pickler):
    """Dataclasses by their constructor's fields.

    The compiled core's frozen dataclasses (mypyc) cannot be unpickled the usual way: restoring
    their state assigns to frozen fields.
    """

    def reducer_override(self, obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return _rebuild, (type(obj), {f.name: getattr(obj, f.name)
                                          for f in dataclasses.fields(obj) if f.init})
        return NotImplemented


def _settings_blob(content: ContentSettings, policies: PolicyBook) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer).dump((content, policies))
    return buffer.getvalue()


def _check(raw: bytes) -> tuple[int, dict[str, Any]]:
    assert _checker is not None, "a checker process starts with _start"
    guard, policies = _checker
    parsed = parse_check_request(raw)
    if isinstance(parsed, str):
        return 400, {"error": parsed}
    return 200, check_text(guard, policies, parsed.text, parsed.platform or None,
                           role="buyer" if parsed.role == "buyer" else "agent",
                           shop_id=parsed.shop_id)


class CheckPool:
    """Bounded, off-loop content checks for ``POST /check``."""

    def __init__(self, content: ContentSettings, policies: PolicyBook, concurrency: int,
                 processes: int) -> None:
        self.content = content
        self.policies = policies
        self.concurrency = concurrency
        self.processes = processes
        self.in_flight = 0
        self._executor: ProcessPoolExecutor | None = None

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yield True while holding one of the ``concurrency`` slots, False when none is free."""
        if self.in_flight >= self.concurrency:
            yield False
            return
        self.in_flight += 1
        try:
            yield True
        finally:
            self.in_flight -= 1

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start, initargs=(_settings_blob(self.content, self.policies),))
        return self._executor

    async def check(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """(status, JSON) of one request body, parsed and checked in a checker process.

        200 with :func:`stream.check.check_text`'s answer, 400 with why the body is not a
        check request (parsing a hostile body costs time too, so it is not done here), or 503
        when the checker process died meanwhile.
        """
        loop = asyncio.get_running_loop()
        pool = self._pool()
        try:
            return await loop.run_in_executor(pool, _check, raw)
        except BrokenProcessPool:
            # a checker died (killed, out of memory, could not start): the next request
            # starts a new pool; this one is told to come back
            log.warning("a POST /check process died; starting new ones")
            if self._executor is pool:
                self._executor = None
                pool.shutdown(wait=False, cancel_futures=True)
            return 503, {"error": "the check process stopped; try again"}

    def close(self) -> None:
        """Stop the checker processes (pending checks are cancelled)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
