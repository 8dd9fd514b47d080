"""Benchmark: ``chatwatch backfill`` over a synthetic log (target >= 100,000 events/s).

    python -m bench.backfill [--events 200000] [--log FILE] [--extras]
    python -m bench.backfill --memory [--sizes 200000,1000000]
    python -m bench.backfill --memory --gigabyte        # adds a ~1 GB log (slow, ~6.5M events)
    python -m bench.backfill --memory --retention-hours 12   # the same with bounded state

``run`` times the backfill alone (reading, decoding, the engine, the report); writing the log
is not counted. ``--extras`` also times the read-outs (per-agent rows, violation scanning,
OpenMetrics every 60 s). ``--memory`` backfills logs of several sizes, each in a fresh process,
and reports the peak RSS of each: it must grow far less than the logs do (the reader streams;
state grows with live conversations and shop-days, not with lines).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.gen_log import write_log
from stream.backfill import run_backfill, write_report
from stream.config import load_settings
from stream.core.engine import Engine
from stream.inputs import read_events
from stream.report.openmetrics import MetricsHistory
from stream.report.tally import Tally, report_rows

# 160 bytes per event is what bench.gen_log writes on average: ~6.5M events make a gigabyte.
EVENTS_PER_GB = 6_500_000


def backfill_file(path: str, extras: bool = False,
                  retention_hours: float | None = None) -> tuple[int, float]:
    """Backfill one log; return (lines read, seconds)."""
    settings = load_settings(environ={})
    began = time.perf_counter()
    if not extras:
        result = run_backfill(read_events([path]), settings, retention_hours=retention_hours)
        write_report(result.report(), io.BytesIO())
    else:
        engine = Engine(settings.policies, settings.content.guard())
        tally = Tally(engine, by_agent=True, violations=True)
        history = MetricsHistory(engine, 60)
        result = run_backfill(read_events([path]), settings, engine=engine, listeners=[tally],
                              metrics=history)
        write_report(report_rows(result.report(), tally, by_agent=True, violations=True),
                     io.BytesIO())
        with open(os.devnull, "w", encoding="utf-8") as sink:
            history.write(sink)
        history.close()
    return result.summary.read, time.perf_counter() - began


def run(n_events: int = 200_000, seed: int = 1, log: str | None = None,
        extras: bool = False) -> float:
    """Backfill a log (``n_events`` synthetic events unless ``log`` is given); return events/s."""
    with tempfile.TemporaryDirectory() as tmp:
        path = log or str(Path(tmp) / "log.jsonl")
        if log is None:
            write_log(path, n_events, seed)
        lines, seconds = backfill_file(path, extras)
    return lines / seconds


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(sizes: list[int], seed: int = 1,
           retention_hours: float | None = None) -> list[dict[str, float]]:
    """Backfill logs of ``sizes`` events, each in a fresh process; peak RSS per size."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = str(Path(tmp) / f"log-{n}.jsonl")
            size = write_log(path, n, seed)
            argv = [sys.executable, "-m", "bench.backfill", "--child", path]
            if retention_hours:
                argv += ["--retention-hours", str(retention_hours)]
            child = subprocess.run(argv, capture_output=True, text=True, check=True)
            stats = json.loads(child.stdout)
            stats.update(events=n, log_mib=size / 2**20)
            out.append(stats)
            os.unlink(path)
    return out


def main() -> None:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log", help="Backfill this log instead of a synthetic one.")
    parser.add_argument("--extras", action="store_true",
                        help="Also time --by agent --violations --openmetrics.")
    parser.add_argument("--memory", action="store_true", help="Peak RSS against log size.")
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--gigabyte", action="store_true", help="With --memory: add ~1 GB.")
    parser.add_argument("--retention-hours", type=float,
                        help="With --memory: backfill with --retention-hours (bounded state).")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        lines, seconds = backfill_file(args.child, retention_hours=args.retention_hours)
        print(json.dumps({"seconds": seconds, "events_per_s": lines / seconds,
                          "peak_rss_mib": peak_rss_mib()}))
        return
    if args.memory:
        sizes = [int(s) for s in args.sizes.split(",")]
        if args.gigabyte:
            sizes.append(EVENTS_PER_GB)
        for row in memory(sizes, args.seed, args.retention_hours):
            print(f"{row['events']:>10,} events  {row['log_mib']:8,.0f} MiB log  "
                  f"{row['events_per_s']:9,.0f} events/s  peak RSS {row['peak_rss_mib']:6,.0f} MiB")
        return
    rate = run(args.events, args.seed, args.log)
    print(f"backfill: {rate:,.0f} events/s (target >= 100,000)")
    if args.extras:
        rate = run(args.events, args.seed, args.log, extras=True)
        print(f"backfill --by agent --violations --openmetrics: {rate:,.0f} events/s")


if __name__ == "__main__":
    main()
