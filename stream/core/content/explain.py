"""Contact-shaped tokens and their benign readings (DOMAIN.md §4: the contact is the invariant).

An evader can move, split, pad or replace the channel word, but the buyer must still be able
to read a contact off the message. So every *contact-shaped token* of a normalised view is
found here (digit runs of 5-12 digits, split or not; letter-and-digit ids of 6-20 characters;
``@handles``; addresses written without dots) and is given a benign reading when it has one:
an order, waybill or service number by its cue, a price or an amount, a date, a quantity or a
size by its unit, a model, SKU or coupon code by its shape or cue, a service hotline. A token
left without a reading is what the detector reports as ``unexplained-id``.

The benign words of a message are found once (an Aho-Corasick automaton) and looked up by
bisection; every other check looks at a bounded window around its token, and every pattern is
bounded, so the whole text still costs linear time.
"""

from __future__ import annotations

import re
from bisect import bisect_right

import ahocorasick_rs

from stream.core.content.keywords import TLDS

# A letter-and-digit token: 6-20 letters, digits, ``_`` or ``-`` holding both a letter and a
# digit, not glued to more of them. (Shorter ones are model codes and sizes: A2894, 3XL.)
# Found from its letters (``mixed_tokens``): most messages hold few.
_LETTERS = re.compile(r"[a-z]+")
_ID_RUN = re.compile(r"[a-z0-9_-]*")
_DIGIT = re.compile(r"[0-9]")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
# @handles glued to Chinese text or chained (联系@abc@def): a name of three or more characters.
HANDLES = re.compile(r"(?<![a-z0-9._%+-])@\s?[a-z][a-z0-9_]{2,31}+(?:@[a-z][a-z0-9_]{2,31}+){0,7}"
                     r"(?![a-z0-9_]|\.[a-z])")
ALL_TLDS = tuple(sorted(TLDS, key=len, reverse=True))
_TLD = "(?:" + "|".join(ALL_TLDS) + ")"
_SEP = r"(?:\s{1,3}|\s{0,3}[.。点·•丶]\s{0,3})"
# Addresses spelt without dots: www kd88 store, www。kd88。top.
SPACED_LINK = re.compile(rf"(?<![a-z0-9])www{_SEP}[a-z0-9-]{{2,63}}+{_SEP}{_TLD}(?![a-z])")
# A label of Chinese characters before a real dot (中文名.shop).
_CJK_DOT = re.compile(rf"(?<=[\u4e00-\u9fff])\.{_TLD}(?![a-z0-9])")
# A label and a TLD with spaces between, when the message says to take the spaces out.
_GAP_LINK = re.compile(rf"(?<![a-z0-9])[a-z0-9][a-z0-9-]{{1,62}}+\s{{1,3}}{_TLD}(?![a-z])")
NO_DOT_NOTE = re.compile(r"空格|浏览器|访问|网址|域名|复制.{0,3}打开")
# A TLD glued to the end of an id (kd88ccom): the dot left out.
_GLUED_TLD = re.compile(r"[a-z0-9]{3}(?:cn|cc|" + "|".join(t for t in TLDS if len(t) >= 3) + ")$")

def _gated(alternatives: str) -> str:
    """``(?:alternatives)`` behind a lookahead on their first characters.

    Python's engine tries every branch of an alternation at every position; the class of
    first characters turns away most positions in one test. (Each branch starts with a
    literal character, or with a lookbehind and then one.)
    """
    firsts = set()
    for alt in alternatives.split("|"):
        if alt.startswith("(?<"):
            alt = alt[alt.index(")") + 1:]
        firsts.add(alt[0])
    return "(?=[" + re.escape("".join(sorted(firsts))) + "])(?:" + alternatives + ")"


