"""``chatwatch backfill``: the domain core over a log file, no Kafka.

The engine is the one the live worker drives. The log is taken as complete (DOMAIN.md §3
rule 8): at end of input every wait still open is breached. One report row per shop and
business day with counted waits, sorted by shop then day.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import click
import msgspec

from stream.config import Settings
from stream.core.engine import Engine
from stream.core.figures import DailyFigures
from stream.inputs import FORMATS, Record, Summary, bad_line_message, parse_columns, read_events
from stream.schema import Invalid


@dataclass
class BackfillResult:
    """What a backfill computed, plus the input summary."""

    engine: Engine
    summary: Summary

    def report(self) -> list[DailyFigures]:
        """The daily figures, sorted by shop then day."""
        return self.engine.report()


def run_backfill(records: Iterable[Record], settings: Settings,
                 errors: IO[str] | None = None) -> BackfillResult:
    """Apply every valid record in order, report bad lines to ``errors``, then finish."""
    engine = Engine(settings.policies)
    summary = Summary()
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
    engine.finish()
    return BackfillResult(engine, summary)


def write_report(rows: Iterable[DailyFigures], out: IO[bytes]) -> int:
    """Write report rows as JSON lines; returns how many."""
    encoder = msgspec.json.Encoder()
    n = 0
    for row in rows:
        out.write(encoder.encode(row.as_dict()) + b"\n")
        n += 1
    return n


@click.command("backfill")
@click.option("--input", "inputs", multiple=True, required=True, metavar="LOG",
              help="Log file (JSONL or CSV, optionally .gz); '-' for stdin. Repeatable.")
@click.option("--report", "report_path", default="-", show_default=True, metavar="DAILY.jsonl",
              help="Where to write the daily figures ('-' for stdout).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN",
              help="CSV column mapping, e.g. --column ts=time. Repeatable.")
@click.option("--strict", is_flag=True, help="Stop at the first invalid line.")
@click.pass_obj
def backfill_command(ctx: object, inputs: tuple[str, ...], report_path: str, fmt: str,
                     columns: tuple[str, ...], strict: bool) -> None:
    """Recompute daily figures from historical logs (same core as the live worker)."""
    settings: Settings = ctx.settings  # type: ignore[attr-defined]
    records = read_events(list(inputs), fmt=fmt, csv_columns=parse_columns(columns),
                          default_platform=settings.default_platform, strict=strict)
    result = run_backfill(records, settings, errors=sys.stderr)
    rows = result.report()
    if report_path == "-":
        n = write_report(rows, sys.stdout.buffer)
        sys.stdout.flush()
    else:
        with open(report_path, "wb") as out:
            n = write_report(rows, out)
    click.echo(result.summary.render(), err=True)
    click.echo(f"{n} shop-day rows written to {report_path}", err=True)
