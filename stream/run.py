"""``chatwatch run``: the whole stack on one machine, for a first look (``make run``).

It starts, in this order: the embedded broker (in this process; skipped when ``KAFKA_BROKER``
is set; Apache Kafka in KRaft mode with ``--kafka``, ``make run BROKER=kafka``) and the topics; then as child processes the pager bridge with a ``console`` target
and Alertmanager (only when the Debian binaries are installed), one worker and the traffic
simulator, and once the worker answers, Prometheus. It prints where to look and a status line every few seconds, and echoes
each pager notice as it is written.

Every child is tied to this process (``PR_SET_PDEATHSIG``), so none can outlive it even when
it is killed with SIGKILL. Ctrl-C or SIGTERM stops them in order: the simulator first (no new
events), then the worker and the alerting processes, then the broker.

Everything a run writes lives under ``--run-dir`` (``./run``): logs, the Prometheus and
Alertmanager configurations and data, the pager's notices, and ``pids.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import yaml
from prometheus_client.parser import text_string_to_metric_families

from stream.broker import EmbeddedBroker
from stream.config import Settings
from stream.errors import ChatwatchError
from stream.kafka import ensure_topics
from stream.kafka_local import KAFKA_VERSION, KafkaCluster
from stream.supervise import HOST, Child, RunError, check_ports, http_get, http_ready, worker_ready

# The simulator first sends the last ten minutes of traffic, so the board, the KPIs and the
# conversion figures (orders come minutes after a chat) have something to show at once.
RUN_HISTORY_S = 600


@dataclass(frozen=True)
class RunOptions:
    """What ``chatwatch run`` starts and where (the command's flags)."""

    run_dir: Path = Path("run")
    web_port: int = 6066
    broker_port: int = 9092
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    pager_port: int = 9095
    shops: int = 5
    agents: int = 3
    buyers: int = 500
    rate: float = 20.0
    alerts: bool = True
    fast_alerts: bool = False
    status_every: float = 10.0
    kafka: bool = False  # Apache Kafka (`make kafka`) instead of the embedded broker


def daytime_zone(now: datetime | None = None) -> str:
    """An IANA zone where the local time is between 09:00 and 21:00 (counted hours are 08-23).

    Asia/Shanghai when it qualifies; otherwise the fixed-offset ``Etc/GMT±N`` zone whose local
    time is about 13:00. ``make run``'s demo shops live there, so their waits are counted at
    any hour of the operator's day without touching event time (which would break live
    breach timing).
    """
    now = now or datetime.now(UTC)
    if 9 <= now.astimezone(ZoneInfo("Asia/Shanghai")).hour < 21:
        return "Asia/Shanghai"
    offset = 13 - now.hour
    if offset > 14:
        offset -= 24
    if offset < -11:
        offset += 24
    # Etc/GMT names invert the sign: Etc/GMT-8 is UTC+8.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


class Stack:
    """The processes of one ``chatwatch run``; build with :meth:`plan`, then :meth:`start`."""

    def __init__(self, settings: Settings, opts: RunOptions, config_path: str | None) -> None:
        self.settings = settings
        self.opts = opts
        self.run_dir = opts.run_dir.resolve()
        self.config_path = str(Path(config_path).resolve()) if config_path else None
        self.broker: EmbeddedBroker | None = None
        self.kafka: KafkaCluster | None = None
        self.broker_url = settings.broker or ""
        self.children: list[Child] = []
        self.with_alerts = False
        self.pids_path = self.run_dir / "pids.json"
        self.notices_path = self.run_dir / "pager-notices.log"
        self.demo_zone: str | None = None  # the demo shops' time zone (no --config given)

    # -- urls -------------------------------------------------------------------------------
    @property
    def worker_url(self) -> str:
        """Base URL of the worker's web server."""
        return f"http://{HOST}:{self.opts.web_port}"

    @property
    def prometheus_url(self) -> str:
        """Base URL of Prometheus."""
        return f"http://{HOST}:{self.opts.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        """Base URL of Alertmanager."""
        return f"http://{HOST}:{self.opts.alertmanager_port}"

    @property
    def pager_url(self) -> str:
        """Base URL of the pager bridge."""
        return f"http://{HOST}:{self.opts.pager_port}"

    # -- set-up -----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Check tools and ports, and give this run a clean directory for its state."""
        from alerts.local import have_tool

        self.with_alerts = self.opts.alerts and have_tool("prometheus") and have_tool("alertmanager")
        ports = {"the worker's web server": (self.opts.web_port, "--web-port")}
        if not self.settings.broker:
            ports[self.broker_name] = (self.opts.broker_port, "--broker-port")
        if self.with_alerts:
            ports["Prometheus"] = (self.opts.prometheus_port, "--prometheus-port")
            ports["Alertmanager"] = (self.opts.alertmanager_port, "--alertmanager-port")
            ports["the pager bridge"] = (self.opts.pager_port, "--pager-port")
        check_ports(ports)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # The embedded broker keeps nothing between runs, so neither does the rest: stale alert
        # spools or TSDB blocks would page about a previous run. Apache Kafka's data goes too,
        # so both brokers start a run alike.
        for stale in ("worker", "prometheus", "alertmanager", "kafka"):
            shutil.rmtree(self.run_dir / stale, ignore_errors=True)
        for log in self.run_dir.glob("*.log"):
            log.unlink()

    @property
    def broker_name(self) -> str:
        """The broker this run starts, as the operator reads it."""
        return f"Apache Kafka {KAFKA_VERSION}" if self.opts.kafka else "the embedded broker"

    def _python(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "stream", *args]

    def _base_env(self) -> dict[str, str]:
        env = {"KAFKA_BROKER": self.broker_url, "PYTHONUNBUFFERED": "1",
               "CHATWATCH_BOARD_URL": self.worker_url}
        if not self.config_path:
            self.config_path = str(self._demo_config())
        env["CHATWATCH_CONFIG"] = self.config_path
        return env

    def _demo_config(self) -> Path:
        """Without ``--config``: the simulator's shops in a zone where it is daytime now."""
        self.demo_zone = daytime_zone()
        path = self.run_dir / "demo-shops.yml"
        shops = {f"shop-{i:02d}": {"timezone": self.demo_zone}
                 for i in range(1, self.opts.shops + 1)}
        path.write_text(yaml.safe_dump({"shops": shops}), encoding="utf-8")
        return path

    def plan(self) -> None:
        """Write the configuration files and list the child processes (nothing starts)."""
        opts, run = self.opts, self.run_dir
        env = self._base_env()
        if self.with_alerts:
            self.children += self._alerting_children(env)
        worker_env = {**env, "CHATWATCH_DATA_DIR": str(run / "worker")}
        if self.with_alerts:
            worker_env["CHATWATCH_ALERTMANAGER_URL"] = self.alertmanager_url
        self.children.append(Child(
            "worker", self._python("worker", "--web-port", str(opts.web_port)),
            run / "worker.log", worker_env, worker_ready(self.worker_url)))
        self.children.append(Child(
            "simulate", self._python("simulate", "--broker", self.broker_url,
                                     "--shops", str(opts.shops), "--agents", str(opts.agents),
                                     "--buyers", str(opts.buyers), "--rate", f"{opts.rate:g}",
                                     "--history", str(RUN_HISTORY_S)),
            run / "simulate.log", env))

    def _alerting_children(self, env: dict[str, str]) -> list[Child]:
        from alerts.amconfig import RoutingOptions, render
        from alerts.local import (
            fast_alertmanager_config,
            find_tool,
            prometheus_config,
            rule_paths,
            write_fast_rules,
        )

        opts, run = self.opts, self.run_dir
        token = secrets.token_urlsafe(24)
        token_file = run / "pager-token"
        token_file.write_text(token, encoding="utf-8")
        token_file.chmod(0o600)
        pager_config = run / "pager.yml"
        pager_config.write_text(yaml.safe_dump({"targets": [
            {"name": "console", "kind": "console", "path": str(self.notices_path)}]}),
            encoding="utf-8")
        self.notices_path.touch()

        am_dir = run / "alertmanager"
        am_dir.mkdir(parents=True, exist_ok=True)
        if opts.fast_alerts:
            am_text = fast_alertmanager_config(self.pager_url, token_file, self.settings)
        else:
            # production's grouping (a notice per shop at most every 5 min, breach counts
            # repeated every 15 min): a newcomer sees the pager as supervisors will
            am_text = render(self.settings, RoutingOptions(
                pager_url=self.pager_url, pager_token_file=str(token_file), group_wait="5s",
                page_group_wait="0s"))
        (am_dir / "alertmanager.yml").write_text(am_text, encoding="utf-8")

        prom_dir = run / "prometheus"
        prom_dir.mkdir(parents=True, exist_ok=True)
        rules = [write_fast_rules(prom_dir)] if opts.fast_alerts else rule_paths()
        doc = prometheus_config([f"{HOST}:{opts.web_port}"], rule_files=rules,
                                alertmanagers=[f"{HOST}:{opts.alertmanager_port}"],
                                scrape_interval="5s", evaluation_interval="5s")
        if self.settings.metrics_token:  # the worker's /metrics wants it: Prometheus reads a file
            token_path = run / "metrics-token"
            token_path.write_text(self.settings.metrics_token, encoding="utf-8")
            token_path.chmod(0o600)
            doc["scrape_configs"][0]["authorization"] = {"credentials_file": str(token_path)}
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(doc, sort_keys=False),
                                                 encoding="utf-8")
        return [
            Child("pager", self._python("pager", "--host", HOST, "--port", str(opts.pager_port),
                                        "--pager-config", str(pager_config)),
                  run / "pager.log", {**env, "CHATWATCH_PAGER_TOKEN": token},
                  http_ready(self.pager_url + "/healthz")),
            Child("alertmanager", [find_tool("alertmanager"),
                                   f"--config.file={am_dir / 'alertmanager.yml'}",
                                   f"--web.listen-address={HOST}:{opts.alertmanager_port}",
                                   f"--web.external-url={self.alertmanager_url}",
                                   "--cluster.listen-address=",
                                   f"--storage.path={am_dir / 'data'}", "--log.level=warn"],
                  run / "alertmanager.log", ready=http_ready(self.alertmanager_url + "/-/ready")),
            Child("prometheus", [find_tool("prometheus"),
                                 f"--config.file={prom_dir / 'prometheus.yml'}",
                                 f"--web.listen-address={HOST}:{opts.prometheus_port}",
                                 f"--web.external-url={self.prometheus_url}",
                                 f"--storage.tsdb.path={prom_dir / 'data'}",
                                 "--web.enable-lifecycle", "--log.level=warn"],
                  run / "prometheus.log", ready=http_ready(self.prometheus_url + "/-/ready")),
        ]

    # -- life cycle -------------------------------------------------------------------------
    def start(self, stop: threading.Event, timeout: float = 60.0) -> None:
        """Start the broker and every child, and wait until each answers (or ``stop`` is set)."""
        if not self.settings.broker and self.opts.kafka:
            self.kafka = KafkaCluster(self.run_dir / "kafka", host=HOST,
                                      ports=[self.opts.broker_port]).start()
            self.broker_url = self.kafka.url
        elif not self.settings.broker:
            self.broker = EmbeddedBroker(HOST, self.opts.broker_port).start()
            self.broker_url = self.broker.url
        asyncio.run(ensure_topics(self.settings, self.broker_url))
        self.plan()
        # Prometheus starts once the worker answers: a first scrape of a worker still starting
        # would fire ChatwatchDown (at once with --fast-alerts).
        later = [c for c in self.children if c.name == "prometheus"]
        first = [c for c in self.children if c not in later]
        deadline = time.monotonic() + timeout
        for group in (first, later):
            for child in group:
                child.start()
            self.write_pids()
            self._wait_ready(group, stop, deadline, timeout)

    def _wait_ready(self, children: list[Child], stop: threading.Event, deadline: float,
                    timeout: float) -> None:
        waiting = [c for c in children if c.ready is not None]
        while waiting and not stop.is_set():
            self.check_alive()
            waiting = [c for c in waiting if not (c.ready and c.ready())]
            if time.monotonic() > deadline:
                names = ", ".join(c.name for c in waiting)
                raise RunError(f"{names} did not come up within {timeout:.0f} s; see "
                               f"{self.run_dir}/<name>.log:\n{waiting[0].tail()}")
            stop.wait(0.2)

    def check_alive(self) -> None:
        """Raise :class:`RunError` when a child has exited on its own."""
        for child in self.children:
            code = child.exited()
            if code is not None:
                raise RunError(f"{child.name} exited with code {code}; the end of "
                               f"{child.log_path}:\n{child.tail()}")

    def write_pids(self) -> None:
        """Record every process id of this run in ``pids.json`` (tests and curious operators)."""
        pids: dict[str, int | None] = {"run": os.getpid()}
        if self.broker is not None:
            pids["broker"] = self.broker.pid
        if self.kafka is not None:
            pids["broker"] = self.kafka.nodes[0].pid
        pids.update({c.name: c.pid for c in self.children if c.pid is not None})
        self.pids_path.write_text(json.dumps(pids, indent=2) + "\n", encoding="utf-8")

    def stop(self) -> None:
        """Stop in order: the simulator, then the other children, then the broker."""
        first = [c for c in self.children if c.name == "simulate"]
        rest = [c for c in self.children if c.name != "simulate"]
        for group in (first, rest):
            for child in group:
                child.terminate()
            for child in group:
                child.wait(20.0)
        if self.broker is not None:
            self.broker.stop()
        if self.kafka is not None:
            self.kafka.stop()
        self.pids_path.unlink(missing_ok=True)

    # -- what the operator sees -------------------------------------------------------------
    def banner(self) -> str:
        """Where to look, printed once everything is up."""
        rel = _relative(self.run_dir)
        lines = ["", "chatwatch is running. Ctrl-C stops everything.", "",
                 f"  board         {self.worker_url}/   (open waits, agents, violations, live)",
                 f"  metrics       {self.worker_url}/metrics",
                 f"  figures       {self.worker_url}/figures   (today's per-shop report, "
                 f"conversion per shop and agent)"]
        if self.with_alerts:
            alerts = first_page(self.prometheus_url, "/alerts", "/classic/alerts")
            graph = first_page(self.prometheus_url, "/graph", "/classic/graph")
            lines += [f"  Prometheus    {self.prometheus_url}{alerts}   (graph: "
                      f"{self.prometheus_url}{graph})"]
            if http_get(self.alertmanager_url + "/script.js") is not None:
                lines.append(f"  Alertmanager  {self.alertmanager_url}")
            else:  # Debian's package ships no web UI: its API and amtool answer the same
                lines.append(f"  Alertmanager  amtool --alertmanager.url={self.alertmanager_url}"
                             f" alert query   (API: {self.alertmanager_url}/api/v2/alerts)")
            lines.append(f"  pager notices {rel}/pager-notices.log   (what DingTalk/WeCom "
                         f"would get, in the shops' time)")
        elif self.opts.alerts:
            lines.append("  alerts        off: install Prometheus and Alertmanager (`make tools`)"
                         " to see them fire locally")
        else:
            lines.append("  alerts        off (--no-alerts)")
        kind = f"   ({self.broker_name}, KRaft; data in {rel}/kafka)" if self.kafka else ""
        lines += [f"  broker        KAFKA_BROKER={self.broker_url}{kind}",
                  f"  logs          {rel}/*.log", ""]
        if self.demo_zone:
            local = datetime.now(ZoneInfo(self.demo_zone))
            lines += [f"  The demo shops are configured in time zone {self.demo_zone} (local "
                      f"time {local:%H:%M}, see {rel}/demo-shops.yml), so their waits fall "
                      f"in counted hours (08:00-23:00) and the figures move now; waits "
                      f"outside counted hours are tracked but never counted.", ""]
        return "\n".join(lines)


