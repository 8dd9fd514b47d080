"""Kafka client glue shared by the worker, the simulator, replay and the tests."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from stream.config import KafkaSecurity, Settings
from stream.errors import BrokerError

log = logging.getLogger(__name__)


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
    """A started admin client, or :class:`BrokerError` saying the broker cannot be reached."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(broker_url),
                                request_timeout_ms=int(timeout * 1000), **client_kwargs(settings))
    try:
        await asyncio.wait_for(admin.start(), timeout)
    except (KafkaConnectionError, TimeoutError, OSError) as exc:
        raise BrokerError(f"cannot reach the Kafka broker at {broker_url} ({exc}): check "
                          f"KAFKA_BROKER and that the broker runs{fix}") from exc
    return admin


async def ensure_topics(settings: Settings, broker_url: str, timeout: float = 20.0) -> None:
    """Create the chatwatch topics with the configured partitions and replication, if missing.

    ``chat.events`` must exist with ``settings.partitions`` partitions before anything is
    produced: a broker that auto-creates it on first produce would pick its own count.
    """
    admin = await _started_admin(settings, broker_url, timeout,
                                 ", or unset KAFKA_BROKER to use the embedded broker")
    try:
        existing = set(await admin.list_topics())
        wanted = [settings.events_topic, settings.dlq_topic, settings.breaches_topic,
                  settings.violations_topic]
        rf = settings.replication_factor
        missing = [NewTopic(t, settings.partitions, rf) for t in wanted if t not in existing]
        if missing:
            brokers = len((await admin.describe_cluster()).get("brokers") or [])
            if brokers and rf > brokers:
                raise BrokerError(f"CHATWATCH_REPLICATION_FACTOR={rf} but the cluster at "
                                  f"{broker_url} has {brokers} broker(s): set it to at most "
                                  f"{brokers} (1 for a single broker)")
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
    finally:
        await admin.close()


def changelog_topic(settings: Settings) -> str:
    """The changelog of the conversations Table: faust names it ``<app id>-<table>-changelog``."""
    return f"{settings.app_id}-conversations-changelog"


async def check_changelog(settings: Settings, broker_url: str, timeout: float = 20.0) -> None:
    """Stop with the fix when the conversations changelog exists and is not compacted.

    The changelog is the worker's state: a restart (or the next owner of a partition) restores
    every conversation's latest row from it. faust creates it compacted, but only when it is
    missing: a topic created by hand with ``cleanup.policy=delete`` loses rows once they are
    older than ``retention.ms``, and a restart then silently forgets their conversations. A
    missing topic is fine (faust creates it compacted); a broker that will not describe it
    (no DescribeConfigs ACL) or reports no policy (the embedded broker) is logged, not fatal.
    """
    name = changelog_topic(settings)
    admin = await _started_admin(settings, broker_url, timeout)
    try:
        if name not in set(await admin.list_topics()):
            return
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        await admin.close()
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
