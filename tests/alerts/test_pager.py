"""The pager bridge against local fake robot endpoints: exact payloads and signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from alerts.errors import PagerConfigError
from alerts.pager import PagerConfig, Target, create_app, load_pager_config

NOW = 1_700_000_000.5
TOKEN = "s3cret-token"


class FakeRobots:
    """One aiohttp server playing DingTalk, WeCom, Feishu, Slack and a generic webhook."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], Any]] = []
        self.fail: set[str] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.calls.append((name, dict(request.query), await request.json()))
        if name in self.fail:
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        if name == "slack":
            return web.Response(text="ok")
        if name == "feishu":
            return web.json_response({"code": 0, "msg": "success"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def of(self, name: str) -> list[tuple[dict[str, str], Any]]:
        return [(q, b) for n, q, b in self.calls if n == name]


@pytest.fixture
async def robots() -> AsyncIterator[tuple[FakeRobots, str]]:
    fake = FakeRobots()
    app = web.Application()
    app.router.add_post("/{name}", fake.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield fake, str(server.make_url("")).rstrip("/")


def config(base: str) -> PagerConfig:
    return PagerConfig(token=TOKEN, targets=(
        Target("dingtalk", "dingtalk", f"{base}/dingtalk?access_token=abc", secret="SECding"),
        Target("wecom", "wecom", f"{base}/wecom?key=k1"),
        Target("feishu", "feishu", f"{base}/feishu", secret="feishu-secret"),
        Target("slack", "slack", f"{base}/slack"),
        Target("hook", "webhook", f"{base}/hook"),
        Target("shop-a", "dingtalk", f"{base}/shopa", default=False),
        Target("oncall", "wecom", f"{base}/oncall", severities=("page",)),
    ))


@pytest.fixture
async def bridge(robots: tuple[FakeRobots, str]) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(config(robots[1]), clock=lambda: NOW)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def payload(status: str = "firing", **over: Any) -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {"alertname": "ForbiddenContent", "shop": "shop-a", "agent": "小王",
                   "severity": "page", "category": "wechat"},
        "annotations": {"summary": "店铺 shop-a 客服 小王 发送了禁止内容（wechat）",
                        "text": "加我vx ab1******89", "conversation_id": "c-42"},
        "startsAt": "2026-11-11T02:00:00Z",
        "endsAt": "2026-11-11T02:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://chatwatch.example/conversations/c-42",
        "fingerprint": "f00d",
    }
    alert.update(over)
    return {
        "version": "4", "groupKey": "{}:{alertname=\"ForbiddenContent\", shop=\"shop-a\"}",
        "truncatedAlerts": 0, "status": status, "receiver": "pager-page",
        "groupLabels": {"alertname": "ForbiddenContent", "shop": "shop-a"},
        "commonLabels": alert["labels"], "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example", "alerts": [alert],
    }


LINE = ("- 店铺：shop-a · 客服：小王 · 发送了禁止内容（微信）：加我vx ab1******89"
        "（会话 c-42，开始 11-11 10:00:00，Asia/Shanghai）")
TITLE = "【紧急】禁止内容 · 店铺 shop-a"
LINK = "http://chatwatch.example/conversations/c-42"


async def post(client: TestClient[Any, Any], body: dict[str, Any], query: str = "",
               token: str | None = TOKEN) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = await client.post(f"/alerts{query}", json=body, headers=headers)
    return resp.status


async def test_firing_alert_exact_payloads(bridge: TestClient[Any, Any],
                                           robots: tuple[FakeRobots, str]) -> None:
    fake, _ = robots
    assert await post(bridge, payload()) == 200

    [(query, body)] = fake.of("dingtalk")
    ts = str(int(NOW * 1000))
    expected_sign = base64.b64encode(hmac.new(
        b"SECding", f"{ts}\nSECding".encode(), hashlib.sha256).digest()).decode()
    assert query == {"access_token": "abc", "timestamp": ts, "sign": expected_sign}
    assert body == {"msgtype": "markdown", "markdown": {
        "title": TITLE, "text": f"### {TITLE}\n\n{LINE}\n\n[查看详情]({LINK})"}}

    [(query, body)] = fake.of("wecom")
    assert query == {"key": "k1"}
    assert body == {"msgtype": "markdown",
                    "markdown": {"content": f"### {TITLE}\n{LINE}\n[查看详情]({LINK})"}}

    [(_, body)] = fake.of("feishu")
    feishu_sign = base64.b64encode(hmac.new(
        f"{int(NOW)}\nfeishu-secret".encode(), b"", hashlib.sha256).digest()).decode()
    plain = f"{TITLE}\n{LINE}\n详情：{LINK}"
    assert body == {"timestamp": str(int(NOW)), "sign": feishu_sign, "msg_type": "text",
                    "content": {"text": plain}}

    [(_, body)] = fake.of("slack")
    assert body == {"text": plain}

    [(_, body)] = fake.of("hook")
    assert body["status"] == "firing" and body["severity"] == "page"
    assert body["shop"] == "shop-a" and body["agents"] == ["小王"]
    assert body["title"] == TITLE and body["text"] == plain and body["link"] == LINK
    assert body["alerts"][0]["fingerprint"] == "f00d"

    [(_, body)] = fake.of("oncall")            # severity filter [page] lets it through
    assert body["msgtype"] == "markdown"
    assert fake.of("shopa") == []              # not a default target


async def test_signature_is_url_encoded_in_query(robots: tuple[FakeRobots, str]) -> None:
    from alerts.pager.robots import dingtalk_sign
    sign = dingtalk_sign("SECding", 1700000000500)
    raw = base64.b64encode(hmac.new(b"SECding", b"1700000000500\nSECding",
                                    hashlib.sha256).digest()).decode()
    assert sign == urllib.parse.quote_plus(raw)


async def test_dedup_then_resolved_notice(bridge: TestClient[Any, Any],
                                          robots: tuple[FakeRobots, str]) -> None:
    fake, _ = robots
    assert await post(bridge, payload()) == 200
    assert await post(bridge, payload()) == 200          # Alertmanager retry / HA peer
    assert len(fake.of("dingtalk")) == 1
    assert await post(bridge, payload("resolved")) == 200
    assert len(fake.of("dingtalk")) == 2
    text = fake.of("dingtalk")[1][1]["markdown"]["text"]
    assert text.startswith("### 【已恢复】禁止内容 · 店铺 shop-a\n\n")
    assert "恢复 11-11 10:05:00" in text
    assert await post(bridge, payload("resolved")) == 200
    assert len(fake.of("dingtalk")) == 2


async def test_token_required(bridge: TestClient[Any, Any],
                              robots: tuple[FakeRobots, str]) -> None:
    assert await post(bridge, payload(), token=None) == 401
    assert await post(bridge, payload(), token="wrong") == 401
    assert robots[0].calls == []
    assert await post(bridge, payload(), query=f"?token={TOKEN}", token=None) == 200
    health = await bridge.get("/healthz")
    assert health.status == 200


async def test_named_target_and_severity_filter(bridge: TestClient[Any, Any],
                                                robots: tuple[FakeRobots, str]) -> None:
    fake, _ = robots
    assert await post(bridge, payload(), query="?target=shop-a") == 200
    assert [n for n, _, _ in fake.calls] == ["shopa"]
    assert await post(bridge, payload(), query="?target=nope") == 404
    warning = payload(fingerprint="beef")
    for alert in warning["alerts"]:
        alert["labels"] = {**alert["labels"], "alertname": "WaitAtRisk", "severity": "warning"}
        alert["annotations"] = {"summary": "店铺 shop-a 有买家已等待 4m 10s / wait at risk"}
    warning["commonLabels"] = warning["alerts"][0]["labels"]
    warning["groupLabels"] = {"alertname": "WaitAtRisk", "shop": "shop-a"}
    fake.calls.clear()
    assert await post(bridge, warning) == 200
    assert "oncall" not in {n for n, _, _ in fake.calls}
    [(_, body)] = fake.of("slack")
    assert body["text"].startswith("【提醒】买家等待即将超时 · 店铺 shop-a\n- 店铺：shop-a · 客服：小王 · "
                                   "店铺 shop-a 有买家已等待 4m 10s / wait at risk")


async def test_failed_target_gets_502_and_only_it_is_retried(
        bridge: TestClient[Any, Any], robots: tuple[FakeRobots, str]) -> None:
    fake, _ = robots
    fake.fail.add("dingtalk")
    assert await post(bridge, payload()) == 502
    assert len(fake.of("wecom")) == 1
    fake.fail.clear()
    assert await post(bridge, payload()) == 200          # Alertmanager's retry
    assert len(fake.of("dingtalk")) == 2
    assert len(fake.of("wecom")) == 1


def test_config_from_yaml_and_env(tmp_path: Any) -> None:
    path = tmp_path / "pager.yml"
    path.write_text("token: t\ntargets:\n  - {name: ops, kind: feishu, url: 'https://f.example/h',"
                    " secret: x, severities: [page]}\n")
    cfg = load_pager_config(path, environ={"CHATWATCH_PAGER_DINGTALK_URL": "https://d.example/r",
                                           "CHATWATCH_PAGER_DINGTALK_SECRET": "SEC"})
    assert [(t.name, t.kind, t.secret) for t in cfg.targets] == [
        ("ops", "feishu", "x"), ("dingtalk", "dingtalk", "SEC")]
    assert cfg.token == "t"


@pytest.mark.parametrize(("text", "match"), [
    ("targets: []\n", "needs a token"),
    ("token: t\ntargets: [{kind: pigeon, url: 'http://x'}]\n", "kind='pigeon'"),
    ("token: t\ntargets: [{kind: slack, url: 'ftp://x'}]\n", "url='ftp://x'"),
    ("token: t\ntargets: [{kind: slack, url: 'http://x'}, {kind: slack, url: 'http://y'}]\n",
     "used twice"),
])
def test_config_errors_name_the_key(tmp_path: Any, text: str, match: str) -> None:
    path = tmp_path / "pager.yml"
    path.write_text(text)
    with pytest.raises(PagerConfigError, match=match):
        load_pager_config(path, environ={})


def test_example_config_loads() -> None:
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "deploy/alertmanager/pager.example.yml"
    cfg = load_pager_config(path, environ={"CHATWATCH_PAGER_TOKEN": "x"})
    assert {t.name for t in cfg.targets} >= {"ops", "shop-a-dingtalk", "shop-b-wecom"}
