"""Issue 5 item 5, live: a real Prometheus scraping real workers fed by the simulator and by
events that exercise every metric; every Grafana panel query must return data.

"Data" means a successful query with a non-empty result holding a finite value; a panel built on
``rate()``/``increase()`` (quantiles included) must also show a value above zero, so the test
makes each condition happen while Prometheus watches: responses, breaches (historical ones,
breached at once, and a fresh one declared live), a critical violation, out-of-order,
duplicate and invalid events, a payment after a consultation and a silent one, event alerts pushed to an Alertmanager, and a rebalance (a
second worker joins).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from alerts.dashboards import panel_queries
from alerts.local import run_alertmanager, run_prometheus
from stream.broker import _die_with_parent
from stream.testing import WorkerProcess, produce, run, topic_config, wait_for
from tests.integration.live import answered, message, midday_zone, now_ms, unanswered

pytestmark = [
    pytest.mark.slow,
    pytest.mark.requires_tools("prometheus", "alertmanager"),
]


def query(prom_url: str, expr: str) -> dict[str, Any]:
    data = urllib.parse.urlencode({"query": expr}).encode()
    try:
        with urllib.request.urlopen(prom_url + "/api/v1/query", data=data, timeout=10) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read() or b"{}"))


def verdict(body: dict[str, Any], expr: str) -> str | None:
    """None when the answer counts as data for this panel, else what is missing."""
    if body.get("status") != "success":
        return f"query failed: {body.get('error')}"
    values = [float(r["value"][1]) for r in body["data"]["result"]]
    finite = [v for v in values if math.isfinite(v)]
    if not values:
        return "empty result"
    if not finite:
        return f"no finite value: {values}"
    if ("rate(" in expr or "increase(" in expr) and not any(v > 0 for v in finite):
        return f"nothing happened in the window: {values}"
    return None


def wave(n: int) -> list[dict[str, Any] | bytes]:
    """Events that move every metric once more (wave ``n`` uses its own buyers)."""
    now = now_ms()
    shop = "live-1"
    events: list[dict[str, Any] | bytes] = []
    events += answered(shop, [f"w{n}-ok-{i}" for i in range(5)], now - 60_000, "live-a1")
    # agent live-a2 spoke last, then the buyer waited 10 minutes: breached (attributed) at once
    events += [message(now - 11 * 60_000, shop, f"w{n}-late", "agent", "亲，在的", "live-a2")]
    events += unanswered(shop, [f"w{n}-late"], now - 10 * 60_000)
    events += unanswered(shop, [f"w{n}-fresh"], now - 297_000)     # breaches live, ~3 s from now
    events += [message(now, shop, f"w{n}-fc", "agent", f"加我微信 vip{n}8888", "live-a3")]
    later = message(now, shop, f"w{n}-ooo", "buyer", "还在吗")
    earlier = message(now - 5_000, shop, f"w{n}-ooo", "buyer", "人呢？")
    events += [later, earlier, later]                                 # out of order, duplicate
    events += [b"{not json", b'{"event_id": "x", "ts": "soon"}']       # invalid
    # a consulting buyer pays (chat sales for live-a1), another pays without a word (silent)
    events += answered(shop, [f"w{n}-buys"], now - 50_000, "live-a1")
    events += [{"event_id": f"w{n}-pay", "ts": now - 20_000, "shop_id": shop,
                "buyer_id": f"w{n}-buys", "type": "order", "order_id": f"o-w{n}",
                "status": "paid", "amount": "88.00"},
               {"event_id": f"w{n}-silent", "ts": now - 20_000, "shop_id": shop,
                "buyer_id": f"w{n}-quiet", "type": "order", "order_id": f"o-w{n}-q",
                "status": "paid", "amount": 12.5}]
    return events


def test_every_panel_query_returns_data(broker, tmp_path: Path, unique: str) -> None:
    cfg = topic_config(unique, partitions=2, default_timezone=midday_zone())
    queries = panel_queries()
    assert len(queries) >= 20
    with run_alertmanager(tmp_path / "am") as am:
        env = {"CHATWATCH_ALERTMANAGER_URL": am.url}
        first = WorkerProcess(tmp_path, broker.url, cfg, env, name="worker1")
        second = WorkerProcess(tmp_path, broker.url, cfg, env, name="worker2")
        simulator = None
        with first, run_prometheus(tmp_path / "prom", [f"127.0.0.1:{first.port}",
                                                       f"127.0.0.1:{second.port}"]) as prom:
            try:
                # counters must move *between* scrapes, so wait for Prometheus to see the worker
                wait_for(lambda: query(prom.url, "chatwatch_events_total")["data"]["result"],
                         timeout=20, interval=0.2)
                run(produce(broker.url, cfg["events_topic"], wave(1)))
                with open(tmp_path / "simulate.log", "wb") as log:
                    simulator = subprocess.Popen(  # noqa: S603
                        [sys.executable, "-m", "stream", "--config", str(first.config_path),
                         "simulate", "--broker", broker.url, "--shops", "3", "--agents", "2",
                         "--buyers", "300", "--rate", "20", "--seed", "7"],
                        stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
                second.start()                                      # a rebalance on worker1
                run(produce(broker.url, cfg["events_topic"], wave(2)))

                missing: dict[tuple[str, str, str], str] = {}

                def all_panels_have_data() -> bool:
                    missing.clear()
                    for dashboard, panel, expr in queries:
                        problem = verdict(query(prom.url, expr), expr)
                        if problem:
                            missing[(dashboard, panel, expr)] = problem
                    return not missing

                try:
                    wait_for(all_panels_have_data, timeout=45, interval=1.0)
                except TimeoutError:
                    pytest.fail("panels without data:\n" + "\n".join(
                        f"{d} / {p}: {why}\n    {e}" for (d, p, e), why in missing.items()))
            finally:
                if simulator is not None:
                    simulator.terminate()
                    simulator.wait(10)
                second.stop()
