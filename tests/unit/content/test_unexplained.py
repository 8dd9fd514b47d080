"""The contact is the invariant (issue 27, DOMAIN.md §4): an id-shaped token in an agent message
is explained by a benign reading or it is a hand-over, whatever the channel word does."""

from __future__ import annotations

import pytest

from stream.core.content import Detector, Violation


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def _findings(detector: Detector, text: str, platform: str) -> list[Violation]:
    mode = "mention" if platform == "pdd" else "handover"
    return detector.scan(text, mode=mode, platform=platform)


# Each class of the issue, in words of this test (not the corpus's): (text, category, span).
HANDOVERS = [
    # filler words between the id and the channel word, either order
    ("mk5530 今晚有空 威", "wechat", "mk5530"),
    ("7712 0934 有事留言 加口", "qq", "7712 0934"),
    ("q 联系老板娘 30918274", "qq", "30918274"),
    # homophones of the invitation itself
    ("家喂 zt90817", "wechat", "zt90817"),
    ("十Q 55019283", "qq", "55019283"),
    ("茄丘：661029384", "qq", "661029384"),
    ("企-0鹅 88102937", "qq", "88102937"),
    # group numbers
    ("交流裙 718293045", "handle", "718293045"),
    ("君 羊 552019384", "handle", "552019384"),
    # a bare number after an invitation
    ("有需要的找 61029384", "handle", "61029384"),
    ("联系 hz77120 发货快", "handle", "hz77120"),
    # official accounts
    ("蚣粽号 ms2088shop", "wechat", "ms2088shop"),
    # channel letters glued to the id, handles glued and chained
    ("加vmk5530", "wechat", "vmk5530"),
    ("加w6610293847", "wechat", "w6610293847"),
    ("售后@mkshop@mk_two", "handle", "@mkshop@mk_two"),
    # addresses without dots
    ("www mk55 shop", "link", "www mk55 shop"),
    ("店名.shop 复制打开", "link", "店名.shop"),
    ("mk55.world", "link", "mk55.world"),
    # letters joined by _ are an id, never a word or a model code
    ("私我拿福利 mk_vip", "handle", "mk_vip"),
    # an id spaced out right after an invitation
    ("加我 mk 55 30", "handle", "mk 55 30"),
]


@pytest.mark.parametrize(("text", "category", "span"), HANDOVERS)
@pytest.mark.parametrize("platform", ["pdd", "jd"])
def test_every_class_of_the_issue_is_a_critical_hand_over(
        detector: Detector, text: str, category: str, span: str, platform: str) -> None:
    found = [(v.category, text[v.start:v.end]) for v in _findings(detector, text, platform)
             if v.severity == "critical"]
    assert (category, span) in found, found


@pytest.mark.parametrize(("text", "stage"), [
    ("交流裙 718293045", "group"), ("家喂 zt90817", "invitation"),
    ("蚣粽号 ms2088shop", "official-account"), ("有需要的找 61029384", "invitation"),
    ("加vmk5530", "glued"),
])
def test_the_finding_says_which_stage_found_it(detector: Detector, text: str, stage: str) -> None:
    hows = [v.how for v in detector.scan(text, mode="handover")]
    assert any("unexplained-id" in how and stage in how for how in hows), hows


def test_without_any_cue_an_id_is_critical_on_pdd_and_for_review_elsewhere(
        detector: Detector) -> None:
    text = "厂家直销 全场五折 661029384"
    assert [(v.category, v.severity) for v in _findings(detector, text, "pdd")] == [
        ("handle", "critical")]
    assert [(v.category, v.severity, v.how) for v in _findings(detector, text, "jd")] == [
        ("handle", "warning", "unexplained-id")]


def test_a_number_joined_to_a_numeral_before_it_is_judged_by_its_own_digits(
        detector: Detector) -> None:
    text = "高仿一比一 19482750524"  # the 1 of 一比一 joins it: 12 digits, an order's length
    assert [(v.category, v.severity, text[v.start:v.end])
            for v in _findings(detector, text, "pdd")] == [("phone", "critical", "19482750524")]
    assert [v.severity for v in _findings(detector, text, "jd")] == ["warning"]


