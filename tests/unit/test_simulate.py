import itertools
import json
from collections import Counter, defaultdict

import msgspec
import pytest

from stream.errors import BrokerError
from stream.schema import Invalid, decode
from stream.simulate import TrafficModel, require_broker

N = 20_000


@pytest.fixture(scope="module")
def sample():
    model = TrafficModel(seed=7, shops=4, agents_per_shop=2, buyers=2000, rate=30)
    items = list(itertools.islice(model.events(), N))
    return model, items, [decode(i.value) for i in items]


def test_same_seed_same_events_other_seed_other_events():
    def first(seed):
        return [(i.at_ms, i.key, i.value) for i in
                itertools.islice(TrafficModel(seed=seed).events(), 2000)]

    assert first(3) == first(3)
    assert first(3) != first(4)


def test_events_come_in_send_order_from_start(sample):
    model, items, _ = sample
    times = [i.at_ms for i in items]
    assert times == sorted(times)
    assert times[0] >= model.start_ms


def test_valid_flag_matches_the_decoder_and_keys_are_conversations(sample):
    _, items, events = sample
    for item, event in zip(items, events, strict=True):
        assert item.valid is not isinstance(event, Invalid), item.value
        if item.valid:
            assert item.key == event.conversation_id.encode()
    invalid = [e for e in events if isinstance(e, Invalid)]
    assert 10 <= len(invalid) <= 0.02 * N
    reasons = {e.reason.split(":")[0] for e in invalid}
    assert reasons == {"not JSON", "schema"}


def test_traffic_has_the_expected_variety(sample):
    _, items, events = sample
    valid = [e for e in events if not isinstance(e, Invalid)]
    senders = Counter(e.sender for e in valid if e.type == "message")
    assert senders["buyer"] > senders["agent"] > senders["bot"] > 0
    kinds = Counter(e.buyer_kind for e in valid)
    assert kinds["ad"] > 0 and kinds["peer"] > 0 and kinds["customer"] > 0.8 * len(valid)
    types = Counter(e.type for e in valid)
    assert types["read"] > 0 and types["end"] > 0
    assert len({e.platform for e in valid}) >= 2
    handovers = [e.text for e in valid if e.sender == "agent" and e.type == "message"
                 and any(w in e.text for w in ("微信", "电话", "qq", "V", "vx", "薇信", "支付宝", "@"))]
    assert handovers
    texts = " ".join(e.text for e in valid if e.sender == "buyer" and e.type == "message")
    for phrase in ("在吗", "有货", "发货", "订单号"):
        assert phrase in texts
    raw_ts = [msgspec.json.decode(i.value)["ts"] for i in items if i.valid]
    assert any(isinstance(t, int) for t in raw_ts)
    assert any(isinstance(t, str) and t.endswith("+08:00") for t in raw_ts)


def test_wire_dirt_duplicates_and_out_of_order(sample):
    _, _, events = sample
    valid = [e for e in events if not isinstance(e, Invalid)]
    ids = Counter(e.event_id for e in valid)
    assert any(n > 1 for n in ids.values())
    latest: dict[str, int] = {}
    out_of_order = 0
    for e in valid:
        if e.ts_ms < latest.get(e.conversation_id, 0):
            out_of_order += 1
        latest[e.conversation_id] = max(e.ts_ms, latest.get(e.conversation_id, 0))
    assert out_of_order > 0


def test_reply_delays_are_mostly_quick_some_late_some_never(sample):
    _, _, events = sample
    waits: dict[str, int] = {}
    delays: list[float] = []
    by_conv = defaultdict(list)
    for e in events:
        if not isinstance(e, Invalid) and e.buyer_kind == "customer" and e.type == "message":
            by_conv[e.conversation_id].append(e)
    unanswered = 0
    for conv, msgs in by_conv.items():
        for e in msgs:
            if e.sender == "buyer" and conv not in waits:
                waits[conv] = e.ts_ms
            elif e.sender == "agent" and conv in waits:
                delays.append((e.ts_ms - waits.pop(conv)) / 1000)
        unanswered += conv in waits
    assert delays
    quick = sum(d <= 60 for d in delays) / len(delays)
    late = sum(d > 300 for d in delays)
    assert quick > 0.5
    assert late > 0
    assert unanswered > 0


