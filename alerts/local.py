"""Real Prometheus and Alertmanager on free loopback ports, for `chatwatch run` and the tests.

Each helper starts the Debian binary as a child process with short intervals, waits until its
``/-/ready`` endpoint answers, and stops it (SIGTERM, then SIGKILL) when the ``with`` block
ends. End-to-end tests elsewhere in the project reuse them::

    with run_alertmanager(tmp_path / "am", config_text) as am, \
         run_prometheus(tmp_path / "prom", targets=["127.0.0.1:6066"],
                        rule_files=rule_paths(), alertmanager=am.address) as prom:
        ...  # prom.url, am.url

Readiness is polled (a process cannot announce it otherwise); nothing here sleeps to observe a
timeout. Production code (``chatwatch run``) uses this module, so it imports no test framework.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alerts.errors import AlertsError
from stream.broker import free_port

RULES_DIR = Path(__file__).parent / "rules"

# Debian ships Alertmanager as ``prometheus-alertmanager``; upstream tarballs as ``alertmanager``.
_BINARIES = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "alertmanager": ("alertmanager", "prometheus-alertmanager"),
    "amtool": ("amtool",),
}

MINIMAL_ALERTMANAGER_CONFIG = """\
route:
  receiver: blackhole
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
"""


class ToolMissing(AlertsError):
    """A Prometheus tool is not installed: run ``make tools`` (Debian: prometheus, prometheus-alertmanager)."""


def find_tool(name: str) -> str:
    """Return the path of ``prometheus``, ``promtool``, ``alertmanager`` or ``amtool``.

    Raises :class:`ToolMissing` naming the package to install.
    """
    for candidate in _BINARIES.get(name, (name,)):
        path = shutil.which(candidate)
        if path:
            return path
    raise ToolMissing(f"{name} is not installed; run `make tools` "
                      "(Debian: apt-get install prometheus prometheus-alertmanager)")


def have_tool(name: str) -> bool:
    """Whether :func:`find_tool` would succeed."""
    try:
        find_tool(name)
    except ToolMissing:
        return False
    return True


def rule_paths() -> list[Path]:
    """Return the committed Prometheus rule files (``alerts/rules/*.yml``)."""
    return sorted(RULES_DIR.glob("*.yml"))


@dataclass
class Running:
    """A started server: its ``host:port`` address, base URL and process."""

    name: str
    address: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.address}"

    def get_json(self, path: str, timeout: float = 5.0) -> Any:
        """GET ``path`` and decode the JSON answer."""
        with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def log(self) -> str:
        """Return what the process wrote so far (for assertion messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_ready(server: Running, timeout: float = 20.0) -> None:
    """Poll ``/-/ready`` until it answers 200; raise with the process log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AlertsError(f"{server.name} exited with {server.process.returncode}:\n"
                              f"{server.log()[-3000:]}")
        try:
            with urllib.request.urlopen(server.url + "/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise AlertsError(f"{server.name} not ready at {server.url} after {timeout:.0f} s:\n"
                      f"{server.log()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def _serve(name: str, argv: list[str], address: str, workdir: Path,
           ready_timeout: float) -> Iterator[Running]:
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Running(name, address, process, log_path)
    try:
        wait_ready(server, ready_timeout)
        yield server
    finally:
        _stop(process)


def prometheus_config(
    targets: Sequence[str] = (),
    *,
    rule_files: Sequence[Path] = (),
    alertmanagers: Sequence[str] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    job: str = "chatwatch",
) -> dict[str, Any]:
    """Build a Prometheus configuration scraping ``targets`` under job ``job`` (default chatwatch)."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval,
                   "scrape_timeout": scrape_interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [
            {"static_configs": [{"targets": list(alertmanagers)}]}]}
    return config


@contextmanager
def run_prometheus(
    workdir: Path,
    targets: Sequence[str] = (),
    *,
    rule_files: Sequence[Path] = (),
    alertmanagers: Sequence[str] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    config: dict[str, Any] | None = None,
    ready_timeout: float = 30.0,
) -> Iterator[Running]:
    """Start Prometheus on a free loopback port; yields :class:`Running`.

    ``config`` replaces the generated configuration entirely when given.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    doc = config or prometheus_config(targets, rule_files=rule_files,
                                      alertmanagers=alertmanagers,
                                      scrape_interval=scrape_interval,
                                      evaluation_interval=evaluation_interval)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    address = f"127.0.0.1:{free_port()}"
    argv = [find_tool("prometheus"), f"--config.file={config_path}",
            f"--web.listen-address={address}", f"--storage.tsdb.path={workdir / 'data'}",
            "--web.enable-lifecycle", "--log.level=warn"]
    with _serve("prometheus", argv, address, workdir, ready_timeout) as server:
        yield server


@contextmanager
def run_alertmanager(
    workdir: Path,
    config_text: str = MINIMAL_ALERTMANAGER_CONFIG,
    *,
    port: int | None = None,
    ready_timeout: float = 20.0,
) -> Iterator[Running]:
    """Start Alertmanager (no clustering) on a free loopback port, or on ``port`` if given.

    Giving ``port`` lets a test start Alertmanager *after* a client was pointed at it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "alertmanager.yml"
    config_path.write_text(config_text)
    address = f"127.0.0.1:{port or free_port()}"
    argv = [find_tool("alertmanager"), f"--config.file={config_path}",
            f"--web.listen-address={address}", "--cluster.listen-address=",
            f"--storage.path={workdir / 'data'}", "--log.level=warn"]
    with _serve("alertmanager", argv, address, workdir, ready_timeout) as server:
        yield server


def write_fast_rules(workdir: Path, **overrides: Any) -> Path:
    """Write the chatwatch rules with every ``for:`` at 0s (or as given) for end-to-end tests.

    ``overrides`` are :class:`alerts.rulegen.Thresholds` fields, e.g. ``min_consultations=5``.
    """
    from alerts import rulegen

    fast = {name: "0s" for name in rulegen.Thresholds.__dataclass_fields__
            if name.startswith("for_")}
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "chatwatch-rules.yml"
    path.write_text(rulegen.render(rulegen.Thresholds(**{**fast, **overrides})), encoding="utf-8")
    return path


def fast_alertmanager_config(pager_url: str, token_file: Path | None = None,
                             settings: Any = None) -> str:
    """Alertmanager configuration from ``chatwatch alertmanager-config`` with short waits.

    Pages go out at once (``page_group_wait`` 0s); warnings wait 3 s for their group, as the
    production 10 s does, so that breaches found by different partitions' sweeps a moment apart
    still make one notice.
    """
    from alerts.amconfig import RoutingOptions, render
    from stream.config import Settings

    opts = RoutingOptions(pager_url=pager_url,
                          pager_token_file=str(token_file) if token_file else None,
                          group_wait="3s", page_group_wait="0s", group_interval="1s",
                          repeat_interval="1h", page_repeat_interval="1h")
    return render(settings or Settings(), opts)
