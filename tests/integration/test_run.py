"""``chatwatch run`` as a newcomer runs it: events flow, and stopping it leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream.broker import free_port, free_ports
from stream.testing import wait_for

pytestmark = pytest.mark.slow


def _processed(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
            body = resp.read().decode()
    except OSError:
        return 0.0
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == "chatwatch_events_total" and s.labels.get("outcome") == "processed":
                return s.value
    return 0.0


def _get(port: int, path: str) -> bytes:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as resp:
            return bytes(resp.read())
    except OSError:
        return b""


def _converting(port: int) -> list[dict[str, object]]:
    """/figures conversion rows of shops with paid buyers, once /metrics has chat sales too."""
    body = _get(port, "/metrics").decode()
    sales = sum(s.value for f in text_string_to_metric_families(body) for s in f.samples
                if s.name == "chatwatch_chat_sales_yuan_total")
    rows = json.loads(_get(port, "/figures") or b"{}").get("conversion", {}).get("shops", [])
    paid = [r for r in rows if r["paid_buyers"] > 0]
    return paid if sales > 0 and paid else []


def _board_summary(port: int) -> list[dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/summary", timeout=3) as resp:
            return list(json.loads(resp.read())["shops"])
    except OSError:
        return []


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Run:
    """``chatwatch run`` in a child process on free ports, with its own run directory."""

    def __init__(self, tmp_path: Path) -> None:
        self.run_dir = tmp_path / "run"
        names = ("--web-port", "--broker-port", "--prometheus-port", "--alertmanager-port",
                 "--pager-port")
        ports = free_ports(len(names))  # distinct: one at a time, two may come out the same
        self.web_port = ports[0]
        flags = [str(x) for pair in zip(names, ports, strict=True) for x in pair]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
        self.out_path = tmp_path / "run.out"
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "stream", "run", "--run-dir", str(self.run_dir),
                 "--rate", "30", *flags], env=env, stdout=out, stderr=subprocess.STDOUT,
                cwd=tmp_path)

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """The process ids of the run, once it has started every part."""
        path = self.run_dir / "pids.json"

        def ready() -> dict[str, int] | None:
            assert self.proc.poll() is None, self.output()
            if "chatwatch is running" not in self.output():
                return None
            return dict(json.loads(path.read_text()))

        return dict(wait_for(ready, timeout=60, interval=0.2))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_run_shows_events_flowing_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    run = Run(tmp_path)
    try:
        pids = run.pids()
        assert {"run", "broker", "worker", "simulate"} <= set(pids)
        first = wait_for(lambda: _processed(run.web_port), timeout=60, interval=0.5)
        wait_for(lambda: _processed(run.web_port) > first, timeout=30, interval=0.5)
        children = {name: pid for name, pid in pids.items() if name != "run"}
        assert all(_alive(pid) for pid in children.values()), children
        # Counted figures at any hour: the demo shops live where it is daytime now.
        counted = wait_for(lambda: [s for s in _board_summary(run.web_port)
                                    if s["kpis"][0]["units"] > 0], timeout=30, interval=0.5)
        assert all(s["counting"]["counting"] for s in counted)
        # Orders (DOMAIN.md §7): conversion per shop and agent within a few minutes
        converting = wait_for(lambda: _converting(run.web_port), timeout=180, interval=1.0)
        assert all(0 < float(str(r["conversion_rate"])) <= 1 for r in converting)
        # and per agent: a buyer's first wait is unassigned, so an agent's sale may come later
        agents = wait_for(lambda: [a for a in json.loads(_get(run.web_port, "/figures"))[
            "conversion"]["agents"] if a["paid_buyers"] > 0 and a["agent"] != "unassigned"],
            timeout=120, interval=1.0)
        assert agents and all(a["paid_buyers"] > 0 for a in agents)
        assert "chatwatch_agent_conversion_rate{" in _get(run.web_port, "/metrics").decode()

        run.proc.send_signal(signal.SIGINT)
        assert run.proc.wait(60) == 0, run.output()
    finally:
        run.close()
    assert [name for name, pid in children.items() if _alive(pid)] == []
    out = run.output()
    assert f"http://127.0.0.1:{run.web_port}/metrics" in out
    assert f"board         http://127.0.0.1:{run.web_port}/" in out
    assert "demo shops are configured in time zone" in out
    assert "Ctrl-C stops everything" in out and "stopped." in out
    assert not (run.run_dir / "pids.json").exists()


def test_children_die_with_a_killed_run(tmp_path: Path) -> None:
    run = Run(tmp_path)
    try:
        pids = run.pids()
        run.proc.kill()   # SIGKILL: no chance to stop anything itself
        run.proc.wait()
    finally:
        run.close()
    children = {name: pid for name, pid in pids.items() if name != "run"}
    assert {"worker", "simulate"} <= set(children), pids
    # PR_SET_PDEATHSIG sends each child SIGTERM; the worker needs a moment to shut down.
    wait_for(lambda: not any(_alive(pid) for pid in children.values()), timeout=30, interval=0.2)
    assert [name for name, pid in children.items() if _alive(pid)] == []


def test_port_in_use_names_the_port_and_the_flag(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "stream", "run", "--run-dir", str(tmp_path / "run"),
             "--web-port", str(port), "--no-alerts", "--broker-port", str(free_port())],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")})
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stdout
    assert "--web-port" in result.stdout
