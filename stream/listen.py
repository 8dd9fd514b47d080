"""The address a web server listens on: checked at start-up, written into URLs.

``CHATWATCH_WEB_HOST=::`` ended in a traceback: faust builds its own URL as
``http://{host}:{port}``, which for an IPv6 literal must be ``http://[::]:6066``. (``::`` is
every IPv6 address, as asyncio's servers listen IPv6-only there; ``0.0.0.0`` every IPv4 one.)
And an address that cannot be bound (not this machine's, IPv6 off, the port taken) is better
said in one line at start-up than in a traceback from inside faust.
"""

from __future__ import annotations

import errno
import socket

from stream.errors import ConfigError


def url_host(host: str) -> str:
    """``host`` as written in a URL: an IPv6 literal in brackets."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def check_listen(host: str, port: int, key: str = "CHATWATCH_WEB_HOST",
                 port_key: str = "CHATWATCH_WEB_PORT",
                 port_hint: str = "--web-port or CHATWATCH_WEB_PORT") -> None:
    """Raise :class:`ConfigError` naming ``key`` when ``host``:``port`` cannot be listened on.

    Binds and closes a socket the way the web server will (SO_REUSEADDR, every address the
    name resolves to), so a bad host, IPv6 without IPv6, or a port in use fail here; a port
    in use names ``port_key``, how to find who holds it and ``port_hint`` (how to pick another).
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(key, host, f"not an address of this machine ({exc}); use e.g. "
                                     "127.0.0.1, 0.0.0.0 or :: (IPv6)") from None
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:  # as asyncio's servers: IPv6 only
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
        except OSError as exc:
            where = f"{url_host(str(address[0]))}:{port}"
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(port_key, port, f"port {port} is in use on {where} (another "
                                  f"chatwatch worker? `ss -ltnp 'sport = :{port}'` shows which "
                                  f"process): stop it, or pick a free port with {port_hint}") from None
            raise ConfigError(key, host, f"cannot listen on {where}: {exc.strerror or exc}; "
                                         "use an address of this machine (127.0.0.1, 0.0.0.0, "
                                         "or :: where IPv6 is on) and a free port") from None
