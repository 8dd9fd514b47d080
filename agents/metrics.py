"""Every Prometheus metric of the worker, in one bundle built against an explicit registry.

Counters and histograms are updated as outcomes happen. The per-shop gauges (open waits,
oldest wait, today's reply rate...) are *computed at scrape time* from the engine by
:class:`EngineCollector`: the engine only holds the partitions this worker owns, so when a
partition moves to another worker its shops simply stop appearing here — no stale series.

Labels carry shop and agent ids only; buyer ids and message text never become labels.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agents.series import OTHER, Children, SeriesCaps
from stream.core import kpi_engine
from stream.core.engine import Applied, Engine, EngineOutcome
from stream.core.guard import ContentFlagged
from stream.core.kpi import reply_rate_kpi
from stream.core.kpi_state import KpiBreached, KpiFirstResponse
from stream.core.orders import OrderBook, OrderPaid, OrderRefunded
from stream.core.reply_window import WaitBreached, WaitClosed, WaitOpened
from stream.core.rows import NO_WAIT, Conversation
from stream.core.staffing import Kpi

# Response and breach-latency buckets are in seconds. The response buckets put bounds at the
# figures the platforms care about: 15 s (Taobao "slow"), 60 s, 180 s and 300 s (the window).
RESPONSE_BUCKETS = (5, 15, 30, 60, 120, 180, 300, 600)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)


class ChatwatchMetrics:
    """The worker's counters, histograms and process gauges, and how outcomes move them.

    Two groups: the *figures* (events, waits, breaches, response times, violations) follow
    from the engine's outcomes alone, and :meth:`record` is the only code that moves them —
    the live pipeline calls it for every applied event, ``backfill --openmetrics`` for every
    line of a log, and samples the same registry over event time, so the history and
    ``/metrics`` cannot drift apart. The *process* metrics (lag, breach latency, rebalances,
    alert delivery) describe one running worker and go to ``process_registry`` when given
    (the history leaves them out).
    """

    def __init__(self, registry: CollectorRegistry,
                 process_registry: CollectorRegistry | None = None,
                 caps: SeriesCaps | None = None) -> None:
        """Register every metric (tests pass fresh registries); ``caps`` bound the labels."""
        process = registry if process_registry is None else process_registry
        self.registry = registry
        self.caps = caps = SeriesCaps() if caps is None else caps
        self.engine_gauges: EngineCollector | None = None  # set by watch()
        self._scrape_lock: asyncio.Lock | None = None
        self.events = Counter("chatwatch_events", "Chat events by outcome: processed, "
                              "invalid (dead-lettered), duplicate (dropped), oversized "
                              "(text beyond the content-check budget).", ["outcome"],
                              registry=registry)
        self.out_of_order = Counter("chatwatch_events_out_of_order", "Events applied with "
                                    "their time raised to the conversation's latest time.",
                                    registry=registry)
        self.dead_letters = Counter("chatwatch_dead_letters", "Records written to the "
                                    "dead-letter topic.", registry=registry)
        self.waits = Counter("chatwatch_waits", "Counted waits, at open.", ["shop"],
                             registry=registry)
        self.waits_breached = Counter("chatwatch_waits_breached", "Counted waits breached, at "
                                      "breach.", ["shop"], registry=registry)
        self.agent_breaches = Counter("chatwatch_agent_breaches", "Breached waits by "
                                      "attributed agent.", ["shop", "agent"],
                                      registry=registry)
        self.response_seconds = Histogram("chatwatch_response_seconds", "Response time of "
                                          "counted waits, in seconds.", ["shop"],
                                          buckets=RESPONSE_BUCKETS, registry=registry)
        self.violations = Counter("chatwatch_violations", "Flagged agent and bot messages, "
                                  "once per category and severity found in a message.",
                                  ["shop", "category", "severity"], registry=registry)
        self.agent_violations = Counter("chatwatch_agent_violations", "Flagged messages by "
                                        "agent, once per severity found in a message.",
                                        ["shop", "agent", "severity"], registry=registry)
        # Platform KPIs (DOMAIN.md §3): the metrics above keep their meaning (the base wait,
        # the default KPI); these carry every KPI of a shop's list, by name.
        self.kpi_breaches = Counter("chatwatch_kpi_breaches", "Counted waits (sessions) "
                                    "breached, per KPI, at breach.", ["shop", "kpi"],
                                    registry=registry)
        self.agent_kpi_breaches = Counter("chatwatch_agent_kpi_breaches", "Counted waits "
                                          "breached per KPI, by the agent holding them.",
                                          ["shop", "agent", "kpi"], registry=registry)
        # A summary (count and sum: the mean), not a histogram: buckets per shop and KPI were
        # 20 series a shop that no rule or dashboard read; the response-time distribution
        # per shop is chatwatch_response_seconds.
        self.first_response_seconds = Summary("chatwatch_first_response_seconds", "Session "
                                              "start to the first reply the KPI counts, in "
                                              "seconds (sessions in counted hours).",
                                              ["shop", "kpi"], registry=registry)
        # Sales in yuan (a float at this boundary only: the core keeps integer fen).
        self.chat_sales = Counter("chatwatch_chat_sales_yuan", "Paid orders attributed to a "
                                  "consultation (客服销售额), yuan, at payment.", ["shop"],
                                  registry=registry)
        self.silent_sales = Counter("chatwatch_silent_sales_yuan", "Silent paid orders (静默"
                                    "下单: no consultation in the conversion window), yuan.",
                                    ["shop"], registry=registry)
        self.agent_chat_sales = Counter("chatwatch_agent_chat_sales_yuan", "Attributed paid "
                                        "orders by the agent holding the conversation at "
                                        "payment, yuan.", ["shop", "agent"], registry=registry)
        self.chat_refunds = Counter("chatwatch_chat_refunds_yuan", "Refunds of attributed paid "
                                    "orders, yuan, when they arrive.", ["shop"],
                                    registry=registry)
        self.orders_paid = Counter("chatwatch_orders_paid", "Paid orders counted, by kind "
                                   "(chat: attributed, silent).", ["shop", "kind"],
                                   registry=registry)
        self.breach_latency = Histogram("chatwatch_breach_latency_seconds", "Wall-clock delay "
                                        "from a wait's deadline to its breach being declared.",
                                        buckets=LATENCY_BUCKETS, registry=process)
        self.rebalances = Counter("chatwatch_rebalances", "Partition assignments received.",
                                  registry=process)
        self.event_lag = Gauge("chatwatch_event_lag_seconds", "How far event processing is "
                               "behind the wall clock; 0 when caught up.", registry=process)
        self.alerts_pushed = Counter("chatwatch_alerts_pushed", "Event alerts pushed to "
                                     "Alertmanager by outcome.", ["outcome"], registry=process)
        self.alert_queue_depth = Gauge("chatwatch_alert_queue_depth", "Event alerts waiting "
                                       "to be delivered to Alertmanager.", registry=process)
        for outcome in ("processed", "invalid", "duplicate"):
            self.events.labels(outcome)
        # Labelled children looked up once per label set: labels() costs about a
        # microsecond, several times per event on the hot path.
        self._processed = self.events.labels("processed")
        self._duplicate = self.events.labels("duplicate")
        self._invalid = self.events.labels("invalid")
        def shop(key: Any) -> tuple[str, ...]:
            if isinstance(key, tuple):
                return (caps.shop(key[0]), *key[1:])
            return (caps.shop(key),)

        def agent(key: tuple[str, ...]) -> tuple[str, ...]:
            return (*caps.agent(key[0], key[1]), *key[2:])

        def shop_ok(labels: tuple[str, ...]) -> bool:
            return caps.shop_allowed(labels[0])

        def agent_ok(labels: tuple[str, ...]) -> bool:
            return caps.agent_allowed(labels[0], labels[1])

        def by_shop(metric: Any) -> Children:
            return Children(metric, shop, shop_ok)

        def by_agent(metric: Any) -> Children:
            return Children(metric, agent, agent_ok)

        self._waits = by_shop(self.waits)
        self._response = by_shop(self.response_seconds)
        self._shop_breaches = by_shop(self.waits_breached)
        self._agent_breaches = by_agent(self.agent_breaches)
        self._violations = by_shop(self.violations)
        self._agent_violations = by_agent(self.agent_violations)
        self._kpi_breaches = by_shop(self.kpi_breaches)
        self._agent_kpi_breaches = by_agent(self.agent_kpi_breaches)
        self._first_response = by_shop(self.first_response_seconds)
        self._chat_sales = by_shop(self.chat_sales)
        self._silent_sales = by_shop(self.silent_sales)
        self._agent_sales = by_agent(self.agent_chat_sales)
        self._refunds = by_shop(self.chat_refunds)
        self._orders_paid = by_shop(self.orders_paid)
        self._children = (self._waits, self._response, self._shop_breaches,
                          self._agent_breaches, self._violations, self._agent_violations,
                          self._kpi_breaches, self._agent_kpi_breaches, self._first_response,
                          self._chat_sales, self._silent_sales, self._agent_sales,
                          self._refunds, self._orders_paid)

    @classmethod
    def create(cls, registry: CollectorRegistry,
               process_registry: CollectorRegistry | None = None) -> ChatwatchMetrics:
        """Register every metric in ``registry`` (tests pass a fresh one)."""
        return cls(registry, process_registry)

    # -- outcomes ---------------------------------------------------------------------------

    def record(self, applied: Applied) -> None:
        """Count one applied event and everything that followed from it."""
        if applied.duplicate:
            self._duplicate.inc()
            return
        self._processed.inc()
        if applied.out_of_order:
            self.out_of_order.inc()
        if applied.outcomes:
            self.record_outcomes(applied.outcomes)

    def record_invalid(self) -> None:
        """Count one invalid event (dead-lettered live, reported in a backfill)."""
        self._invalid.inc()
        self.dead_letters.inc()

    def record_outcomes(self, outcomes: Iterable[EngineOutcome]) -> None:
        """Count outcomes: of an event, or breaches a watermark declared."""
        busy, busy_agent = self._busy, self._busy_agent
        for outcome in outcomes:
            if isinstance(outcome, WaitOpened):
                busy(outcome.shop_id)
                if outcome.counted:
                    self._waits[outcome.shop_id].inc()
            elif isinstance(outcome, WaitClosed):
                if outcome.counted:
                    self._response[outcome.shop_id].observe(outcome.response_seconds)
            elif isinstance(outcome, WaitBreached):
                if outcome.counted:
                    self._shop_breaches[outcome.shop_id].inc()
                    self._agent_breaches[outcome.shop_id, outcome.agent].inc()
                    busy_agent(outcome.shop_id, outcome.agent)
            elif isinstance(outcome, KpiBreached):
                if outcome.counted:
                    self._kpi_breaches[outcome.shop_id, outcome.kpi].inc()
                    self._agent_kpi_breaches[outcome.shop_id, outcome.agent, outcome.kpi].inc()
            elif isinstance(outcome, KpiFirstResponse):
                self._first_response[outcome.shop_id, outcome.kpi].observe(outcome.seconds)
            elif isinstance(outcome, ContentFlagged):
                shop = outcome.shop_id
                # Per flagged message: a message with two WeChat ids is one violation.
                for category, severity in outcome.kinds:
                    self._violations[shop, category, severity].inc()
                for severity in outcome.severities:
                    self._agent_violations[shop, outcome.agent, severity].inc()
                busy_agent(shop, outcome.agent)
                if outcome.oversized:
                    self.events.labels("oversized").inc()
            elif isinstance(outcome, OrderPaid):
                self._paid(outcome)
            elif isinstance(outcome, OrderRefunded):
                self._refunds[outcome.shop_id].inc(outcome.amount / 100)

    def _paid(self, paid: OrderPaid) -> None:
        shop = paid.shop_id
        if paid.silent:
            self._silent_sales[shop].inc(paid.amount / 100)
            self._orders_paid[shop, "silent"].inc()
            return
        self._chat_sales[shop].inc(paid.amount / 100)
        self._agent_sales[shop, paid.agent].inc(paid.amount / 100)
        self._busy_agent(shop, paid.agent)
        self._orders_paid[shop, "chat"].inc()
        if paid.refunded:  # refunds that arrived before the payment count now
            self._refunds[shop].inc(paid.refunded / 100)

    # -- bounded series (agents.series) ------------------------------------------------------

    def _busy(self, shop: str) -> None:
        """One more wait of ``shop``: how the caps rank shops."""
        activity = self.caps.shop_activity
        n = activity.get(shop)
        if n is None:
            self.caps.shop(shop)  # first seen: noted as fresh for the next ranking
            n = 0
        activity[shop] = n + 1

    def _busy_agent(self, shop: str, agent: str) -> None:
        """One more breach, violation or paid order of an agent: how the caps rank agents."""
        activity = self.caps.agent_activity
        pair = (shop, agent)
        n = activity.get(pair)
        if n is None:
            self.caps.agent(shop, agent)  # first seen: indexed by shop
            n = 0
        activity[pair] = n + 1

    def rerank(self, live: Iterable[str]) -> None:
        """Rank shops and agents again (:meth:`SeriesCaps.rerank`) and drop what it folds.

        ``live``: the shops the engine still holds. Series of shops no longer live, or no
        longer kept, are removed; the cached children are looked up again.
        """
        if self.caps.rerank(live):
            for children in self._children:
                children.prune()

    def watch(self, engine: Engine, now_ms: Callable[[], int],
              partitions: Callable[[], Iterable[int]]) -> EngineCollector:
        """Register the engine's scrape-time gauges in this bundle's registry, capped alike."""
        self.engine_gauges = EngineCollector(engine, now_ms, partitions, self)
        self.registry.register(self.engine_gauges)
        return self.engine_gauges

    async def scrape(self) -> bytes:
        """The ``/metrics`` text, without holding the event loop for long.

        The engine's gauges are read on the loop, a slice of a few milliseconds at a time
        (:meth:`EngineCollector.refresh`); the text is written in a thread from that snapshot
        and from the counters (prometheus_client's children are thread-safe). One scrape at
        a time: a second waits for the first.
        """
        if self._scrape_lock is None:
            self._scrape_lock = asyncio.Lock()
        async with self._scrape_lock:
            gauges = self.engine_gauges
            if gauges is None:
                return await asyncio.to_thread(render, self.registry)
            await gauges.refresh()
            try:
                return await asyncio.to_thread(render, self.registry)
            finally:
                gauges.snapshot = None  # the next synchronous collect reads the engine again


# A scrape reads the engine on the event loop in slices of about this long, then lets the
# loop run (EngineCollector.refresh): events, the sweeper and /health wait at most that.
SLICE_SECONDS = 0.005
_ROWS = 5000  # conversations or keys read between two looks at the clock


class EngineCollector(Collector):
    """Per-shop gauges computed from the engine at scrape time (event-time based).

    The shops are those a conversation of the worker's partitions still refers to: a shop
    whose conversations were all evicted (``state_retention_hours``) or whose partitions moved
    to another worker leaves ``/metrics``. With a bundle (``metrics``, the live worker) its
    caps apply: a kept shop has every gauge; the folded shops add up under ``shop="_other"``
    in the gauges that add up (open waits; the oldest wait is their oldest) and in none of the
    others (rates, targets and staffing advice are per shop); ``chatwatch_metrics_folded``
    counts them.

    :meth:`collect` computes the gauges at once (tests, the backfill's history). The live
    ``/metrics`` (:meth:`ChatwatchMetrics.scrape`) calls :meth:`refresh` on the event loop
    first, which computes them a slice at a time and keeps the result for :meth:`collect` to
    hand out from the rendering thread, which never touches the engine.
    """

    def __init__(self, engine: Engine, now_ms: Callable[[], int],
                 partitions: Callable[[], Iterable[int]],
                 metrics: ChatwatchMetrics | None = None) -> None:
        self.engine = engine
        self.now_ms = now_ms  # the current event-time watermark
        self.partitions = partitions
        self.metrics = metrics
        self.snapshot: list[Metric] | None = None  # what refresh() read, until rendered

    def collect(self) -> Iterator[Metric]:
        """Yield the per-shop gauges (while a scrape renders: its refresh's)."""
        if self.snapshot is not None:
            yield from self.snapshot
            return
        steps = self._steps()
        while True:
            try:
                next(steps)
            except StopIteration as done:
                yield from done.value
                return

    async def refresh(self) -> None:
        """Compute the gauges on the event loop, yielding to it every few milliseconds."""
        steps = self._steps()
        began = time.perf_counter()
        while True:
            try:
                next(steps)
            except StopIteration as done:
                self.snapshot = done.value
                return
            if time.perf_counter() - began > SLICE_SECONDS:
                await asyncio.sleep(0)
                began = time.perf_counter()

    def _steps(self) -> Generator[None, None, list[Metric]]:
        """The families, built in steps (each ``yield`` is a point where the loop may run).

        Nothing is iterated across a ``yield`` that the loop could change meanwhile: the
        engine's dicts are copied into lists first (a copy is quick, C speed).
        """
        engine, metrics = self.engine, self.metrics
        now = self.now_ms()
        partitions = list(self.partitions())
        owned = set(partitions)
        live: set[str] = set()
        rows = list(engine.conversations.values())
        for i in range(0, len(rows), _ROWS):
            live.update(c.shop_id for c in rows[i:i + _ROWS] if c.partition in owned)
            yield
        del rows
        shops: dict[str, str] = {}  # Engine.shops, a partition at a time
        for state in [engine.partitions[n] for n in partitions if n in engine.partitions]:
            for shop, platform in list(state.shops.items()):
                if shop in live and shop not in shops:
                    shops[shop] = platform
            yield
        caps = None
        if metrics is not None:
            metrics.rerank(live)
            caps = metrics.caps
            yield
        if caps is None or caps.max_shops is None:
            kept = dict(sorted(shops.items()))
        else:
            kept = {s: shops[s] for s in sorted(caps.kept_shops) if s in shops}
        counts: dict[str, int] = {}  # kept shops' open waits
        starts: dict[str, int] = {}  # and the start of the oldest
        folded_open, folded_first = 0, None  # the folded shops', together
        for conv in (yield from self._open_waits()):
            shop = conv.shop_id
            if shop in kept:
                counts[shop] = counts.get(shop, 0) + 1
                if conv.wait_start < starts.get(shop, conv.wait_start + 1):
                    starts[shop] = conv.wait_start
            else:
                folded_open += 1
                if folded_first is None or conv.wait_start < folded_first:
                    folded_first = conv.wait_start
        yield
        kpi_starts = yield from self._kpi_starts(partitions, kept, starts)
        orders = yield from self._order_keys(partitions, kept)
        out = _Families()
        for shop, platform in kept.items():
            self._shop(out, shop, platform, now, partitions, counts, starts, kpi_starts,
                       orders.get(shop, ()), caps)
            yield
        if caps is not None and caps.max_shops is not None and len(kept) < len(shops):
            out.open_waits.add_metric([OTHER], folded_open)
            out.oldest.add_metric([OTHER], 0.0 if folded_first is None
                                  else max((now - folded_first) / 1000, 0.0))
        families = out.all()
        families.extend(self._unpaid(partitions, kept, now, caps is not None
                                     and caps.max_shops is not None and len(kept) < len(shops)))
        yield
        if caps is not None:
            folded_family = GaugeMetricFamily(
                "chatwatch_metrics_folded", "Shops (label=shop) and agents (label=agent) "
                "whose series are folded into the label value _other by the series caps "
                "(metrics_max_shops, metrics_max_agents).", labels=["label"])
            folded_family.add_metric(["shop"], caps.folded_shops)
            folded_family.add_metric(["agent"], caps.folded_agents)
            families.append(folded_family)
        capped = CounterMetricFamily(
            "chatwatch_state_capped", "What the per-conversation row caps dropped "
            "(state_max_live_orders, state_max_settled_orders, state_max_days), by cap: live "
            "orders settled early, settled orders forgotten, day records, inquiry marks. The "
            "figures keep what they counted; a restart rebuilds them without it.",
            labels=["cap"])
        for cap, dropped in engine.capped.as_dict().items():
            capped.add_metric([cap], dropped)
        families.append(capped)
        return families

    def _unpaid(self, partitions: list[int], kept: dict[str, str], now: int,
                folded: bool) -> list[Metric]:
        """``chatwatch_unpaid_orders`` and ``chatwatch_unpaid_amount`` per shop (催付, §7).

        The engine's list of orders awaiting payment at ``now`` (event time), as the board
        shows it; folded shops add up under ``shop="_other"`` like the open waits.
        """
        orders = GaugeMetricFamily("chatwatch_unpaid_orders", "Orders awaiting payment now "
                                   "(催付): created, neither paid nor cancelled within the "
                                   "shop's unpaid_reminder_minutes, not yet expired.",
                                   labels=["shop"])
        amount = GaugeMetricFamily("chatwatch_unpaid_amount", "Sum of the amounts the orders "
                                   "awaiting payment carried when created, yuan.",
                                   labels=["shop"])
        counts = dict.fromkeys(kept, 0)
        fen = dict.fromkeys(kept, 0)
        other = [0, 0]
        for entry in self.engine.unpaid_orders(partitions, now):
            price = entry.amount_fen
            if entry.shop_id in counts:
                counts[entry.shop_id] += 1
                fen[entry.shop_id] += price
            else:
                other[0] += 1
                other[1] += price
        for shop in kept:
            orders.add_metric([shop], counts[shop])
            amount.add_metric([shop], fen[shop] / 100)
        if folded:
            orders.add_metric([OTHER], other[0])
            amount.add_metric([OTHER], other[1] / 100)
        return [orders, amount]

    def _open_waits(self) -> Generator[None, None, list[Conversation]]:
        """The rows of ``Engine.open_waits`` (each once), read a partition at a time."""
        conversations = self.engine.conversations
        seen: set[str] = set()
        out: list[Conversation] = []
        for state in list(self.engine.partitions.values()):
            ids = [cid for group in list(state.deadlines.by_second.values()) for cid in group]
            for i in range(0, len(ids), _ROWS):
                for cid in ids[i:i + _ROWS]:
                    conv = conversations.get(cid)
                    if conv is not None and conv.wait_start != NO_WAIT \
                            and not conv.wait_breached and cid not in seen:
                        seen.add(cid)
                        out.append(conv)
                yield
        return out

    def _kpi_starts(self, partitions: list[int], kept: dict[str, str], starts: dict[str, int],
                    ) -> Generator[None, None, dict[tuple[str, str], int]]:
        """(shop, KPI) -> oldest open unbreached wait start, for the kept shops only."""
        engine = self.engine
        out: dict[tuple[str, str], int] = {}
        for number in partitions:
            part = engine.partitions.get(number)
            if part is None:
                continue
            mine = {s: p for s, p in list(part.shops.items()) if s in kept}
            for shop, platform in mine.items():
                kset = engine.policies.kpis(platform, shop)
                if kset.mirror >= 0 and shop in starts:
                    out[(shop, kset.kpis[kset.mirror].name)] = starts[shop]
            found = kpi_engine.oldest_open(part.kpi, engine.policies, engine.conversations, mine)
            for key, start in found.items():
                if start < out.get(key, start + 1):
                    out[key] = start
            yield
        return out

    def _order_keys(self, partitions: list[int], kept: dict[str, str],
                    ) -> Generator[None, None, dict[str, list[tuple[OrderBook, Any]]]]:
        """Shop -> the (book, key) of its §7 totals in each partition, for the kept shops.

        ``Engine.conversion`` merges every shop's totals to read one shop's: per shop, over
        tens of thousands of shops, that is quadratic. The keys are read once here instead.
        """
        out: dict[str, list[tuple[OrderBook, Any]]] = {}
        for number in partitions:
            part = self.engine.partitions.get(number)
            if part is None:
                continue
            book = part.orders
            keys = list(book.totals)
            for i in range(0, len(keys), _ROWS):
                for key in keys[i:i + _ROWS]:
                    if key[0] in kept:
                        out.setdefault(key[0], []).append((book, key))
                yield
        return out

    def _scores(self, out: _Families, shop: str, platform: str, today: int, now: int,
                partitions: list[int]) -> None:
        """The platform's view of each KPI of a kept shop."""
        engine = self.engine
        for score in engine.scores(shop, today, partitions, platform):
            key = [shop, score.kpi]
            out.kpi_score.add_metric(key, _rate(score.score))
            out.kpi_score_units.add_metric(key, score.window_units)
            out.kpi_score_breached.add_metric(key, score.window_breached)
            out.kpi_score_days.add_metric(key, score.score_days)
            if score.gate_ok is not None:
                out.kpi_gate_ok.add_metric(key, 1 if score.gate_ok else 0)
            out.kpi_budget.add_metric([*key, "today"], score.budget)
            out.kpi_budget.add_metric([*key, "score"], score.score_budget)
        for expected in engine.forecasts(shop, now, partitions, platform):
            out.kpi_forecast.add_metric([shop, expected.kpi], _rate(expected.rate))

    def _shop(self, out: _Families, shop: str, platform: str, now: int, partitions: list[int],
              counts: dict[str, int], starts: dict[str, int],
              kpi_starts: dict[tuple[str, str], int],
              orders: Iterable[tuple[OrderBook, Any]], caps: SeriesCaps | None) -> None:
        """Every gauge of one kept shop."""
        engine = self.engine
        policy, tz = engine.policies.resolve(platform, shop)
        local = datetime.fromtimestamp(now / 1000, tz)
        today = local.date().toordinal()
        label = [shop]
        open_now = counts.get(shop, 0)
        out.open_waits.add_metric(label, open_now)
        age = (now - starts[shop]) / 1000 if shop in starts else 0.0
        out.oldest.add_metric(label, max(age, 0.0))
        out.target.add_metric(label, policy.reply_rate_target)
        out.at_risk.add_metric(label, policy.at_risk_seconds)
        figures = engine.figures(shop, today, partitions)
        if figures is None:
            out.rate.add_metric(label, math.nan)
            out.consult.add_metric(label, 0)
            out.unreplied.add_metric(label, 0)
        else:
            out.rate.add_metric(label, _rate(figures.reply_rate))
            out.consult.add_metric(label, figures.consultations)
            out.unreplied.add_metric(label, figures.unreplied)
        kset = engine.policies.kpis(platform, shop)
        # Engine.kpi_figures, without its lookup of the shop's platform among all shops.
        book = engine.kpi_book(partitions, (shop, today))
        for kpi in kset.kpis:
            f = book.figures(shop, today, kpi)
            key = [shop, kpi.name]
            out.kpi_rate.add_metric(key, _rate(f.rate))
            out.kpi_units.add_metric(key, f.units)
            out.kpi_breached.add_metric(key, f.units_breached)
            out.kpi_target.add_metric(key, kpi.target)
            out.kpi_volume.add_metric(key, kpi.min_volume)
            start = kpi_starts.get((shop, kpi.name))
            out.kpi_oldest.add_metric(key, max((now - start) / 1000, 0.0) if start else 0.0)
            out.kpi_at_risk.add_metric(key, kpi.at_risk_share * kpi.window_seconds)
            out.kpi_info.add_metric([shop, kpi.name, kpi.title, kpi.unit], 1)
            out.kpi_counted.add_metric(key, 1 if kpi.is_counted(local.time()) else 0)
        self._scores(out, shop, platform, today, now, partitions)
        # Which KPI the shop's §3 figures are (the one judged by the base wait), or the
        # policy's own window when no listed KPI is: ReplyRateBelowTarget and WaitAtRisk name
        # it, and the KPI alerts leave it to them (one page per condition).
        base = reply_rate_kpi(kset, policy)
        out.reply_rate_info.add_metric([shop, base.name, base.title, str(base.window_seconds)],
                                       1)
        advice = engine.staffing.advise(
            shop, now, [Kpi(k.name, k.window_seconds, k.target) for k in kset.kpis], open_now)
        for one in advice:
            out.needed.add_metric([shop, one.kpi], _rate(one.agents_needed))
        out.active.add_metric(label, advice[0].agents_active if advice else 0)
        merged = OrderBook()
        for source, key in orders:
            totals = source.totals.get(key) if key[2] == today else None
            if totals is not None:
                single = OrderBook()
                single.totals[key] = totals
                merged.merge(single)
        shop_conversion = merged.figures(shop, today)
        out.inquiries.add_metric(label, shop_conversion.inquiries if shop_conversion else 0)
        out.paid_buyers.add_metric(label, shop_conversion.paid_buyers if shop_conversion else 0)
        out.conversion.add_metric(label, _rate(shop_conversion.conversion_rate
                                               if shop_conversion else None))
        folded_in = folded_paid = 0
        for row in merged.agents(shop, today):
            agent = row.agent or "unassigned"
            if caps is not None and caps.agent(shop, agent)[1] == OTHER:
                folded_in += row.inquiries
                folded_paid += row.paid_buyers
                continue
            out.agent_conversion.add_metric([shop, agent], _rate(row.conversion_rate))
        if folded_in or folded_paid:
            out.agent_conversion.add_metric([shop, OTHER], folded_paid / folded_in
                                            if folded_in else math.nan)


class _Families:
    """The scrape-time gauge families, filled shop by shop."""

    def __init__(self) -> None:
        shop, kpi = ["shop"], ["shop", "kpi"]
        self.open_waits = GaugeMetricFamily("chatwatch_open_waits", "Open waits within their "
                                            "window.", labels=shop)
        self.oldest = GaugeMetricFamily("chatwatch_oldest_wait_seconds", "Age of the shop's "
                                        "oldest open wait (event time); 0 when none.",
                                        labels=shop)
        self.rate = GaugeMetricFamily("chatwatch_reply_rate", "Reply rate of the current "
                                      "business day; NaN with no consultations.", labels=shop)
        self.consult = GaugeMetricFamily("chatwatch_consultations", "Distinct buyers with a "
                                         "counted wait today.", labels=shop)
        self.unreplied = GaugeMetricFamily("chatwatch_unreplied", "Distinct buyers with a "
                                           "breached counted wait today.", labels=shop)
        self.target = GaugeMetricFamily("chatwatch_reply_rate_target", "The shop's reply-rate "
                                        "target from configuration.", labels=shop)
        self.at_risk = GaugeMetricFamily("chatwatch_wait_at_risk_seconds", "The shop's "
                                         "at-risk wait age from configuration (WaitAtRisk).",
                                         labels=shop)
        self.needed = GaugeMetricFamily("chatwatch_agents_needed", "Agents needed now to hold "
                                        "the KPI's target by Erlang C, from the last 15 min of "
                                        "event time (arrivals, busy time per reply); NaN when "
                                        "it cannot be sized.", labels=kpi)
        self.active = GaugeMetricFamily("chatwatch_agents_active", "Agents who replied within "
                                        "the last 15 min of event time.", labels=shop)
        self.inquiries = GaugeMetricFamily("chatwatch_inquiries", "Distinct customer buyers "
                                           "with a wait today, any hour (询单人数).",
                                           labels=shop)
        self.paid_buyers = GaugeMetricFamily("chatwatch_conversions", "Today's inquiries "
                                             "converted: distinct customers with a paid order "
                                             "attributed to today (付款人数), so far.",
                                             labels=shop)
        self.conversion = GaugeMetricFamily("chatwatch_conversion_rate", "Paid buyers "
                                            "attributed to today over today's inquiries "
                                            "(询单转化率), so far; NaN without inquiries.",
                                            labels=shop)
        self.agent_conversion = GaugeMetricFamily("chatwatch_agent_conversion_rate", "An "
                                                  "agent's paid buyers over the buyers whose "
                                                  "waits the agent held today, so far; NaN "
                                                  "without.", labels=["shop", "agent"])
        # The per-(shop, KPI) gauges: today's rate, units, units breached, target, min
        # volume, the oldest open wait and the age at which a wait is at risk (read by
        # KpiBelowTarget and KpiWaitAtRisk).
        self.kpi_rate = GaugeMetricFamily("chatwatch_kpi_rate", "Today's rate of the KPI; NaN "
                                          "without units.", labels=kpi)
        self.kpi_units = GaugeMetricFamily("chatwatch_kpi_units", "Today's counted units of "
                                           "the KPI (buyers, rounds or sessions).", labels=kpi)
        self.kpi_breached = GaugeMetricFamily("chatwatch_kpi_units_breached", "Today's counted "
                                              "units breached.", labels=kpi)
        self.kpi_target = GaugeMetricFamily("chatwatch_kpi_target", "The KPI's target from "
                                            "configuration.", labels=kpi)
        self.kpi_volume = GaugeMetricFamily("chatwatch_kpi_min_volume", "Units a day needs "
                                            "before KpiBelowTarget may fire.", labels=kpi)
        self.kpi_oldest = GaugeMetricFamily("chatwatch_kpi_oldest_wait_seconds", "Age of the "
                                            "oldest open unbreached wait of the KPI; 0 when "
                                            "none.", labels=kpi)
        self.kpi_at_risk = GaugeMetricFamily("chatwatch_kpi_wait_at_risk_seconds", "Age at "
                                             "which a wait of the KPI is at risk "
                                             "(at_risk_share of its window).", labels=kpi)
        self.kpi_info = GaugeMetricFamily("chatwatch_kpi_info", "1 per KPI of a shop; labels "
                                          "carry its Chinese title (notices) and unit.",
                                          labels=["shop", "kpi", "title", "unit"])
        # KpiBudgetLow fires only while the KPI counts (its hours differ per KPI: Taobao's
        # 08-24, JD's from 09:00), which the rules cannot work out from a clock of their own.
        self.kpi_counted = GaugeMetricFamily("chatwatch_kpi_counted_now", "1 while the "
                                             "KPI's counted hours run at the worker's "
                                             "event-time now (the shop's local time), else "
                                             "0.", labels=kpi)
        # The platform's view (DOMAIN.md §3, "Platform score"): the rolling score and the
        # units it sums (summed over workers by the recording rules), the gate, the budgets
        # and the end-of-day forecast.
        self.kpi_score = GaugeMetricFamily("chatwatch_kpi_score", "The KPI's score over "
                                           "its score_days days ending today; NaN without "
                                           "units.", labels=kpi)
        self.kpi_score_units = GaugeMetricFamily("chatwatch_kpi_score_units", "Units over "
                                                 "the score window.", labels=kpi)
        self.kpi_score_breached = GaugeMetricFamily("chatwatch_kpi_score_units_breached",
                                                    "Units breached over the score window.",
                                                    labels=kpi)
        self.kpi_score_days = GaugeMetricFamily("chatwatch_kpi_score_days", "The KPI's "
                                                "score window in days (configuration).",
                                                labels=kpi)
        self.kpi_gate_ok = GaugeMetricFamily("chatwatch_kpi_gate_ok", "1 when every day of "
                                             "the KPI's gate window (today so far included) "
                                             "is at or above its min_rate, else 0; only "
                                             "KPIs with a gate.", labels=kpi)
        self.kpi_budget = GaugeMetricFamily("chatwatch_kpi_breach_budget", "More units "
                                            "that may breach before the rate falls below "
                                            "target (scope today: today's units so far; "
                                            "score: the score window's).",
                                            labels=["shop", "kpi", "scope"])
        self.kpi_forecast = GaugeMetricFamily("chatwatch_kpi_forecast_rate", "Projected "
                                              "end-of-day rate: expected units from the "
                                              "shop's own history of the same hours, the "
                                              "last hour's breach share holding; NaN when "
                                              "no units are expected.", labels=kpi)
        self.reply_rate_info = GaugeMetricFamily(
            "chatwatch_reply_rate_info", "1 per shop; labels name the KPI its reply rate and "
            "oldest wait are (kpi: a KPI of the shop judged by the same waits, or reply_rate), "
            "its Chinese title and its window in seconds.",
            labels=["shop", "kpi", "title", "window"])

    def all(self) -> list[Metric]:
        """Every family, the KPI ones first (as before)."""
        return [self.kpi_rate, self.kpi_units, self.kpi_breached, self.kpi_target,
                self.kpi_volume, self.kpi_oldest, self.kpi_at_risk, self.kpi_info,
                self.kpi_counted, self.kpi_score, self.kpi_score_units, self.kpi_score_breached,
                self.kpi_score_days, self.kpi_gate_ok, self.kpi_budget, self.kpi_forecast,
                self.reply_rate_info,
                self.open_waits, self.oldest, self.rate, self.consult, self.unreplied,
                self.target, self.at_risk, self.needed, self.active, self.inquiries,
                self.paid_buyers, self.conversion, self.agent_conversion]


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition of ``registry`` without the ``_created`` series.

    prometheus_client adds a ``<name>_created`` series to every counter, histogram and
    summary child (a start timestamp): in the text format Prometheus stores each as a series
    of its own, doubling what every shop costs, and nothing of chatwatch reads them.
    """
    return generate_latest(_WithoutCreated(registry))


class _WithoutCreated:
    """A registry's families, ``_created`` samples left out (for :func:`render`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            if family.type in ("counter", "histogram", "summary"):
                samples = [s for s in family.samples if not s.name.endswith("_created")]
                if len(samples) != len(family.samples):
                    family = _copy_family(family, samples)
            yield family


def _copy_family(family: Metric, samples: list[Any]) -> Metric:
    copy = Metric(family.name, family.documentation, family.type, family.unit)
    copy.samples = samples
    return copy


def _rate(value: float | None) -> float:
    return math.nan if value is None else value
