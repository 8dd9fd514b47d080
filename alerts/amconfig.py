"""Alertmanager configuration generated from chatwatch's own configuration.

``chatwatch alertmanager-config [--out FILE]`` writes a configuration with:

* a page route and a warning route, both delivered to the pager bridge (``alerts.pager``),
  grouped by alert name and shop, so a burst of breached waits in one shop is one notice; a
  group is notified again at most every ``group_interval`` (5 min) unless it changes;
* breached waits (one alert per shop and KPI, carrying the count) repeated every
  ``breach_repeat_interval`` while they go on, so the growing count reaches the supervisors
  without a notice per breach: a shop breaching for a whole hour gets about four;
* pipeline alerts (``ChatwatchDown``, ``EventLagHigh``) routed first, grouped by alert name;
* one receiver per shop that lists ``supervisors`` in ``shops.<id>.supervisors``: every alert of
  that shop also goes to those webhook URLs (``continue: true`` keeps the page/warning routes);
* inhibition: ``ChatwatchDown`` silences the per-shop alerts computed from sums over all
  workers (partial while any worker is down) and ``EventLagHigh`` of the same ``instance`` only;
  never ``WaitAtRisk`` (a healthy worker's oldest wait is real) nor the event alerts pushed by
  running workers. ``ReplyRateBelowTarget`` silences the burn-rate alerts of the same shop; the
  fast burn silences the slow one. Why: docs/alerts.md, "Inhibition".

A supervisor URL can be the pager bridge itself with ``?target=NAME`` to pick one of its robot
targets (e.g. the shop's DingTalk group); the bridge's bearer token is only attached to URLs
that start with the bridge's own URL, never sent to third parties.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from stream.config import Settings

PIPELINE_ALERTS = ("ChatwatchDown", "EventLagHigh")
# Per-shop alerts on figures summed over workers. A shop's conversations are spread over every
# partition, so while any worker is down every shop's sums are partial (Prometheus marks a failed
# target's series stale at once) and these may page wrongly. After the `by (shop)` recording
# rules they carry only `shop`, no `instance`/`job`, so no `equal:` could tie them to one worker:
# ChatwatchDown silences them for every shop.
SUM_ALERTS = ("ReplyRateBelowTarget", "ReplyBudgetBurnFast", "ReplyBudgetBurnSlow")
# Not inhibited: WaitAtRisk (a max over workers: the oldest wait a healthy worker reports is a
# real buyer waiting, and the down worker's waits just drop out), EventLagHigh of other
# instances (a healthy worker lags exactly when it takes over the down one's partitions), and
# the event alerts (ForbiddenContent, ReplyWindowBreached) pushed by the workers still running:
# one worker being down must not hide a deposit-losing page.
DEFAULT_PAGER_URL = "http://127.0.0.1:9095"
DEFAULT_TOKEN_FILE = "/etc/alertmanager/chatwatch-pager-token"


@dataclass(frozen=True)
class RoutingOptions:
    """Where notices go and how fast; defaults suit production, tests shorten the waits."""

    pager_url: str = DEFAULT_PAGER_URL
    pager_token_file: str | None = DEFAULT_TOKEN_FILE
    group_wait: str = "10s"
    page_group_wait: str = "5s"     # a forbidden-content page should arrive within seconds
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    page_repeat_interval: str = "1h"
    breach_repeat_interval: str = "15m"  # the breach count, again while breaches go on


def _matcher(name: str, value: str, op: str = "=") -> str:
    return f"{name}{op}{json.dumps(value, ensure_ascii=False)}"


def receiver_name(shop: str) -> str:
    """Return the receiver name of a shop's supervisors (``shop-<id>``, spaces replaced)."""
    return "shop-" + re.sub(r"\s+", "_", shop)


def _webhook(url: str, opts: RoutingOptions) -> dict[str, Any]:
    hook: dict[str, Any] = {"url": url, "send_resolved": True}
    if opts.pager_token_file and url.startswith(opts.pager_url.rstrip("/") + "/"):
        hook["http_config"] = {"authorization": {"type": "Bearer",
                                                 "credentials_file": opts.pager_token_file}}
    return hook


