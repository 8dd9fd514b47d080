import asyncio
import gzip
import io
import itertools
import json
from collections import Counter, defaultdict

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer
from click.testing import CliRunner

from stream.cli import cli
from stream.errors import InputError
from stream.replay import Checkpoint, Pacer, replay
from stream.schema import Invalid, decode
from stream.simulate import Rates, TrafficModel, simulate


def _log(path, n, seed=5, dirt=True, compress=False):
    rates = Rates() if dirt else Rates(duplicate=0, invalid=0, out_of_order=0)
    model = TrafficModel(seed=seed, shops=3, buyers=300, rate=50, rates=rates)
    lines = [i.value for i in itertools.islice(model.events(), n)]
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path), lines


async def _consume(settings, broker, expected, timeout=30.0):
    """All messages of the events topic: (partition, key, value) in partition order."""
    consumer = AIOKafkaConsumer(settings.events_topic, bootstrap_servers=broker.bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    got = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < expected and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, msgs in batches.items():
                got.extend((tp.partition, m.key, m.value) for m in msgs)
        # Anything beyond `expected` would be a duplicate send: give it a moment to show up.
        extra = await consumer.getmany(timeout_ms=500)
        for tp, msgs in extra.items():
            got.extend((tp.partition, m.key, m.value) for m in msgs)
    finally:
        await consumer.stop()
    return got


def _by_key(lines):
    out = defaultdict(list)
    for raw in lines:
        event = decode(raw)
        if not isinstance(event, Invalid):
            out[event.conversation_id.encode()].append(raw)
    return out


# --- pacing (pure) ----------------------------------------------------------------------------
def test_pacer_speed_zero_never_waits():
    pacer = Pacer(0)
    assert [pacer.delay(ts, 0.0) for ts in (0, 10_000, 99_000_000)] == [0, 0, 0]


@pytest.mark.parametrize(("speed", "expected"), [(1, 10.0), (60, 10 / 60), (0.5, 20.0)])
def test_pacer_maps_event_time_to_wall_time(speed, expected):
    pacer = Pacer(speed)
    assert pacer.delay(1_000_000, now=100.0) == 0  # the first event sets the origin
    assert pacer.delay(1_010_000, now=100.0) == pytest.approx(expected)
    # time already spent counts: half the wait has passed
    assert pacer.delay(1_010_000, now=100.0 + expected / 2) == pytest.approx(expected / 2)
    # late or earlier-stamped events go at once
    assert pacer.delay(1_005_000, now=100.0 + expected) == 0
    assert pacer.delay(999_000, now=100.0) == 0


async def test_replay_at_speed_60_sleeps_by_event_time(broker, topic_settings, tmp_path):
    path = tmp_path / "paced.jsonl"
    base = 1_794_362_400_000
    rows = [{"event_id": f"p{i}", "ts": base + off, "shop_id": "s", "buyer_id": "b",
             "type": "read"} for i, off in enumerate((0, 60_000, 60_000, 180_000, 120_000))]
    path.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in rows))
    now = [50.0]
    sleeps = []

    async def fake_sleep(seconds):
        sleeps.append(round(seconds, 6))
        now[0] += seconds

    result = await replay(topic_settings, broker.url, [str(path)], speed=60, progress=False,
                          clock=lambda: now[0], sleep=fake_sleep)
    assert result.sent == 5 and result.complete
    assert sleeps == [1.0, 2.0]  # +1 min -> 1 s, +3 min -> 3 s after start; the rest are due


# --- replay through the broker ---------------------------------------------------------------
async def test_replay_sends_original_bytes_keyed_in_conversation_order(broker, topic_settings,
                                                                       tmp_path):
    path, lines = _log(tmp_path / "log.jsonl.gz", 3000, compress=True)
    out = io.StringIO()
    result = await replay(topic_settings, broker.url, [path], progress=False, out=out)
    valid = [raw for raw in lines if not isinstance(decode(raw), Invalid)]
    assert result.complete and result.sent == len(valid)
    assert result.summary.invalid == len(lines) - len(valid) > 0
    assert "replay: invalid line" in out.getvalue()
    assert f"{path}:" in out.getvalue()

    got = await _consume(topic_settings, broker, len(valid))
    assert len(got) == len(valid)
    partitions = defaultdict(set)
    received = defaultdict(list)
    for partition, key, value in got:
        partitions[key].add(partition)
        received[key].append(value)
    assert all(len(p) == 1 for p in partitions.values())
    assert dict(received) == dict(_by_key(lines))