def test_rate_is_close_to_what_was_asked(sample):
    model, items, _ = sample
    span_s = (items[-1].at_ms - items[0].at_ms) / 1000
    assert 0.75 * model.rate <= len(items) / span_s <= 1.25 * model.rate


def test_warm_up_starts_in_full_swing():
    cold = TrafficModel(seed=1, rate=50, buyers=5000)
    warm = TrafficModel(seed=1, rate=50, buyers=5000, warm_up_s=900)

    def first_minute(model):
        end = model.start_ms + 60_000
        return sum(1 for _ in itertools.takewhile(lambda i: i.at_ms < end, model.events()))

    assert first_minute(warm) > 1.5 * first_minute(cold)
    assert first_minute(warm) > 0.75 * 50 * 60


def test_history_is_the_warm_up_tail_with_its_own_times_then_live_traffic():
    live = TrafficModel(seed=3, rate=20, warm_up_s=900)
    with_history = TrafficModel(seed=3, rate=20, warm_up_s=900, history_s=600)
    end = live.start_ms + 120_000
    a = list(itertools.takewhile(lambda i: i.at_ms < end, live.events()))
    b = list(itertools.takewhile(lambda i: i.at_ms < end, with_history.events()))
    past = [i for i in b if i.at_ms < live.start_ms]
    assert past and min(i.at_ms for i in past) >= live.start_ms - 600_000
    assert all(i.at_ms >= live.start_ms for i in b[len(past):])  # then live, in send order
    assert abs(len(b) - len(past) - len(a)) < 0.1 * len(a)  # at the same rate
    bodies = [json.loads(i.value) for i in past if i.valid]
    assert {"paid"} <= {e.get("status") for e in bodies}  # orders already in the history


def test_diurnal_traffic_is_quiet_at_night():
    model = TrafficModel(seed=2, rate=1, buyers=5000, diurnal=True,
                         start_ms=1_794_326_400_000)  # 2026-11-11 00:00 +08:00
    by_hour = Counter((i.at_ms // 3_600_000 + 8) % 24 for i in
                      itertools.takewhile(lambda i: i.at_ms < model.start_ms + 86_400_000,
                                          model.events()))
    assert by_hour[3] * 5 < by_hour[21]


def test_max_rate_warns_about_too_few_buyers():
    assert TrafficModel(buyers=20, shops=1).max_rate() < 5 < TrafficModel(buyers=5000).max_rate()


def test_a_producer_needs_a_configured_broker(settings):
    assert require_broker("kafka://h:1", settings, "simulate") == "kafka://h:1"
    assert require_broker("h:1", settings, "simulate") == "kafka://h:1"
    assert require_broker(None, settings.with_overrides(broker="kafka://x:2"), "replay") == "kafka://x:2"
    with pytest.raises(BrokerError, match="chatwatch broker.*chatwatch run"):
        require_broker(None, settings, "simulate")


# --- the trial log (simulate --out), as the README runs it ------------------------------------


def test_the_readme_trial_spreads_a_week_and_gives_believable_figures(tmp_path):
    import gzip
    from datetime import datetime, timedelta, timezone

    from click.testing import CliRunner

    from stream.cli import cli

    log, daily = tmp_path / "trial.jsonl.gz", tmp_path / "daily.jsonl"
    made = CliRunner().invoke(cli, ["simulate", "--out", str(log), "--events", "100000"],
                              env={"CHATWATCH_CONFIG": ""})
    assert made.exit_code == 0, made.output
    lines = gzip.decompress(log.read_bytes()).splitlines()
    assert len(lines) == 100_000
    bad = sum(isinstance(decode(line), Invalid) for line in lines)
    assert 0 < bad < 1000
    assert f"{bad:,} of the lines" in made.stderr and "invalid on purpose" in made.stderr
    # whole days, up to last midnight in Shanghai, quiet at night and busy in the evening
    cst = timezone(timedelta(hours=8))
    times = [datetime.fromtimestamp(e.ts_ms / 1000, cst) for e in map(decode, lines)
             if not isinstance(e, Invalid)]
    today = datetime.now(cst).date()
    assert min(times).date() == today - timedelta(days=7)
    assert max(times).date() < today
    hours = Counter(t.hour for t in times)
    assert hours[21] > 5 * hours[4] and hours[21] > hours[10]
    done = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--report", str(daily)],
                              env={"CHATWATCH_CONFIG": ""})
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in daily.read_text().splitlines()]
    assert len({r["day"] for r in rows}) == 7
    consultations = sum(r["consultations"] for r in rows)
    reply_rate = 1 - sum(r["unreplied"] for r in rows) / consultations
    assert 0.6 <= reply_rate <= 0.98, reply_rate
    conversion = sum(r["paid_buyers"] for r in rows) / sum(r["inquiries"] for r in rows)
    assert 0.1 <= conversion <= 0.5, conversion