def build_config(settings: Settings, opts: RoutingOptions | None = None) -> dict[str, Any]:
    """Return the Alertmanager configuration for these settings as a mapping."""
    opts = opts or RoutingOptions()
    pager = opts.pager_url.rstrip("/")
    shops = {shop: profile.supervisors for shop, profile in sorted(settings.policies.shops.items())
             if profile.supervisors}
    routes: list[dict[str, Any]] = [{
        "matchers": [_matcher("alertname", "|".join(PIPELINE_ALERTS), "=~")],
        "receiver": "pager-page",
        "group_by": ["alertname"],
        "group_wait": opts.page_group_wait,
        "repeat_interval": opts.page_repeat_interval,
    }]
    routes += [{"matchers": [_matcher("shop", shop)], "receiver": receiver_name(shop),
                "continue": True} for shop in shops]
    routes += [
        {"matchers": [_matcher("alertname", "ReplyWindowBreached"),
                      _matcher("severity", "warning")],
         "receiver": "pager-warning", "repeat_interval": opts.breach_repeat_interval},
        {"matchers": [_matcher("severity", "page")], "receiver": "pager-page",
         "group_wait": opts.page_group_wait, "repeat_interval": opts.page_repeat_interval},
        {"matchers": [_matcher("severity", "warning")], "receiver": "pager-warning"},
    ]
    receivers: list[dict[str, Any]] = [
        {"name": "pager-page", "webhook_configs": [_webhook(f"{pager}/alerts?severity=page", opts)]},
        {"name": "pager-warning",
         "webhook_configs": [_webhook(f"{pager}/alerts?severity=warning", opts)]},
    ]
    receivers += [{"name": receiver_name(shop),
                   "webhook_configs": [_webhook(url, opts) for url in urls]}
                  for shop, urls in shops.items()]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "pager-warning",
            "group_by": ["alertname", "shop"],
            "group_wait": opts.group_wait,
            "group_interval": opts.group_interval,
            "repeat_interval": opts.repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": [
            {"source_matchers": [_matcher("alertname", "ChatwatchDown")],
             "target_matchers": [_matcher("alertname", "|".join(SUM_ALERTS), "=~")]},
            {"source_matchers": [_matcher("alertname", "ChatwatchDown")],
             "target_matchers": [_matcher("alertname", "EventLagHigh")],
             "equal": ["instance"]},
            {"source_matchers": [_matcher("alertname", "ReplyRateBelowTarget")],
             "target_matchers": [_matcher("alertname", "ReplyBudgetBurn(Fast|Slow)", "=~")],
             "equal": ["shop"]},
            {"source_matchers": [_matcher("alertname", "ReplyBudgetBurnFast")],
             "target_matchers": [_matcher("alertname", "ReplyBudgetBurnSlow")],
             "equal": ["shop"]},
        ],
        "receivers": receivers,
    }


HEADER = ("# Generated by `chatwatch alertmanager-config`; regenerate it after changing"
          " shops.<id>.supervisors.\n")


def render(settings: Settings, opts: RoutingOptions | None = None) -> str:
    """Render :func:`build_config` as YAML text with a header naming its generator."""
    return HEADER + yaml.safe_dump(build_config(settings, opts), sort_keys=False,
                                   allow_unicode=True, width=1000)


@click.command("alertmanager-config")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the configuration here instead of standard output.")
@click.option("--pager-url", default=DEFAULT_PAGER_URL, show_default=True,
              envvar="CHATWATCH_PAGER_URL", help="Base URL of the pager bridge (chatwatch pager).")
@click.option("--pager-token-file", default=DEFAULT_TOKEN_FILE, show_default=True,
              help="File holding the bridge's bearer token, as Alertmanager will see it; "
                   "'' to send no token.")
@click.pass_obj
def alertmanager_config(obj: Any, out: Path | None, pager_url: str, pager_token_file: str) -> None:
    """Write an Alertmanager configuration with per-shop supervisor receivers."""
    opts = RoutingOptions(pager_url=pager_url, pager_token_file=pager_token_file or None)
    text = render(obj.settings, opts)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
