"""The detector's work grows linearly with the text (issue 20), measured without a clock.

Every Python function call, generator step and C call the scan makes is counted with
``sys.setprofile``, and every Python line with ``sys.settrace``. A stage that rescans the text
or compares each finding with all others per finding (the quadratic shapes this guards
against) makes these counts grow with the square of the text: four times the text must cost
at most about four times the events.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from stream.core.content import Detector

UNITS = {
    "wechat-ids": "微信 abc123 ",
    "mixed": ("亲，您的订单号231111-123456789012345已经发货了 加我vx lily_2024 https://x.cn/a "
              "电话138 1234 5678 a.b.c.d 点 QQ：8 2 7 3 6 4 9 1 @lily_shop KTB582 威 胃心 "),
    "digits": "13812345678 ",
    "split-digits": "1-2-3-4-5-6-7-8-9-0 ",
    "links": "www.a.com b.cn 点 c@d.com ",
    "cues-only": "微信扣扣支付宝 ",
    "separators": "🌸 - . ",
    "homophones": "胃心寇寇只付包 ",
    # Adversarial shapes: every cue followed by what an unbounded pattern would run along.
    "spaced-letters": "vx a b c ",
    "zero-lookalikes": "1o2o3o口",
    "numerals": "一二三四亲",
    "common-words": "去 去 活 ",
    "dots": "a.b.c.d.",
    "ats": "a@b@c@",
    "emoji-digits": "🌸1🌸2",
    "urls": "http://a/b,",
    "digit-run-cues": "qq 1111111111111111111111111 ",
    # The unexplained-id stage (issue 27): many tokens and many cues in one text.
    "unexplained-ids": "加 20456617 mk5530 交流裙 718293045 企-0鹅 ",
    "glued-channels": "加vmk5530 售后@mkshop@mk_two 十Q55019283 ",
    "dotless-links": "www mk55 shop 店名.shop 去空格 mk55ccom ",
    "lone-sounds": "筘 卫 wei ",
    "benign-codes": "KD8812 XR-1380 950618，24小时 订单 3021874591 ",
    "spaced-ids": "加我 mk 55 30 a b 1 ",
    "sound-words-by-shields": "耳机型号 卫星 维修单号 ",
}


def _count(call: Callable[[], Any]) -> int:
    events = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal events
        events += 1

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal events
        events += 1
        return trace

    sys.setprofile(profile)
    sys.settrace(trace)
    try:
        call()
    finally:
        sys.settrace(None)
        sys.setprofile(None)
    return events


@pytest.fixture(scope="module")
def detector() -> Detector:
    d = Detector()
    d.scan("warm up 微信 abc123")
    return d


@pytest.mark.parametrize("unit", list(UNITS))
@pytest.mark.parametrize("what", ["scan-mention", "scan-handover", "mask"])
def test_work_is_linear_in_the_text(detector: Detector, unit: str, what: str) -> None:
    def run(n: int) -> int:
        text = UNITS[unit] * n
        if what == "mask":
            return _count(lambda: detector.mask(text))
        mode = what.removeprefix("scan-")
        return _count(lambda: detector.scan(text, mode=mode))

    small, large = run(200), run(800)
    assert large <= 4.4 * small + 200, (unit, what, small, large)


def test_the_long_message_of_issue_20_is_scanned_in_full(detector: Detector) -> None:
    text = "微信 abc123 " * 20_000
    found = detector.scan(text, mode="mention")
    assert len(found) == 40_000
    assert {(v.category, v.how) for v in found} == {("wechat", "keyword"), ("wechat", "id")}
