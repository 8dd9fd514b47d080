"""``chatwatch worker`` that never commits an offset (a fault-injection wrapper).

Run as ``python -m tests.integration.uncommitted_worker``. Every offset commit is dropped,
so a worker killed at any time leaves all it applied uncommitted, as one killed just before
its first commit would: its successor reads everything again. Test code only.
"""

from __future__ import annotations

import sys
from typing import Any

from aiokafka import AIOKafkaConsumer


async def _no_commit(self: Any, offsets: Any = None) -> None:
    return None


def main() -> None:
    """Drop commits, then run the worker command as ``chatwatch worker`` would."""
    AIOKafkaConsumer.commit = _no_commit  # type: ignore[method-assign]
    from stream.cli import main as chatwatch

    sys.argv = ["chatwatch", "worker"]
    chatwatch()


if __name__ == "__main__":
    main()
