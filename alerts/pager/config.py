"""Pager bridge configuration: the bearer token and the robot targets, from YAML and the env.

YAML (``--pager-config`` or ``CHATWATCH_PAGER_CONFIG``)::

    token: change-me                # or CHATWATCH_PAGER_TOKEN / --token
    board_url: https://chatwatch.example.com   # notices link to the board (CHATWATCH_BOARD_URL)
    targets:
      - name: ops                   # ?target=ops on the webhook URL selects only this target
        kind: dingtalk              # dingtalk | wecom | feishu | slack | webhook | console
        url: https://oapi.dingtalk.com/robot/send?access_token=...
        secret: SEC...              # DingTalk / Feishu signing secret (optional)
        severities: [page]          # only these severities (default: all)
        default: true               # receives webhooks that name no target (default: true)
      - name: local
        kind: console               # no robot: append the notice text to a file
        path: pager-notices.log     # (omit or "-" for standard output)

Environment shortcuts add one default target per kind: ``CHATWATCH_PAGER_DINGTALK_URL`` (+
``_SECRET``), ``CHATWATCH_PAGER_WECOM_URL``, ``CHATWATCH_PAGER_FEISHU_URL`` (+ ``_SECRET``),
``CHATWATCH_PAGER_SLACK_URL``, ``CHATWATCH_PAGER_WEBHOOK_URL``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts.errors import PagerConfigError

KINDS = ("dingtalk", "wecom", "feishu", "slack", "webhook", "console")
# Kinds that post to a robot URL; ``console`` writes locally (``chatwatch run``, trials).
ROBOT_KINDS = KINDS[:-1]


@dataclass(frozen=True)
class Target:
    """One robot or webhook that receives notices."""

    name: str
    kind: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    severities: tuple[str, ...] = ()
    default: bool = True
    path: str | None = None     # console targets: file to append to; None or "-" = stdout

    def wants(self, severity: str) -> bool:
        """Whether this target takes notices of ``severity``."""
        return not self.severities or severity in self.severities


@dataclass(frozen=True)
class PagerConfig:
    """Validated bridge configuration."""

    token: str = field(repr=False)
    targets: tuple[Target, ...] = ()
    dedup_seconds: float = 1800.0   # Alertmanager retries and HA peers within this are dropped
    timezone: str = "Asia/Shanghai"
    board_url: str | None = None  # notices link to the board here (CHATWATCH_BOARD_URL)

    def target(self, name: str) -> Target | None:
        """Return the target called ``name``, if any."""
        return next((t for t in self.targets if t.name == name), None)


def _target(where: str, raw: Any) -> Target:
    if not isinstance(raw, Mapping):
        raise PagerConfigError(f"bad pager configuration {where}={raw!r}: a mapping with "
                               "name, kind and url")
    unknown = set(raw) - {"name", "kind", "url", "secret", "severities", "default", "path"}
    if unknown:
        key = sorted(unknown)[0]
        raise PagerConfigError(f"bad pager configuration {where}.{key}: unknown key; use name, "
                               "kind, url, secret, severities, default (console: path)")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise PagerConfigError(f"bad pager configuration {where}.kind={kind!r}: use one of "
                               + ", ".join(KINDS))
    url = raw.get("url")
    path = raw.get("path")
    if kind == "console":
        if path is not None and not isinstance(path, str):
            raise PagerConfigError(f"bad pager configuration {where}.path={path!r}: a file "
                                   "path, or - for standard output")
        url = ""
    elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise PagerConfigError(f"bad pager configuration {where}.url={url!r}: an http(s) URL")
    severities = raw.get("severities") or []
    if not isinstance(severities, list) or not all(isinstance(s, str) for s in severities):
        raise PagerConfigError(f"bad pager configuration {where}.severities={severities!r}: "
                               "a list such as [page, warning]")
    return Target(name=str(raw.get("name") or kind), kind=kind, url=url,
                  secret=str(raw["secret"]) if raw.get("secret") else None,
                  severities=tuple(severities), default=bool(raw.get("default", True)),
                  path=path if kind == "console" else None)


def load_pager_config(path: str | Path | None = None, token: str | None = None,
                      environ: Mapping[str, str] | None = None) -> PagerConfig:
    """Read the YAML file (optional) and the environment; ``token`` overrides both."""
    env = os.environ if environ is None else environ
    path = path or env.get("CHATWATCH_PAGER_CONFIG") or None
    doc: dict[str, Any] = {}
    if path is not None:
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PagerConfigError(f"cannot read pager configuration {path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise PagerConfigError(f"pager configuration {path}: expected a mapping at top level")
    raw_targets = doc.get("targets") or []
    if not isinstance(raw_targets, list):
        raise PagerConfigError(f"bad pager configuration targets={raw_targets!r}: a list")
    targets = [_target(f"targets[{i}]", t) for i, t in enumerate(raw_targets)]
    for kind in ROBOT_KINDS:
        url = env.get(f"CHATWATCH_PAGER_{kind.upper()}_URL")
        if url:
            targets.append(_target(f"CHATWATCH_PAGER_{kind.upper()}_URL", {
                "name": kind, "kind": kind, "url": url,
                "secret": env.get(f"CHATWATCH_PAGER_{kind.upper()}_SECRET")}))
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PagerConfigError(f"bad pager configuration: target name {duplicates[0]!r} is used "
                               "twice; give each target its own name")
    final_token = token or env.get("CHATWATCH_PAGER_TOKEN") or doc.get("token")
    if not final_token:
        raise PagerConfigError("the pager bridge needs a token: pass --token, set "
                               "CHATWATCH_PAGER_TOKEN or put token: in the pager configuration")
    dedup = doc.get("dedup_seconds", 1800.0)
    if isinstance(dedup, bool) or not isinstance(dedup, int | float) or dedup < 0:
        raise PagerConfigError(f"bad pager configuration dedup_seconds={dedup!r}: seconds >= 0")
    board = env.get("CHATWATCH_BOARD_URL") or doc.get("board_url") or None
    if board is not None and not str(board).startswith(("http://", "https://")):
        raise PagerConfigError(f"bad pager configuration board_url={board!r}: the board's "
                               "public base URL, e.g. https://chatwatch.example.com")
    return PagerConfig(token=str(final_token), targets=tuple(targets), dedup_seconds=float(dedup),
                       timezone=str(doc.get("timezone") or "Asia/Shanghai"),
                       board_url=str(board) if board else None)