# Words whose number or code follows them, a few characters on: order, waybill, service and
# product numbers and codes. (Not a bare "id": 我的id is a hand-over; 码 not after 号: 号码.)
_CODE_WORDS = (
    "订单 单号 运单 快递 物流 货号 型号 编号 款号 批号 条码 工单 sku 编码 规格 券 优惠码 兑换码 口令 "
    "激活码 邮编 验证码 取件码 工号 卡号 会员 拼单 团购 批次 发票 税号 交易 流水 服务单 售后单 退款单 "
    "申请 单据 尾号 后几位 前几位 商品id 订单id 商品 宝贝 条形码 序列号 串号 imei 日期 时间 生产 保质期 "
    "截止 有效期 收货码 提货码 核销码 提取码 码 分辨率 登记 许可 证书 证号 批准 文号 标准 认证 注册 gb "
    "iso 型 形 星 款 机型 版本 配置 支持 标配 升级版 适用 芯片 处理器 显卡 系列 颜色 尺码 尺寸 order "
    "tracking invoice item model case ref coupon code eta no. #").split()
# Words of amounts, counts and addresses: they explain a short number only (an amount of money
# or goods, a house number), never an account-length one (差价 1949689363).
_AMOUNT_WORDS = (
    "房间 门牌 栋 楼 室 路 街 小区 地址 收藏 好评 评价 已售 月销 销量 库存 付款 加购 人数 金额 价格 价 "
    "定金 预算 满 减 共 合计 总计 总价 差价 积分 京豆 约 仅 第 保价 白条 退款").split()
