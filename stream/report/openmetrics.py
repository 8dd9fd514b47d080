"""Timestamped OpenMetrics history of the chatwatch metrics, for promtool.

Written for ``promtool tsdb create-blocks-from openmetrics OUT DATA_DIR``.

The backfill driver steps event time in fixed intervals (default 60 s). At each step it moves
the engine's watermark to the step time — exactly what the live sweeper does — and then calls
:meth:`MetricsHistory.sample`, which writes one sample per series *as the live worker's
/metrics would have shown it at that moment*: the same metric names, labels and meanings
(``agents/metrics.py``), so the Grafana dashboards work on the backfilled history unchanged.

OpenMetrics wants each metric family's lines together, within a family each metric's (label
set's) points together, and those in time order; histogram buckets of one time stay together.
Samples are produced in time order, all metrics interleaved, so each metric's lines are
buffered and spilled to its own file in a temporary directory when the buffers grow past
``SPILL_BYTES``, and the files are concatenated at the end: memory stays flat however long
the history is.

Not exported: pipeline metrics of a live process (event lag, breach latency, rebalances,
alert delivery) — they describe the worker, not the shops — and recording rules such as
``chatwatch:breach_ratio``: run ``promtool tsdb create-blocks-from rules`` for those.
"""

from __future__ import annotations

import heapq
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import IO

from stream.core.content import Violation
from stream.core.engine import Applied, Engine
from stream.core.events import ChatEvent
from stream.core.reply_window import (
    NO_WAIT,
    BreachRetracted,
    WaitBreached,
    WaitClosed,
    WaitOpened,
)

SPILL_BYTES = 16 << 20  # buffered sample text before it is written out to the spool files

# Same bounds as the live histogram (agents/metrics.py RESPONSE_BUCKETS); `le` is written
# as the client library writes it ("5.0").
RESPONSE_BUCKETS = (5, 15, 30, 60, 120, 180, 300, 600)

