"""Every Prometheus metric of the worker, in one bundle built against an explicit registry.

Counters and histograms are updated as outcomes happen. The per-shop gauges (open waits,
oldest wait, today's reply rate...) are *computed at scrape time* from the engine by
:class:`EngineCollector`: the engine only holds the partitions this worker owns, so when a
partition moves to another worker its shops simply stop appearing here — no stale series.

Labels carry shop and agent ids only; buyer ids and message text never become labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from stream.core.engine import Applied, Engine, EngineOutcome
from stream.core.guard import ContentFlagged
from stream.core.kpi_state import KpiBreached, KpiFirstResponse
from stream.core.orders import OrderPaid, OrderRefunded
from stream.core.reply_window import WaitBreached, WaitClosed, WaitOpened
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
                 process_registry: CollectorRegistry | None = None) -> None:
        """Register every metric (tests pass fresh registries)."""
        process = registry if process_registry is None else process_registry
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
        self.first_response_seconds = Histogram("chatwatch_first_response_seconds", "Session "
                                                "start to the first reply the KPI counts, in "
                                                "seconds (sessions in counted hours).",
                                                ["shop", "kpi"], buckets=RESPONSE_BUCKETS,
                                                registry=registry)
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
        self._waits = Children(self.waits)
        self._response = Children(self.response_seconds)
        self._shop_breaches = Children(self.waits_breached)
        self._agent_breaches = Children(self.agent_breaches)
        self._violations = Children(self.violations)
        self._agent_violations = Children(self.agent_violations)
        self._kpi_breaches = Children(self.kpi_breaches)
        self._agent_kpi_breaches = Children(self.agent_kpi_breaches)
        self._first_response = Children(self.first_response_seconds)
        self._chat_sales = Children(self.chat_sales)
        self._silent_sales = Children(self.silent_sales)
        self._agent_sales = Children(self.agent_chat_sales)
        self._refunds = Children(self.chat_refunds)
        self._orders_paid = Children(self.orders_paid)

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
        for outcome in outcomes:
            if isinstance(outcome, WaitOpened):
                if outcome.counted:
                    self._waits[outcome.shop_id].inc()
            elif isinstance(outcome, WaitClosed):
                if outcome.counted:
                    self._response[outcome.shop_id].observe(outcome.response_seconds)
            elif isinstance(outcome, WaitBreached):
                if outcome.counted:
                    self._shop_breaches[outcome.shop_id].inc()
                    self._agent_breaches[outcome.shop_id, outcome.agent].inc()
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
        self._orders_paid[shop, "chat"].inc()
        if paid.refunded:  # refunds that arrived before the payment count now
            self._refunds[shop].inc(paid.refunded / 100)


class Children(dict[Any, Any]):
    """The labelled children of one metric, each looked up with ``labels()`` only once.

    ``children[shop]`` or ``children[shop, agent]``; for hot paths, where ``labels()`` (about
    a microsecond: validation, a lock, a dict) would run several times per event. Only valid
    while nobody calls ``remove()``/``clear()`` on the metric — chatwatch never does.
    """

    def __init__(self, metric: MetricWrapperBase) -> None:
        super().__init__()
        self.metric = metric

    def __missing__(self, key: Any) -> Any:
        child = self.metric.labels(*key) if isinstance(key, tuple) else self.metric.labels(key)
        self[key] = child
        return child


class EngineCollector(Collector):
    """Per-shop gauges computed from the engine at scrape time (event-time based)."""

    def __init__(self, engine: Engine, now_ms: Callable[[], int],
                 partitions: Callable[[], Iterable[int]]) -> None:
        self.engine = engine
        self.now_ms = now_ms  # the current event-time watermark
        self.partitions = partitions

    def collect(self) -> Iterator[Metric]:
        """Yield the per-shop gauges."""
        engine = self.engine
        now = self.now_ms()
        open_waits = GaugeMetricFamily("chatwatch_open_waits", "Open waits within their "
                                       "window.", labels=["shop"])
        oldest = GaugeMetricFamily("chatwatch_oldest_wait_seconds", "Age of the shop's oldest "
                                   "open wait (event time); 0 when none.", labels=["shop"])
        rate = GaugeMetricFamily("chatwatch_reply_rate", "Reply rate of the current business "
                                 "day; NaN with no consultations.", labels=["shop"])
        consult = GaugeMetricFamily("chatwatch_consultations", "Distinct buyers with a counted "
                                    "wait today.", labels=["shop"])
        unreplied = GaugeMetricFamily("chatwatch_unreplied", "Distinct buyers with a breached "
                                      "counted wait today.", labels=["shop"])
        target = GaugeMetricFamily("chatwatch_reply_rate_target", "The shop's reply-rate "
                                   "target from configuration.", labels=["shop"])
        at_risk = GaugeMetricFamily("chatwatch_wait_at_risk_seconds", "The shop's "
                                    "at-risk wait age from configuration (WaitAtRisk).",
                                    labels=["shop"])
        needed = GaugeMetricFamily("chatwatch_agents_needed", "Agents needed now to hold the "
                                   "KPI's target by Erlang C, from the last 15 min of event "
                                   "time (arrivals, busy time per reply); NaN when it cannot "
                                   "be sized.", labels=["shop", "kpi"])
        active = GaugeMetricFamily("chatwatch_agents_active", "Agents who replied within the "
                                   "last 15 min of event time.", labels=["shop"])
        inquiries = GaugeMetricFamily("chatwatch_inquiries", "Distinct customer buyers with a "
                                      "wait today, any hour (询单人数).", labels=["shop"])
        paid_buyers = GaugeMetricFamily("chatwatch_conversions", "Today's inquiries converted: "
                                        "distinct customers with a paid order attributed to "
                                        "today (付款人数), so far.", labels=["shop"])
        conversion = GaugeMetricFamily("chatwatch_conversion_rate", "Paid buyers attributed to "
                                       "today over today's inquiries (询单转化率), so far; NaN "
                                       "without inquiries.", labels=["shop"])
        agent_conversion = GaugeMetricFamily("chatwatch_agent_conversion_rate", "An agent's "
                                             "paid buyers over the buyers whose waits the "
                                             "agent held today, so far; NaN without.",
                                             labels=["shop", "agent"])
        counts: dict[str, int] = {}
        starts: dict[str, int] = {}
        for _, conv in engine.open_waits():
            shop = conv.shop_id
            counts[shop] = counts.get(shop, 0) + 1
            if conv.wait_start < starts.get(shop, conv.wait_start + 1):
                starts[shop] = conv.wait_start
        yield from self._kpi_families(starts)
        partitions = list(self.partitions())
        for shop, platform in sorted(engine.shops(partitions).items()):
            policy, tz = engine.policies.resolve(platform, shop)
            open_waits.add_metric([shop], counts.get(shop, 0))
            age = (now - starts[shop]) / 1000 if shop in starts else 0.0
            oldest.add_metric([shop], max(age, 0.0))
            target.add_metric([shop], policy.reply_rate_target)
            at_risk.add_metric([shop], policy.at_risk_seconds)
            today = datetime.fromtimestamp(now / 1000, tz).date().toordinal()
            figures = engine.figures(shop, today, partitions)
            if figures is None:
                rate.add_metric([shop], math.nan)
                consult.add_metric([shop], 0)
                unreplied.add_metric([shop], 0)
            else:
                rate.add_metric([shop], math.nan if figures.reply_rate is None
                                else figures.reply_rate)
                consult.add_metric([shop], figures.consultations)
                unreplied.add_metric([shop], figures.unreplied)
            kset = engine.policies.kpis(platform, shop)
            advice = engine.staffing.advise(
                shop, now, [Kpi(k.name, k.window_seconds, k.target) for k in kset.kpis],
                counts.get(shop, 0))
            for one in advice:
                needed.add_metric([shop, one.kpi], math.nan if one.agents_needed is None
                                  else one.agents_needed)
            active.add_metric([shop], advice[0].agents_active if advice else 0)
            shop_conversion, agents = engine.conversion(shop, today, partitions)
            inquiries.add_metric([shop], shop_conversion.inquiries if shop_conversion else 0)
            paid_buyers.add_metric([shop], shop_conversion.paid_buyers if shop_conversion else 0)
            conversion.add_metric([shop], _rate(shop_conversion.conversion_rate
                                                if shop_conversion else None))
            for row in agents:
                agent_conversion.add_metric([shop, row.agent or "unassigned"],
                                            _rate(row.conversion_rate))
        yield from (open_waits, oldest, rate, consult, unreplied, target, at_risk, needed,
                    active, inquiries, paid_buyers, conversion, agent_conversion)

    def _kpi_families(self, base_starts: dict[str, int]) -> list[Metric]:
        """The per-(shop, KPI) gauges.

        Today's rate, units, units breached, target, min volume, the oldest open wait and the
        age at which a wait is at risk (read by KpiBelowTarget and KpiWaitAtRisk).
        """
        engine = self.engine
        now = self.now_ms()
        labels = ["shop", "kpi"]
        rate = GaugeMetricFamily("chatwatch_kpi_rate", "Today's rate of the KPI; NaN without "
                                 "units.", labels=labels)
        units = GaugeMetricFamily("chatwatch_kpi_units", "Today's counted units of the KPI "
                                  "(buyers, rounds or sessions).", labels=labels)
        breached = GaugeMetricFamily("chatwatch_kpi_units_breached", "Today's counted units "
                                     "breached.", labels=labels)
        target = GaugeMetricFamily("chatwatch_kpi_target", "The KPI's target from "
                                   "configuration.", labels=labels)
        volume = GaugeMetricFamily("chatwatch_kpi_min_volume", "Units a day needs before "
                                   "KpiBelowTarget may fire.", labels=labels)
        oldest = GaugeMetricFamily("chatwatch_kpi_oldest_wait_seconds", "Age of the oldest "
                                   "open unbreached wait of the KPI; 0 when none.",
                                   labels=labels)
        at_risk = GaugeMetricFamily("chatwatch_kpi_wait_at_risk_seconds", "Age at which a "
                                    "wait of the KPI is at risk (at_risk_share of its "
                                    "window).", labels=labels)
        info = GaugeMetricFamily("chatwatch_kpi_info", "1 per KPI of a shop; labels carry its "
                                 "Chinese title (notices) and unit.",
                                 labels=["shop", "kpi", "title", "unit"])
        starts = engine.oldest_kpi_waits(base_starts)
        partitions = list(self.partitions())
        for shop, platform in sorted(engine.shops(partitions).items()):
            _, tz = engine.policies.resolve(platform, shop)
            kset = engine.policies.kpis(platform, shop)
            today = datetime.fromtimestamp(now / 1000, tz).date().toordinal()
            figures = engine.kpi_figures(shop, today, partitions)
            for kpi, f in zip(kset.kpis, figures, strict=True):
                key = [shop, kpi.name]
                rate.add_metric(key, math.nan if f.rate is None else f.rate)
                units.add_metric(key, f.units)
                breached.add_metric(key, f.units_breached)
                target.add_metric(key, kpi.target)
                volume.add_metric(key, kpi.min_volume)
                start = starts.get((shop, kpi.name))
                oldest.add_metric(key, max((now - start) / 1000, 0.0) if start else 0.0)
                at_risk.add_metric(key, kpi.at_risk_share * kpi.window_seconds)
                info.add_metric([shop, kpi.name, kpi.title, kpi.unit], 1)
        return [rate, units, breached, target, volume, oldest, at_risk, info]


def _rate(value: float | None) -> float:
    return math.nan if value is None else value
