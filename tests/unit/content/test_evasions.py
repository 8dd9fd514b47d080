"""The evasions of issue 14, stage by stage, each finding's ``how``, and what stays clean."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, pinyin

from stream.core.content import Detector, Violation
from stream.core.content.normalize import tables
from stream.core.content.prefilter import COMMON as PREFILTER_COMMON
from stream.core.content.sounds import COMMON, WORDS


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def critical(found: list[Violation]) -> dict[str, str]:
    return {v.category: v.how for v in found if v.severity == "critical"}


def spans(text: str, found: list[Violation]) -> list[str]:
    return [text[v.start:v.end] for v in found if v.severity == "critical"]


# --- homophones by sound ---------------------------------------------------------------------
@pytest.mark.parametrize(("text", "category"), [
    ("胃心 kf_8899", "wechat"), ("威芯号 abc5566", "wechat"), ("维星：mm20261", "wechat"),
    ("薇星 zz8899", "wechat"), ("胃 abc123", "wechat"), ("寇寇 12345678", "qq"),
    ("抠抠：5582901", "qq"), ("叩叩号 63920517", "qq"), ("起鹅 2846193", "qq"),
    ("岂饿号 3847291", "qq"), ("起—饿 3847291", "qq"), ("知付豹 13912345678", "alipay"),
    ("芝富宝 13912345678", "alipay"), ("菲机 deal636", "handle"),
])
def test_homophones_are_found_by_sound(detector: Detector, text: str, category: str) -> None:
    found = critical(detector.scan(text, mode="handover"))
    assert category in found, found
    assert found[category].startswith("homophone:")


def _readings(syllable: str) -> list[str]:
    """Characters pypinyin reads as ``syllable`` (any tone), rare enough to be a disguise."""
    out = []
    table = tables().translate
    for cp in range(0x4E00, 0x9FA6):
        ch = chr(cp)
        if ch in COMMON or ch in PREFILTER_COMMON or cp in table:
            continue  # common, or traditional: the view reads its simplified form
        if syllable in {r for group in pinyin(ch, style=Style.NORMAL, heteronym=True)
                        for r in group}:
            out.append(ch)
    return out


WEI, XIN = _readings("wei"), _readings("xin")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(WEI), st.sampled_from(XIN), st.sampled_from(["lily_2024", "kf8899"]))
def test_any_wei_xin_spelling_hands_over_a_wechat_id(detector: Detector, wei: str, xin: str,
                                                     ident: str) -> None:
    """Not a list: any character pypinyin reads wei, then any read xin, is 微信."""
    text = f"加我{wei}{xin} {ident}"
    if wei + xin in WORDS:
        return
    found = detector.scan(text, mode="handover")
    assert [(v.category, text[v.start:v.end]) for v in found if v.severity == "critical"] == \
        [("wechat", ident)], text
    assert critical(detector.scan(text, mode="mention")).get("wechat") == "homophone:微信"


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["v", "V", "w", "W", "ｖ"]), st.sampled_from(XIN),
       st.sampled_from(["lily_2024", "kf8899"]))
def test_v_then_any_xin_spelling_is_wechat(detector: Detector, v: str, xin: str,
                                           ident: str) -> None:
    """V信 with any character read xin (V芯, W鑫): a mention by itself, an id after it handed over."""
    assert critical(detector.scan(f"加我{v}{xin}", mode="mention")).get("wechat") == \
        "homophone:微信"
    text = f"{v}{xin} {ident}"
    found = detector.scan(text, mode="handover")
    assert ("wechat", ident) in [(f.category, text[f.start:f.end]) for f in found
                                 if f.severity == "critical"], text


@pytest.mark.parametrize(("text", "clean"), [
    ("V星 xyz778", False),      # a common xin character: the id next to it hands it over
    ("W新：abc123", False),
    ("加V星", True),             # ... but alone it is no mention
    ("V型领 XL码", True),        # shapes
    ("V型 abc123款", True), ("W形 abc123", True), ("v型号 abc123", True),
    ("new星 abc123", True),      # the v of a Latin word
    ("这款是V领的", True),
])
def test_v_with_a_common_xin_needs_an_id_and_shapes_stay_clean(
        detector: Detector, text: str, clean: bool) -> None:
    for mode in ("mention", "handover"):
        found = critical(detector.scan(text, mode=mode))
        assert (not found) == clean, (mode, found)


# --- look-alikes -------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "category", "how"), [
    ("𝐕𝐗 amy1990", "wechat", "id"), ("ᴠх：lily_88", "wechat", "id"),
    ("ⓥⓧ：shop_88", "wechat", "id"), ("🅠🅠 12345678", "qq", "number"),
    ("ℚℚ 12345678", "qq", "number"), ("₳lipay 13812345678", "alipay", "number"),
    ("口口 3172 6409", "qq", "look-alike+split-digits"), ("加口 12345678", "qq", "look-alike"),
    ("电话138o123o567", "phone", "number"), ("扣扣 7o3o5o12", "qq", "number"),
    ("手机：139〇〇〇12345", "phone", "number"),
])
def test_look_alikes(detector: Detector, text: str, category: str, how: str) -> None:
    assert critical(detector.scan(text, mode="handover")).get(category) == how


def test_confusable_letters_say_so(detector: Detector) -> None:
    found = detector.scan("𝐕𝐗 在线", mode="mention")
    assert [(v.category, v.how) for v in found] == [("wechat", "confusable")]


def test_mathematical_ux_passes_for_vx_but_plain_ux_does_not(detector: Detector) -> None:
    assert critical(detector.scan("𝐔𝐗 abc123", mode="handover")) == {"wechat": "id"}
    assert detector.scan("UX abc123 设计稿", mode="mention") == []


# --- ids in any position and any split ---------------------------------------------------------
@pytest.mark.parametrize(("text", "category", "span"), [
    ("KTB582 威", "wechat", "KTB582"), ("3172 6409 口口", "qq", "3172 6409"),
    ("abc123 是我微信", "wechat", "abc123"), ("12345678（QQ）", "qq", "12345678"),
    ("61-384-27-90 扣扣", "qq", "61-384-27-90"), ("─7三9 2046 扣扣", "qq", "7三9 2046"),
    ("QQ 1+2345+6789", "qq", "1+2345+6789"), ("电话 138┃1234┃5678", "phone", "138┃1234┃5678"),
    ("电话 138丨1234丨5678", "phone", "138丨1234丨5678"),
    ("手机 1柒零5捌零肆4零零四", "phone", "1柒零5捌零肆4零零四"),
    ("lily8866 这是我胃心", "wechat", "lily8866"), ("abc520 是我的薇信", "wechat", "abc520"),
    ("k k 号 28374659", "qq", "28374659"), ("kk号：2837465", "qq", "2837465"),
])
def test_ids_before_the_cue_and_split_digits(detector: Detector, text: str, category: str,
                                             span: str) -> None:
    found = [v for v in detector.scan(text, mode="handover") if v.category == category]
    assert [text[v.start:v.end] for v in found] == [span]


@pytest.mark.parametrize(("text", "category", "span"), [
    ("微 信 号 ： a b c 1 2 3", "wechat", "a b c 1 2 3"), ("vx：L I L Y 2 0 2 4", "wechat", "L I L Y 2 0 2 4"),
    ("V❤x：kf❤2024", "wechat", "kf❤2024"), ("💚信 lily_2024", "wechat", "lily_2024"),
    ("🐧：12345678", "qq", "12345678"), ("加个v，号码是一八六 七七八八 九九零零", "wechat",
                                        "一八六 七七八八 九九零零"),
    ("威信搜索：shop_0808", "wechat", "shop_0808"), ("链接：t·me/vipdeal", "link", "t·me/vipdeal"),
])
def test_spaced_ids_channel_emoji_and_dots(detector: Detector, text: str, category: str,
                                           span: str) -> None:
    found = [v for v in detector.scan(text, mode="handover") if v.severity == "critical"]
    assert [(v.category, text[v.start:v.end]) for v in found] == [(category, span)]


@pytest.mark.parametrize(("text", "span"), [
    ("联系我 lily_shop", "lily_shop"), ("联系方式：kefu_88", "kefu_88"),
])
def test_an_id_after_an_invitation_to_call_is_a_handle(detector: Detector, text: str,
                                                     span: str) -> None:
    found = [v for v in detector.scan(text, mode="handover") if v.severity == "critical"]
    assert [(v.category, text[v.start:v.end]) for v in found] == [("handle", span)]
    # ... and a number after it is still a phone
    found = detector.scan("联系我 13912345678", mode="handover")
    assert [v.category for v in found if v.severity == "critical"] == ["phone"]


@pytest.mark.parametrize(("text", "mention", "handover"), [
    ("+v 领红包", True, False), ("➕V了解更多", True, False), ("＋ｖ 咨询", True, False),
    ("+v abc123", True, True),
    ("圆领+V领 两种", False, False), ("+V字领", False, False), ("S+V", False, False),
    ("价格+vip折扣", False, False), ("1+v", False, False),
])
def test_plus_v_is_add_me_on_wechat(detector: Detector, text: str, mention: bool,
                                    handover: bool) -> None:
    assert ("wechat" in critical(detector.scan(text, mode="mention"))) == mention
    assert ("wechat" in critical(detector.scan(text, mode="handover"))) == handover


@pytest.mark.parametrize("text", ["亲 这个型号是 WX-2000 和 WX-3000 两款", "QQ糖 5 包 两箱",
                                  "型号 WX-3000 2件起批"])
def test_a_one_digit_quantity_is_no_part_of_a_split_number(detector: Detector,
                                                           text: str) -> None:
    # nor does it turn the model code before it (WX-3000) into a channel
    for mode in ("handover", "mention"):
        assert critical(detector.scan(text, mode=mode)) == {}, mode


def test_a_split_number_still_ends_in_one_digit(detector: Detector) -> None:
    text = "电话 138 0013 800 0"
    found = detector.scan(text, mode="handover")
    assert [(v.category, text[v.start:v.end]) for v in found if v.severity == "critical"] == [
        ("phone", "138 0013 800 0")]


def test_words_with_spaces_are_not_a_spaced_id(detector: Detector) -> None:
    assert detector.scan("line up for 218 min", mode="mention") == []


def test_split_digits_and_id_before_say_so(detector: Detector) -> None:
    assert critical(detector.scan("61-384-27-90 扣扣", mode="handover"))["qq"] == \
        "split-digits+before-cue"


@pytest.mark.parametrize("text", ["留个号码给您：14412345678", "号码 140-1234-5678 随时打",
                                  "有事call 16912345678", "16370863263 是我的电话"])
def test_phone_shaped_number_next_to_a_number_cue(detector: Detector, text: str) -> None:
    assert "phone-shape" in critical(detector.scan(text, mode="handover"))["phone"]


def test_phone_shaped_number_without_a_cue_is_not_a_phone(detector: Detector) -> None:
    assert detector.scan("批次14412345678已入库", mode="mention") == []


@pytest.mark.parametrize(("text", "ok"), [("QQ 12345", True), ("QQ 12345678901", True),
                                          ("QQ 1234", False), ("QQ 123456789012", False)])
def test_qq_numbers_of_5_to_11_digits(detector: Detector, text: str, ok: bool) -> None:
    assert ("qq" in {v.category for v in detector.scan(text, mode="handover")
                     if v.severity == "critical"}) is ok


# --- handles -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "span"), [
    ("@lilyshop_cn 私聊", "@lilyshop_cn"), ("飞机：@tb_deal", "@tb_deal"),
    ("纸飞机 dealer88", "dealer88"), ("TG搜 vipshop2024", "vipshop2024"),
    ("line id: amy_1990", "amy_1990"), ("抖音号 dy88997", "dy88997"),
    ("快手号：ks_meimei", "ks_meimei"), ("私聊 kefu_007", "kefu_007"), ("电报 deal636", "deal636"),
])
@pytest.mark.parametrize("mode", ["mention", "handover"])
def test_handles_are_critical_on_every_platform(detector: Detector, text: str, span: str,
                                                mode: str) -> None:
    found = [v for v in detector.scan(text, mode=mode) if v.category == "handle"]
    assert [(text[v.start:v.end], v.severity) for v in found] == [(span, "critical")]
    assert span not in detector.mask(text)


@pytest.mark.parametrize("text", ["t.me/cheapdeal88", "https://t.me/joinchat/abc123",
                                  "telegram.me/vipshop"])
def test_telegram_links_are_links(detector: Detector, text: str) -> None:
    assert critical(detector.scan(f"进群 {text}", mode="handover")) == {"link": "link"}


# --- what stays clean ----------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "卫星电视信号不好", "这款口红是哑光的", "企鹅玩偶还有货", "维修点在哪里", "微型相机很好用",
    "作为新客户您可以领券", "新款口红色号520", "家人们扣1", "扣666666", "扣扣扣扣", "飞机盒包装",
    "这个是纸飞机玩具", "联系客服处理一下", "型号是WX4669", "what about the QQ-332?", "入口即化",
    "口口相传的好品质", "@全体成员 明天发货", "TG300 blender", "online shop", "line up please",
    "每位新客送20元券", "为新人准备了礼包", "伟星管材", "唯心主义", "商品编码 6901234567890",
    "亲，我们的优惠码是SALE2024", "飞机上不能带充电宝", "微星主板 B650M", "优惠码：WX2024SALE",
    "V领毛衣 M码", "Q版公仔", "M2芯片", "客服工号 8866", "QQ糖", "安徽新华书店",
])
def test_sound_and_shape_alikes_in_ordinary_chat(detector: Detector, text: str) -> None:
    assert detector.scan(text, mode="mention", platform="pdd") == []


def test_every_finding_says_how(detector: Detector) -> None:
    text = ("加我微信13812345678，电话 13912345678，QQ 12345678，邮箱abc123@qq.com，"
            "https://x.cn/a，@lily_shop")
    found = detector.scan(text, mode="mention")
    assert {(v.category, v.how) for v in found} >= {
        ("wechat", "number"), ("phone", "number"), ("qq", "number"), ("email", "email"),
        ("link", "link"), ("handle", "handle"), ("wechat", "keyword")}
    assert all(v.how for v in found)


def test_violation_keeps_its_old_constructor() -> None:
    v = Violation("phone", "critical", 0, 11, "138******78")
    assert v.how == ""


# --- the fast path ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "level"), [
    ("亲，这个颜色显白，很多买家反馈不错", 0), ("不客气亲，祝您生活愉快", 0), ("我们去仓库看看", 0),
    ("你去 死吧", 1), ("買不起就別来", 1), ("有需要加我胃心", 1), ("电话 13812345678", 2),
    ("一二三四五号仓", 2),
])
def test_prefilter_levels(detector: Detector, text: str, level: int) -> None:
    """0: skipped; 1: keywords only; 2: every stage. A keyword of common characters only
    (去死) is looked for whole, so 去 alone does not send a text down the slow path."""
    from stream.core.content.prefilter import Prefilter

    prefilter = detector._prefilter  # the fast path is what is tested
    assert isinstance(prefilter, Prefilter)
    assert prefilter.level(text) == level
