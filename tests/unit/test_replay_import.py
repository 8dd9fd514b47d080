"""``chatwatch replay`` of an export: the converted events are produced, bad lines are one
summary, and a file of only bad lines exits non-zero (a fake producer, no broker)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import stream.replay
from stream.cli import cli


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[Any]:
        self.sent.append((topic, value, key))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> FakeProducer:
    fake = FakeProducer()

    async def no_topics(*_: Any) -> None:
        return None

    monkeypatch.setattr(stream.replay, "ensure_topics", no_topics)
    monkeypatch.setattr(stream.replay, "kafka_producer", lambda *_, **__: fake)
    return fake


def _replay(*args: str) -> Any:
    return CliRunner().invoke(cli, ["replay", "--broker", "kafka://127.0.0.1:1", "--no-progress",
                                    *args], env={"CHATWATCH_CONFIG": ""})


def test_a_csv_export_is_produced_as_contract_events(tmp_path: Path, producer: FakeProducer):
    path = tmp_path / "export.csv"
    path.write_text("time,shop,buyer,role,agent,content\n"
                    "2026-11-11 10:00:00,s1,b1,买家,,在吗\n"
                    "2026-11-11 10:00:30,s1,b1,客服,s1-a1,在的\n", encoding="utf-8")
    result = _replay(str(path), "--column", "ts=time", "--column", "shop_id=shop",
                     "--column", "buyer_id=buyer", "--column", "sender=role",
                     "--column", "agent_id=agent", "--column", "text=content",
                     "--column", "type=message", "--map", "sender=客服:agent,买家:buyer")
    assert result.exit_code == 0, result.output
    bodies = [json.loads(value) for _, value, _ in producer.sent]
    assert [b["sender"] for b in bodies] == ["buyer", "agent"]
    assert bodies[0]["ts"] == 1_794_362_400_000  # 10:00 in Asia/Shanghai, the default zone
    assert all(b["event_id"].startswith("row-") and b["type"] == "message" for b in bodies)
    assert {key for _, _, key in producer.sent} == {b"s1:b1"}


def test_a_file_of_only_bad_lines_exits_non_zero_with_one_summary(tmp_path: Path,
                                                                  producer: FakeProducer):
    path = tmp_path / "log.jsonl"
    path.write_text("".join('{"broken": \n' for _ in range(30)), encoding="utf-8")
    rejects = tmp_path / "rejects.txt"
    result = _replay(str(path), "--rejects", str(rejects))
    assert result.exit_code == 1
    assert producer.sent == []
    err = result.stderr
    assert "replay: failed: none of the 30 lines could be used" in err
    assert "30 x " in err and err.count("not JSON") == 1
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 30


def test_a_rejects_file_in_a_missing_folder_fails_before_anything_is_sent(
        tmp_path: Path, producer: FakeProducer):
    path = tmp_path / "log.jsonl"
    path.write_text('{"broken": \n', encoding="utf-8")
    result = _replay(str(path), "--rejects", str(tmp_path / "no" / "r.txt"))
    assert result.exit_code != 0 and "does not exist" in str(result.exception)
    assert producer.sent == []
