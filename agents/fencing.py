"""What a worker must not do after it lost its partitions or its log: write.

Two guards, both fail-stop: when the worker can no longer be sure that what it writes is
right, it logs why and exits with :data:`EXIT_RESTART` before writing anything, and its
supervisor (Kubernetes, compose, ``chatwatch run``) starts it again on a clean slate: state
restored from the changelog, events read from the group's committed offsets.

1. :class:`WriteFence` (zombies cannot write). A worker frozen past its session timeout (a
   long GC pause, a stopped VM, SIGSTOP) or cut off from the group coordinator has been
   removed from the group; its partitions moved to another worker, which restored their state
   and went on. When it wakes up it still believes it owns them, holds events fetched before
   the freeze and a wall clock that jumped ahead (its sweeper would declare breaches whose
   replies the new owner already applied). The fence is a **lease on the group membership**:
   each accepted heartbeat renews it from the moment it was sent, and the broker keeps the
   member at least a session timeout from then. Before applying a batch, sweeping or writing
   changelog rows and output records, the worker checks the lease:

   - renewed within ``LEASE_SHARE`` of the session timeout, same generation as at the last
     assignment: write;
   - older than that but within the session timeout: hold the writes until a heartbeat
     renews it (the member may still be valid; a network blip);
   - older than the session timeout, or the generation changed without a new assignment
     (the coordinator reset this member): exit. The partitions are someone else's by now.

   This is a check against the consumer generation, not a broker-side fence: Kafka's
   transactional producers would fence a zombie at the broker, but they cost a transaction per
   flush and the embedded broker does not implement them. The remaining window is a write
   handed to the Kafka client just before the freeze: it is sent on wake-up unless the
   SIGCONT handler (:func:`install_wake_check`) exits first, which it does when the stop
   outlasted the lease. Such a row was computed while the worker owned the partition; the
   output records carry an idempotency key (``id``) for the duplicate it may produce.

2. :class:`LogWatch` (blank broker restart). Kafka's logs only grow at the end. If the broker
   reports an events partition shorter than what this worker already read from it, the log
   was lost: a broker restarted without its data, a topic deleted and recreated. (The
   changelog is not watched: the offsets the embedded broker acknowledges for produced batches
   are not exact enough to compare with, and a blank broker's group coordinator no longer
   knows the member anyway, which the fence turns into the same exit.) Going on would skip the new log's first records as already read
   or wait in recovery for changelog records that no longer exist, silently. The worker
   exits instead; the restart reads the new log from the beginning (its state is gone with
   the old log; replay the history with ``chatwatch replay`` if it matters).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

# EX_TEMPFAIL: the worker stopped itself on purpose and a restart is the cure.
EXIT_RESTART = 75
# EX_CONFIG: the broker refuses this worker's settings; a restart with them cannot help.
EXIT_CONFIG = 78
# The lease is trusted for this share of the session timeout (heartbeats every tenth of it).
LEASE_SHARE = 0.8


def leave_now(message: str, code: int) -> None:
    """Log ``message`` as critical and exit at once with ``code``, writing nothing more.

    ``os._exit``: no faust shutdown, whose final commit and flushes are exactly the writes
    that must not happen.
    """
    log.critical("%s", message)
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: S110 - leaving anyway
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def fail_stop(reason: str) -> None:
    """Log ``reason`` and exit at once with :data:`EXIT_RESTART` (:func:`leave_now`)."""
    leave_now(f"{reason}; exiting with code {EXIT_RESTART} so that the supervisor restarts "
              "this worker", EXIT_RESTART)


class WriteFence:
    """The group-membership lease; see the module docstring.

    ``coordinator`` is anything with ``generation`` (aiokafka's GroupCoordinator). Time comes
    from ``clock`` (monotonic seconds), so tests move it by hand.
    """

    def __init__(self, session_timeout: float, clock: Callable[[], float] = time.monotonic,
                 stop: Callable[[str], None] = fail_stop) -> None:
        self.session_timeout = session_timeout
        self.lease = session_timeout * LEASE_SHARE
        self.clock = clock
        self.stop = stop
        self.coordinator: Any = None
        self.generation: int | None = None
        self.confirmed = clock()

    def assigned(self, coordinator: Any) -> None:
        """A new assignment: the generation it came with, the lease renewed now."""
        self.coordinator = coordinator
        self.generation = coordinator.generation
        self.confirmed = self.clock()

    def renewed(self, sent_at: float) -> None:
        """A heartbeat sent at ``sent_at`` was accepted."""
        if sent_at > self.confirmed:
            self.confirmed = sent_at

    def state(self) -> tuple[str, str]:
        """``("ok"|"hold"|"lost", why)`` as of now."""
        if self.coordinator is None:
            return "ok", "no assignment yet"
        generation = self.coordinator.generation
        if generation != self.generation:
            return "lost", (f"the consumer group moved on (generation {self.generation} -> "
                            f"{generation}) before this worker wrote its pending output: its "
                            "partitions may be owned by another worker now")
        age = self.clock() - self.confirmed
        if age > self.session_timeout:
            return "lost", (f"no heartbeat accepted for {age:.1f} s, past the session timeout "
                            f"({self.session_timeout:g} s): the group has removed this worker "
                            "(paused or cut off from the broker) and its partitions moved")
        if age > self.lease:
            return "hold", f"no heartbeat accepted for {age:.1f} s"
        return "ok", ""

    def check(self) -> None:
        """Stop the worker if its membership is lost (before applying or sweeping)."""
        verdict, why = self.state()
        if verdict == "lost":
            self.stop(why)

    async def before_write(self, poll: float = 0.05) -> None:
        """Return when writing is safe; hold while uncertain; stop when the lease is lost."""
        while True:
            verdict, why = self.state()
            if verdict == "ok":
                return
            if verdict == "lost":
                self.stop(why)
                return
            await asyncio.sleep(poll)


def install_wake_check(fence: WriteFence) -> None:
    """On SIGCONT, check the fence before anything else of the process runs again.

    A Python signal handler runs in the main thread at the next bytecode, ahead of the event
    loop's tasks, so a worker stopped past its lease exits before its Kafka client sends what
    it had buffered. Other pauses (GC, a frozen VM) have no signal; the checks before every
    write cover them.
    """
    previous = signal.getsignal(signal.SIGCONT)

    def on_cont(signum: int, frame: Any) -> None:
        fence.check()
        if callable(previous):
            previous(signum, frame)

    try:
        signal.signal(signal.SIGCONT, on_cont)
    except ValueError:  # not the main thread (a test building apps): the write checks remain
        log.debug("SIGCONT wake check not installed outside the main thread")


class LogWatch:
    """How far this process read each events partition.

    Marks are never lowered, whoever owns the partition now: a Kafka log does not shrink, so
    a broker reporting an end below a mark has lost the log. A partition must look short in
    ``confirm`` consecutive checks (the embedded broker's reported end can lag by one batch
    until :func:`agents.internals.true_end_offsets` corrects it; a probe may time out).
    """

    def __init__(self, events_topic: str, confirm: int = 2) -> None:
        self.events_topic = events_topic
        self.confirm = confirm
        self.marks: dict[tuple[str, int], int] = {}
        self._short: dict[tuple[str, int], int] = {}

    def read(self, partition: int, next_offset: int) -> None:
        """Offsets before ``next_offset`` of events partition ``partition`` were applied."""
        self._mark((self.events_topic, partition), next_offset)

    def _mark(self, key: tuple[str, int], end: int) -> None:
        if end > self.marks.get(key, 0):
            self.marks[key] = end

    def verdict(self, ends: Mapping[tuple[str, int], int | None]) -> str | None:
        """Given the broker's end offsets, why the log is gone (or None)."""
        gone = []
        for key, mark in sorted(self.marks.items()):
            end = ends.get(key)
            if end is None or end >= mark:
                self._short.pop(key, None)
                continue
            self._short[key] = self._short.get(key, 0) + 1
            if self._short[key] >= self.confirm:
                gone.append(f"{key[0]}/{key[1]} ends at offset {end}, this worker had "
                            f"reached {mark}")
        if not gone:
            return None
        return ("the broker lost the log this worker was reading (a blank broker restart or "
                "a recreated topic): " + "; ".join(gone[:4])
                + (f" and {len(gone) - 4} more" if len(gone) > 4 else "")
                + ". The state kept for it is stale; after the restart the worker reads the "
                "log from its start")

    async def run(self, end_offsets: Callable[[Mapping[tuple[str, int], int]],
                                              Awaitable[Mapping[tuple[str, int], int | None]]],
                  interval: float, stop: Callable[[str], None] = fail_stop) -> None:
        """Check every ``interval`` seconds; a broker that does not answer is no verdict.

        ``end_offsets(marks)`` returns the broker's end offset of each partition in ``marks``
        (it may take more care over those below their mark).
        """
        while True:
            await asyncio.sleep(interval)
            if not self.marks:
                continue
            try:
                ends = await end_offsets(dict(self.marks))
            except Exception as exc:  # broker away, topic not there yet: look again later
                log.debug("log check skipped: %r", exc)
                continue
            why = self.verdict(ends)
            if why is not None:
                stop(why)
                return


def probe_end_offsets(client: Callable[[], Any], confirm_timeout: float = 5.0) -> Callable[
        [Mapping[tuple[str, int], int]], Any]:
    """End offsets of (topic, partition) pairs from a probe client, corrected where short.

    The embedded broker under-reports an end by up to one record batch; an end below what a
    caller expects is read again with :func:`agents.internals.true_end_offsets`. One that
    read cannot confirm (a slow broker, a worker starved of CPU) is None, no verdict: only
    a log seen to be short is taken as lost.
    """
    probe: list[Any] = []

    async def end_offsets(marks: Mapping[tuple[str, int], int]
                          ) -> Mapping[tuple[str, int], int | None]:
        from aiokafka import TopicPartition
        from faust.types import TP

        from agents import internals

        if not probe:
            consumer = client()
            await asyncio.wait_for(consumer.start(), 10)
            probe.append(consumer)
        reported = await asyncio.wait_for(
            probe[0].end_offsets([TopicPartition(t, p) for t, p in marks]), 10)
        ends: dict[tuple[str, int], int | None] = {
            (tp.topic, tp.partition): end for tp, end in reported.items()}
        short = {TP(t, p): end for (t, p), end in ends.items()
                 if end is not None and end < marks[(t, p)]}
        if short:
            for tp, end in (await internals.true_end_offsets(
                    short, client, confirm_timeout, keep_unconfirmed=False)).items():
                ends[(tp.topic, tp.partition)] = end
        return ends

    return end_offsets


def join_refused(exc: BaseException | None, group: str, session_timeout: float) -> str | None:
    """The one-line reason to stop when the broker refused the consumer group join for good.

    aiokafka logs such a refusal once and keeps the error for the next fetch, which faust makes
    only for assigned partitions: without this the worker would run on, owning nothing. None
    for any other error (those are retried).
    """
    from aiokafka import errors

    if isinstance(exc, errors.InvalidSessionTimeoutError):
        return (f"the broker refused this worker's consumer group join (group {group}): the "
                f"session timeout of {session_timeout:g} s is outside the broker's "
                f"group.min.session.timeout.ms..group.max.session.timeout.ms (6 s to 30 min on "
                f"Apache Kafka by default); set CHATWATCH_SESSION_TIMEOUT_SECONDS within them")
    if isinstance(exc, errors.GroupAuthorizationFailedError):
        return (f"the broker refused this worker's consumer group join: not authorized for "
                f"group {group}; grant the worker's principal Read on that group (its id is "
                f"CHATWATCH_APP_ID)")
    if isinstance(exc, errors.InvalidGroupIdError):
        return (f"the broker refused this worker's consumer group join: {group!r} is not a "
                f"valid group id; set CHATWATCH_APP_ID")
    if isinstance(exc, errors.InconsistentGroupProtocolError):
        return (f"the broker refused this worker's consumer group join: group {group} has "
                f"members of another protocol (a consumer that is not chatwatch using the same "
                f"group id); give chatwatch a CHATWATCH_APP_ID of its own")
    return None
