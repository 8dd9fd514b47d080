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


def main(out: Path = HERE) -> None:
    """Write both files into ``out`` (next to this module by default)."""
    r = random.Random(SEED)
    with open(out / "positives.jsonl", "w", encoding="utf-8") as f:
        for cls, make in POSITIVES.items():
            for _ in range(PER_POSITIVE_CLASS):
                text, category = make(r)
                f.write(json.dumps({"text": text, "category": category, "cls": cls},
                                   ensure_ascii=False) + "\n")
    with open(out / "negatives.jsonl", "w", encoding="utf-8") as f:
        for cls, make in NEGATIVES.items():
            for _ in range(PER_NEGATIVE_CLASS):
                text, _, extra = make(r).partition("\t")
                row = {"text": text, "cls": cls,
                       "mode": "handover" if extra == "handover" else "mention",
                       "platform": extra if extra not in ("", "handover") else "pdd"}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
