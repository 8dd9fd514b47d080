"""Issue 34: the board's login cookie holds only the configured token, with safe attributes;
a token in an address is redacted before it is logged."""

from __future__ import annotations

import asyncio

from agents.board.access import Access, redact_token
from agents.board.http import answer, static_files


def _page(access: Access, query: dict[str, str], headers: dict[str, str] | None = None,
          secure: bool = False) -> tuple[int, dict[str, str]]:
    status, _, _, out = asyncio.run(answer(object(), access, static_files(), "/",
                                           headers or {}, query, {}, secure=secure))
    return status, out


def test_only_the_right_token_becomes_the_cookie() -> None:
    access = Access(token="tok-123")
    status, headers = _page(access, {"token": "tok-123"})
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("chatwatch_board=tok-123; ")
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(cookie.split("; "))
    assert "Max-Age=43200" in cookie and "Secure" not in cookie
    # let in by the header, while the address carries something else: nothing is set
    for forged in ("x; Domain=evil.example", "tok-123; Domain=evil.example", "tok-12"):
        status, headers = _page(access, {"token": forged}, {"Authorization": "Bearer tok-123"})
        assert status == 200 and "Set-Cookie" not in headers, forged
    # basic credentials let the page in, but a token it does not have cannot be set
    basic = Access(basic="boss:pw")
    assert basic.cookie("anything") is None


def test_cookie_is_secure_behind_https() -> None:
    access = Access(token="tok-123")
    assert "; Secure" in _page(access, {"token": "tok-123"}, secure=True)[1]["Set-Cookie"]
    forwarded = _page(access, {"token": "tok-123"}, {"X-Forwarded-Proto": "https"})[1]
    assert forwarded["Set-Cookie"].endswith("; Secure")


def test_a_token_unfit_for_a_cookie_is_not_set_as_one() -> None:
    access = Access(token="tok with space;")
    assert access.cookie("tok with space;") is None


def test_tokens_in_addresses_are_redacted() -> None:
    line = 'GET /api/waits?shop=s1&token=abc123&limit=5 HTTP/1.1'
    assert redact_token(line) == 'GET /api/waits?shop=s1&token=***&limit=5 HTTP/1.1'
    assert redact_token("http://b:6067/?token=abc") == "http://b:6067/?token=***"
    assert redact_token("/?TOKEN=abc#x") == "/?TOKEN=***#x"
    assert redact_token("/?mytoken=abc") == "/?mytoken=abc"  # another parameter
