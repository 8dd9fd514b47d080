"""The live driver with fake ports: no faust, no broker, no loop, time passed in."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from agents.metrics import ChatwatchMetrics
from agents.pipeline import Pipeline, decode_row, encode_row
from stream.config import load_settings
from stream.core.engine import Engine
from stream.core.score import SETTLED_PREFIX

T0 = 1794362400000  # 2026-11-11T10:00:00+08:00


class FakeStore:
    def __init__(self):
        self.rows: dict[str, bytes] = {}
        self.deleted: list[str] = []

    def put(self, partition, key, row):
        self.rows[key] = encode_row(row)  # as a durable store: the row as of this write

    def delete(self, partition, key):
        self.rows.pop(key, None)
        self.deleted.append(key)


class FakeSink:
    def __init__(self):
        self.records: list[tuple[str, bytes | None, bytes, list | None]] = []

    def send(self, topic, key, value, headers=None):
        self.records.append((topic, key, value, headers))

    def on(self, topic):
        return [json.loads(v) if topic != "chat.events.dlq" else v
                for t, _, v, _ in self.records if t == topic]


def default_kpi(records):
    """The breach records of the base wait (PDD's default KPI ``pdd_5min``)."""
    return [r for r in records if r["kpi"] == "pdd_5min"]


class FakeAlerts:
    def __init__(self):
        self.alerts = []

    def submit_nowait(self, alert):
        self.alerts.append(alert)
        return True


def make(**env):
    settings = load_settings(environ=env)
    registry = CollectorRegistry()
    store, sink, alerts = FakeStore(), FakeSink(), FakeAlerts()
    pipeline = Pipeline(settings, Engine(settings.policies, settings.content.guard()),
                        ChatwatchMetrics(registry), store, sink, alerts)
    return pipeline, registry, store, sink, alerts


def raw(eid, ts, sender="buyer", text="在吗", buyer="b1", **kw):
    e = {"event_id": eid, "ts": ts, "shop_id": "s1", "buyer_id": buyer, "type": "message",
         "sender": sender, "text": text, **kw}
    if sender in ("agent", "bot"):
        e.setdefault("agent_id", "ag")
    return json.dumps(e, ensure_ascii=False).encode()


def value(registry, name, **labels):
    return registry.get_sample_value(name, labels) or 0.0


def test_outcomes_are_counted_and_rows_stored():
    p, reg, store, sink, _ = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", T0))
    p.on_message(0, 1, b"s1:b1", raw("e1", T0))            # duplicate
    p.on_message(0, 2, b"x", b"{broken")                    # invalid
    p.on_message(0, 3, b"s1:b1", raw("e2", T0 - 5000, "agent", "好的"))  # out of order reply
    assert value(reg, "chatwatch_events_total", outcome="processed") == 2
    assert value(reg, "chatwatch_events_total", outcome="duplicate") == 1
    assert value(reg, "chatwatch_events_total", outcome="invalid") == 1
    assert value(reg, "chatwatch_events_out_of_order_total") == 1
    assert value(reg, "chatwatch_waits_total", shop="s1") == 1
    assert value(reg, "chatwatch_response_seconds_count", shop="s1") == 1
    row = decode_row(store.rows["s1:b1"])
    assert row.latest_ts == T0 and not row.has_open_wait
    (dlq,) = [r for r in sink.records if r[0] == "chat.events.dlq"]
    assert dlq[2] == b"{broken" and dict(dlq[3])["source"] == b"chat.events/0/2"
    assert p.last_offsets == {0: 3}


def test_sweep_breaches_only_when_caught_up_or_event_time_passes():
    p, reg, store, sink, alerts = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", T0))
    deadline = T0 + 300_000
    p.sweep(deadline + 10_000, {0: False})  # lagging: the wall clock must not breach
    assert default_kpi(sink.on("chat.breaches")) == []
    assert value(reg, "chatwatch_event_lag_seconds") == 310.0
    p.sweep(deadline + 400, {0: True})      # caught up, but within the skew tolerance
    assert default_kpi(sink.on("chat.breaches")) == []
    p.sweep(deadline + 600, {0: True})
    (breach,) = default_kpi(sink.on("chat.breaches"))
    assert breach["conversation_id"] == "s1:b1" and breach["agent"] == "unassigned"
    assert breach["wait_start"] == "2026-11-11T10:00:00.000+08:00"
    assert breach["deadline"] == "2026-11-11T10:05:00.000+08:00"
    assert breach["day"] == "2026-11-11" and breach["counted"] is True
    assert value(reg, "chatwatch_waits_breached_total", shop="s1") == 1
    assert value(reg, "chatwatch_agent_breaches_total", shop="s1", agent="unassigned") == 1
    assert value(reg, "chatwatch_event_lag_seconds") == 0
    assert decode_row(store.rows["s1:b1"]).wait_breached
    # one breach alert per KPI breached (the pusher folds them per shop and KPI)
    assert sorted((a.alertname, a.extra_labels["kpi"]) for a in alerts.alerts) == [
        ("ReplyWindowBreached", "pdd_3min_human"), ("ReplyWindowBreached", "pdd_5min")]
    p.sweep(deadline + 5_000, {0: True})   # declared once
    assert len(default_kpi(sink.on("chat.breaches"))) == 1


def test_events_of_another_conversation_advance_the_partition_watermark():
    p, _, _, sink, _ = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", T0))
    p.on_message(0, 1, b"s1:b2", raw("e2", T0 + 301_000, buyer="b2"))
    p.sweep(T0, {0: False})  # the wall clock is irrelevant here
    assert [b["conversation_id"] for b in default_kpi(sink.on("chat.breaches"))] == ["s1:b1"]


def test_critical_violation_alerts_and_buyer_text_never_flags():
    p, reg, _, sink, alerts = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", T0, text="我电话13812345678"))
    p.on_message(0, 1, b"s1:b1", raw("e2", T0 + 1000, "agent", "加我微信 abc12345"))
    (record,) = sink.on("chat.violations")
    assert record["event_id"] == "e2" and "abc12345" not in record["text"]
    assert [a.alertname for a in alerts.alerts] == ["ForbiddenContent"]
    assert value(reg, "chatwatch_violations_total", shop="s1", category="wechat",
                 severity="critical") == 1


def test_a_bug_costs_one_message_not_the_worker(monkeypatch):
    p, reg, _, sink, _ = make()

    class Broken:  # the engine's own class may be compiled, so its methods cannot be patched
        def apply(self, *a, **k):
            raise RuntimeError("kaboom")

    monkeypatch.setattr(p, "engine", Broken())
    p.on_message(0, 7, b"k", raw("e1", T0))
    (dlq,) = [r for r in sink.records if r[0] == "chat.events.dlq"]
    assert b"internal error: RuntimeError: kaboom" == dict(dlq[3])["reason"]
    assert value(reg, "chatwatch_events_total", outcome="invalid") == 1


def test_idle_conversations_are_evicted_with_a_tombstone():
    p, _, store, _, _ = make(CHATWATCH_STATE_RETENTION_HOURS="1")
    p.on_message(0, 0, b"s1:b1", raw("e1", T0))
    p.on_message(0, 1, b"s1:b1", raw("e2", T0 + 1000, "agent", "好的"))
    p.on_message(0, 2, b"s1:b2", raw("e3", T0 + 2 * 3_600_000, buyer="b2"))
    p.sweep(T0 + 2 * 3_600_000, {0: True})
    # idle past the retention, but its day is still in the figures: the row stays with it
    assert store.deleted == [] and "s1:b1" in store.rows
    later = T0 + 3 * 86_400_000
    p.on_message(0, 3, b"s1:b3", raw("e4", later, buyer="b3"))
    p._next_eviction_ms = 0
    p.sweep(later, {0: True})
    # b1 with its day; b2 too: its wait breached and nobody answered it in three days
    assert store.deleted == ["s1:b1", "s1:b2"]
    # the day they counted for is settled for the platform score (stream/core/score.py)
    settled = {k for k in store.rows if k.startswith(SETTLED_PREFIX)}
    assert len(settled) == 1
    assert set(store.rows) - settled == {"s1:b3"}
    assert set(p.engine.conversations) == {"s1:b3"}


def test_restored_partition_continues_where_it_stopped():
    p, _, store, sink, _ = make()
    p.on_message(3, 0, b"s1:b1", raw("e1", T0))
    q, _, _, sink2, _ = make()
    assert q.load_partition(3, store.rows.items()) == 1
    q.on_message(3, 1, b"s1:b1", raw("e1", T0))  # redelivered after a crash: a duplicate
    q.sweep(T0 + 301_000, {3: True})
    assert len(default_kpi(sink2.on("chat.breaches"))) == 1


def test_each_hand_over_is_its_own_alert_without_buyer_ids_in_labels():
    p, _, _, _, alerts = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", T0, "agent", "加我微信 abc12345"))
    p.on_message(0, 1, b"s1:b1", raw("e2", T0 + 1000, "agent", "加我微信 abc12345"))
    labels = [a.to_api(a.starts_at)["labels"] for a in alerts.alerts]
    assert len(labels) == 2 and labels[0] != labels[1]
    assert all(lb["ref"] and "b1" not in str(lb) for lb in labels)
    # nor in the annotations that reach a pager notice (breaches too)
    p.on_message(0, 2, b"s1:b9", raw("e3", T0, buyer="buyer-secret-9"))
    p.sweep(T0 + 400_000, {0: True})
    assert [a.alertname for a in alerts.alerts][-1] == "ReplyWindowBreached"
    for alert in alerts.alerts:
        text = str(alert.to_api(alert.starts_at))
        assert "s1:b1" not in text and "buyer-secret-9" not in text, text


def test_later_messages_are_judged_by_the_conversations_platform():
    # Events without a platform field get the default platform (pdd); the conversation keeps
    # the platform of its first event, and so must the content policy.
    p, reg, _, sink, alerts = make()
    p.on_message(0, 0, b"s1:b1", raw("e1", T0, platform="taobao"))
    p.on_message(0, 1, b"s1:b1", raw("e2", T0 + 1000, "agent", "微信支付可以的亲"))
    assert sink.on("chat.violations") == [] and alerts.alerts == []
    p.on_message(0, 2, b"s1:b1", raw("e3", T0 + 2000, "agent", "微信号 lilyshop 加一下"))
    (record,) = sink.on("chat.violations")
    assert record["platform"] == "taobao" and record["ts"].endswith("+08:00")
    assert [(v["category"], v["severity"]) for v in record["violations"]] == \
        [("wechat", "critical")]
    assert [a.alertname for a in alerts.alerts] == ["ForbiddenContent"]
    # The same message in a conversation that started on pdd is a mention there.
    p.on_message(0, 3, b"s1:b2", raw("e4", T0, buyer="b2"))
    p.on_message(0, 4, b"s1:b2", raw("e5", T0 + 1000, "agent", "微信支付可以的亲", buyer="b2"))
    assert value(reg, "chatwatch_violations_total", shop="s1", category="wechat",
                 severity="critical") == 2


def test_a_batch_decoded_in_one_call_gives_what_record_by_record_gives():
    from types import SimpleNamespace

    values = [raw("e1", T0), None, b"{not json", bytearray(raw("e2", T0 + 1000, "agent", "好")),
              raw("e3", T0 + 2000, buyer="b2"), b"", raw("e1", T0)]
    records = [SimpleNamespace(offset=i, key=b"k", value=v) for i, v in enumerate(values)]
    batched, _, batched_store, batched_sink, _ = make()
    batched.on_batch(0, records)
    single, _, single_store, single_sink, _ = make()
    for r in records:
        single.on_message(0, r.offset, r.key, r.value)
    assert batched_sink.records == single_sink.records
    assert {k: encode_row(v) for k, v in batched.engine.conversations.items()} == \
        {k: encode_row(v) for k, v in single.engine.conversations.items()}
    assert batched_store.rows.keys() == single_store.rows.keys()
    assert len(batched_sink.on("chat.events.dlq")) == 3  # the tombstone, bad JSON, empty
    assert batched.engine.duplicates == 1
