"""Grafana-managed alerting for chatwatch, built from the alert table of :mod:`alerts.rulegen`.

``python -m alerts.rulegen --grafana deploy/grafana/provisioning/alerting`` writes Grafana file
provisioning (``apiVersion: 1``), one file per kind of resource:

* ``chatwatch-rules.yaml`` — one rule group with a rule per entry of
  :func:`alerts.rulegen.alert_rules`: the same PromQL, ``for``, labels and summaries;
* ``chatwatch-contact-points.yaml`` — DingTalk, WeCom and webhook integrations whose URLs are
  ``${VAR}`` references that Grafana fills in from its environment (never a URL in the file);
* ``chatwatch-policies.yaml`` — the notification policy tree, mirroring the Alertmanager routes
  of :mod:`alerts.amconfig` (grouped by alert name and shop, routed by severity);
* ``chatwatch-mute-timings.yaml`` — the hours outside the counted hours, when the alerts about
  the reply-window KPI are muted.

``--grafana-off DIR`` writes ``chatwatch-alerting-off.yaml``, which deletes all of the above
again: Grafana keeps provisioned resources in its database after their file is gone, so a
Grafana switched back to the Prometheus way (``CHATWATCH_ALERTING=prometheus``) is given this
file instead, and nobody is paged twice.

How a Prometheus alerting rule becomes a Grafana rule: Prometheus fires for every series its
expression returns (the comparison filters the others out). The Grafana rule queries the same
expression (``A``, instant), reduces each series to its last value (``B``, shown in the
annotations where Prometheus shows ``$value``) and to the number of numeric values it has
(``C``: 1 for a series the expression returns, NaN dropped), and the condition is the threshold
``C > 0`` (``D``). So each Grafana rule is true for exactly the series that make the Prometheus
rule active; ``tests/integration/test_grafana_alerting.py`` checks that on a backfilled history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from alerts.amconfig import PIPELINE_ALERTS, RoutingOptions
from alerts.rulegen import Alert, Thresholds, alert_rules
from stream.config import Settings
from stream.core.policy import Policy

ORG_ID = 1
DATASOURCE_UID = "chatwatch-prometheus"   # deploy/grafana/provisioning/datasources/prometheus.yml
FOLDER = "chatwatch"
GROUP = "chatwatch"
# Grafana schedules rules on a 10 s base interval; 10 s keeps WaitAtRisk (for: 0s, a 60 s
# margin before the breach) about as prompt as the 15 s evaluation of the Prometheus way.
EVALUATION_INTERVAL = "10s"
MUTE_OUTSIDE_COUNTED = "chatwatch-outside-counted-hours"
PAGE = "chatwatch-page"
WARNING = "chatwatch-warning"
# Integration kind -> (Grafana type, the environment variable holding its URL). The same
# variables the pager bridge reads, so one set of robot URLs serves either way of alerting.
INTEGRATIONS: dict[str, tuple[str, str]] = {
    "dingtalk": ("dingding", "CHATWATCH_PAGER_DINGTALK_URL"),
    "wecom": ("wecom", "CHATWATCH_PAGER_WECOM_URL"),
    "webhook": ("webhook", "CHATWATCH_PAGER_WEBHOOK_URL"),
}
FILES = ("chatwatch-rules.yaml", "chatwatch-contact-points.yaml", "chatwatch-policies.yaml",
         "chatwatch-mute-timings.yaml")
OFF_FILE = "chatwatch-alerting-off.yaml"
_EXPR = {"type": "__expr__", "uid": "__expr__"}


def rule_uid(name: str) -> str:
    """Return the Grafana uid of an alert (``chatwatch-<name in lower case>``, ≤ 40 chars)."""
    uid = "chatwatch-" + re.sub(r"[^a-z0-9-]+", "-", name.lower())
    if len(uid) > 40:
        raise ValueError(f"alert name {name!r} makes the Grafana uid {uid!r} longer than 40 "
                         "characters; choose a shorter name")
    return uid


def grafana_template(text: str) -> str:
    """Rewrite a Prometheus annotation template for Grafana: ``$value`` is ``$values.B.Value``.

    Grafana's ``$value`` is a description of every expression, not a number; ``B`` is the
    rule's last value of the query, the number Prometheus calls ``$value``.
    """
    return re.sub(r"\$value\b", "$values.B.Value", text)


def _node(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    return {"refId": ref, "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": "__expr__",
            "model": {"refId": ref, "datasource": dict(_EXPR), **model}}


def grafana_rule(alert: Alert, datasource_uid: str = DATASOURCE_UID) -> dict[str, Any]:
    """Return the Grafana alert rule of one table entry (see the module docstring)."""
    return {
        "uid": rule_uid(alert.name),
        "title": alert.name,
        "condition": "D",
        "data": [
            {"refId": "A", "relativeTimeRange": {"from": 600, "to": 0},
             "datasourceUid": datasource_uid,
             "model": {"refId": "A", "datasource": {"type": "prometheus", "uid": datasource_uid},
                       "expr": alert.expr, "instant": True, "range": False,
                       "editorMode": "code", "intervalMs": 1000, "maxDataPoints": 43200}},
            _node("B", {"type": "reduce", "expression": "A", "reducer": "last",
                        "settings": {"mode": "dropNN"}}),
            _node("C", {"type": "reduce", "expression": "A", "reducer": "count",
                        "settings": {"mode": "dropNN"}}),
            _node("D", {"type": "threshold", "expression": "C",
                        "conditions": [{"evaluator": {"type": "gt", "params": [0]}}]}),
        ],
        # No series is "nothing to alert on", as in Prometheus; a failing query is an error
        # Grafana reports (DatasourceError), the counterpart of a rule evaluation failure.
        "noDataState": "OK",
        "execErrState": "Error",
        "for": alert.duration,
        "labels": dict(alert.labels),
        "annotations": {k: grafana_template(v) for k, v in alert.annotations.items()},
        "isPaused": False,
    }


def rules_file(t: Thresholds | None = None,
               datasource_uid: str = DATASOURCE_UID) -> dict[str, Any]:
    """Return ``chatwatch-rules.yaml``: one group holding a rule per alert of the table."""
    t = t or Thresholds()
    return {"apiVersion": 1, "groups": [{
        "orgId": ORG_ID, "name": GROUP, "folder": FOLDER, "interval": EVALUATION_INTERVAL,
        "rules": [grafana_rule(a, datasource_uid) for a in alert_rules(t)],
    }]}


def _integration(kind: str, receiver: str, title: str) -> dict[str, Any]:
    grafana_type, variable = INTEGRATIONS[kind]
    settings: dict[str, Any] = {"url": "${" + variable + "}"}
    if kind == "dingtalk":
        settings |= {"msgType": "actionCard", "title": title}
    elif kind == "wecom":
        settings |= {"msgtype": "markdown", "title": title}
    else:
        settings |= {"httpMethod": "POST"}
    return {"uid": f"{receiver}-{kind}", "type": grafana_type, "settings": settings,
            "disableResolveMessage": False}


def _shop_receiver(shop: str) -> str:
    return "chatwatch-shop-" + re.sub(r"[^A-Za-z0-9_-]+", "_", shop)


def contact_points_file(settings: Settings | None = None,
                        kinds: Iterable[str] = tuple(INTEGRATIONS)) -> dict[str, Any]:
    """Return ``chatwatch-contact-points.yaml``: page, warning and per-shop contact points.

    A shop that lists ``supervisors`` gets a webhook contact point (as ``chatwatch
    alertmanager-config`` gives it a receiver). Supervisor URLs come from the chatwatch configuration, which holds no secrets.
    """
    settings = settings or Settings()
    kinds = list(kinds)
    unknown = set(kinds) - set(INTEGRATIONS)
    if unknown or not kinds:
        raise ValueError(f"contact point kinds {sorted(unknown) or kinds} unknown; "
                         f"use some of {', '.join(INTEGRATIONS)}")
    points = [
        {"orgId": ORG_ID, "name": PAGE,
         "receivers": [_integration(k, PAGE, "chatwatch 告警 / page") for k in kinds]},
        {"orgId": ORG_ID, "name": WARNING,
         "receivers": [_integration(k, WARNING, "chatwatch 提醒 / warning") for k in kinds]},
    ]
    for shop, profile in sorted(settings.policies.shops.items()):
        if profile.supervisors:
            name = _shop_receiver(shop)
            points.append({"orgId": ORG_ID, "name": name, "receivers": [
                {"uid": f"{name}-{i}"[:40], "type": "webhook",
                 "settings": {"url": url, "httpMethod": "POST"}, "disableResolveMessage": False}
                for i, url in enumerate(profile.supervisors, 1)]})
    return {"apiVersion": 1, "contactPoints": points}


def _counted_hours_child(receiver: str, names: list[str]) -> list[dict[str, Any]]:
    if not names:
        return []
    return [{"receiver": receiver, "object_matchers": [["alertname", "=~", "|".join(names)]],
             "mute_time_intervals": [MUTE_OUTSIDE_COUNTED]}]


def policies_file(t: Thresholds | None = None, settings: Settings | None = None,
                  opts: RoutingOptions | None = None) -> dict[str, Any]:
    """Return ``chatwatch-policies.yaml``: the routes of :func:`alerts.amconfig.build_config`.

    Under each route a child route mutes the table's ``counted_hours_only`` alerts outside the
    counted hours. Grafana has no inhibition rules: see docs/alerts.md, "Grafana alerting".
    """
    t, settings, opts = t or Thresholds(), settings or Settings(), opts or RoutingOptions()
    counted = [a.name for a in alert_rules(t) if a.counted_hours_only]
    routes: list[dict[str, Any]] = [{
        "receiver": PAGE,
        "object_matchers": [["alertname", "=~", "|".join(PIPELINE_ALERTS)]],
        "group_by": ["alertname"],
        "group_wait": opts.page_group_wait,
        "repeat_interval": opts.page_repeat_interval,
    }]
    for shop, profile in sorted(settings.policies.shops.items()):
        if profile.supervisors:
            receiver = _shop_receiver(shop)
            routes.append({"receiver": receiver, "object_matchers": [["shop", "=", shop]],
                           "continue": True,
                           "routes": _counted_hours_child(receiver, counted)})
    routes += [
        # breached waits are pushed by the workers to Alertmanager: the route is mirrored so
        # that both trees treat a ReplyWindowBreached alert alike
        {"receiver": WARNING, "object_matchers": [["alertname", "=", "ReplyWindowBreached"],
                                                  ["severity", "=", "warning"]],
         "repeat_interval": opts.breach_repeat_interval},
        {"receiver": PAGE, "object_matchers": [["severity", "=", "page"]],
         "group_wait": opts.page_group_wait, "repeat_interval": opts.page_repeat_interval,
         "routes": _counted_hours_child(PAGE, counted)},
        {"receiver": WARNING, "object_matchers": [["severity", "=", "warning"]],
         "routes": _counted_hours_child(WARNING, counted)},
    ]
    return {"apiVersion": 1, "policies": [{
        "orgId": ORG_ID,
        "receiver": WARNING,
        "group_by": ["alertname", "shop"],
        "group_wait": opts.group_wait,
        "group_interval": opts.group_interval,
        "repeat_interval": opts.repeat_interval,
        "routes": routes,
    }]}


def mute_timings_file(settings: Settings | None = None) -> dict[str, Any]:
    """Return ``chatwatch-mute-timings.yaml``: outside the default counted hours, local time.

    The default policy's hours (08:00–23:00) in the default time zone; a shop or platform with
    other hours (JD's KPI counts from 09:00) needs its own mute timing.
    """
    settings = settings or Settings()
    policy = Policy()
    start = policy.counted_from.strftime("%H:%M")
    end = policy.counted_until.strftime("%H:%M")
    times = [{"start_time": "00:00", "end_time": start}] if start != "00:00" else []
    times += [{"start_time": end, "end_time": "24:00"}] if end != "00:00" else []
    return {"apiVersion": 1, "muteTimes": [{
        "orgId": ORG_ID, "name": MUTE_OUTSIDE_COUNTED,
        "time_intervals": [{"times": times, "location": settings.policies.default_timezone}],
    }]}


def off_file(t: Thresholds | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Return the file that removes every resource of :func:`provisioning` from Grafana."""
    rules = rules_file(t)["groups"][0]["rules"]
    points = contact_points_file(settings)["contactPoints"]
    return {
        "apiVersion": 1,
        "deleteRules": [{"orgId": ORG_ID, "uid": r["uid"]} for r in rules],
        "deleteContactPoints": [{"orgId": ORG_ID, "uid": r["uid"]}
                                for p in points for r in p["receivers"]],
        "deleteMuteTimes": [{"orgId": ORG_ID, "name": MUTE_OUTSIDE_COUNTED}],
        "resetPolicies": [ORG_ID],
    }


HEADER = ("# Generated by `python -m alerts.rulegen --grafana deploy/grafana/provisioning/alerting`"
          " (alerts/grafana.py); edit alerts/rulegen.py, not this file.\n")
OFF_HEADER = ("# Generated by `python -m alerts.rulegen --grafana-off deploy/grafana/alerting-off`"
              " (alerts/grafana.py). Given to Grafana instead of provisioning/alerting when"
              " CHATWATCH_ALERTING=prometheus:\n# it removes the chatwatch rules, contact points,"
              " mute timing and policies a Grafana in the Grafana way was given.\n")


def dump(doc: dict[str, Any], header: str = HEADER) -> str:
    """Serialise one provisioning document as YAML with its generator header."""
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


def provisioning(t: Thresholds | None = None, settings: Settings | None = None,
                 kinds: Iterable[str] = tuple(INTEGRATIONS)) -> dict[str, str]:
    """Return file name -> text of the files for ``provisioning/alerting``."""
    docs = {
        "chatwatch-rules.yaml": rules_file(t),
        "chatwatch-contact-points.yaml": contact_points_file(settings, kinds),
        "chatwatch-policies.yaml": policies_file(t, settings),
        "chatwatch-mute-timings.yaml": mute_timings_file(settings),
    }
    return {name: dump(doc) for name, doc in docs.items()}


def off_provisioning(t: Thresholds | None = None,
                     settings: Settings | None = None) -> dict[str, str]:
    """Return file name -> text of the removal file for ``alerting-off``."""
    return {OFF_FILE: dump(off_file(t, settings), OFF_HEADER)}
