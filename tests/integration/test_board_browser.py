"""Issue 17: the board in a real browser (Debian's headless Chromium) against a live worker.

A worker on the embedded broker is fed by ``chatwatch simulate`` and by a few events of our
own: the page renders without console errors, its numbers equal ``/figures`` and
``/api/waits``, an at-risk wait turns red, a new violation appears within 3 s, Chinese text
renders, and screenshots of the board and of the backfill HTML summary are written under
``tests/artifacts/`` for a person to look at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agents.pipeline import log_ref
from stream.simulate import TrafficModel
from stream.testing import WorkerProcess, produce, run, topic_config, wait_for
from tests.integration.live import message, midday_zone, now_ms

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SIM_SHOPS = ("shop-01", "shop-02", "shop-03")
# The simulated shops on PDD, whose 5-minute KPI is the figure /figures reports (the seed and
# sizes of the simulator run below), and the test's own shop (the default platform).
PDD_SHOPS = {shop.shop_id for shop in TrafficModel(seed=17, shops=3, agents_per_shop=3,
                                                    buyers=300, rate=15).shops
             if shop.platform == "pdd"} | {"shop-zz"}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh headless Chromium profile; the test fails (never skips) without Chromium."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), "Chromium missing: `make tools` installs Debian's chromium"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1500, "height": 1000})
        try:
            yield context
        finally:
            context.close()


def _produce(broker_url: str, topic: str, events: list[dict[str, Any]]) -> None:
    """Produce from another thread: Playwright's sync API keeps an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(run, produce(broker_url, topic, events)).result(30)


