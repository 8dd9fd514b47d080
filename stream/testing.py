"""Test helpers that ship with chatwatch: a worker in a child process, produce and consume.

``WorkerProcess`` runs ``chatwatch worker`` exactly as an operator would (a real process, real
broker, real web server), so tests can kill it, restart it and scrape it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from stream.broker import free_port
from stream.kafka import bootstrap_servers
from stream.supervise import stop_process

# The shortest session timeout Apache Kafka accepts (its group.min.session.timeout.ms, 6 s by
# default: below it the broker refuses the group join): a killed worker's partitions move after
# about this long. Kafka hands out partitions as soon as the group has formed, so it costs
# nothing at start-up; the embedded broker holds a new group generation open for half the
# session timeout (3 s here) before it does. Test workers use it unless a test sets its own.
TEST_SESSION_TIMEOUT = {"CHATWATCH_SESSION_TIMEOUT_SECONDS": "6"}


class WorkerProcess:
    """``chatwatch worker`` as a child process with its own config file and web port."""

    def __init__(self, workdir: Path, broker_url: str, config: Mapping[str, Any],
                 env: Mapping[str, str] | None = None, name: str = "worker",
                 command: list[str] | None = None) -> None:
        """Prepare (not start) a worker; ``command`` replaces ``python -m stream worker``.

        A test may pass a wrapper that injects a fault and then runs the worker.
        """
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker_url = broker_url
        self.name = name
        self.port = free_port()
        self.config_path = self.workdir / f"{name}.yml"
        self.config_path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
        self.log_path = self.workdir / f"{name}.log"
        self.extra_env = dict(env or {})
        # the credentials the worker asks for: the board's for /figures and /api/*, and the
        # metrics token for /metrics (None when the worker asks for none)
        merged = {**{k: str(v) for k, v in config.items() if isinstance(v, str)},
                  **{k.removeprefix("CHATWATCH_").lower(): v for k, v in self.extra_env.items()}}
        self.token = merged.get("board_token") or merged.get("check_token")
        self.metrics_token = merged.get("metrics_token")
        self.command = command or [sys.executable, "-m", "stream", "worker"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the worker's web server (on loopback: IPv6 when it listens on ::)."""
        host = self.extra_env.get("CHATWATCH_WEB_HOST", "")
        return f"http://{'[::1]' if ':' in host else '127.0.0.1'}:{self.port}"

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        """Start the worker and wait until it owns partitions and serves /metrics."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
        env.update({
            "KAFKA_BROKER": self.broker_url,
            "CHATWATCH_CONFIG": str(self.config_path),
            "CHATWATCH_WEB_PORT": str(self.port),
            "CHATWATCH_DATA_DIR": str(self.workdir / f"{self.name}-data"),
            **TEST_SESSION_TIMEOUT,
            **self.extra_env,
        })
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(  # noqa: S603
            self.command, env=env, stdout=log,
            stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            health = self.get_json("/health")
            if health and health.get("partitions"):
                return self
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready within {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        """The end of the worker's log, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def get(self, path: str, timeout: float = 5.0) -> bytes | None:
        """GET a path of the worker's web server; None when it does not answer.

        An error status is an answer: its body is returned (``/health`` says 503 and why).
        The worker's credentials go along (:attr:`token`, :attr:`metrics_token`).
        """
        token = self.metrics_token if path.startswith("/metrics") else self.token
        request = urllib.request.Request(self.url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
                return bytes(resp.read())
        except urllib.error.HTTPError as exc:
            return bytes(exc.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return None

    def get_json(self, path: str) -> Any:
        """GET and decode JSON; None when the worker does not answer."""
        body = self.get(path)
        return json.loads(body) if body is not None else None

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """All samples of /metrics keyed by (name, sorted labels)."""
        body = self.get("/metrics") or b""
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def sample(self, name: str, **labels: str) -> float | None:
        """One sample's value, or None if absent."""
        return self.metrics().get((name, tuple(sorted(labels.items()))))

    def figures(self, day: str | None = None) -> list[dict[str, Any]]:
        """The worker's daily figures (its own partitions)."""
        body = self.get_json("/figures" + (f"?day={day}" if day else ""))
        return list(body["figures"]) if body else []

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Stop the worker with ``sig`` and wait; SIGKILL if it does not exit in time."""
        proc, self.proc = self.proc, None
        return stop_process(proc, sig, timeout)

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to flush or commit."""
        self.stop(signal.SIGKILL)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def topic_config(unique: str, partitions: int = 4, **extra: Any) -> dict[str, Any]:
    """A worker config with topics and app id private to one test."""
    return {
        "app_id": f"chatwatch-{unique}",
        "partitions": partitions,
        "events_topic": f"chat.events.{unique}",
        "dlq_topic": f"chat.events.dlq.{unique}",
        "breaches_topic": f"chat.breaches.{unique}",
        "violations_topic": f"chat.violations.{unique}",
        **extra,
    }


def event_key(event: Mapping[str, Any]) -> bytes:
    """The Kafka key of an event: its conversation id (default shop:buyer)."""
    cid = event.get("conversation_id") or f"{event.get('shop_id')}:{event.get('buyer_id')}"
    return str(cid).encode()


async def produce(broker_url: str, topic: str,
                  records: Iterable[Mapping[str, Any] | bytes | tuple[bytes, bytes]]) -> int:
    """Produce events (dicts are JSON-encoded and keyed by conversation) in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(broker_url), linger_ms=5)
    await producer.start()
    n = 0
    try:
        for rec in records:
            if isinstance(rec, tuple):
                key, value = rec
            elif isinstance(rec, bytes):
                key, value = b"garbage", rec
            else:
                key, value = event_key(rec), json.dumps(rec, ensure_ascii=False).encode()
            await producer.send(topic, value, key=key)
            n += 1
        await producer.flush()
    finally:
        await producer.stop()
    return n


async def consume(broker_url: str, topic: str, *, expect: int | None = None,
                  timeout: float = 10.0) -> list[Any]:
    """Read a topic from the beginning until ``expect`` records or ``timeout`` seconds."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap_servers(broker_url),
                                auto_offset_reset="earliest", group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (expect is None or len(out) < expect):
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                out.extend(msgs)
    finally:
        await consumer.stop()
    return out


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.1,
             what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; return it (or raise TimeoutError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(interval)


def run(coro: Any) -> Any:
    """Run a coroutine from synchronous test code."""
    return asyncio.run(coro)
