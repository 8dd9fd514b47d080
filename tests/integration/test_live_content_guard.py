"""Issue 4: agent and bot messages are checked live; records are masked; buyers never violate."""

from __future__ import annotations

import json
import urllib.request

import pytest

from stream.testing import WorkerProcess, consume, produce, run, topic_config, wait_for

pytestmark = pytest.mark.slow

T0 = 1794362400000  # 2026-11-11T10:00:00+08:00


def ev(i, sender, text, buyer="b1", **kw):
    e = {"event_id": f"v{i}", "ts": T0 + i * 1000, "shop_id": "shop-g", "buyer_id": buyer,
         "type": "message", "sender": sender, "text": text}
    if sender in ("agent", "bot"):
        e["agent_id"] = kw.pop("agent_id", "agent-7")
    e.update(kw)
    return e


def test_violations_flow_masked_and_counted(broker, tmp_path, unique):
    cfg = topic_config(unique, check_token="s3cret-token-123")
    events = [
        ev(1, "buyer", "我的电话是13812345678，快点发货"),           # buyer: never a violation
        ev(2, "agent", "在"),                                        # first reply only 在: quality/info
        ev(3, "agent", "亲，加我微信 wx_abc123 发你优惠"),            # critical wechat
        ev(4, "bot", "有问题请拨打 138 1234 5678"),                    # critical phone from a bot
        ev(5, "agent", "您的订单号 231111-123456789012345 已发货，运费¥12.00"),  # clean
    ]
    with WorkerProcess(tmp_path, broker.url, cfg) as worker:
        run(produce(broker.url, cfg["events_topic"], events))
        records = run(consume(broker.url, cfg["violations_topic"], expect=3, timeout=20))
        bodies = {json.loads(r.value)["event_id"]: json.loads(r.value) for r in records}
        assert set(bodies) == {"v2", "v3", "v4"}
        assert [v["category"] for v in bodies["v2"]["violations"]] == ["quality"]
        assert bodies["v2"]["violations"][0]["severity"] == "info"
        assert {v["category"] for v in bodies["v3"]["violations"]} == {"wechat"}
        assert all(v["severity"] == "critical" for v in bodies["v3"]["violations"])
        assert "wx_abc123" not in bodies["v3"]["text"]
        assert {v["category"] for v in bodies["v4"]["violations"]} == {"phone"}
        assert "12345678" not in bodies["v4"]["text"].replace(" ", "")
        for body in bodies.values():
            assert body["shop_id"] == "shop-g" and body["agent"] == "agent-7"
        wait_for(lambda: worker.sample("chatwatch_violations_total", shop="shop-g",
                                       category="phone", severity="critical") == 1)
        assert worker.sample("chatwatch_violations_total", shop="shop-g", category="quality",
                             severity="info") == 1
        assert worker.sample("chatwatch_agent_violations_total", shop="shop-g", agent="agent-7",
                             severity="critical") == 2
        metrics_text = (worker.get("/metrics") or b"").decode()
        assert "13812345678" not in metrics_text and "b1" not in metrics_text

        def post(body, token=None):
            req = urllib.request.Request(worker.url + "/check", data=json.dumps(body).encode(),
                                         method="POST",
                                         headers={"Content-Type": "application/json"})
            if token:
                req.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as err:
                return err.code, json.loads(err.read())

        status, _ = post({"text": "加我vx abc12345"})
        assert status == 401
        status, body = post({"text": "加我vx abc12345", "platform": "pdd"}, "s3cret-token-123")
        assert status == 200
        assert body["violations"] and body["violations"][0]["severity"] == "critical"
        status, body = post({"text": "亲，已经发货了哦"}, "s3cret-token-123")
        assert status == 200 and body["violations"] == []
