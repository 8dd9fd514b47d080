"""Prometheus recording and alerting rules for chatwatch, generated from one threshold table.

The committed file ``alerts/rules/chatwatch.yml`` is the output of
``python -m alerts.rulegen --out alerts/rules/chatwatch.yml``; a test fails when the two drift.
Every number an operator may want to change lives in :class:`Thresholds`; end-to-end tests build
rules with short ``for:`` durations from the same code (``build_rules(Thresholds(...))``).

Metric contract (exported by the worker): see ``docs/alerts.md``. Per-shop figures are summed
over workers, so the rules hold with one worker or several sharing the partitions.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_RUNBOOK_BASE = "https://github.com/chatwatch/chatwatch/blob/main/docs/alerts.md"


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
    # Both are reachable for any target below ~83 % (fast) / ~97 % (slow); see docs/alerts.md.
    burn_fast_factor: float = 2.0
    burn_slow_factor: float = 1.2
    burn_min_waits: int = 20             # volume guard over the long window
    for_reply_rate: str = "5m"
    for_wait_at_risk: str = "0s"         # the gauge only grows; any delay eats the 60 s margin
    for_down: str = "1m"
    for_lag: str = "2m"
    for_burn_fast: str = "2m"
    for_burn_slow: str = "15m"
    runbook_base: str = DEFAULT_RUNBOOK_BASE
    # The board's public base URL (``board_url``): each alert then links to it, filtered to
    # the alert's shop. Empty: no link (the pager bridge still adds its own).
    board_url: str = ""


def _alert(name: str, expr: str, duration: str, severity: str, summary: str,
           description: str, t: Thresholds, extra: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"severity": severity, **(extra or {})}
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{t.runbook_base}#{name.lower()}",
            **({"board_url": t.board_url.rstrip("/") + "/?shop={{ $labels.shop | urlquery }}"}
               if t.board_url else {}),
        },
    }


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


def alert_rules(t: Thresholds) -> list[dict[str, Any]]:
    """Return the alerts of DOMAIN.md §5 that Prometheus evaluates (event alerts: the worker)."""
    def burn(window_long: str, window_short: str, factor: float) -> str:
        budget = "(1 - shop:chatwatch_reply_rate_target:max)"
        return (f"(shop:chatwatch_breach_ratio:ratio_rate{window_long} > on (shop) ({factor:g} * {budget})"
                f" and on (shop) shop:chatwatch_breach_ratio:ratio_rate{window_short}"
                f" > on (shop) ({factor:g} * {budget}))"
                f" and on (shop) shop:chatwatch_waits:increase{window_long} >= {t.burn_min_waits}")

    return [
        _alert(
            "ReplyRateBelowTarget",
            "shop:chatwatch_reply_rate:today < on (shop) shop:chatwatch_reply_rate_target:max"
            f" and on (shop) shop:chatwatch_consultations:sum >= {t.min_consultations}",
            t.for_reply_rate, "page",
            "店铺 {{ $labels.shop }} 今日5分钟回复率 {{ $value | humanizePercentage }} 低于目标"
            " / reply rate below target",
            "店铺 {{ $labels.shop }} 今日5分钟回复率为 {{ $value | humanizePercentage }}，"
            "低于该店目标，咨询人数不少于 " + str(t.min_consultations) + "。"
            " Shop {{ $labels.shop }} reply rate today is {{ $value | humanizePercentage }},"
            " below its target.",
            t),
        _alert(
            "WaitAtRisk",
            # The shop's own threshold, or the default where no worker exports one (an
            # older worker): "or on (shop)" adds the default only for shops without a value.
            "shop:chatwatch_oldest_wait_seconds:max > on (shop)"
            " (shop:chatwatch_wait_at_risk_seconds:min"
            f" or on (shop) (shop:chatwatch_oldest_wait_seconds:max * 0 + {t.wait_at_risk_seconds}))",
            t.for_wait_at_risk, "warning",
            "店铺 {{ $labels.shop }} 有买家已等待 {{ $value | humanizeDuration }} / wait at risk",
            "店铺 {{ $labels.shop }} 最久的未回复等待 {{ $value | humanizeDuration }}，已超过该店的"
            "风险阈值（at_risk_seconds，默认 " + str(t.wait_at_risk_seconds) + " 秒），即将超出回复"
            "时限，请主管介入。 The oldest open wait of shop {{ $labels.shop }} is"
            " {{ $value | humanizeDuration }} old, past the shop's at-risk threshold;"
            " it breaches at the end of the reply window.",
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
            t),
        _alert(
            "ReplyBudgetBurnSlow",
            burn("6h", "30m", t.burn_slow_factor),
            t.for_burn_slow, "warning",
            "店铺 {{ $labels.shop }} 超时比例持续偏高 / slow error-budget burn",
            "店铺 {{ $labels.shop }} 最近6小时超时未回复的比例为 {{ $value | humanizePercentage }}，"
            f"是允许比例的 {t.burn_slow_factor:g} 倍以上。 Breach ratio over 6 h is"
            " {{ $value | humanizePercentage }}.",
            t),
    ]


def build_rules(t: Thresholds | None = None) -> dict[str, Any]:
    """Return the whole rule file as a mapping (``groups:``)."""
    t = t or Thresholds()
    # One group: rules of a group are evaluated in order, so each alert sees the recording
    # rules of the same evaluation. Across groups the order is not defined and an alert could
    # read the previous cycle's value (WaitAtRisk would lose an interval of its 60 s margin).
    return {"groups": [
        {"name": "chatwatch", "rules": [*recording_rules(), *alert_rules(t)]},
    ]}


HEADER = ("# Generated by `python -m alerts.rulegen --out alerts/rules/chatwatch.yml`;"
          " edit alerts/rulegen.py, not this file.\n")


def render(t: Thresholds | None = None) -> str:
    """Render the rule file as YAML text, with a header naming its generator."""
    return HEADER + yaml.safe_dump(build_rules(t), sort_keys=False, allow_unicode=True, width=1000)


def main(argv: list[str] | None = None) -> None:
    """``python -m alerts.rulegen [--out FILE] [--runbook-base URL] [--board-url URL]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument("--runbook-base", default=DEFAULT_RUNBOOK_BASE,
                        help="URL of docs/alerts.md; alerts link to <base>#<alertname>")
    parser.add_argument("--board-url", default="",
                        help="the board's public base URL; alerts link to <url>/?shop=<shop>")
    args = parser.parse_args(argv)
    text = render(Thresholds(runbook_base=args.runbook_base, board_url=args.board_url))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
