"""Issue 34: ``CHATWATCH_WEB_HOST=::`` serves (it was a traceback), and an address the worker
cannot listen on is one clear line at start-up."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from stream.errors import ConfigError
from stream.listen import check_listen, url_host
from stream.testing import WorkerProcess, topic_config


def test_ipv6_literals_are_bracketed_in_urls() -> None:
    assert url_host("::") == "[::]" and url_host("::1") == "[::1]"
    assert url_host("0.0.0.0") == "0.0.0.0" and url_host("[::1]") == "[::1]"
    assert url_host("worker-0.example") == "worker-0.example"


def test_an_address_that_cannot_be_listened_on_names_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"CHATWATCH_WEB_HOST='192\.0\.2\.1'.*cannot listen"):
        check_listen("192.0.2.1", 0)  # TEST-NET-1: no address of this machine
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            check_listen("127.0.0.1", port)
    check_listen("::", 0)
    check_listen("127.0.0.1", 0)


def test_worker_on_an_unusable_address_exits_with_one_line(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
    env = {**base, "CHATWATCH_WEB_HOST": "192.0.2.1", "CHATWATCH_BOARD_TOKEN": "tok-0123456789"}
    done = subprocess.run([sys.executable, "-m", "stream", "worker"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("chatwatch: bad configuration CHATWATCH_WEB_HOST='192.0.2.1'")


@pytest.mark.slow
def test_worker_listens_on_every_ipv6_address(broker: Any, tmp_path: Path, unique: str) -> None:
    env = {"CHATWATCH_WEB_HOST": "::", "CHATWATCH_BOARD_TOKEN": "tok-0123456789"}
    with WorkerProcess(tmp_path, broker.url, topic_config(unique), env) as worker:
        assert worker.url.startswith("http://[::1]:")
        with urllib.request.urlopen(worker.url + "/health", timeout=10) as resp:  # noqa: S310
            assert json.loads(resp.read())["partitions"]
    assert "Traceback" not in worker.log_path.read_text(encoding="utf-8", errors="replace")
