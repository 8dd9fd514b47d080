"""Kafka client glue shared by the worker, the simulator, replay and the tests."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    NodeNotReadyError,
    TopicAlreadyExistsError,
)

from stream.config import KafkaSecurity, Settings
from stream.errors import BrokerError

log = logging.getLogger(__name__)

T = TypeVar("T")

# One start-up request's time limit (and at most a third of the call's): a frozen broker
# accepts the connection and never answers, and the attempt after it (another broker, or the
# same one back) needs time left to run.
REQUEST_SECONDS = 10.0
# The pause after a failed attempt doubles from the first to the last
BACKOFF_SECONDS = (0.2, 2.0)


def bootstrap_servers(broker_url: str) -> str:
    """``kafka://h1:9092;h2:9092`` (faust form) -> ``h1:9092,h2:9092`` (aiokafka form)."""
    hosts = broker_url.removeprefix("kafka://")
    return ",".join(h.strip() for h in hosts.replace(",", ";").split(";") if h.strip())


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """An SSL context for SSL / SASL_SSL, or None for plaintext."""
    if not security.security_protocol.endswith("SSL"):
        return None
    ctx = ssl.create_default_context(cafile=security.ssl_cafile)
    if security.ssl_certfile:
        ctx.load_cert_chain(security.ssl_certfile, security.ssl_keyfile)
    return ctx


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for the configured security settings."""
    sec = settings.security
    kwargs: dict[str, Any] = {"security_protocol": sec.security_protocol}
    ctx = ssl_context(sec)
    if ctx is not None:
        kwargs["ssl_context"] = ctx
    if sec.security_protocol.startswith("SASL"):
        kwargs.update(sasl_mechanism=sec.sasl_mechanism,
                      sasl_plain_username=sec.sasl_username,
                      sasl_plain_password=sec.sasl_password)
    return kwargs


def producer(settings: Settings, broker_url: str, **extra: Any) -> AIOKafkaProducer:
    """A producer for chatwatch topics (not started)."""
    opts: dict[str, Any] = {"linger_ms": 5, "max_batch_size": 256 * 1024, **extra}
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers(broker_url),
                            **client_kwargs(settings), **opts)


async def _started_admin(settings: Settings, broker_url: str, timeout: float,
                         fix: str = "") -> AIOKafkaAdminClient:
    """A started admin client, or :class:`BrokerError` saying the broker cannot be reached.

    Starting asks the bootstrap brokers in turn for the cluster's metadata, each for up to
    ``timeout`` seconds (connecting, then the request), so this fails only when none of them
    answers: the whole cluster is down, or ``KAFKA_BROKER`` is wrong. A frozen broker listed
    first costs its time-out, not the start-up.
    """
    hosts = bootstrap_servers(broker_url)
    admin = AIOKafkaAdminClient(bootstrap_servers=hosts, request_timeout_ms=int(timeout * 1000),
                                **client_kwargs(settings))
    try:
        await asyncio.wait_for(admin.start(), 2 * timeout * len(hosts.split(",")))
    except (KafkaConnectionError, TimeoutError, OSError) as exc:
        await admin.close()
        raise BrokerError(f"cannot reach the Kafka broker at {broker_url} ({exc}): check "
                          f"KAFKA_BROKER and that the broker runs{fix}") from exc
    return admin


def retriable(exc: BaseException) -> bool:
    """Whether a failed request may succeed when asked again (a broker down, not a refusal)."""
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    return isinstance(exc, (TimeoutError, OSError))


async def admin_call(settings: Settings, broker_url: str, work: Callable[[AIOKafkaAdminClient],
                     Awaitable[T]], timeout: float, fix: str = "") -> T:
    """``work(admin)`` on a started admin client, asked again while a broker is down.

    aiokafka's admin client sends most requests to one broker of its metadata picked at random
    (``describe_configs``, ``list_topics``) or to the one named controller. A broker that was
    just killed, is frozen or is restarting stays in the metadata until the controller fences
    it (``broker.session.timeout.ms``, 9 s by default), and a request sent to it fails
    (``NodeNotReadyError``, a time-out) although the brokers still up serve every topic
    replicated to them. So a retriable failure is retried on a new client, which bootstraps
    from a broker that answers and picks its broker again: at once after a request routed to
    a broker that refuses connections (the next pick most likely is one that is up), after a
    doubling pause otherwise (a time-out, a cluster electing leaders), until ``timeout``
    seconds have passed; then :class:`BrokerError` says which error persisted. A
    bootstrap that no broker answers fails at once with "cannot reach the Kafka broker": the
    whole cluster is down, which waiting here would only hide from the supervisor.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause, max_pause = BACKOFF_SECONDS
    attempts = 0
    while True:
        attempts += 1
        # a third of the whole at most: time left to ask again after a broker that is frozen
        request = max(1.0, min(REQUEST_SECONDS, timeout / 3, deadline - loop.time()))
        admin = await _started_admin(settings, broker_url, request, fix)
        routed = False
        try:
            return await work(admin)
        except Exception as exc:
            if not retriable(exc):
                raise
            if loop.time() + pause >= deadline:
                raise BrokerError(
                    f"cannot reach the Kafka broker at {broker_url}: {type(exc).__name__} "
                    f"({exc}), the last of {attempts} attempt(s) in {timeout:.0f} s: check "
                    f"KAFKA_BROKER and that the brokers run{fix}") from exc
            # a request routed to a broker that is down (NodeNotReadyError: refused at once)
            # is a miss of the random pick, not a busy cluster: asked again at once, it
            # most likely goes to a broker that is up
            routed = isinstance(exc, NodeNotReadyError)
            if attempts <= 3 or not routed:
                log.warning("a Kafka request failed (%s: %s), a broker may be down: asking "
                            "again%s", type(exc).__name__, exc,
                            "" if routed else f" in {pause:.1f} s")
        finally:
            await admin.close()
        if not routed:
            await asyncio.sleep(pause)
            pause = min(pause * 2, max_pause)


