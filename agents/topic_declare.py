"""faust declares its topics through a broker that answers, asked again while one is down.

At start-up faust (its aiokafka driver) declares every topic the worker uses: its leader
topic, the conversations changelog, the events topic. For each it sends a metadata request to
the *first* broker of its client's metadata to learn the controller's id, then CreateTopics to
that broker. A broker that was just killed, is frozen or is restarting stays in the metadata
until the controller fences it (``broker.session.timeout.ms``, 9 s by default); when it comes
first, or is named controller, the send raises ``NodeNotReadyError`` and the worker dies at
start-up, although the brokers still up serve every topic replicated to them (replication
factor 3, ``min.insync.replicas`` 2). Restarted by its supervisor, it died again for as long
as the broker was down.

:func:`install` changes two methods of one faust transport (not the class):

- ``_get_controller_node`` asks the brokers in turn and takes the controller id from the
  first that is ready, instead of failing on the first one listed;
- ``_create_topic`` is asked again, with a doubling pause, when it fails with an error a
  broker coming back or another broker may not give (``retriable`` in aiokafka's terms), for
  up to :data:`DECLARE_SECONDS`; then the last error ends the start-up as before.

:data:`PRIVATE_NAMES` lists the faust names this relies on; ``tests/unit/test_topic_declare.py``
fails naming one an upgrade removes, and :func:`install` leaves faust's own path in place
(logged) when one is missing.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import NodeNotReadyError

from stream.kafka import retriable

log = logging.getLogger(__name__)

# (module, class, attribute): the private names of faust used here
PRIVATE_NAMES: tuple[tuple[str, str, str], ...] = (
    ("faust.transport.drivers.aiokafka", "Transport", "_create_topic"),
    ("faust.transport.drivers.aiokafka", "Transport", "_get_controller_node"),
)

# How long one topic declaration is asked again: a killed broker is fenced within 9 s by
# default and a restarted one answers within seconds, while a cluster that stays broken this
# long is an outage the supervisor should see as exits.
DECLARE_SECONDS = 60.0
# The pause after a failed attempt doubles from the first to the last
BACKOFF_SECONDS = (0.25, 4.0)


def missing() -> list[str]:
    """The names of :data:`PRIVATE_NAMES` that the installed faust lacks."""
    gone = []
    for module_name, cls_name, attr in PRIVATE_NAMES:
        try:
            owner = getattr(importlib.import_module(module_name), cls_name, None)
        except ImportError:
            owner = None
        if owner is None or not hasattr(owner, attr):
            gone.append(f"{module_name}.{cls_name}.{attr}")
    return gone


async def controller_node(owner: Any, client: Any, timeout: int = 30000) -> int | None:
    """The controller id as told by the first broker of ``client``'s metadata that is ready.

    faust's own version asks only the first broker listed. ``None`` when ``owner`` stops
    meanwhile (faust's contract); :class:`NodeNotReadyError` when no listed broker is ready.
    """
    from aiokafka.protocol.metadata import MetadataRequest

    nodes = [broker.nodeId for broker in client.cluster.brokers()]
    for node_id in nodes:
        if not await client.ready(node_id):
            log.info("Kafka broker %s is not ready: asking another for the controller", node_id)
            continue
        wait_result = await owner.wait(client.send(node_id, MetadataRequest([])),
                                       timeout=timeout)
        if wait_result.stopped:
            return None
        return int(wait_result.result.controller_id)
    raise NodeNotReadyError(f"none of the Kafka brokers {nodes} is ready")


def with_retry(create: Callable[..., Awaitable[None]], *, seconds: float = DECLARE_SECONDS,
               backoff: tuple[float, float] = BACKOFF_SECONDS,
               sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
               clock: Callable[[], float] = time.monotonic) -> Callable[..., Awaitable[None]]:
    """``create`` (faust's ``_create_topic``) asked again while it fails retriably.

    The signature is faust's: ``(owner, client, topic, partitions, replication, **kwargs)``.
    It gives up after ``seconds`` (re-raising the last error) or when ``owner`` is stopping.
    """
    async def create_topic(owner: Any, client: Any, topic: str, partitions: int,
                           replication: int, **kwargs: Any) -> None:
        deadline = clock() + seconds
        pause, max_pause = backoff
        while True:
            try:
                return await create(owner, client, topic, partitions, replication, **kwargs)
            except Exception as exc:
                if (not retriable(exc) or clock() + pause >= deadline
                        or getattr(owner, "should_stop", False)):
                    raise
                log.warning("declaring topic %s failed (%s: %s), a broker may be down: "
                            "asking again in %.2f s", topic, type(exc).__name__, exc, pause)
            await sleep(pause)
            pause = min(pause * 2, max_pause)
    return create_topic


def install(transport: Any) -> bool:
    """Make ``transport`` (a faust aiokafka transport) declare topics as described above.

    Returns whether it did; with a private name missing it logs which and changes nothing.
    """
    gone = missing()
    if gone:
        log.warning("faust lacks %s: topics are declared by faust's own path, which fails "
                    "while the first broker it lists is down", ", ".join(gone))
        return False
    # plain functions on the instance: faust calls ``self._get_controller_node(owner, ...)``
    transport._get_controller_node = controller_node
    transport._create_topic = with_retry(transport._create_topic)
    return True
