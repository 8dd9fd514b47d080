"""Shared helpers for the offline deployment checks (no Docker engine, no cluster)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"

# The environment a worker reads (stream.config); nothing else may be set on a worker.
WORKER_ENV = frozenset({
    "KAFKA_BROKER", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE",
    "CHATWATCH_CONFIG", "CHATWATCH_STORE", "CHATWATCH_DATA_DIR", "CHATWATCH_WEB_HOST",
    "CHATWATCH_WEB_PORT", "CHATWATCH_CHECK_TOKEN", "CHATWATCH_METRICS_TOKEN",
    "CHATWATCH_ALERTMANAGER_URL",
    "CHATWATCH_PARTITIONS", "CHATWATCH_REPLICATION_FACTOR",
})
TOPICS = ("chat.events", "chat.events.dlq", "chat.breaches", "chat.violations")
# Names of settings that hold secrets (paths to key files are not secrets).
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|SECRET|CREDENTIAL)", re.IGNORECASE)

# Compose interpolation: $$ escapes, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
# ${VAR?error}, $VAR.
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(Exception):
    """A ``${VAR:?message}`` reference whose variable is unset or empty."""


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Resolve compose ``${...}`` references in one string the way ``docker compose`` does."""

    def sub(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset:
            return arg
        return current or ""

    return _INTERPOLATION.sub(sub, value)


def references(value: str) -> list[tuple[str, str | None, str]]:
    """The ``(name, operator, argument)`` of every variable referenced in a string."""
    out = []
    for match in _INTERPOLATION.finditer(value):
        name = match.group("braced") or match.group("bare")
        if name:
            out.append((name, match.group("op"), match.group("arg") or ""))
    return out


def walk_strings(node: Any) -> list[str]:
    """Every string value (not key) anywhere in a parsed YAML tree."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, Mapping):
        return [s for v in node.values() for s in walk_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in walk_strings(v)]
    return []


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's ``environment`` as a dict, whichever of the two forms it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def load_docs(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a file."""
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """deploy/docker-compose.yml, parsed (YAML anchors and merge keys resolved)."""
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    assert isinstance(doc, dict), "docker-compose.yml must hold a mapping"
    return doc


@pytest.fixture(scope="session")
def worker_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run ``chatwatch worker``."""
    return {name: svc for name, svc in compose["services"].items()
            if (svc.get("command") or [None])[0] == "worker"}
