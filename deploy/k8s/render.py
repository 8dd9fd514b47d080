"""Render the Kubernetes objects that carry files kept elsewhere in the repository.

kustomize refuses files outside its own directory, so the alert rules (``alerts/rules/*.yml``)
and the Grafana dashboards (``deploy/grafana/dashboards/*.json``) reach the cluster through
this script instead of a ``configMapGenerator``::

    python deploy/k8s/render.py rules          | kubectl apply -f -   # ConfigMap for Prometheus
    python deploy/k8s/render.py dashboards     | kubectl apply -f -   # ConfigMaps for Grafana
    python deploy/k8s/render.py prometheusrule | kubectl apply -f -   # Prometheus Operator
    python deploy/k8s/render.py grafana-alerting | kubectl apply -f - # Grafana sidecar

Who evaluates the alerts is ONE setting, ``--alerting prometheus|grafana`` or the environment
variable ``CHATWATCH_ALERTING`` (default ``prometheus``), the same as in docker compose:

* ``prometheus``: the rules carry the alerts; ``grafana-alerting`` renders the file that
  removes chatwatch's Grafana alerting (rules, contact points, policies, mute timing);
* ``grafana``: the rules carry the recording rules alone (``alerts/rules/recording-only/``)
  and ``grafana-alerting`` renders ``deploy/grafana/provisioning/alerting/`` for Grafana's
  alert sidecar (label ``grafana_alert: "1"``, as kube-prometheus-stack's Grafana watches).

Render every kind with the same setting, so nobody is paged twice.

Output is multi-document YAML on stdout. Needs only PyYAML. The objects are plain data built
by the functions below, which the deployment tests call directly.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "chatwatch"
# The API server rejects objects above 1 MiB; leave room for metadata.
MAX_CONFIGMAP_BYTES = 1_000_000
LABELS = {"app.kubernetes.io/name": "chatwatch", "app.kubernetes.io/part-of": "chatwatch"}
ALERTING_WAYS = ("prometheus", "grafana")
KINDS = ("rules", "dashboards", "prometheusrule", "grafana-alerting")


class RenderError(Exception):
    """A source file cannot be turned into a Kubernetes object; the message says which."""


def rule_files(repo: Path = REPO, alerting: str = "prometheus") -> list[Path]:
    """List the Prometheus rule files for this way of alerting, sorted.

    ``alerts/rules/*.yml`` when Prometheus alerts, ``recording-only/*.yml`` when Grafana does.
    """
    rules = repo / "alerts" / "rules"
    return sorted((rules if alerting == "prometheus" else rules / "recording-only").glob("*.yml"))


def grafana_alerting_files(repo: Path = REPO, alerting: str = "prometheus") -> list[Path]:
    """List the Grafana alerting provisioning files for this way of alerting, sorted."""
    grafana = repo / "deploy" / "grafana"
    folder = grafana / "provisioning" / "alerting" if alerting == "grafana" \
        else grafana / "alerting-off"
    return sorted(folder.glob("*.yaml"))


def dashboard_files(repo: Path = REPO) -> list[Path]:
    """List the Grafana dashboards, sorted (``deploy/grafana/dashboards/*.json``)."""
    return sorted((repo / "deploy" / "grafana" / "dashboards").glob("*.json"))


def _metadata(name: str, component: str, **extra_labels: str) -> dict[str, Any]:
    labels = {**LABELS, "app.kubernetes.io/component": component, **extra_labels}
    return {"name": name, "namespace": NAMESPACE, "labels": labels}


def _check_size(name: str, data: dict[str, str]) -> None:
    size = sum(len(k.encode()) + len(v.encode()) for k, v in data.items())
    if size > MAX_CONFIGMAP_BYTES:
        raise RenderError(f"ConfigMap {name} would hold {size} bytes, over the "
                          f"{MAX_CONFIGMAP_BYTES}-byte limit; split the source files")


def rules_configmap(files: Sequence[Path]) -> dict[str, Any]:
    """Build the ConfigMap ``chatwatch-prometheus-rules``: a key per rule file, text unchanged.

    Mounted at ``/etc/prometheus/rules`` it matches ``rule_files`` of
    ``prometheus-scrape-config.yaml``.
    """
    data = {path.name: path.read_text(encoding="utf-8") for path in files}
    _check_size("chatwatch-prometheus-rules", data)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _metadata("chatwatch-prometheus-rules", "monitoring"), "data": data}


def dashboard_configmaps(files: Sequence[Path]) -> list[dict[str, Any]]:
    """Build a ConfigMap per dashboard, labelled ``grafana_dashboard: "1"`` for the Grafana sidecar.

    One per dashboard keeps each well under the size limit. The JSON is checked to parse so a
    broken dashboard fails here rather than silently in Grafana.
    """
    out = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise RenderError(f"{path.name} is not valid JSON: {exc}") from exc
        name = "chatwatch-dashboard-" + re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-")
        data = {path.name: text}
        _check_size(name, data)
        metadata = _metadata(name, "monitoring", grafana_dashboard="1")
        metadata["annotations"] = {"grafana_folder": "chatwatch"}
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    return out


def prometheus_rule(files: Sequence[Path]) -> dict[str, Any]:
    """Build a ``PrometheusRule`` (Prometheus Operator) with every group of every rule file.

    Group names must be unique across files, as Prometheus itself requires.
    """
    groups: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
            raise RenderError(f"{path.name} has no top-level `groups:` list; is it a rule file?")
        for group in doc["groups"]:
            name = group.get("name")
            if name in seen:
                raise RenderError(f"rule group {name!r} is defined in both {seen[name]} "
                                  f"and {path.name}; rename one")
            seen[name] = path.name
            groups.append(group)
    metadata = _metadata("chatwatch", "monitoring", release="kube-prometheus-stack")
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": metadata, "spec": {"groups": groups}}


def grafana_alerting_configmap(files: Sequence[Path]) -> dict[str, Any]:
    """Build the ConfigMap ``chatwatch-grafana-alerting`` for Grafana's alert sidecar.

    The sidecar copies every key into Grafana's ``provisioning/alerting`` and reloads it. The
    contact points read ``${CHATWATCH_PAGER_*_URL}`` from Grafana's environment: give Grafana
    the ``chatwatch-grafana-robots`` Secret (secret.example.yaml) as ``envFromSecret``.
    """
    data = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        if not isinstance(yaml.safe_load(text), dict):
            raise RenderError(f"{path.name} is not a Grafana provisioning document")
        data[path.name] = text
    _check_size("chatwatch-grafana-alerting", data)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _metadata("chatwatch-grafana-alerting", "monitoring", grafana_alert="1"),
            "data": data}


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks so rendered files stay readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(objects: Iterable[dict[str, Any]]) -> str:
    """Serialise objects as multi-document YAML for ``kubectl apply -f -``."""
    return yaml.dump_all(list(objects), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                         explicit_start=True)


def render(what: str, repo: Path = REPO, alerting: str = "prometheus") -> list[dict[str, Any]]:
    """Build the objects for one of :data:`KINDS`, for one of :data:`ALERTING_WAYS`."""
    if alerting not in ALERTING_WAYS:
        raise RenderError(f"alerting way {alerting!r} unknown; use prometheus or grafana "
                          "(CHATWATCH_ALERTING)")
    if what in ("rules", "prometheusrule"):
        files = rule_files(repo, alerting)
        if not files:
            raise RenderError(f"no rule files for CHATWATCH_ALERTING={alerting} in "
                              f"{repo / 'alerts' / 'rules'}")
        return [rules_configmap(files) if what == "rules" else prometheus_rule(files)]
    if what == "dashboards":
        files = dashboard_files(repo)
        if not files:
            raise RenderError(f"no dashboards in {repo / 'deploy' / 'grafana' / 'dashboards'}")
        return dashboard_configmaps(files)
    if what == "grafana-alerting":
        files = grafana_alerting_files(repo, alerting)
        if not files:
            raise RenderError(f"no Grafana alerting files for CHATWATCH_ALERTING={alerting}; "
                              "run python -m alerts.rulegen --all")
        return [grafana_alerting_configmap(files)]
    raise RenderError(f"unknown kind {what!r}; use {', '.join(KINDS)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors go to stderr with exit code 2."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=KINDS)
    parser.add_argument("--repo", type=Path, default=REPO, help="repository root")
    parser.add_argument("--alerting", choices=ALERTING_WAYS,
                        default=os.environ.get("CHATWATCH_ALERTING") or "prometheus",
                        help="who evaluates the alerts (default: $CHATWATCH_ALERTING or prometheus)")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(dump(render(args.what, args.repo, args.alerting)))
    except (RenderError, OSError) as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
