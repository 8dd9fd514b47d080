"""HTTP views on the worker's web server: ``/metrics``, ``/figures``, ``POST /check``, ``/health``."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import date
from typing import Any, Literal

import faust
import msgspec
from faust.web import View
from prometheus_client import CollectorRegistry

from agents.board.data import counting_notes
from agents.board.http import serve_on_worker
from agents.pipeline import Pipeline
from stream.check import check_text
from stream.config import Settings
from stream.core.engine import Engine
from stream.report.conversion import figures_view

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
                   engine: Engine, pipeline: Pipeline, owned: Callable[[], list[int]],
                   health: Callable[[], tuple[bool, dict[str, Any]]]) -> None:
    """Attach the chatwatch views to ``app``'s web server (and the board, ``agents.board``)."""
    guard = engine.guard or settings.content.guard()
    serve_on_worker(app, settings, engine, pipeline.board, owned)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
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
        """
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
            if not _token_ok(settings, request):
                return self.json({"error": "missing or wrong token"}, status=401)
            raw = await _read_body(request, CHECK_MAX_BODY_BYTES)
            if raw is None:
                return self.json({"error": f"the body is larger than {CHECK_MAX_BODY_BYTES} "
                                           f"bytes"}, status=413)
            parsed = parse_check_request(raw)
            if isinstance(parsed, str):
                return self.json({"error": parsed}, status=400)
            result = check_text(guard, settings.policies, parsed.text,
                                parsed.platform or None,
                                role="buyer" if parsed.role == "buyer" else "agent",
                                shop_id=parsed.shop_id)
            return self.json(result)


# POST /check: the largest body read, and how deeply a body may nest (README).
CHECK_MAX_BODY_BYTES = 1 << 20
CHECK_MAX_DEPTH = 32


class CheckRequest(msgspec.Struct, frozen=True):
    """The body of ``POST /check``; unknown fields are ignored."""

    text: str
    platform: str | None = None
    role: Literal["agent", "bot", "buyer"] = "agent"
    shop_id: str | None = None


_check_decoder = msgspec.json.Decoder(CheckRequest)


def parse_check_request(raw: bytes) -> CheckRequest | str:
    """The request, or a one-line reason why the body is not one (answered with 400)."""
    if raw.count(b"[") + raw.count(b"{") > CHECK_MAX_DEPTH and _depth(raw) > CHECK_MAX_DEPTH:
        return f"the body nests deeper than {CHECK_MAX_DEPTH} levels"
    try:
        return _check_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return f"the body must be a JSON object with a string field `text`: {exc}"
    except msgspec.DecodeError as exc:
        return f"the body must be JSON (UTF-8): {exc}"
    except UnicodeDecodeError:
        return "the body must be JSON (UTF-8): it is not valid UTF-8"
    except (RecursionError, ValueError, OverflowError) as exc:
        return f"the body is not a check request: {type(exc).__name__}"


def _depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > CHECK_MAX_DEPTH:
                    return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


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
