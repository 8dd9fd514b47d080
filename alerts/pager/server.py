"""The pager bridge: Alertmanager webhooks in, DingTalk/WeCom/Feishu/Slack/webhook messages out.

``POST /alerts`` takes an Alertmanager webhook (version 4). The caller must present the token
as ``Authorization: Bearer <token>`` or ``?token=<token>``. ``?target=NAME`` delivers to that
target only; otherwise every ``default`` target whose severities match gets the notice.

Dedup: an alert (fingerprint) is delivered to a target once per status within
``dedup_seconds``, so Alertmanager's retries, HA peers and overlapping receivers do not repeat
a page, while a resolved notice and a later re-fire still go out. A breach alert whose count
has grown since it was delivered is news: Alertmanager's repeat of it goes out. An entry is recorded only
after the target accepted the message; if any target fails the bridge answers 502, so
Alertmanager retries and only the failed targets are tried again.

``GET /healthz`` answers without a token.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp
import click
from aiohttp import web

from alerts.pager.config import PagerConfig, Target, load_pager_config
from alerts.pager.console import write_notice
from alerts.pager.render import Notice, notices
from alerts.pager.robots import BUILDERS, accepted

log = logging.getLogger(__name__)
MAX_REMEMBERED = 20_000


class Deduper:
    """Remembers ``(target, fingerprint) -> (status, when)`` for ``ttl`` seconds (bounded)."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.clock = clock
        self._seen: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    def is_new(self, target: str, fingerprint: str, status: str) -> bool:
        """Whether this status of this alert has not been delivered to ``target`` lately."""
        hit = self._seen.get((target, fingerprint))
        return hit is None or hit[0] != status or self.clock() - hit[1] > self.ttl

    def remember(self, target: str, fingerprint: str, status: str) -> None:
        """Record a delivery."""
        key = (target, fingerprint)
        self._seen.pop(key, None)
        self._seen[key] = (status, self.clock())
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)


def _state(notice: Notice, alert: dict[str, Any]) -> str:
    """What a delivery of ``alert`` told: its status, and the count a breach alert carries."""
    count = (alert.get("annotations") or {}).get("count")
    return f"{notice.status}:{count}" if count else notice.status


def _authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
    return hmac.compare_digest(given.encode(), token.encode())


class Bridge:
    """Delivers notices to targets; one instance per app."""

    def __init__(self, config: PagerConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.dedup = Deduper(config.dedup_seconds, time.monotonic)
        self.session: aiohttp.ClientSession | None = None

    def targets_for(self, request: web.Request, notice: Notice) -> list[Target]:
        """Targets that should get ``notice`` from this request."""
        name = request.query.get("target")
        if name:
            target = self.config.target(name)
            return [target] if target else []
        return [t for t in self.config.targets if t.default and t.wants(notice.severity)]

    async def deliver(self, notice: Notice, target: Target) -> bool:
        """Post ``notice`` to ``target`` unless every alert of it was delivered as it is."""
        fresh = [a for a in notice.alerts
                 if self.dedup.is_new(target.name, a.get("fingerprint", ""), _state(notice, a))]
        if not fresh:
            return True
        if target.kind == "console":
            try:
                write_notice(notice, target, self.clock(), self.config.timezone)
            except OSError as exc:
                log.warning("pager target %s (console) cannot write %s: %s", target.name,
                            target.path, exc)
                return False
            for alert in fresh:
                self.dedup.remember(target.name, alert.get("fingerprint", ""),
                                    _state(notice, alert))
            return True
        url, body = BUILDERS[target.kind](notice, target, self.clock())
        assert self.session is not None
        try:
            async with self.session.post(url, json=body) as resp:
                try:
                    answer: Any = await resp.json(content_type=None)
                except ValueError:
                    answer = None
                ok = accepted(target.kind, resp.status, answer)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("pager target %s (%s) unreachable: %s", target.name, target.kind,
                        exc.__class__.__name__)
            return False
        if not ok:
            log.warning("pager target %s (%s) refused the message: HTTP %d %s",
                        target.name, target.kind, status, answer)
            return False
        for alert in fresh:
            self.dedup.remember(target.name, alert.get("fingerprint", ""), _state(notice, alert))
        return True

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /alerts``."""
        if not _authorized(request, self.config.token):
            return web.json_response({"error": "missing or wrong token"}, status=401)
        name = request.query.get("target")
        if name and self.config.target(name) is None:
            return web.json_response({"error": f"unknown target {name!r}; configured: "
                                      f"{[t.name for t in self.config.targets]}"}, status=404)
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
            return web.json_response({"error": "not an Alertmanager webhook (no alerts list)"},
                                     status=400)
        jobs = [(n, t) for n in notices(payload, self.config.timezone,
                                       self.config.board_url)
                for t in self.targets_for(request, n)]
        results = await asyncio.gather(*(self.deliver(n, t) for n, t in jobs))
        failed = [t.name for (_, t), ok in zip(jobs, results, strict=True) if not ok]
        if failed:
            return web.json_response({"failed": failed}, status=502)
        return web.json_response({"delivered": len(jobs)})


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


BRIDGE = web.AppKey("bridge", Bridge)


def create_app(config: PagerConfig, clock: Callable[[], float] = time.time) -> web.Application:
    """Build the bridge application (the app factory; tests pass a fixed ``clock``)."""
    bridge = Bridge(config, clock)
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[BRIDGE] = bridge

    async def session_ctx(app: web.Application) -> Any:
        bridge.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        yield
        await bridge.session.close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/alerts", bridge.handle)
    app.router.add_get("/healthz", _healthz)
    return app


@click.command("pager")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9095, show_default=True, type=int, help="Port to listen on.")
@click.option("--token", envvar="CHATWATCH_PAGER_TOKEN",
              help="Bearer token Alertmanager must send (also CHATWATCH_PAGER_TOKEN).")
@click.option("--pager-config", type=click.Path(exists=True, dir_okay=False),
              envvar="CHATWATCH_PAGER_CONFIG", help="YAML file with the robot targets.")
def pager(host: str, port: int, token: str | None, pager_config: str | None) -> None:
    """Run the pager bridge: Alertmanager webhooks to DingTalk/WeCom/Feishu/Slack robots."""
    config = load_pager_config(pager_config, token=token)
    if not config.targets:
        log.warning("pager bridge has no targets: notices will be accepted and dropped")
    log.info("pager bridge on %s:%d with targets %s", host, port,
             ", ".join(f"{t.name}({t.kind})" for t in config.targets) or "none")
    web.run_app(create_app(config), host=host, port=port, print=None)
