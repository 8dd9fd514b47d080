"""The Grafana dashboards' panel queries, ready for a bare Prometheus.

Grafana variables are replaced by values Prometheus understands, so tests can send every query
to a real Prometheus.

``panel_queries(path)`` accepts one dashboard JSON file or a directory of them and returns
``(dashboard title, panel title, expr)`` for every query of every panel (rows included).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

DASHBOARDS_DIR = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards"

# What Grafana would put in: "All" for multi-value variables, ranges that cover a short test.
DEFAULT_VARIABLES: dict[str, str] = {
    "shop": ".*",
    "kpi": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}


def substitute(expr: str, variables: Mapping[str, str] | None = None) -> str:
    """Replace ``$name``, ``${name}`` and ``[[name]]`` with their values."""
    values = {**DEFAULT_VARIABLES, **(variables or {})}

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise KeyError(f"dashboard variable ${name} has no test value; pass it in variables")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def panel_queries(path: str | Path = DASHBOARDS_DIR,
                  variables: Mapping[str, str] | None = None,
                  raw: bool = False) -> list[tuple[str, str, str]]:
    """Return ``(dashboard, panel_title, expr)`` for every panel query under ``path``.

    Variables are substituted unless ``raw`` is true.
    """
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    out = []
    for file in files:
        doc = json.loads(file.read_text(encoding="utf-8"))
        for panel in _panels(doc.get("panels", [])):
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if expr:
                    out.append((doc["title"], panel.get("title", ""),
                                expr if raw else substitute(expr, variables)))
    return out
