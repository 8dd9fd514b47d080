"""Benchmark: ``chatwatch replay --speed 0`` into the embedded broker (target >= 20,000 events/s).

    python -m bench.replay [--events 200000]

Writes a synthetic log with ``bench.gen_log``, starts an embedded broker, replays the log
into a fresh topic and reports events per second of the replay alone (log generation and
broker start-up are not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path

from bench.gen_log import write_log
from stream.broker import EmbeddedBroker
from stream.config import load_settings
from stream.replay import replay


def run(n_events: int = 200_000, seed: int = 1) -> float:
    """Replay ``n_events`` synthetic events into an embedded broker; return events/s."""
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        path = str(Path(tmp) / "log.jsonl")
        write_log(path, n_events, seed)
        settings = load_settings(environ={}).with_overrides(broker=broker.url)
        result = asyncio.run(replay(settings, broker.url, [path], progress=False,
                                    show_invalid=0, out=sys.stderr))
        return result.sent / result.seconds


def main() -> None:
    """Command line: print the measured rate."""
    parser = argparse.ArgumentParser(description="replay throughput into the embedded broker")
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rate = run(args.events)
    print(f"replay: {rate:,.0f} events/s into the embedded broker (target >= 20,000)")


if __name__ == "__main__":
    main()
