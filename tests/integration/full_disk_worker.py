"""``chatwatch worker`` whose RocksDB store finds the disk full (a fault-injection wrapper).

Run as ``python -m tests.integration.full_disk_worker``. Once the file named by
``CHATWATCH_TEST_DISK_FULL`` exists, every write of a conversation row to the RocksDB store
raises what rocksdict raises on a full disk (a plain ``Exception``, its text from RocksDB).
Test code only: the worker itself has no fault switch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from faust.stores import rocksdb

_set = rocksdb.Store._set


def _full_disk_set(self: Any, key: bytes, value: bytes | None) -> None:
    if Path(os.environ["CHATWATCH_TEST_DISK_FULL"]).exists():
        raise Exception(  # noqa: TRY002 - exactly what rocksdict raises
            f"IO error: No space left on device: While appending to file: "
            f"{self.path}/000004.log: No space left on device")
    _set(self, key, value)


def main() -> None:
    """Patch the store, then run the worker command as ``chatwatch worker`` would."""
    rocksdb.Store._set = _full_disk_set  # type: ignore[method-assign]
    import sys

    from stream.cli import main as chatwatch

    sys.argv = ["chatwatch", "worker"]
    chatwatch()


if __name__ == "__main__":
    main()