def first_page(base: str, *paths: str) -> str:
    """The first of ``paths`` that ``base`` serves, else the last.

    Debian's Prometheus serves its alerts page at ``/classic/alerts`` only.
    """
    for path in paths:
        if http_get(base + path) is not None:
            return path
    return paths[-1]


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class StatusReporter:
    """Prints a one-line summary of the worker's counters, and each new pager notice title."""

    def __init__(self, stack: Stack, echo: Callable[[str], None]) -> None:
        self.stack = stack
        self.echo = echo
        self.last: tuple[float, float] | None = None
        self.notices_offset = 0
        self.last_notes: tuple[str, ...] = ()

    def counters(self) -> dict[str, float]:
        """Sums of the worker's counters by name (and events by outcome)."""
        body = http_get(self.stack.worker_url + "/metrics",
                        token=self.stack.settings.metrics_token)
        out: dict[str, float] = {}
        for family in text_string_to_metric_families((body or b"").decode()):
            for s in family.samples:
                if s.name == "chatwatch_events_total":
                    out[s.labels["outcome"]] = s.value
                elif s.name in ("chatwatch_waits_breached_total", "chatwatch_violations_total",
                                "chatwatch_alerts_pushed_total", "chatwatch_chat_sales_yuan_total",
                                "chatwatch_orders_paid_total"):
                    out[s.name] = out.get(s.name, 0.0) + s.value
        return out

    def status(self) -> None:
        """Print the status line."""
        c = self.counters()
        now, processed = time.monotonic(), c.get("processed", 0.0)
        rate = ""
        if self.last is not None and now > self.last[0]:
            rate = f" ({(processed - self.last[1]) / (now - self.last[0]):.1f}/s)"
        self.last = (now, processed)
        self.echo(f"events: {processed:,.0f} processed{rate}, {c.get('invalid', 0):,.0f} "
                  f"invalid, {c.get('duplicate', 0):,.0f} duplicate | breaches "
                  f"{c.get('chatwatch_waits_breached_total', 0):,.0f} | violations "
                  f"{c.get('chatwatch_violations_total', 0):,.0f} | paid orders "
                  f"{c.get('chatwatch_orders_paid_total', 0):,.0f}, chat sales "
                  f"{c.get('chatwatch_chat_sales_yuan_total', 0):,.2f} yuan")
        self.counting()

    def counting(self) -> None:
        """Say (once per change) which shops are outside counted hours, and until when."""
        settings = self.stack.settings
        body = http_get(self.stack.worker_url + "/figures",
                        token=settings.board_token or settings.check_token)
        try:
            notes = json.loads(body or b"{}").get("not_counting") or []
        except ValueError:
            return
        lines = tuple(f"not counted now: {n['shop_id']}: {n['message']}" for n in notes)
        if lines != self.last_notes:
            self.last_notes = lines
            for line in lines:
                self.echo(line)

    def notices(self) -> None:
        """Echo the title line of each notice the pager wrote since the last call."""
        path = self.stack.notices_path
        try:
            with open(path, encoding="utf-8") as f:
                f.seek(self.notices_offset)
                text = f.read()
                self.notices_offset = f.tell()
        except OSError:
            return
        lines = text.splitlines()
        for i, line in enumerate(lines[:-1]):
            if line.startswith("--- "):
                self.echo(f"pager: {lines[i + 1]}")