def test_an_unknown_platform_in_the_mix_names_the_known_ones(tmp_path):
    from click.testing import CliRunner

    from stream.cli import cli

    result = CliRunner().invoke(cli, ["simulate", "--out", str(tmp_path / "x.jsonl"),
                                      "--platforms", "pinduoduo=1"], env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code != 0
    assert "unknown platform 'pinduoduo'" in result.output and "pdd" in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_the_trial_hands_most_conversations_to_an_agent_and_the_default_does_not():
    from stream.simulate import TRIAL_RATES, Rates

    def transfers(rates):
        model = TrafficModel(seed=5, shops=2, buyers=3000, rate=5, rates=rates)
        items = list(itertools.islice(model.events(), 5000))
        events = [e for e in map(decode, (i.value for i in items)) if not isinstance(e, Invalid)]
        return items, [e for e in events if e.type == "transfer"]

    _, none = transfers(Rates())
    assert none == []
    _, handed = transfers(TRIAL_RATES)
    assert len(handed) > 100 and all(e.agent_id for e in handed)


@pytest.mark.parametrize("pace", [["--rate", "0.05"], ["--days", "2"], ["--days", "9"]])
def test_a_trial_log_never_runs_past_last_midnight(tmp_path, pace):
    from datetime import datetime, timedelta, timezone

    from click.testing import CliRunner

    from stream.cli import cli

    log = tmp_path / "t.jsonl"
    made = CliRunner().invoke(cli, ["simulate", "--out", str(log), "--events", "8000",
                                    "--shops", "1", "--buyers", "3000", *pace],
                              env={"CHATWATCH_CONFIG": ""})
    assert made.exit_code == 0, made.output
    assert "1 shop," in made.stderr
    cst = timezone(timedelta(hours=8))
    times = [e.ts_ms for e in map(decode, log.read_bytes().splitlines())
             if not isinstance(e, Invalid)]
    today = datetime.now(cst).replace(hour=0, minute=0, second=0, microsecond=0)
    assert max(times) < today.timestamp() * 1000
    first = datetime.fromtimestamp(min(times) / 1000, cst)
    assert first.hour == 0  # whole days: from a midnight on
    if pace[0] == "--days":  # ... to the last one
        assert first.date() == today.date() - timedelta(days=int(pace[1]))
        last = datetime.fromtimestamp(max(times) / 1000, cst)
        assert last.date() == today.date() - timedelta(days=1) and last.hour >= 12


def test_traffic_slower_than_its_rate_is_moved_whole_days_earlier(monkeypatch, tmp_path):
    import stream.simulate as sim

    day = 86_400_000
    starts = []

    def write_log(path, events, seed, *, counts, start_ms, **_):
        starts.append(start_ms)
        # the first try runs 1.5 days long, past last midnight
        counts.update(invalid=0, first_ms=start_ms, last_ms=start_ms + 3 * day // 2)
        return 0

    monkeypatch.setattr(sim, "write_log", write_log)
    monkeypatch.setattr(sim.time, "time", lambda: 1_794_362_400.0)  # 2026-11-11 10:00 +08:00
    sim._write_trial(str(tmp_path / "t.jsonl"), 100, None, 100 / 86_400, 1, 1, 1, None, None)
    midnight = 1_794_326_400_000  # 2026-11-11 00:00 +08:00
    assert starts == [midnight - day, midnight - 2 * day]
