"""Generate the evasion corpus: disguised hand-overs and the ordinary lines they hide among.

    python -m tests.content.generate

Seeded, so the committed files are stable. ``positives.jsonl`` rows are ``{"text", "category",
"cls"}``: a contact handed over in one of the evasion classes real senders use (issue 14,
DOMAIN.md §4). ``negatives.jsonl`` rows are ``{"text", "cls", "mode"}``: ordinary agent and
buyer lines full of what looks like a contact but is not; each must give no finding at all in
``mode`` (``mention`` is the strictest, PDD; ``handover`` for the bare mentions of a payment or
chat app that other platforms allow).

Lines are built combinatorially from hand-written parts (templates, cues, ids, separators):
the spellings come from what evaders write, not from the detector's tables, so a class
measures whether the detector generalises (by sound, by shape) rather than what it lists.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import phonenumbers

HERE = Path(__file__).resolve().parent
SEED = 20261201
PER_POSITIVE_CLASS = 110
PER_NEGATIVE_CLASS = 125

# --- parts -----------------------------------------------------------------------------------
WEI = "微威薇维唯惟违韦伟纬苇胃蔚巍偎煨猥帷嵬桅"
XIN = "信心新芯欣馨辛薪鑫昕锌歆星醒猩腥惺"
KOU = "扣寇抠叩蔻筘"
QI = "企起岂其奇期琪棋旗祈骑麒"
E = "鹅饿额俄娥峨蛾鄂厄"
ZHI = "支只知之吱枝芝汁织纸脂蜘指止"
FU = "付富符福浮扶伏服赴副"
BAO = "宝包保饱豹鲍煲褒苞胞"
# Ordinary words with the same sound are not disguises an evader would pick (卫星 is a
# satellite): the negatives use them.
ORDINARY_PAIRS = {"维新", "唯心", "违心", "卫星", "微型", "维修", "伟星", "危险", "尾款"}

SEPARATORS = [" ", "-", "+", ".", "·", "~", "_", "|", "/", "─", "━", "│", "┃", "╋", "┄",
              "🌸", "❤️", "⭐", "👉", "🍀", "😊", "🔥", " - ", "  ", "、", "丨"]
CN = "零一二三四五六七八九"
CN_CAPS = "零壹贰叁肆伍陆柒捌玖"
ZERO_LOOKS = ["o", "O", "〇", "零", "口", "○"]
LOOKALIKE_VX = ["𝐕𝐗", "𝐯𝐱", "𝑽𝑿", "𝕍𝕏", "𝓥𝓧", "ⓥⓧ", "🅥🅧", "🆅🆇", "ᴠх", "ѵх", "ⅴx", "Ｖ×", "ｖｘ",
                "𝚟𝚡", "𝗩𝗫", "ⅤＸ", "νх", "𝔳𝔵"]
LOOKALIKE_QQ = ["𝐐𝐐", "ℚℚ", "ⓆⓆ", "🅀🅀", "𝕢𝕢", "ԛԛ", "𝓠𝓠", "ＱＱ", "🆀🆀", "𝑸𝑸"]
LOOKALIKE_WX = ["𝐖𝐗", "ẉẋ", "ⓦⓧ", "ԝх", "𝕨𝕩", "Ｗx", "𝚠𝚡"]
CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х",
                          "y": "у", "i": "і", "k": "к"})


def mobile(r: random.Random, valid: bool = True) -> str:
    while True:
        n = r.choice("3456789") + "".join(r.choice("0123456789") for _ in range(9))
        number = "1" + n
        ok = phonenumbers.is_valid_number(phonenumbers.parse(number, "CN"))
        if ok == valid:
            return number


def qq_number(r: random.Random) -> str:
    n = r.randint(5, 11)
    while True:
        digits = str(r.randint(1, 9)) + "".join(r.choice("0123456789") for _ in range(n - 1))
        if len(set(digits)) > 2:
            return digits


def wechat_id(r: random.Random) -> str:
    stem = r.choice(["lily", "kefu", "amy", "shop", "tao", "xiaomei", "vip", "hao", "jia", "mm",
                     "ktb", "zz", "coco", "sun", "bao", "yy", "anna", "tina", "leo", "max"])
    tail = r.choice([str(r.randint(10, 99999)), "_" + str(r.randint(1, 9999)),
                     str(r.randint(100, 999)) + r.choice(["a", "x", "cc", ""]),
                     "-" + str(r.randint(10, 999)), str(r.randint(1990, 2026))])
    ident = stem + tail
    return ident.upper() if r.random() < 0.2 else ident


def code_id(r: random.Random) -> str:
    """An id like KTB582 or 582ktb (letters and digits)."""
    letters = "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(r.randint(2, 4)))
    digits = str(r.randint(100, 99999))
    ident = letters + digits if r.random() < 0.7 else digits + letters
    return ident if r.random() < 0.5 else ident.lower()


def tg_name(r: random.Random) -> str:
    stem = r.choice(["lily", "shop", "kefu", "deal", "vip", "sale", "tao", "best", "cheap",
                     "mei", "amy", "boss"])
    return stem + r.choice(["_", "", "x", "_cn", "_vip"]) + r.choice(
        [str(r.randint(1, 999)), "bot", "shop", "88"])


def split(r: random.Random, digits: str) -> str:
    """Digits in 2-5 groups joined by one separator style."""
    sep = r.choice(SEPARATORS)
    cuts = sorted(r.sample(range(1, len(digits)), min(len(digits) - 1, r.randint(1, 4))))
    parts = [digits[i:j] for i, j in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    return sep.join(parts)


def mixed_numerals(r: random.Random, digits: str) -> str:
    return "".join(r.choice([c, CN[int(c)], CN_CAPS[int(c)]]) for c in digits)


def pick(r: random.Random, items: list[str]) -> str:
    return r.choice(items)


# --- positive classes --------------------------------------------------------------------------
def homophone_pair(r: random.Random, a: str, b: str) -> str:
    while True:
        pair = r.choice(a) + r.choice(b)
        if pair not in ORDINARY_PAIRS:
            return pair


AFTER = ["{c}：{x}", "加我{c} {x}", "{c}号{x}", "我{c}是{x}", "有事{c} {x} 联系", "亲，{c}{x}",
         "{c} {x} 备注一下", "我的{c}：{x}，加一下", "私下{c} {x} 便宜", "{c}搜 {x}"]
BEFORE = ["{x} {c}", "{x}（{c}）", "{x} 是我{c}", "{x} 这个是{c}", "加 {x} {c}", "{x}，{c}哦",
          "有问题找{x} {c}"]


def p_homophone_wechat(r: random.Random) -> tuple[str, str]:
    c = homophone_pair(r, WEI, XIN)
    x = r.choice([wechat_id(r), code_id(r), split(r, mobile(r))])
    return r.choice(AFTER + BEFORE).format(c=c, x=x), "wechat"


def p_homophone_qq(r: random.Random) -> tuple[str, str]:
    c = r.choice([homophone_pair(r, KOU, KOU), homophone_pair(r, QI, E),
                  homophone_pair(r, QI, E) + "号", r.choice(KOU) + r.choice(KOU) + "号"])
    x = r.choice([qq_number(r), split(r, qq_number(r))])
    return r.choice(AFTER + BEFORE).format(c=c, x=x), "qq"


def p_homophone_alipay(r: random.Random) -> tuple[str, str]:
    c = r.choice(ZHI) + r.choice(FU) + r.choice(BAO)
    if c == "支付宝":
        c = "只付宝"
    x = r.choice([mobile(r), split(r, mobile(r)), "".join(str(r.randint(0, 9)) for _ in range(10))])
    return r.choice(AFTER).format(c=c, x=x), "alipay"


def p_lookalike_q(r: random.Random) -> tuple[str, str]:
    c = r.choice(["口口", "口口", "口", "口口号", "加口口", "口口群"])
    x = r.choice([qq_number(r), split(r, qq_number(r)), mixed_numerals(r, qq_number(r))])
    return r.choice(AFTER[:6] + BEFORE[:4]).format(c=c, x=x), "qq"


def p_confusable(r: random.Random) -> tuple[str, str]:
    kind = r.choice(["wechat", "wechat", "qq"])
    if kind == "wechat":
        c = r.choice(LOOKALIKE_VX + LOOKALIKE_WX + ["Ｖ信", "𝐕信", "ⓥ信", "ᴠ信"])
        x = r.choice([wechat_id(r), wechat_id(r).translate(CYRILLIC), code_id(r)])
    else:
        c = r.choice(LOOKALIKE_QQ)
        x = qq_number(r)
    return r.choice(AFTER[:8]).format(c=c, x=x), kind


def p_zero_lookalike(r: random.Random) -> tuple[str, str]:
    number = mobile(r)
    while "0" not in number[3:]:
        number = mobile(r)
    zero = r.choice(ZERO_LOOKS)
    shown = number[:3] + number[3:].replace("0", zero)
    template = r.choice(["电话{x}", "手机：{x}", "打我{x}", "联系电话 {x}", "微信同号{x}",
                         "{x} 打这个", "号码{x}"])
    category = "wechat" if "微信" in template else "phone"
    return template.format(x=shown), category


def p_id_before(r: random.Random) -> tuple[str, str]:
    kind = r.choice(["wechat", "wechat", "qq", "qq"])
    if kind == "wechat":
        c = r.choice(["威", "微信", "vx", "V", "薇", "卫星号", "wx", "威信", "V信", "绿泡泡"])
        x = r.choice([code_id(r), wechat_id(r)])
    else:
        c = r.choice(["口口", "扣扣", "QQ", "企鹅", "扣", "Q"])
        x = r.choice([qq_number(r), split(r, qq_number(r))])
    return r.choice(BEFORE).format(c=c, x=x), kind


def p_split_digits(r: random.Random) -> tuple[str, str]:
    kind = r.choice(["phone", "phone", "qq", "wechat"])
    if kind == "phone":
        x = r.choice([split(r, mobile(r)), mixed_numerals(r, mobile(r)),
                      split(r, mixed_numerals(r, mobile(r)))])
        template = r.choice(["电话{x}", "手机 {x}", "打{x}", "有事打 {x}", "联系我{x}", "{x}",
                             "号码：{x}"])
    elif kind == "qq":
        x = split(r, qq_number(r))
        template = r.choice(["QQ {x}", "扣扣：{x}", "企鹅号{x}", "q {x}"])
    else:
        x = split(r, mobile(r))
        template = r.choice(["微信 {x}", "vx：{x}", "加V {x}", "威信{x}"])
    return template.format(x=x), kind


def p_phone_shape(r: random.Random) -> tuple[str, str]:
    x = mobile(r, valid=False)
    x = r.choice([x, split(r, x), x[:3] + " " + x[3:7] + " " + x[7:]])
    template = r.choice(["留个号码给您：{x}", "我的电话是{x}", "打这个号{x}", "手机号 {x}",
                         "有问题直接打{x}", "来电{x}", "拨打 {x} 就行", "{x} 是我的电话",
                         "联系方式：{x}", "call我 {x}", "电话给您：{x}"])
    return template.format(x=x), "phone"


def p_qq_number(r: random.Random) -> tuple[str, str]:
    c = r.choice(["QQ", "qq", "Q号", "QQ号", "扣扣", "企鹅号", "q", "Q群", "扣扣群", "qq:"])
    return r.choice(AFTER[:8]).format(c=c, x=qq_number(r)), "qq"


def p_handle_telegram(r: random.Random) -> tuple[str, str]:
    name = tg_name(r)
    form = r.choice(["@", "飞机", "纸飞机", "TG", "tg", "Telegram", "电报"])
    if form == "@":
        text = r.choice(["有事找 @{n}", "联系 @{n} 发货", "@{n} 私聊我", "我的飞机 @{n}",
                         "tg：@{n}", "加 ＠{n}"]).format(n=name)
    else:
        x = name if any(ch.isdigit() or ch == "_" for ch in name) else name + str(r.randint(1, 99))
        text = r.choice(["{c} {x}", "{c}：{x}", "加我{c} {x}", "{c}号 {x}", "私聊{c} {x}"]
                        ).format(c=form, x=x)
    return text, "handle"


def p_handle_apps(r: random.Random) -> tuple[str, str]:
    app = r.choice(["Line", "LINE", "WhatsApp", "whatsapp", "抖音号", "快手号", "抖音", "快手",
                    "line号", "小红书号"])
    x = r.choice([code_id(r), wechat_id(r), tg_name(r) + str(r.randint(1, 99))])
    return r.choice(["{c} {x}", "{c}：{x}", "加我{c} {x}", "我的{c}是{x}", "搜{c} {x}"]).format(
        c=app, x=x), "handle"


def p_handle_private(r: random.Random) -> tuple[str, str]:
    x = r.choice([code_id(r), wechat_id(r)])
    return r.choice(["私聊 {x}", "私信{x}", "联系 {x}", "找我 {x}", "私我：{x}", "搜我 {x}"]
                    ).format(x=x), "handle"


def p_link_tme(r: random.Random) -> tuple[str, str]:
    name = tg_name(r) + str(r.randint(1, 99))
    x = r.choice([f"t.me/{name}", f"https://t.me/{name}", f"t点me/{name}", f"T.ME/{name}",
                  f"telegram.me/{name}", f"tg://resolve?domain={name}"])
    return r.choice(["进群 {x}", "{x} 这里便宜", "点这个 {x}", "亲，{x}"]).format(x=x), "link"


# --- issue 27: the contact is the invariant -----------------------------------------------------
# The classes below move, split, pad or replace the channel word; what stays is the contact.
# Each part list has a tuning half and a held-out half (``held_out=True``): the committed corpus
# is drawn from the first, and tests/content/test_corpus.py also scores lines drawn from the
# second, which no threshold was tuned on.
def _half(items: list[str], held_out: bool) -> list[str]:
    return items[1::2] if held_out else items[0::2]


FILLERS = ["买个饼", "看一下", "找她", "有惊喜", "懂的来", "随便聊", "备用号", "主号", "小号",
           "emm", "～～", "嘿嘿", "（不是广告）", "售后专用", "老地方", "点进去", "别说是我给的",
           "速来", "限时", "问就是有", "私下便宜", "偷偷的", "晚上在", "24h", "先到先得", "懂？",
           "你懂的", "外面聊", "拿好", "快存", "急", "号给你了"]
CHANNELS_WECHAT = ["威", "薇", "V", "vx", "微", "绿泡泡", "卫", "wei", "VX", "微❤", "v❤x", "胃",
                   "徽", "嶶", "威芯", "V芯"]
CHANNELS_QQ = ["口", "加口", "扣", "企鹅", "Q", "q", "寇", "口口", "扣扣", "叩", "蔻", "QQ", "筘", "抠"]
JIA = ["加", "佳", "家", "嘉", "夹", "+", "十", "➕", "伽", "珈", "茄", "加个", "佳个", "+个"]
WEI_SOUND = ["喂", "未", "维", "尾", "胃", "为", "委", "唯", "韦", "伟", "魏", "蔚", "v", "w", "V", "W"]
KOU_SOUND = ["扣", "寇", "筘", "窛", "蔻", "抠", "叩", "丘", "秋", "球", "Q", "q", "口", "扣扣", "寇寇"]
QIE = ["企-鹅", "企-0鹅", "企 鹅", "乞儿", "起-饿", "企·鹅", "企——鹅", "岂 额", "企_鹅", "七鹅",
       "启鹅", "企❤鹅"]
GROUP = ["群", "群号", "进群", "加群", "交流群", "裙", "qun", "君羊", "Qun", "羣", "裙号", "福利群",
         "粉丝群", "售后群", "q群", "v群", "群：", "羊君"]
INVITE = ["加", "联系", "找", "+", "需要的", "需要的加", "有需要", "有事找", "要的私", "私", "滴",
          "戳", "需要请加", "想要的", "来找", "联"]
AD_HEADS = ["清仓甩卖全场包邮，", "厂家直销，价格美丽，", "工厂一手货源 不赚差价 ", "高仿A货 一比一 ",
            "正品低价代购，", "招代理 一件代发 ", "兼职日结，", "内部优惠名额有限 ", "大量现货 批发价 ",
            "同款更便宜 "]
OFFICIAL = ["公众号", "工枞号", "蚣粽号", "公众号搜", "gzh", "GZH", "工众号", "公仲号", "公重号",
            "攻众号", "公粽号", "宫众号"]
TLDS_NEW = ["world", "lol", "top", "shop", "vip", "xyz", "site", "club", "online", "fun", "icu",
            "store", "live", "work", "cc", "life"]
NO_DOT = ["去空格访问", "去掉空格", "复制到浏览器", "空格去掉", "浏览器打开", "自己去掉中间的空格"]
WEAK = ["同号微", "手机", "同号v", "微同号", "也是微", "手机号", "同V", "打这个", "电话", "v同"]


def account(r: random.Random) -> str:
    """A QQ or group number as they are issued: 6 to 10 digits (no QQ number has more)."""
    while True:
        number = str(r.randint(1, 9)) + "".join(r.choice("0123456789") for _ in range(r.randint(5, 9)))
        if len(set(number)) > 2:
            return number


def _slug(r: random.Random) -> str:
    return r.choice(["kd", "ab", "vip", "hao", "mei", "shop", "tt", "jj", "xm", "zz", "mm", "sun"]) + \
        str(r.randint(1000, 99999))


def _id(r: random.Random, kind: str) -> str:
    if kind == "qq":
        number = account(r)
        return r.choice([number, number, split(r, number)])
    ident = r.choice([wechat_id(r), code_id(r), _slug(r), split(r, mobile(r))])
    while len(ident) < 6:  # shorter than any account id the platforms accept
        ident = wechat_id(r)
    return ident


def p_filler_between(r: random.Random, held_out: bool = False) -> tuple[str, str]:
    kind = r.choice(["wechat", "qq"])
    c = r.choice(_half(CHANNELS_WECHAT if kind == "wechat" else CHANNELS_QQ, held_out))
    fill = " ".join(r.sample(_half(FILLERS, held_out), r.randint(1, 2)))
    x = _id(r, kind)
    form = r.choice(["{x} {f} {c}", "{c} {f} {x}", "{x}，{f}，{c}", "{c}（{f}）{x}", "{x} {f}{c}"])
    # A mobile number is a phone wherever it stands; the channel word may name it too.
    return form.format(x=x, f=fill, c=c), kind + ("|phone" if _is_mobile(x) else "")


def _is_mobile(text: str) -> bool:
    number = "".join(ch for ch in text if ch.isdigit())
    return len(number) == 11 and number[0] == "1" and number[1] in "3456789"


def p_invitation_homophone(r: random.Random, held_out: bool = False) -> tuple[str, str]:
    kind = r.choice(["wechat", "qq", "qq"])
    if kind == "wechat":
        c = r.choice(_half(JIA, held_out)) + r.choice(_half(WEI_SOUND, held_out))
    elif r.random() < 0.4:
        c = r.choice(_half(QIE, held_out))
    else:
        c = r.choice(_half(JIA, held_out)) + r.choice(_half(KOU_SOUND, held_out))
    x = _id(r, kind)
    form = r.choice(["{c} {x}", "{c}{x}", "{c}：{x}", "亲 {c} {x} 详聊", "{x} {c}", "要的{c}{x}"])
    return form.format(c=c, x=x), kind + ("|phone" if _is_mobile(x) else "")


def p_group_number(r: random.Random, held_out: bool = False) -> tuple[str, str]:
    g = r.choice(_half(GROUP, held_out))
    number = account(r)
    x = r.choice([number, number, split(r, number)])
    kind = {"q群": "qq", "v群": "wechat"}.get(g, "handle") + ("|phone" if _is_mobile(number) else "")
    form = r.choice(["{g}{x}", "{g} {x}", "欢迎{g}：{x}", "{x} {g}", "福利都在{g}{x}里", "亲，{g} {x} 有优惠"])
    return form.format(g=g, x=x), kind


def p_bare_invitation(r: random.Random, held_out: bool = False) -> tuple[str, str, bool]:
    if r.random() < 0.35:  # an advertisement ending in a number, no cue at all
        number = r.choice([mobile(r, valid=False), account(r), mobile(r, valid=False)[:10]])
        head = r.choice(_half(AD_HEADS, held_out))
        # The head may end in a numeral (一比一) that joins the number: phone or handle.
        return head + r.choice(["", " ", "～"]) + number, "phone|handle", False
    v = r.choice(_half(INVITE, held_out))
    x = r.choice([account(r), split(r, account(r)), code_id(r), _slug(r)])
    form = r.choice(["{v}{x}", "{v} {x}", "{v}：{x}", "亲，{v} {x} 哦", "{v}{x}，秒回"])
    # 加 QD34784 reads as 加Q (add on QQ) D34784 as well: either category is right.
    glued = {"q": "|qq", "v": "|wechat", "w": "|wechat"}.get(x[:1].lower(), "")
    return form.format(v=v, x=x), "handle" + glued, True


def p_official_account(r: random.Random, held_out: bool = False) -> tuple[str, str]:
    c = r.choice(_half(OFFICIAL, held_out))
    x = r.choice([_slug(r) + r.choice(["shop", "", "hh"]), code_id(r), wechat_id(r), account(r)])
    while len(x) < 6:
        x = _slug(r)
    form = r.choice(["{c} {x}", "{c}：{x}", "关注{c}{x}领券", "{c}为 {x}", "{x} {c}", "搜{c}{x}"])
    return form.format(c=c, x=x), "wechat"


def p_glued_prefix(r: random.Random, held_out: bool = False) -> tuple[str, str]:
    kind = r.choice(["wechat", "wechat", "qq", "handle"])
    if kind == "handle":
        names = [_slug(r).replace("1", "x") for _ in range(r.randint(1, 2))]
        head = r.choice(_half(["联系", "找", "私", "问", "有事", "售后", "客服在", "加"], held_out))
        return head + "".join("@" + n for n in names) + r.choice(["", " 秒回", "哦"]), "handle"
    prefix = r.choice(_half(["加v", "加w", "+v", "加V", "加W", "➕v", "加个v", "+w", "加vx", "加wx"],
                            held_out)) if kind == "wechat" else r.choice(
        _half(["加q", "+q", "加Q", "十q", "加个q", "加qq"], held_out))
    x = r.choice([_slug(r), code_id(r).lower(), account(r)])
    return r.choice(["{p}{x}", "亲{p}{x}", "{p}{x}详聊", "有需要{p}{x}"]).format(p=prefix, x=x), kind


def p_link_no_dot(r: random.Random, held_out: bool = False) -> tuple[str, str]:
    name = _slug(r)
    tld = r.choice(_half(TLDS_NEW, held_out))
    x = r.choice([f"www {name} {tld}", f"{name}c{tld}", f"{name}。{tld}", f"店铺名.{tld}",
                  f"{r.randint(1, 999)}.{name}.{tld}", f"{name}.{tld}", f"www。{name}。{tld}",
                  f"{name} 点 {tld}", f"{name}.{tld}/{r.randint(1, 99)}"])
    note = r.choice(_half(NO_DOT, held_out))
    return r.choice(["{x} {n}", "{x}（{n}）", "看这里 {x}", "{n}：{x}", "{x}"]).format(x=x, n=note), "link"


def p_phone_weak_cue(r: random.Random, held_out: bool = False) -> tuple[str, str]:
    number = mobile(r, valid=False)
    while number[:2] not in ("14", "16", "17", "19"):
        number = mobile(r, valid=False)
    x = r.choice([number, number[:3] + " " + number[3:7] + " " + number[7:], split(r, number)])
    w = r.choice(_half(WEAK, held_out))
    form = r.choice(["加我 {x} {w}", "{x} {w}", "{x}（{w}）", "有事{x}{w}", "{w} {x}"])
    return form.format(x=x, w=w), "phone|wechat"


# Classes of issue 27: each returns (text, category) or (text, category, cue present).
NEW_POSITIVES: dict[str, Callable[..., tuple[str, str] | tuple[str, str, bool]]] = {
    "filler-between": p_filler_between,
    "invitation-homophone": p_invitation_homophone,
    "group-number": p_group_number,
    "bare-invitation": p_bare_invitation,
    "official-account": p_official_account,
    "glued-prefix": p_glued_prefix,
    "link-no-dot": p_link_no_dot,
    "phone-weak-cue": p_phone_weak_cue,
}


POSITIVES: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "homophone-wechat": p_homophone_wechat,
    "homophone-qq": p_homophone_qq,
    "homophone-alipay": p_homophone_alipay,
    "lookalike-q": p_lookalike_q,
    "confusable": p_confusable,
    "zero-lookalike": p_zero_lookalike,
    "id-before-cue": p_id_before,
    "split-digits": p_split_digits,
    "phone-shape": p_phone_shape,
    "qq-number": p_qq_number,
    "handle-telegram": p_handle_telegram,
    "handle-apps": p_handle_apps,
    "handle-private": p_handle_private,
    "link-tme": p_link_tme,
}


# --- negative classes --------------------------------------------------------------------------
def digits(r: random.Random, n: int) -> str:
    return "".join(str(r.randint(0, 9)) for _ in range(n))


def n_orders(r: random.Random) -> str:
    order = r.choice([f"{r.randint(200101, 261231)}-{digits(r, 15)}", str(r.randint(1, 4)) + digits(r, 18),
                      str(r.randint(2, 3)) + digits(r, 11), digits(r, 16)])
    return r.choice(["订单号{o}已经发货了", "亲，您的订单 {o} 在处理中", "订单编号：{o}",
                     "我的订单号是{o}，怎么还没发", "单号{o}帮我查下", "麻烦看下这个订单{o}",
                     "亲亲，{o}这个订单已经退款了", "售后单号 {o}"]).format(o=order)


def n_waybills(r: random.Random) -> str:
    w = r.choice([f"SF{digits(r, 13)}", f"YT{digits(r, 13)}", f"JT{digits(r, 13)}",
                  f"75{digits(r, 12)}", f"43{digits(r, 11)}", f"JD{digits(r, 15)}",
                  f"78{digits(r, 12)}", f"DPK{digits(r, 12)}", f"YD{digits(r, 13)}"])
    return r.choice(["快递单号{w}", "运单号 {w} 已签收", "物流单号：{w}，明天到",
                     "亲，顺丰{w}", "中通 {w} 您查一下", "快递是{w}", "退货运单{w}填好了"]
                    ).format(w=w)


def n_prices(r: random.Random) -> str:
    p = r.choice([f"¥{r.randint(9, 2999)}.{r.choice(['00', '90', '99'])}", f"{r.randint(9, 99999)}元",
                  f"￥{r.randint(9, 9999)}", f"{r.randint(1, 99)}.9元", f"{r.randint(1000, 99999)}块",
                  f"${r.randint(5, 999)}", f"{r.randint(100, 999)}.{r.randint(10, 99)}"])
    return r.choice(["现在活动价{p}", "这款原价{p}，券后{p}", "合计{p}，已付款", "差价{p}给您退了",
                     "亲，{p}包邮", "一共{p}哦", "补{p}运费就行"]).format(p=p)


def n_dates(r: random.Random) -> str:
    d = r.choice([f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
                  f"{r.randint(2024, 2026)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}",
                  f"2026/{r.randint(1, 12)}/{r.randint(1, 28)} {r.randint(8, 22)}:{r.randint(0, 59):02d}",
                  f"{r.randint(1, 12)}月{r.randint(1, 28)}日", f"2026.{r.randint(1, 12)}.{r.randint(1, 28)}",
                  f"{r.randint(8, 22)}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"])
    return r.choice(["预计{d}送达", "{d}前发货", "活动截止{d}", "您{d}下的单", "{d}已揽收",
                     "生产日期{d}"]).format(d=d)


def n_sizes(r: random.Random) -> str:
    s = r.choice([f"{r.randint(35, 45)}码", f"{r.randint(150, 190)}/{r.randint(76, 100)}A",
                  f"身高{r.randint(150, 190)}cm体重{r.randint(40, 90)}kg", "XL", "3XL",
                  f"{r.randint(20, 200)}x{r.randint(20, 200)}x{r.randint(10, 90)}cm",
                  f"{r.randint(1000, 2000)}*{r.randint(1000, 2400)}mm", f"{r.randint(100, 999)}ml"])
    return r.choice(["建议拍{s}", "这个尺寸是{s}", "亲，{s}有货", "{s}的卖完了", "我穿{s}合适吗"]
                    ).format(s=s)


def n_models(r: random.Random) -> str:
    m = r.choice(["iPhone 15 Pro Max", f"A{r.randint(1000, 3000)}", f"XR-{r.randint(1000, 99999)}",
                  f"型号{r.randint(100000, 999999)}", f"货号{digits(r, 8)}", f"款号 {digits(r, 7)}",
                  f"sku{digits(r, 10)}", f"MX{r.randint(100, 999)}", "RTX 4060",
                  f"GT-{r.randint(10000, 99999)}", f"KD{r.randint(10000, 99999)}B",
                  f"ZH{r.randint(1000, 9999)}", f"{r.randint(128, 1024)}G", "Mate 60 Pro",
                  f"WX{r.randint(1000, 9999)}", f"QS-{r.randint(1000, 9999)}"])
    return r.choice(["这款{m}现货", "型号是{m}", "{m}和上一代区别不大", "亲，{m}有优惠",
                     "您买的是{m}吗"]).format(m=m)


def n_hotlines(r: random.Random) -> str:
    h = r.choice(["95338", "95311", "95543", "95546", "95554", "95188", "95017", "95588",
                  "95598", "10086", "10010", "12315", "95118", "95511"])
    return r.choice(["顺丰客服电话{h}", "可以打{h}问一下", "快递热线{h}", "银行客服{h}",
                     "官方客服电话：{h}", "有问题拨打{h}"]).format(h=h)


def n_own_links(r: random.Random) -> str:
    link = r.choice([f"https://mobile.yangkeduo.com/goods.html?goods_id={digits(r, 12)}",
                     f"mobile.yangkeduo.com/order.html?order_sn={r.randint(200101, 261231)}-{digits(r, 15)}",
                     f"https://mobile.pinduoduo.com/goods2.html?goods_id={digits(r, 11)}",
                     f"https://item.taobao.com/item.htm?id={digits(r, 12)}",
                     f"https://detail.tmall.com/item.htm?id={digits(r, 12)}",
                     f"https://item.jd.com/{digits(r, 11)}.html"])
    platform = ("taobao" if "taobao" in link or "tmall" in link else "jd" if "jd.com" in link
                else "pdd")
    return r.choice(["商品链接 {l}", "您看下这个 {l}", "亲，{l} 这个就是"]).format(l=link) + \
        "\t" + platform


def n_coupons(r: random.Random) -> str:
    code = r.choice([f"SALE{r.randint(10, 2026)}", f"VIP{r.randint(100, 999)}",
                     "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6)),
                     f"NEW{r.randint(10, 99)}OFF", f"DD{r.randint(1000, 9999)}"])
    return r.choice(["优惠码 {c} 可以减10元", "券码：{c}", "下单备注{c}送小样", "兑换码{c}已经发您",
                     "输入口令 {c} 领券", "满减码{c}今天有效"]).format(c=code)


def n_live_slang(r: random.Random) -> str:
    return r.choice(["家人们扣1", "想要的扣{n}", "扣个{m}", "没抢到的扣2", "宝宝们扣波{m}",
                     "刷一波{m}", "上链接上链接", "{k}号链接拍", "福袋扣{n}", "主播{m}",
                     "扣{m}上车", "扣扣扣扣", "家人们点点关注", "飞机票拍{k}号链接"]).format(
        n=r.randint(1, 3), m=r.choice(["666", "888", "6666", "8888", "666666", "888888",
                                        "1111", "99999"]), k=r.randint(1, 60))


def n_soundalike_products(r: random.Random) -> str:
    return r.choice(["卫星电视信号不好", "这款口红是哑光的", "企鹅玩偶还有货", "维修点在哪里",
                     "微型相机{k}款", "维新路仓库发货", "作为新客户您可以领券", "新款口红色号{k}",
                     "支付包装费五元", "企鹅抱枕{k}个起批", "小飞机模型{k}元", "纸飞机折纸玩具",
                     "口罩{k}片装", "入口口感很好", "违心的话不说", "宝宝唯心就好",
                     "扣子掉了{k}个", "折扣价{k}元", "只付定金就行", "飞机盒包装",
                     "客服微笑服务", "尾款{k}元已付", "威武霸气款", "为新人准备了礼包",
                     "每位新客送{k}元券"]).format(k=r.randint(2, 99))


def n_bare_mentions(r: random.Random) -> str:
    # Allowed on other platforms (handover mode): naming a payment or chat app.
    return r.choice(["微信支付就可以", "支付宝付款也行的亲", "可以用QQ钱包吗？支持的",
                     "亲，微信、支付宝都能付", "亲，您可以用扣扣登录", "微信扫码付款",
                     "支付宝花呗分{k}期", "用微信支付的话有{k}元立减", "微信 iPhone 版也能下单",
                     "QQ音乐会员送{k}个月", "抖音同款", "快手上也有卖", "微信小程序里也能买",
                     "WeChat Pay 和 Apple Pay 都支持", "飞机上不能带充电宝"]).format(
        k=r.randint(2, 24)) + "\thandover"


def n_english_chat(r: random.Random) -> str:
    return r.choice(["Hello, order {o} shipped", "thanks a lot, size XL please", "line up for {k} min",
                     "online now, model A{k}", "Quality is ok, 5 stars", "the tg300 blender is out of stock",
                     "signal is weak, will reply later", "email me? no, use the chat here",
                     "iPhone15 case has {k} colors", "what about the QQ-{k}? it is a toy car"]).format(
        o=digits(r, 12), k=r.randint(2, 999))


def n_ordinary(r: random.Random) -> str:
    return r.choice(["亲，在的，有什么可以帮您？", "好的亲，马上为您处理", "亲，这款是现货的哦",
                     "收到货有任何问题随时联系我们哦", "七天无理由退换的", "您好，请问是哪个商品呢？",
                     "联系客服处理一下", "请私信客服", "有问题联系我们", "稍等，我帮您查一下",
                     "亲，第{k}件半价", "宝贝已经发出了，请注意查收", "满{k}件包邮哦",
                     "我们{k}点到22点在线", "已经催促仓库了", "这个颜色显白", "质量是有保证的",
                     "不客气亲，祝您生活愉快", "亲，您的快递在派送中", "收到了吗亲"]).format(
        k=r.randint(2, 9))


def _code(r: random.Random, letters: int, digits_: int) -> str:
    return "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(letters)) + digits(r, digits_)


def n_order_fragments(r: random.Random) -> str:
    tail = digits(r, r.choice([5, 6, 8, 11, 12]))
    return r.choice(["订单尾号{t}的那个是吧", "您说的是订单{t}吗", "订单号后几位{t}对一下",
                     "亲，单号{t}查到了", "售后单{t}已经提交", "服务单号：{t}，审核中",
                     "退款单{t}已经同意", "您核对下订单编号 {t}", "京东订单{t}已出库",
                     "工单 {t} 已转给仓库", "{t} 这个订单已经发出了", "交易号{t}，付款成功",
                     "拼单号{t}还差1人", "物流单{t}显示派送中"]).format(t=tail)


def n_sku_codes(r: random.Random) -> str:
    code = r.choice([_code(r, 2, 4), _code(r, 3, 5), _code(r, 2, 4).lower(), f"{_code(r, 2, 4)}-{r.randint(1, 99)}",
                     f"{_code(r, 1, 6)}", digits(r, 10), f"{_code(r, 2, 5)}B", f"{_code(r, 3, 3)}{r.choice('ABC')}"])
    return r.choice(["货号 {c} 有现货", "款号：{c}", "SKU {c} 库存充足", "商品编码{c}", "型号{c}的是新款",
                     "亲，{c}这款是{k}年的", "您拍的款号是{c}吗", "条码 {c}", "规格：{c}，颜色随机",
                     "商品ID {c}", "这个型号 {c} 和 {c} 是一样的", "编号{c}的卖完了"]).format(
        c=code, k=r.randint(2023, 2026))


def n_tracking_links(r: random.Random) -> str:
    platform, link = r.choice([
        ("pdd", f"https://mobile.yangkeduo.com/logistics.html?order_sn={r.randint(200101, 261231)}-{digits(r, 15)}"),
        ("pdd", f"mobile.pinduoduo.com/order_detail.html?sn={digits(r, 12)}"),
        ("jd", f"https://details.jd.com/normal/item.action?orderid={digits(r, 12)}"),
        ("jd", f"https://item.jd.com/{digits(r, 11)}.html"),
        ("jd", f"jd.hk/{digits(r, 9)}.html"),
        ("taobao", f"https://buyertrade.taobao.com/trade/detail/trade_item_detail.htm?bizOrderId={digits(r, 19)}"),
        ("taobao", f"https://detail.tmall.com/item.htm?id={digits(r, 12)}&skuId={digits(r, 13)}")])
    return r.choice(["物流详情：{l}", "您点这个看进度 {l}", "订单页面 {l}", "亲，{l} 这里能查"]).format(l=link) + \
        "\t" + platform


def n_stock_sales(r: random.Random) -> str:
    return r.choice(["库存{n}件", "已售{n}+", "月销{n}单", "累计销量 {n} 件", "{n}人已加购",
                     "好评{n}条", "已有{n}位买家评价", "仓库还有{n}双", "这款卖了{n}多件了",
                     "收藏人数 {n}", "{n}人付款", "每天发{n}单左右"]).format(n=r.randint(10000, 999999))


def n_amounts(r: random.Random) -> str:
    a = r.randint(10000, 999999)
    return r.choice(["满{a}减{b}", "定金{a}元", "已退{a}元", "共{a}积分", "合计 ¥{a}", "大额券满{a}可用",
                     "补差价{a}块", "金额{a}.00", "总价 {a} 元", "您这单一共{a}", "预算{a}以内推荐这款",
                     "价格区间{b}-{a}元"]).format(a=a, b=r.randint(100, 9999))


def n_address_numbers(r: random.Random) -> str:
    return r.choice(["仓库在工业路{n}号", "邮编{z}", "收货地址写到{k}栋{m}室就行", "发货地邮编 {z}",
                     "退货地址：xx市xx区{k}号楼{m}", "门牌号{m}对吗", "取件码{k}-{k}-{m}",
                     "快递柜取件码 {z}", "验证码{z}别告诉别人", "您的会员号{z}{k}", "工号{m}{k}为您服务"
                     ]).format(n=r.randint(100, 9999), z=digits(r, 6), k=r.randint(1, 30), m=r.randint(1001, 3099))


def n_dates_times(r: random.Random) -> str:
    y, mo, d = r.randint(2023, 2026), r.randint(1, 12), r.randint(1, 28)
    date = r.choice([f"{y}{mo:02d}{d:02d}", f"{y}-{mo:02d}-{d:02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
                     f"{y}.{mo:02d}.{d:02d}", f"{y}年{mo}月{d}日", f"{y}/{mo:02d}/{d:02d}",
                     f"{y}-{y + 1}", f"{mo:02d}{d:02d}", f"{y}{mo:02d}"])
    return r.choice(["{d}发货", "生产日期{d}", "保质期到{d}", "{d}秋冬款", "{d}批次", "活动{d}开始",
                     "预计{d}到货", "{d}这天下单的", "{d}之前都能退"]).format(d=date)


def n_spec_codes(r: random.Random) -> str:
    spec = r.choice(["i7-13700K", "i5-12400F", "RTX4060Ti", "DDR5-6000", f"{r.randint(5, 30)}000mAh",
                     "1080P", "USB3.0", "Type-C", "A17 Pro", "骁龙8Gen3", f"{r.choice([128, 256, 512])}GB",
                     f"{r.randint(20, 120)}W快充", "WiFi6", "HDMI2.1", "M2芯片", "LPDDR5X", "PD65W",
                     f"{r.randint(100, 240)}Hz", "IP68", "4K120Hz", "5G", f"R{r.randint(3, 9)}-{r.randint(5000, 7950)}X",
                     f"{r.randint(13, 16)}代", "RX7900XTX", "SN850X", "iPhone16ProMax", "Mate60Pro"])
    return r.choice(["这款是{s}的", "配置：{s}", "支持{s}", "{s}，性能很强", "亲，{s}有货",
                     "升级版{s}", "标配{s}"]).format(s=spec)


def n_platform_lines(r: random.Random) -> str:
    return r.choice(["京东客服热线950618", "可以拨打950618咨询", "淘宝客服95188", "平台客服电话 95017",
                     "京东订单{o}已出库，预计明天送达", "京东快递单号JDV{w}", "京东物流 JD{w}",
                     "售后服务单{s}已审核通过", "保价申请{s}已提交", "京豆{k}个已到账",
                     "白条分{n}期免息", "PLUS会员{k}元"]).format(
        o=str(r.randint(2, 3)) + digits(r, 11), w=digits(r, 12), s=digits(r, 9),
        k=r.randint(100, 99999), n=r.choice([3, 6, 12, 24])) + "\thandover\tjd"


def n_english_service(r: random.Random) -> str:
    return r.choice(["Order #{o} has shipped", "Tracking number {t}", "Item {c} is in stock",
                     "Invoice {o} sent", "Your refund of {a} yuan is done", "SKU {c}, size M",
                     "Model {c} fits your phone", "Coupon code {c} saves 10%", "ETA {d}",
                     "Case ID {o}, we will follow up"]).format(
        o=digits(r, 10), t=f"SF{digits(r, 12)}", c=_code(r, 2, 5), a=r.randint(10000, 99999),
        d=f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}")


NEGATIVES: dict[str, Callable[[random.Random], str]] = {
    "order-numbers": n_orders,
    "waybills": n_waybills,
    "prices": n_prices,
    "dates": n_dates,
    "sizes": n_sizes,
    "model-numbers": n_models,
    "hotlines": n_hotlines,
    "own-links": n_own_links,
    "coupon-codes": n_coupons,
    "live-slang": n_live_slang,
    "soundalike-products": n_soundalike_products,
    "bare-mentions": n_bare_mentions,
    "english-chat": n_english_chat,
    "ordinary": n_ordinary,
}


# Ordinary lines of issue 27: numbers and codes that are not contacts, each with its reading.
NEW_NEGATIVES: dict[str, Callable[[random.Random], str]] = {
    "order-fragments": n_order_fragments,
    "sku-codes": n_sku_codes,
    "tracking-links": n_tracking_links,
    "stock-sales": n_stock_sales,
    "amounts": n_amounts,
    "address-numbers": n_address_numbers,
    "dates-times": n_dates_times,
    "spec-codes": n_spec_codes,
    "platform-lines": n_platform_lines,
    "english-service": n_english_service,
}
NEW_PER_NEGATIVE_CLASS = 135


def positive_row(cls: str, made: tuple[str, str] | tuple[str, str, bool]) -> dict[str, object]:
    """One positive row; ``cue`` is False for a hand-over written with no contact cue at all."""
    text, category = made[0], made[1]
    cue = made[2] if len(made) == 3 else True
    return {"text": text, "category": category, "cls": cls, "cue": cue}


def held_out_positives(per_class: int, seed: int = SEED + 2727) -> list[dict[str, object]]:
    """Lines of the issue-27 classes drawn from the held-out half of every part list."""
    r = random.Random(seed)
    return [positive_row(cls, make(r, held_out=True))
            for cls, make in NEW_POSITIVES.items() for _ in range(per_class)]


def _negative_row(cls: str, line: str) -> dict[str, str]:
    text, _, extra = line.partition("\t")
    mode, _, platform = extra.partition("\t")
    if mode not in ("", "handover"):
        mode, platform = "", mode
    return {"text": text, "cls": cls, "mode": "handover" if mode == "handover" else "mention",
            "platform": platform or "pdd"}


def main(out: Path = HERE) -> None:
    """Write both files into ``out`` (next to this module by default).

    The issue-27 classes draw from their own random streams, so the earlier rows stay as they
    were.
    """
    r = random.Random(SEED)
    new = random.Random(SEED + 27)
    with open(out / "positives.jsonl", "w", encoding="utf-8") as f:
        for cls, make in POSITIVES.items():
            for _ in range(PER_POSITIVE_CLASS):
                text, category = make(r)
                f.write(json.dumps({"text": text, "category": category, "cls": cls},
                                   ensure_ascii=False) + "\n")
        for cls, make_new in NEW_POSITIVES.items():
            for _ in range(PER_POSITIVE_CLASS):
                f.write(json.dumps(positive_row(cls, make_new(new)), ensure_ascii=False) + "\n")
    with open(out / "negatives.jsonl", "w", encoding="utf-8") as f:
        for cls, make in NEGATIVES.items():
            for _ in range(PER_NEGATIVE_CLASS):
                f.write(json.dumps(_negative_row(cls, make(r)), ensure_ascii=False) + "\n")
        for cls, make in NEW_NEGATIVES.items():
            for _ in range(NEW_PER_NEGATIVE_CLASS):
                f.write(json.dumps(_negative_row(cls, make(new)), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
