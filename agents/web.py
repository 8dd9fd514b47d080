"""HTTP views on the worker's web server: ``/metrics``, ``/figures``, ``POST /check``, ``/health``."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import faust
from faust.web import View
from prometheus_client import CollectorRegistry

from agents.board.access import Access
from agents.board.data import counting_notes
from agents.board.http import serve_on_worker
from agents.check_pool import (  # noqa: F401 - CheckRequest and the parser live on here
    CHECK_MAX_DEPTH,
    REFUSAL_DELAY_SECONDS,
    RETRY_AFTER_SECONDS,
    CheckPool,
    CheckRequest,
    parse_check_request,
)
from agents.pipeline import Pipeline
from stream.config import Settings
from stream.core.engine import Engine
from stream.report.conversion import figures_view

log = logging.getLogger(__name__)


def check_allowed(settings: Settings, headers: Mapping[str, str]) -> bool:
    """Whether a ``POST /check`` may be served: credentials whenever any are configured.

    Its own token, the board's token or the board's basic credentials each let a request in;
    only in headers: a token in the address ends up in logs, and a cookie would let any page
    the supervisor has open post checks in their name.
    """
    tokens = [t for t in (settings.check_token, settings.board_token) if t]
    rules = [Access(token=t) for t in tokens]
    if settings.board_basic_auth:
        rules.append(Access(basic=settings.board_basic_auth))
    return not rules or any(rule.allows(headers, {}, {}) for rule in rules)


def metrics_allowed(settings: Settings, headers: Mapping[str, str]) -> bool:
    """Whether ``/metrics`` may be served: ``Authorization: Bearer <metrics_token>`` when set."""
    expected = settings.metrics_token
    if not expected:
        return True
    header = headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    return hmac.compare_digest(given.encode(), expected.encode())


def is_json(content_type: str) -> bool:
    """Whether a request's media type (parameters stripped) is JSON.

    Only JSON: a web page can post ``text/plain`` (and forms) to any address without asking,
    while a JSON body needs the server's consent (CORS), which this server never gives.
    """
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json"


def register_views(app: faust.App, settings: Settings, registry: CollectorRegistry,
                   engine: Engine, pipeline: Pipeline, owned: Callable[[], list[int]],
                   health: Callable[[], tuple[bool, dict[str, Any]]]) -> None:
    """Attach the chatwatch views to ``app``'s web server (and the board, ``agents.board``)."""
    serve_on_worker(app, settings, engine, pipeline.board, owned)
    board_access = Access.from_settings(settings)
    checks = CheckPool(settings.content, settings.policies, settings.check_concurrency,
                       settings.check_processes)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        if not metrics_allowed(settings, request.headers):
            return web.json({"error": "/metrics needs Authorization: Bearer <the metrics "
                                      "token, CHATWATCH_METRICS_TOKEN>"}, status=401,
                            headers={"WWW-Authenticate": 'Bearer realm="chatwatch metrics"'})
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 anyway.
        # The engine is read on the loop in slices, the text written in a thread.
        body = await pipeline.metrics.scrape()
        return web.bytes(body, content_type="text/plain; version=0.0.4")

    @app.page("/health")
    async def health_view(web: Any, request: Any) -> Any:
        """200 when ready (assigned, restored, caught up), else 503 with the reason."""
        ok, body = health()
        return web.json(body, status=200 if ok else 503)

    @app.page("/figures")
    async def figures(web: Any, request: Any) -> Any:
        """Daily figures of the partitions this worker owns (report format), and conversion.

        ``conversion``: the §7 figures per shop-day (with ``settled``) and per agent, ranked.
        The board's credentials apply: the figures are its data.
        """
        if not board_access.allows(request.headers, request.query, request.cookies):
            return web.json({"error": "/figures needs the board's credentials (Authorization: "
                                      "Bearer <CHATWATCH_BOARD_TOKEN>, or basic auth)"},
                            status=401, headers=board_access.challenge())
        day = request.query.get("day")
        rows = engine.book(owned()).report()
        if day:
            try:
                date.fromisoformat(day)
            except ValueError:
                return web.json({"error": f"day={day!r}: use YYYY-MM-DD"}, status=400)
            rows = [r for r in rows if r.day == day]
        return web.json({"partitions": owned(), "figures": [r.as_dict() for r in rows],
                         "not_counting": counting_notes(engine, owned()),
                         "conversion": figures_view(engine, owned(), day)})

    @app.page("/check")
    class CheckView(View):
        """Pre-send check of a reply: ``{"text": ..., "platform": ..., "shop_id": ...}``."""

        async def get(self, request: Any) -> Any:
            return self.json({"error": "use POST with a JSON body {\"text\": ...}"}, status=405)

        async def post(self, request: Any) -> Any:
            if not check_allowed(settings, request.headers):
                return self.json({"error": "missing or wrong token"}, status=401)
            if not is_json(request.headers.get("Content-Type", "")):
                return self.json({"error": "send the body as Content-Type: application/json"},
                                 status=415)
            with checks.slot() as free:
                if not free:
                    await asyncio.sleep(REFUSAL_DELAY_SECONDS)
                    return self.json(
                        {"error": f"more than {checks.concurrency} checks at once; try again "
                                  f"in {RETRY_AFTER_SECONDS} s"},
                        status=429, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
                raw = await _read_body(request, CHECK_MAX_BODY_BYTES)
                if raw is None:
                    return self.json({"error": f"the body is larger than "
                                               f"{CHECK_MAX_BODY_BYTES} bytes"}, status=413)
                status, answer = await checks.check(raw)
            return self.json(answer, status=status)

    @app.on_before_shutdown.connect
    async def _stop_checks(sender: Any, *args: Any, **kwargs: Any) -> None:
        checks.close()


# POST /check: the largest body read (README); parsing and nesting: agents.check_pool.
CHECK_MAX_BODY_BYTES = 1 << 20


async def _read_body(request: Any, limit: int) -> bytes | None:
    """The request body, or None when it is longer than ``limit`` bytes (read no further)."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
