"""Issue 33: the board in a real browser (Debian's headless Chromium) at 1280×800.

A worker on the embedded broker: a buyer whose windows ran out stays on the board, marked
breached with the KPIs lost, after the buyers that can still be saved, until an agent answers;
a pager link (``/?shop=…&ref=…``) to that conversation highlights its row and says what
happened once it is answered; the important columns fit the screen; violations are
filtered by severity, critical first. A screenshot goes to ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.pipeline import log_ref
from stream.broker import EmbeddedBroker
from stream.testing import WorkerProcess, topic_config, wait_for
from tests.integration.live import message, midday_zone, now_ms
from tests.integration.test_board_browser import ARTIFACTS, _produce, _watch_console, browser

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the Chromium fixture, shared


@pytest.fixture
def embedded() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


def _row(page: Any, ref: str) -> Any:
    return page.locator(f'#waits tr[data-ref="{ref}"]')


def test_breached_buyer_stays_marked_and_a_pager_link_lands_on_it(
        browser: Any, embedded: EmbeddedBroker, tmp_path: Path, unique: str) -> None:
    cfg = topic_config(unique, partitions=2, shops={"shop-zz": {"timezone": midday_zone()}})
    late, fresh = log_ref("shop-zz:b-late"), log_ref("shop-zz:b-fresh")
    with WorkerProcess(tmp_path, embedded.url, cfg) as worker:
        t = now_ms()
        _produce(embedded.url, cfg["events_topic"], [
            message(t - 420_000, "shop-zz", "b-late", "buyer", "在吗？怎么没人回"),
            message(t - 5_000, "shop-zz", "b-fresh", "buyer", "这个有货吗"),
            message(t - 3_000, "shop-zz", "b-x", "buyer", "在吗"),
            message(t - 2_000, "shop-zz", "b-x", "agent", "亲，加我微信 wx_zz8888 给你优惠",
                    agent="客服小王")])

        def breached() -> bool:
            body = worker.get_json("/api/waits?shop=shop-zz") or {}
            return body.get("breached") == 1 and body.get("total") == 2

        wait_for(breached, 30)
        page = browser.new_page()
        page.set_viewport_size({"width": 1280, "height": 800})
        errors = _watch_console(page)
        page.goto(f"{worker.url}/?shop=shop-zz&ref={late}")
        page.wait_for_selector("body[data-loaded]", timeout=10_000)
        row = _row(page, late)
        row.wait_for(timeout=5_000)
        page.wait_for_function("() => !document.getElementById('picked').hidden", timeout=5_000)

        # marked, after the buyer who can still be saved, highlighted by the link
        classes = (row.get_attribute("class") or "").split()
        assert "breached" in classes and "picked" in classes, classes
        assert "超时 over" in row.locator(".left").inner_text()
        status = row.locator(".status").inner_text()
        assert "已超时" in status and "5分钟回复率" in status
        order = page.evaluate(
            "() => [...document.querySelectorAll('#waits tbody tr')].map(r => r.dataset.ref)")
        assert order == [fresh, late]
        picked = page.locator("#picked")
        assert picked.get_attribute("data-breached") == "1"
        assert late in picked.inner_text() and "等待中" in picked.inner_text()

        # one clock: the shop's, named
        assert midday_zone() in page.locator("#clock").inner_text()

        # usable at 1280×800: nothing scrolls sideways, the waits' columns all show
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
        table = page.evaluate("""() => { const t = document.getElementById('waits');
            return [t.scrollWidth, t.parentElement.clientWidth]; }""")
        assert table[0] <= table[1], table
        box = page.locator("#waits").bounding_box()
        assert box is not None and box["y"] < 800, "the waits are below the first screen"

        # violations: the critical hand-over first, the filter keeps only what is asked
        page.locator('#violations tr[data-severity="critical"]').first.wait_for(timeout=5_000)
        severities = page.evaluate("""() => [...document.querySelectorAll(
            '#violations tbody tr')].map(r => r.dataset.severity)""")
        assert severities[0] == "critical" and "info" not in severities
        page.select_option("#severity", "critical")
        page.wait_for_function("""() => [...document.querySelectorAll('#violations tbody tr')]
            .every(r => r.dataset.severity === 'critical')""", timeout=5_000)
        page.screenshot(path=str(ARTIFACTS / "board-1280x800.png"))

        # still there polls later, until an agent answers; then the link says what happened
        page.wait_for_timeout(3_000)
        assert "breached" in (_row(page, late).get_attribute("class") or "")
        _produce(embedded.url, cfg["events_topic"], [
            message(now_ms(), "shop-zz", "b-late", "agent", "亲，久等了，有货的", agent="客服小李")])
        _row(page, late).wait_for(state="detached", timeout=10_000)
        page.wait_for_function("() => document.getElementById('picked').dataset.status === "
                               "'closed'", timeout=10_000)
        text = page.locator("#picked").inner_text()
        assert "已回复" in text and "客服小李" in text and "超时 1 次" in text
        assert errors == [], errors
