"""The real worker against ``chatwatch backfill`` on seeded random logs.

Several platforms, per-shop overrides, events without ``platform``, forbidden content,
duplicates and out-of-order events. The worker's ``chat.breaches`` and ``chat.violations``
records, its ``/figures`` and its final ``/metrics`` counters must equal what backfill writes
(``--breach-records``, ``--violation-records``, ``--report``, the last ``--openmetrics``
samples). The events lie in the past, so a caught-up worker's watermark passes every deadline,
as the end of input does in a backfill.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stream.cli import cli
from stream.testing import WorkerProcess, consume, produce, run, topic_config, wait_for

pytestmark = pytest.mark.slow

T0 = 1794362400000  # 2026-11-11T10:00:00+08:00
SHOPS = {"s3": {"timezone": "America/New_York", "platform": "taobao"},
         "s4": {"content_mode": "handover", "window_seconds": 120}}
CONVERSATIONS = [("s1", "b1", "pdd"), ("s1", "b2", None), ("s2", "b1", "taobao"),
                 ("s2", "b3", "jd"), ("s3", "b4", None), ("s4", "b5", "douyin"),
                 ("s1", "b6", None), ("s2", "b7", "taobao")]
TEXTS = ["好的亲", "在", "加我微信 wx_abc123", "亲，微信支付可以用的", "打我电话13812345678",
         "vx: lily_2024 或者 qq 123456789", "订单号231111-123456789012345已发货", "支付宝付款也行"]
COUNTERS = ("chatwatch_events", "chatwatch_events_out_of_order", "chatwatch_waits",
            "chatwatch_waits_breached", "chatwatch_agent_breaches", "chatwatch_response_seconds",
            "chatwatch_violations", "chatwatch_agent_violations")


def seeded_log(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    clock = T0
    log: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for i in range(n):
        if log and rng.random() < 0.08:
            log.append(dict(rng.choice(log)))  # redelivered
            continue
        clock += rng.choice([0, 1, 1_000, 15_000, 60_000, 120_001, 299_999, 300_001])
        shop, buyer, platform = rng.choice(CONVERSATIONS)
        kind = rng.choice(["buyer", "buyer", "agent", "agent", "bot", "system", "read"])
        event: dict[str, Any] = {"event_id": f"r{seed}-{i}",
                                 "ts": clock - rng.choice([0, 0, 0, 1, 400]),
                                 "shop_id": shop, "buyer_id": buyer}
        if platform and ((shop, buyer) not in seen or rng.random() < 0.5):
            event["platform"] = platform
        seen.add((shop, buyer))
        if kind == "read":
            event["type"] = "read"
        else:
            event.update(type="message", sender=kind, text=rng.choice(TEXTS))
            if kind in ("agent", "bot"):
                event["agent_id"] = rng.choice(["a1", "a2"])
        log.append(event)
    return log


def backfill(log: list[dict[str, Any]], cfg: dict[str, Any], tmp: Path) -> dict[str, Any]:
    path = tmp / "log.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in log),
                    encoding="utf-8")
    config = tmp / "backfill.yml"
    config.write_text(json.dumps({"shops": cfg["shops"]}), encoding="utf-8")
    result = CliRunner().invoke(cli, [
        "--config", str(config), "backfill", "--input", str(path),
        "--report", str(tmp / "report.jsonl"), "--openmetrics", str(tmp / "h.om"),
        "--breach-records", str(tmp / "b.jsonl"), "--violation-records", str(tmp / "v.jsonl")])
    assert result.exit_code == 0, result.output
    last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in (tmp / "h.om").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        series, value, _ts = line.rsplit(" ", 2)
        name, _, labels = series.partition("{")
        family = name.removesuffix("_total").removesuffix("_bucket").removesuffix(
            "_count").removesuffix("_sum")
        if family in COUNTERS:
            pairs = tuple(sorted((k, v.strip('"')) for k, v in
                                 (kv.split("=", 1) for kv in labels.rstrip("}").split(",") if kv)))
            last[(name, pairs)] = float(value)  # samples are in time order: the last wins
    return {"report": _lines(tmp / "report.jsonl", None), "counters": last,
            "breaches": _lines(tmp / "b.jsonl", "id"), "violations": _lines(tmp / "v.jsonl", "id")}


def _lines(path: Path, key: str | None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted(rows, key=lambda r: r[key]) if key else rows


@pytest.mark.parametrize("seed", [7, 1234])
def test_worker_publishes_what_backfill_reports(broker, tmp_path, unique, seed):
    log = seeded_log(seed, 400)
    cfg = topic_config(unique, shops=SHOPS)
    expected = backfill(log, cfg, tmp_path)
    assert expected["breaches"] and expected["violations"]  # the log exercises both
    with WorkerProcess(tmp_path, broker.url, cfg) as worker:
        run(produce(broker.url, cfg["events_topic"], log))
        breaches = run(consume(broker.url, cfg["breaches_topic"],
                               expect=len(expected["breaches"]), timeout=60))
        violations = run(consume(broker.url, cfg["violations_topic"],
                                 expect=len(expected["violations"]), timeout=30))
        wait_for(lambda: worker.figures() == expected["report"], timeout=30,
                 what="the worker's figures equal the backfill report")
        metrics = worker.metrics()
    assert sorted((json.loads(r.value) for r in breaches), key=lambda r: r["id"]) == \
        expected["breaches"]
    assert sorted((json.loads(r.value) for r in violations), key=lambda r: r["id"]) == \
        expected["violations"]
    live = {key: value for key, value in metrics.items()
            if key[0].removesuffix("_total").removesuffix("_bucket").removesuffix("_count")
            .removesuffix("_sum") in COUNTERS and not key[0].endswith("_created")}
    # Sums of response times are floats added in a different order (partitions interleave
    # differently live): equal to rounding; every count is exact.
    assert live == pytest.approx(expected["counters"], rel=1e-12)
    assert {k: v for k, v in live.items() if not k[0].endswith("_sum")} == \
        {k: v for k, v in expected["counters"].items() if not k[0].endswith("_sum")}