def test_a_channel_word_decides_the_category_of_each_id(detector: Detector) -> None:
    text = "20456617 老地方 扣 还有 薇 懂的来 kd8812"
    found = {text[v.start:v.end]: v.category for v in detector.scan(text, mode="handover")}
    assert found == {"20456617": "qq", "kd8812": "wechat"}


def test_a_twelve_digit_number_after_qq_is_no_qq_number(detector: Detector) -> None:
    found = detector.scan("QQ 123456789012", mode="handover")
    assert [v.category for v in found] == ["handle"]


# Ordinary lines whose every number or code has a benign reading.
ORDINARY = [
    "订单尾号 30218745 的那个已经发货", "您说的是 3021874591 这个订单吗",
    "京东客服热线950618，24小时服务", "收货人 张先生 手机 138****5678",
    "显卡 RTX4070Ti，内存 6000MHz", "投影仪 1920*1080 分辨率", "请您核对一下收货码 852369",
    "提货码 A1B2C3", "生产日期2026/1/16 20:03", "价格区间914-139622元", "库存 125000 件",
    "型号 le6542 和 le6542 是一样的", "这款 KFR-35GW/N8MJA3 一级能效", "满 20000 减 2000",
    "运单号 JDVB12345678901 已签收", "SF1402345678901 已派送", "2024-2025 秋冬款",
    "好评 12000 条", "宝宝们扣波888888", "退款 129.90 元已原路返回", "这款 XR-13802 有货",
    "活动时间 10.24 20:00 - 11.11 23:59", "执行标准 GB/T 22849-2014", "登记号 58721",
    "您好，302145879612 已经给您加急了", "退款单09335853098已经同意", "您好 您的退款 ¥ 1,299.00 已到账",
    "亲，原价1299-200券=1099", "这款 xr-1380 有货", "订单是 24/12/12 下的",
    "这款耳机型号 WH-1000XM5",  # 机型 sounds like 微信, but its 型 begins 型号
]


@pytest.mark.parametrize("text", ORDINARY)
@pytest.mark.parametrize("platform", ["pdd", "jd"])
def test_benign_numbers_and_codes_are_explained(detector: Detector, text: str, platform: str) -> None:
    assert _findings(detector, text, platform) == []


@pytest.mark.parametrize(("clean", "flagged"), [
    ("这款 XR-13802 有货", "加 XR-13802 有货"),      # an invitation next to it
    ("这款 KTB582 有货", "KTB582 有货 威"),           # a channel word anywhere
    ("库存 125000 件", "加 125000 有惊喜"),           # a round number is an amount, unless invited
])
def test_a_code_shape_explains_nothing_next_to_a_cue(
        detector: Detector, clean: str, flagged: str) -> None:
    assert detector.scan(clean, mode="mention") == []
    assert any(v.severity == "critical" for v in detector.scan(flagged, mode="handover"))


def test_a_brand_hotline_is_critical_on_pdd_for_review_elsewhere_unless_allowed(
        detector: Detector) -> None:
    text = "售后电话 400-606-5500"
    assert {v.severity for v in _findings(detector, text, "pdd")} == {"critical"}
    assert [(v.category, v.severity) for v in _findings(detector, text, "jd")] == [
        ("phone", "warning")]
    allowed = Detector(allow=["400-606-5500"])
    assert allowed.scan(text, mode="handover", platform="jd") == []


@pytest.mark.parametrize(("link", "own"), [
    ("https://item.jd.com/100012345678.html", "jd"), ("www.360buy.com/123", "jd"),
    ("mobile.yangkeduo.com/goods.html?goods_id=1234567", "pdd"),
    ("https://detail.tmall.com/item.htm?id=123456789012", "taobao"),
])
def test_a_platforms_own_link_is_clean_there_and_a_link_elsewhere(
        detector: Detector, link: str, own: str) -> None:
    text = f"商品链接 {link} 您看下"
    assert detector.scan(text, mode="mention", platform=own) == []
    other = "pdd" if own != "pdd" else "jd"
    assert "link" in {v.category for v in detector.scan(text, mode="mention", platform=other)
                      if v.severity == "critical"}


def test_masking_hides_an_unexplained_id_in_a_buyer_message(detector: Detector) -> None:
    assert "661029384" not in detector.mask("加 661029384 聊")
