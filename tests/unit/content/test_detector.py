"""Focused tests of the content detector: each obfuscation, each not-violation kind, spans."""

from __future__ import annotations

import pytest

from stream.config import ContentSettings
from stream.core.content import Detector, Violation, mask_value


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def cats(violations: list[Violation], severity: str = "critical") -> set[str]:
    return {v.category for v in violations if v.severity == severity}


# --- obfuscations that must be seen through -------------------------------------------------
@pytest.mark.parametrize("text", [
    "电话13812345678",
    "电话 138 1234 5678",
    "电话138-1234-5678",
    "电话１３８１２３４５６７８",                      # full-width
    "电话一三八一二三四五六七八",                      # Chinese numerals
    "电话幺三八幺两三四五六拐八",                      # 幺 两 拐
    "电话壹叁捌壹贰叁肆伍陆柒捌",                      # financial numerals
    "电话①③⑧①②③④⑤⑥⑦⑧",                            # circled
    "电话⑴⑶⑻⑴⑵⑶⑷⑸⑹⑺⑻",                            # parenthesised
    "电话⒈⒊⒏⒈⒉⒊⒋⒌⒍⒎⒏",                            # digit full stop
    "电话❶❸❽❶❷❸❹❺❻❼❽",                            # negative circled
    "电话➀➂➇➀➁➂➃➄➅➆➇",                            # dingbat circled
    "电话㈠㈢㈧㈠㈡㈢㈣㈤㈥㈦㈧",                          # parenthesised ideographs
    "电话1\u200b3\u200c8\u200d1\u20602345678",       # zero-width characters
    "电话138🌸1234🌸5678",                            # emoji separators
    "电话138❤️1234❤️5678",                           # emoji with variation selector
    "+86 138 1234 5678",
    "13812345678",                                    # no cue, valid range
    "400-123-4567",
    "010-62345678",
    "(0755)12345678",
])
def test_phone_obfuscations(detector: Detector, text: str) -> None:
    assert "phone" in cats(detector.scan(text))


@pytest.mark.parametrize("cue", ["微信", "威信", "薇信", "徽信", "维信", "V信", "vx", "VX", "wx",
                                 "weixin", "微 信", "微❤信", "ＶＸ", "绿泡泡", "威芯"])
def test_wechat_cues_and_ids(detector: Detector, cue: str) -> None:
    text = f"加我{cue}：lily_2024"
    found = detector.scan(text, mode="handover")
    ids = [v for v in found if v.category == "wechat" and v.severity == "critical"]
    assert ids, found
    assert text[ids[-1].start:ids[-1].end] == "lily_2024"
    assert "wechat" in cats(detector.scan(f"有事{cue}联系"))  # mention mode


@pytest.mark.parametrize(("text", "wechat_id"), [
    ("微信号 lilyshop 加一下", "lilyshop"),
    ("我的vx是 abcdefg", "abcdefg"),
    ("加我微信 kefuabc", "kefuabc"),
    ("微信：lilyshop", "lilyshop"),
    ("微信号是lilyshop", "lilyshop"),
    ("V信 lilyshop", "lilyshop"),
    ("wx: KefuAbc", "KefuAbc"),
    ("ＶＸ ｌｉｌｙｓｈｏｐ", "ｌｉｌｙｓｈｏｐ"),
    ("威信 abcdefghijklmnopqrst", "abcdefghijklmnopqrst"),  # 20 characters
])
def test_letters_only_wechat_id_after_a_handover_cue_is_critical(
        detector: Detector, text: str, wechat_id: str) -> None:
    found = [v for v in detector.scan(text, mode="handover", platform="taobao")
             if v.category == "wechat" and v.severity == "critical"]
    assert [text[v.start:v.end] for v in found] == [wechat_id]
    assert wechat_id not in detector.mask(text)


@pytest.mark.parametrize("text", [
    "微信支付 可以用", "vx 也可以付款", "亲，微信 iPhone 版也能下单", "微信 Desktop 版本太旧了",
    "亲，WeChat Pay 和 Apple Pay 都支持", "微信 official 账号已经关注了吗", "vx pay也行",
    "微信号 lily 加一下",                   # five letters: too short for a WeChat id
    "威信 abcdefghijklmnopqrstu",          # 21 characters: too long for a WeChat id
])
def test_words_after_a_wechat_cue_are_not_ids(detector: Detector, text: str) -> None:
    assert cats(detector.scan(text, mode="handover", platform="taobao")) == set()


@pytest.mark.parametrize("text", ["QQ 12345678", "扣扣：12345678", "企鹅 12345678", "q号12345678",
                                  "Ｑ：一二三四五六七八", "扣 扣 123456", "蔻蔻 1234567"])
def test_qq(detector: Detector, text: str) -> None:
    assert "qq" in cats(detector.scan(text, mode="handover"))


@pytest.mark.parametrize("text", ["支付宝 13812345678", "只付包：13812345678", "zfb 13812345678",
                                  "zhifubao 13812345678", "支付寶 13812345678", "吱付宝 13812345678"])
def test_alipay(detector: Detector, text: str) -> None:
    assert "alipay" in cats(detector.scan(text, mode="handover"))
    assert "alipay" in cats(detector.scan(text, mode="mention"))


