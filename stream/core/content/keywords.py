"""Keyword tables: contact-channel cues, number contexts and the default abuse list.

All entries are written in normalised form (see :mod:`.normalize`): simplified, case-folded,
digits in ASCII. Spellings that only sound like a channel word are not listed here: they are
found by their sound (:mod:`.sounds`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    """One keyword: what it points at and whether saying it is itself a mention.

    ``kind`` is a contact category (wechat, qq, alipay, link, handle), ``contact`` (私聊, 联系:
    an invitation before a bare id), ``phone`` (a phone context that
    is no mention by itself) or ``shield`` (a context such as 订单号 whose digits are not
    contacts). ``mention`` marks words whose mere use is critical under PDD rules. ``boundary``
    asks for no Latin letter right before, ``right_boundary`` none right after (so "v" does
    not fire inside "vip"). ``how`` is what a finding through this cue reports (``keyword``,
    ``look-alike`` for 口口 read as QQ, ``homophone:微信`` for a sound match).
    """

    kind: str
    mention: bool
    boundary: bool = False
    right_boundary: bool = False
    how: str = "keyword"
    disguised_only: bool = False  # counts only when written in look-alike letters (𝐔𝐗)
    ids: bool = False  # a phone context that also invites: an id after it is a handle


def _cues() -> dict[str, Cue]:
    cues: dict[str, Cue] = {}

    def add(kind: str, mention: bool, *words: str) -> None:
        for word in words:
            # Single letters need a boundary on both sides ("v" in "vip"); short Latin cues
            # only on the left, since ids are often glued on ("vxamy520").
            left = word.isascii() and len(word) <= 3
            cues[word] = Cue(kind, mention, left, left and len(word) == 1)

    add("wechat", True, "微信", "威信", "薇信", "徽信", "维信", "微芯", "v信", "w信", "微x", "vx",
        "wx", "weixin", "wechat", "weix", "绿泡泡", "v心", "徽x", "薇x", "威x", "卫星号", "vx号",
        "wx号", "weixing", "vxin", "weixinhao", "绿色泡泡", "绿泡", "wei信", "威xin", "微xin",
        "weixin号", "绿信")
    add("wechat", False, "v", "薇", "威")
    # 𝐔𝐗 (DOMAIN.md §4): U passes for V in mathematical or other look-alike letters, never in
    # plain "UX".
    cues["ux"] = Cue("wechat", True, True, True, disguised_only=True)
    add("qq", True, "qq", "扣扣", "企鹅号", "q号", "qq号", "球球号", "扣号", "q群", "qq群", "扣群",
        "koukou", "扣扣群", "qiehao")
    add("qq", False, "q", "企鹅", "扣", "寇", "抠", "叩", "蔻", "球球")
    cues["kk号"] = Cue("qq", True, True)  # kk for 扣扣 (k k 号 28374659); not okk号
    # 口 looks like Q (and 口口 like QQ): only an id next to it counts, never 口 alone (口红).
    for word in ("口口", "口", "口口号", "口号", "口群", "口口群"):
        cues[word] = Cue("qq", False, how="look-alike")
    add("alipay", True, "支付宝", "zfb", "zhifubao", "alipay", "只付包", "吱付宝", "支fu宝",
        "zhi付宝", "支付b", "吱吱")
    add("link", True, "淘口令")
    # Other apps: only an id next to them is a hand-over (飞机 is also a plane).
    add("handle", False, "飞机", "纸飞机", "飞机号", "纸飞机号", "tg号", "电报", "电报号", "line号",
        "瓦次普", "抖音号", "抖音", "dy号", "feiji", "zhifeiji", "快手号", "快手", "ks号", "小红书号", "小红书")
    for word in ("tg", "telegram", "line", "whatsapp", "instagram", "skype"):
        cues[word] = Cue("handle", False, True, True)
    # An invitation to talk elsewhere: an id (letters and digits) after it is a handle, a
    # number only when it is shaped like a phone.
    add("contact", False, "私聊", "私信", "私我", "联系", "找我", "搜我")
    add("phone", False, "电话", "手机", "手机号", "tel", "call", "致电", "座机", "打我",
        "来电", "拨打", "打", "号码", "电联", "热线", "手机号码", "call我", "打给我",
        "留个号", "留号", "号码是", "联系电话", "私人号", "同号")
    # 联系我 lily_shop, 联系方式：kefu_88: an invitation as much as a phone context.
    for word in ("联系我", "联系方式"):
        cues[word] = Cue("phone", False, ids=True)
    # Products named after a channel (QQ糖 candy, QQ星 milk, 奇瑞QQ car): not a mention.
    add("shield", False, "qq糖", "qq星", "奇瑞qq", "qq车", "q弹")
    # Codes that are not contacts: what follows them is a code even when it starts like vx.
    add("shield", False, "优惠码", "券码", "兑换码", "邀请码", "折扣码", "激活码", "取件码", "工号",
        "卡号", "批次", "会员号", "拼单号", "团购码", "认证", "编号", "报告")
    add("shield", False, "订单", "单号", "运单", "快递", "物流", "货号", "型号", "编号", "款号",
        "批号", "条码", "工单", "sku", "价格", "金额", "尺码", "编码", "规格", "退款", "红包",
        "优惠券", "订单号码", "单号码", "券", "积分", "库存", "数量", "重量", "日期", "时间", "邮编", "验证码")
    return cues


CUES: dict[str, Cue] = _cues()

# A small default abuse list (severity warning), written for this project. Configured lists
# are added to it; entries are matched on the normalised text with separators removed.
DEFAULT_ABUSE: tuple[str, ...] = (
    "傻逼", "傻b", "煞笔", "沙比", "脑残", "白痴", "智障", "神经病", "有病吧", "去死", "滚蛋",
    "你妈的", "尼玛", "他妈的", "tmd", "nmsl", "废物", "蠢货", "穷鬼", "垃圾买家", "爱买不买",
    "不买就滚", "买不起就别", "死全家", "贱人", "狗东西", "找骂", "活该",
)

# The platforms' own domains: links to them are not off-platform. ``None`` = any platform.
PLATFORM_DOMAINS: dict[str | None, tuple[str, ...]] = {
    "pdd": ("yangkeduo.com", "pinduoduo.com", "pddpic.com", "pdd.com"),
    "taobao": ("taobao.com", "tmall.com", "tb.cn", "alicdn.com", "tmall.hk"),
    "tmall": ("taobao.com", "tmall.com", "tb.cn", "alicdn.com", "tmall.hk"),
    "jd": ("jd.com", "3.cn", "jd.hk", "360buy.com", "360buyimg.com"),
    "douyin": ("douyin.com", "jinritemai.com", "iesdouyin.com"),
}
PLATFORM_DOMAINS[None] = tuple(sorted({d for ds in PLATFORM_DOMAINS.values() for d in ds}))

# Top-level domains recognised in bare (scheme-less) links and e-mail addresses.
TLDS: tuple[str, ...] = (
    "com", "cn", "net", "org", "cc", "top", "xyz", "vip", "io", "co", "info", "shop", "club",
    "site", "online", "tv", "link", "ly", "gl", "ink", "wang", "ren", "biz", "me", "im", "hk",
    "tw", "us", "uk", "jp", "asia", "mobi", "store", "fun", "icu", "live", "work", "pro",
    # New TLDs evaders pick because filters do not know them (issue 27).
    "world", "lol", "xin", "life", "space", "tech", "dev", "cloud", "website", "games", "email",
    "group", "plus", "fans", "cyou", "buzz", "bond", "sbs", "cfd", "ltd", "city", "wiki", "kim",
    "pw", "ws", "run", "bar", "rest", "lat", "today",
)
