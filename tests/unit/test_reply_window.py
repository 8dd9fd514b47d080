"""DOMAIN.md §3, rule by rule, on the pure engine (no broker, no event loop).

Every case is a hand-made event log fed to :class:`stream.core.engine.Engine` in arrival order
and finished as a backfill would (rule 8), unless a case drives the watermark itself. The
helpers here build events in the wire form and decode them with the real decoder, so the
``ts`` forms of §2 are exercised too; other unit test modules import them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from stream.config import Settings, load_settings, settings_from_mapping
from stream.core.engine import Applied, Engine
from stream.core.events import ChatEvent
from stream.core.reply_window import (
    BreachRetracted,
    WaitBreached,
    WaitClosed,
    WaitOpened,
)
from stream.schema import Invalid, decode

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 11, 10, 0, tzinfo=SHANGHAI)  # a counted hour on a Wednesday
T0_MS = 1794362400000
DAY = "2026-11-11"

_ids = itertools.count(1)


def ts_of(at: float | datetime, form: str = "offset") -> str | int:
    """``at`` (seconds after T0, or a datetime) in one of the §2 wire forms."""
    moment = at if isinstance(at, datetime) else T0 + timedelta(seconds=at)
    if form == "epoch":
        return round(moment.timestamp() * 1000)
    if form == "utc":
        return moment.astimezone(ZoneInfo("UTC")).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")
    return moment.isoformat(timespec="milliseconds")


def ev(kind: str, at: float | datetime = 0, *, shop: str = "s1", buyer: str = "b1",
       form: str = "offset", **extra: Any) -> dict[str, Any]:
    """One wire event. ``kind``: buyer, ad, peer, agent, bot, system, read, end or transfer."""
    body: dict[str, Any] = {"event_id": f"e{next(_ids)}", "ts": ts_of(at, form),
                            "shop_id": shop, "buyer_id": buyer}
    if kind in ("read", "end", "transfer"):
        body["type"] = kind
    else:
        body.update(type="message", text="hi")
        if kind in ("ad", "peer"):
            body.update(sender="buyer", buyer_kind=kind)
        else:
            body["sender"] = kind
        if kind in ("agent", "bot"):
            body["agent_id"] = "bot-1" if kind == "bot" else "a1"
    body.update(extra)
    return body


def to_event(body: Mapping[str, Any], default_platform: str = "pdd") -> ChatEvent:
    """Decode a wire event with the real decoder; a test event must be valid."""
    event = decode(json.dumps(body).encode(), default_platform)
    assert not isinstance(event, Invalid), event
    return event


def feed(events: Iterable[Mapping[str, Any]], settings: Settings | None = None,
         finish: bool = True) -> tuple[Engine, list[Applied]]:
    """Apply events in order (partition 0), then end the input unless told not to."""
    settings = settings or load_settings(environ={})
    engine = Engine(settings.policies)
    applied = [engine.apply(to_event(e, settings.default_platform)) for e in events]
    if finish:
        engine.finish()
    return engine, applied


def report(engine: Engine) -> list[dict[str, object]]:
    """The backfill report rows as dicts."""
    return [row.as_dict() for row in engine.report()]


def only_row(engine: Engine) -> dict[str, object]:
    """The single report row of a one-shop, one-day case."""
    rows = report(engine)
    assert len(rows) == 1, rows
    return rows[0]


def outcomes(applied: Iterable[Applied], kind: type) -> list[Any]:
    """All outcomes of one type, in order."""
    return [o for a in applied for o in a.outcomes if isinstance(o, kind)]


def settings_yaml(text: str) -> Settings:
    """Settings from a YAML config document (no environment)."""
    return settings_from_mapping(yaml.safe_load(text), {})


# --- rule 1: a customer message opens a wait ---------------------------------------------------


def test_customer_message_opens_a_wait_that_an_agent_closes() -> None:
    engine, applied = feed([ev("buyer", 0), ev("agent", 30)])
    assert only_row(engine) == {
        "shop_id": "s1", "day": DAY, "consultations": 1, "unreplied": 0, "reply_rate": 1.0,
        "waits": 1, "waits_breached": 0, "responses": 1, "mean_response_seconds": 30.0,
        "fast_responses": 0,
    }
    [opened] = outcomes(applied, WaitOpened)
    assert (opened.start_ms, opened.deadline_ms) == (T0_MS, T0_MS + 300_000)
    assert opened.counted and opened.shop_id == "s1" and opened.conversation_id == "s1:b1"


def test_more_buyer_messages_do_not_move_the_start() -> None:
    engine, applied = feed([ev("buyer", 0), ev("buyer", 200), ev("buyer", 290),
                            ev("agent", 320)])
    row = only_row(engine)
    assert (row["waits"], row["waits_breached"], row["responses"]) == (1, 1, 1)
    assert row["mean_response_seconds"] == 320.0  # measured from the first message
    assert len(outcomes(applied, WaitOpened)) == 1


def test_each_reply_lets_the_next_customer_message_open_a_new_wait() -> None:
    engine, _ = feed([ev("buyer", 0), ev("agent", 10), ev("buyer", 20), ev("agent", 50),
                      ev("buyer", 60)])
    row = only_row(engine)
    assert (row["waits"], row["responses"], row["waits_breached"]) == (3, 2, 1)
    assert row["consultations"] == 1 and row["unreplied"] == 1 and row["reply_rate"] == 0.0
    assert row["mean_response_seconds"] == 20.0


@pytest.mark.parametrize("kind", ["ad", "peer"])
def test_ad_and_peer_buyers_never_open_or_count(kind: str) -> None:
    engine, applied = feed([ev(kind, 0), ev(kind, 10), ev("agent", 500, buyer="b1")])
    assert report(engine) == []
    assert all(not a.outcomes for a in applied)


def test_ad_buyer_beside_a_customer_changes_nothing() -> None:
    engine, _ = feed([ev("ad", 0, buyer="spam"), ev("buyer", 5), ev("agent", 20)])
    row = only_row(engine)
    assert (row["consultations"], row["waits"], row["responses"]) == (1, 1, 1)


def test_shop_messages_without_a_waiting_buyer_do_nothing() -> None:
    engine, applied = feed([ev("agent", 0), ev("bot", 10), ev("agent", 20)])
    assert report(engine) == [] and all(not a.outcomes for a in applied)


# --- rule 2: shop replies; bot replies per policy -----------------------------------------------


def test_response_time_is_reply_minus_start_in_milliseconds() -> None:
    engine, applied = feed([ev("buyer", 0), ev("agent", 12.345)])
    [closed] = outcomes(applied, WaitClosed)
    assert closed.in_time and closed.response_seconds == 12.345
    assert only_row(engine)["mean_response_seconds"] == 12.345


@pytest.mark.parametrize(("platform", "closes"), [
    ("pdd", True), (None, True),  # no platform: the configured default, pdd
    ("taobao", False), ("jd", False), ("some-new-platform", False),
])
def test_bot_reply_closes_a_wait_only_where_the_policy_says_so(platform: str | None,
                                                               closes: bool) -> None:
    extra = {"platform": platform} if platform else {}
    engine, _ = feed([ev("buyer", 0, **extra), ev("bot", 2, **extra),
                      ev("agent", 400, **extra)])
    row = only_row(engine)
    if closes:
        assert (row["waits_breached"], row["mean_response_seconds"], row["fast_responses"]) == \
            (0, 2.0, 1)
    else:  # the bot does not count; the human reply at 400 s is late
        assert (row["waits_breached"], row["mean_response_seconds"], row["fast_responses"]) == \
            (1, 400.0, 0)


def test_per_shop_bot_policy_override_from_yaml() -> None:
    settings = settings_yaml("""
        shops:
          pdd-strict: {bot_replies_close_wait: false}
          tb-lenient: {platform: taobao, bot_replies_close_wait: true}
        platforms:
          jd: {bot_replies_close_wait: true}
    """)
    log = []
    for shop, platform in (("pdd-strict", "pdd"), ("tb-lenient", "taobao"), ("other", "jd"),
                           ("plain-tb", "taobao")):
        log += [ev("buyer", 0, shop=shop, platform=platform),
                ev("bot", 3, shop=shop, platform=platform)]
    engine, _ = feed(log, settings)
    breached = {r["shop_id"]: r["waits_breached"] for r in report(engine)}
    assert breached == {"pdd-strict": 1, "tb-lenient": 0, "other": 0, "plain-tb": 1}


def test_bot_policy_override_read_from_a_config_file(tmp_path: Any) -> None:
    path = tmp_path / "chatwatch.yml"
    path.write_text("platforms:\n  pdd:\n    bot_replies_close_wait: false\n", encoding="utf-8")
    engine, _ = feed([ev("buyer", 0), ev("bot", 1)], load_settings(path, environ={}))
    assert only_row(engine)["waits_breached"] == 1


# --- rule 3: system, read and end never open or close --------------------------------------------


def test_system_read_and_end_never_open_a_wait() -> None:
    engine, applied = feed([ev("system", 0), ev("read", 1), ev("end", 2)])
    assert report(engine) == [] and all(not a.outcomes for a in applied)


def test_system_read_and_end_never_close_a_wait() -> None:
    engine, applied = feed([ev("buyer", 0), ev("system", 1), ev("read", 2), ev("end", 3),
                            ev("agent", 310)])
    row = only_row(engine)
    assert (row["waits_breached"], row["mean_response_seconds"]) == (1, 310.0)
    assert [c.reply_ms for c in outcomes(applied, WaitClosed)] == [T0_MS + 310_000]


def test_buyer_who_reads_after_the_shop_spoke_leaves_nothing_pending() -> None:
    engine, _ = feed([ev("buyer", 0), ev("agent", 5), ev("read", 10), ev("end", 3600)])
    row = only_row(engine)
    assert (row["waits"], row["waits_breached"], row["unreplied"]) == (1, 0, 0)


# --- rule 4: the window boundary, breaches, late replies -----------------------------------------


def test_reply_at_exactly_start_plus_window_is_in_time() -> None:
    engine, applied = feed([ev("buyer", 0, form="epoch"), ev("agent", 300, form="epoch")])
    assert only_row(engine)["waits_breached"] == 0
    assert outcomes(applied, WaitClosed)[0].in_time


def test_reply_one_millisecond_after_the_window_is_late() -> None:
    engine, applied = feed([ev("buyer", 0), ev("agent", 300.001)])
    row = only_row(engine)
    assert (row["waits_breached"], row["unreplied"], row["reply_rate"]) == (1, 1, 0.0)
    [breach] = outcomes(applied, WaitBreached)
    assert breach.deadline_ms == T0_MS + 300_000
    assert not outcomes(applied, WaitClosed)[0].in_time


def test_never_answered_wait_is_breached_at_end_of_input() -> None:
    engine, _ = feed([ev("buyer", 0)], finish=False)
    assert only_row(engine)["waits_breached"] == 0  # nothing declared yet
    [breach] = engine.finish()
    assert (breach.start_ms, breach.deadline_ms, breach.counted) == \
        (T0_MS, T0_MS + 300_000, True)
    row = only_row(engine)
    assert (row["waits_breached"], row["responses"], row["mean_response_seconds"]) == \
        (1, 0, None)
    assert engine.finish() == []  # declared once


def test_late_reply_records_response_time_and_stays_breached() -> None:
    engine, applied = feed([ev("buyer", 0), ev("agent", 450), ev("buyer", 500),
                            ev("agent", 510)])
    row = only_row(engine)
    assert (row["waits"], row["waits_breached"], row["responses"]) == (2, 1, 2)
    assert row["mean_response_seconds"] == 230.0  # (450 + 10) / 2
    assert row["unreplied"] == 1 and row["reply_rate"] == 0.0
    assert len(outcomes(applied, WaitBreached)) == 1  # the late reply declares it, once


def test_watermark_breaches_only_strictly_after_the_deadline() -> None:
    engine, _ = feed([ev("buyer", 0)], finish=False)
    assert engine.advance(0, T0_MS + 300_000) == []  # a reply stamped now would be in time
    [breach] = engine.advance(0, T0_MS + 300_001)
    assert breach.deadline_ms == T0_MS + 300_000 and breach.agent == "unassigned"
    assert engine.advance(0, T0_MS + 900_000) == []
    assert only_row(engine)["waits_breached"] == 1


def test_watermark_never_moves_back() -> None:
    engine, _ = feed([ev("buyer", 0)], finish=False)
    engine.advance(0, T0_MS + 100_000)
    engine.advance(0, T0_MS)
    assert engine.partition(0).watermark_ms == T0_MS + 100_000


def test_breach_retracted_when_an_in_time_reply_arrives_after_the_watermark() -> None:
    engine, _ = feed([ev("buyer", 0)], finish=False)
    [breach] = engine.advance(0, T0_MS + 400_000)
    assert only_row(engine)["waits_breached"] == 1 and only_row(engine)["unreplied"] == 1
    applied = engine.apply(to_event(ev("agent", 299)))
    [retracted] = [o for o in applied.outcomes if isinstance(o, BreachRetracted)]
    assert retracted.seq == breach.seq and retracted.conversation_id == "s1:b1"
    [closed] = [o for o in applied.outcomes if isinstance(o, WaitClosed)]
    assert closed.in_time
    engine.finish()
    row = only_row(engine)
    assert (row["waits_breached"], row["unreplied"], row["reply_rate"], row["responses"]) == \
        (0, 0, 1.0, 1)
    assert row["mean_response_seconds"] == 299.0


def test_late_reply_after_the_watermark_breach_is_not_breached_twice() -> None:
    engine, _ = feed([ev("buyer", 0)], finish=False)
    engine.advance(0, T0_MS + 400_000)
    applied = engine.apply(to_event(ev("agent", 301)))
    assert not [o for o in applied.outcomes if isinstance(o, WaitBreached | BreachRetracted)]
    row = only_row(engine)
    assert (row["waits_breached"], row["responses"], row["mean_response_seconds"]) == \
        (1, 1, 301.0)


# --- rule 5: counted hours and business day -------------------------------------------------------


@pytest.mark.parametrize(("clock", "counted"), [
    ("07:59:59", False), ("08:00:00", True), ("22:59:59", True), ("23:00:00", False),
    ("07:59:59.999", False), ("00:00:00", False),
])
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York"])
def test_counted_hours_in_the_shop_time_zone(clock: str, counted: bool, zone: str) -> None:
    settings = settings_yaml(f"shops:\n  s1: {{timezone: {zone}}}\n")
    start = datetime.fromisoformat(f"2026-11-11T{clock}").replace(tzinfo=ZoneInfo(zone))
    engine, applied = feed([ev("buyer", start, form="utc")], settings)
    [opened] = outcomes(applied, WaitOpened)
    assert opened.counted is counted
    assert date.fromordinal(opened.day).isoformat() == "2026-11-11"
    if counted:
        assert only_row(engine)["day"] == "2026-11-11"
    else:
        assert report(engine) == []  # tracked, not counted


def test_uncounted_wait_is_tracked_and_breached_but_not_reported() -> None:
    early = T0.replace(hour=7, minute=0)
    engine, applied = feed([ev("buyer", early), ev("agent", early + timedelta(minutes=10))])
    [breach] = outcomes(applied, WaitBreached)
    assert breach.counted is False
    assert report(engine) == []


def test_default_time_zone_from_config() -> None:
    settings = settings_yaml("default_timezone: Europe/Berlin\n")
    at = datetime(2026, 11, 11, 7, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # 14:30 in Shanghai
    engine, applied = feed([ev("buyer", at)], settings)
    assert outcomes(applied, WaitOpened)[0].counted is False


def test_business_day_is_the_local_date_of_the_start_across_midnight() -> None:
    start = T0.replace(hour=22, minute=58)
    engine, _ = feed([ev("buyer", start), ev("agent", start + timedelta(minutes=80))])
    row = only_row(engine)  # reply after midnight still counts for the day of the start
    assert (row["day"], row["waits_breached"], row["mean_response_seconds"]) == \
        ("2026-11-11", 1, 4800.0)


@pytest.mark.parametrize("form", ["offset", "utc", "epoch"])
def test_business_day_of_a_shop_west_of_utc(form: str) -> None:
    # 22:30 in New York on Nov 10 is 03:30 UTC and 11:30 in Shanghai on Nov 11.
    settings = settings_yaml("shops:\n  ny: {timezone: America/New_York}\n")
    start = datetime(2026, 11, 10, 22, 30, tzinfo=ZoneInfo("America/New_York"))
    engine, _ = feed([ev("buyer", start, shop="ny", form=form),
                      ev("buyer", start, shop="sh", form=form)], settings)
    days = {r["shop_id"]: r["day"] for r in report(engine)}
    assert days == {"ny": "2026-11-10", "sh": "2026-11-11"}


def test_utc_input_lands_on_the_shanghai_date() -> None:
    engine, applied = feed([ev("buyer", 0, ts="2026-11-10T16:30:00Z"),  # 00:30 Nov 11 local
                            ev("buyer", 0, buyer="b2", ts="2026-11-11T02:00:00Z")])
    first, second = outcomes(applied, WaitOpened)
    assert date.fromordinal(first.day) == date(2026, 11, 11) and not first.counted
    assert date.fromordinal(second.day) == date(2026, 11, 11) and second.counted


# --- rule 6: attribution ----------------------------------------------------------------------------


def test_wait_belongs_to_the_last_agent_before_it_opened() -> None:
    log = [ev("buyer", 0), ev("agent", 10, agent_id="alice"),
           ev("buyer", 20), ev("agent", 400, agent_id="bob"),  # bob closes alice's wait late
           ev("buyer", 500)]
    engine, applied = feed(log, finish=False)
    first, second, third = outcomes(applied, WaitOpened)
    assert (first.agent, second.agent, third.agent) == ("unassigned", "alice", "bob")
    [late] = outcomes(applied, WaitBreached)
    assert late.agent == "alice"
    assert [c.agent for c in outcomes(applied, WaitClosed)] == ["unassigned", "alice"]
    [end] = engine.finish()
    assert end.agent == "bob"


def test_bot_message_does_not_change_attribution() -> None:
    tb = {"platform": "taobao"}  # bot replies do not close waits here
    log = [ev("agent", 0, agent_id="alice", **tb), ev("bot", 5, agent_id="robot", **tb),
           ev("buyer", 10, **tb), ev("bot", 12, agent_id="robot", **tb), ev("buyer", 13, **tb)]
    engine, applied = feed(log, finish=False)
    assert [o.agent for o in outcomes(applied, WaitOpened)] == ["alice"]
    [breach] = engine.finish()
    assert breach.agent == "alice"


def test_a_wait_before_any_agent_spoke_is_unassigned() -> None:
    engine, _ = feed([ev("buyer", 0, platform="taobao"), ev("bot", 1, platform="taobao")],
                     finish=False)
    assert [b.agent for b in engine.finish()] == ["unassigned"]


# --- rule 7: order and duplicates -------------------------------------------------------------------


def test_out_of_order_event_is_raised_to_the_latest_ts_and_counted() -> None:
    engine, applied = feed([ev("buyer", 100), ev("agent", 50)])
    assert [a.out_of_order for a in applied] == [False, True]
    [closed] = outcomes(applied, WaitClosed)
    assert closed.reply_ms == T0_MS + 100_000 and closed.response_seconds == 0.0
    assert only_row(engine)["fast_responses"] == 1


def test_out_of_order_buyer_message_opens_at_the_latest_ts() -> None:
    # a read at 23:00:30, then a buyer message stamped 22:50: the wait opens at 23:00:30,
    # outside the counted hours, although its stamp lies inside them
    base = T0.replace(hour=22, minute=50)
    engine, applied = feed([ev("read", base + timedelta(minutes=10, seconds=30)),
                            ev("buyer", base)])
    [opened] = outcomes(applied, WaitOpened)
    assert opened.start_ms == round((base + timedelta(minutes=10, seconds=30)).timestamp() * 1000)
    assert opened.counted is False and applied[1].out_of_order
    assert report(engine) == []


def test_out_of_order_is_per_conversation() -> None:
    engine, applied = feed([ev("buyer", 100, buyer="b1"), ev("buyer", 50, buyer="b2"),
                            ev("agent", 60, buyer="b2")])
    assert [a.out_of_order for a in applied] == [False, False, False]
    assert only_row(engine)["mean_response_seconds"] == 10.0


def test_duplicate_event_id_is_dropped() -> None:
    reply = ev("agent", 10)
    log = [ev("buyer", 0), reply, ev("buyer", 20), dict(reply), dict(reply, ts=ts_of(25))]
    engine, applied = feed(log)
    assert [a.duplicate for a in applied] == [False, False, False, True, True]
    row = only_row(engine)  # the repeated reply did not close the second wait
    assert (row["waits"], row["responses"], row["waits_breached"]) == (2, 1, 1)


def test_duplicate_of_the_opening_message_does_not_reopen() -> None:
    first = ev("buyer", 0)
    engine, applied = feed([first, ev("agent", 5), dict(first)])
    assert applied[2].duplicate
    assert only_row(engine)["waits"] == 1


def test_mixed_ts_forms_in_one_conversation() -> None:
    log = [ev("buyer", 0, form="epoch"), ev("agent", 10, form="utc"),
           ev("buyer", 20, form="offset"), ev("agent", 35.5, form="epoch")]
    engine, applied = feed(log)
    assert not any(a.out_of_order for a in applied)
    row = only_row(engine)
    assert (row["responses"], row["mean_response_seconds"], row["fast_responses"]) == \
        (2, 12.75, 1)


# --- rule 8: end of input ------------------------------------------------------------------------------


def test_end_of_input_breaches_every_open_wait_once() -> None:
    log = [ev("buyer", 0, buyer=f"b{i}") for i in range(5)] + [ev("agent", 30, buyer="b0")]
    engine, _ = feed(log, finish=False)
    breaches = engine.finish()
    assert sorted(b.conversation_id for b in breaches) == [f"s1:b{i}" for i in range(1, 5)]
    row = only_row(engine)
    assert (row["consultations"], row["unreplied"], row["reply_rate"]) == (5, 4, 0.2)


# --- one policy per conversation ------------------------------------------------------------------


def test_a_conversation_keeps_the_policy_of_its_first_event() -> None:
    # Deadlines are swept with the conversation's policy; a later event naming another
    # platform (or none, so the default) must not open a wait under a different window, or
    # the sweep would never find it due and the wait would never be breached.
    settings = settings_yaml("platforms:\n  jd: {window_seconds: 60}\n")
    engine, applied = feed([ev("read", 0, platform="pdd"), ev("buyer", 10, platform="jd")],
                           settings, finish=False)
    [opened] = outcomes(applied, WaitOpened)
    assert opened.deadline_ms == T0_MS + 310_000
    assert [b.deadline_ms for b in engine.finish()] == [T0_MS + 310_000]
    assert only_row(engine)["waits_breached"] == 1


def test_bot_policy_follows_the_conversation_platform() -> None:
    engine, _ = feed([ev("buyer", 0, platform="taobao"), ev("bot", 1)])  # bot: default pdd
    assert only_row(engine)["waits_breached"] == 1


def test_duplicates_are_remembered_for_the_recent_events_of_a_conversation() -> None:
    first = ev("agent", 0)
    later = [ev("read", i) for i in range(1, 32)]
    engine, applied = feed([first, *later, dict(first), ev("buyer", 40), dict(first)])
    assert applied[32].duplicate  # 31 events later: still remembered
    assert applied[-1].duplicate is False  # a known bound: older ids are forgotten
    assert only_row(engine)["waits_breached"] == 0


# --- memory: day records that many conversations have alike are one object -------------------


def test_unanswered_day_records_are_shared_and_answered_ones_are_not() -> None:
    engine, _ = feed([ev("buyer", 0, buyer="b1"), ev("buyer", 5, buyer="b2"),
                      ev("buyer", 9, buyer="b3"), ev("agent", 20, buyer="b3")], finish=False)
    one, two, answered = (engine.conversations[f"s1:{b}"] for b in ("b1", "b2", "b3"))
    assert one.days == two.days and one.days[1:] == (1, 0, 0, 0, 0)
    assert one.days is two.days  # ~96 bytes less for every buyer waiting
    assert answered.days[1:] == (1, 0, 1, 11_000, 1) and answered.days is not one.days
    # the day number too, in the wait and in the inquiry mark (the compiled core would box a
    # new int for each: stream/native.py keeps the modules writing them in Python)
    assert one.wait_day is two.wait_day and one.marks[0] is two.marks[0] is one.wait_day
    # sharing changes no figure: the book still counts each conversation
    row = only_row(engine)
    assert (row["consultations"], row["waits"], row["responses"]) == (3, 3, 1)


def test_restored_rows_share_their_day_records_too() -> None:
    from agents.pipeline import encode_row, row_of

    engine, _ = feed([ev("buyer", 0, buyer="b1"), ev("buyer", 5, buyer="b2")], finish=False)
    restored = Engine(load_settings(environ={}).policies)
    for cid, conv in engine.conversations.items():
        restored.load(cid, row_of(encode_row(conv)))
    one, two = restored.conversations.values()
    assert one.days is two.days
    assert report(restored) == report(engine)