@pytest.mark.parametrize("text", ["abc123@qq.com", "abc123＠qq.com", "abc123艾特qq点com",
                                  "abc123(at)163 dot com", "abc123 at gmail dot com",
                                  "abc123[at]126(dot)com"])
def test_email(detector: Detector, text: str) -> None:
    found = detector.scan("发我邮箱 " + text)
    emails = [v for v in found if v.category == "email"]
    assert len(emails) == 1
    assert emails[0].start == 5 and emails[0].end == 5 + len(text)


@pytest.mark.parametrize("text", ["https://shop-sale.cn/abc", "www.haohuo88.com", "www点abc点com",
                                  "t.cn/AbCd12", "￥AbCd1234￥", "€AbCd1234€", "HTTP://X.CN/q"])
def test_links_and_share_codes(detector: Detector, text: str) -> None:
    assert "link" in cats(detector.scan(f"亲，{text} 打开看看", mode="handover"))


def test_traditional_characters(detector: Detector) -> None:
    assert "alipay" in cats(detector.scan("支付寶付款"))
    assert "wechat" in cats(detector.scan("加我微信號 abc_12345", mode="handover"))


# --- not violations ----------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "订单号：231111-123456789012345",
    "您的订单 2311111234567890123 已发货",
    "快递单号SF1234567890123",
    "运单 YT1234567890123，中通 75312345678901",
    "价格¥199.00，券后 ￥89.9",
    "2026-11-11 13:45 发货",
    "尺码 39 40 41 42，175/88A",
    "型号A2894，iPhone 15 Pro Max",
    "亲，这个型号是XR-13812345678吗",
    "老客户专享价 ¥138.00 ¥128.00 ¥118.00",
    "物流显示 2026-11-12 10:30:45 已揽收",
    "您的验证码是123456，请勿泄露",
    "顺丰客服95338",
    "https://mobile.yangkeduo.com/goods.html?goods_id=138123456789",
    "一二三号仓都没货了",
    "作为新客户您可以领券",
    "需要支付保证金",
    "支付包装费五元",
    "维新路的仓库发货",
])
def test_not_violations(detector: Detector, text: str) -> None:
    assert detector.scan(text, mode="mention", platform="pdd") == []


def test_other_platform_link_is_off_platform_on_pdd(detector: Detector) -> None:
    text = "https://item.taobao.com/item.htm?id=123"
    assert "link" in cats(detector.scan(text, platform="pdd"))
    assert detector.scan(text, platform="taobao") == []


def test_configured_platform_domains_allow_and_words() -> None:
    d = Detector.from_settings(ContentSettings(
        words={"critical": ["刷单"], "info": ["亲爱的"]}, allow=["400-123-4567"],
        platform_domains=("myshop.example.com",)))
    assert d.scan("官方热线400-123-4567") == []
    assert d.scan("看 https://myshop.example.com/a") == []
    found = d.scan("我们可以刷 单，亲爱的")
    assert [(v.category, v.severity) for v in found] == [("word", "critical"), ("word", "info")]


def test_default_abuse_list(detector: Detector) -> None:
    found = detector.scan("你是不是傻 逼")
    assert [(v.category, v.severity) for v in found] == [("word", "warning")]


# --- spans, masking, quality ------------------------------------------------------------------
def test_spans_point_into_the_original_text(detector: Detector) -> None:
    text = "亲😊，加我Ｖ\u200bＸ：①③⑧ 1234 5678 哦"
    found = detector.scan(text)
    assert [v.category for v in found] == ["wechat", "wechat"]
    assert text[found[0].start:found[0].end] == "Ｖ\u200bＸ"
    assert text[found[1].start:found[1].end] == "①③⑧ 1234 5678"
    assert found[1].match == mask_value("①③⑧ 1234 5678")
    assert all(a.end <= b.start for a, b in zip(found, found[1:], strict=False))


def test_mask_value() -> None:
    assert mask_value("13812345678") == "138******78"
    assert mask_value("12345") == "1***5"
    assert mask_value("微信") == "微信"


def test_mask_text(detector: Detector) -> None:
    assert detector.mask("我电话13812345678，邮箱abc123@qq.com") == \
        "我电话138******78，邮箱abc********om"
    assert detector.mask("订单231111-123456789012345") == "订单231111-123456789012345"
    assert detector.mask("微信支付可以吗") == "微信支付可以吗"


@pytest.mark.parametrize("text", ["在", "在的", "在吗？", "  在呢~", "亲，在的😊"])
def test_bare_presence_first_reply_is_info(detector: Detector, text: str) -> None:
    found = detector.scan(text, first_reply=True)
    assert [(v.category, v.severity) for v in found] == [("quality", "info")]
    assert detector.scan(text) == []


@pytest.mark.parametrize("text", ["在的，请问有什么可以帮您", "现在发货", "在路上了"])
def test_a_real_first_reply_is_fine(detector: Detector, text: str) -> None:
    assert detector.scan(text, first_reply=True) == []


def test_bad_mode_is_a_clear_error(detector: Detector) -> None:
    with pytest.raises(ValueError, match="handover"):
        detector.scan("x", mode="strict")
