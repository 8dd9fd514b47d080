"""``chatwatch board``: one board for many workers, merged from their JSON APIs.

    chatwatch board --workers http://w0:6066,http://w1:6066 [--port 6067]
    chatwatch board --discover chatwatch-workers.chatwatch.svc.cluster.local:6066

The same page as each worker's ``/``, over every worker: a supervisor opens one address
whatever the partition count. With ``--discover`` the workers are the addresses of a
Kubernetes headless service, resolved again every few seconds (a scaled StatefulSet is seen
without a restart). Credentials as on the worker (``CHATWATCH_BOARD_TOKEN`` ...); the same
token is sent to the workers unless ``--worker-token`` names another.
"""

from __future__ import annotations

import time
from typing import Any

import click

from stream.config import Settings
from stream.errors import ConfigError
from stream.listen import check_listen, url_host

REDISCOVER_SECONDS = 5.0


class Workers:
    """The worker URLs: a fixed list, or a headless service resolved at most every 5 s."""

    def __init__(self, urls: list[str], service: str | None) -> None:
        self.urls = urls
        self.service = service
        self._found: list[str] = []
        self._at = 0.0

    def __call__(self) -> list[str]:
        if not self.service:
            return self.urls
        from agents.board.merge import discover

        now = time.monotonic()
        if now - self._at >= REDISCOVER_SECONDS:
            try:
                self._found = discover(self.service)
            except OSError:
                self._found = []  # the service has no ready pods: shown as no workers
            self._at = now
        return [*self.urls, *self._found]


def parse_workers(value: str | None) -> list[str]:
    """``URL,URL…`` -> a list; each must be an http(s) base URL."""
    urls = [u.strip().rstrip("/") for u in (value or "").split(",") if u.strip()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{url!r}: a worker's base URL, e.g. http://worker-0:6066",
                                     param_hint="--workers")
    return urls


@click.command("board")
@click.option("--workers", "workers_flag", metavar="URL,URL…",
              help="Base URLs of the workers' web servers.")
@click.option("--discover", "service", metavar="SERVICE[:PORT]",
              help="A Kubernetes headless service whose addresses are the workers (port 6066).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=6067, show_default=True)
@click.option("--worker-token", help="Token sent to the workers (default: the board's own).")
@click.pass_obj
def board_command(ctx: Any, workers_flag: str | None, service: str | None, host: str, port: int,
                  worker_token: str | None) -> None:
    """Serve the supervisor's board merged over several workers (a down worker is shown)."""
    from aiohttp import web

    from agents.board.access import Access
    from agents.board.http import access_logger_class, aiohttp_app
    from agents.board.merge import MergedSource
    from agents.runbook import add_runbook

    settings: Settings = ctx.settings
    urls = parse_workers(workers_flag)
    if not urls and not service:
        raise ConfigError("--workers", None, "name the workers (--workers URL,URL…) or a "
                          "headless service to discover them (--discover NAME:PORT)")
    access = Access.from_settings(settings, host=host)
    source = MergedSource(Workers(urls, service),
                          token=worker_token or settings.board_token or settings.check_token)
    app = aiohttp_app(source, access)
    add_runbook(app)  # the alerts' runbook_url leads here too

    async def close(_: Any) -> None:
        await source.close()

    app.on_cleanup.append(close)
    check_listen(host, port, "--host", "--port", "--port")  # one clear line, not a traceback
    click.echo(f"chatwatch board: http://{url_host(host)}:{port}/ over "
               f"{', '.join(urls) or ''}{' + ' if urls and service else ''}"
               f"{service or ''}", err=True)
    web.run_app(app, host=host, port=port, print=None, access_log_class=access_logger_class())
