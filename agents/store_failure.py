"""A fatal error of the local state store stops the worker, and ``/health`` names it.

The conversations Table lives in RocksDB (``rocksdb://``); a write that fails there (a full
disk, an I/O error, a read-only or corrupted volume) cannot be retried into success by the
worker. faust let such an error end its fetcher and kept the process up: nothing was read any
more while ``/metrics`` answered 200, so a liveness probe never restarted it, and ``/health``
did not say why. Now the first store error is recorded by a :class:`StoreGuard`: nothing more
is written or acknowledged, ``/health`` answers 503 naming the cause, and after
:data:`GRACE_SECONDS` (probes and scrapes in flight see why) the process exits with
:data:`EXIT_STORE_FAILED` and a critical log line naming the cause and the fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from agents.fencing import leave_now
from stream.errors import ChatwatchError

log = logging.getLogger(__name__)

# EX_IOERR: the worker stopped because its disk failed it; a restart alone may not cure it.
EXIT_STORE_FAILED = 74
GRACE_SECONDS = 2.0

# What RocksDB (rocksdict) says, e.g. "IO error: No space left on device: While appending to
# file: …/000004.log: No space left on device" (rocksdict raises a plain Exception).
_CAUSES = (
    ("No space left on device", "disk full"),
    ("Disk quota exceeded", "disk quota exceeded"),
    ("Read-only file system", "read-only file system"),
    ("Corruption", "store corrupted"),
    ("IO error", "I/O error"),
)


class StoreFailed(ChatwatchError):
    """The local state store cannot be written: fix the volume under CHATWATCH_DATA_DIR.

    Free space (or give the worker a larger volume), or replace a failed or corrupted one
    (its state is rebuilt from the changelog), then start the worker again.
    """


def cause_of(exc: BaseException) -> str:
    """A short name of what went wrong: ``disk full``, ``I/O error``, ..."""
    text = str(exc)
    for needle, cause in _CAUSES:
        if needle in text:
            return cause
    return f"store error ({type(exc).__name__})"


def exit_now(reason: str) -> None:
    """Log ``reason`` and leave with :data:`EXIT_STORE_FAILED`, writing nothing more.

    Without faust's shutdown (:func:`agents.fencing.leave_now`): it would commit and flush,
    and the state behind those writes is not on disk.
    """
    leave_now(f"{reason}; exiting with code {EXIT_STORE_FAILED}", EXIT_STORE_FAILED)


class StoreGuard:
    """Records the first fatal store error; stops the process shortly after."""

    def __init__(self, data_dir: str, stop: Callable[[str], None] = exit_now,
                 grace: float = GRACE_SECONDS) -> None:
        self.data_dir = data_dir
        self.stop = stop
        self.grace = grace
        self.failure: str | None = None

    def failed(self, exc: BaseException, doing: str) -> StoreFailed:
        """Record ``exc`` (raised while ``doing``), schedule the exit; the error to raise."""
        if self.failure is None:
            self.failure = (f"the state store failed ({cause_of(exc)}) while {doing}: {exc}; "
                            f"free space on (or replace) the volume of CHATWATCH_DATA_DIR="
                            f"{self.data_dir}, then start the worker again")
            log.critical("%s; stopping in %g s", self.failure, self.grace)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on the loop (a thread): stop at once
                self.stop(self.failure)
            else:
                loop.call_later(self.grace, self.stop, self.failure)
        return StoreFailed(self.failure)

    def check(self) -> None:
        """Raise :class:`StoreFailed` once the store has failed (no write may follow)."""
        if self.failure is not None:
            raise StoreFailed(self.failure)

    @contextmanager
    def guarding(self, doing: str) -> Iterator[None]:
        """Turn any store error inside into :class:`StoreFailed` (``KeyError`` passes)."""
        self.check()
        try:
            yield
        except (KeyError, StoreFailed):
            raise
        except Exception as exc:
            raise self.failed(exc, doing) from exc
