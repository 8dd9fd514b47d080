"""Issue 7 security: Kafka SASL/SSL from the environment, start-up errors, /check tokens, PII.

The pager bridge's token is tested with the bridge itself (tests/alerts/test_pager.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import faust
import pytest

from agents.app import _credentials
from stream.config import load_settings
from stream.errors import BrokerError
from stream.kafka import client_kwargs, ensure_topics

SASL_ENV = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "chatwatch", "KAFKA_SASL_PASSWORD": "pw-123"}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A self-signed certificate and key (used as CA and as client certificate)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "client.pem", d / "client.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=chatwatch-test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return {"KAFKA_SSL_CAFILE": str(cert), "KAFKA_SSL_CERTFILE": str(cert),
            "KAFKA_SSL_KEYFILE": str(key)}


# --- SASL / SSL reach the clients ---------------------------------------------------------------


def test_plaintext_by_default() -> None:
    settings = load_settings(environ={})
    assert client_kwargs(settings) == {"security_protocol": "PLAINTEXT"}
    assert _credentials(settings) is None


def test_sasl_plaintext_from_environment() -> None:
    settings = load_settings(environ=SASL_ENV)
    kwargs = client_kwargs(settings)
    assert kwargs == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                      "sasl_plain_username": "chatwatch", "sasl_plain_password": "pw-123"}
    creds = _credentials(settings)
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password) == ("chatwatch", "pw-123")
    assert str(creds.mechanism.value) == "SCRAM-SHA-512"
    assert creds.ssl_context is None
    assert creds.protocol.value == "SASL_PLAINTEXT"


def test_sasl_ssl_from_environment(tls_files: dict[str, str]) -> None:
    env = {**SASL_ENV, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN",
           "KAFKA_SSL_CAFILE": tls_files["KAFKA_SSL_CAFILE"]}
    settings = load_settings(environ=env)
    kwargs = client_kwargs(settings)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "PLAIN"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    # the configured CA is loaded (the default context would trust the system store only)
    assert any(c.get("subject") == ((("commonName", "chatwatch-test"),),)
               for c in kwargs["ssl_context"].get_ca_certs())
    creds = _credentials(settings)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_SSL"
    assert isinstance(creds.ssl_context, ssl.SSLContext)


def test_mutual_tls_from_environment(tls_files: dict[str, str]) -> None:
    settings = load_settings(environ={"KAFKA_SECURITY_PROTOCOL": "SSL", **tls_files})
    kwargs = client_kwargs(settings)
    assert kwargs["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in kwargs
    creds = _credentials(settings)
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.context is kwargs["ssl_context"] or isinstance(creds.context, ssl.SSLContext)


def test_security_settings_from_the_file_section(tls_files: dict[str, str]) -> None:
    from stream.config import settings_from_mapping

    doc = {"kafka": {"security_protocol": "SSL", "ssl_cafile": tls_files["KAFKA_SSL_CAFILE"]}}
    settings = settings_from_mapping(doc, {"KAFKA_SASL_USERNAME": "ignored-without-sasl"})
    assert client_kwargs(settings)["security_protocol"] == "SSL"


# --- start-up errors are one clear line, never a hang ---------------------------------------------


def _chatwatch(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CHATWATCH_", "KAFKA_"))}
    return subprocess.run([sys.executable, "-m", "stream", *args], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("env", "needle"), [
    ({"CHATWATCH_PARTITIONS": "0"}, "CHATWATCH_PARTITIONS=0"),
    ({"CHATWATCH_WEB_PORT": "web"}, "CHATWATCH_WEB_PORT='web'"),
    ({"KAFKA_BROKER": "localhost:9092"}, "KAFKA_BROKER='localhost:9092'"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
])
def test_worker_with_bad_config_exits_with_one_line(tmp_path: Path, env: dict[str, str],
                                                    needle: str) -> None:
    done = _chatwatch(["worker"], env, tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("chatwatch: bad configuration ") and needle in lines[0]


def test_worker_with_bad_config_file_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "chatwatch.yml"
    config.write_text("platforms:\n  pdd:\n    window_seconds: -1\n", encoding="utf-8")
    done = _chatwatch(["worker"], {"CHATWATCH_CONFIG": str(config)}, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "chatwatch: bad configuration platforms.pdd.window_seconds=-1: "
        "a positive number of seconds")


def test_worker_with_unreachable_broker_says_what_and_how(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = _chatwatch(["worker"], {"KAFKA_BROKER": f"kafka://127.0.0.1:{port}"}, tmp_path)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"chatwatch: cannot reach the Kafka broker at kafka://127.0.0.1:{port}")
    assert "check KAFKA_BROKER" in last


async def test_ensure_topics_gives_up_on_a_silent_broker() -> None:
    """A host that accepts connections but never answers must not hang the start-up."""
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = load_settings(environ={})
    try:
        with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{port}.*check KAFKA_BROKER"):
            await asyncio.wait_for(ensure_topics(settings, f"kafka://127.0.0.1:{port}",
                                                 timeout=1.0), 30)
    finally:
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()


# --- a live worker: /check token, no buyer ids or contact details in metrics or logs --------------


def _post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, object]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_check_token_and_no_pii_in_metrics_or_logs(broker, tmp_path: Path, unique: str) -> None:
    from stream.testing import WorkerProcess, produce, run, topic_config, wait_for

    cfg = topic_config(unique)
    token = "tok-" + unique
    buyers = [f"buyer-secret-{unique}-{i}" for i in range(4)]
    phone = "13812345678"
    t0 = 1794362400000  # 2026-11-11 10:00 +08:00: long past, so every wait breaches at once
    questions, replies = [], []
    for i, buyer in enumerate(buyers):
        base = {"shop_id": "shop-pii", "buyer_id": buyer, "type": "message"}
        questions.append({**base, "event_id": f"{unique}-{i}-q", "ts": t0 + i, "sender": "buyer",
                          "text": f"我的电话 {phone}，加我微信 wx_{buyer}"})
        # stamped inside the window but arriving after the breach: retracted (and logged)
        replies.append({**base, "event_id": f"{unique}-{i}-a", "ts": t0 + 60_000 + i,
                        "sender": "agent", "agent_id": "a1", "text": f"好的，打我电话 {phone}"})
    bad = {"event_id": f"{unique}-bad", "ts": "soon", "shop_id": "shop-pii",
           "buyer_id": buyers[0], "type": "message", "sender": "buyer", "text": phone}
    env = {"CHATWATCH_CHECK_TOKEN": token, "CHATWATCH_LOG_LEVEL": "debug"}
    with WorkerProcess(tmp_path, broker.url, cfg, env) as worker:
        run(produce(broker.url, cfg["events_topic"], [*questions, bad]))
        wait_for(lambda: worker.sample("chatwatch_waits_breached_total", shop="shop-pii")
                 == len(buyers) and worker.sample("chatwatch_events_total", outcome="invalid"),
                 timeout=30)
        run(produce(broker.url, cfg["events_topic"], replies))
        wait_for(lambda: worker.sample("chatwatch_events_total", outcome="processed")
                 == len(questions) + len(replies), timeout=30)
        assert worker.sample("chatwatch_violations_total", shop="shop-pii", category="phone",
                             severity="critical") == len(replies)

        url = worker.url + "/check"
        body = {"text": f"加我微信 abc123，电话 {phone}", "platform": "pdd"}
        assert _post(url, body)[0] == 401
        assert _post(url, body, {"Authorization": "Bearer wrong"})[0] == 401
        assert _post(url, body, {"Authorization": token})[0] == 401  # the scheme is required
        status, answer = _post(url, body, {"Authorization": f"Bearer {token}"})
        assert status == 200
        assert isinstance(answer, dict)
        found = {(v["category"], v["severity"]) for v in answer["violations"]}
        assert ("phone", "critical") in found and ("wechat", "critical") in found
        status, answer = _post(url, {"text": "亲，今天下单今天发货"},
                               {"Authorization": f"Bearer {token}"})
        assert (status, answer) == (200, {"violations": [], "total": 0, "capped": False})
        assert _post(url, {"txt": "x"}, {"Authorization": f"Bearer {token}"})[0] == 400

        metrics = (worker.get("/metrics") or b"").decode()
        # faust's own table and router pages would serve a conversation row by key
        for path in (f"/table/conversations/shop-pii:{buyers[0]}/", "/table/",
                     "/router/", "/router/conversations/"):
            page = worker.get(path) or b""
            assert buyers[0].encode() not in page and b"conversations" not in page, path
    log = worker.log_path.read_text(encoding="utf-8", errors="replace")
    assert "shop-pii" in metrics  # the shop is a label; the buyer is not
    assert "dead-lettered" in log and "retracted" in log  # the lines that could leak did run
    for secret in [*buyers, phone, token]:
        assert secret not in metrics, secret
        assert secret not in log, secret


def test_check_and_the_live_path_judge_a_configured_shop_under_the_same_platform() -> None:
    # a PDD shop whose events say taobao: a taobao.com link is off-platform for PDD, live and
    # in /check alike (one resolution of the shop's platform)
    from stream.check import check_text
    from stream.core.engine import Engine
    from tests.unit.test_reply_window import ev, settings_yaml, to_event

    settings = settings_yaml("""
        shops:
          s1: {platform: pdd}
    """)
    guard = settings.content.guard()
    text = "亲，去这里拍 https://item.taobao.com/item.htm?id=1"
    engine = Engine(settings.policies, guard)
    applied = engine.apply(to_event(ev("agent", 0, platform="taobao", text=text)))
    live = applied.flagged
    checked = check_text(guard, settings.policies, text, "taobao", "agent", "s1")
    assert settings.policies.platform_of("taobao", "s1") == "pdd"
    assert live is not None and checked["violations"]
    assert {f.category for f in live.findings} == {v["category"] for v in checked["violations"]}