def run_stack(settings: Settings, opts: RunOptions, config_path: str | None,
              echo: Callable[[str], None] = click.echo) -> int:
    """Run the stack until SIGINT/SIGTERM; return the exit code (1 when a part failed)."""
    stack = Stack(settings, opts, config_path)
    try:
        stack.prepare()
    except ChatwatchError as exc:
        echo(f"chatwatch run: {exc}")
        return 1
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        if not stack.with_alerts and opts.alerts:
            echo("Prometheus/Alertmanager not installed (`make tools`): running without alerts")
        parts = ["the worker", "the simulator"]
        if stack.with_alerts:
            parts += ["Prometheus", "Alertmanager", "the pager bridge"]
        broker = (f"using the broker at {settings.broker}; " if settings.broker
                  else f"starting {stack.broker_name}, ")
        echo(f"{broker}{', '.join(parts)} (logs in {_relative(stack.run_dir)}/) ...")
        stack.start(stop)
        if not stop.is_set():
            echo(stack.banner())
        reporter = StatusReporter(stack, echo)
        next_status = time.monotonic() + 2.0
        while not stop.wait(0.5):
            stack.check_alive()
            reporter.notices()
            if time.monotonic() >= next_status:
                reporter.status()
                next_status = time.monotonic() + opts.status_every
    except ChatwatchError as exc:
        echo(f"chatwatch run: {exc}")
        code = 1
    finally:
        echo("stopping ...")
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        echo("stopped.")
    return code


