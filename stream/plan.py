"""``chatwatch plan``: a sale day's headcount (seed 004) and an hour-by-hour plan, from history.

History is either a log, run through the backfill driver here (``--input``: the report rows,
the ``--by agent`` rows, the hourly profile of wait starts and the agents' busy time per
reply all come from one pass), or saved reports (``--report DAILY.jsonl``, ``--agent-report``
for the ``--by agent`` rows). Every input of the formula is observed from that history unless
given on the command line, and the output says which:

* average order value = Σ ``chat_sales`` ÷ Σ ``paid_buyers`` (DOMAIN.md §7);
* chat share of sales = Σ ``chat_sales`` ÷ (Σ ``chat_sales`` + Σ ``silent_sales``): the shop's
  total sales as far as the history's paid orders go; a log without every order of the shop
  understates the total, so give ``--chat-share`` then;
* inquiry conversion rate = Σ ``paid_buyers`` ÷ Σ ``inquiries``;
* most consultations one agent handles a day = a high percentile (``--percentile``, 90) of
  ``consultations`` over the agent-day rows (``unassigned`` left out);
* return rate = Σ ``refunds`` ÷ Σ ``chat_sales``.

The hour-by-hour plan spreads the day's forecast inquiries over the local hours as the
history's wait starts were spread, and sizes each hour by Erlang C for the shop's KPI
(window and reply-rate target of its policy) with the observed busy time per reply
(``stream/core/staffing.py``). The computation is the core's; this module reads, asks and
prints.

Each hour is sized as contact centres do it (``stream/staffing_plan.py``): a wait's handling
and the waits an agent answers at once (both observed from a log, or ``--handle-seconds``
and ``--concurrency``), agents on duty with their service level, occupancy and average wait,
and the agents to roster after ``--shrinkage`` (default 0.30); ``--shifts SHIFTS.yml``
turns those into agents per shift template (``stream/roster.py``). A history shorter than
``MIN_DAYS`` days, or with hours that saw no wait, is warned about, with what the plan
assumed for it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import click
import msgspec

from stream.config import Settings
from stream.core.engine import Applied, Engine
from stream.core.events import ChatEvent
from stream.core.reply_window import WaitBreached, WaitOpened
from stream.core.staffing import (
    DEFAULT_SHRINKAGE,
    HourPlan,
    Kpi,
    SaleInputs,
    headcount,
    hourly_plan,
    orders_from_sales,
    percentile,
)
from stream.errors import ChatwatchError
from stream.inputs import read_events
from stream.rejects import Rejects
from stream.report.tally import UNASSIGNED, Tally
from stream.roster import Roster
from stream.staffing_plan import (
    SIZING_HEADER,
    SizingOptions,
    describe_kpi,
    load_plan,
    parse_contacts,
    render_load,
    roster_for,
    roster_lines,
    sizing_columns,
    sizing_dict,
    staffing_kpi,
)

ORDER_FIELDS = ("inquiries", "paid_buyers", "chat_sales")  # present when a log has orders
MIN_DAYS = 7  # a shorter history has not seen every weekday (nor enough of each hour): warned


class PlanError(ChatwatchError):
    """The plan lacks an input: the message names the option that supplies it."""


# --- history ----------------------------------------------------------------------------------


class HourProfile:
    """A backfill listener: customer wait starts by shop and local hour, and inquiry buyers.

    Every wait counts here, in counted hours or not (a sale day runs round the clock);
    ``inquiries`` are distinct buyers with a wait per shop and business day (§7's 询单人数).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.hours: dict[str, list[int]] = {}
        self.waits: dict[str, int] = {}
        self.buyers: dict[str, set[tuple[int, str]]] = {}

    def on_event(self, event: ChatEvent, applied: Applied) -> None:
        """Count the waits this event opened."""
        for outcome in applied.outcomes:
            if isinstance(outcome, WaitOpened):
                shop = outcome.shop_id
                conv = self.engine.conversations[outcome.conversation_id]
                tz = self.engine.policies.resolve(conv.platform, shop)[1]
                hours = self.hours.get(shop)
                if hours is None:
                    hours = self.hours[shop] = [0] * 24
                hours[datetime.fromtimestamp(outcome.start_ms / 1000, tz).hour] += 1
                self.waits[shop] = self.waits.get(shop, 0) + 1
                self.buyers.setdefault(shop, set()).add((outcome.day, conv.buyer_id))

    def on_breaches(self, breaches: Iterable[WaitBreached]) -> None:
        """Breaches do not change the profile."""

    def on_skipped(self, outcome: str) -> None:
        """Nothing to count for a skipped line."""


@dataclass
class History:
    """What the plan reads: report rows, agent-day rows, and (from a log) the hourly facts."""

    rows: list[dict[str, Any]]
    agent_rows: list[dict[str, Any]]
    source: str  # "log" or "report"
    platforms: dict[str, str] = field(default_factory=dict)
    hours: dict[str, list[int]] = field(default_factory=dict)
    waits_per_inquiry: dict[str, float] = field(default_factory=dict)
    handle_seconds: dict[str, float] = field(default_factory=dict)  # agents' busy time per reply
    concurrency: dict[str, float] = field(default_factory=dict)  # buyers answered at once

    def shops(self) -> list[str]:
        """Every shop in the history, sorted."""
        return sorted({str(r["shop_id"]) for r in (*self.rows, *self.agent_rows)})


def history_from_log(paths: Sequence[str], settings: Settings) -> History:
    """Backfill the logs once and keep what the plan needs."""
    from stream.backfill import run_backfill

    engine = Engine(settings.policies)
    tally = Tally(engine, by_agent=True)
    profile = HourProfile(engine)
    records = read_events(list(paths), default_platform=settings.default_platform,
                          bounds=settings.time_bounds)
    rejects = Rejects(elsewhere="every one with chatwatch backfill --rejects FILE")
    result = run_backfill(records, settings, errors=rejects, engine=engine,
                          listeners=[tally, profile])
    click.echo(result.summary.render(rejects, "plan"), err=True)  # totals, bad lines by reason
    # exactly the rows `backfill --report` (and `--by agent`) would write, §7 figures included
    rows = result.report_rows(None)
    agent_rows = result.report_rows(tally, by_agent=True)
    history = History(rows, agent_rows, "log", platforms=engine.shops(),
                      hours=profile.hours)
    for shop, waits in profile.waits.items():
        buyers = len(profile.buyers.get(shop, ()))
        if buyers:
            history.waits_per_inquiry[shop] = waits / buyers
    for shop, load in engine.staffing.shops.items():
        handle = load.handle_seconds_total
        if handle:
            history.handle_seconds[shop] = handle
        concurrency = load.concurrency_total
        if concurrency:
            history.concurrency[shop] = concurrency
    return history


def read_rows(path: str) -> list[dict[str, Any]]:
    """The JSON objects of a report file (one per line; blank lines skipped)."""
    decoder = msgspec.json.Decoder()
    rows = []
    try:
        with open(path, "rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = decoder.decode(line)
                except msgspec.DecodeError as exc:
                    raise PlanError(f"{path}:{n}: not a JSON report row ({exc}); pass the "
                                    f"output of `chatwatch backfill --report`") from None
                if not isinstance(row, dict) or "shop_id" not in row:
                    raise PlanError(f"{path}:{n}: a report row is an object with shop_id")
                rows.append(row)
    except OSError as exc:
        raise PlanError(f"cannot read {path}: {exc.strerror}") from None
    return rows


def history_from_reports(report: str | None, agent_report: str | None) -> History:
    """History from saved ``backfill --report`` files (no hourly profile)."""
    rows = read_rows(report) if report else []
    agent_rows = read_rows(agent_report) if agent_report else []
    if agent_rows and any("agent" not in r for r in agent_rows):
        raise PlanError(f"{agent_report}: rows without `agent`: write it with "
                        f"`chatwatch backfill --by agent --report ...`")
    history = History(rows, agent_rows, "report")
    for shop in history.shops():
        mine = [r for r in rows if r["shop_id"] == shop]
        waits = sum(int(r.get("waits") or 0) for r in mine)
        consultations = sum(int(r.get("consultations") or 0) for r in mine)
        if consultations:
            history.waits_per_inquiry[shop] = waits / consultations
        responses = sum(int(r.get("responses") or 0) for r in mine)
        seconds = sum(float(r.get("mean_response_seconds") or 0) * int(r.get("responses") or 0)
                      for r in mine)
        if responses and seconds:
            history.handle_seconds[shop] = seconds / responses
    return history


# --- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """One input of the formula: its value and where it came from."""

    name: str
    value: Decimal | None
    source: str


def _money(value: object) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise PlanError(f"{value!r} is not an amount in yuan") from None


def observed_inputs(history: History, shop: str, q: float) -> dict[str, Input]:
    """The formula's inputs as the history shows them (value None where it cannot)."""
    rows = [r for r in history.rows if r["shop_id"] == shop]
    days = len({r["day"] for r in rows})
    has_orders = any(all(f in r for f in ORDER_FIELDS) for r in rows)
    where = f"{days} day(s) of the {history.source}"
    out: dict[str, Input] = {}
    if has_orders:
        sales = sum((_money(r.get("chat_sales") or 0) for r in rows), Decimal(0))
        paid = sum(int(r.get("paid_buyers") or 0) for r in rows)
        inquiries = sum(int(r.get("inquiries") or 0) for r in rows)
        refunds = sum((_money(r.get("refunds") or 0) for r in rows), Decimal(0))
        out["avg_order_value"] = Input(
            "average order value", (sales / paid).quantize(Decimal("0.01")) if paid else None,
            f"observed: chat_sales ÷ paid_buyers over {where}")
        out["conversion_rate"] = Input(
            "inquiry conversion rate", Decimal(paid) / Decimal(inquiries) if inquiries else None,
            f"observed: paid_buyers ÷ inquiries over {where}")
        out["return_rate"] = Input("return rate", refunds / sales if sales else None,
                                   f"observed: refunds ÷ chat_sales over {where}")
        if any("silent_sales" in r for r in rows):
            silent = sum((_money(r.get("silent_sales") or 0) for r in rows), Decimal(0))
            total = sales + silent
            out["chat_share"] = Input(
                "chat share of sales", sales / total if total else None,
                f"observed: chat_sales ÷ (chat_sales + silent_sales) over {where}; the total "
                f"is the log's paid orders only")
    agent_days = [float(r.get("consultations") or 0) for r in history.agent_rows
                  if r["shop_id"] == shop and r.get("agent") != UNASSIGNED]
    if agent_days:
        value = Decimal(str(round(percentile(agent_days, q), 1)))
        out["max_per_agent"] = Input(
            "consultations per agent-day", value if value > 0 else None,
            f"observed: p{q:g} of {len(agent_days)} agent-days of the {history.source}")
    return out


OVERRIDES = {  # option -> (input key, label)
    "avg_order_value": "average order value",
    "chat_share": "chat share of sales",
    "conversion_rate": "inquiry conversion rate",
    "max_per_agent": "consultations per agent-day",
    "return_rate": "return rate",
}
FLAGS = {"avg_order_value": "--avg-order-value", "chat_share": "--chat-share",
         "conversion_rate": "--conversion-rate", "max_per_agent": "--max-per-agent",
         "return_rate": "--return-rate", "sales": "--sales or --orders"}


@dataclass
class Plan:
    """The whole answer, for the table and for ``--json``."""

    shop_id: str
    day: str
    inputs: dict[str, Input]
    sales: Decimal | None
    orders: Decimal
    presale_exact: Decimal
    presale: int
    aftersale_exact: Decimal
    aftersale: int
    inquiries: Decimal
    kpi: Kpi | None
    handle: Input | None  # one wait's handling (the mean response per agent reply)
    concurrency: Input | None  # waits an agent answers at once
    waits_per_inquiry: float | None
    hours: list[HourPlan]
    notes: list[str]
    shrinkage: Decimal = DEFAULT_SHRINKAGE
    roster: Roster | None = None
    warnings: list[str] = field(default_factory=list)
    max_occupancy: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object: numbers as numbers, money as decimal strings."""
        def num(v: Decimal | None) -> float | None:
            return None if v is None else float(v)
        return {
            "shop_id": self.shop_id, "date": self.day,
            "sales": None if self.sales is None else str(self.sales),
            "orders": num(self.orders),
            "inputs": {k: {"value": (str(i.value) if k == "avg_order_value" else num(i.value)),
                           "source": i.source} for k, i in self.inputs.items()},
            "inquiries": num(self.inquiries),
            "presale_agents": self.presale, "presale_exact": num(self.presale_exact),
            "aftersale_agents": self.aftersale, "aftersale_exact": num(self.aftersale_exact),
            "kpi": None if self.kpi is None else {"name": self.kpi.name,
                                                  "window_seconds": self.kpi.window_seconds,
                                                  "target": self.kpi.target,
                                                  "answered": self.kpi.answered},
            "handle_seconds": None if self.handle is None else {
                "value": num(self.handle.value), "source": self.handle.source},
            "concurrency": None if self.concurrency is None else {
                "value": num(self.concurrency.value), "source": self.concurrency.source},
            "shrinkage": float(self.shrinkage),
            "max_occupancy": None if self.max_occupancy is None else float(self.max_occupancy),
            "waits_per_inquiry": self.waits_per_inquiry,
            "hours": [{"hour": h.hour, "inquiries": round(h.inquiries, 1),
                       "waits": round(h.waits, 1), "agents": h.agents, **sizing_dict(h.sizing)}
                      for h in self.hours],
            "roster": None if self.roster is None else self.roster.as_dict(),
            "warnings": self.warnings,
            "notes": self.notes,
        }


def make_plan(history: History, settings: Settings, *, shop: str | None, day: str,
              sales: Decimal | None, orders: Decimal | None, q: float,
              given: Mapping[str, Decimal | None],
              opts: SizingOptions | None = None) -> Plan:
    """Inputs (given, else observed), seed 004's headcount and the hourly plan for one shop."""
    opts = opts or SizingOptions()
    shops = history.shops()
    if shop is None:
        if len(shops) != 1:
            raise PlanError(f"the history has {len(shops)} shops ({', '.join(shops[:8])}"
                            f"{', ...' if len(shops) > 8 else ''}): pick one with --shop"
                            if shops else "the history has no shop-day rows: nothing to plan "
                            "from (check the log or report)")
        shop = shops[0]
    elif shop not in shops:
        raise PlanError(f"shop {shop!r} is not in the history; it has {', '.join(shops[:8])}")
    observed = observed_inputs(history, shop, q)
    inputs: dict[str, Input] = {}
    missing: list[str] = []
    for key, label in OVERRIDES.items():
        value = given.get(key)
        if value is not None:
            inputs[key] = Input(label, value, f"given: {FLAGS[key]}")
        elif key in observed and observed[key].value is not None:
            inputs[key] = observed[key]
        else:
            inputs[key] = observed.get(key) or Input(label, None, "not in the history")
            missing.append(key)
    notes: list[str] = []
    no_orders = not any(all(f in r for f in ORDER_FIELDS) for r in history.rows
                        if r["shop_id"] == shop)
    if orders is None and sales is None:
        missing.insert(0, "sales")
    needs_aov = orders is None and sales is not None
    if not needs_aov and "avg_order_value" in missing:
        missing.remove("avg_order_value")  # --orders given: the formula does not need it
    if missing:
        why = ("the history has no orders (no `order` events in the log, no §7 fields in the "
               "report), so " if no_orders and any(m in missing for m in (
                   "avg_order_value", "conversion_rate", "return_rate", "chat_share")) else "")
        if "chat_share" in missing and not no_orders:
            why += ("total shop sales are not in the history (no silent_sales), so the chat "
                    "share cannot be observed; ")
        raise PlanError(f"{why}supply " + ", ".join(FLAGS[m] for m in missing))
    if "chat_share" not in given or given["chat_share"] is None:
        notes.append("chat share observed from the log's own orders: if the log does not carry "
                     "every order of the shop, give --chat-share")
    aov = inputs["avg_order_value"].value
    if orders is None:
        assert sales is not None and aov is not None
        orders = orders_from_sales(sales, aov)
    elif sales is None and aov is not None:
        sales = (orders * aov).quantize(Decimal("0.01"))
    result = headcount(SaleInputs(orders, *(_req(inputs[k]) for k in (
        "chat_share", "conversion_rate", "max_per_agent", "return_rate"))))
    unassigned = [r for r in history.agent_rows
                  if r["shop_id"] == shop and r.get("agent") == UNASSIGNED]
    total = sum(int(r.get("consultations") or 0) for r in history.agent_rows
                if r["shop_id"] == shop)
    if unassigned and total and given.get("max_per_agent") is None:
        share = sum(int(r.get("consultations") or 0) for r in unassigned) / total
        if share >= 0.05:
            notes.append(f"{share:.0%} of consultations were waits that no agent held when "
                         f"they opened (DOMAIN.md §3 rule 6: unassigned); they are in no "
                         f"agent's count, so the consultations per agent-day may be low: "
                         f"give --max-per-agent if you know better")
    platform = history.platforms.get(shop, settings.default_platform)
    policy = settings.policies.policy(platform, shop)
    kpi = staffing_kpi(policy.window_seconds, policy.reply_rate_target, opts)
    handle, concurrency = handling(history, shop, opts)
    hours: list[HourPlan] = []
    per_inquiry = history.waits_per_inquiry.get(shop)
    profile = history.hours.get(shop)
    if profile is None:
        notes.append("no hourly plan: it needs the hourly profile of wait starts, which only "
                     "a log has (--input LOG)")
    elif handle is None or handle.value is None or not per_inquiry:
        notes.append("no hourly plan: no agent reply observed, so no handling time: give "
                     "--handle-seconds")
    else:
        hours = hourly_plan(float(result.inquiries), profile, per_inquiry, float(handle.value),
                            kpi, concurrency=float(_req(concurrency)),
                            shrinkage=opts.shrinkage, max_occupancy=opts.max_occupancy)
        if any(h.agents is None for h in hours):
            notes.append(f"some hours cannot meet {kpi.target:.0%} within "
                         f"{kpi.window_seconds:g} s with {handle.value} s of handling, whatever "
                         f"the headcount: shorten the handling (quick replies, a bot)")
    plan = Plan(shop, day, inputs, sales, orders, result.presale_exact, result.presale,
                result.aftersale_exact, result.aftersale, result.inquiries, kpi, handle,
                concurrency, per_inquiry, hours, notes, opts.shrinkage)
    plan.warnings = history_warnings(history, shop, hours)
    plan.max_occupancy = opts.max_occupancy
    if opts.shifts:
        if not hours:
            raise PlanError("--shifts rosters the hourly plan, which this history cannot give "
                            "(see the notes): plan from a log (--input LOG), or size a given "
                            "load with --contacts")
        plan.roster = roster_for([h.sizing for h in hours], opts.shifts)
    return plan


def handling(history: History, shop: str, opts: SizingOptions) -> tuple[Input | None, Input]:
    """One wait's handling and the waits an agent answers at once: given, else observed.

    From a log both are observed and Erlang C's agent time per wait, handling ÷ concurrency,
    is the agents' busy time per reply; a report shows neither the busy time nor the
    concurrency, so its mean response time is the handling and the concurrency is taken as 1.
    """
    observed = history.concurrency.get(shop)
    if opts.concurrency is not None:
        concurrency = Input("concurrency", Decimal(str(opts.concurrency)), "given: --concurrency")
    elif observed:
        concurrency = Input("concurrency", Decimal(str(observed)),
                            "observed: Σ held ÷ Σ busy time of the agents' replies in the log "
                            "(a wait held up to 5 min)")
    else:
        concurrency = Input("concurrency", Decimal(1),
                            "assumed: 1 (the history does not show it); give --concurrency")
    busy = history.handle_seconds.get(shop)
    handle: Input | None = None
    if opts.handle_seconds is not None:
        handle = Input("handling per wait", Decimal(str(opts.handle_seconds)),
                       "given: --handle-seconds")
    elif busy is not None and history.source == "log":
        per_wait = busy * (observed or 1.0)
        handle = Input("handling per wait", Decimal(str(per_wait)),
                       f"observed: mean held time per agent reply in the log (busy time "
                       f"per reply {busy:.1f} s × {observed or 1.0:.2f} at once)")
    elif busy is not None:
        handle = Input("handling per wait", Decimal(str(round(busy, 1))),
                       "observed: mean response time of the report (an upper bound: it "
                       "includes queueing)")
    return handle, concurrency


def _runs(hours: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> ``00:00-03:00, 05:00-06:00``."""
    out: list[str] = []
    for h in hours:
        if out and int(out[-1][-5:-3]) == h:
            out[-1] = f"{out[-1][:-5]}{h + 1:02d}:00"
        else:
            out.append(f"{h:02d}:00-{h + 1:02d}:00")
    return ", ".join(out)


def history_warnings(history: History, shop: str, hours: Sequence[HourPlan]) -> list[str]:
    """What the history is too thin to show, and what the plan assumed instead."""
    out = []
    days = sorted({str(r["day"]) for r in history.rows if r["shop_id"] == shop})
    if len(days) < MIN_DAYS:
        span = f" ({days[0]} to {days[-1]})" if len(days) > 1 else (f" ({days[0]})" if days
                                                                    else "")
        shape = " and the hourly shape" if shop in history.hours else ""
        out.append(f"the history covers {len(days)} day(s){span}, fewer than {MIN_DAYS}: the "
                   f"observed inputs{shape} are those of a short stretch, which may miss "
                   f"weekdays, promotions and quiet days; plan from a longer history or give "
                   f"the inputs you know")
    profile = history.hours.get(shop)
    if profile is not None and hours:
        empty = [h for h, n in enumerate(profile) if n == 0]
        if empty:
            out.append(f"no waits in the history at {_runs(empty)} ({len(empty)} of 24 hours): "
                       f"the plan assumes nobody writes then and puts no agent on duty; if "
                       f"buyers do write then, plan from a history that covers those hours")
    return out


def _req(i: Input) -> Decimal:
    assert i.value is not None, i.name
    return i.value


# --- output -----------------------------------------------------------------------------------


def _fmt(key: str, value: Decimal | None) -> str:
    if value is None:
        return "-"
    if key == "avg_order_value":
        return f"{value:,.2f} yuan"
    if key in ("chat_share", "conversion_rate", "return_rate"):
        return f"{float(value):.1%}"
    return f"{float(value):,.1f}"


def _occupancy(cap: Decimal | None) -> str:
    return "" if cap is None else f" occupancy at most {float(cap):.0%};"


def render(plan: Plan) -> str:
    """The terminal table: inputs and their sources, the two formulas, then the hours."""
    lines = [f"chatwatch plan: shop {plan.shop_id}, {plan.day}"]
    forecast = (f"sales {plan.sales:,.2f} yuan, " if plan.sales is not None else "")
    lines.append(f"forecast: {forecast}{float(plan.orders):,.0f} orders")
    lines.append("")
    width = max(len(i.name) for i in plan.inputs.values())
    lines.append(f"{'input':<{width}}  {'value':>14}  source")
    for key, i in plan.inputs.items():
        lines.append(f"{i.name:<{width}}  {_fmt(key, i.value):>14}  {i.source}")
    if plan.handle is not None:
        lines.append(f"{plan.handle.name:<{width}}  {float(plan.handle.value or 0):>12.1f} s"
                     f"  {plan.handle.source}")
    if plan.concurrency is not None and plan.handle is not None:
        conc = float(plan.concurrency.value or 1)
        lines.append(f"{plan.concurrency.name:<{width}}  {conc:>14.2f}  {plan.concurrency.source}")
        lines.append(f"{'agent time per wait':<{width}}  "
                     f"{float(plan.handle.value or 0) / conc:>12.1f} s  handling ÷ concurrency: "
                     f"Erlang C's handling time")
    v = {k: i.value for k, i in plan.inputs.items()}
    lines.append("")
    lines.append(f"pre-sale agents  = {float(plan.orders):,.0f} orders × {_fmt('chat_share', v['chat_share'])}"
                 f" chat ÷ {_fmt('conversion_rate', v['conversion_rate'])} conversion"
                 f" ÷ {_fmt('max_per_agent', v['max_per_agent'])} per agent-day"
                 f" = {float(plan.presale_exact):,.1f} → {plan.presale:,}")
    lines.append(f"after-sale agents = {float(plan.orders):,.0f} orders × "
                 f"{_fmt('return_rate', v['return_rate'])} returns ÷ "
                 f"{_fmt('max_per_agent', v['max_per_agent'])} per agent-day"
                 f" = {float(plan.aftersale_exact):,.1f} → {plan.aftersale:,}")
    lines.append(f"inquiries expected: {float(plan.inquiries):,.0f}")
    if plan.hours and plan.kpi is not None:
        lines.append("")
        lines.append(f"hour by hour (pre-sale agents on duty by Erlang C for "
                     f"{describe_kpi(plan.kpi)}; {plan.waits_per_inquiry or 0:.2f} waits per "
                     f"inquiry;{_occupancy(plan.max_occupancy)} roster = on duty ÷ "
                     f"(1 − {float(plan.shrinkage):.0%} shrinkage))")
        lines.append(f"{'hour':<6}{'inquiries':>10}{'waits':>10}{SIZING_HEADER}")
        for h in plan.hours:
            lines.append(f"{h.hour:02d}:00 {h.inquiries:>10,.0f}{h.waits:>10,.0f}"
                         f"{sizing_columns(h.sizing)}")
        peak = max((h for h in plan.hours if h.agents is not None),
                   key=lambda h: h.agents or 0, default=None)
        if peak is not None:
            lines.append(f"peak: {peak.agents:,} agents on duty at {peak.hour:02d}:00, "
                         f"{peak.sizing.rostered:,} on the roster")
    if plan.roster is not None:
        lines += roster_lines(plan.roster, plan.shrinkage)
    for warning in plan.warnings:
        lines.append(f"warning: {warning}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


# --- command line -----------------------------------------------------------------------------


def _decimal(name: str) -> Any:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
        if value is None:
            return None
        try:
            number = Decimal(value.replace(",", ""))
        except InvalidOperation:
            raise click.BadParameter(f"{value!r} is not a number", param_hint=name) from None
        if number < 0 or not number.is_finite():
            raise click.BadParameter(f"{value} must be >= 0", param_hint=name)
        return number
    return convert


def _share(name: str) -> Any:
    base = _decimal(name)

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
        number = base(ctx, param, value[:-1] if value and value.endswith("%") else value)
        if number is not None and value and value.endswith("%"):
            number /= 100
        if number is not None and number > 1:
            raise click.BadParameter(f"{value} is a share: write 0.25 or 25%", param_hint=name)
        return number  # type: ignore[no-any-return]
    return convert


@click.command("plan")
@click.option("--input", "inputs", multiple=True, metavar="LOG",
              help="History as a log (JSONL or CSV, .gz too), run through backfill. Repeatable.")
@click.option("--report", "report_path", metavar="DAILY.jsonl",
              help="History as a saved `chatwatch backfill --report` file.")
@click.option("--agent-report", "agent_report_path", metavar="AGENTS.jsonl",
              help="The `backfill --by agent` rows (for consultations per agent-day).")
@click.option("--shop", help="The shop to plan (needed when the history has several).")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD",
              help="The sale day (e.g. 2026-11-11).")
@click.option("--sales", callback=_decimal("--sales"), help="Forecast sales of the day, yuan.")
@click.option("--orders", callback=_decimal("--orders"),
              help="Forecast paid orders (instead of, or besides, --sales).")
@click.option("--avg-order-value", callback=_decimal("--avg-order-value"),
              help="Override the observed average order value (yuan).")
@click.option("--chat-share", callback=_share("--chat-share"),
              help="Override the share of sales through chat (0.6 or 60%).")
@click.option("--conversion-rate", callback=_share("--conversion-rate"),
              help="Override the observed inquiry conversion rate.")
@click.option("--max-per-agent", callback=_decimal("--max-per-agent"),
              help="Override the consultations one agent handles a day.")
@click.option("--return-rate", callback=_share("--return-rate"),
              help="Override the observed return rate (refunded ÷ paid).")
@click.option("--percentile", "q", type=click.FloatRange(0, 100), default=90.0,
              show_default=True, help="Percentile of agent-days taken as the daily maximum.")
@click.option("--handle-seconds", type=click.FloatRange(min=0, min_open=True),
              help="Handling of one wait (contact), seconds; Erlang C gives it ÷ the concurrency. "
                   "Observed from a log when not given.")
@click.option("--concurrency", type=click.FloatRange(min=0, min_open=True),
              help="Waits (chats) one agent answers at once. Observed from a log; 1 otherwise.")
@click.option("--answer-within", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Size for the contact centres' service level, a share of contacts picked up "
                   "within SECONDS (queueing only), instead of the shop's reply window.")
@click.option("--target", callback=_share("--target"),
              help="The service-level target (0.8 or 80%): default the shop's reply-rate "
                   "target, or 80% with --answer-within.")
@click.option("--shrinkage", callback=_share("--shrinkage"), default=str(DEFAULT_SHRINKAGE),
              show_default=True,
              help="Share of rostered time agents are not on duty (breaks, meetings, absence): "
                   "the roster is on duty ÷ (1 − shrinkage).")
@click.option("--max-occupancy", callback=_share("--max-occupancy"),
              help="Add agents until they are busy at most this share of the time (0.85 or "
                   "85%); by default Erlang C's figure stands, however busy.")
@click.option("--shifts", "shifts_path", metavar="SHIFTS.yml",
              help="Shift templates (start, hours, unpaid break): roster the fewest agents "
                   "per shift covering every hour.")
@click.option("--contacts", metavar="N | HOURS=N,...",
              help="Size a given load instead of history: N contacts per interval in every "
                   "hour (of --hours), or per range (8-12=150,12-22=200).")
@click.option("--interval-minutes", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="The interval --contacts counts over.")
@click.option("--hours", "hours_spec", metavar="H1-H2",
              help="The hours a single --contacts number applies to (8-22); default all 24.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON object.")
@click.pass_obj
def plan_command(ctx: Any, inputs: tuple[str, ...], report_path: str | None,
                 agent_report_path: str | None, shop: str | None, day: str | None,
                 sales: Decimal | None, orders: Decimal | None,
                 avg_order_value: Decimal | None, chat_share: Decimal | None,
                 conversion_rate: Decimal | None, max_per_agent: Decimal | None,
                 return_rate: Decimal | None, q: float, handle_seconds: float | None,
                 concurrency: float | None, answer_within: float | None,
                 target: Decimal | None, shrinkage: Decimal,
                 max_occupancy: Decimal | None, shifts_path: str | None,
                 contacts: str | None, interval_minutes: float, hours_spec: str | None,
                 as_json: bool) -> None:
    """Staff a sale day: seed 004's headcount, an hourly Erlang C plan and a shift roster."""
    settings: Settings = ctx.settings
    if shrinkage >= 1:
        raise click.BadParameter(f"{shrinkage}: some agents must be on duty (below 1)",
                                 param_hint="--shrinkage")
    if target is not None and not 0 < target < 1:
        raise click.BadParameter(f"{target}: a target lies strictly between 0 and 1",
                                 param_hint="--target")
    if max_occupancy is not None and max_occupancy <= 0:
        raise click.BadParameter(f"{max_occupancy}: agents must be busy some of the time",
                                 param_hint="--max-occupancy")
    opts = SizingOptions(shrinkage, concurrency, handle_seconds, answer_within,
                         None if target is None else float(target), shifts_path, max_occupancy)
    if contacts is not None:
        if inputs or report_path or agent_report_path:
            raise PlanError("--contacts sizes a given load: leave out --input and --report")
        policy = settings.policies.policy(settings.default_platform, shop or "")
        kpi = staffing_kpi(policy.window_seconds, policy.reply_rate_target, opts)
        load = load_plan(parse_contacts(contacts, hours_spec), interval_minutes, kpi, opts)
        if as_json:
            sys.stdout.buffer.write(msgspec.json.encode(load.as_dict()) + b"\n")
        else:
            click.echo(render_load(load))
        return
    if not inputs and not report_path and not agent_report_path:
        raise PlanError("give the history: --input LOG (a log, run through backfill) or "
                        "--report DAILY.jsonl [--agent-report AGENTS.jsonl]; or size a given "
                        "load with --contacts N --handle-seconds S")
    if inputs and (report_path or agent_report_path):
        raise PlanError("give either --input logs or saved --report files, not both")
    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise click.BadParameter(f"{day!r}: write YYYY-MM-DD", param_hint="--date") from None
    history = (history_from_log(inputs, settings) if inputs
               else history_from_reports(report_path, agent_report_path))
    given = {"avg_order_value": avg_order_value, "chat_share": chat_share,
             "conversion_rate": conversion_rate, "max_per_agent": max_per_agent,
             "return_rate": return_rate}
    plan = make_plan(history, settings, shop=shop, day=day or "the sale day", sales=sales,
                     orders=orders, q=q, given=given, opts=opts)
    if as_json:
        for warning in plan.warnings:  # the table carries them; beside JSON a person sees these
            click.echo(f"warning: {warning}", err=True)
        sys.stdout.buffer.write(msgspec.json.encode(plan.as_dict()) + b"\n")
    else:
        click.echo(render(plan))
