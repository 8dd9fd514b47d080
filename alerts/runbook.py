"""The alerts' runbook pages: one section of ``alerts/runbook.md`` per alert, as HTML.

Every alert carries ``runbook_url`` = ``<base>/<AlertName>``. The worker's web server and the
stand-alone board (``chatwatch board``) both serve ``/runbook/<AlertName>`` from this module
(:mod:`agents.runbook` registers the route), so the link in a notice opens the section of the
alert it is about; ``<base>`` is the board's public address (``board_url``) + ``/runbook``, or
the path ``/runbook`` alone, which the pager bridge resolves against its own ``board_url``.

The text ships inside the package (``alerts/runbook.md`` is package data): the production image
has no ``docs/``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from urllib.parse import urljoin

RUNBOOK_PATH = "/runbook"
SOURCE = "runbook.md"


@dataclass(frozen=True)
class Section:
    """One alert's runbook: its name as written in the heading, and its Markdown text."""

    name: str
    text: str


def parse(markdown: str) -> dict[str, Section]:
    """Alert name in lower case -> its section (each ``## Name`` heading starts one)."""
    out: dict[str, Section] = {}
    name = ""
    lines: list[str] = []
    for line in [*markdown.splitlines(), "## "]:
        if line.startswith("## "):
            if name:
                out[name.lower()] = Section(name, "\n".join(lines).strip("\n"))
            name, lines = line[3:].strip(), []
        elif name:
            lines.append(line)
    return out


@cache
def sections() -> dict[str, Section]:
    """The sections of the packaged ``alerts/runbook.md`` (read once)."""
    return parse((files("alerts") / SOURCE).read_text(encoding="utf-8"))


def runbook_url(base: str, alertname: str) -> str:
    """The link of one alert's runbook under ``base`` (a URL or the path ``/runbook``)."""
    return f"{base.rstrip('/')}/{alertname}"


def resolve(url: str, board_url: str | None) -> str:
    """``url`` made absolute against the board's address when it is a path (``/runbook/X``).

    A rule rendered without a board address carries the path alone; whoever shows the link
    (the pager bridge) knows the board and completes it. An absolute URL is kept as it is.
    """
    if board_url and url.startswith("/") and not url.startswith("//"):
        return urljoin(board_url.rstrip("/") + "/", url.lstrip("/"))
    return url


_CODE = re.compile(r"`([^`]+)`")
_STYLE = ("body{font:16px/1.5 -apple-system,'PingFang SC','Microsoft YaHei',sans-serif;"
          "max-width:46em;margin:1em auto;padding:0 1em}"
          "p{white-space:pre-line}code{background:#f3f3f3;padding:0 .2em}")


def _inline(text: str) -> str:
    return _CODE.sub(r"<code>\1</code>", html.escape(text, quote=False))


def page(name: str) -> bytes | None:
    """The HTML page of one alert's runbook (name in any case), or None when it has none."""
    section = sections().get(name.lower())
    if section is None:
        return None
    blocks = [b for b in re.split(r"\n\s*\n", section.text) if b.strip()]
    body = "".join(f"<p>{_inline(b)}</p>" for b in blocks)
    title = html.escape(section.name)
    return (f'<!doctype html><html lang="zh"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{title} · chatwatch runbook</title><style>{_STYLE}</style></head>"
            f"<body><h1>{title}</h1>{body}</body></html>").encode()


def not_found(name: str) -> bytes:
    """The 404 body: which alert has no runbook, and which do."""
    known = ", ".join(s.name for s in sections().values())
    return (f"no runbook for {name!r}; there is one for: {known}\n").encode()