_WORDS = ahocorasick_rs.AhoCorasick([*_CODE_WORDS, *_AMOUNT_WORDS],
                                    matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
_N_CODE = len(_CODE_WORDS)


class Words:
    """The benign words of one message, found in one pass (an Aho-Corasick automaton).

    ``before(s, ...)`` then asks, by bisection, for the last one ending before a token.
    """

    __slots__ = ("_vt", "_ends", "_found")

    def __init__(self, vt: str) -> None:
        """Hold the view text ``vt``; its words are found on the first question."""
        self._vt = vt
        self._found: list[tuple[int, int, bool]] | None = None  # start, end, an amount word
        self._ends: list[int] = []

    def _find(self) -> list[tuple[int, int, bool]]:
        vt = self._vt
        found: list[tuple[int, int, bool]] = []
        for idx, a, b in _WORDS.find_matches_as_indexes(vt):
            if idx < _N_CODE and _CODE_WORDS[idx] == "码" and a > 0 and vt[a - 1] == "号":
                continue  # 号码: a phone cue, not a code's
            found.append((a, b, idx >= _N_CODE))
        self._found = found
        self._ends = [f[1] for f in found]
        return found

    def before(self, vt: str, s: int, amount: bool) -> bool:
        """Whether a benign word stands right before position ``s``.

        An amount word (价格:199, 满300) right before its number, and only when ``amount``
        (the number is short enough); a one-character code word (款, 型) next to it; a code
        word (订单号后几位 …) a few characters on; no contact word between.
        """
        found = self._found if self._found is not None else self._find()
        i = bisect_right(self._ends, s) - 1
        while i >= 0:
            a, b, is_amount = found[i]
            if s - b > 8:
                return False
            if not is_amount or amount:
                reach = 1 if is_amount else 2 if b - a == 1 else 8
                return s - b <= reach and not _has_contact_word(vt, b, s)
            i -= 1
        return False


_AMOUNT_DIGITS = 7  # with a unit (1250000件)
_PRICE_DIGITS = 6  # after an amount word (价格 199, 满 20000), up to 999,999 yuan
_RANGE = re.compile(r"\s?[-~]\s?")
_ARITHMETIC = re.compile(r"\s?[-~+*x×]\s?")
# ... or that follow it: 这个订单, 的订单, 那单.
_BENIGN_AFTER = re.compile(r"[^0-9a-z]{0,4}?" + _gated(
    r"这个订单|订单|单号|那单|这单|的单|这个型号|这款|款|型号|设计稿|稿|文件|图纸|版本|规格|尺码|颜色|"
    r"分辨率|像素"))
# Screen and camera resolutions (1920*1080): the common widths and heights.
_RESOLUTION = frozenset("480 576 640 720 768 800 900 1024 1050 1080 1200 1280 1366 1440 1600 1920 "
                        "2048 2160 2400 2560 2880 3200 3840 4096 4320 7680".split())
_BY = re.compile(r"\s?[*x×]\s?")
# Dimensions (98x193x78cm, 1000*2000mm) and 4K120Hz-style specifications.
_DIMENSIONS = re.compile(r"[0-9]{1,5}(?:[x*×][0-9]{1,5}){1,3}(?:cm|mm|m|in)?|[0-9]k[0-9]{2,3}hz")
# Units right after a number: an amount, a quantity, a size, a duration.
_UNIT = re.compile(r"\s?" + _gated(
    r"元|块|角|毛|万|千|百|亿|rmb|yuan|件|个|人|位|单|次|条|份|张|台|只|双|盒|包|套|瓶|斤|克|"
    r"公斤|吨|升|毫升|米|厘米|毫米|cm|mm|ml|kg|mah|毫安|hz|天|小时|分钟|秒|年|月|日|周|岁|倍|%|度|"
    r"楼|层|室|栋|积分|京豆|分|多|余|左右|以内|以上|以下|起|颗|粒|箱|袋|支|本|把|顶|色|码|款|批|期|"
    r"代|笔|单"))
# A currency sign right before (amount words are read by ``_context``).
_MONEY_BEFORE = re.compile(r"(?:[¥$€£]|rmb)\s?$")
# Dates written with separators (2026-12-01, 2026.12, 2025-2026); plain digits are
# read by ``_date_digits``.
_DATE = re.compile(r"(?:19|20)?[0-9]{2}[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12][0-9]|3[01])"
                   r"|(?:19|20)[0-9]{2}[-./](?:0?[1-9]|1[0-2])"
                   r"|(?:19|20)[0-9]{2}[-~/](?:19|20)[0-9]{2}")
# Service numbers: 95xxx(x), 96xxx, 10xxx and 12xxx public lines.
_DECIMAL = re.compile(r"[0-9]{1,9}\.[0-9]{1,2}")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?")
_SERVICE = re.compile(r"9[56][0-9]{3}|950[0-9]{3}|1[012][0-9]{3}")
_MOBILE_SHAPE = re.compile(r"1[3-9][0-9]{9}")
_TOLL = re.compile(r"[48]00[0-9]{7}")
# Waybill numbers: a carrier's prefix and the digits after it, or any short prefix and a run
# too long for a phone or an account.
_WAYBILL = re.compile(r"(?:sf|yt|yto|zto|sto|jt|jtsd|jd[a-z]{0,2}|yd|dpk|dppk|db|ems|ee|ky|zjs|uc|"
                      r"lp|cn|xb|ht|htky|ane|best|tt|ttk|jdl)[0-9]{9,}|[a-z]{1,4}[0-9]{12,}")
# A number with a unit glued after it (5000mah, 1080p, 256gb, 120hz, 65w is not: w is WeChat).
_UNIT_CODE = re.compile(r"(?:[0-9]k)?[0-9]{1,6}(?:mhz|ghz|khz|mbps|gbps|rpm|ppi|kwh|kw|wh|nits|lm|db|mah|gb|tb|mb|hz|p|mm|cm|ml|kg|mg|ah|km|ti|nm|fps|dpi|mp|"
                        r"inch|th|st|nd|rd|x[0-9]{1,4}(?:cm|mm)?)")
# Product names and specification words a number is glued to (iphone15, rtx4060, ddr5-6000).
_PRODUCT = re.compile(_gated(
    r"iphone|ipad|mate|galaxy|redmi|xiaomi|honor|nova|pura|rtx|gtx|rx|ryzen|r[3579]|i[3579]|"
    r"ddr|lpddr|usb|hdmi|wifi|sn|pd|ip|type|gen|snapdragon|m[1-4]|a[0-9]{2}|pro|max|plus|"
    r"mini|air|note|ultra|xr|xs|se|sm|gt|gen|win|windows|office|ps|xbox|switch|ios|android|"
    r"macbook|thinkpad|airpods|watch|band|pad|book|lite|neo|reno|find|vivo|oppo|iqoo|oneplus")
    + r"[0-9_-]")
# A model, SKU or coupon code as shops write them: capitals and digits (XR-1380, KD12345B,
# SALE2026, KFR-35GW/N8MJA3) or letters, a hyphen and digits in any case (xr-1380), read on
# the original text; with no channel cue in the message.
_MODEL = re.compile(r"[A-Z0-9]{1,12}(?:[-/][A-Z0-9]{1,12}){0,3}|[a-z]{1,4}-[0-9]{2,6}[a-z]{0,3}")


# An id spelt with spaces inside (kd 88 12) right after an invitation: joined, it is a token.
_SPACED_AFTER_INVITE = re.compile(r"(?:加|联系|找|私|[+➕])我?[^0-9a-z\u4e00-\u9fff]{0,3}"
                                  r"((?:[a-z0-9][ \u3000]?){5,19}[a-z0-9])(?![a-z0-9])")


def spaced_tokens(vt: str) -> list[tuple[int, int]]:
    """Spans of ids written with spaces inside them right after an invitation."""
    out: list[tuple[int, int]] = []
    for m in _SPACED_AFTER_INVITE.finditer(vt):
        token = m.group(1)
        pieces = token.replace("\u3000", " ").split(" ")
        # Spaced out (kd 88 12), every piece short: not a number with a word after it.
        if len(pieces) > 1 and max(len(p) for p in pieces) <= 4:
            joined = "".join(pieces)
            letters = sum(1 for ch in joined if "a" <= ch <= "z")
            # Two letters at least: 169 2326 4742 v is a number and the v of its channel.
            if 6 <= len(joined) <= 20 and letters >= 2 and _DIGIT.search(joined):
                out.append(m.span(1))
    return out


def mixed_tokens(vt: str) -> list[tuple[int, int]]:
    """Spans of the letter-and-digit tokens of ``vt``, each run of id characters once."""
    out: list[tuple[int, int]] = []
    done = -1
    for m in _LETTERS.finditer(vt):
        if m.start() < done:
            continue  # another letter run of a token already read
        s = m.start()
        while s > 0 and vt[s - 1] in _ID_CHARS:
            s -= 1
        run = _ID_RUN.match(vt, m.end())
        e = run.end() if run is not None else m.end()
        done = e
        while s < e and vt[s] in "_-":
            s += 1
        # Letters and digits (kd8812), or letters joined by _ (kd_vip): never an English word.
        if 6 <= e - s <= 20 and (_DIGIT.search(vt, s, e) is not None or "_" in vt[s:e].strip("_")):
            out.append((s, e))
    return out


def digit_reading(vt: str, s: int, e: int, digits: str, original: str, words: Words) -> str | None:
    """A benign reading of the digit token ``vt[s:e]`` (its digits ``digits``), or None.

    ``original`` is the token as written (its separators tell a date or a price). A reading
    in :data:`SHAPE_ONLY` (a round number, a date by its digits, a number longer than any
    contact but a landline) holds only where no cue speaks for the token (加 125000 is not an
    amount).
    """
    if glued_code(vt, s, e):
        return "code"  # glued to letters: a part of a code, judged as one (mixed_tokens)
    if len(set(digits)) == 1:
        return "cheer"  # 666666, 888888: live-stream cheering, never an account
    # An amount, or a range of amounts (914-139622元): no part longer than an amount. (The
    # cheap readings come first: most numbers in service talk are amounts.)
    short = all(len(part) <= _AMOUNT_DIGITS for part in _RANGE.split(original))
    if short and _UNIT.match(vt, e) is not None:
        return "amount"
    if short and _MONEY_BEFORE.search(vt, max(0, s - 5), s) is not None:
        return "amount"
    parts = _ARITHMETIC.split(original)
    context = _context(vt, s, e, all(len(part) <= _PRICE_DIGITS for part in parts), words)
    if context is not None:
        return context
    if vt[e:e + 1] == ":" and original[-3:-2] in (" ", "日"):
        original = original[:-3]  # 2026/1/16 20:03: the hour is no part of the date
    elif vt[e:e + 1] == ":" and original[-2:-1] == " ":
        original = original[:-2]
    if "***" in original:
        return "masked"  # 138****5678: a number already masked, nothing handed over
    if _MOBILE_SHAPE.fullmatch(digits) or _TOLL.fullmatch(digits):
        return None  # a mobile or hotline shape: only its cue (订单, 运单…) explains it
    sides = _BY.split(original)
    if len(sides) == 2 and all(side in _RESOLUTION for side in sides):
        return "size"
    if _DATE.fullmatch(original.replace(" ", "")) is not None:
        return "date"
    if _date_digits(digits):
        return "date-shape"  # 20261203: a date by its digits alone
    if _SERVICE.fullmatch(digits):
        return "service-line"
    if _DECIMAL.fullmatch(original) is not None:
        return "amount"  # 2999.00, 12.5: a decimal
    if vt[e:e + 1] == "=" and short:
        return "sum"  # 1299-200=1099: arithmetic on amounts
    if _THOUSANDS.fullmatch(original) is not None:
        return "thousands"  # 12,800: an amount written with separators
    if (len(digits) == 12 and digits[0] != "0") or (len(digits) == 11 and digits[0] in "23456789"):
        return "order-length"  # no mobile, landline, QQ or group number is this long: an order
    if len(digits) <= 7 and digits.rstrip("0") and len(digits) - len(digits.rstrip("0")) >= 3:
        return "round"  # 10000, 250000: a round amount, never an account
    return None


def mixed_reading(vt: str, s: int, e: int, written: str, words: Words) -> str | None:
    """A benign reading of the letter-and-digit token ``vt[s:e]``, or None.

    ``written`` is the token in the original text (capitals tell a model code). A reading in
    :data:`SHAPE_ONLY` rests on the token's shape alone: it holds only where no channel cue
    stands in the message (``KTB582 威``, ``夹喂 max643cc`` are hand-overs).
    """
    token = vt[s:e]
    if _WAYBILL.fullmatch(token) and not token.startswith(_CHANNEL_PREFIXES):
        return "waybill"
    if _CODE_HEAD.match(token) is not None:
        return "code"
    context = _context(vt, s, e, False, words)
    if context is not None:
        return context
    if _UNIT_CODE.fullmatch(token) or _DIMENSIONS.fullmatch(token):
        return "spec"
    if _PRODUCT.match(token) or _MODEL.fullmatch(written) is not None:
        return "model"
    return None


SHAPE_ONLY = frozenset(("spec", "model", "round", "date-shape", "thousands", "order-length", "sum"))


# A code word glued to its number (sku7551002626, no20261203).
_CODE_HEAD = re.compile(r"(?:sku|spu|item|order|sn|no|ref|model|imei|id)[_-]?[0-9]")
# The letters of a channel glued before an id (q636819065408, vx2024abc): never a waybill.
_CHANNEL_PREFIXES = ("v", "w", "q", "gzh", "wei", "kou")


# Letters that name a channel when glued to a number (qun8626, 9404v同, w14590013397).
_CHANNEL_LETTERS = frozenset(("v", "w", "q", "vx", "wx", "qq", "qun", "gzh", "kk", "wei", "weixin"))
_LETTERS_BEFORE = re.compile(r"([a-z]{1,8})[-_]?$")
_LETTERS_AFTER = re.compile(r"[a-z]{1,8}")


_TIME_AFTER = re.compile(r":[0-9]{2}")
_TIME_BEFORE = re.compile(r"[0-9]:$")


def edge_group(vt: str, s: int, e: int, last: bool) -> bool:
    """Whether the digit group ``vt[s:e]`` at the edge of a cluster belongs elsewhere.

    Glued to the letters of a code (338195 24h), or, the last group, to a unit (950618，24小时);
    or two digits of a time (…20:00 - 11.11 23:59).
    """
    if e - s <= 2 and (_TIME_AFTER.match(vt, e) if last else _TIME_BEFORE.search(vt, max(0, s - 3), s)):
        return True  # 20:00 - 11.11 23:59: the hours and minutes of a time
    return glued_code(vt, s, e) or (last and _UNIT.match(vt, e) is not None)


def glued_code(vt: str, s: int, e: int) -> bool:
    """Whether the digits ``vt[s:e]`` are glued to letters that make them part of a code.

    Letters that name a channel (qun8626, 9404v) are a cue, not a code.
    """
    if s > 0 and vt[s - 1] in _ID_CHARS and not vt[s - 1].isdigit():
        before = _LETTERS_BEFORE.search(vt, max(0, s - 9), s)
        if before is not None and before.group(1) not in _CHANNEL_LETTERS:
            return True
    if e < len(vt) and "a" <= vt[e] <= "z":
        after = _LETTERS_AFTER.match(vt, e)
        return after is not None and after.group() not in _CHANNEL_LETTERS
    return False


def _context(vt: str, s: int, e: int, amount: bool, words: Words) -> str | None:
    """``context`` when a benign word stands just before (or after) ``vt[s:e]``.

    ``amount``: the token is short enough to be an amount, a count or a house number.
    """
    if words.before(vt, s, amount) or _BENIGN_AFTER.match(vt, e, e + 12) is not None:
        return "context"
    return None


# Words that hand over what follows them, whatever a benign cue before says (订单 加我 12345).
# A line mentioning one of them between a cue and a number keeps the number unexplained.
_CONTACT_WORD = re.compile(r"加|联系|找|私|群|号码|电话|微|扣|q|v|@")


# Order, refund and waybill words: what follows them is that record's number.
_ORDER_BEFORE = re.compile(r"(?:订单|单号|运单|退款单|售后单|服务单|工单|交易号|流水号|快递|物流|发票|税号)"
                           r"[号码编:：\s]{0,4}$")


def order_before(vt: str, s: int) -> bool:
    """Whether an order, refund or waybill word stands right before position ``s``."""
    return _ORDER_BEFORE.search(vt, max(0, s - 9), s) is not None


def order_after(vt: str, e: int) -> bool:
    """Whether an order or model word follows position ``e`` (…这个订单, …的单)."""
    return _BENIGN_AFTER.match(vt, e, e + 12) is not None


def _has_contact_word(vt: str, lo: int, hi: int) -> bool:
    return _CONTACT_WORD.search(vt, lo, hi) is not None


def _date_digits(digits: str) -> bool:
    """YYYYMMDD, YYYYMM, YYMMDD in the recent past or near future."""
    n = len(digits)
    if n == 8:
        y, m, d = int(digits[:4]), int(digits[4:6]), int(digits[6:])
        return 1990 <= y <= 2039 and 1 <= m <= 12 and 1 <= d <= 31
    if n == 6:
        y, m = int(digits[:4]), int(digits[4:])
        return 1990 <= y <= 2039 and 1 <= m <= 12
    return False


def link_shapes(vt: str) -> list[tuple[int, int]]:
    """Spans of addresses written without dots or with a Chinese label."""
    spans: list[tuple[int, int]] = []
    if "www" in vt:
        spans.extend(m.span() for m in SPACED_LINK.finditer(vt))
    if "." in vt:
        for m in _CJK_DOT.finditer(vt):  # found by the TLD, then the label read backwards
            s = m.start()
            while s > 0 and m.start() - s < 12 and "\u4e00" <= vt[s - 1] <= "\u9fff":
                s -= 1
            spans.append((s, m.end()))
    if NO_DOT_NOTE.search(vt) is not None:
        spans.extend(m.span() for m in _GAP_LINK.finditer(vt))
    return spans


def glued_tld(token: str) -> bool:
    """Whether a letter-and-digit id ends in a TLD with its dot left out (kd88ccom)."""
    return _GLUED_TLD.search(token) is not None
