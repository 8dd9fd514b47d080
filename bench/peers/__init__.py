"""Peers: what a user would write with another framework, for ``make bench`` to compare with.

Each app (``quix_app``: Quix Streams, ``bytewax_app``: Bytewax, ``kafka_streams_app``: Kafka
Streams, a Java app it builds and runs) does the bare reply window of ``bench.peers.window``
over the events topic, in its own child process like the chatwatch worker. ``run_peer`` starts
one, reads its JSON line and checks its final counters against the known counts of the
produced records: a peer whose counters differ gets no rate.

The Python frameworks are installed by the ``bench`` extra (``make bench``), not with
chatwatch; Kafka Streams comes from Maven Central when its jar is built.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench.peers.window import Counters, mismatch

PEERS = {"quix": "bench.peers.quix_app", "bytewax": "bench.peers.bytewax_app",
         "kafka_streams": "bench.peers.kafka_streams_app"}


def run_peer(name: str, bootstrap: str, topic: str, events: int, expected: Counters, *,
             args: tuple[str, ...] = (), timeout: float = 600.0) -> dict[str, Any]:
    """Run peer ``name`` over ``events`` records of ``topic``.

    Returns ``events_per_s`` (None unless every record was handled and the counters are the
    expected ones), ``seconds`` and, when something is wrong, ``error``.
    """
    cmd = [sys.executable, "-m", PEERS[name], "--bootstrap", bootstrap, "--topic", topic,
           "--events", str(events), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return {"events_per_s": None, "error": f"{name} did not finish within {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-5:])
        return {"events_per_s": None, "error": f"{name} exited {done.returncode}: {tail}"}
    result = json.loads(lines[-1])
    error = (f"{name} handled {result['events']:,} of {events:,} records"
             if result["events"] != events else mismatch(result["counters"], expected))
    rate = result["events"] / result["seconds"] if result["seconds"] > 0 else None
    out: dict[str, Any] = {"events_per_s": None if error else rate,
                           "seconds": result["seconds"]}
    if error:
        out["error"] = error
    return out
