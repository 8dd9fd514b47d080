"""The bare reply window as an idiomatic Quix Streams app (``bench.peers.window``).

    python -m bench.peers.quix_app --bootstrap HOST:PORT --topic T --events N

A ``StreamingDataFrame`` over the events topic (values as bytes: broken lines are the app's to
skip, not the deserializer's to crash on), the open wait per conversation in a stateful
``apply`` (Quix state is keyed by the message key, here the conversation), the outcomes
re-keyed by shop-day with ``group_by`` (Quix's only way to key state by something other than
the message key: it goes through a ``repartition__`` topic) and counted in a second stateful
``apply``. With ``--no-rekey`` the second half is left out and the outcomes are tallied in a
plain dict instead: the cost of Quix's reply window without the repartition, for comparison.
Everything else is Quix's defaults: RocksDB state with changelog topics,
at-least-once, 5 s commits. The app stops itself once it has processed ``--events`` records of
the events topic and every outcome it re-keyed; the rate is taken from the first processed
record to the last, so the consumer group's first join (~20 s on the embedded broker) is left
out.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from typing import Any

from quixstreams import Application, State

from bench.peers.window import OPEN, WINDOW_MS, Counters, Span, classify, shop_day

OPENED, IN_TIME, LATE = 0, 1, 2


def reply_window(event: tuple[str, int, int], state: State) -> list[Any] | None:
    """The conversation's open wait in ``state``; returns ``[shop-day, outcome]`` or None."""
    shop, ts, kind = event
    start = state.get("start")
    if kind == OPEN:
        if start is not None:
            return None
        state.set("start", ts)
        return [shop_day(shop, ts), OPENED]
    if start is None:
        return None
    state.delete("start")
    return [shop_day(shop, start), LATE if ts - start > WINDOW_MS else IN_TIME]


def count(outcome: list[Any], state: State) -> list[int]:
    """The shop-day's ``[waits, breached, responses]`` in ``state`` after one more outcome."""
    counts: list[int] = state.get("counts") or [0, 0, 0]
    if outcome[1] == OPENED:
        counts[0] += 1
    else:
        counts[2] += 1
        counts[1] += outcome[1] == LATE
    state.set("counts", counts)
    return counts


class Run:
    """One run of the app: builds it, tracks progress, stops it when everything is counted."""

    def __init__(self, bootstrap: str, topic: str, events: int, state_dir: str, *,
                 rekey: bool = True) -> None:
        self.events = events
        self.span = Span()
        self.rekeyed = 0  # outcomes handed to group_by
        self.counted = 0  # outcomes counted after the repartition
        self.counters: Counters = {}
        self.app = Application(
            broker_address=bootstrap, consumer_group=f"bench-quix-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest", state_dir=state_dir, loglevel="WARNING",
            on_message_processed=self._processed)
        self.topic = self.app.topic(topic, key_deserializer="str", value_deserializer="bytes")
        sdf = self.app.dataframe(self.topic)
        sdf = sdf.apply(classify).filter(lambda event: event is not None)
        sdf = sdf.apply(reply_window, stateful=True).filter(lambda outcome: outcome is not None)
        if not rekey:
            sdf.update(self._tally)
            return
        sdf = sdf.update(self._rekeyed)
        sdf = sdf.group_by(lambda outcome: outcome[0], name="shop_day")
        sdf = sdf.apply(count, stateful=True)
        sdf.update(self._counted, metadata=True)

    def _tally(self, outcome: list[Any]) -> None:
        counts = self.counters.setdefault(outcome[0], [0, 0, 0])
        if outcome[1] == OPENED:
            counts[0] += 1
        else:
            counts[2] += 1
            counts[1] += outcome[1] == LATE

    def _rekeyed(self, _outcome: Any) -> None:
        self.rekeyed += 1

    def _counted(self, counts: list[int], key: Any, _ts: int, _headers: Any) -> None:
        self.counters[key] = list(counts)
        self.counted += 1

    def _processed(self, topic: str, _partition: int, _offset: int) -> None:
        if topic == self.topic.name:
            self.span.tick()
        else:
            self.span.tick(0)
        if self.span.count >= self.events and self.counted >= self.rekeyed:
            self.app.stop()

    def run(self) -> dict[str, Any]:
        """Run until done; events, seconds and counters."""
        self.app.run()
        return {"events": self.span.count, "expected_events": self.events,
                "seconds": self.span.seconds, "rekeyed": self.rekeyed,
                "counters": self.counters}


def run(bootstrap: str, topic: str, events: int, *, rekey: bool = True) -> dict[str, Any]:
    """Process ``events`` records of ``topic`` in a fresh consumer group and state dir."""
    with tempfile.TemporaryDirectory(prefix="quix-state-") as state_dir:
        return Run(bootstrap, topic, events, state_dir, rekey=rekey).run()


def main() -> None:
    """Command line: one JSON line with events, seconds and counters."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--no-rekey", dest="rekey", action="store_false",
                        help="Tally outcomes in a dict instead of group_by + keyed counters.")
    args = parser.parse_args()
    print(json.dumps(run(args.bootstrap, args.topic, args.events, rekey=args.rekey)))


if __name__ == "__main__":
    main()
