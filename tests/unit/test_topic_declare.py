"""faust's topic declaration while a broker is down (agents/topic_declare.py), without a broker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import NodeNotReadyError, RequestTimedOutError, TopicAuthorizationFailedError

from agents import topic_declare
from agents.app import create_app
from stream.config import load_settings


class FakeClient:
    """An aiokafka client whose brokers are up or down, answering metadata with a controller."""

    def __init__(self, up: dict[int, bool], controller: int) -> None:
        self.up = up
        self.controller = controller
        self.asked: list[int] = []
        self.cluster = SimpleNamespace(
            brokers=lambda: [SimpleNamespace(nodeId=n) for n in self.up])

    async def ready(self, node_id: int) -> bool:
        return self.up[node_id]

    async def send(self, node_id: int, request: Any) -> Any:
        if not self.up[node_id]:
            raise NodeNotReadyError(f"node {node_id}")
        self.asked.append(node_id)
        return SimpleNamespace(controller_id=self.controller)


class FakeOwner:
    """faust's Service as the declaration uses it: ``wait`` and ``should_stop``."""

    def __init__(self, stopped: bool = False) -> None:
        self.should_stop = False
        self.stopped = stopped

    async def wait(self, coro: Any, timeout: float) -> Any:
        if self.stopped:
            coro.close()
            return SimpleNamespace(stopped=True, result=None)
        return SimpleNamespace(stopped=False, result=await coro)


class ManualClock:
    """Time that moves only when the retry sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_faust_still_has_the_names_relied_on() -> None:
    assert topic_declare.missing() == []


async def test_the_controller_is_asked_of_a_broker_that_is_ready() -> None:
    client = FakeClient({1: False, 2: True, 3: True}, controller=3)
    assert await topic_declare.controller_node(FakeOwner(), client) == 3
    assert client.asked == [2]


async def test_no_broker_ready_is_a_retriable_error() -> None:
    client = FakeClient({1: False, 2: False}, controller=1)
    with pytest.raises(NodeNotReadyError, match=r"\[1, 2\]"):
        await topic_declare.controller_node(FakeOwner(), client)


async def test_a_stopping_owner_gets_no_controller() -> None:
    client = FakeClient({1: True}, controller=1)
    assert await topic_declare.controller_node(FakeOwner(stopped=True), client) is None


def _flaky(failures: list[BaseException]) -> tuple[Any, list[tuple[Any, ...]]]:
    calls: list[tuple[Any, ...]] = []

    async def create(owner: Any, client: Any, topic: str, partitions: int, replication: int,
                     **kwargs: Any) -> None:
        calls.append((topic, partitions, replication, kwargs))
        if failures:
            raise failures.pop(0)
    return create, calls


async def test_a_declaration_is_asked_again_while_a_broker_is_down() -> None:
    clock = ManualClock()
    create, calls = _flaky([NodeNotReadyError("node 1"), RequestTimedOutError()])
    retrying = topic_declare.with_retry(create, seconds=60, backoff=(0.25, 4.0),
                                        sleep=clock.sleep, clock=clock)
    await retrying(FakeOwner(), object(), "t", 8, 3, compacting=True)
    assert len(calls) == 3
    assert calls[-1] == ("t", 8, 3, {"compacting": True})
    assert clock.sleeps == [0.25, 0.5]


async def test_a_refusal_is_not_asked_again() -> None:
    clock = ManualClock()
    create, calls = _flaky([TopicAuthorizationFailedError()])
    retrying = topic_declare.with_retry(create, sleep=clock.sleep, clock=clock)
    with pytest.raises(TopicAuthorizationFailedError):
        await retrying(FakeOwner(), object(), "t", 8, 3)
    assert len(calls) == 1


async def test_the_retries_end_with_the_last_error() -> None:
    clock = ManualClock()
    create, calls = _flaky([NodeNotReadyError(str(i)) for i in range(100)])
    retrying = topic_declare.with_retry(create, seconds=10, backoff=(1.0, 4.0),
                                        sleep=clock.sleep, clock=clock)
    with pytest.raises(NodeNotReadyError):
        await retrying(FakeOwner(), object(), "t", 8, 3)
    assert clock.sleeps == [1.0, 2.0, 4.0]  # the next pause would end past the 10 s
    assert len(calls) == 4


async def test_a_stopping_worker_is_not_held_by_retries() -> None:
    clock = ManualClock()
    create, calls = _flaky([NodeNotReadyError("1")])
    owner = FakeOwner()
    owner.should_stop = True
    retrying = topic_declare.with_retry(create, sleep=clock.sleep, clock=clock)
    with pytest.raises(NodeNotReadyError):
        await retrying(owner, object(), "t", 8, 3)
    assert len(calls) == 1


def test_the_worker_app_declares_topics_this_way(tmp_path) -> None:
    settings = load_settings(environ={}).with_overrides(data_dir=str(tmp_path))
    app = create_app(settings, "kafka://127.0.0.1:9").app
    for transport in (app.transport, app.producer_transport):
        assert transport._get_controller_node is topic_declare.controller_node
        assert transport._create_topic.__qualname__.startswith("with_retry.")
