import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream.broker import EmbeddedBroker, port_is_free
from stream.errors import BrokerError
from stream.kafka import bootstrap_servers, ensure_topics


def test_bootstrap_servers_accepts_faust_and_lists():
    assert bootstrap_servers("kafka://a:1;b:2") == "a:1,b:2"
    assert bootstrap_servers("kafka://a:1") == "a:1"


def test_embedded_broker_round_trip_and_topic_partitions(broker, topic_settings):
    async def go():
        await ensure_topics(topic_settings, broker.url)
        await ensure_topics(topic_settings, broker.url)  # idempotent
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic_settings.events_topic, b"hello", key=b"k")
            parts = await producer.partitions_for(topic_settings.events_topic)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic_settings.events_topic, bootstrap_servers=broker.bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            msg = await asyncio.wait_for(consumer.getone(), 10)
        finally:
            await consumer.stop()
        return parts, msg.value

    parts, value = asyncio.run(go())
    assert len(parts) == topic_settings.partitions
    assert value == b"hello"


def test_port_taken_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(BrokerError, match=f"port {port} .* already in use"):
            EmbeddedBroker(port=port).start()


def test_stop_leaves_no_process_and_frees_port():
    b = EmbeddedBroker().start()
    pid, port = b.pid, b.port
    b.stop()
    assert not _alive(pid)
    assert port_is_free("127.0.0.1", port)


def test_broker_dies_with_a_killed_parent(tmp_path):
    """Even a parent killed with SIGKILL leaves no orphan broker behind."""
    script = textwrap.dedent("""
        import sys, time
        from stream.broker import EmbeddedBroker
        b = EmbeddedBroker().start()
        print(b.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(params=["embedded", "apache-kafka"])
def either_broker(request):
    """The embedded broker (one of its own) and the session's Apache Kafka, in turn."""
    if request.param == "embedded":
        with EmbeddedBroker() as b:
            yield b
    else:
        yield request.getfixturevalue("broker")


def test_end_offsets_are_corrected_to_the_last_record(either_broker, unique):
    """The embedded broker reports the last batch's base offset + 1 as a partition's end;
    recovery relies on the corrected value to restore every changelog row. Apache Kafka
    reports the true end, which the correction leaves as it is."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from agents.internals import true_end_offsets

    broker = either_broker
    topic = f"ends.{unique}"

    async def go():
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:  # three partitions whatever the broker would auto-create (Apache Kafka: one)
            await admin.create_topics([NewTopic(topic, 3, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
        await producer.start()
        try:
            for size in (3, 4):  # two batches of several records each in partition 0
                sent = [await producer.send(topic, b"v", key=b"k%d" % i, partition=0)
                        for i in range(size)]
                await asyncio.gather(*sent)
            await producer.send_and_wait(topic, b"v", key=b"one", partition=1)
        finally:
            await producer.stop()
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        client = lambda: AIOKafkaConsumer(bootstrap_servers=broker.bootstrap,  # noqa: E731
                                          group_id=None, enable_auto_commit=False)
        reporter = client()
        await reporter.start()
        try:
            reported = await reporter.end_offsets(tps)
        finally:
            await reporter.stop()
        empty = TopicPartition(topic, 2)
        return await true_end_offsets({**reported, empty: 0}, client)

    ends = asyncio.run(go())
    assert ends == {TopicPartition(topic, 0): 7, TopicPartition(topic, 1): 1,
                    TopicPartition(topic, 2): 0}


def test_replication_factor_above_the_broker_count_is_a_clear_error(broker, topic_settings):
    settings = topic_settings.with_overrides(replication_factor=3)
    with pytest.raises(BrokerError, match=r"CHATWATCH_REPLICATION_FACTOR=3 .* 1 broker"):
        asyncio.run(ensure_topics(settings, broker.url))
