"""Generate the content-detector evaluation set (seeded, so the committed files are stable).

    python -m tests.content_eval.generate

Writes ``positives.jsonl`` (obfuscated contact hand-overs, each with the expected category;
``letters_only`` rows hand over a WeChat id without digits) and ``negatives.jsonl`` (ordinary
agent messages full of numbers that are not contacts; rows with ``mode``/``platform`` are bare
mentions allowed on that platform and are judged in that mode).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import phonenumbers

HERE = Path(__file__).resolve().parent
SEED = 20261111
N_POSITIVE = 1200
N_NEGATIVE = 1200

CN_DIGITS = "零一二三四五六七八九"
CN_CAPS = "零壹贰叁肆伍陆柒捌玖"
CIRCLED = "⓪①②③④⑤⑥⑦⑧⑨"
PAREN = "0⑴⑵⑶⑷⑸⑹⑺⑻⑼"
DOTTED = "0⒈⒉⒊⒋⒌⒍⒎⒏⒐"
NEG_CIRCLED = "⓿❶❷❸❹❺❻❼❽❾"
DINGBAT = "🄋➀➁➂➃➄➅➆➇➈"
IDEO_PAREN = "〇㈠㈡㈢㈣㈤㈥㈦㈧㈨"
SPOKEN = {"1": "幺", "2": "两", "0": "洞", "7": "拐"}
ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
SEPS = [" ", "-", "_", ".", "·", "/", "|", "~", "*", "🌸", "❤", "👉", "⭐", "、", "，"]


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def render_digits(r: random.Random, digits: str) -> str:
    style = r.choice(["plain", "groups", "groups", "cn", "caps", "circled", "paren", "mixed",
                      "spoken", "zw", "fullwidth", "emoji", "dotted", "neg", "dingbat", "ideo"])
    if style == "plain":
        return digits
    if style == "groups":
        sep = r.choice(SEPS)
        if len(digits) == 11:
            return digits[:3] + sep + digits[3:7] + sep + digits[7:]
        cut = r.randint(2, max(2, len(digits) - 2))
        return digits[:cut] + sep + digits[cut:]
    if style == "cn":
        return "".join(CN_DIGITS[int(c)] for c in digits)
    if style == "caps":
        return "".join(CN_CAPS[int(c)] for c in digits)
    if style == "circled":
        return "".join(CIRCLED[int(c)] for c in digits)
    if style == "paren":
        return "".join(PAREN[int(c)] for c in digits)
    if style == "dotted":
        return "".join(DOTTED[int(c)] for c in digits)
    if style == "neg":
        return "".join(NEG_CIRCLED[int(c)] for c in digits)
    if style == "dingbat":
        return "".join(DINGBAT[int(c)] for c in digits)
    if style == "ideo":
        return "".join(IDEO_PAREN[int(c)] for c in digits)
    if style == "spoken":
        return "".join(SPOKEN.get(c, CN_DIGITS[int(c)]) for c in digits)
    if style == "zw":
        return "".join(c + r.choice(ZW) for c in digits)
    if style == "fullwidth":
        return fullwidth(digits)
    if style == "emoji":
        sep = r.choice(["🌸", "❤️", "⭐", "🍀", "😊"])
        return sep.join(digits[i:i + 4] for i in range(0, len(digits), 4))
    # mixed: every digit in a random style
    tables = [CN_DIGITS, CN_CAPS, CIRCLED, "0123456789", fullwidth("0123456789")]
    return "".join(r.choice(tables)[int(c)] for c in digits)


def mobile(r: random.Random) -> str:
    """A mobile number in an allocated range (agents hand over real numbers)."""
    while True:
        number = r.choice(["13", "15", "17", "18", "19", "16"]) + str(r.randint(0, 9)) + \
            "".join(str(r.randint(0, 9)) for _ in range(8))
        if phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")):
            return number


def phone_number(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.6:
        return render_digits(r, mobile(r))
    if kind < 0.7:
        return r.choice(["+86 ", "+86-", "0086", "86"]) + render_digits(r, mobile(r))
    if kind < 0.8:
        return r.choice(["400", "800"]) + r.choice(["-", " ", ""]) + \
            "".join(str(r.randint(0, 9)) for _ in range(3)) + r.choice(["-", " ", ""]) + \
            "".join(str(r.randint(0, 9)) for _ in range(4))
    area = r.choice(["010", "021", "020", "0755", "0571", "028", "027", "0512"])
    local = str(r.randint(2, 8)) + "".join(str(r.randint(0, 9)) for _ in range(7))
    return r.choice([f"{area}-{local}", f"({area}){local}", f"{area} {local}", area + local])


def cue(r: random.Random, kind: str) -> str:
    options = {
        "wechat": ["微信", "威信", "薇信", "徽信", "维信", "V信", "v信", "vx", "VX", "wx", "WX",
                   "weixin", "微 信", "微❤信", "薇\u200b信", "ＶＸ", "Ｖ信", "微信号", "wechat",
                   "绿泡泡", "威芯", "葳信"],
        "qq": ["QQ", "qq", "扣扣", "企鹅", "企鹅号", "q号", "Q", "ＱＱ", "扣 扣", "Q Q", "蔻蔻",
               "叩叩", "扣扣号"],
        "alipay": ["支付宝", "只付包", "zfb", "ZFB", "zhifubao", "支付寶", "吱付宝", "支 付 宝",
                   "Alipay", "支❤付❤宝"],
    }[kind]
    return r.choice(options)


def wechat_id(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.4:
        return render_digits(r, mobile(r))
    name = r.choice(["lily", "abc", "xiaomei", "kefu", "shop", "wxid_", "tina", "jack", "amy"])
    tail = "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789_") for _ in range(r.randint(3, 8)))
    body = name + tail + str(r.randint(1, 999))
    return body if r.random() < 0.7 else fullwidth(body)


def qq_number(r: random.Random) -> str:
    n = r.randint(6, 10)
    return render_digits(r, str(r.randint(1, 9)) + "".join(str(r.randint(0, 9)) for _ in range(n - 1)))


def email(r: random.Random) -> str:
    local = r.choice(["", "kefu", "lily", "shop", "vip"]) + str(r.randint(10000, 99999999))
    domain, tld = r.choice([("qq", "com"), ("163", "com"), ("126", "com"), ("gmail", "com"),
                            ("sina", "com"), ("foxmail", "com"), ("outlook", "com"),
                            ("yeah", "net"), ("139", "com")])
    at = r.choice(["@", "＠", "艾特", "(at)", "[at]", " at ", "（at）", "@"])
    dot = r.choice([".", "点", " dot ", "(dot)", ".", "。"])
    return f"{local}{at}{domain}{dot}{tld}"


def link(r: random.Random) -> str:
    kind = r.random()
    code = "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz") for _ in range(5)) + \
        "".join(r.choice("0123456789") for _ in range(r.randint(3, 6)))
    if kind < 0.3:
        host = r.choice(["shop-sale.cn", "haohuo88.com", "mall.vip-tm.net", "wd.weidian.com",
                         "h5.youzan.com", "k.youshop10.com", "t.cn", "dwz.cn", "suo.im"])
        return f"{r.choice(['https://', 'http://', 'HTTPS://', ''])}{host}/{code}"
    if kind < 0.5:
        return "www" + r.choice(["点", ".", " dot "]) + r.choice(["dianpu88", "haohuo", "tehui"]) + \
            r.choice(["点", ".", " dot "]) + r.choice(["com", "cn", "net", "top"])
    if kind < 0.8:
        sym = r.choice(["￥", "€", "$", "₤", "¢", "₳"])
        return f"{sym}{code}{sym}"
    return f"复制{r.choice(['￥', '€'])}{code}{r.choice(['￥', '€'])}打开手机淘宝"


POSITIVE_TEMPLATES = {
    "phone": ["亲，有问题直接打我电话{x}", "售后这边电话：{x}，随时联系", "{x} 这是我手机，直接打",
              "不方便在这里说，您打{x}", "亲 联系这个号码{x}哦", "发货问题打{x}找我就行",
              "我的手机号是{x}，备注一下订单", "这边客服不在线的话打{x}", "call我 {x}"],
    "wechat": ["亲，加我{c}{x}，给您返现", "{c}：{x} 备注订单号", "这边不方便说，{c}{x}",
               "加一下{c} {x}，发您优惠券", "有问题可以{c}联系 {x}", "{c}号{x}，通过一下",
               "亲亲 {c}搜{x} 有惊喜", "私聊{c}：{x}"],
    "qq": ["亲，加{c}{x}详细说", "{c}：{x}", "售后群{c} {x}", "{c}号是{x}哦", "有图片发{c}{x}"],
    "alipay": ["直接转{c}就行，账号{x}", "{c}：{x}，付款后截图", "亲，{c}账号{x}，给您退差价",
               "不走平台的话{c} {x}"],
    "email": ["发票发我邮箱{x}", "资料发到{x}吧", "亲，邮件联系{x}", "{x} 这个邮箱可以联系到我"],
    "link": ["亲，这个店更便宜 {x}", "{x} 复制打开看看", "点开{x}领券", "去这个地址买 {x}",
             "亲，{x}"],
}


def positive(r: random.Random, category: str) -> str:
    template = r.choice(POSITIVE_TEMPLATES[category])
    if category == "phone":
        return template.format(x=phone_number(r))
    if category == "wechat":
        return template.format(c=cue(r, "wechat"), x=wechat_id(r))
    if category == "qq":
        return template.format(c=cue(r, "qq"), x=qq_number(r))
    if category == "alipay":
        account = render_digits(r, mobile(r)) if r.random() < 0.6 else email(r)
        return template.format(c=cue(r, "alipay"), x=account)
    if category == "email":
        return template.format(x=email(r))
    return template.format(x=link(r))


def digits(r: random.Random, n: int) -> str:
    return "".join(str(r.randint(0, 9)) for _ in range(n))


def negative(r: random.Random) -> str:
    order_pdd = f"{r.randint(200101, 261231)}-{digits(r, 15)}"
    order_tb = str(r.randint(1, 4)) + digits(r, 18)
    order_jd = str(r.randint(2, 3)) + digits(r, 11)
    waybill = r.choice([f"SF{digits(r, 13)}", f"YT{digits(r, 13)}", f"JT{digits(r, 13)}",
                        f"75{digits(r, 12)}", f"43{digits(r, 11)}", f"JD{digits(r, 15)}",
                        f"78{digits(r, 12)}", f"DPK{digits(r, 12)}"])
    price = r.choice([f"¥{r.randint(9, 2999)}.{r.choice(['00', '90', '99', '50'])}",
                      f"{r.randint(9, 999)}元", f"￥{r.randint(9, 999)}", f"{r.randint(9, 99)}.9元"])
    date = r.choice([f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
                     f"{r.randint(1, 12)}月{r.randint(1, 28)}日", f"2026/{r.randint(1, 12)}/{r.randint(1, 28)}",
                     f"{r.randint(1, 12)}.{r.randint(1, 28)}", "双11", "618",
                     f"2026年{r.randint(1, 12)}月{r.randint(1, 28)}日 {r.randint(8, 22)}:{r.randint(0, 59):02d}"])
    size = r.choice([f"{r.randint(35, 45)}码", f"{r.randint(150, 190)}/{r.randint(76, 100)}A",
                     f"身高{r.randint(150, 190)}cm体重{r.randint(40, 90)}kg", "XL", "3XL",
                     f"{r.randint(20, 200)}x{r.randint(20, 200)}cm", f"腰围{r.randint(60, 100)}",
                     f"{r.randint(1, 5)}.{r.randint(0, 9)}米床"])
    model = r.choice(["iPhone 15 Pro Max", f"A{r.randint(1000, 3000)}", f"XR-{r.randint(1000, 9999)}",
                      f"型号{r.randint(100000, 999999)}", f"货号{digits(r, 8)}", f"款号 {digits(r, 7)}",
                      f"sku{digits(r, 10)}", f"MX{r.randint(100, 999)}", "RTX 4060",
                      f"{r.randint(128, 1024)}G", f"骁龙8 Gen{r.randint(1, 3)}"])
    hotline = r.choice(["95338", "95311", "95543", "95546", "95554", "95188", "95017", "95588"])
    own = r.choice([f"https://mobile.yangkeduo.com/goods.html?goods_id={digits(r, 12)}",
                    f"mobile.yangkeduo.com/order.html?order_sn={order_pdd}",
                    f"https://mobile.pinduoduo.com/goods2.html?goods_id={digits(r, 11)}",
                    "yangkeduo.com"])
    count = r.randint(1, 50)
    templates = [
        f"亲，您的订单号{order_pdd}已经发货了，快递单号{waybill}",
        f"订单 {order_pdd} 的退款{price}已原路退回，1-3个工作日到账",
        f"亲，您拍的{size}有货，{date}前发货",
        f"这款{model}现在活动价{price}，满{r.randint(2, 5)}件包邮",
        f"快递是{waybill}，预计{date}送达，请注意查收",
        f"顺丰客服电话{hotline}，您也可以在平台查物流",
        f"物流有问题可以打快递公司热线{hotline}",
        f"亲，商品链接 {own} 您看下",
        f"您看下这个：{own}",
        f"{date}下单的订单{order_tb}已经安排发货啦",
        f"京东订单{order_jd}和拼多多不一样哦，亲",
        f"亲，{model}库存还有{r.randint(10, 3000)}件，{price}",
        f"您好，{size}建议拍大一码，原价{price}现价{price}",
        f"退货地址已经发在售后单里了，单号{order_pdd}，运单{waybill}",
        f"今天{r.randint(8, 22)}:{r.randint(0, 59):02d}前下单当天发，{date}到",
        f"活动时间{date}至{date}，每满300减{r.randint(10, 60)}",
        f"亲，共{count}件商品，合计{price}，优惠券减{r.randint(3, 50)}元",
        f"您好，这款充电宝容量{r.randint(5, 30)}000mAh，{model}",
        f"发票抬头和税号{digits(r, 18)}已经收到，{date}开具",
        f"亲，运单号 {waybill} 显示{date}已签收",
        f"{model}尺寸{size}，重量{r.randint(1, 20)}.{r.randint(0, 9)}kg，价格{price}",
        f"七天无理由退货，退款{price}会在{r.randint(1, 3)}天内到账",
        f"第{r.randint(1, 3)}件半价，两件一共{price}",
        f"亲，我们{r.randint(8, 9)}点到{r.randint(21, 23)}点在线，订单{order_pdd}已登记",
        f"订单{order_pdd}，快递{waybill}，{date}发出，请耐心等待{r.randint(2, 5)}天",
        f"亲，这个{model}是{r.randint(2023, 2026)}年新款，{size}",
        f"一二三号仓都没货了，四号仓{r.randint(1, 99)}件，{date}补货",
    ]
    return r.choice(templates)


# Letters-only WeChat ids (6-20 characters, starting with a letter) after a hand-over cue, and
# ordinary replies on other platforms that name WeChat next to English words. Drawn from their
# own generator so the original rows stay as they were.
LETTERS_SEED = SEED + 4
N_LETTER_IDS = 120
N_HANDOVER_NEGATIVE = 120
LETTER_ID_TEMPLATES = ["微信号 {x} 加一下", "我的{v}是 {x}", "加我微信 {x}", "{v}：{x} 备注订单号",
                       "{v}号{x}，通过一下", "亲，加一下微信 {x}，给您返现", "微信号是{x}",
                       "{v} {x} 私聊", "微信：{x}", "有问题加{v} {x}", "我微信 {x}，拉您进群"]
LETTER_ID_CUES = ["vx", "VX", "wx", "WX", "V信", "v信", "威信", "薇信", "ＶＸ", "微信号", "weixin"]
HANDOVER_NEGATIVES = [
    "微信支付 可以用", "vx 也可以付款", "亲，微信 {w} 版也能下单", "微信 {w} 都支持的",
    "支付宝付款也行的亲", "微信、支付宝、{w} 都可以付", "用微信 {w} 扫码就能领券",
    "亲，微信 {w} 版本太旧的话更新一下", "wx 付款后截图给我看下订单", "微信支付 {w} 都行",
    "亲，微信支付和 {w} 都支持，订单{n}已付款", "vx 扫码付款也可以，{p}",
]
ENGLISH_WORDS = ["iPhone", "Android", "Windows", "iPad", "Apple Pay", "payment", "wallet",
                 "MacBook", "online", "mobile", "Huawei Pay", "official", "HarmonyOS", "Desktop",
                 "AirPods", "Kindle", "Switch", "browser", "UnionPay", "Samsung"]


def letters_id(r: random.Random) -> str:
    name = r.choice(["lily", "kefu", "shop", "tina", "amy", "jack", "xiaomei", "vip", "abc"])
    tail = "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(3, 10)))
    body = name + tail
    style = r.random()
    if style < 0.15:
        return body.upper()
    if style < 0.3:
        return fullwidth(body)
    return body


def letters_positive(r: random.Random) -> str:
    template = r.choice(LETTER_ID_TEMPLATES)
    return template.format(v=r.choice(LETTER_ID_CUES), x=letters_id(r))


def handover_negative(r: random.Random) -> str:
    order = f"{r.randint(1, 4)}{digits(r, 18)}"
    price = f"¥{r.randint(9, 2999)}.{r.choice(['00', '90', '99'])}"
    return r.choice(HANDOVER_NEGATIVES).format(w=r.choice(ENGLISH_WORDS), n=order, p=price)


def main() -> None:
    """Write both files next to this script."""
    r = random.Random(SEED)
    categories = ["phone", "wechat", "qq", "alipay", "email", "link"]
    with open(HERE / "positives.jsonl", "w", encoding="utf-8") as f:
        for i in range(N_POSITIVE):
            category = categories[i % len(categories)]
            f.write(json.dumps({"text": positive(r, category), "category": category},
                               ensure_ascii=False) + "\n")
    with open(HERE / "negatives.jsonl", "w", encoding="utf-8") as f:
        for _ in range(N_NEGATIVE):
            f.write(json.dumps({"text": negative(r), "category": None}, ensure_ascii=False) + "\n")
    letters = random.Random(LETTERS_SEED)
    with open(HERE / "positives.jsonl", "a", encoding="utf-8") as f:
        for _ in range(N_LETTER_IDS):
            f.write(json.dumps({"text": letters_positive(letters), "category": "wechat",
                                "letters_only": True}, ensure_ascii=False) + "\n")
    # Allowed on other platforms (a bare mention), so judged in handover mode only.
    with open(HERE / "negatives.jsonl", "a", encoding="utf-8") as f:
        for _ in range(N_HANDOVER_NEGATIVE):
            f.write(json.dumps({"text": handover_negative(letters), "category": None,
                                "platform": "taobao", "mode": "handover"},
                               ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
