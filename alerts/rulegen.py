"""Prometheus recording and alerting rules for chatwatch, generated from one threshold table.

The committed file ``alerts/rules/chatwatch.yml`` is the output of
``python -m alerts.rulegen --out alerts/rules/chatwatch.yml``; a test fails when the two drift.
Every number an operator may want to change lives in :class:`Thresholds`; end-to-end tests build
rules with short ``for:`` durations from the same code (``build_rules(Thresholds(...))``).

Metric contract (exported by the worker): see ``docs/alerts.md``. Per-shop figures are summed
over workers, so the rules hold with one worker or several sharing the partitions.

The list :func:`alert_rules` is the one table of metric-evaluated alerts. Both ways of alerting
read it: the Prometheus rule file above and the Grafana alert provisioning
(``python -m alerts.rulegen --grafana deploy/grafana/provisioning/alerting``, built by
:mod:`alerts.grafana`), so an alert added to the table appears in both without more code.
``--all`` rewrites every committed output at once.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alerts.runbook import RUNBOOK_PATH, runbook_url

# Notices name the KPI the shop's reply rate is (label ``title`` of chatwatch_reply_rate_info);
# this stands in for it while no worker exports one.
_RATE_TITLE = '{{ or $labels.title "回复率" }}'


@dataclass(frozen=True)
class Thresholds:
    """Every alert threshold and duration, in one place."""

    min_consultations: int = 20          # volume guard for the reply-rate page (DOMAIN §5)
    # 60 s before the 300 s window breaches. Each shop's own threshold comes from its policy
    # (chatwatch_wait_at_risk_seconds); this one applies where a worker does not export it.
    wait_at_risk_seconds: int = 240
    event_lag_seconds: int = 60          # "lagging beyond a minute"
    # SLO burn rate on the share of breached waits. Error budget = 1 - reply_rate_target.
    # The textbook 14.4x factor assumes a 99.9 % objective (budget 0.1 %); with a 70 % target
    # the budget is 30 % and the highest reachable burn rate is 1 / 0.3 = 3.33x (every wait
    # breached), so 14.4x could never fire. The factors below are derived for a one-day budget
    # (the 15 counted hours of a business day):
    #   fast: 2x  -> breach ratio >= 60 %; at this pace the day's budget is gone in 7.5 h and
    #                one hour consumes 2 * 1 h / 15 h = 13 % of it -> page.
    #   slow: 1.2x -> breach ratio >= 36 %; sustained over 6 h it consumes 48 % of the day's
    #                budget and the day ends below target -> warning.
    # Both are reachable for any target below ~83 % (fast) / ~97 % (slow); see alerts/runbook.md.
    burn_fast_factor: float = 2.0
    burn_slow_factor: float = 1.2
    burn_min_waits: int = 20             # volume guard over the long window
    for_reply_rate: str = "5m"
    for_kpi: str = "5m"                  # KpiBelowTarget, as ReplyRateBelowTarget
    for_wait_at_risk: str = "0s"         # the gauge only grows; any delay eats the 60 s margin
    for_down: str = "1m"
    for_lag: str = "2m"
    for_burn_fast: str = "2m"
    for_burn_slow: str = "15m"
    # Erlang C's agents needed (15-minute windows of event time) above the agents active for
    # this long: long enough that one busy quarter-hour does not page, short enough to call
    # people in before the day's KPI is lost.
    for_understaffed: str = "10m"
    # ConversionDrop (DOMAIN.md §7): today's inquiry conversion below this share of its 7-day
    # level, with at least this many inquiries today (a quiet morning says nothing).
    conversion_drop_share: float = 0.7
    conversion_min_inquiries: int = 50
    for_conversion_drop: str = "30m"
    # KpiBudgetLow (DOMAIN.md §3, "Platform score"): today's breach budget of a KPI (how many
    # more of today's units may breach before today's rate falls below target) at or below
    # this many units, in the KPI's counted hours, once its min_volume is reached. A minute's
    # hold rides out one evaluation of sums that move while partitions change hands.
    kpi_budget_low: int = 2
    for_kpi_budget: str = "1m"
    # Where the runbook pages are; each alert links to <runbook_base>/<AlertName>. Empty: the
    # board's pages (<board_url>/runbook, served by the worker and by ``chatwatch board``),
    # or without a board_url the path /runbook, which the pager bridge resolves against its
    # own board_url (alerts/runbook.py).
    runbook_base: str = ""
    # The board's public base URL (``board_url``): each alert then links to it, filtered to
    # the alert's shop. Empty: no link (the pager bridge still adds its own).
    board_url: str = ""

    @property
    def runbook_root(self) -> str:
        """The base every ``runbook_url`` starts with."""
        if self.runbook_base:
            return self.runbook_base
        return (self.board_url.rstrip("/") if self.board_url else "") + RUNBOOK_PATH


@dataclass(frozen=True)
class Alert:
    """One row of the alert table: what Prometheus evaluates, and what Grafana is given.

    ``counted_hours_only`` marks an alert about the reply-window KPI, which only counts waits
    that start inside the counted hours (DOMAIN.md §3 rule 5): Grafana's notification policy
    mutes it outside them. Alerts about the pipeline page at any hour.
    """

    name: str
    expr: str
    duration: str
    labels: dict[str, str]
    annotations: dict[str, str]
    counted_hours_only: bool = False

    @property
    def severity(self) -> str:
        """The ``severity`` label (``page`` or ``warning``)."""
        return self.labels["severity"]

    def rule(self) -> dict[str, Any]:
        """Return the Prometheus alerting rule."""
        return {"alert": self.name, "expr": self.expr, "for": self.duration,
                "labels": dict(self.labels), "annotations": dict(self.annotations)}


def _alert(name: str, expr: str, duration: str, severity: str, summary: str,
           description: str, t: Thresholds, extra: dict[str, str] | None = None,
           *, counted_hours_only: bool = False) -> Alert:
    labels = {"severity": severity, **(extra or {})}
    return Alert(
        name=name,
        expr=expr,
        duration=duration,
        labels=labels,
        annotations={
            "summary": summary,
            "description": description,
            "runbook_url": runbook_url(t.runbook_root, name),
            **({"board_url": t.board_url.rstrip("/") + "/?shop={{ $labels.shop | urlquery }}"}
               if t.board_url else {}),
        },
        counted_hours_only=counted_hours_only,
    )


# PromQL floats are binary: 10 x (1 - 0.9) is 0.9999999999999998, whose floor is 0, where
# the worker (exact decimals, stream/core/score.py) allows 1. The product's error is below
# units x 2^-52 (< 1e-7 up to 10^8 units a day); a target of at most 5 decimals puts a real
# fraction at least 1e-5 below the next integer. An epsilon between the two floors exactly.
_FLOOR_EPSILON = "1e-06"


def _budget(units: str, breached: str) -> str:
    """``max(0, floor(units x (1 - target)) - breached)`` per shop and KPI, in PromQL."""
    return (f"clamp_min(floor({units} * on (shop, kpi) (1 - shop_kpi:chatwatch_kpi_target:max)"
            f" + {_FLOOR_EPSILON}) - on (shop, kpi) {breached}, 0)")


def recording_rules() -> list[dict[str, str]]:
    """Return per-shop aggregates over all workers; alerts and dashboards read these."""
    def rec(record: str, expr: str) -> dict[str, str]:
        return {"record": record, "expr": expr}

    rules = [
        rec("shop:chatwatch_consultations:sum", "sum by (shop) (chatwatch_consultations)"),
        rec("shop:chatwatch_unreplied:sum", "sum by (shop) (chatwatch_unreplied)"),
        # 0/0 -> NaN when a shop has no consultations today: comparisons with NaN are false,
        # so a NaN rate never pages.
        rec("shop:chatwatch_reply_rate:today",
            "(shop:chatwatch_consultations:sum - shop:chatwatch_unreplied:sum)"
            " / shop:chatwatch_consultations:sum"),
        rec("shop:chatwatch_reply_rate_target:max", "max by (shop) (chatwatch_reply_rate_target)"),
        rec("shop:chatwatch_open_waits:sum", "sum by (shop) (chatwatch_open_waits)"),
        rec("shop:chatwatch_oldest_wait_seconds:max", "max by (shop) (chatwatch_oldest_wait_seconds)"),
        # min: while workers roll out a changed threshold, warn at the earlier one.
        rec("shop:chatwatch_wait_at_risk_seconds:min",
            "min by (shop) (chatwatch_wait_at_risk_seconds)"),
        rec("shop:chatwatch_response_seconds:p50_5m",
            "histogram_quantile(0.5, sum by (shop, le) (rate(chatwatch_response_seconds_bucket[5m])))"),
        rec("shop:chatwatch_response_seconds:p90_5m",
            "histogram_quantile(0.9, sum by (shop, le) (rate(chatwatch_response_seconds_bucket[5m])))"),
        rec("shop:chatwatch_violations:rate5m",
            "sum by (shop, category, severity) (rate(chatwatch_violations_total[5m]))"),
        # Platform KPIs, per shop and KPI (DOMAIN.md §3): units summed over workers, the
        # rate from the sums (NaN without units never pages), the KPI's own thresholds.
        rec("shop_kpi:chatwatch_kpi_units:sum", "sum by (shop, kpi) (chatwatch_kpi_units)"),
        rec("shop_kpi:chatwatch_kpi_units_breached:sum",
            "sum by (shop, kpi) (chatwatch_kpi_units_breached)"),
        rec("shop_kpi:chatwatch_kpi_rate:today",
            "(shop_kpi:chatwatch_kpi_units:sum - shop_kpi:chatwatch_kpi_units_breached:sum)"
            " / shop_kpi:chatwatch_kpi_units:sum"),
        rec("shop_kpi:chatwatch_kpi_target:max", "max by (shop, kpi) (chatwatch_kpi_target)"),
        rec("shop_kpi:chatwatch_kpi_min_volume:max",
            "max by (shop, kpi) (chatwatch_kpi_min_volume)"),
        rec("shop_kpi:chatwatch_kpi_oldest_wait_seconds:max",
            "max by (shop, kpi) (chatwatch_kpi_oldest_wait_seconds)"),
        rec("shop_kpi:chatwatch_kpi_wait_at_risk_seconds:min",
            "min by (shop, kpi) (chatwatch_kpi_wait_at_risk_seconds)"),
        rec("shop_kpi:chatwatch_kpi_info:max",
            "max by (shop, kpi, title) (chatwatch_kpi_info)"),
        # The platform's score (DOMAIN.md §3, "Platform score"), from the window's units
        # summed over workers (each exports the days of its own partitions), as the rate.
        rec("shop_kpi:chatwatch_kpi_score_units:sum",
            "sum by (shop, kpi) (chatwatch_kpi_score_units)"),
        rec("shop_kpi:chatwatch_kpi_score_units_breached:sum",
            "sum by (shop, kpi) (chatwatch_kpi_score_units_breached)"),
        rec("shop_kpi:chatwatch_kpi_score:window",
            "(shop_kpi:chatwatch_kpi_score_units:sum"
            " - shop_kpi:chatwatch_kpi_score_units_breached:sum)"
            " / shop_kpi:chatwatch_kpi_score_units:sum"),
        # The breach budgets from the summed units: a worker's own chatwatch_kpi_breach_budget
        # is the budget of its part of the shop only, and parts' budgets do not add up.
        rec("shop_kpi:chatwatch_kpi_breach_budget:today",
            _budget("shop_kpi:chatwatch_kpi_units:sum",
                    "shop_kpi:chatwatch_kpi_units_breached:sum")),
        rec("shop_kpi:chatwatch_kpi_breach_budget:score",
            _budget("shop_kpi:chatwatch_kpi_score_units:sum",
                    "shop_kpi:chatwatch_kpi_score_units_breached:sum")),
        # The gate holds only if it holds on every worker's days; each worker judges the days
        # of its own partitions, so this is what Prometheus can tell, not the shop's gate
        # (docs/alerts.md, "Platform score").
        rec("shop_kpi:chatwatch_kpi_gate_ok:min", "min by (shop, kpi) (chatwatch_kpi_gate_ok)"),
        # 1 while any worker's event time is in the KPI's counted hours: the workers differ
        # only by their lag, and one stuck in the hours pages as EventLagHigh anyway.
        rec("shop_kpi:chatwatch_kpi_counted_now:max",
            "max by (shop, kpi) (chatwatch_kpi_counted_now)"),
        # The KPI a shop's §3 figures are (its name, title and window): ReplyRateBelowTarget
        # and WaitAtRisk carry its labels, and the KPI alerts leave that KPI to them.
        rec("shop:chatwatch_reply_rate_info:max",
            "max by (shop, kpi, title, window) (chatwatch_reply_rate_info)"),
        # Staffing (DOMAIN.md §6). max, not sum: each worker sizes the traffic of its own
        # partitions, and an agent who answers on two workers is active on both.
        rec("shop:chatwatch_agents_needed:max", "max by (shop) (chatwatch_agents_needed)"),
        rec("shop:chatwatch_agents_active:max", "max by (shop) (chatwatch_agents_active)"),
        rec("shop:chatwatch_inquiries:sum", "sum by (shop) (chatwatch_inquiries)"),
        rec("shop:chatwatch_conversions:sum", "sum by (shop) (chatwatch_conversions)"),
        # No sample (not NaN) while a shop has no inquiries today: a NaN would poison the
        # 7-day average below.
        rec("shop:chatwatch_conversion_rate:today",
            "shop:chatwatch_conversions:sum / (shop:chatwatch_inquiries:sum > 0)"),
        # The level today's rate is judged against: its average over the last 7 days. Today's
        # rate is "so far", so the level averages so-far values over all hours alike. A
        # subquery (5-minute steps) rather than a range: the same expression also works with
        # the recorded series spelled out (Grafana's queries, backfilled histories).
        rec("shop:chatwatch_conversion_rate:avg7d",
            "avg_over_time(shop:chatwatch_conversion_rate:today[7d:5m])"),
        rec("chatwatch:events:rate1m", "sum by (outcome) (rate(chatwatch_events_total[1m]))"),
        rec("chatwatch:event_lag_seconds:max", "max(chatwatch_event_lag_seconds)"),
    ]
    # Breach ratio (breached / opened waits) over the burn-rate windows. Waits are counted at
    # open and breaches 300 s later, so short windows lag by the reply window; the long windows
    # that gate the alerts are 1 h and 6 h, where that shift is small.
    for window in ("5m", "30m", "1h", "6h"):
        rules += [
            rec(f"shop:chatwatch_waits:increase{window}",
                f"sum by (shop) (increase(chatwatch_waits_total[{window}]))"),
            rec(f"shop:chatwatch_breach_ratio:ratio_rate{window}",
                f"sum by (shop) (rate(chatwatch_waits_breached_total[{window}]))"
                f" / sum by (shop) (rate(chatwatch_waits_total[{window}]))"),
        ]
    return rules


# One page per condition. A KPI judged by the same waits as the shop's §3 figures (DOMAIN.md
# §3, "Platform KPIs": the seed's pdd_5min on PDD, the policy's own KPI where a platform lists
# none) is the same condition as ReplyRateBelowTarget and WaitAtRisk: both would page for one
# breach. The rules drop that KPI from KpiBelowTarget and KpiWaitAtRisk (the worker names it
# in chatwatch_reply_rate_info) instead of Alertmanager inhibiting one of the two: Grafana
# alerting has no inhibition and follows the same table, promtool can test a rule but not an
# inhibition, and an inhibited alert is still raised and resolved, racing its twin. The §3
# alerts are the ones kept: every shop has them (DOMAIN.md §5, a platform whose KPIs do not
# include the §3 window still pages on it), the ChatwatchDown and burn-rate inhibitions and
# Grafana's mute timing key on them, and WaitAtRisk honours the shop's own at_risk_seconds.
# They carry the KPI's labels (kpi, title, window), so the notice names the shop's own KPI.
_NOT_THE_SHOPS_RATE = "unless on (shop, kpi) shop:chatwatch_reply_rate_info:max"


def _as_shop_kpi(condition: str) -> str:
    """``condition`` (one series per shop) with the labels of the shop's reply-rate KPI.

    ``topk`` keeps one info series per shop (two could exist while workers roll out a changed
    configuration, and ``group_left`` would then fail the whole rule); a shop without one (an
    older worker) still fires, without the labels.
    """
    return (f"{condition} * on (shop) group_left (kpi, title, window)"
            " topk by (shop) (1, shop:chatwatch_reply_rate_info:max)"
            f" or on (shop) {condition}")


def alert_rules(t: Thresholds) -> list[Alert]:
    """Return the alerts of DOMAIN.md §5 evaluated on metrics (event alerts: the worker).

    This is the table both outputs are built from; add an alert here with :func:`_alert`.
    """
    def burn(window_long: str, window_short: str, factor: float) -> str:
        budget = "(1 - shop:chatwatch_reply_rate_target:max)"
        return (f"(shop:chatwatch_breach_ratio:ratio_rate{window_long} > on (shop) ({factor:g} * {budget})"
                f" and on (shop) shop:chatwatch_breach_ratio:ratio_rate{window_short}"
                f" > on (shop) ({factor:g} * {budget}))"
                f" and on (shop) shop:chatwatch_waits:increase{window_long} >= {t.burn_min_waits}")

    return [
        _alert(
            "ReplyRateBelowTarget",
            _as_shop_kpi("(shop:chatwatch_reply_rate:today"
                         " < on (shop) shop:chatwatch_reply_rate_target:max"
                         " and on (shop) shop:chatwatch_consultations:sum"
                         f" >= {t.min_consultations})"),
            t.for_reply_rate, "page",
            "店铺 {{ $labels.shop }} 今日「" + _RATE_TITLE + "」{{ $value | humanizePercentage }}"
            " 低于目标 / reply rate below target",
            "店铺 {{ $labels.shop }} 今日「" + _RATE_TITLE + "」为 {{ $value | humanizePercentage }}，"
            "低于该店目标，咨询人数不少于 " + str(t.min_consultations) + "。"
            " Shop {{ $labels.shop }} reply rate{{ with $labels.kpi }} ({{ . }}){{ end }} today"
            " is {{ $value | humanizePercentage }}, below its target.",
            t, counted_hours_only=True),
        _alert(
            "WaitAtRisk",
            # The shop's own threshold, or the default where no worker exports one (an
            # older worker): "or on (shop)" adds the default only for shops without a value.
            _as_shop_kpi("(shop:chatwatch_oldest_wait_seconds:max > on (shop)"
                         " (shop:chatwatch_wait_at_risk_seconds:min or on (shop)"
                         " (shop:chatwatch_oldest_wait_seconds:max * 0"
                         f" + {t.wait_at_risk_seconds})))"),
            t.for_wait_at_risk, "warning",
            "店铺 {{ $labels.shop }}「" + _RATE_TITLE + "」有买家已等待"
            " {{ $value | humanizeDuration }} / wait at risk",
            "店铺 {{ $labels.shop }} 按「" + _RATE_TITLE + "」计，最久的未回复等待"
            " {{ $value | humanizeDuration }}，已超过该店的风险阈值（at_risk_seconds，默认 "
            + str(t.wait_at_risk_seconds) + " 秒），即将超出{{ with $labels.window }} {{ . }} 秒的"
            "{{ end }}回复时限，请主管介入。 The oldest open wait of shop {{ $labels.shop }} is"
            " {{ $value | humanizeDuration }} old, past the shop's at-risk threshold; it"
            " breaches at the end of the{{ with $labels.window }} {{ . }} s{{ end }} reply"
            " window.",
            t, counted_hours_only=True),
        _alert(
            "KpiBelowTarget",
            # the KPI's Chinese title joins in from chatwatch_kpi_info (label "title")
            "((shop_kpi:chatwatch_kpi_rate:today < on (shop, kpi) shop_kpi:chatwatch_kpi_target:max"
            " and on (shop, kpi) shop_kpi:chatwatch_kpi_units:sum"
            " >= on (shop, kpi) shop_kpi:chatwatch_kpi_min_volume:max)"
            " * on (shop, kpi) group_left (title) shop_kpi:chatwatch_kpi_info:max)"
            f" {_NOT_THE_SHOPS_RATE}",
            t.for_kpi, "page",
            "店铺 {{ $labels.shop }} 今日「{{ $labels.title }}」{{ $value | humanizePercentage }}"
            " 低于目标 / KPI {{ $labels.kpi }} below target",
            "店铺 {{ $labels.shop }} 今日「{{ $labels.title }}」（{{ $labels.kpi }}）为"
            " {{ $value | humanizePercentage }}，低于该指标的目标，且今日考核量已达最低门槛"
            "（min_volume）。 Shop {{ $labels.shop }}: KPI {{ $labels.kpi }} today is"
            " {{ $value | humanizePercentage }}, below its target with at least its minimum"
            " volume of units.",
            t, counted_hours_only=True),
        _alert(
            "KpiWaitAtRisk",
            "((shop_kpi:chatwatch_kpi_oldest_wait_seconds:max"
            " > on (shop, kpi) shop_kpi:chatwatch_kpi_wait_at_risk_seconds:min)"
            " * on (shop, kpi) group_left (title) shop_kpi:chatwatch_kpi_info:max)"
            f" {_NOT_THE_SHOPS_RATE}",
            t.for_wait_at_risk, "warning",
            "店铺 {{ $labels.shop }}「{{ $labels.title }}」有买家已等待"
            " {{ $value | humanizeDuration }} / KPI wait at risk",
            "店铺 {{ $labels.shop }} 按「{{ $labels.title }}」（{{ $labels.kpi }}）计，最久的未回复"
            "等待 {{ $value | humanizeDuration }}，已超过该指标时限的风险比例（at_risk_share，"
            "默认 80%），请主管介入。 The oldest open wait of KPI {{ $labels.kpi }} in shop"
            " {{ $labels.shop }} is {{ $value | humanizeDuration }} old, past the KPI's"
            " at-risk share of its window.",
            t, counted_hours_only=True),
        _alert(
            "KpiBudgetLow",
            # Every KPI, the one of the shop's own waits too: no §3 alert says this. Its own
            # hours come from the workers (chatwatch_kpi_counted_now), so no mute timing:
            # Grafana's is the default 08-23 and would silence Taobao's 23-24.
            f"((shop_kpi:chatwatch_kpi_breach_budget:today <= {t.kpi_budget_low}"
            " and on (shop, kpi) shop_kpi:chatwatch_kpi_units:sum > 0"
            " and on (shop, kpi) shop_kpi:chatwatch_kpi_units:sum"
            " >= on (shop, kpi) shop_kpi:chatwatch_kpi_min_volume:max"
            " and on (shop, kpi) shop_kpi:chatwatch_kpi_counted_now:max == 1)"
            " * on (shop, kpi) group_left (title)"
            " topk by (shop, kpi) (1, shop_kpi:chatwatch_kpi_info:max))",
            t.for_kpi_budget, "warning",
            "店铺 {{ $labels.shop }} {{ if gt $value 0.0 }}今日{{ $labels.title }}还可承受"
            " {{ $value }} 个超时 / KPI {{ $labels.kpi }} can take {{ $value }} more breaches"
            " today{{ else }}今日{{ $labels.title }}可承受的超时已用完 / KPI {{ $labels.kpi }}"
            " breach budget used up today{{ end }}",
            "店铺 {{ $labels.shop }} 今日「{{ $labels.title }}」（{{ $labels.kpi }}）的考核量已达"
            "最低门槛（min_volume），{{ if gt $value 0.0 }}还可承受 {{ $value }} 个超时：按今日"
            "已计入的考核量，再超时多于 {{ $value }} 个，今日该指标就低于目标{{ else }}可承受的"
            "超时已用完：按今日已计入的考核量，再有一个超时，今日该指标就低于目标（如尚未低于）"
            f"{{{{ end }}}}。余量不多于 {t.kpi_budget_low} 个时提醒，请主管优先处理该指标的等待。"
            " Shop {{ $labels.shop }}: KPI {{ $labels.kpi }} {{ if gt $value 0.0 }}can take"
            " {{ $value }} more breached units today before its rate falls below target, given"
            " today's units so far{{ else }}has no breach budget left today: given today's units"
            " so far, one more breach takes its rate below target, if it is not below"
            " already{{ end }}.",
            t),
        _alert(
            "ConversionDrop",
            "shop:chatwatch_conversion_rate:today < on (shop)"
            f" ({t.conversion_drop_share:g} * shop:chatwatch_conversion_rate:avg7d)"
            f" and on (shop) shop:chatwatch_inquiries:sum >= {t.conversion_min_inquiries}",
            t.for_conversion_drop, "warning",
            "店铺 {{ $labels.shop }} 今日询单转化率 {{ $value | humanizePercentage }} 明显低于近7天水平"
            " / inquiry conversion dropped",
            "店铺 {{ $labels.shop }} 今日询单转化率为 {{ $value | humanizePercentage }}，低于近7天"
            f"水平的 {t.conversion_drop_share:.0%}（询单人数不少于 {t.conversion_min_inquiries}）。"
            " Shop {{ $labels.shop }} converts {{ $value | humanizePercentage }} of today's"
            f" inquiries, below {t.conversion_drop_share:.0%} of its 7-day level.",
            t),
        _alert(
            "ChatwatchDown",
            'up{job="chatwatch"} == 0 or absent(up{job="chatwatch"})'
            ' or absent(chatwatch_event_lag_seconds{job="chatwatch"})',
            t.for_down, "page",
            "chatwatch 监控进程不可用 / chatwatch down or its metrics are absent",
            "Prometheus 无法抓取 chatwatch 指标（进程停止或指标缺失），回复时限与违规告警均已失效。"
            " Prometheus cannot scrape chatwatch or its metrics are missing:"
            " no reply-window or content alerts are produced.",
            t),
        _alert(
            "EventLagHigh",
            f"max by (instance) (chatwatch_event_lag_seconds) > {t.event_lag_seconds}",
            t.for_lag, "page",
            "chatwatch 处理延迟 {{ $value | humanizeDuration }} / event lag high",
            "chatwatch ({{ $labels.instance }}) 落后实时消息 {{ $value | humanizeDuration }}，"
            "告警会延迟。 The worker is {{ $value | humanizeDuration }} behind the event"
            " stream; alerts are late.",
            t),
        _alert(
            "ReplyBudgetBurnFast",
            burn("1h", "5m", t.burn_fast_factor),
            t.for_burn_fast, "page",
            "店铺 {{ $labels.shop }} 超时比例过高，今日回复率将跌破目标 / fast error-budget burn",
            "店铺 {{ $labels.shop }} 最近1小时超时未回复的比例为 {{ $value | humanizePercentage }}，"
            f"是允许比例的 {t.burn_fast_factor:g} 倍以上。 Breach ratio over 1 h is"
            " {{ $value | humanizePercentage }}, burning the day's budget fast.",
            t, counted_hours_only=True),
        _alert(
            "ReplyBudgetBurnSlow",
            burn("6h", "30m", t.burn_slow_factor),
            t.for_burn_slow, "warning",
            "店铺 {{ $labels.shop }} 超时比例持续偏高 / slow error-budget burn",
            "店铺 {{ $labels.shop }} 最近6小时超时未回复的比例为 {{ $value | humanizePercentage }}，"
            f"是允许比例的 {t.burn_slow_factor:g} 倍以上。 Breach ratio over 6 h is"
            " {{ $value | humanizePercentage }}.",
            t, counted_hours_only=True),
        _alert(
            "Understaffed",
            "shop:chatwatch_agents_needed:max > on (shop) shop:chatwatch_agents_active:max",
            t.for_understaffed, "warning",
            "店铺 {{ $labels.shop }} 客服人手不足，需要 {{ $value }} 人在线 / understaffed",
            "店铺 {{ $labels.shop }} 按最近15分钟的咨询量和处理时长（Erlang C），需要"
            " {{ $value }} 名客服在线才能守住回复率目标，实际在线人数更少，已持续 "
            + t.for_understaffed + "。 By Erlang C on the last 15 minutes of arrivals and"
            " handling, shop {{ $labels.shop }} needs {{ $value }} agents to hold its"
            " reply-rate target, more than are replying now.",
            t, counted_hours_only=True),
    ]


def build_rules(t: Thresholds | None = None) -> dict[str, Any]:
    """Return the whole rule file as a mapping (``groups:``)."""
    t = t or Thresholds()
    # One group: rules of a group are evaluated in order, so each alert sees the recording
    # rules of the same evaluation. Across groups the order is not defined and an alert could
    # read the previous cycle's value (WaitAtRisk would lose an interval of its 60 s margin).
    return {"groups": [
        {"name": "chatwatch", "rules": [*recording_rules(), *(a.rule() for a in alert_rules(t))]},
    ]}


def build_recording_rules() -> dict[str, Any]:
    """Return the rule file Prometheus loads when Grafana does the alerting: records only.

    Grafana's alert queries and the dashboards read these recorded series.
    """
    return {"groups": [{"name": "chatwatch", "rules": recording_rules()}]}


HEADER = ("# Generated by `python -m alerts.rulegen --out alerts/rules/chatwatch.yml`;"
          " edit alerts/rulegen.py, not this file.\n")
RECORDING_HEADER = (
    "# Generated by `python -m alerts.rulegen --recording-out"
    " alerts/rules/recording-only/chatwatch.yml`; edit alerts/rulegen.py, not this file.\n"
    "# The recording rules alone: what Prometheus loads when Grafana does the alerting"
    " (CHATWATCH_ALERTING=grafana).\n")

REPO = Path(__file__).resolve().parents[1]
# The committed outputs, relative to the repository root (``--all`` writes them all).
RULES_FILE = Path("alerts/rules/chatwatch.yml")
RECORDING_FILE = Path("alerts/rules/recording-only/chatwatch.yml")
GRAFANA_DIR = Path("deploy/grafana/provisioning/alerting")
GRAFANA_OFF_DIR = Path("deploy/grafana/alerting-off")


def _dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


def render(t: Thresholds | None = None) -> str:
    """Render the rule file as YAML text, with a header naming its generator."""
    return HEADER + _dump(build_rules(t))


def render_recording() -> str:
    """Render the recording-only rule file (the Grafana way's Prometheus rules)."""
    return RECORDING_HEADER + _dump(build_recording_rules())


def outputs(t: Thresholds | None = None, settings: Any = None) -> dict[Path, str]:
    """Return every committed output, path relative to the repository root -> text.

    The drift tests compare these with the files in the repository.
    """
    from alerts import grafana

    out = {RULES_FILE: render(t), RECORDING_FILE: render_recording()}
    out |= {GRAFANA_DIR / n: text for n, text in grafana.provisioning(t, settings).items()}
    out |= {GRAFANA_OFF_DIR / n: text for n, text in grafana.off_provisioning(t, settings).items()}
    return out


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """``python -m alerts.rulegen [--out FILE] [--grafana DIR] [--all] [--board-url URL] ...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the rule file here instead of stdout")
    parser.add_argument("--recording-out", type=Path, metavar="FILE",
                        help="write the recording rules alone here (Prometheus in the Grafana way)")
    parser.add_argument("--grafana", type=Path, metavar="DIR",
                        help="write Grafana alert provisioning (rules, contact points, policies,"
                             " mute timings) into DIR")
    parser.add_argument("--grafana-off", type=Path, metavar="DIR",
                        help="write the Grafana file that removes that provisioning into DIR")
    parser.add_argument("--grafana-contacts", default=",".join(("dingtalk", "wecom", "webhook")),
                        help="integrations of the page and warning contact points"
                             " (comma-separated: dingtalk, wecom, webhook)")
    parser.add_argument("--config", type=Path, metavar="CHATWATCH_YML",
                        help="chatwatch configuration: shops' supervisors become Grafana"
                             " contact points and routes, its time zone the mute timing's")
    parser.add_argument("--all", action="store_true",
                        help="rewrite every committed output under the repository root")
    parser.add_argument("--runbook-base", default="",
                        help="URL of the runbook pages; alerts link to <base>/<AlertName>"
                             " (default: <board-url>/runbook, or the path /runbook that the"
                             " pager bridge completes with its board_url)")
    parser.add_argument("--board-url", default="",
                        help="the board's public base URL; alerts link to <url>/?shop=<shop>")
    args = parser.parse_args(argv)
    t = Thresholds(runbook_base=args.runbook_base, board_url=args.board_url)
    settings = None
    if args.config:
        from stream.config import load_settings

        settings = load_settings(args.config, environ={})
    if args.all:
        for rel, text in outputs(t, settings).items():
            _write(REPO / rel, text)
        return
    wrote = False
    if args.recording_out:
        _write(args.recording_out, render_recording())
        wrote = True
    if args.grafana or args.grafana_off:
        from alerts import grafana

        if args.grafana:
            kinds = [k.strip() for k in args.grafana_contacts.split(",") if k.strip()]
            for name, text in grafana.provisioning(t, settings, kinds).items():
                _write(args.grafana / name, text)
        if args.grafana_off:
            for name, text in grafana.off_provisioning(t, settings).items():
                _write(args.grafana_off / name, text)
        wrote = True
    if args.out:
        _write(args.out, render(t))
    elif not wrote:
        print(render(t), end="")


if __name__ == "__main__":
    main()
