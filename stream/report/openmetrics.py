"""Timestamped OpenMetrics history of the chatwatch metrics, for promtool.

Written for ``promtool tsdb create-blocks-from openmetrics OUT DATA_DIR``.

The history is the live worker's own metric bundle (:class:`agents.metrics.ChatwatchMetrics`
and :class:`agents.metrics.EngineCollector`) fed the same engine outcomes, sampled over event
time: no metric name, label, bucket or rule for moving a counter is declared here. The
backfill driver steps event time in fixed intervals (default 60 s); at each step it moves the
engine's watermark there — exactly what the live sweeper does — and :meth:`MetricsHistory.sample`
writes every series of the bundle's registry as ``/metrics`` would have shown it then, so
the Grafana dashboards work on the backfilled history unchanged.

OpenMetrics wants each metric family's lines together, within a family each metric's (label
set's) points together, and those in time order; histogram buckets of one time stay together.
Samples are produced in time order, all metrics interleaved, so each metric's lines are
buffered and spilled to its own file in a temporary directory when the buffers grow past
``SPILL_BYTES``, and the files are concatenated at the end: memory stays flat however long
the history is.

Not exported: the bundle's process metrics (event lag, breach latency, rebalances, alert
delivery) — they describe a running worker, not the shops — and the ``_created`` series;
recording rules such as ``chatwatch:breach_ratio``: run ``promtool tsdb create-blocks-from
rules`` for those.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import IO

from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics, EngineCollector
from stream.core.engine import DUPLICATE, Applied, Engine
from stream.core.events import ChatEvent
from stream.core.reply_window import WaitBreached

SPILL_BYTES = 16 << 20  # buffered sample text before it is written out to the spool files


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str) -> str:
    inner = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    if extra:
        inner = f"{inner},{extra}" if inner else extra
    return "{" + inner + "}" if inner else ""


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


class MetricsHistory:
    """The live metric bundle over a backfill, written as timestamped samples.

    ``labels`` are added to every series (e.g. ``{"job": "chatwatch"}`` when dashboards filter
    on the scrape job). Use as a listener of the backfill driver; call :meth:`sample` at each
    step and :meth:`write` at the end.
    """

    def __init__(self, engine: Engine, step_seconds: float = 60.0,
                 labels: Mapping[str, str] | None = None,
                 spool_dir: str | None = None) -> None:
        if step_seconds <= 0:
            raise ValueError(f"step {step_seconds} s must be > 0")
        self.engine = engine
        self.step_ms = int(step_seconds * 1000)
        self.next_ms: int | None = None  # the next step time; set by the first event
        self.now_ms = 0  # the event time being sampled (the collector's clock)
        self.registry = CollectorRegistry()
        self.metrics = ChatwatchMetrics(self.registry, process_registry=CollectorRegistry())
        self.registry.register(EngineCollector(engine, lambda: self.now_ms, lambda: (0,)))
        self.extra = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted((labels or {}).items()))
        self._dir = tempfile.TemporaryDirectory(prefix="chatwatch-om-", dir=spool_dir)
        self._prefix: dict[tuple[str, tuple[str, ...]], str] = {}
        # metric (family, label values without le) -> its number; lines waiting per number
        self._metrics: dict[tuple[str, tuple[str, ...]], int] = {}
        self._families: dict[str, tuple[str, str]] = {}  # name -> (type, help), first seen
        self._buffers: list[list[str]] = []
        self._spilled: set[int] = set()
        self._buffered = 0
        self.samples = 0

    # -- listener -----------------------------------------------------------------------------

    def on_event(self, event: ChatEvent, applied: Applied) -> None:
        """Count an applied event and its outcomes, as the live pipeline does."""
        self.metrics.record(applied)

    def on_breaches(self, breaches: Iterable[WaitBreached]) -> None:
        """Count breaches declared by the watermark."""
        self.metrics.record_outcomes(breaches)

    def on_skipped(self, outcome: str) -> None:
        """Count an invalid or duplicate line."""
        if outcome == "invalid":
            self.metrics.record_invalid()
        else:
            self.metrics.record(DUPLICATE)

    # -- sampling -----------------------------------------------------------------------------

    def _emit(self, family: str, suffix: str, names: tuple[str, ...], values: tuple[str, ...],
              value: float, ts: str, metric: tuple[str, ...] | None = None) -> None:
        key = (family + suffix, values)
        prefix = self._prefix.get(key)
        if prefix is None:
            prefix = self._prefix[key] = family + suffix + _labels(names, values, self.extra)
        mkey = (family, values if metric is None else metric)
        number = self._metrics.get(mkey)
        if number is None:
            number = self._metrics[mkey] = len(self._buffers)
            self._buffers.append([])
        line = f"{prefix} {_value(value)} {ts}\n"
        self._buffers[number].append(line)
        self._buffered += len(line)
        self.samples += 1

    def _spill(self) -> None:
        for number, lines in enumerate(self._buffers):
            if lines:
                with open(os.path.join(self._dir.name, str(number)), "a", encoding="utf-8") as f:
                    f.write("".join(lines))
                lines.clear()
                self._spilled.add(number)
        self._buffered = 0

    def sample(self, t_ms: int) -> None:
        """Write every series' value at event time ``t_ms`` (after the watermark moved there)."""
        if self._buffered > SPILL_BYTES:
            self._spill()
        self.now_ms = t_ms
        ts = str(t_ms // 1000) if t_ms % 1000 == 0 else f"{t_ms / 1000:.3f}"
        emit = self._emit
        for family in self.registry.collect():
            name = family.name
            if name not in self._families:
                self._families[name] = (family.type, family.documentation)
            histogram = family.type == "histogram"
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                labels = sample.labels
                names = tuple(labels)
                values = tuple(labels.values())
                suffix = sample.name[len(name):]
                metric = None
                if histogram:  # one point per time: buckets, count and sum together
                    metric = tuple(v for k, v in labels.items() if k != "le")
                emit(name, suffix, names, values, sample.value, ts, metric)

    # -- output -------------------------------------------------------------------------------

    def write(self, out: IO[str]) -> None:
        """Write the OpenMetrics text: families with ``# TYPE``/``# HELP``, then ``# EOF``."""
        by_family: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for (family, values), number in self._metrics.items():
            by_family.setdefault(family, []).append((values, number))
        for name, (kind, text) in self._families.items():
            metrics = sorted(by_family.get(name, ()))
            if not metrics:
                continue  # no samples: an empty family would only confuse readers
            out.write(f"# TYPE {name} {kind}\n# HELP {name} {text}\n")
            for _, number in metrics:
                if number in self._spilled:
                    with open(os.path.join(self._dir.name, str(number)),
                              encoding="utf-8") as spilled:
                        shutil.copyfileobj(spilled, out, 1 << 20)
                out.write("".join(self._buffers[number]))
        out.write("# EOF\n")

    def close(self) -> None:
        """Remove the spool files."""
        self._dir.cleanup()
