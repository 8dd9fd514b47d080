"""``chatwatch check`` and the ``check_text`` helper behind POST /check."""

from __future__ import annotations

import json

from click.testing import CliRunner

from stream.check import check_text
from stream.cli import cli
from stream.config import Settings


def run(args: list[str], stdin: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["check", *args], input=stdin, env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_one_object_per_line_in_order() -> None:
    out = run([], "亲，在的\n加我微信13812345678\n\n订单号231111-123456789012345\n")
    assert [o["line"] for o in out] == [1, 2, 3, 4]
    assert out[0]["violations"] == [] and out[2]["violations"] == [] and out[3]["violations"] == []
    found = out[1]["violations"]
    assert all(isinstance(v.pop("how"), str) for v in found)  # which stage found it
    assert found == [
        {"category": "wechat", "severity": "critical", "start": 2, "end": 4, "match": "微信"},
        {"category": "wechat", "severity": "critical", "start": 4, "end": 15,
         "match": "138******78"},
    ]


def test_platform_picks_the_content_mode() -> None:
    assert run(["--platform", "pdd"], "微信支付就行\n")[0]["violations"][0]["severity"] == "critical"
    assert run(["--platform", "taobao"], "微信支付就行\n")[0]["violations"] == []


def test_buyer_lines_never_violate_and_are_masked() -> None:
    out = run(["--role", "buyer"], "我电话13812345678\n")
    assert out == [{"line": 1, "violations": [], "masked": "我电话138******78"}]


def test_check_text() -> None:
    settings = Settings()
    guard = settings.content.guard()
    found = check_text(guard, settings.policies, "vx: lily_2024", "jd")["violations"]
    assert [(v["category"], v["severity"]) for v in found] == [("wechat", "critical")]
    assert check_text(guard, settings.policies, "vx: lily_2024", None,
                      role="buyer")["violations"] == []
