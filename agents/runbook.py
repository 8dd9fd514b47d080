"""``GET /runbook/<AlertName>``: the alert's runbook page, on the worker and on the board.

The route every alert's ``runbook_url`` leads to (:mod:`alerts.runbook` holds the pages).
The pages are documentation only, no figures of any shop, so they need no credentials: a
supervisor opens the link from a robot message on a phone without logging in.
"""

from __future__ import annotations

from typing import Any

from alerts.runbook import RUNBOOK_PATH, not_found, page

ROUTE = RUNBOOK_PATH + "/{name}"
_HTML = "text/html"
_TEXT = "text/plain"


def answer(name: str) -> tuple[int, bytes, str]:
    """(status, body, content type) of one runbook request."""
    body = page(name)
    if body is None:
        return 404, not_found(name), _TEXT
    return 200, body, _HTML


def register_runbook(app: Any) -> None:
    """Serve the runbook pages on a faust app's web server (the worker)."""
    @app.page(ROUTE, name="runbook")
    async def runbook(web: Any, request: Any, name: str) -> Any:
        status, body, ctype = answer(name)
        return web.bytes(body, content_type=ctype, status=status)


def add_runbook(app: Any) -> None:
    """Serve the runbook pages on a plain aiohttp application (``chatwatch board``)."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        status, body, ctype = answer(request.match_info["name"])
        return web.Response(body=body, status=status, content_type=ctype, charset="utf-8")

    app.router.add_get(ROUTE, handler)
