"""The board's endpoints, served by the worker (faust) and by ``chatwatch board`` (aiohttp).

=============================  =============================================================
``/``                          the page (``static/index.html``, ``board.js``, ``board.css``)
``/api/summary?shop=``         per shop: today's KPIs vs target, open and at-risk waits
``/api/waits?shop=``           every buyer still waiting, in the order to act (masked refs)
``/api/conversation?shop=&ref=``  one conversation (a pager link): waiting, or what happened
``/api/agents?shop=``          agents ranked by breaches, slow replies, violations today
``/api/violations?shop=&since=&severity=``  latest violations (masked), newest first
``/api/unpaid``, ``/api/lost``   a lead's lists: orders awaiting payment, lost inquiries
                               (``agents/board/lead.py``)
=============================  =============================================================

Every list of ``/api/*`` is one page: ``limit=`` rows (default and largest in
:data:`~agents.board.data.PAGES`), ``more`` says whether there are more, and ``cursor=`` with
the answer's ``next_cursor`` asks for the next page.

One :func:`answer` serves both web servers from a *source*: :class:`~agents.board.data.LocalSource`
on a worker, :class:`~agents.board.merge.MergedSource` on the stand-alone board.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

import msgspec

from agents.board import lead
from agents.board.access import Access, redact_token
from agents.board.data import PAGES, CursorError

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/board.js": ("board.js", "text/javascript; charset=utf-8"),
    "/board.css": ("board.css", "text/css; charset=utf-8"),
    "/lead.js": ("lead.js", "text/javascript; charset=utf-8"),
}
API = ("/api/summary", "/api/waits", "/api/agents", "/api/violations", "/api/conversation",
       *lead.API)
SEVERITIES = ("critical", "warning", "info")
_json = msgspec.json.Encoder()


class BadRequest(ValueError):
    """A query parameter the board cannot use; the message says which and how to fix it."""


def static_files() -> dict[str, tuple[bytes, str]]:
    """Path -> (body, content type) of the page's files, read from the package once."""
    root = files("agents.board") / "static"
    return {path: ((root / name).read_bytes(), ctype) for path, (name, ctype) in STATIC.items()}


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r}: a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}={raw!r}: a whole number from {low} to {high}")
    return value


def _severities(raw: str | None) -> tuple[str, ...] | None:
    if not raw:
        return None
    wanted = tuple(s for s in raw.split(",") if s)
    bad = [s for s in wanted if s not in SEVERITIES]
    if bad:
        raise BadRequest(f"severity={raw!r}: a comma-separated list of {', '.join(SEVERITIES)}")
    return wanted


async def api(source: Any, path: str, query: Mapping[str, str]) -> Any:
    """The JSON of one API path (raises :class:`BadRequest`)."""
    shop = query.get("shop") or None
    name = path.removeprefix("/api/")
    if path not in API:
        raise BadRequest(f"no such endpoint {path}; use one of {', '.join(API)}")
    if path in lead.API:
        return await lead.answer(source, name, shop, query)
    if name == "conversation":
        ref = query.get("ref") or ""
        if not ref:
            raise BadRequest("ref=: the masked conversation ref of a pager link (c-...)")
        prepare = getattr(source, "prepare", None)
        if prepare is not None:
            await prepare(name, shop, ref)
        result = source.conversation(shop, ref)
        return await result if inspect.isawaitable(result) else result
    default, largest = PAGES[name]
    limit = _int(query, "limit", default, 1, largest)
    cursor = query.get("cursor") or None
    try:
        prepare = getattr(source, "prepare", None)
        if prepare is not None:  # a worker's own engine: long reads in slices (LocalSource)
            await prepare(name, shop, limit=limit, cursor=cursor)
        if name == "violations":
            result = source.violations(shop, _int(query, "since", 0, 0, 2**62), limit, cursor,
                                       _severities(query.get("severity")))
        else:
            result = getattr(source, name)(shop, limit, cursor)
        return await result if inspect.isawaitable(result) else result
    except CursorError as exc:
        raise BadRequest(f"cursor={exc}; start without one") from None


async def answer(source: Any, access: Access, static: Mapping[str, tuple[bytes, str]], path: str,
                 headers: Mapping[str, str], query: Mapping[str, str],
                 cookies: Mapping[str, str],
                 secure: bool = False) -> tuple[int, bytes, str, dict[str, str]]:
    """(status, body, content type, headers) of one board request, access checked.

    ``secure``: the request came over HTTPS (a proxy in front says so with
    ``X-Forwarded-Proto``), so the login cookie is marked ``Secure``.
    """
    out_headers = {"Cache-Control": "no-store"}
    if not access.allows(headers, query, cookies):
        body = _json.encode({"error": "the board needs credentials: a token "
                             "(Authorization: Bearer ..., or ?token=...) or basic auth"})
        return 401, body, "application/json", {**out_headers, **access.challenge()}
    if path in static:
        body, ctype = static[path]
        # A link with ?token= logs the browser in; the page's API calls then carry the
        # cookie, and the token does not stay in addresses the page builds.
        secure = secure or headers.get("X-Forwarded-Proto", "").lower() == "https"
        cookie = access.cookie(query.get("token", ""), secure)
        if cookie is not None:
            out_headers["Set-Cookie"] = cookie
        return 200, body, ctype, out_headers
    try:
        result = await api(source, path, query)
    except BadRequest as exc:
        return 400, _json.encode({"error": str(exc)}), "application/json", out_headers
    return 200, _json.encode(result), "application/json", out_headers


def register_board(app: Any, source: Any, access: Access) -> None:
    """Serve the board on a faust app's web server (the worker)."""
    static = static_files()

    def page(path: str) -> None:
        async def view(web: Any, request: Any) -> Any:
            status, body, ctype, headers = await answer(
                source, access, static, path, request.headers, request.query, request.cookies,
                secure=request.secure)
            return web.bytes(body, content_type=ctype.split(";")[0], status=status,
                             headers=headers)

        view.__name__ = view.__qualname__ = "board" + path.replace("/", "_").replace(".", "_")
        app.page(path, name=view.__name__)(view)

    for path in (*STATIC, *API):
        page(path)


def access_logger_class() -> Any:
    """aiohttp's access logger, but a ``?token=`` in a request line or Referer is redacted."""
    from aiohttp.web_log import AccessLogger

    class RedactingAccessLogger(AccessLogger):
        def _format_line(self, request: Any, response: Any, time: float) -> Any:
            return tuple((key, redact_token(value) if isinstance(value, str) else value)
                         for key, value in super()._format_line(request, response, time))

    return RedactingAccessLogger


def aiohttp_app(source: Any, access: Access) -> Any:
    """The board as a plain aiohttp application (``chatwatch board``, the benchmark)."""
    from aiohttp import web

    static = static_files()

    async def handler(request: web.Request) -> web.Response:
        status, body, ctype, headers = await answer(
            source, access, static, request.path, request.headers, request.query,
            request.cookies, secure=request.secure)
        ctype, _, charset = ctype.partition("; charset=")
        return web.Response(body=body, status=status, content_type=ctype,
                            charset=charset or None, headers=headers)

    app = web.Application()
    for path in (*STATIC, *API):
        app.router.add_get(path, handler)
    return app


def serve_on_worker(app: Any, settings: Any, engine: Any, feed: Any, owned: Any) -> None:
    """The worker's board: its own engine and feed (raises ConfigError when open off loopback)."""
    from agents.board.data import LocalSource, watermark_now

    access = Access.from_settings(settings)
    register_board(app, LocalSource(engine, feed, owned, lambda: watermark_now(engine, owned())),
                   access)
