"""``chatwatch worker`` and ``chatwatch broker``: the long-running processes."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

import click

import stream.core
from stream.broker import EmbeddedBroker, broker_for
from stream.config import Settings
from stream.kafka import check_changelog, ensure_topics
from stream.listen import check_listen, url_host

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> None:
    """Run one faust worker until SIGINT/SIGTERM (embedded broker when none is configured)."""
    from faust.worker import Worker as FaustWorker

    from agents.app import create_app
    from agents.store_failure import exit_now

    check_listen(settings.web_host, settings.web_port)  # one clear line, not a traceback
    with broker_for(settings.broker) as url:
        asyncio.run(ensure_topics(settings, url))
        if settings.broker:  # a real broker; the embedded one is new and empty at each start
            asyncio.run(check_changelog(settings, url))
        worker = create_app(settings, url)
        click.echo(f"chatwatch worker: broker {url}, metrics on "
                   f"http://{url_host(settings.web_host)}:{settings.web_port}/metrics; "
                   f"{stream.core.native_status()}", err=True)
        # faust and the Kafka client log whole messages at DEBUG - keys and texts, i.e. buyer
        # ids and contact details - so they stay at INFO even when chatwatch itself debugs.
        for name in ("aiokafka", "faust", "mode"):
            logging.getLogger(name).setLevel(logging.INFO)
        try:
            FaustWorker(worker.app, loglevel=settings.log_level).execute_from_commandline()
        finally:
            # a store failure ends the worker with its own code and cause, whether faust's
            # crash handling (the fetcher) or the guard's timer gets there first
            if worker.store_guard is not None and worker.store_guard.failure:
                exit_now(worker.store_guard.failure)


@click.command("worker")
@click.option("--web-port", type=int, help="Port of /metrics and /check (default 6066).")
@click.option("--partitions", type=int, help="Partitions of chat.events (default 8).")
@click.pass_obj
def worker_command(ctx: object, web_port: int | None, partitions: int | None) -> None:
    """Run the stream worker (faust): reply windows, content guard, /metrics."""
    settings = ctx.settings  # type: ignore[attr-defined]
    if web_port is not None:
        settings = settings.with_overrides(web_port=web_port)
    if partitions is not None:
        settings = settings.with_overrides(partitions=partitions)
    run_worker(settings)


@click.command("broker")
@click.option("--port", type=int, default=9092, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.pass_obj
def broker_command(ctx: object, port: int, host: str) -> None:
    """Run the embedded Kafka-compatible broker (memory only) until Ctrl-C."""
    settings = ctx.settings  # type: ignore[attr-defined]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with EmbeddedBroker(host=host, port=port) as broker:
        asyncio.run(ensure_topics(settings, broker.url))
        click.echo(f"embedded broker ready: KAFKA_BROKER={broker.url}  (Ctrl-C stops it)")
        stop.wait()
