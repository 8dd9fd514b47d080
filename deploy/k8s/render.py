"""Render the Kubernetes objects that carry files kept elsewhere in the repository.

kustomize refuses files outside its own directory, so the alert rules (``alerts/rules/*.yml``)
and the Grafana dashboards (``deploy/grafana/dashboards/*.json``) reach the cluster through
this script instead of a ``configMapGenerator``::

    python deploy/k8s/render.py rules          | kubectl apply -f -   # ConfigMap for Prometheus
    python deploy/k8s/render.py dashboards     | kubectl apply -f -   # ConfigMaps for Grafana
    python deploy/k8s/render.py prometheusrule | kubectl apply -f -   # Prometheus Operator

Output is multi-document YAML on stdout. Needs only PyYAML. The objects are plain data built
by the functions below, which the deployment tests call directly.
"""

from __future__ import annotations

import argparse
import json
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


class RenderError(Exception):
    """A source file cannot be turned into a Kubernetes object; the message says which."""


def rule_files(repo: Path = REPO) -> list[Path]:
    """List the Prometheus rule files, sorted (``alerts/rules/*.yml``)."""
    return sorted((repo / "alerts" / "rules").glob("*.yml"))


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


def render(what: str, repo: Path = REPO) -> list[dict[str, Any]]:
    """Build the objects for one of ``rules``, ``dashboards``, ``prometheusrule``."""
    if what == "rules":
        files = rule_files(repo)
        if not files:
            raise RenderError(f"no rule files in {repo / 'alerts' / 'rules'}")
        return [rules_configmap(files)]
    if what == "dashboards":
        files = dashboard_files(repo)
        if not files:
            raise RenderError(f"no dashboards in {repo / 'deploy' / 'grafana' / 'dashboards'}")
        return dashboard_configmaps(files)
    if what == "prometheusrule":
        files = rule_files(repo)
        if not files:
            raise RenderError(f"no rule files in {repo / 'alerts' / 'rules'}")
        return [prometheus_rule(files)]
    raise RenderError(f"unknown kind {what!r}; use rules, dashboards or prometheusrule")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors go to stderr with exit code 2."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["rules", "dashboards", "prometheusrule"])
    parser.add_argument("--repo", type=Path, default=REPO, help="repository root")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(dump(render(args.what, args.repo)))
    except (RenderError, OSError) as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
