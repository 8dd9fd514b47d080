"""Issue 17: ``chatwatch board --workers`` merges two workers, and shows a dead one as down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from stream.broker import free_port
from stream.testing import WorkerProcess, produce, run, topic_config, wait_for
from tests.integration.live import answered, midday_zone, now_ms, unanswered

pytestmark = pytest.mark.slow


def _get(url: str, token: str | None = None) -> Any:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            return json.loads(resp.read())
    except OSError:
        return None


def test_board_merges_workers_and_shows_the_dead_one(broker: Any, tmp_path: Path,
                                                     unique: str) -> None:
    cfg = topic_config(unique, partitions=4, shops={"shop-m": {"timezone": midday_zone()}})
    token = "board-token-0123456789"
    env = {"CHATWATCH_BOARD_TOKEN": token}
    with WorkerProcess(tmp_path, broker.url, cfg, env=env, name="w1") as w1, \
            WorkerProcess(tmp_path, broker.url, cfg, env=env, name="w2") as w2:
        def owned(w: WorkerProcess) -> list[int]:
            return (_get(w.url + "/health") or {}).get("partitions") or []

        wait_for(lambda: sorted(owned(w1) + owned(w2)) == [0, 1, 2, 3] and owned(w1)
                 and owned(w2), 60)
        t = now_ms()
        buyers = [f"b{i}" for i in range(40)]
        events = (unanswered("shop-m", buyers[:20], t - 60_000)
                  + answered("shop-m", buyers[20:], t - 120_000, "agent-1"))
        run(produce(broker.url, cfg["events_topic"], events))

        def totals() -> int:
            return sum((_get(w.url + "/api/waits?shop=shop-m", token) or {}).get("total", 0)
                       for w in (w1, w2))

        wait_for(lambda: totals() == 20, 30)
        dead = f"http://127.0.0.1:{free_port()}"
        port = free_port()
        child_env = {k: v for k, v in os.environ.items()
                     if not k.startswith(("CHATWATCH_", "KAFKA_"))}
        child_env["CHATWATCH_BOARD_TOKEN"] = token
        board = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "stream", "board", "--workers",
             f"{w1.url},{w2.url},{dead}", "--port", str(port)], env=child_env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            assert wait_for(lambda: _get(base + "/api/summary", token), 30)
            assert _get(base + "/api/summary") is None  # 401 without the token
            summary = _get(base + "/api/summary?shop=shop-m", token)
            status = {w["url"]: w["ok"] for w in summary["workers"]}
            assert status == {w1.url: True, w2.url: True, dead: False}
            [shop] = summary["shops"]
            rows = [r for w in (w1, w2) for r in w.figures() if r["shop_id"] == "shop-m"]
            assert shop["figures"]["consultations"] == sum(r["consultations"] for r in rows) == 40
            kpi = shop["kpis"][0]
            assert (kpi["units"], kpi["breached"]) == (40, 0)
            assert shop["open_waits"] == 20
            waits = _get(base + "/api/waits?shop=shop-m&limit=5", token)
            assert waits["total"] == 20 and len(waits["waits"]) == 5
            starts = [w["start_ms"] for w in waits["waits"]]
            assert starts == sorted(starts)
            agents = _get(base + "/api/agents?shop=shop-m", token)
            # agents with figures today are listed too (Engine.agent_days); only one holds waits
            assert {a["agent"]: a["holding"] for a in agents["agents"]
                    if a["holding"]} == {"unassigned": 20}
            page = urllib.request.urlopen(  # noqa: S310
                urllib.request.Request(base + "/", headers={"Authorization": f"Bearer {token}"}),
                timeout=5).read().decode()
            assert "board.js" in page
        finally:
            board.terminate()
            board.wait(20)
