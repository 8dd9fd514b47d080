"""Shared fixtures: an embedded broker per session (Apache Kafka when asked), settings, helpers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from stream.broker import EmbeddedBroker
from stream.config import Settings, load_settings
from stream.kafka_local import KafkaCluster, install


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires_tools(*names): the test needs these Debian "
                            "tools; it fails (never skips) when one is missing")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``requires_tools`` fails with the fix when a tool is missing."""
    from alerts.local import ToolMissing, find_tool

    for mark in item.iter_markers("requires_tools"):
        for name in mark.args:
            try:
                find_tool(name)
            except ToolMissing as exc:
                pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded Tansu broker for the whole session (memory-only, on a free port).

    ``tests/integration/conftest.py`` replaces it with Apache Kafka (the ``kafka`` fixture).
    """
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """One Apache Kafka broker (KRaft mode, data on disk) for the session.

    Started by the first test that asks for it, never otherwise. Installed from Maven Central
    first when ``make kafka`` has not run; without Java or Maven the test fails, naming the
    package to install.
    """
    install(quiet=True)
    with KafkaCluster(tmp_path_factory.mktemp("kafka")) as cluster:
        yield cluster


@pytest.fixture
def settings() -> Settings:
    """Default settings with no environment leaking in."""
    return load_settings(environ={})


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names, so tests sharing a broker never meet."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def topic_settings(settings: Settings, broker: EmbeddedBroker, unique: str) -> Settings:
    """Settings pointed at the session broker with topics and app id private to one test."""
    return settings.with_overrides(
        broker=broker.url,
        app_id=f"chatwatch-{unique}",
        partitions=4,
        events_topic=f"chat.events.{unique}",
        dlq_topic=f"chat.events.dlq.{unique}",
        breaches_topic=f"chat.breaches.{unique}",
        violations_topic=f"chat.violations.{unique}",
    )


def run(coro):  # type: ignore[no-untyped-def]
    """Run a coroutine to completion from synchronous test code."""
    return asyncio.run(coro)
