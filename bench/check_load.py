"""The stream under a ``POST /check`` storm: ``check_storm_stream_ratio`` in ``make bench``.

One ``chatwatch worker`` (default settings: 8 checks at a time, one checker process) is fed
simulated traffic at a steady rate (1,000 events/s, about what the issue measured: 962) for
``seconds``, once with nothing else going on and once while ``clients`` clients post 18 KB
checks back to back, each as soon as its last one is answered (a 429 included). The rate is
the events the worker handled from the first produced to the last handled, per second, read
from its ``chatwatch_events_total``; the storm runs in a process of its own, so it takes no
time from the producer. Target: the stream keeps >= 80 % of its rate.

    python -m bench.check_load [--clients 200] [--seconds 15] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.live import realistic_events
from stream.broker import EmbeddedBroker
from stream.config import load_settings
from stream.kafka import ensure_topics
from stream.testing import WorkerProcess, topic_config

TEXT = ("亲，您好，加我微信 abc123 电话 13812345678 这款 WX-3000 两款 今天发货 " * 300)[:6000]


def _handled(worker: WorkerProcess) -> float:
    return sum(v for (name, _), v in worker.metrics().items() if name == "chatwatch_events_total")


async def _paced(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]],
                 rate: float) -> None:
    """Produce ``records`` at ``rate`` a second, in tenth-of-a-second lots."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        lot = max(1, int(rate / 10))
        began = time.monotonic()
        for i in range(0, len(records), lot):
            for key, value in records[i:i + lot]:
                await producer.send(topic, value, key=key)
            await producer.flush()
            ahead = began + (i + lot) / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
    finally:
        await producer.stop()


def stream_rate(worker: WorkerProcess, bootstrap: str, topic: str,
                records: list[tuple[bytes, bytes]], rate: float,
                timeout: float = 60.0) -> float:
    """Events handled per second from the first produced to the last handled.

    A worker that has not handled them all ``timeout`` s after the last was produced gets
    the rate of those it did handle by then.
    """
    base = _handled(worker)
    began = time.perf_counter()
    asyncio.run(_paced(bootstrap, topic, records, rate))
    deadline = time.monotonic() + timeout
    handled = _handled(worker) - base
    while handled < len(records) and time.monotonic() < deadline:
        time.sleep(0.05)
        handled = _handled(worker) - base
    return handled / (time.perf_counter() - began)


async def storm(url: str, clients: int, seconds: float, token: str | None,
                statuses: dict[int, int]) -> None:
    """``clients`` clients posting 18 KB checks back to back for ``seconds``.

    ``statuses`` counts the answers by HTTP status (0: no answer) as they come.
    """
    import aiohttp

    body = json.dumps({"text": TEXT, "platform": "pdd"}, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def client() -> None:
            while time.monotonic() < deadline:
                try:
                    async with session.post(url + "/check", data=body,
                                            headers=headers) as resp:
                        await resp.read()
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1
                except aiohttp.ClientError:
                    statuses[0] = statuses.get(0, 0) + 1

        await asyncio.gather(*(client() for _ in range(clients)))


def run(clients: int = 200, seconds: float = 15.0, rate: float = 1000.0) -> dict[str, Any]:
    """The stream's rate without and with the storm, and their ratio."""
    n = int(rate * seconds)
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        cfg = topic_config(f"checks{uuid.uuid4().hex[:6]}", partitions=4)
        settings = load_settings(environ={}).with_overrides(
            partitions=4, **{k: cfg[k] for k in ("events_topic", "dlq_topic",
                                                  "breaches_topic", "violations_topic")})
        asyncio.run(ensure_topics(settings, broker.url))
        records = realistic_events(2 * n + 200, seed=7)
        warm, quiet, loud = records[:200], records[200:200 + n], records[200 + n:]
        with WorkerProcess(Path(tmp), broker.url, cfg) as worker:
            stream_rate(worker, broker.bootstrap, cfg["events_topic"], warm, rate)
            quiet_rate = stream_rate(worker, broker.bootstrap, cfg["events_topic"], quiet, rate)
            clients_proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "bench.check_load", "--storm", worker.url,
                 "--clients", str(clients), "--seconds", str(seconds + 30)],
                stdout=subprocess.PIPE, text=True)
            try:
                time.sleep(2.0)  # the storm is on
                loud_rate = stream_rate(worker, broker.bootstrap, cfg["events_topic"], loud,
                                        rate)
            finally:
                clients_proc.terminate()
                out, _ = clients_proc.communicate(timeout=30)
    return {"check_storm_clients": clients,
            "stream_events_per_s_quiet": quiet_rate,
            "stream_events_per_s_check_storm": loud_rate,
            "check_storm_stream_ratio": loud_rate / quiet_rate,
            "check_storm_answers": json.loads(out) if out.strip() else None}


def main() -> None:
    """Run the measurement (or, with ``--storm``, only the clients) and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--storm", metavar="URL", help="Only run the clients against URL.")
    parser.add_argument("--token")
    args = parser.parse_args()
    if args.storm:
        import signal

        answers: dict[int, int] = {}

        def report(*_: Any) -> None:
            print(json.dumps({str(k): v for k, v in sorted(answers.items())}), flush=True)
            sys.exit(0)

        signal.signal(signal.SIGTERM, report)
        asyncio.run(storm(args.storm, args.clients, args.seconds, args.token, answers))
        report()
    print(json.dumps(run(args.clients, args.seconds, args.rate)))


if __name__ == "__main__":
    main()
