"""Backtest of the end-of-day forecast (issue 31; DOMAIN.md §3, "Platform score").

    python -m bench.score_forecast --input month.jsonl.gz [--hours 12,15,20] [--json OUT]

The log is replayed through one engine in time order, as a caught-up worker sees it. At each
checkpoint (local 12:00, 15:00 and 20:00 of every shop's day, in the shop's time zone) the
watermark is moved there, which declares the breaches a live worker's sweeper would have
declared by then, and ``Engine.forecasts(shop, now)`` is asked for each KPI; the engine then
goes on, so the forecast's history is the earlier days of the same log. When the log is
complete, each day's final rate is read from ``Engine.scores`` (the day's units and units
breached). Days the log does not cover to their end, days with no earlier day to learn from
(the forecast's history is empty) and days without units are left out.

For each checkpoint and KPI it reports the mean absolute error, in percentage points, of the
forecast rate against the day's final rate, next to three other rules judged on the same days
and the same expected units: today's rate so far (the forecast if the day's breach share so far
holds), the history days' breach share of the hours still to come, and today's share scaled by
the history's (:func:`other_rules`); and the mean absolute percentage error of the expected
units. The configuration is the worker's (``CHATWATCH_CONFIG``: shops' time zones, KPIs).
``docs/score.md`` has the numbers of a simulated month and what they say.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from stream.config import Settings, load_settings
from stream.core.engine import Engine
from stream.core.score import FORECAST_DAYS, HOURS
from stream.inputs import LogReader, Record
from stream.schema import Invalid

CHECKPOINTS = (12, 15, 20)


@dataclass(frozen=True, slots=True)
class Sample:
    """One forecast of one shop-day's KPI at one checkpoint, and what the day became.

    ``history_rate``/``scaled_rate``: two other rules on the same expected units (see
    :func:`other_rules`).
    """

    shop_id: str
    day: str
    kpi: str
    hour: int
    history_days: int
    forecast_rate: float | None
    forecast_units: float
    so_far_rate: float | None  # today's rate at the checkpoint
    history_rate: float | None
    scaled_rate: float | None
    final_rate: float | None
    final_units: int


@dataclass(frozen=True, slots=True)
class Error:
    """The mean absolute errors of one checkpoint and KPI over its days (percentage points).

    Each rule is judged on the same days: those where the forecast had history and a rate,
    and the day had a final rate; a rule without a rate on a day is given the forecast's.
    """

    hour: int
    kpi: str
    days: int
    forecast_pp: float  # the forecast (last hour's breach share holds)
    so_far_pp: float  # today's rate so far
    history_pp: float  # the earlier days' breach share of the hours still to come
    scaled_pp: float  # today's share so far, scaled by the earlier days' later/earlier shares
    units_pct: float  # expected units vs final units, % of the final units
    worst_pp: float  # the forecast's largest absolute error


def _rate(units: int, breached: int) -> float | None:
    return (units - breached) / units if units else None


def _at(day: date, hour: int, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, time(hour), tz).timestamp() * 1000)


def history_days(today: int, known: Iterable[int]) -> list[int]:
    """The days the forecast reads (``stream.core.score.forecast``'s choice).

    The last 7 same weekdays when two are known, else the last 7 days.
    """
    earlier = sorted((d for d in known if d < today), reverse=True)
    same = [d for d in earlier if (today - d) % 7 == 0]
    return same[:FORECAST_DAYS] if len(same) >= 2 else earlier[:FORECAST_DAYS]


def other_rules(units: int, breached: int, expected: float, hour: int,
                history: Iterable[Sequence[int]]) -> tuple[float | None, float | None]:
    """Two other ways to project the day's rate on the same ``expected`` units.

    ``history``: the earlier days' 48 hourly counts (units, then breaches, by start hour).
    *history*: the units still to come breach at the earlier days' breach share of the hours
    from ``hour`` on. *scaled*: at today's breach share so far, times the earlier days'
    share from ``hour`` on over their share before it (a day whose evenings are worse than
    its mornings). Either is None without the units to read its share from.
    """
    later_u = later_b = early_u = early_b = 0
    for hours in history:
        later_u += sum(hours[hour:HOURS])
        later_b += sum(hours[HOURS + hour:])
        early_u += sum(hours[:hour])
        early_b += sum(hours[HOURS:HOURS + hour])
    rest = max(expected - units, 0.0)

    def projected(share: float) -> float | None:
        total = max(expected, units)
        return max(0.0, (total - breached - rest * min(share, 1.0)) / total) if total else None

    history_rate = projected(later_b / later_u) if later_u else None
    scaled_rate = None
    if units and early_u and early_b and later_u:
        scaled_rate = projected(breached / units * (later_b / later_u) / (early_b / early_u))
    elif units and later_u:
        scaled_rate = projected(breached / units)
    return history_rate, scaled_rate


def backtest(records: Iterable[Record], settings: Settings,
             hours: Sequence[int] = CHECKPOINTS) -> list[Sample]:
    """Every checkpoint's forecast of every shop-day and KPI, with the day's final figures.

    A shop's KPIs are those of its platform: the one most of its events name (a log's
    conversations that name none are on the default platform, and a shop's few of them on
    another platform's KPIs are left out).
    """
    engine = Engine(settings.policies)
    zones: dict[str, ZoneInfo] = {}
    platforms: dict[str, Counter[str]] = {}  # shop -> its events' platforms
    next_day: dict[str, date] = {}  # the first local day whose checkpoints are not queued
    queue: list[tuple[int, str, int, str]] = []  # (ms, shop, hour, day)
    taken: list[tuple[str, str, int, dict[str, tuple[Any, Any, Any]]]] = []
    last_ms = 0

    def queue_up_to(now_ms: int) -> None:
        for shop, tz in zones.items():
            today = datetime.fromtimestamp(now_ms / 1000, tz).date()
            while next_day[shop] <= today:
                day = next_day[shop]
                for hour in hours:
                    heapq.heappush(queue, (_at(day, hour, tz), shop, hour, day.isoformat()))
                next_day[shop] = day + timedelta(days=1)

    def take(until_ms: int) -> None:
        while queue and queue[0][0] <= until_ms:
            at, shop, hour, day = heapq.heappop(queue)
            engine.advance(0, at, kpis=True)  # the sweeper's breaches up to then
            ordinal = date.fromisoformat(day).toordinal()
            kept = engine.partitions[0].kpi.score.hours
            seen: dict[str, tuple[Any, Any, Any]] = {}
            platform = platforms[shop].most_common(1)[0][0]
            scores = {s.kpi: s for s in engine.scores(shop, ordinal, [0], platform)}
            for f in engine.forecasts(shop, at, [0], platform):
                known = [d for (s, d), by_kpi in kept.items() if s == shop and f.kpi in by_kpi]
                past = [kept[(shop, d)][f.kpi] for d in history_days(ordinal, known)]
                now = scores[f.kpi]
                seen[f.kpi] = (f, now, other_rules(now.units, now.breached, f.units, hour, past))
            taken.append((shop, day, hour, seen))

    hour_mark = -1
    for record in records:
        event = record.event
        if isinstance(event, Invalid):
            continue
        ts = event.ts_ms
        if ts // 3_600_000 != hour_mark:  # checkpoints move by the hour at most
            hour_mark = ts // 3_600_000
            queue_up_to(ts)
        take(ts - 1)
        engine.apply(event)
        last_ms = max(last_ms, ts)
        platforms.setdefault(event.shop_id, Counter())[event.platform] += 1
        if event.shop_id not in zones:
            tz = engine.policies.resolve(event.platform, event.shop_id)[1]
            zones[event.shop_id] = tz
            next_day[event.shop_id] = datetime.fromtimestamp(ts / 1000, tz).date()
            queue_up_to(ts)
    take(last_ms)  # checkpoints up to the last event; later ones are past the log
    engine.finish(kpis=True)

    out = []
    for shop, day, hour, seen in taken:
        end = _at(date.fromisoformat(day) + timedelta(days=1), 0, zones[shop])
        if end > last_ms:
            continue  # the log ends before the day does: no final rate
        ordinal = date.fromisoformat(day).toordinal()
        platform = platforms[shop].most_common(1)[0][0]
        finals = {s.kpi: s for s in engine.scores(shop, ordinal, [0], platform)}
        for kpi, (f, now, (history_rate, scaled_rate)) in seen.items():
            final = finals[kpi]
            out.append(Sample(shop, day, kpi, hour, f.history_days, f.rate, f.units,
                              _rate(now.units, now.breached), history_rate, scaled_rate,
                              _rate(final.units, final.breached), final.units))
    return out


def errors(samples: Iterable[Sample]) -> list[Error]:
    """Mean absolute errors per checkpoint and KPI over the days a forecast can be judged.

    A day counts when the forecast had history (``history_days`` > 0) and both the forecast
    and the final rate exist.
    """
    groups: dict[tuple[int, str], list[tuple[Sample, float, float]]] = {}
    for s in samples:
        if s.history_days and s.forecast_rate is not None and s.final_rate is not None:
            groups.setdefault((s.hour, s.kpi), []).append((s, s.forecast_rate, s.final_rate))
    out = []
    for (hour, kpi), group in sorted(groups.items()):
        n = len(group)

        def mae(rule: str, group: list[tuple[Sample, float, float]] = group) -> float:
            total = 0.0
            for s, forecast, final in group:
                value = getattr(s, rule)
                total += abs((forecast if value is None else value) - final)
            return 100 * total / len(group)

        units = [abs(s.forecast_units - s.final_units) / s.final_units for s, _, _ in group]
        out.append(Error(hour, kpi, n, mae("forecast_rate"), mae("so_far_rate"),
                         mae("history_rate"), mae("scaled_rate"), 100 * sum(units) / n,
                         100 * max(abs(f - final) for _, f, final in group)))
    return out


def table(found: Iterable[Error]) -> str:
    """The errors as the Markdown table docs/score.md shows."""
    lines = ["| checkpoint | KPI | days | forecast (last hour) | rate so far | history share "
             "| scaled | worst forecast error | units MAPE |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {e.hour:02d}:00 | `{e.kpi}` | {e.days} | {e.forecast_pp:.2f} | "
              f"{e.so_far_pp:.2f} | {e.history_pp:.2f} | {e.scaled_pp:.2f} | "
              f"{e.worst_pp:.1f} | {e.units_pct:.1f} % |" for e in found]
    return "\n".join(lines)


def _records(paths: Sequence[str], settings: Settings) -> Iterator[Record]:
    for path in paths:
        yield from LogReader(path, default_platform=settings.policies.default_platform)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the backtest on a log and print the table (``--json``: every sample too)."""
    parser = argparse.ArgumentParser(prog="python -m bench.score_forecast",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", action="append", required=True,
                        help="a log (JSON lines, .gz), in time order; may be repeated")
    parser.add_argument("--hours", default=",".join(map(str, CHECKPOINTS)),
                        help="local checkpoint hours (default 12,15,20)")
    parser.add_argument("--json", help="write every sample and the errors as JSON here")
    args = parser.parse_args(argv)
    settings = load_settings()
    hours = sorted(int(h) for h in args.hours.split(","))
    samples = backtest(_records(args.input, settings), settings, hours)
    found = errors(samples)
    print(table(found))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"errors": [asdict(e) for e in found],
                       "samples": [asdict(s) for s in samples]}, out, ensure_ascii=False)
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
