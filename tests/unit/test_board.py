"""Issue 17: the board's read-outs, feed, access rules and links, without a broker or a loop."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agents.board.access import Access, is_loopback
from agents.board.data import LocalSource, counting_note, counting_notes
from agents.board.feed import BoardFeed
from agents.board.http import answer, static_files
from agents.board.links import BoardLinks, with_board_links
from agents.board.merge import _add_shop
from agents.pipeline import log_ref
from alerts.alertmanager import EventAlert, board_link
from alerts.pager.render import notices
from stream.config import load_settings
from stream.core.policy import Policy
from stream.errors import ConfigError
from tests.unit.test_pipeline import T0, FakeAlerts, make

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def feed_events(pipeline, events):
    for i, e in enumerate(events):
        raw = json.dumps(e, ensure_ascii=False).encode()
        pipeline.on_message(0, i, f"{e['shop_id']}:{e['buyer_id']}".encode(), raw)


def msg(i, ts, sender, text, buyer, agent=None, shop="shop-b"):
    e = {"event_id": f"e{i}", "ts": ts, "shop_id": shop, "buyer_id": buyer, "type": "message",
         "sender": sender, "text": text}
    if agent:
        e["agent_id"] = agent
    return e


def source(pipeline, now):
    return LocalSource(pipeline.engine, pipeline.board, lambda: [0], lambda: now)


# --- counted hours -----------------------------------------------------------------------------


def test_counting_note_before_counted_hours_says_when_counting_starts():
    note = counting_note(Policy(), SHANGHAI, _ms("2026-11-11T05:30:00+08:00"))
    assert note["counting"] is False
    assert note["counting_starts"] == "2026-11-11T08:00:00+08:00"
    assert "08:00-23:00 Asia/Shanghai" in note["message"]
    assert "2026-11-11 08:00" in note["message"]


def test_counting_note_after_counted_hours_points_to_tomorrow():
    note = counting_note(Policy(), SHANGHAI, _ms("2026-11-11T23:30:00+08:00"))
    assert note["counting"] is False and note["counting_starts"] == "2026-11-12T08:00:00+08:00"


def test_counting_note_in_counted_hours():
    note = counting_note(Policy(), SHANGHAI, _ms("2026-11-11T10:00:00+08:00"))
    assert note["counting"] is True and "counting_starts" not in note


def test_counting_notes_name_the_shops_outside_counted_hours():
    pipeline, *_ = make()
    night = _ms("2026-11-11T05:30:00+08:00")
    feed_events(pipeline, [msg(1, night, "buyer", "在吗", "b1")])
    pipeline.sweep(night, {0: True})
    [note] = counting_notes(pipeline.engine, [0])
    assert note["shop_id"] == "shop-b" and note["counting_starts"].startswith("2026-11-11T08:00")
    summary = source(pipeline, night).summary()
    [shop] = summary["shops"]
    assert shop["uncounted_open_waits"] == 1 and shop["kpis"][0]["value"] is None


# --- read-outs ---------------------------------------------------------------------------------


def test_waits_oldest_first_limited_masked_and_at_risk():
    pipeline, *_ = make()
    events = [msg(i, T0 + i * 10_000, "buyer", "有货吗", f"buyer-{i}") for i in range(30)]
    feed_events(pipeline, events)
    now = T0 + 250_000  # the first wait is 250 s old: at risk (240 s), not yet breached
    body = source(pipeline, now).waits(limit=5)
    assert body["total"] == 30 and len(body["waits"]) == 5
    assert [w["start_ms"] for w in body["waits"]] == [T0 + i * 10_000 for i in range(5)]
    first = body["waits"][0]
    assert first["ref"] == log_ref("shop-b:buyer-0") and first["at_risk"] is True
    assert first["deadlines"][0]["left_seconds"] == pytest.approx(50.0)
    assert body["waits"][1]["at_risk"] is True and body["waits"][2]["at_risk"] is False
    assert "buyer-" not in json.dumps(body)
    summary = source(pipeline, now).summary("shop-b")["shops"][0]
    assert summary["open_waits"] == 30 and summary["at_risk_waits"] == 2
    assert summary["oldest_wait_seconds"] == pytest.approx(250.0)


def test_summary_kpis_equal_the_daily_figures():
    pipeline, *_ = make()
    feed_events(pipeline, [msg(1, T0, "buyer", "在吗", "b1"), msg(2, T0, "buyer", "在吗", "b2"),
                           msg(3, T0 + 5_000, "agent", "在的", "b1", agent="a1")])
    pipeline.sweep(T0 + 400_000, {0: True})  # b2's wait breaches
    [shop] = source(pipeline, T0 + 400_000).summary()["shops"]
    [row] = [r.as_dict() for r in pipeline.engine.report()]
    assert shop["figures"] == row
    kpi, human = shop["kpis"]  # PDD's list: the 5-minute rate, the 3-minute human rate
    assert (kpi["name"], kpi["units"], kpi["breached"]) == ("pdd_5min", 2, 1)
    assert kpi["value"] == row["reply_rate"] == 0.5 and kpi["target"] == 0.70
    assert (human["name"], human["label"], human["target"]) == ("pdd_3min_human",
                                                                "3分钟人工回复率", 0.5)
    assert (human["units"], human["breached"]) == (2, 1)


def test_agents_ranked_by_breaches_then_violations():
    pipeline, *_ = make()
    feed_events(pipeline, [
        msg(1, T0, "buyer", "在吗", "b1"), msg(2, T0 + 1000, "agent", "亲，有货的", "b1", agent="a1"),
        msg(3, T0 + 2000, "buyer", "有货吗", "b1"),   # a1 holds this wait; it breaches
        msg(4, T0, "buyer", "在吗", "b2"),
        msg(5, T0 + 3000, "agent", "加我微信 abc12345", "b2", agent="a2"),
        msg(6, T0 + 310_000, "buyer", "人呢", "b3")])
    pipeline.sweep(T0 + 330_000, {0: True})
    agents = source(pipeline, T0 + 330_000).agents()["agents"]
    assert [(a["agent"], a["breaches"], a["violations"]) for a in agents[:2]] == [
        ("a1", 1, 0), ("a2", 0, 1)]
    # the engine's agent-days (Engine.agent_days): both replies came within 15 s
    assert all(a["slow_replies"] == 0 for a in agents)
    a1 = next(a for a in agents if a["agent"] == "a1")
    assert a1["answer_ratio"] == 1 / 1 and a1["waits"] == 1 and a1["max_concurrent"] == 1
    assert {k["name"]: k["breached"] for k in a1["kpis"]} == {"pdd_5min": 1,
                                                              "pdd_3min_human": 1}
    assert {a["agent"]: a["holding"] for a in agents}["unassigned"] == 1


def test_violations_are_masked_and_carry_no_conversation_id():
    pipeline, *_ = make()
    feed_events(pipeline, [msg(1, T0, "buyer", "在吗", "buyer-secret"),
                           msg(2, T0 + 1000, "agent", "加我微信 abc12345", "buyer-secret",
                               agent="a1")])
    [item] = source(pipeline, T0).violations()["violations"]
    assert item["categories"] == ["wechat"] and item["severity"] == "critical"
    assert item["ref"] == log_ref("shop-b:buyer-secret")
    assert "abc12345" not in json.dumps(item, ensure_ascii=False)
    assert "buyer-secret" not in json.dumps(item)
    assert source(pipeline, T0).violations(since=item["seq"])["violations"] == []


def test_feed_is_bounded_per_shop_and_keeps_few_days():
    feed = BoardFeed(per_shop=3)
    for i in range(10):
        feed.violation({"event_id": f"e{i}", "shop_id": "s", "conversation_id": "s:b",
                        "agent": "a", "ts": f"2026-11-{i + 1:02d}T10:00:00+08:00", "text": "x",
                        "violations": [{"category": "qq", "severity": "critical"}]})
    assert [v["seq"] for v in feed.recent("s")] == [10, 9, 8]
    assert {k[1] for k in feed.agent_counts} == {"2026-11-08", "2026-11-09", "2026-11-10"}


# --- access ------------------------------------------------------------------------------------


def test_open_board_refused_beyond_loopback_naming_the_setting():
    settings = load_settings(environ={"CHATWATCH_WEB_HOST": "0.0.0.0"})
    with pytest.raises(ConfigError, match="CHATWATCH_BOARD_TOKEN"):
        Access.from_settings(settings)
    assert Access.from_settings(load_settings(environ={})).open
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")


def test_token_basic_auth_and_cookie():
    settings = load_settings(environ={"CHATWATCH_WEB_HOST": "0.0.0.0",
                                      "CHATWATCH_BOARD_TOKEN": "tok-123",
                                      "CHATWATCH_BOARD_BASIC_AUTH": "boss:pw"})
    access = Access.from_settings(settings)
    assert not access.allows({}, {}, {})
    assert access.allows({"Authorization": "Bearer tok-123"}, {}, {})
    assert access.allows({}, {"token": "tok-123"}, {})
    assert access.allows({}, {}, {"chatwatch_board": "tok-123"})
    assert not access.allows({"Authorization": "Bearer wrong"}, {}, {})
    good = "Basic " + base64.b64encode(b"boss:pw").decode()
    assert access.allows({"Authorization": good}, {}, {})
    assert not access.allows({"Authorization": "Basic " + base64.b64encode(b"boss:x").decode()},
                             {}, {})
    assert access.challenge()["WWW-Authenticate"].startswith("Basic")
    check_only = load_settings(environ={"CHATWATCH_WEB_HOST": "0.0.0.0",
                                        "CHATWATCH_CHECK_TOKEN": "chk"})
    assert Access.from_settings(check_only).token == "chk"


def test_answer_checks_access_and_serves_the_page_and_api():
    pipeline, *_ = make()
    feed_events(pipeline, [msg(1, T0, "buyer", "在吗", "b1")])
    access = Access(token="tok")
    static = static_files()
    src = source(pipeline, T0 + 1000)

    def call(path, headers=None, query=None):
        return asyncio.run(answer(src, access, static, path, headers or {}, query or {}, {}))

    assert call("/api/waits")[0] == 401
    status, body, ctype, headers = call("/", query={"token": "tok"})
    assert status == 200 and ctype.startswith("text/html") and b"board.js" in body
    assert headers["Set-Cookie"].startswith("chatwatch_board=tok;")
    status, body, *_ = call("/api/waits", {"Authorization": "Bearer tok"}, {"limit": "1"})
    assert status == 200 and json.loads(body)["total"] == 1
    status, body, *_ = call("/api/waits", {"Authorization": "Bearer tok"}, {"limit": "x"})
    assert status == 400 and "limit" in json.loads(body)["error"]
    for path in ("/board.js", "/board.css"):
        assert call(path, {"Authorization": "Bearer tok"})[0] == 200


def test_page_loads_nothing_from_outside():
    for body, _ in static_files().values():
        text = body.decode()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


# --- links -------------------------------------------------------------------------------------


def test_event_alerts_link_to_the_board_filtered_to_shop_and_conversation():
    sink = FakeAlerts()
    linked = with_board_links(sink, "https://board.example/")
    assert with_board_links(sink, None) is sink
    alert = EventAlert.forbidden_content(shop="店铺 1", agent="a", category="wechat",
                                         masked_text="x",
                                         conversation_id=log_ref("店铺 1:buyer-9"),
                                         at=datetime(2026, 11, 11, 10, tzinfo=SHANGHAI))
    assert isinstance(linked, BoardLinks) and linked.submit_nowait(alert)
    [sent] = sink.alerts
    want = board_link("https://board.example", "店铺 1", log_ref("店铺 1:buyer-9"))
    assert sent.link == want and sent.extra_annotations["board_url"] == want
    assert want.startswith("https://board.example/?shop=%E5%BA%97") and "buyer-9" not in want
    api = sent.to_api(datetime(2026, 11, 11, 10, 5, tzinfo=SHANGHAI))
    assert api["annotations"]["board_url"] == want and api["generatorURL"] == want


def test_pipeline_alerts_carry_the_board_link():
    pipeline, _, _, _, alerts = make(CHATWATCH_BOARD_URL="http://127.0.0.1:6066")
    pipeline.alerts = with_board_links(alerts, pipeline.settings.board_url)
    feed_events(pipeline, [msg(1, T0, "buyer", "在吗", "b1"),
                           msg(2, T0 + 1000, "agent", "加我微信 abc12345", "b1", agent="a1")])
    [alert] = alerts.alerts
    assert alert.link == f"http://127.0.0.1:6066/?shop=shop-b&ref={log_ref('shop-b:b1')}"


def test_every_pager_notice_links_to_the_board():
    payload = {"alerts": [{"status": "firing", "labels": {"alertname": "WaitAtRisk",
                                                         "shop": "shop-7", "severity": "warning"},
                           "annotations": {"summary": "s"}, "startsAt": "2026-11-11T02:00:00Z"}],
               "commonLabels": {"alertname": "WaitAtRisk", "shop": "shop-7"}}
    [notice] = notices(payload, board_url="https://board.example")
    assert notice.board == "https://board.example/?shop=shop-7"
    assert "[看板](https://board.example/?shop=shop-7)" in notice.markdown()
    assert "看板：https://board.example/?shop=shop-7" in notice.plain()
    payload["alerts"][0]["annotations"]["board_url"] = "https://b/?shop=shop-7&ref=c-1"
    assert notices(payload, board_url="https://other")[0].board == "https://b/?shop=shop-7&ref=c-1"
    assert notices({"alerts": payload["alerts"][:0]}) == []


# --- merge -------------------------------------------------------------------------------------


def test_merging_two_workers_sums_counts_and_recomputes_rates():
    def row(units, breached, responses, mean):
        figures = {"shop_id": "s", "day": "2026-11-11", "consultations": units,
                   "unreplied": breached, "reply_rate": None, "waits": units,
                   "waits_breached": breached, "responses": responses,
                   "mean_response_seconds": mean, "fast_responses": 0}
        return {"day": "2026-11-11", "open_waits": 1, "uncounted_open_waits": 0,
                "at_risk_waits": 1, "oldest_wait_seconds": float(units), "figures": figures,
                "kpis": [{"name": "reply_rate", "units": units, "breached": breached,
                          "value": None}]}

    mine = row(10, 5, 4, 10.0)
    _add_shop(mine, row(30, 5, 12, 30.0))
    assert mine["kpis"][0]["value"] == pytest.approx(30 / 40)
    assert mine["figures"]["reply_rate"] == pytest.approx(30 / 40)
    assert mine["figures"]["mean_response_seconds"] == pytest.approx((40 + 360) / 16)
    assert (mine["open_waits"], mine["oldest_wait_seconds"]) == (2, 30.0)


def test_how_it_was_found_is_shown_from_the_record():
    feed = BoardFeed()
    feed.violation({"event_id": "e1", "shop_id": "s", "conversation_id": "s:b", "agent": "a",
                    "ts": "2026-11-11T10:00:00+08:00", "text": "x", "how": "pinyin",
                    "violations": [{"category": "wechat", "severity": "critical",
                                    "how": "homophone"}]})
    assert feed.recent("s")[0]["how"] == ["homophone", "pinyin"]


def test_discover_lists_one_worker_per_address():
    from agents.board.merge import discover

    assert discover("localhost:6071") in (["http://127.0.0.1:6071"],
                                          ["http://127.0.0.1:6071", "http://[::1]:6071"])


def test_rules_link_to_the_board_when_rendered_with_its_url():
    import yaml

    from alerts.rulegen import Thresholds, render

    def annotations(text):
        return [r["annotations"] for g in yaml.safe_load(text)["groups"] for r in g["rules"]
                if "alert" in r]

    assert all("board_url" not in a for a in annotations(render()))
    linked = annotations(render(Thresholds(board_url="https://board.example/")))
    assert linked and all(a["board_url"] == "https://board.example/?shop={{ $labels.shop | "
                          "urlquery }}" for a in linked)
