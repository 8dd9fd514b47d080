"""HTTP views on the worker's web server: ``/metrics``, ``/figures``, ``POST /check``, ``/health``."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

import faust
import msgspec
from faust.web import View
from prometheus_client import CollectorRegistry, generate_latest

from agents.board.data import counting_notes
from agents.board.http import serve_on_worker
from agents.pipeline import Pipeline
from stream.check import check_text
from stream.config import Settings
from stream.core.engine import Engine

log = logging.getLogger(__name__)


def _token_ok(settings: Settings, request: Any) -> bool:
    expected = settings.check_token
    if not expected:
        return True
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    given = given or request.headers.get("X-Chatwatch-Token", "")
    return hmac.compare_digest(given.encode(), expected.encode())


def register_views(app: faust.App, settings: Settings, registry: CollectorRegistry,
                   engine: Engine, pipeline: Pipeline, owned: Callable[[], list[int]]) -> None:
    """Attach the chatwatch views to ``app``'s web server (and the board, ``agents.board``)."""
    serve_on_worker(app, settings, engine, pipeline.board, owned)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 anyway.
        return web.bytes(generate_latest(registry), content_type="text/plain; version=0.0.4")

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "partitions": owned()})

    @app.page("/figures")
    async def figures(web: Any, request: Any) -> Any:
        """Daily figures of the partitions this worker owns (JSON list, report format)."""
        day = request.query.get("day")
        rows = engine.book(owned()).report()
        if day:
            try:
                date.fromisoformat(day)
            except ValueError:
                return web.json({"error": f"day={day!r}: use YYYY-MM-DD"}, status=400)
            rows = [r for r in rows if r.day == day]
        return web.json({"partitions": owned(), "figures": [r.as_dict() for r in rows],
                         "not_counting": counting_notes(engine, owned())})

    @app.page("/check")
    class CheckView(View):
        """Pre-send check of a reply: ``{"text": ..., "platform": ...}`` -> violations."""

        async def get(self, request: Any) -> Any:
            return self.json({"error": "use POST with a JSON body {\"text\": ...}"}, status=405)

        async def post(self, request: Any) -> Any:
            if not _token_ok(settings, request):
                return self.json({"error": "missing or wrong token"}, status=401)
            try:
                body = msgspec.json.decode(await request.read())
            except msgspec.DecodeError:
                return self.json({"error": "the body must be JSON"}, status=400)
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                return self.json({"error": "the body needs a string field `text`"}, status=400)
            platform = body.get("platform") or settings.default_platform
            role = body.get("role") or "agent"
            if not isinstance(platform, str) or role not in ("agent", "bot", "buyer"):
                return self.json({"error": "platform must be a string, role agent|bot|buyer"},
                                 status=400)
            violations = check_text(pipeline.detector, settings.policies, body["text"],
                                    platform, role="buyer" if role == "buyer" else "agent")
            return self.json({"violations": violations})
