"""Who may open the board: a token or basic-auth credentials, required off loopback.

The board shows agents, masked texts and the shape of every shop's queue: on a worker that
listens beyond loopback it must not be open to whoever can reach the port. Credentials come
from ``board_token`` (falling back to ``check_token``) and ``board_basic_auth``
(``user:password``); a worker bound to a non-loopback host with neither refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from stream.config import Settings
from stream.errors import ConfigError

COOKIE = "chatwatch_board"
# How long the board's cookie lives: a working day; the link with ?token= logs in again.
COOKIE_MAX_AGE = 12 * 3600
# Characters a cookie value may hold as it is (RFC 6265 cookie-octet, no quotes).
_COOKIE_SAFE = re.compile(r"[!#-+\--:<-\[\]-~]+")
# ?token=... (or &token=...) in a logged request line or Referer
_TOKEN_IN_URL = re.compile(r"([?&;]token=)[^&;#\s\"]*", re.IGNORECASE)


def redact_token(text: str) -> str:
    """``text`` with the value of every ``token=`` URL parameter replaced by ``***``."""
    return _TOKEN_IN_URL.sub(r"\1***", text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """The credentials the board accepts; none at all means open (loopback only)."""

    token: str | None = field(default=None, repr=False)
    basic: str | None = field(default=None, repr=False)  # "user:password"

    @classmethod
    def from_settings(cls, settings: Settings, host: str | None = None) -> Access:
        """The board's access rules; raises :class:`ConfigError` when open beyond loopback."""
        access = cls(token=settings.board_token or settings.check_token,
                     basic=settings.board_basic_auth)
        host = settings.web_host if host is None else host
        if access.open and not is_loopback(host):
            raise ConfigError("CHATWATCH_BOARD_TOKEN", None,
                              f"the web server listens on {host}, beyond loopback, so the "
                              "board needs credentials: set CHATWATCH_BOARD_TOKEN (or "
                              "CHATWATCH_BOARD_BASIC_AUTH=user:password, or "
                              "CHATWATCH_CHECK_TOKEN), or bind CHATWATCH_WEB_HOST=127.0.0.1")
        return access

    @property
    def open(self) -> bool:
        """Whether no credentials are configured."""
        return not self.token and not self.basic

    def allows(self, headers: Mapping[str, str], query: Mapping[str, str],
               cookies: Mapping[str, str]) -> bool:
        """Whether a request carries valid credentials (header, ``?token=`` or the cookie)."""
        if self.open:
            return True
        auth = headers.get("Authorization", "")
        if self.token:
            given = [auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else "",
                     headers.get("X-Chatwatch-Token", ""), query.get("token", ""),
                     cookies.get(COOKIE, "")]
            if any(g and hmac.compare_digest(g.encode(), self.token.encode()) for g in given):
                return True
        if self.basic and auth.startswith("Basic "):
            try:
                pair = base64.b64decode(auth[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            return hmac.compare_digest(pair.encode(), self.basic.encode())
        return False

    def cookie(self, given: str, secure: bool = False) -> str | None:
        """The ``Set-Cookie`` value that logs a browser in with ``?token=given``, or None.

        Only the configured token itself is ever set (never the text of the address, which
        could carry cookie attributes of its own), and only when it is cookie-safe.
        """
        token = self.token
        if not token or not given or not hmac.compare_digest(given.encode(), token.encode()):
            return None
        if not _COOKIE_SAFE.fullmatch(token):
            return None  # sent as a header or ?token= instead; the cookie would be mangled
        return (f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={COOKIE_MAX_AGE}"
                + ("; Secure" if secure else ""))

    def challenge(self) -> dict[str, str]:
        """Headers of a 401 answer: the browser asks for basic credentials when configured."""
        return {"WWW-Authenticate": 'Basic realm="chatwatch board"'} if self.basic else {}
