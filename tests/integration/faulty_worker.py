"""``chatwatch worker`` whose Kafka producer fails once on one topic (a fault-injection wrapper).

Run as ``python -m tests.integration.faulty_worker``. The first record sent to a topic whose
name starts with ``CHATWATCH_TEST_FAIL_TOPIC`` fails delivery, once per marker file
``CHATWATCH_TEST_FAIL_MARKER`` (so a restarted worker delivers normally). Test code only:
the worker itself has no fault switch.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError

_send = AIOKafkaProducer.send
_send_batch = AIOKafkaProducer.send_batch


def _fail_once(topic: str) -> asyncio.Future[Any] | None:
    marker = Path(os.environ["CHATWATCH_TEST_FAIL_MARKER"])
    if not topic.startswith(os.environ["CHATWATCH_TEST_FAIL_TOPIC"]) or marker.exists():
        return None
    marker.write_text("failed once\n", encoding="utf-8")
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(KafkaTimeoutError("injected: delivery failed"))
    return future


async def _failing_send(self: Any, topic: str, *args: Any, **kwargs: Any) -> Any:
    return _fail_once(topic) or await _send(self, topic, *args, **kwargs)


async def _failing_send_batch(self: Any, batch: Any, topic: str, **kwargs: Any) -> Any:
    return _fail_once(topic) or await _send_batch(self, batch, topic, **kwargs)


def main() -> None:
    """Patch the producer, then run the worker command as ``chatwatch worker`` would."""
    AIOKafkaProducer.send = _failing_send  # type: ignore[method-assign]
    AIOKafkaProducer.send_batch = _failing_send_batch  # type: ignore[method-assign]
    import sys

    from stream.cli import main as chatwatch

    sys.argv = ["chatwatch", "worker"]
    chatwatch()


if __name__ == "__main__":
    main()