# name -> (type, help); order = order in the file.
FAMILIES: dict[str, tuple[str, str]] = {
    "chatwatch_events": ("counter", "Chat events by outcome: processed, invalid "
                         "(dead-lettered) or duplicate (dropped)."),
    "chatwatch_events_out_of_order": ("counter", "Events applied with their time raised to the "
                                      "conversation's latest time."),
    "chatwatch_waits": ("counter", "Counted waits, at open."),
    "chatwatch_waits_breached": ("counter", "Counted waits breached, at breach."),
    "chatwatch_agent_breaches": ("counter", "Breached waits by attributed agent."),
    "chatwatch_response_seconds": ("histogram", "Response time of counted waits, in seconds."),
    "chatwatch_violations": ("counter", "Flagged agent and bot messages."),
    "chatwatch_agent_violations": ("counter", "Flagged messages by agent."),
    "chatwatch_open_waits": ("gauge", "Open waits within their window."),
    "chatwatch_oldest_wait_seconds": ("gauge", "Age of the shop's oldest open wait (event "
                                      "time); 0 when none."),
    "chatwatch_reply_rate": ("gauge", "Reply rate of the current business day; NaN with no "
                             "consultations."),
    "chatwatch_consultations": ("gauge", "Distinct buyers with a counted wait today."),
    "chatwatch_unreplied": ("gauge", "Distinct buyers with a breached counted wait today."),
    "chatwatch_reply_rate_target": ("gauge", "The shop's reply-rate target from "
                                    "configuration."),
    "chatwatch_wait_at_risk_seconds": ("gauge", "The shop's at-risk wait age from "
                                       "configuration (WaitAtRisk)."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str) -> str:
    inner = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    if extra:
        inner = f"{inner},{extra}" if inner else extra
    return "{" + inner + "}" if inner else ""


def _value(v: float) -> str:
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    return repr(v)


class MetricsHistory:
    """Accumulates the live metrics from engine outcomes and writes timestamped samples.

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
        self.extra = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted((labels or {}).items()))
        self._dir = tempfile.TemporaryDirectory(prefix="chatwatch-om-", dir=spool_dir)
        self._prefix: dict[tuple[str, tuple[str, ...]], str] = {}
        # metric (family, label values without le) -> its number; lines waiting per number
        self._metrics: dict[tuple[str, tuple[str, ...]], int] = {}
        self._buffers: list[list[str]] = []
        self._spilled: set[int] = set()
        self._buffered = 0
        self.events: dict[str, int] = {}
        self.out_of_order = 0
        self.shops: dict[str, str] = {}  # shop -> platform (first seen)
        self.waits: dict[str, int] = {}
        self.breached: dict[str, int] = {}
        self.agent_breaches: dict[tuple[str, str], int] = {}
        self.violations: dict[tuple[str, str, str], int] = {}
        self.agent_violations: dict[tuple[str, str, str], int] = {}
        # shop -> [bucket counts..., +Inf count], sum
        self.responses: dict[str, tuple[list[int], list[float]]] = {}
        self.open: dict[str, int] = {}
        self.oldest: dict[str, list[tuple[int, str, int]]] = {}  # heap (start, conv, seq)
        self.samples = 0

    # -- listener -----------------------------------------------------------------------------

    def on_event(self, event: ChatEvent, applied: Applied,
                 violations: Sequence[Violation]) -> None:
        """Count an applied event, its outcomes and findings as the live pipeline does."""
        self.events["processed"] = self.events.get("processed", 0) + 1
        if applied.out_of_order:
            self.out_of_order += 1
        shop = event.shop_id
        if shop not in self.shops:
            self.shops[shop] = event.platform
        if applied.outcomes:
            self._outcomes(applied.outcomes, event.conversation_id)
        if violations:
            agent = event.agent_id or "unassigned"
            for v in violations:
                key = (shop, v.category, v.severity)
                self.violations[key] = self.violations.get(key, 0) + 1
                akey = (shop, agent, v.severity)
                self.agent_violations[akey] = self.agent_violations.get(akey, 0) + 1

    def on_breaches(self, breaches: Iterable[WaitBreached]) -> None:
        """Count breaches declared by the watermark."""
        for breach in breaches:
            self._breach(breach)

    def on_skipped(self, outcome: str) -> None:
        """Count an invalid or duplicate line."""
        self.events[outcome] = self.events.get(outcome, 0) + 1

    def _outcomes(self, outcomes: Iterable[object], cid: str) -> None:
        retracted = False
        for o in outcomes:
            if isinstance(o, WaitOpened):
                shop = o.shop_id
                self.open[shop] = self.open.get(shop, 0) + 1
                seq = self.engine.conversations[cid].seq
                heapq.heappush(self.oldest.setdefault(shop, []), (o.start_ms, cid, seq))
                if o.counted:
                    self.waits[shop] = self.waits.get(shop, 0) + 1
            elif isinstance(o, WaitBreached):
                self._breach(o)
            elif isinstance(o, BreachRetracted):
                retracted = True
            elif isinstance(o, WaitClosed):
                # A late close was already taken off the open count by its breach.
                if o.in_time and not retracted:
                    self.open[o.shop_id] -= 1
                if o.counted:
                    self._observe(o.shop_id, o.response_seconds)
                retracted = False

    def _breach(self, b: WaitBreached) -> None:
        self.open[b.shop_id] -= 1
        if b.counted:
            self.breached[b.shop_id] = self.breached.get(b.shop_id, 0) + 1
            key = (b.shop_id, b.agent)
            self.agent_breaches[key] = self.agent_breaches.get(key, 0) + 1

    def _observe(self, shop: str, seconds: float) -> None:
        hist = self.responses.get(shop)
        if hist is None:
            hist = self.responses[shop] = ([0] * (len(RESPONSE_BUCKETS) + 1), [0.0])
        counts, total = hist
        for i, bound in enumerate(RESPONSE_BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-1] += 1
        total[0] += seconds

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
        ts = str(t_ms // 1000) if t_ms % 1000 == 0 else f"{t_ms / 1000:.3f}"
        emit = self._emit
        for outcome, n in sorted(self.events.items()):
            emit("chatwatch_events", "_total", ("outcome",), (outcome,), n, ts)
        emit("chatwatch_events_out_of_order", "_total", (), (), self.out_of_order, ts)
        for shop, n in self.waits.items():
            emit("chatwatch_waits", "_total", ("shop",), (shop,), n, ts)
        for shop, n in self.breached.items():
            emit("chatwatch_waits_breached", "_total", ("shop",), (shop,), n, ts)
        for (shop, agent), n in self.agent_breaches.items():
            emit("chatwatch_agent_breaches", "_total", ("shop", "agent"), (shop, agent), n, ts)
        for (shop, category, severity), n in self.violations.items():
            emit("chatwatch_violations", "_total", ("shop", "category", "severity"),
                 (shop, category, severity), n, ts)
        for (shop, agent, severity), n in self.agent_violations.items():
            emit("chatwatch_agent_violations", "_total", ("shop", "agent", "severity"),
                 (shop, agent, severity), n, ts)
        hist = "chatwatch_response_seconds"
        for shop, (counts, total) in self.responses.items():
            metric = (shop,)  # one histogram point per time: buckets, count and sum together
            for bound, n in zip(RESPONSE_BUCKETS, counts, strict=False):
                emit(hist, "_bucket", ("shop", "le"), (shop, str(float(bound))), n, ts,
                     metric)
            emit(hist, "_bucket", ("shop", "le"), (shop, "+Inf"), counts[-1], ts, metric)
            emit(hist, "_count", ("shop",), metric, counts[-1], ts)
            emit(hist, "_sum", ("shop",), metric, total[0], ts)
        self._shop_gauges(t_ms, ts)

    def _shop_gauges(self, t_ms: int, ts: str) -> None:
        """The scrape-time gauges of ``agents.metrics.EngineCollector``, at event time t."""
        engine, emit = self.engine, self._emit
        book = engine.book()
        conversations = engine.conversations
        for shop, platform in sorted(self.shops.items()):
            policy, tz = engine.policies.resolve(platform, shop)
            heap = self.oldest.get(shop)
            while heap:  # drop waits that closed or breached since they were pushed
                start, cid, seq = heap[0]
                conv = conversations.get(cid)
                if (conv is not None and conv.seq == seq and conv.wait_start != NO_WAIT
                        and not conv.wait_breached):
                    break
                heapq.heappop(heap)
            age = max((t_ms - heap[0][0]) / 1000, 0.0) if heap else 0.0
            today = datetime.fromtimestamp(t_ms / 1000, tz).date().toordinal()
            figures = book.figures(shop, today)
            label = (shop,)
            emit("chatwatch_open_waits", "", ("shop",), label, self.open.get(shop, 0), ts)
            emit("chatwatch_oldest_wait_seconds", "", ("shop",), label, age, ts)
            rate = math.nan if figures is None or figures.reply_rate is None \
                else figures.reply_rate
            emit("chatwatch_reply_rate", "", ("shop",), label, rate, ts)
            emit("chatwatch_consultations", "", ("shop",), label,
                 figures.consultations if figures else 0, ts)
            emit("chatwatch_unreplied", "", ("shop",), label,
                 figures.unreplied if figures else 0, ts)
            emit("chatwatch_reply_rate_target", "", ("shop",), label,
                 policy.reply_rate_target, ts)
            emit("chatwatch_wait_at_risk_seconds", "", ("shop",), label,
                 policy.at_risk_seconds, ts)

    # -- output -------------------------------------------------------------------------------

    def write(self, out: IO[str]) -> None:
        """Write the OpenMetrics text: families with ``# TYPE``/``# HELP``, then ``# EOF``."""
        by_family: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for (family, values), number in self._metrics.items():
            by_family.setdefault(family, []).append((values, number))
        for name, (kind, text) in FAMILIES.items():
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
