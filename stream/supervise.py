"""Child processes tied to their parent, readiness probes and port checks (``chatwatch run``).

A :class:`Child` is started with ``PR_SET_PDEATHSIG`` (as the embedded broker is), in its own
process group: a Ctrl-C reaches only the parent, which stops the children in order, and no
child outlives a parent that is killed outright.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stream.broker import _die_with_parent, port_is_free
from stream.errors import ChatwatchError

HOST = "127.0.0.1"


class RunError(ChatwatchError):
    """``chatwatch run`` cannot start or keep its stack up: the message names the part and the fix."""



@dataclass
class Child:
    """One child process of the stack, logging to ``<run_dir>/<name>.log``."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process, tied to this one (it gets SIGTERM if we die)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.argv, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    @property
    def pid(self) -> int | None:
        """The process id once started."""
        return self.proc.pid if self.proc else None

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return self.proc.poll() if self.proc else None

    def tail(self, lines: int = 15) -> str:
        """The end of the child's log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        """Send SIGTERM if it still runs."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()

    def wait(self, timeout: float) -> None:
        """Wait for the exit; SIGKILL after ``timeout`` seconds."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM,
                 timeout: float = 20.0) -> int | None:
    """Send ``sig`` to ``proc`` if it still runs and wait; SIGKILL after ``timeout`` seconds.

    Returns the exit code (None when there was no process).
    """
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def http_get(url: str, timeout: float = 2.0, token: str | None = None) -> bytes | None:
    """GET ``url`` (with ``Authorization: Bearer token`` when given); None when nothing answers."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - loopback
            return bytes(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def worker_ready(url: str) -> Callable[[], bool]:
    """Probe: the worker at ``url`` is ready (``/health`` answers 200 and lists partitions)."""
    def ready() -> bool:
        body = http_get(url + "/health")  # None for a 503 (recovering, lagging, no partitions)
        return bool(body and json.loads(body).get("partitions"))
    return ready


def http_ready(url: str) -> Callable[[], bool]:
    """Probe: ``url`` answers with a success status."""
    return lambda: http_get(url) is not None


def check_ports(ports: Mapping[str, tuple[int, str]]) -> None:
    """Raise :class:`RunError` naming the first port in use (or used twice) and its flag."""
    seen: dict[int, str] = {}
    for what, (port, flag) in ports.items():
        if port in seen:
            raise RunError(f"{what} and {seen[port]} would both use port {port}: give one of "
                           f"them another port ({flag})")
        seen[port] = what
        if not port_is_free(HOST, port):
            raise RunError(f"port {port} on {HOST} is already in use, so {what} cannot listen "
                           f"there (another `chatwatch run`?): stop whatever uses it, or choose "
                           f"another port with {flag}")
