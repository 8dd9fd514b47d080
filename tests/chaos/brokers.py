"""Broker faults for the chaos run on a three-broker Apache Kafka cluster.

:func:`kafka_brokers` starts the cluster (``stream/kafka_local.py``) the way the run needs it:
every topic replicated three times with ``min.insync.replicas`` 2 (the broker's default, so
the changelog topic faust creates has it as well as the ``chat.*`` topics chatwatch creates),
small thread pools, and a group session timeout as short as the run's workers use.
:class:`BrokerFaults` finds a partition's leader, kills and restarts it, freezes a broker,
restarts the whole cluster on its data, and waits for the replicas to be in sync again before
the next fault (two brokers out of sync at once would leave fewer in-sync replicas than
``min.insync.replicas`` and every acks=all write would be refused: that is a double fault,
not the one the schedule means to inject).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from stream.kafka_local import KafkaCluster, install

BROKERS = 3
MIN_INSYNC = 2
OVERRIDES = {
    "default.replication.factor": str(BROKERS),
    "min.insync.replicas": str(MIN_INSYNC),
    "unclean.leader.election.enable": "false",
    # a frozen follower leaves the ISR after 10 s (30 s by default): acks=all writes wait for
    # it until then
    "replica.lag.time.max.ms": "10000",
    # the run's workers use a 5 s session timeout (Kafka refuses one below 6 s by default)
    "group.min.session.timeout.ms": "1000",
    # two shared cores: fewer threads per broker
    "num.network.threads": "2",
    "num.io.threads": "2",
    "num.replica.fetchers": "1",
    "background.threads": "2",
    "log.cleaner.threads": "1",
}


@contextlib.contextmanager
def kafka_brokers(root: Path) -> Iterator[KafkaCluster]:
    """Three Apache Kafka brokers (KRaft) under ``root``, stopped on exit."""
    install(quiet=True)
    cluster = KafkaCluster(root, BROKERS, overrides=OVERRIDES)
    cluster.start(timeout=120)
    try:
        yield cluster
    finally:
        for i in range(BROKERS):
            cluster.resume_node(i)
        cluster.stop(timeout=10)


async def _describe(bootstrap: str, topics: list[str]) -> dict[str, list[dict[str, Any]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        out = {}
        for topic in await admin.describe_topics(topics):
            if topic["error_code"] == 0:
                out[topic.get("topic") or topic["name"]] = [_partition(p)
                                                            for p in topic["partitions"]]
        return out
    finally:
        await admin.close()


def _partition(p: dict[str, Any]) -> dict[str, Any]:
    """A partition of a metadata response, in the same keys whatever the response's version."""
    def get(*names: str) -> Any:
        return next(p[n] for n in names if n in p)
    return {"partition": get("partition", "partition_index"), "leader": get("leader", "leader_id"),
            "replicas": list(get("replicas", "replica_nodes")), "isr": list(get("isr", "isr_nodes"))}


async def _configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        out: dict[str, dict[str, str]] = {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        for response in await admin.describe_configs(resources):
            for _code, _msg, _type, name, entries in response.resources:
                out[name] = {e[0]: e[1] for e in entries}
        return out
    finally:
        await admin.close()


def topic_layout(bootstrap: str, topics: list[str]) -> dict[str, dict[str, Any]]:
    """Per topic: its replicas per partition and its effective ``min.insync.replicas``."""
    parts = asyncio.run(_describe(bootstrap, topics))
    configs = asyncio.run(_configs(bootstrap, list(parts)))
    return {t: {"replicas": sorted({len(p["replicas"]) for p in parts[t]}),
                "partitions": len(parts[t]),
                "min.insync.replicas": configs.get(t, {}).get("min.insync.replicas")}
            for t in parts}


class BrokerFaults:
    """Broker faults on ``cluster``; ``tick`` is called while waiting (the worker supervisor)."""

    def __init__(self, cluster: KafkaCluster, topics: Callable[[], list[str]],
                 tick: Callable[[], None]) -> None:
        self.cluster = cluster
        self.topics = topics  # the topics whose replicas must be back in sync
        self.tick = tick
        self.started_s: list[float] = []  # how long each broker start took
        self.sync_s: list[float] = []  # how long the replicas took to be in sync again

    def wait(self, seconds: float) -> None:
        """Sleep while ticking."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.tick()
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))

    def _until(self, what: str, ok: Callable[[], bool], timeout: float) -> float:
        started = time.monotonic()
        while not ok():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{what} within {timeout:.0f} s")
            self.wait(0.5)
        return time.monotonic() - started

    def leader(self, topic: str, partition: int) -> int:
        """The index (0-based) of the node leading ``topic``'s ``partition``."""
        parts = asyncio.run(_describe(self.cluster.bootstrap, [topic]))[topic]
        leader = next(p["leader"] for p in parts if p["partition"] == partition)
        return int(leader) - 1

    def in_sync(self) -> bool:
        """Whether every partition of the watched topics has all its replicas in sync."""
        topics = self.topics()
        try:
            parts = asyncio.run(_describe(self.cluster.bootstrap, topics))
        except Exception:  # noqa: BLE001 - a cluster still electing its leaders: not yet
            return False
        return set(parts) == set(topics) and all(
            p["leader"] >= 0 and set(p["isr"]) == set(p["replicas"])
            for ps in parts.values() for p in ps)

    def start(self, indexes: list[int]) -> None:
        """Start the given nodes on their data; wait (ticking) until they and the ISR are back."""
        for i in indexes:
            self.cluster.start_node(i, wait=False)
        # started() is true once per run (it reads only what a node logged since the last
        # look): a node that said so leaves the list
        pending = [self.cluster.nodes[i] for i in indexes]

        def all_started() -> bool:
            pending[:] = [n for n in pending if not n.started()]
            return not pending

        self.started_s.append(self._until(f"node(s) {indexes} started", all_started, 120))
        self.sync_s.append(self._until("every replica back in sync", self.in_sync, 120))

    def kill_leader(self, topic: str, partition: int, down_s: float) -> str:
        """SIGKILL the leader of ``topic``/``partition``, ``down_s`` later start it again."""
        index = self.leader(topic, partition)
        self.cluster.stop_node(index, signal.SIGKILL)
        self.wait(down_s)
        self.start([index])
        return f"node {index + 1} (leader of {topic}/{partition}) killed, {down_s:.1f} s down"

    def pause(self, index: int, seconds: float) -> str:
        """SIGSTOP node ``index`` for ``seconds``, then SIGCONT."""
        self.cluster.pause_node(index)
        try:
            self.wait(seconds)
        finally:
            self.cluster.resume_node(index)
        self._until("every replica back in sync after a pause", self.in_sync, 120)
        return f"node {index + 1} paused {seconds:.1f} s"

    def restart_all(self) -> str:
        """Stop every node (SIGTERM, SIGKILL after 15 s) and start them all on their data."""
        started = time.monotonic()
        self.cluster.stop(timeout=15)
        stopped = time.monotonic() - started
        self.start(list(range(len(self.cluster.nodes))))
        return (f"whole cluster restarted (stopped in {stopped:.1f} s, started in "
                f"{self.started_s[-1]:.1f} s, in sync {self.sync_s[-1]:.1f} s later)")
