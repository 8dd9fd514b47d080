"""``chatwatch backfill``: the domain core over a log file, no Kafka.

The engine is the one the live worker drives. The log is taken as complete (DOMAIN.md §3
rule 8): at end of input every wait still open is breached. One report row per shop and
business day with counted waits, sorted by shop then day.

Options add read-outs without changing that default row (``stream/report/``):

* ``--by agent`` — one row per shop, attributed agent (``unassigned`` when none) and day,
  fields ``shop_id, agent, day`` then the §3 figures;
* ``--violations`` — the engine's content guard checks agent and bot messages and each row
  gets ``violations_critical``, ``violations_warning``, ``violations_info`` (flagged messages,
  once per severity found in a message, as the live counters); shop-days (agent-days) with
  findings but no counted waits get a row of their own with zero figures;
* ``--breach-records OUT`` / ``--violation-records OUT`` — the records the live worker writes
  to ``chat.breaches`` and ``chat.violations`` (``stream/records.py``), one JSON per line;
* ``--openmetrics OUT`` — the chatwatch metrics as timestamped OpenMetrics every ``--step``
  seconds of event time, for ``promtool tsdb create-blocks-from openmetrics OUT DATA_DIR``;
* ``--kpi-report KPI.jsonl`` — every platform KPI (DOMAIN.md §3, "Platform KPIs") per shop,
  business day and KPI; with ``--by agent`` per agent (``stream/report/kpi_report.py``);
* ``--summary-html OUT.html`` — a self-contained page per shop: daily reply rate against
  target and breaches by hour of day;
* ``--unpaid OUT.jsonl`` / ``--lost-inquiries OUT.jsonl`` — a lead's lists (DOMAIN.md §7,
  ``stream/report/lead.py``): every order that became awaiting payment (催付) with its status
  at the end of the log, and every agent-day's lost inquiries (询单流失); the report's rows
  carry ``unpaid_orders``, ``unpaid_amount``, ``unpaid_recovered`` (and per agent
  ``lost_inquiries``) whenever the log has orders;
* orders (DOMAIN.md §7): when the log has any, every row also carries the §7 figures
  (``inquiries`` ... ``silent_sales``; per agent without the silent ones), a row comes for
  every shop-day (agent-day) with inquiries or orders, and ``--by agent`` rows are ranked
  within their shop-day by conversion, then sales (``rank``); without orders nothing changes;
* ``--retention-hours H`` — bounded memory on very long logs (idle conversations forgotten,
  old days' rows set aside), as the live worker's ``state_retention_hours``;
* ``--progress`` — a progress bar on stderr (on by default when stderr is a terminal).

Every output of rows (``--report``, ``--kpi-report``, ``--breach-records``,
``--violation-records``) is CSV when its name ends in ``.csv``, Excel for ``.xlsx``, JSON lines
otherwise (``stream/report/writers.py``); every output path is checked before the work starts.
Exports are read as ``stream/importing.py`` says (``--column``, ``--map``, ``--timezone``,
``--ts-unit``). Invalid lines are summed up by reason on stderr (every one with
``--rejects FILE``), and the command exits 1 when no line could be used or more than
``--max-bad-share`` of them were invalid (``stream/rejects.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import click
import msgspec
from tqdm import tqdm

from stream.config import Settings
from stream.core.engine import Applied, Engine
from stream.core.events import ChatEvent
from stream.core.figures import DailyFigures
from stream.core.guard import ContentFlagged
from stream.core.kpi_state import KpiBreached
from stream.core.orders import Conversion
from stream.core.reply_window import WAITS, WaitBreached
from stream.importing import build_spec, import_options
from stream.inputs import (
    FORMATS,
    LogClock,
    LogReader,
    Record,
    Summary,
    bad_line_message,
    read_events,
    strict_records,
)
from stream.records import encode_breach, encode_violation
from stream.rejects import Rejects, failure
from stream.report.conversion import with_conversion
from stream.report.tally import Listener, Tally, report_rows
from stream.report.writers import check_output, open_output
from stream.schema import Invalid

if TYPE_CHECKING:  # imported lazily: only --openmetrics needs it
    from stream.report.openmetrics import MetricsHistory

# With no wait pending, a jump in event time longer than this is skipped in one step instead
# of being filled with a sample per step (an idle week, or one absurd time stamp in a log).
IDLE_GAP_MS = 6 * 3600 * 1000


@dataclass
class BackfillResult:
    """What a backfill computed, plus the input summary (and the optional read-outs)."""

    engine: Engine
    summary: Summary
    tally: Tally | None = None
    listeners: Sequence[Listener] = field(default_factory=tuple)
    retired: Retired | None = None

    def report(self) -> list[DailyFigures]:
        """The daily figures, sorted by shop then day."""
        rows = self.engine.report()
        return rows if self.retired is None else self.retired.merged(rows)

    def report_rows(self, tally: Tally | None, *, by_agent: bool = False,
                    violations: bool = False,
                    shop_rows: list[DailyFigures] | None = None) -> list[dict[str, object]]:
        """The rows ``--report`` writes, §7 figures included when the log has orders.

        :func:`report_rows`, then the §7 figures on every row (and §7-only days).
        ``shop_rows``: :meth:`report`, if at hand.
        """
        if shop_rows is None:
            shop_rows = [] if by_agent else self.report()  # agent rows come from the tally
        rows = report_rows(shop_rows, tally, by_agent=by_agent, violations=violations,
                           retired_agents=self.retired.agent_rows if self.retired else None)
        if self.engine.has_orders:
            rows = with_conversion(rows, self, by_agent=by_agent, violations=violations)
        return rows

    def conversion(self, agents: bool = False) -> list[Conversion]:
        """The §7 figures per shop-day (or agent-day), sorted; retired days included."""
        rows = self.engine.order_book().report(agents=agents)
        if self.retired is None or not self.retired.conversions:
            return rows
        kept = {(r.shop_id, r.agent, r.day): r for r in rows}
        for (shop, agent, _), row in self.retired.conversions.items():
            if (agent is not None) == agents:
                kept[(shop, agent, row.day)] = row
        return sorted(kept.values(), key=lambda r: (r.shop_id, r.agent or "", r.day))


@dataclass
class Retired:
    """Figures of shop-days the engine forgot while evicting idle state (``--retention-hours``).

    Only the final rows are kept, not the distinct-buyer sets behind them, so memory stays
    bounded. An event stamped on a day already retired (more than the retention behind the
    log's latest time) cannot be added to that row: the retired row stands, and ``late_days``
    counts such days so the command can say to raise the retention.
    """

    retention_ms: int
    rows: dict[tuple[str, int], DailyFigures] = field(default_factory=dict)
    evicted: int = 0
    late_days: int = 0
    conversions: dict[tuple[str, str | None, int], Conversion] = field(default_factory=dict)
    # the --kpi-report rows of forgotten shop-days and agent-days (stream/report/kpi_report)
    kpi_rows: list[dict[str, object]] = field(default_factory=list)
    kpi_agent_rows: list[dict[str, object]] = field(default_factory=list)
    # the --by agent rows of forgotten agent-days: (shop, agent, day) -> figures
    agent_rows: dict[tuple[str, str, int], DailyFigures] = field(default_factory=dict)

    def expire(self, engine: Engine) -> list[WaitBreached]:
        """Move the watermark to the retention horizon: breach waits left open that long.

        This drops their deadline entries (otherwise the deadline heap would hold every wait
        of the log until the end); the breaches are returned for the listeners, which must
        hear of them before :meth:`evict` forgets the conversations.
        """
        part = engine.partition(0)
        return engine.advance(0, part.max_event_ms - self.retention_ms, kpis=True)

    def evict(self, engine: Engine) -> None:
        """Evict idle conversations and old days of partition 0, keeping the old days' rows."""
        book = engine.partition(0).book
        before = dict(book.totals)
        orders = engine.partition(0).orders
        orders_before = dict(orders.totals)
        kpis = engine.partition(0).kpi
        kpi_before, agents_before = dict(kpis.book.totals), dict(kpis.agents.days)
        self.evicted += len(engine.evict(0, self.retention_ms))
        for okey in orders_before.keys() - orders.totals.keys():
            if orders_before[okey].active and okey not in self.conversions:
                shop_day = orders_before.get((okey[0], None, okey[2]))  # lost inquiries
                self.conversions[okey] = orders_before[okey].figures(
                    *okey, shop_day.payers if shop_day is not None else None)
        self._set_aside_kpis(kpis, kpi_before, agents_before)
        for key in before.keys() - book.totals.keys():
            if key in self.rows:
                self.late_days += 1
                continue
            totals = before[key]
            if totals.vector[WAITS]:
                self.rows[key] = totals.figures(*key)

    def _set_aside_kpis(self, kpis: Any, kpi_before: dict[Any, Any],
                        agents_before: dict[Any, Any]) -> None:
        from stream.core.kpi_figures import KpiBook
        from stream.report.kpi_report import agent_rows, shop_rows

        gone = KpiBook()
        gone.totals = {k: v for k, v in kpi_before.items() if k not in kpis.book.totals}
        self.kpi_rows.extend(r.as_dict() for r in shop_rows(gone))
        agents = [(k, v) for k, v in agents_before.items() if k not in kpis.agents.days]
        known = KpiBook()
        known.totals = kpi_before
        self.kpi_agent_rows.extend(agent_rows(known, agents))
        for key, rec in agents:
            if rec.waits and key not in self.agent_rows:
                self.agent_rows[key] = rec.figures(key[0], key[2])

    def merged(self, rows: list[DailyFigures]) -> list[DailyFigures]:
        """The engine's rows plus the retired ones (a retired row wins), sorted."""
        if not self.rows:
            return rows
        retired_days = {(r.shop_id, r.day) for r in self.rows.values()}
        out = [r for r in rows if (r.shop_id, r.day) not in retired_days]
        out.extend(self.rows.values())
        out.sort(key=lambda r: (r.shop_id, r.day))
        return out


def run_backfill(records: Iterable[Record], settings: Settings,
                 errors: IO[str] | None = None, *, engine: Engine | None = None,
                 listeners: Sequence[Listener] = (),
                 metrics: MetricsHistory | None = None,
                 retention_hours: float | None = None) -> BackfillResult:
    """Apply every valid record in order, report bad lines to ``errors``, then finish.

    ``listeners`` (e.g. a :class:`~stream.report.tally.Tally`) are told every applied event,
    its outcomes (content findings included when the ``engine`` has a content guard) and
    every breach. ``metrics`` (also a listener) steps event time: at each step the watermark
    moves there (as the live sweeper does; the figures do not depend on it) and a sample is
    taken. Without any of these the plain loop runs. Listeners that read the engine must be
    built on the ``engine`` passed here.

    ``retention_hours`` bounds memory on very long logs the way the live worker does: every
    ``EVICT_EVERY`` lines, conversations idle that long (no open wait) are forgotten and the
    rows of business days that old are set aside. The figures are unchanged unless the log
    holds events stamped more than the retention before its latest time (see
    :class:`Retired`); without it (the default) nothing is forgotten.
    """
    engine = engine or Engine(settings.policies)
    summary = Summary()
    retired = Retired(int(retention_hours * 3_600_000)) if retention_hours else None
    chunks = _chunks(records, retired)
    plain = not listeners and metrics is None
    observed = None if plain else _Observed(engine, summary, errors, list(listeners), metrics,
                                            int(settings.clock_skew_seconds * 1000))
    for chunk in chunks:
        if observed is None:
            _plain(engine, chunk, summary, errors)
        else:
            observed.feed(chunk)
        if retired is not None:
            breaches = retired.expire(engine)
            if breaches and observed is not None:
                observed.tell(breaches)
            retired.evict(engine)
    if observed is not None:
        observed.finish()
    else:
        engine.finish(kpis=True)
    tally = next((x for x in listeners if isinstance(x, Tally)), None)
    return BackfillResult(engine, summary, tally, tuple(listeners), retired)


EVICT_EVERY = 200_000  # lines between evictions with --retention-hours


def _chunks(records: Iterable[Record], retired: Retired | None) -> Iterator[Iterable[Record]]:
    """All records at once, or slices of ``EVICT_EVERY`` with eviction in between.

    Slicing keeps the per-line loop free of any eviction check.
    """
    if retired is None:
        yield records
        return
    it = iter(records)
    while True:
        first = next(it, None)
        if first is None:
            return
        # Lazy slices: a materialised chunk of lines would itself cost memory.
        yield itertools.chain((first,), itertools.islice(it, EVICT_EVERY - 1))


def _plain(engine: Engine, records: Iterable[Record], summary: Summary,
           errors: IO[str] | None) -> None:
    apply = engine.apply
    for record in records:
        event = record.event
        if isinstance(event, Invalid):
            summary.add(record)
            if errors is not None:
                errors.write(bad_line_message(record) + "\n")
            continue
        summary.read += 1
        summary.valid += 1
        apply(event)


class _Observed:
    """The loop with listeners and event-time steps for OpenMetrics."""

    def __init__(self, engine: Engine, summary: Summary, errors: IO[str] | None,
                 listeners: list[Listener], metrics: MetricsHistory | None,
                 skew_ms: int = 0) -> None:
        self.engine = engine
        # The live sweeper's watermark at wall time t is t - skew; so is the history's at a
        # step, so that the history declares a breach no earlier than the worker would.
        self.skew_ms = skew_ms
        self.summary = summary
        self.errors = errors
        self.metrics = metrics
        self.everyone: list[Listener] = listeners + ([metrics] if metrics is not None else [])

    def _pending(self) -> bool:
        """Whether a wait (base or KPI) still has a deadline to come."""
        engine = self.engine
        return engine.next_deadline(0) is not None or engine.next_kpi_deadline(0) is not None

    def tell(self, breaches: list[WaitBreached]) -> None:
        """Pass breaches declared by the watermark on to every listener."""
        for listener in self.everyone:
            listener.on_breaches(breaches)

    def _breaches_at(self, watermark_ms: int | None) -> None:
        engine = self.engine
        found = (engine.advance(0, watermark_ms, kpis=True) if watermark_ms is not None
                 else engine.finish(kpis=True))
        if found:
            self.tell(found)

    def _step_to(self, ts_ms: int) -> None:
        metrics = self.metrics
        assert metrics is not None
        if metrics.next_ms is None:
            metrics.next_ms = (ts_ms // metrics.step_ms + 1) * metrics.step_ms
        while ts_ms >= metrics.next_ms:
            if ts_ms - metrics.next_ms > IDLE_GAP_MS and not self._pending():
                metrics.next_ms = (ts_ms // metrics.step_ms) * metrics.step_ms
            self._breaches_at(metrics.next_ms - self.skew_ms)
            metrics.sample(metrics.next_ms)
            metrics.next_ms += metrics.step_ms

    def feed(self, records: Iterable[Record]) -> None:
        """Apply records, telling the listeners what happened."""
        engine, summary, errors, metrics = self.engine, self.summary, self.errors, self.metrics
        everyone = self.everyone
        apply = engine.apply
        for record in records:
            event = record.event
            if isinstance(event, Invalid):
                summary.add(record)
                if errors is not None:
                    errors.write(bad_line_message(record) + "\n")
                for listener in everyone:
                    listener.on_skipped("invalid")
                continue
            summary.read += 1
            summary.valid += 1
            if metrics is not None and (metrics.next_ms is None
                                        or event.ts_ms >= metrics.next_ms):
                self._step_to(event.ts_ms)
            applied = apply(event)
            if applied.duplicate:
                for listener in everyone:
                    listener.on_skipped("duplicate")
                continue
            for listener in everyone:
                listener.on_event(event, applied)

    def finish(self) -> None:
        """End of input: run event time past every deadline (OpenMetrics), then finish."""
        metrics = self.metrics
        if metrics is not None and metrics.next_ms is not None:
            # Let event time run on until every open wait has met its deadline, as the live
            # sweeper would, so the history ends with the final figures.
            while self._pending():
                self._step_to(metrics.next_ms)
            self._step_to(metrics.next_ms)
        self._breaches_at(None)


class RecordWriter:
    """A listener writing the live worker's output records (``stream/records.py``) to files.

    ``breaches`` gets one ``chat.breaches`` record per breached wait, ``violations`` one
    ``chat.violations`` record per flagged message, in the order the engine declared them.
    """

    def __init__(self, engine: Engine, breaches: IO[bytes] | None,
                 violations: IO[bytes] | None) -> None:
        self.engine = engine
        self.breaches = breaches
        self.violations = violations

    def _tz(self, conversation_id: str) -> Any:
        conv = self.engine.conversations[conversation_id]
        return self.engine.policies.resolve(conv.platform, conv.shop_id)[1]

    def on_event(self, event: ChatEvent, applied: Applied) -> None:
        """Write the records that follow from one event."""
        for outcome in applied.outcomes:
            if isinstance(outcome, WaitBreached | KpiBreached):
                self.on_breaches((outcome,))
            elif isinstance(outcome, ContentFlagged) and self.violations is not None:
                self._write(self.violations,
                            encode_violation(outcome, self._tz(outcome.conversation_id)))

    def on_breaches(self, breaches: Iterable[WaitBreached]) -> None:
        """Write one record per breached wait."""
        if self.breaches is None:
            return
        policies = self.engine.policies
        for breach in breaches:
            if isinstance(breach, KpiBreached) and breach.mirror:
                continue  # the base wait's record stands for it
            conv = self.engine.conversations[breach.conversation_id]
            self._write(self.breaches, encode_breach(
                breach, self._tz(breach.conversation_id),
                policies.kpis(conv.platform, conv.shop_id).base_name))

    def _write(self, out: IO[bytes], raw: bytes) -> None:
        out.write(raw + b"\n")

    def on_skipped(self, outcome: str) -> None:
        """Nothing to write for a skipped line."""


def write_report(rows: Iterable[DailyFigures | dict[str, Any]], out: IO[bytes]) -> int:
    """Write report rows (figures or ready JSON objects) as JSON lines; returns how many."""
    encoder = msgspec.json.Encoder()
    n = 0
    for row in rows:
        out.write(encoder.encode(row if isinstance(row, dict) else row.as_dict()) + b"\n")
        n += 1
    return n


# --- command line -----------------------------------------------------------------------------


def _with_progress(readers: Sequence[LogReader], strict: bool, bar: Any) -> Iterator[Record]:
    """Yield the readers' records, moving the bar by bytes read (for the ETA) every 8192."""
    done = 0
    n = 0
    for reader in readers:
        records: Iterable[Record] = strict_records(reader) if strict else reader
        for record in records:
            yield record
            n += 1
            if n & 8191 == 0:
                bar.update(done + reader.bytes_read - bar.n)
                rate = n / max(bar.format_dict["elapsed"], 1e-9)
                bar.set_postfix_str(f"{n:,} events, {rate:,.0f} events/s", refresh=False)
        done += reader.bytes_read
    bar.update(done - bar.n)
    bar.set_postfix_str(f"{n:,} events", refresh=True)


@click.command("backfill")
@click.option("--input", "inputs", multiple=True, required=True, metavar="LOG",
              help="Log file (JSONL or CSV, optionally .gz); '-' for stdin. Repeatable.")
@click.option("--report", "report_path", default="-", show_default=True, metavar="DAILY.jsonl",
              help="Where to write the daily figures ('-' for stdout); .csv writes CSV, "
                   ".xlsx Excel, anything else JSON lines (as every output of rows).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@import_options
@click.option("--strict", is_flag=True, help="Stop at the first invalid line.")
@click.option("--by", "by", type=click.Choice(["shop", "agent"]), default="shop",
              show_default=True, help="Rows per shop-day, or per shop, agent and day.")
@click.option("--violations", is_flag=True,
              help="Scan agent and bot messages; add violations_critical/_warning/_info.")
@click.option("--openmetrics", "openmetrics_path", metavar="OUT",
              help="Write the metrics history as timestamped OpenMetrics (for promtool).")
@click.option("--step", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds of event time between OpenMetrics samples.")
@click.option("--metrics-label", "metric_labels", multiple=True, metavar="NAME=VALUE",
              help="Extra label on every OpenMetrics series, e.g. job=chatwatch. Repeatable.")
@click.option("--breach-records", "breaches_path", metavar="OUT.jsonl",
              help="Write the chat.breaches records (one per breached wait) to OUT.")
@click.option("--violation-records", "violations_path", metavar="OUT.jsonl",
              help="Write the chat.violations records (one per flagged message) to OUT.")
@click.option("--kpi-report", "kpi_path", metavar="KPI.jsonl",
              help="Write every platform KPI per shop, day and KPI (with --by agent: per "
                   "agent, plus slow_replies, answer_ratio, max_concurrent).")
@click.option("--summary-html", "html_path", metavar="OUT.html",
              help="Write a self-contained HTML summary per shop.")
@click.option("--unpaid", "unpaid_path", metavar="OUT.jsonl",
              help="Write every order that became awaiting payment (催付) with its status at "
                   "the end of the log.")
@click.option("--lost-inquiries", "lost_path", metavar="OUT.jsonl",
              help="Write every agent-day's inquiries that did not convert (询单流失).")
@click.option("--retention-hours", type=click.FloatRange(min=1), default=None,
              help="Bound memory on very long logs: forget conversations idle this long "
                   "(as the worker's state_retention_hours). Default: keep everything.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes to split the conversations over (the output is the same).")
@click.pass_obj
def backfill_command(ctx: object, inputs: tuple[str, ...], report_path: str, fmt: str,
                     columns: tuple[str, ...], maps: tuple[str, ...],
                     timezone_name: str | None, ts_unit: str, rejects_path: str | None,
                     max_bad_share: float, strict: bool, by: str, violations: bool,
                     openmetrics_path: str | None, step: float, metric_labels: tuple[str, ...],
                     breaches_path: str | None, violations_path: str | None,
                     kpi_path: str | None, html_path: str | None,
                     retention_hours: float | None, progress: bool | None, jobs: int,
                     unpaid_path: str | None = None, lost_path: str | None = None) -> None:
    """Recompute daily figures from historical logs (same core as the live worker)."""
    settings: Settings = ctx.settings  # type: ignore[attr-defined]
    spec = build_spec(columns, maps, timezone_name, ts_unit, settings.policies,
                      settings.known_platforms)
    csv_columns = dict(spec.columns)
    labels = _parse_labels(metric_labels)
    for option, path in (("--report", report_path), ("--openmetrics", openmetrics_path),
                         ("--breach-records", breaches_path),
                         ("--violation-records", violations_path), ("--kpi-report", kpi_path),
                         ("--summary-html", html_path), ("--rejects", rejects_path),
                         ("--unpaid", unpaid_path), ("--lost-inquiries", lost_path)):
        check_output(path, option)
    _check_lead_lists(unpaid_path, lost_path, jobs, retention_hours)
    if jobs > 1:
        from stream.jobs import check_options

        check_options(jobs, inputs, openmetrics=bool(openmetrics_path),
                      retention=retention_hours is not None, strict=strict)
        progress = False  # each process reads every input: one bar would not tell much
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        clock = LogClock(settings.time_bounds)  # one log, however many files
        readers = [LogReader(p, fmt=fmt, csv_columns=csv_columns,
                             default_platform=settings.default_platform, clock=clock, spec=spec)
                   for p in inputs]
        sizes = [os.path.getsize(p) if p != "-" and os.path.exists(p) else None for p in inputs]
        total = None if None in sizes else sum(s or 0 for s in sizes)
        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                   desc="backfill", dynamic_ncols=True)
        records: Iterable[Record] = _with_progress(readers, strict, bar)
    else:
        records = read_events(list(inputs), fmt=fmt, csv_columns=csv_columns,
                              default_platform=settings.default_platform, strict=strict,
                              bounds=settings.time_bounds, spec=spec)

    by_agent = by == "agent"
    # The content guard costs time; it runs when something reads its findings.
    content = bool(violations or openmetrics_path or violations_path)
    engine = Engine(settings.policies, settings.content.guard() if content else None)
    tally = (Tally(engine, by_agent=by_agent, violations=violations, hours=html_path is not None)
             if by_agent or violations or html_path else None)
    listeners: list[Listener] = [tally] if tally else []
    history = None
    if openmetrics_path:
        from stream.report.openmetrics import MetricsHistory

        history = MetricsHistory(engine, step, labels)
    with contextlib.ExitStack() as files:
        rejects = Rejects(files.enter_context(open(rejects_path, "w", encoding="utf-8"))
                          if rejects_path else None)
        errors: Any = rejects
        breaches_out = (files.enter_context(open_output(breaches_path)) if breaches_path
                        else None)
        violations_out = (files.enter_context(open_output(violations_path))
                          if violations_path else None)
        if jobs > 1:
            from stream.jobs import JobOptions, run_jobs

            opts = JobOptions(inputs, fmt, csv_columns, content, by_agent, violations,
                              html_path is not None, breaches_out is not None,
                              violations_out is not None, "", spec)
            result = run_jobs(settings, opts, jobs, errors=errors, breaches_out=breaches_out,
                              violations_out=violations_out, tally=tally)
            engine = result.engine
        else:
            if breaches_out is not None or violations_out is not None:
                listeners.append(RecordWriter(engine, breaches_out, violations_out))
            try:
                result = run_backfill(records, settings, errors=errors, engine=engine,
                                      listeners=listeners, metrics=history,
                                      retention_hours=retention_hours)
            finally:
                if bar is not None:
                    bar.close()
    shop_rows = result.report()
    rows = result.report_rows(tally, by_agent=by_agent, violations=violations,
                              shop_rows=shop_rows)
    if report_path == "-":
        n = write_report(rows, sys.stdout.buffer)
        sys.stdout.flush()
    else:
        with open_output(report_path) as out:
            n = write_report(rows, out)
    for note in dict.fromkeys(spec.notes):
        click.echo(f"backfill: {note}", err=True)
    click.echo(result.summary.render(rejects, "backfill", rejects_path), err=True)
    click.echo(f"{engine.duplicates:,} duplicate events dropped, {engine.out_of_order:,} "
               f"out-of-order events applied at their conversation's latest time", err=True)
    if (capped := engine.capped.warning()) is not None:
        click.echo(capped, err=True)
    if result.retired is not None and result.retired.late_days:
        click.echo(f"warning: {result.retired.late_days} shop-day(s) got events more than "
                   f"{retention_hours:g} h behind the log's latest time after their figures were "
                   f"set aside; those events are missing from them: raise --retention-hours",
                   err=True)
    click.echo(f"{n} {'agent' if by_agent else 'shop'}-day rows written to {report_path}",
               err=True)
    if history is not None and openmetrics_path:
        with open(openmetrics_path, "w", encoding="utf-8") as om:
            history.write(om)
        history.close()
        click.echo(f"{history.samples:,} OpenMetrics samples written to {openmetrics_path}",
                   err=True)
    if kpi_path:
        from stream.report.kpi_report import kpi_rows

        with open_output(kpi_path) as kpi_out:
            retired = result.retired
            aside = (() if retired is None
                     else retired.kpi_agent_rows if by_agent else retired.kpi_rows)
            k = write_report(kpi_rows(engine, by_agent=by_agent, retired=aside), kpi_out)
        click.echo(f"{k} KPI rows written to {kpi_path}", err=True)
    _write_lead_lists(engine, unpaid_path, lost_path)
    if html_path and tally is not None:
        from stream.report.summary_html import render_summary

        with open(html_path, "w", encoding="utf-8") as page:
            page.write(render_summary(shop_rows, tally, settings.policies,
                                      result.conversion(), result.conversion(agents=True)))
        click.echo(f"summary written to {html_path}", err=True)
    summary = result.summary
    problem = failure(summary.read, summary.valid, summary.invalid, max_bad_share)
    if problem is not None:
        click.echo(f"backfill: failed: {problem}", err=True)
        sys.exit(1)


def _check_lead_lists(unpaid_path: str | None, lost_path: str | None, jobs: int,
                      retention_hours: float | None) -> None:
    """The lists read the conversations: one process, nothing forgotten."""
    for option, path in (("--unpaid", unpaid_path), ("--lost-inquiries", lost_path)):
        if path and jobs > 1:
            raise click.UsageError(f"{option} cannot be combined with --jobs {jobs}: the list "
                                   f"is read from every conversation; run it with --jobs 1")
        if path and retention_hours is not None:
            raise click.UsageError(f"{option} cannot be combined with --retention-hours: "
                                   f"conversations forgotten on the way would be missing from "
                                   f"the list")


def _write_lead_lists(engine: Engine, unpaid_path: str | None, lost_path: str | None) -> None:
    """``--unpaid`` and ``--lost-inquiries`` (stream/report/lead.py)."""
    from stream.report.lead import lost_rows, unpaid_rows

    for path, rows, what in ((unpaid_path, unpaid_rows, "orders awaiting payment"),
                             (lost_path, lost_rows, "lost inquiries")):
        if path:
            with open_output(path) as out:
                n = write_report(rows(engine), out)
            click.echo(f"{n} {what} written to {path}", err=True)


def _parse_labels(pairs: Iterable[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier() or name.startswith("__"):
            raise click.BadParameter(f"{pair!r}: write NAME=VALUE with a Prometheus label name, "
                                     f"e.g. job=chatwatch", param_hint="--metrics-label")
        labels[name] = value
    return labels
