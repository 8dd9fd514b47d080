"""Property test: scanning and masking never crash and spans stay inside the text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.content import Detector

DETECTOR = Detector()
ALPHABET = st.sampled_from(list("0123456789１２３一二三幺两洞拐①⑴⒈❶➀㈠〇微信威薇扣企鹅支付宝只包"
                                "vxqQVX@＠.点艾特at dot:：-_ 🌸❤\u200b\u200d\ufe0f￥€/wwwcomhttps在的吗"))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=ALPHABET)), st.booleans(),
       st.sampled_from(["mention", "handover"]))
def test_scan_never_crashes(text: str, first: bool, mode: str) -> None:
    found = DETECTOR.scan(text, mode=mode, first_reply=first)
    for v in found:
        assert 0 <= v.start < v.end <= len(text)
        assert len(v.match) == v.end - v.start
    assert all(a.end <= b.start for a, b in zip(found, found[1:], strict=False))
    assert len(DETECTOR.mask(text)) == len(text)