async def ensure_topics(settings: Settings, broker_url: str, timeout: float = 30.0) -> None:
    """Create the chatwatch topics with the configured partitions and replication, if missing.

    ``chat.events`` must exist with ``settings.partitions`` partitions before anything is
    produced: a broker that auto-creates it on first produce would pick its own count. A
    broker that is down is asked around for up to ``timeout`` seconds (:func:`admin_call`).
    """
    wanted = [settings.events_topic, settings.dlq_topic, settings.breaches_topic,
              settings.violations_topic]
    rf = settings.replication_factor

    async def create_missing(admin: AIOKafkaAdminClient) -> None:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, settings.partitions, rf) for t in wanted if t not in existing]
        if not missing:
            return
        brokers = len((await admin.describe_cluster()).get("brokers") or [])
        if brokers and rf > brokers:
            raise BrokerError(f"CHATWATCH_REPLICATION_FACTOR={rf} but the cluster at "
                              f"{broker_url} has {brokers} broker(s) up: set it to at most "
                              f"{brokers} (1 for a single broker), or start the brokers "
                              f"that are down")
        try:
            response = await admin.create_topics(missing)
        except TopicAlreadyExistsError:
            response = None
        failed = [(name, code) for name, code, *_ in getattr(response, "topic_errors", [])
                  if code not in (0, TopicAlreadyExistsError.errno)]
        if failed:
            raise BrokerError("the broker refused to create "
                              + ", ".join(f"{name} (Kafka error {code})"
                                          for name, code in failed)
                              + f" with {settings.partitions} partitions and replication "
                                f"factor {rf}: check CHATWATCH_PARTITIONS, "
                                f"CHATWATCH_REPLICATION_FACTOR and the broker's ACLs")
        log.info("created topics %s (replication factor %d)",
                 ", ".join(t.name for t in missing), rf)

    await admin_call(settings, broker_url, create_missing, timeout,
                     ", or unset KAFKA_BROKER to use the embedded broker")


def changelog_topic(settings: Settings) -> str:
    """The changelog of the conversations Table: faust names it ``<app id>-<table>-changelog``."""
    return f"{settings.app_id}-conversations-changelog"


async def check_changelog(settings: Settings, broker_url: str, timeout: float = 30.0) -> None:
    """Stop with the fix when the conversations changelog exists and is not compacted.

    The changelog is the worker's state: a restart (or the next owner of a partition) restores
    every conversation's latest row from it. faust creates it compacted, but only when it is
    missing: a topic created by hand with ``cleanup.policy=delete`` loses rows once they are
    older than ``retention.ms``, and a restart then silently forgets their conversations. A
    missing topic is fine (faust creates it compacted); a broker that will not describe it
    (no DescribeConfigs ACL) or reports no policy (the embedded broker) is logged, not fatal.
    A broker that is down is asked around for up to ``timeout`` seconds (:func:`admin_call`).
    """
    name = changelog_topic(settings)

    async def describe(admin: AIOKafkaAdminClient) -> list[Any]:
        if name not in set(await admin.list_topics()):
            return []
        return list(await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name)]))

    responses = await admin_call(settings, broker_url, describe, timeout)
    for response in responses:
        for error, message, _type, _name, entries in response.resources:
            if error:
                log.warning("cannot check that the changelog %s is compacted (Kafka error %d "
                            "%s): give chatwatch DescribeConfigs on it", name, error, message)
                return
            policy = {entry[0]: entry[1] for entry in entries}.get("cleanup.policy")
            if policy is None:  # Apache Kafka always says; the embedded broker keeps no configs
                log.info("the broker at %s reports no cleanup.policy for %s: not checked",
                         broker_url, name)
                return
            if "compact" not in {p.strip() for p in policy.split(",")}:
                raise BrokerError(
                    f"the changelog topic {name} has cleanup.policy={policy}, not "
                    f"compact: it holds every conversation's state, and the broker would drop "
                    f"rows older than retention.ms, which a restart then loses. Fix it with "
                    f"Kafka's tool: kafka-configs.sh --bootstrap-server "
                    f"{bootstrap_servers(broker_url)} --alter --entity-type topics "
                    f"--entity-name {name} --add-config cleanup.policy=compact")
