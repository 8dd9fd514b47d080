"""Write large synthetic chat logs for the replay and backfill benchmarks.

The lines come from the simulator's traffic model (``stream.simulate.TrafficModel``) with a
day-night rhythm, so a log has realistic conversations, late and missing replies, contact
hand-overs, duplicates, out-of-order and invalid lines. Same seed, same file.

    python -m bench.gen_log OUT.jsonl[.gz] --events 1000000 [--seed 1] [--rate 20] [--orders 0.35]

``--orders`` is the share of consulting buyers who order (the simulator's ``Rates.order``):
0.45 makes about 10 % of the events orders, 0 a log without orders.
"""

from __future__ import annotations

import argparse
import time

from stream import simulate

# 2026-11-11 00:00 +08:00: a log starts at midnight, so its first hours are quiet.
DEFAULT_START_MS = 1_794_326_400_000


def write_log(path: str, n_events: int, seed: int = 1, *, rate: float = 20.0,
              shops: int = 20, buyers: int = 20_000, start_ms: int = DEFAULT_START_MS,
              orders: float | None = None) -> int:
    """Write ``n_events`` lines of JSONL to ``path`` (gzip when it ends in .gz); return bytes.

    ``stream.simulate.write_log`` with 4 agents per shop, from midnight of 2026-11-11: at the
    default rate of 20 a log holds about 1.7 million events a day.
    """
    rates = None if orders is None else simulate.Rates(
        order=orders, silent_buyer=simulate.Rates.silent_buyer if orders else 0.0)
    return simulate.write_log(path, n_events, seed, rate=rate, shops=shops, agents=4,
                              buyers=buyers, start_ms=start_ms, rates=rates)


def main() -> None:
    """Command line: write a log and say how big and how fast."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--orders", type=float, default=None,
                        help="share of consulting buyers who order (0: no orders)")
    args = parser.parse_args()
    began = time.perf_counter()
    size = write_log(args.path, args.events, args.seed, rate=args.rate, orders=args.orders)
    took = time.perf_counter() - began
    print(f"{args.events:,} events, {size / 2**20:,.1f} MiB in {took:.1f} s "
          f"({args.events / took:,.0f} events/s)")


if __name__ == "__main__":
    main()
