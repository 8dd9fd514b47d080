"""The bare reply window as an idiomatic Bytewax dataflow (``bench.peers.window``).

    python -m bench.peers.bytewax_app --bootstrap HOST:PORT --topic T --events N

Kafka input (``KafkaSource``, read to the end of every partition: ``tail=False``), the record
key as the dataflow key, the open wait per conversation in ``stateful_flat_map``, the outcomes
re-keyed by shop-day and counted in ``stateful_map``; one worker (``run_main``) in this
process, the way ``python -m bytewax.run`` runs one. The last value of each shop-day is kept by
a small sink and printed, with the rate, as one JSON line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from bench.peers.window import (
    OPEN,
    WINDOW_MS,
    Counters,
    Span,
    classify,
    shop_day,
)

Outcome = tuple[str, int]  # (shop-day, what happened)
OPENED, IN_TIME, LATE = 0, 1, 2


def reply_window(start: int | None, event: tuple[str, int, int]
                 ) -> tuple[int | None, Iterable[Outcome]]:
    """One conversation's open wait (its start, or None) and what ``event`` does to it."""
    shop, ts, kind = event
    if kind == OPEN:
        if start is None:
            return ts, ((shop_day(shop, ts), OPENED),)
        return start, ()
    if start is None:
        return None, ()
    return None, ((shop_day(shop, start), LATE if ts - start > WINDOW_MS else IN_TIME),)


def count(counts: tuple[int, int, int] | None, outcome: int
          ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A shop-day's (waits, breached, responses) after one more outcome."""
    waits, breached, responses = counts or (0, 0, 0)
    if outcome == OPENED:
        waits += 1
    else:
        responses += 1
        breached += outcome == LATE
    new = (waits, breached, responses)
    return new, new


class _Latest(StatelessSinkPartition[tuple[str, tuple[int, int, int]]]):
    def __init__(self, into: Counters, span: Span) -> None:
        self.into, self.span = into, span

    def write_batch(self, items: list[tuple[str, tuple[int, int, int]]]) -> None:
        for key, counts in items:
            self.into[key] = list(counts)
        self.span.tick(0)


class LatestSink(DynamicSink[tuple[str, tuple[int, int, int]]]):
    """Keeps the last counters of each shop-day in ``counters``."""

    def __init__(self, span: Span) -> None:
        self.counters: Counters = {}
        self.span = span

    def build(self, step_id: str, worker_index: int, worker_count: int
              ) -> StatelessSinkPartition[tuple[str, tuple[int, int, int]]]:
        """One partition for the single worker."""
        return _Latest(self.counters, self.span)


def build_flow(source: Source[Any], sink: DynamicSink[Any], span: Span) -> Dataflow:
    """The dataflow over records with ``.key`` and ``.value`` bytes (``KafkaSourceMessage``)."""

    def keyed(msg: Any) -> tuple[str, bytes]:
        span.tick()
        return msg.key.decode(), msg.value

    flow = Dataflow("bare_reply_window")
    records = op.map("key", op.input("in", flow, source), keyed)
    events = op.filter_map_value("classify", records, classify)
    outcomes = op.stateful_flat_map("reply_window", events, reply_window)
    by_shop_day = op.map("by_shop_day", outcomes, lambda kv: kv[1])  # (conversation, outcome)
    op.output("out", op.stateful_map("count", by_shop_day, count), sink)
    return flow


def run(bootstrap: str, topic: str, events: int) -> dict[str, Any]:
    """Read ``topic`` to its end; the rate from the first record to the last, the counters."""
    from bytewax.connectors.kafka import KafkaSource
    from bytewax.testing import run_main

    span = Span()
    sink = LatestSink(span)
    run_main(build_flow(KafkaSource([bootstrap], [topic], tail=False), sink, span))
    return {"events": span.count, "expected_events": events, "seconds": span.seconds,
            "counters": sink.counters}


def main() -> None:
    """Command line: one JSON line with events, seconds and counters."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, required=True)
    args = parser.parse_args()
    print(json.dumps(run(args.bootstrap, args.topic, args.events)))


if __name__ == "__main__":
    main()