def _watch_console(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def _kpi_rows(page: Any) -> dict[str, dict[str, Any]]:
    """The 5-minute tile of each PDD shop: the figure /figures reports.

    Shops on other platforms are scored on their own KPIs (rounds, human replies), and their
    conversations that name no platform on the default one: /figures carries neither.
    """
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#kpis .card')].filter(c => c.querySelector('[data-kpi="pdd_5min"]')
          && c.querySelector('h3').textContent.split(' · ')[1] === 'pdd').map(c => {
          const k = c.querySelector('[data-kpi="pdd_5min"]');
          return [c.dataset.shop, {day: c.querySelector('h3').textContent.split(' · ')[2],
            units: Number(k.dataset.units), breached: Number(k.dataset.breached),
            value: k.dataset.value}]; }))""")


def _cjk_renders(page: Any) -> bool:
    """Two different Chinese characters draw differently: a missing font draws both as boxes."""
    return bool(page.evaluate("""() => {
        const draw = (ch) => { const c = document.createElement('canvas'); c.width = 40;
          c.height = 40; const g = c.getContext('2d'); g.font = '32px "Noto Sans CJK SC"';
          g.fillText(ch, 2, 34); return c.toDataURL(); };
        return draw('违') !== draw('规') && draw('违') !== draw('\\u0378'); }"""))


def test_board_in_chromium(browser: Any, broker: Any, tmp_path: Path, unique: str) -> None:
    zone = midday_zone()
    shops = {s: {"timezone": zone} for s in (*SIM_SHOPS, "shop-zz")}
    cfg = topic_config(unique, shops=shops)
    ARTIFACTS.mkdir(exist_ok=True)
    with WorkerProcess(tmp_path, broker.url, cfg) as worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
        env["CHATWATCH_CONFIG"] = str(worker.config_path)
        sim = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "stream", "simulate", "--broker", broker.url, "--shops", "3",
             "--agents", "3", "--buyers", "300", "--rate", "15", "--seed", "17"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _drive(browser, worker, broker, cfg)
        finally:
            sim.terminate()
            sim.wait(20)
    _backfill_summary(browser, tmp_path)


def _drive(browser: Any, worker: WorkerProcess, broker: Any, cfg: dict[str, Any]) -> None:
    t = now_ms()
    risky = message(t - 232_000, "shop-zz", "b-risk", "buyer", "在吗？我的电话是13812345678")
    fresh = message(t - 5_000, "shop-zz", "b-fresh", "buyer", "这个有货吗")
    _produce(broker.url, cfg["events_topic"], [risky, fresh])
    wait_for(lambda: (worker.get_json("/api/waits?shop=shop-zz") or {}).get("total") == 2, 20)

    page = browser.new_page()
    errors = _watch_console(page)
    page.goto(worker.url + "/?shop=shop-zz")
    page.wait_for_selector("body[data-loaded]", timeout=10_000)
    row = page.locator(f'#waits tr[data-ref="{log_ref("shop-zz:b-risk")}"]')
    row.wait_for(timeout=5_000)
    assert "at-risk" not in (row.get_attribute("class") or ""), "red before 240 s of waiting"
    page.wait_for_function(
        f"""() => document.querySelector('#waits tr[data-ref="{log_ref("shop-zz:b-risk")}"]')
               ?.classList.contains('at-risk')""", timeout=20_000)
    assert page.locator(f'#waits tr[data-ref="{log_ref("shop-zz:b-fresh")}"]').get_attribute(
        "class") in (None, "")
    html = page.content()
    assert "b-risk" not in html and "13812345678" not in html, "a buyer id on the board"

    hand_over = message(now_ms(), "shop-zz", "b-fresh", "agent", "亲，加我微信 wx_zz8888 给你优惠",
                        agent="客服小王")
    began = time.monotonic()
    _produce(broker.url, cfg["events_topic"], [hand_over])
    item = page.locator(f'#violations tr[data-id="{log_ref(hand_over["event_id"])}"]')
    item.wait_for(timeout=3_000)
    assert time.monotonic() - began <= 3.0
    text = item.locator("td.text").inner_text()
    assert "微信" in text and "wx_zz8888" not in text
    assert "客服小王" in item.inner_text()
    assert _cjk_renders(page), "Chinese text does not render: install fonts-noto-cjk"

    page.goto(worker.url + "/")
    page.wait_for_selector("body[data-loaded]", timeout=10_000)
    wait_for(lambda: set(SIM_SHOPS) <= set(page.evaluate(
        "() => [...document.querySelectorAll('#kpis .card')].map(c => c.dataset.shop)")), 30)

    def figures_match() -> bool:
        shown = {shop: row for shop, row in _kpi_rows(page).items() if shop in PDD_SHOPS}
        if "shop-zz" not in shown:  # a PDD shop (the default platform): compared for sure
            return False
        rows = {(r["shop_id"], r["day"]): r for r in worker.figures()}
        for shop, kpi in shown.items():
            row = rows.get((shop, kpi["day"]))
            if row is None or (kpi["units"], kpi["breached"]) != (row["consultations"],
                                                                  row["unreplied"]):
                return False
            if float(kpi["value"]) != pytest.approx(row["reply_rate"]):
                return False
        return True

    try:
        wait_for(figures_match, 20, interval=0.3)
    except TimeoutError:
        raise AssertionError(f"board {_kpi_rows(page)} != /figures {worker.figures()}") from None

    def waits_match() -> bool:
        api = worker.get_json("/api/waits?limit=200")
        shown = page.evaluate("""() => [...document.querySelectorAll('#waits tbody tr')]
                                 .map(r => r.dataset.ref)""")
        count = page.locator("#waits-count").inner_text()
        return (shown == [w["ref"] for w in api["waits"]]
                and count == f"({len(api['waits'])} / {api['total']})")

    wait_for(waits_match, 20, interval=0.3)
    red = page.locator("#waits tr.at-risk")
    assert red.count() >= 1
    page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)
    assert errors == [], errors


def _backfill_summary(browser: Any, tmp_path: Path) -> None:
    log, summary = tmp_path / "trial.jsonl.gz", tmp_path / "summary.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
    subprocess.run([sys.executable, "-m", "stream", "simulate", "--out", str(log),  # noqa: S603
                    "--events", "20000", "--seed", "3"], check=True, env=env,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "stream", "backfill", "--input", str(log),  # noqa: S603
                    "--report", str(tmp_path / "daily.jsonl"), "--summary-html", str(summary)],
                   check=True, env=env, capture_output=True)
    page = browser.new_page()
    errors = _watch_console(page)
    page.goto(summary.as_uri())
    page.wait_for_load_state("load")
    assert "shop-01" in page.content()
    page.screenshot(path=str(ARTIFACTS / "backfill-summary.png"), full_page=True)
    assert errors == [], errors
