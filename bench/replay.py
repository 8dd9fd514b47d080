"""Benchmark: ``chatwatch replay --speed 0`` into the embedded broker (target >= 20,000 events/s).

    python -m bench.replay [--events 200000] [--log FILE]

Writes a synthetic log with ``bench.gen_log`` (or takes ``--log``), starts an embedded
broker, replays the log into a fresh topic and reports events per second of the replay alone
(log generation and broker start-up are not counted) and the peak memory of the replaying
process, which must not grow with the size of the log.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import tempfile
from pathlib import Path

from bench.gen_log import write_log
from stream.broker import EmbeddedBroker
from stream.config import load_settings
from stream.replay import replay


def run(n_events: int = 200_000, seed: int = 1, log: str | None = None) -> float:
    """Replay a log (``n_events`` synthetic events unless ``log`` is given); return events/s."""
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        path = log or str(Path(tmp) / "log.jsonl")
        if log is None:
            write_log(path, n_events, seed)
        settings = load_settings(environ={}).with_overrides(broker=broker.url)
        result = asyncio.run(replay(settings, broker.url, [path], progress=sys.stderr.isatty(),
                                    show_invalid=0, out=sys.stderr))
        return result.sent / result.seconds


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Command line: print the measured rate."""
    parser = argparse.ArgumentParser(description="replay throughput into the embedded broker")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--log", help="replay this log instead of a synthetic one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rate = run(args.events, log=args.log)
    print(f"replay: {rate:,.0f} events/s into the embedded broker (target >= 20,000); "
          f"peak memory {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