@click.command("run")
@click.option("--web-port", type=int, default=6066, show_default=True,
              help="Port of the worker's /metrics, /figures and /health.")
@click.option("--broker-port", type=int, default=9092, show_default=True,
              help="Port of the embedded broker or Apache Kafka (unused when KAFKA_BROKER is set).")
@click.option("--kafka", is_flag=True,
              help="Start Apache Kafka (KRaft, installed by `make kafka`) instead of the embedded "
                   "broker; its data lives in RUN_DIR/kafka (`make run BROKER=kafka`).")
@click.option("--prometheus-port", type=int, default=9090, show_default=True)
@click.option("--alertmanager-port", type=int, default=9093, show_default=True)
@click.option("--pager-port", type=int, default=9095, show_default=True)
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("run"),
              show_default=True, help="Where logs, configurations and data of this run go.")
@click.option("--shops", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--agents", type=click.IntRange(min=1), default=3, show_default=True,
              help="Agents per shop.")
@click.option("--buyers", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=20.0,
              show_default=True, help="Simulated events per second.")
@click.option("--alerts/--no-alerts", default=True, show_default=True,
              help="Start Prometheus, Alertmanager and the pager bridge when installed.")
@click.option("--fast-alerts", is_flag=True,
              help="Alert rules without `for:` delays and 1 s Alertmanager grouping (demos).")
@click.pass_obj
def run_command(ctx: Any, web_port: int, broker_port: int, kafka: bool, prometheus_port: int,
                alertmanager_port: int, pager_port: int, run_dir: Path, shops: int, agents: int,
                buyers: int, rate: float, alerts: bool, fast_alerts: bool) -> None:
    """Run broker, worker, simulator and local alerting together until Ctrl-C (`make run`)."""
    opts = RunOptions(run_dir=run_dir, web_port=web_port, broker_port=broker_port,
                      prometheus_port=prometheus_port, alertmanager_port=alertmanager_port,
                      pager_port=pager_port, shops=shops, agents=agents, buyers=buyers,
                      rate=rate, alerts=alerts, fast_alerts=fast_alerts, kafka=kafka)
    code = run_stack(ctx.settings, opts, ctx.config_path)
    sys.exit(code)
