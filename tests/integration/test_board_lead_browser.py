"""The lead's panels in a real browser equal ``chatwatch backfill`` for the same events.

A worker on the embedded broker gets a lead's morning: an order unpaid for 77 minutes, one paid
after its reminder, inquiries of today (their conversion window of one hour has run out) and of
yesterday that did not convert. The page's list of orders awaiting payment, its per-agent lost
inquiries and one agent's drill-down equal ``backfill --unpaid / --lost-inquiries`` of the same
events with the worker's configuration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.pipeline import log_ref
from stream.testing import WorkerProcess, topic_config, wait_for
from tests.integration.live import message, midday_zone, now_ms
from tests.integration.test_board_browser import _produce, _watch_console, browser  # noqa: F401

pytestmark = pytest.mark.slow

SHOP = "shop-lead"
MIN = 60_000


def _order(ts: int, buyer: str, order_id: str, status: str, amount: str | None = None,
           ) -> dict[str, Any]:
    event = {"event_id": f"lead-{order_id}-{status}", "ts": ts, "shop_id": SHOP,
             "buyer_id": buyer, "type": "order", "order_id": order_id, "status": status}
    if amount is not None:
        event["amount"] = amount
    return event


def _chat(t: int, buyer: str, agent: str) -> list[dict[str, Any]]:
    """The agent greets, the buyer asks, the agent answers 30 s later."""
    return [message(t, SHOP, buyer, "agent", "亲，在的", agent=agent),
            message(t + 1000, SHOP, buyer, "buyer", "这个有货吗"),
            message(t + 31_000, SHOP, buyer, "agent", "有的亲", agent=agent)]


def _morning(t: int) -> list[dict[str, Any]]:
    events = [
        *_chat(t - 26 * 60 * MIN, "b-yday", "客服乙"),  # yesterday, did not buy
        *_chat(t - 180 * MIN, "b-gone", "客服甲"),  # today, did not buy (window run out)
        *_chat(t - 80 * MIN, "b-unpaid", "客服甲"),
        _order(t - 77 * MIN, "b-unpaid", "T-1001", "created", "88.00"),  # never paid
        *_chat(t - 45 * MIN, "b-late", "客服乙"),
        _order(t - 42 * MIN, "b-late", "T-1002", "created", "19.90"),
        _order(t - 5 * MIN, "b-late", "T-1002", "paid", "19.90"),  # after the reminder
    ]
    return sorted(events, key=lambda e: e["ts"])


def _backfill(tmp_path: Path, config: Path, events: list[dict[str, Any]],
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    log = tmp_path / "morning.jsonl"
    log.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events),
                   encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
    env["CHATWATCH_CONFIG"] = str(config)
    unpaid, lost = tmp_path / "unpaid.jsonl", tmp_path / "lost.jsonl"
    subprocess.run([sys.executable, "-m", "stream", "backfill", "--input", str(log),  # noqa: S603
                    "--report", str(tmp_path / "daily.jsonl"), "--unpaid", str(unpaid),
                    "--lost-inquiries", str(lost)], check=True, env=env, capture_output=True)
    return ([json.loads(line) for line in unpaid.read_text().splitlines()],
            [json.loads(line) for line in lost.read_text().splitlines()])


def test_lead_panels_equal_backfill(browser: Any, broker: Any, tmp_path: Path,  # noqa: F811
                                    unique: str) -> None:
    zone = midday_zone()
    cfg = topic_config(unique, shops={SHOP: {"timezone": zone, "conversion_window_hours": 1}})
    t = now_ms()
    events = _morning(t)
    today = datetime.fromtimestamp(t / 1000, ZoneInfo(zone)).date().isoformat()
    with WorkerProcess(tmp_path, broker.url, cfg) as worker:
        unpaid, lost = _backfill(tmp_path, worker.config_path, events)
        assert [u["order_id"] for u in unpaid] == ["T-1001", "T-1002"]
        awaiting = [u for u in unpaid if u["status"] == "awaiting"]
        _produce(broker.url, cfg["events_topic"], events)
        wait_for(lambda: (worker.get_json(f"/api/unpaid?shop={SHOP}") or {}).get("total") == 1,
                 30)

        page = browser.new_page()
        errors = _watch_console(page)
        page.goto(worker.url + f"/?shop={SHOP}")
        page.wait_for_selector("body[data-lead-loaded]", timeout=15_000)
        page.wait_for_function("() => document.querySelectorAll("
                               "'#unpaid-orders tbody tr').length === 1", timeout=15_000)
        shown = page.evaluate("""() => [...document.querySelectorAll('#unpaid-orders tbody tr')]
            .map(r => ({order: r.dataset.order, ref: r.dataset.ref, agent: r.dataset.agent}))""")
        assert shown == [{"order": u["order_id"], "ref": u["ref"], "agent": u["agent"]}
                         for u in awaiting]
        assert shown[0]["ref"] == log_ref(f"{SHOP}:b-unpaid")
        recovered = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
            '#unpaid-agents tbody tr')].map(r => [r.dataset.agent, Number(r.dataset.recovered)]))""")
        assert recovered == {"客服甲": 0, "客服乙": sum(u["recovered"] for u in unpaid)}

        expected: dict[str, list[int]] = {}
        for e in lost:
            expected.setdefault(e["agent"], [0, 0])[0 if e["day"] == today else 1] += 1
        page.wait_for_function(
            f"() => document.querySelectorAll('#lost-agents tbody tr').length === "
            f"{len(expected)}", timeout=15_000)
        counts = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
            '#lost-agents tbody tr')].map(r => [r.dataset.agent,
              [Number(r.dataset.today), Number(r.dataset.yesterday)]]))""")
        assert counts == expected == {"客服甲": [2, 0], "客服乙": [0, 1]}

        page.locator('#lost-agents tbody tr[data-agent="客服甲"]').click()
        page.wait_for_function("() => document.querySelectorAll('#lost-list tbody tr')"
                               ".length === 2", timeout=10_000)
        refs = page.evaluate("() => [...document.querySelectorAll('#lost-list tbody tr')]"
                             ".map(r => r.dataset.ref)")
        assert refs == [e["ref"] for e in lost if e["agent"] == "客服甲"]
        html = page.content()
        assert "b-unpaid" not in html and "b-gone" not in html, "a buyer id on the board"
        assert errors == [], errors
