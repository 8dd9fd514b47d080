"""The write fence and the log watch (agents/fencing.py), with a hand-moved clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from agents.fencing import LogWatch, WriteFence, join_refused


@dataclass
class Coordinator:
    generation: int = 7


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Stopped(Exception):
    pass


def stop(why: str) -> None:
    raise Stopped(why)


def fence() -> tuple[WriteFence, Clock, Coordinator]:
    clock, coordinator = Clock(), Coordinator()
    f = WriteFence(10.0, clock=clock, stop=stop)
    f.assigned(coordinator)
    return f, clock, coordinator


def test_heartbeats_keep_the_lease_and_writes_go_ahead():
    f, clock, _ = fence()
    for _ in range(5):
        clock.now += 5
        f.renewed(clock.now - 0.1)
        assert f.state()[0] == "ok"
        f.check()
        asyncio.run(f.before_write())


def test_a_late_heartbeat_holds_writes_until_renewed():
    f, clock, _ = fence()
    clock.now += 9  # past 80 % of the session timeout, within it
    assert f.state()[0] == "hold"
    f.check()  # not lost: applying and sweeping go on

    async def write_after_renewal() -> None:
        task = asyncio.ensure_future(f.before_write(poll=0.01))
        await asyncio.sleep(0.05)
        assert not task.done()  # held
        f.renewed(clock.now)
        await asyncio.wait_for(task, 1)

    asyncio.run(write_after_renewal())


def test_a_pause_past_the_session_timeout_stops_the_worker():
    f, clock, _ = fence()
    clock.now += 10.5
    with pytest.raises(Stopped, match="no heartbeat accepted for 10.5 s"):
        f.check()
    with pytest.raises(Stopped):
        asyncio.run(f.before_write())


def test_a_reset_generation_stops_the_worker_even_with_a_fresh_lease():
    f, clock, coordinator = fence()
    coordinator.generation = -1  # the coordinator did not know this member any more
    with pytest.raises(Stopped, match="generation 7 -> -1"):
        f.check()
    f.assigned(coordinator)  # a new assignment: the new generation is the one to keep
    f.check()


def test_an_old_heartbeat_does_not_move_the_lease_back():
    f, clock, _ = fence()
    clock.now += 3
    f.renewed(clock.now)
    f.renewed(clock.now - 2)
    assert f.confirmed == clock.now


def test_the_log_watch_sees_a_shorter_log_after_two_looks():
    w = LogWatch("events", confirm=2)
    w.read(0, 120)
    w.read(0, 100)  # marks never go down
    w.read(3, 50)
    assert w.marks == {("events", 0): 120, ("events", 3): 50}
    intact = {("events", 0): 130, ("events", 3): 50}
    assert w.verdict(intact) is None
    blank = {("events", 0): 4, ("events", 3): 0}
    assert w.verdict(blank) is None  # once may be a broker's stale answer
    why = w.verdict(blank)
    assert why is not None
    assert "events/0 ends at offset 4, this worker had reached 120" in why
    assert "events/3 ends at offset 0" in why


def test_the_log_watch_forgets_a_short_look_once_the_log_is_long_again():
    w = LogWatch("events", confirm=2)
    w.read(1, 10)
    assert w.verdict({("events", 1): 5}) is None
    assert w.verdict({("events", 1): 10}) is None
    assert w.verdict({("events", 1): 5}) is None  # the count started again
    assert w.verdict({("events", 1): None}) is None  # no answer: no verdict


def test_the_log_watch_task_stops_on_a_lost_log_and_skips_broker_errors():
    w = LogWatch("events", confirm=1)
    w.read(0, 10)
    calls: list[int] = []

    async def ends(marks):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("broker away")
        return {("events", 0): 0}

    with pytest.raises(Stopped, match="the broker lost the log"):
        asyncio.run(w.run(ends, 0.01, stop=stop))
    assert len(calls) == 2


class SilentProbe:
    """A consumer whose fetches return nothing (a broker too slow to answer in time)."""

    def __init__(self, answers: dict[int, int] | None = None) -> None:
        self.answers = answers or {}  # partition -> last offset a fetch returns
        self.assigned: list = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def assign(self, tps: list) -> None:
        self.assigned = tps

    def seek(self, tp, offset: int) -> None: ...

    async def getmany(self, *tps, timeout_ms: int):  # type: ignore[no-untyped-def]
        from types import SimpleNamespace

        await asyncio.sleep(timeout_ms / 1000)
        return {tp: [SimpleNamespace(offset=self.answers[tp.partition])]
                for tp in tps if tp.partition in self.answers}


def test_an_end_the_probe_cannot_confirm_is_no_verdict():
    """A worker starved of CPU once saw an end 1,600 records short that its probe could not
    re-read in time, and exited as if the log were lost: an unconfirmed end is unknown."""
    from faust.types import TP

    from agents.fencing import probe_end_offsets
    from agents.internals import true_end_offsets

    short = {TP("events", 2): 23_528, TP("events", 5): 10}
    probe = SilentProbe(answers={5: 9})  # partition 5 answers: its log really ends at 10
    ends = asyncio.run(true_end_offsets(short, lambda: probe, timeout=0.3,
                                        keep_unconfirmed=False))
    assert ends == {TP("events", 2): None, TP("events", 5): 10}
    kept = asyncio.run(true_end_offsets(short, lambda: SilentProbe(), timeout=0.3))
    assert kept == short  # for a changelog's end the reported one is the best there is

    class Reporter(SilentProbe):
        async def end_offsets(self, tps):  # type: ignore[no-untyped-def]
            return {tp: {2: 23_528, 5: 10}[tp.partition] for tp in tps}

    watch = LogWatch("events", confirm=2)
    watch.read(2, 25_134)
    watch.read(5, 400)
    check = probe_end_offsets(lambda: Reporter(answers={5: 9}), confirm_timeout=0.3)
    marks = dict(watch.marks)
    for _ in range(2):
        ends2 = asyncio.run(check(marks))
        assert ends2[("events", 2)] is None
        why = watch.verdict(ends2)
    assert why is not None and "events/5 ends at offset 10" in why
    assert "events/2" not in why


def test_recovery_seeks_below_zero_or_to_an_unknown_offset_read_from_the_start():
    """A chaos run crashed faust's recovery with ``None < 0`` (an offset the next assignment
    had reset): such seeks start at 0, the others are kept."""
    from faust.types import TP

    from agents.internals import recovery_seeks

    asked = {TP("cl", 0): None, TP("cl", 1): -1, TP("cl", 2): 0, TP("cl", 3): 41}
    assert recovery_seeks(asked) == {TP("cl", 0): 0, TP("cl", 1): 0, TP("cl", 2): 0,
                                     TP("cl", 3): 41}


def test_a_group_join_refused_for_good_is_a_reason_to_stop_naming_the_setting() -> None:
    from aiokafka import errors

    reason = join_refused(errors.InvalidSessionTimeoutError(), "chatwatch", 3.0)
    assert reason is not None and "\n" not in reason
    assert "group chatwatch" in reason and "3 s" in reason
    assert "CHATWATCH_SESSION_TIMEOUT_SECONDS" in reason
    assert "CHATWATCH_APP_ID" in (join_refused(errors.GroupAuthorizationFailedError(),
                                               "chatwatch", 10.0) or "")
    assert "CHATWATCH_APP_ID" in (join_refused(errors.InvalidGroupIdError(), "", 10.0) or "")
    assert "CHATWATCH_APP_ID" in (join_refused(errors.InconsistentGroupProtocolError(),
                                               "chatwatch", 10.0) or "")
    # errors the client retries are no reason to stop
    for retried in (None, errors.RebalanceInProgressError(), errors.KafkaConnectionError(),
                    errors.NotCoordinatorForGroupError()):
        assert join_refused(retried, "chatwatch", 10.0) is None
