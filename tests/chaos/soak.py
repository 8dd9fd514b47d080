"""Soak: one worker at a constant rate for a long time; RSS, open waits and lag sampled.

``python -m tests.chaos.soak --seconds 1800 --every 60`` (``make soak``) starts an embedded
broker and a worker, produces simulated conversations (event time = now: they open, get
answered or breach, go idle) at ``--rate`` events/s, and prints one line per sample: the
worker's resident memory, its open waits (conversations whose buyer is waiting) and its event
lag. ``tests/chaos/test_soak.py`` runs it for 15 s and asserts the bounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from stream.broker import EmbeddedBroker
from stream.run import daytime_zone
from stream.testing import WorkerProcess, topic_config, wait_for
from tests.chaos.cluster import Traffic


@dataclass(frozen=True)
class Sample:
    """One reading of the worker."""

    at_s: float
    rss_mb: float
    open_waits: int
    lag_s: float
    events: int


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def read(worker: WorkerProcess, started: float) -> Sample:
    """Sample the worker's memory and metrics."""
    assert worker.proc is not None
    m = worker.metrics()
    open_waits = sum(v for (name, _), v in m.items() if name == "chatwatch_open_waits")
    events = sum(v for (name, labels), v in m.items() if name == "chatwatch_events_total")
    return Sample(round(time.monotonic() - started, 1), round(rss_mb(worker.proc.pid), 1),
                  int(open_waits), m.get(("chatwatch_event_lag_seconds", ()), 0.0), int(events))


def soak(seconds: float, every: float, rate: float, workdir: Path, seed: int = 5,
         out=sys.stdout) -> list[Sample]:  # type: ignore[no-untyped-def]
    """Run the soak; returns the samples (also printed, one JSON line each)."""
    zone = daytime_zone()
    cfg = topic_config("soak", partitions=4,
                       shops={f"shop-{i:02d}": {"timezone": zone} for i in range(1, 13)},
                       platforms={p: {"window_seconds": 30} for p in ("pdd", "taobao", "jd")})
    samples: list[Sample] = []
    with EmbeddedBroker() as broker, WorkerProcess(workdir, broker.url, cfg) as worker:
        traffic = Traffic(broker.url, cfg["events_topic"], seed, rate, seconds)
        started = time.monotonic()
        traffic.start()
        while traffic.is_alive():
            time.sleep(min(every, max(0.1, seconds - (time.monotonic() - started))))
            sample = read(worker, started)
            samples.append(sample)
            print("SOAK " + json.dumps(asdict(sample)), file=out, flush=True)
        if traffic.error is not None:
            raise traffic.error
        wait_for(lambda: read(worker, started).events >= traffic.stats.sent, timeout=60)
        samples.append(read(worker, started))
        assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
    return samples


def main() -> None:
    """``make soak``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--every", type=float, default=60)
    ap.add_argument("--rate", type=float, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = soak(args.seconds, args.every, args.rate, Path(tmp))
    first, last = samples[0], samples[-1]
    peak_lag = max(s.lag_s for s in samples)
    print(f"SOAK SUMMARY seconds={args.seconds:g} rate={args.rate:g} events={last.events} "
          f"rss_mb first={first.rss_mb} last={last.rss_mb} max={max(s.rss_mb for s in samples)} "
          f"open_waits last={last.open_waits} peak_lag_s={peak_lag:.2f}")


if __name__ == "__main__":
    main()
