"""Issue 34: ``chatwatch board`` keeps ``?token=`` out of its access log and sets only the
right token as its cookie."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from stream.broker import free_port
from stream.testing import wait_for

TOKEN = "board-secret-0123456789"


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback
            resp.read()
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)
    except OSError:
        return 0, {}


def test_board_redacts_the_token_in_its_log_and_refuses_a_wrong_cookie(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
    env["CHATWATCH_BOARD_TOKEN"] = TOKEN
    log_path = tmp_path / "board.log"
    with log_path.open("wb") as log:
        board = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "stream", "board", "--workers", "http://127.0.0.1:9",
             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(base + "/board.css")[0] == 401, 30)
        status, headers = _get(base + f"/?token={TOKEN}")
        assert status == 200
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"chatwatch_board={TOKEN};")
        for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="):
            assert attribute in cookie, cookie
        # the page's own requests name it as their Referer, token and all
        assert _get(base + "/board.js", {"Authorization": f"Bearer {TOKEN}",
                                         "Referer": f"{base}/?token={TOKEN}"})[0] == 200
        # allowed by the header, but the address's token is not the board's: no cookie of it
        status, headers = _get(base + "/?token=forged%3B%20Domain%3Devil.example",
                               {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and "Set-Cookie" not in headers
        assert _get(base + "/?token=wrong-token")[0] == 401
        time.sleep(0.5)  # the access log is written after each answer
    finally:
        board.terminate()
        board.wait(20)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert "GET /?token=*** HTTP" in log, log  # the request was logged, its token not
    assert TOKEN not in log and "wrong-token" not in log and "forged" not in log, log