async def test_interrupted_replay_resumes_without_resending(broker, topic_settings, tmp_path):
    path, lines = _log(tmp_path / "big.jsonl", 4000, dirt=False)
    checkpoint = tmp_path / "state" / "replay.json"
    first = await replay(topic_settings, broker.url, [path], checkpoint=checkpoint,
                         max_events=1234, checkpoint_every=500, progress=False)
    assert not first.complete and first.sent == 1234
    mark = json.loads(checkpoint.read_text())["files"]
    assert [m["line_no"] for m in mark.values()] == [1234]
    second = await replay(topic_settings, broker.url, [path], checkpoint=checkpoint,
                          checkpoint_every=500, progress=False)
    assert second.complete and second.sent == 4000 - 1234
    third = await replay(topic_settings, broker.url, [path], checkpoint=checkpoint,
                         progress=False)
    assert third.complete and third.sent == 0

    got = await _consume(topic_settings, broker, 4000)
    ids = Counter(json.loads(value)["event_id"] for _, _, value in got)
    assert len(ids) == 4000 and set(ids.values()) == {1}
    received = defaultdict(list)
    for _, key, value in got:
        received[key].append(value)
    assert dict(received) == dict(_by_key(lines))


async def test_checkpoint_refuses_a_changed_file(broker, topic_settings, tmp_path):
    path, _ = _log(tmp_path / "log.jsonl", 50, dirt=False)
    checkpoint = tmp_path / "cp.json"
    await replay(topic_settings, broker.url, [path], checkpoint=checkpoint, max_events=10,
                 progress=False)
    with open(path, "ab") as f:
        f.write(b"\n")
    with pytest.raises(InputError, match="changed since checkpoint"):
        await replay(topic_settings, broker.url, [path], checkpoint=checkpoint, progress=False)
    with pytest.raises(InputError, match="belongs to a replay into topic"):
        Checkpoint.load(checkpoint, "other.topic")


async def test_strict_stops_at_the_first_bad_line(broker, topic_settings, tmp_path):
    path, lines = _log(tmp_path / "log.jsonl", 2000)
    first_bad = next(n for n, raw in enumerate(lines, 1) if isinstance(decode(raw), Invalid))
    with pytest.raises(InputError, match=rf"log\.jsonl:{first_bad}: "):
        await replay(topic_settings, broker.url, [path], strict=True, progress=False)


def test_cli_replays_csv_with_column_mapping(broker, topic_settings, tmp_path):
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("id,time,store,customer,kind,who,content\n"
                        "c1,1794362400000,s1,b1,message,buyer,在吗\n"
                        "c2,not-a-time,s1,b1,message,buyer,这个有货吗\n"
                        "c3,2026-11-11T10:00:05+08:00,s1,b1,read,,\n", encoding="utf-8")
    config = tmp_path / "chatwatch.yaml"
    config.write_text(f"events_topic: {topic_settings.events_topic}\npartitions: 2\n")
    result = CliRunner().invoke(cli, [
        "--config", str(config), "replay", str(csv_path), "--broker", broker.url,
        "--no-progress", "--column", "event_id=id", "--column", "ts=time",
        "--column", "shop_id=store", "--column", "buyer_id=customer", "--column", "type=kind",
        "--column", "sender=who", "--column", "text=content",
        # one of the three lines is bad on purpose: more than the default --max-bad-share
        "--max-bad-share", "0.5"], env={"KAFKA_BROKER": ""})
    assert result.exit_code == 0, result.output
    assert "2 events produced" in result.output
    assert "export.csv:3: schema" in result.output
    assert "3 lines read: 2 valid, 1 invalid" in result.output
    got = asyncio.run(_consume(topic_settings, broker, 2))
    assert [json.loads(v)["event_id"] for _, _, v in got] == ["c1", "c3"]
    assert {k for _, k, _ in got} == {b"s1:b1"}


async def test_simulate_produces_keyed_events_in_real_time(broker, topic_settings):
    import time

    model = TrafficModel(seed=1, buyers=5000, rate=2000, start_ms=int(time.time() * 1000),
                         warm_up_s=60)
    out = io.StringIO()
    sent = await simulate(topic_settings, broker.url, model, count=300, out=out)
    assert sent == 300 and "done, 300 events" in out.getvalue()
    got = await _consume(topic_settings, broker, 300)
    assert len(got) == 300
    for _, key, value in got:
        event = decode(value)
        if not isinstance(event, Invalid):
            assert key == event.conversation_id.encode()
            assert abs(event.ts_ms - time.time() * 1000) < 60_000
