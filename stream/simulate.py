"""A seeded model of customer-service chat traffic, and ``chatwatch simulate`` that produces it.

:class:`TrafficModel` is pure: given a seed and a start time it yields the same events every
time, in the order they would be sent. Buyers open conversations in bursts of Chinese
messages (在吗, 有货吗, 什么时候发货, sizes, order numbers); shops answer with bot
auto-replies within seconds and agent replies at realistic delays (most within 15-60 s, some
1-4 min, a few past the 5-minute window, a few never); buyers read, nudge and leave. Some
buyers are advertisers or peers, a few agent messages hand out contact details, and the wire
has the usual dirt: duplicates, slightly out-of-order timestamps, invalid lines, both ``ts``
forms. Orders (DOMAIN.md §7): a share of consulting buyers create and pay an order minutes
after the chat (some cancel, a few pay and are refunded later), and a few buyers pay without
asking anything (silent orders). ``bench/gen_log.py`` writes historical logs from the same model.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import heapq
import itertools
import random
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from datetime import time as dt_time
from typing import IO, Any, TextIO, cast

import click
import msgspec

from stream.config import Settings
from stream.errors import BrokerError
from stream.kafka import ensure_topics
from stream.kafka import producer as kafka_producer

# --- what people write ----------------------------------------------------------------------
BUYER_OPENERS = ("在吗", "在吗？", "你好", "亲，在不在", "有人吗", "老板在吗", "您好", "在？")
BUYER_QUESTIONS = (
    "这个有货吗", "什么时候发货", "今天下单今天能发吗", "可以便宜点吗", "包邮吗", "发什么快递",
    "这个是正品吗", "有优惠券吗", "能开发票吗", "可以7天无理由退货吗", "我身高{h}体重{w}斤穿什么码",
    "{size}码还有吗", "订单号{order}怎么还没发货", "快递单号{waybill}一直没更新",
    "收到的东西坏了，怎么处理", "颜色和图片不一样", "能改地址吗", "我要退款", "{n}件能便宜点吗",
    "这款和那款有什么区别", "保质期多久", "尺码偏大还是偏小", "拍了{n}件，能一起发吗",
    "{price}元是到手价吗", "型号{model}和{model2}哪个好",
)
BUYER_NUDGES = ("人呢？", "还在吗", "怎么不回复", "？？？", "客服在吗，急", "到底有没有人")
AGENT_REPLIES = (
    "亲，在的，有什么可以帮您", "有货的亲，现在拍下48小时内发货", "亲，今天下午4点前拍下当天发",
    "默认发中通快递哦", "亲，建议拍{size}码", "已经帮您催促仓库了，请耐心等待",
    "亲，这边帮您登记一下，稍后给您处理", "正品保障，假一赔十", "店铺首页有优惠券可以领取哦",
    "支持7天无理由退换", "亲，地址已经帮您修改好了", "好的亲，已为您备注", "亲，价格已经是最低了哦",
    "订单{order}已经发出了，请注意查收", "在", "亲，{price}元就是到手价", "售后电话95{d3}{d1}转人工也可以",
)
AGENT_FOLLOW_UPS = ("还有其他问题吗亲", "感谢您的支持，祝您生活愉快", "亲，记得给个五星好评哦",
                    "有问题随时联系我们")
BOT_REPLIES = ("您好，欢迎光临本店，请问有什么可以帮您？", "亲，客服正在赶来的路上，请稍等～",
               "【自动回复】您好，当前咨询人数较多，请耐心等待", "亲，您可以先看看商品详情页哦")
CONTACT_HANDOVERS = (
    "加我微信 {wx}", "打我电话 {phone}", "加我V：{wx}，给你优惠", "有问题直接加qq {qq}",
    "直接支付宝转我 {mobile} 便宜20", "加薇信{wx}发你实拍图", "电话 {phone_cn}", "私聊：vx {wx}",
    "邮箱发你：{wx}@163.com", "手机号{phone_circled}，加一下",
)
AD_TEXTS = ("兼职刷单，日结300，加V {wx}", "店铺代运营，免费诊断，联系{phone}",
            "低价出售好评返现，加qq {qq}", "专业直通车托管，效果不好不收费 vx:{wx}")
PEER_TEXTS = ("你好，同行，交流一下", "亲，我们也是做这个的，拿货价多少", "请问你们的货源哪里的",
              "你们家这款卖得怎么样")
_CN_DIGITS = "零一二三四五六七八九"
_CIRCLED = "⓪①②③④⑤⑥⑦⑧⑨"


def fill(rng: random.Random, template: str) -> str:
    """Fill a phrase's placeholders (sizes, order numbers, contacts) with plausible values."""
    if "{" not in template:
        return template
    mobile = f"1{rng.choice('3589')}{rng.randrange(10)}{rng.randrange(10**8):08d}"
    values = {
        "h": rng.randint(150, 190), "w": rng.randint(80, 200), "n": rng.randint(2, 5),
        "size": rng.choice(("S", "M", "L", "XL", "XXL", "38", "39", "40", "41", "42")),
        "order": f"{rng.randint(240101, 261231)}-{rng.randrange(10**15):015d}",
        "waybill": f"{rng.choice(('YT', 'SF', 'ZTO'))}{rng.randrange(10**13):013d}",
        "price": f"{rng.randint(9, 899)}.{rng.choice(('00', '90', '99'))}",
        "model": f"{rng.choice('ABXK')}{rng.randint(100, 999)}",
        "model2": f"{rng.choice('CDMZ')}{rng.randint(100, 999)}", "d3": rng.randint(100, 999),
        "d1": rng.randrange(10), "wx": f"{rng.choice(('abc', 'shop', 'vip', 'kf'))}{rng.randint(1000, 99999)}",
        "qq": rng.randint(10_000_000, 2_999_999_999), "mobile": mobile,
        "phone": f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}",
        "phone_cn": "".join(_CN_DIGITS[int(c)] for c in mobile),
        "phone_circled": "".join(_CIRCLED[int(c)] for c in mobile),
    }
    return template.format(**values)


DEFAULT_PLATFORMS: Mapping[str, float] = {"pdd": 0.6, "taobao": 0.3, "jd": 0.1}
_CST = timezone(timedelta(hours=8))
# Relative arrival intensity by local hour (Asia/Shanghai), mean 1: quiet nights, busy evenings.
_HOURLY = (0.3, 0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.45, 0.8, 1.2, 1.4, 1.4,
           1.2, 1.3, 1.4, 1.4, 1.3, 1.2, 1.1, 1.3, 1.6, 1.75, 1.45, 0.82)
_HOURLY_MEAN = sum(_HOURLY) / 24
_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class Simulated:
    """One message to produce: send time (event-time ms), Kafka key and value bytes.

    ``valid`` is False for the deliberately broken lines; ``at_ms`` is when the message is
    sent, which differs from its ``ts`` for the out-of-order ones.
    """

    at_ms: int
    key: bytes
    value: bytes
    valid: bool


@dataclass(frozen=True, slots=True)
class Shop:
    """A simulated shop: its platform, its agents and whether it runs an auto-reply bot."""

    shop_id: str
    platform: str
    agents: tuple[str, ...]
    bot_id: str | None


@dataclass(frozen=True)
class Rates:
    """How often the wire misbehaves and how often agents misbehave (per event / message)."""

    duplicate: float = 0.005
    out_of_order: float = 0.005
    invalid: float = 0.003
    contact_handover: float = 0.02
    ad_buyer: float = 0.06
    peer_buyer: float = 0.04
    # orders: share of customer conversations ending in a created order, share of those that
    # pay, of paid ones later refunded, and of buyers who pay without a word (silent)
    order: float = 0.35
    pay: float = 0.8
    refund: float = 0.08
    silent_buyer: float = 0.03
    # share of customer conversations the platform hands to an agent as they open (分流: a
    # transfer event at the buyer's first message), so that the first wait has an agent
    assign: float = 0.0


# Prices of the simulated goods, fen: cheap accessories to a winter coat.
PRICES = (990, 1990, 2990, 3900, 5900, 8800, 12900, 19900, 29900, 59900)


# Agent reply delay classes (seconds, from the start of the wait): (weight, low, high).
# None = never answered.
_DELAYS: tuple[tuple[float, float, float] | None, ...] = (
    (0.08, 3, 15), (0.60, 15, 60), (0.18, 60, 240), (0.07, 300, 900), None,
)


class TrafficModel:
    """Seeded generator of realistic chat traffic for ``shops`` shops starting at ``start_ms``.

    ``rate`` is the mean number of events per second of event time (with ``diurnal`` the
    mean over a day, busier in the evening). A conversation lasts minutes, so traffic reaches
    its rate only after a while; ``warm_up_s`` runs the model that long before ``start_ms``
    and drops what falls before it, so a live run starts in full swing. The last
    ``history_s`` seconds of the warm-up are kept instead (at most ``warm_up_s``): a live run
    sends them at once, with their own past times, so its figures and conversions start with
    history. Same arguments, same events.
    """

    def __init__(self, seed: int = 0, shops: int = 5, agents_per_shop: int = 3,
                 buyers: int = 500, start_ms: int = 1_794_362_400_000, rate: float = 20.0,
                 platforms: Mapping[str, float] | None = None, diurnal: bool = False,
                 rates: Rates | None = None, warm_up_s: float = 0.0,
                 history_s: float = 0.0) -> None:
        if shops < 1 or agents_per_shop < 1 or buyers < 1 or rate <= 0:
            raise ValueError("shops, agents_per_shop, buyers and rate must be positive")
        self.seed = seed
        self.start_ms = start_ms
        self.rate = rate
        self.diurnal = diurnal
        self.rates = rates or Rates()
        self.warm_up_ms = int(warm_up_s * 1000)
        self.history_ms = int(min(history_s, warm_up_s) * 1000)
        mix = dict(platforms or DEFAULT_PLATFORMS)
        rng = random.Random(seed)
        names, weights = list(mix), list(mix.values())
        self.shops = tuple(
            Shop(shop_id=f"shop-{i:02d}", platform=(p := rng.choices(names, weights)[0]),
                 agents=tuple(f"shop-{i:02d}-a{j}" for j in range(1, agents_per_shop + 1)),
                 bot_id=f"shop-{i:02d}-bot" if rng.random() < (0.8 if p == "pdd" else 0.4) else None)
            for i in range(1, shops + 1))
        self.buyers = tuple(f"buyer-{k:05d}" for k in range(1, buyers + 1))
        self._tag = f"{rng.getrandbits(32):08x}"
        self._per_session = self._events_per_session()

    def _events_per_session(self) -> float:
        """Mean events per conversation, measured on a private sample so rates come out right."""
        rng = random.Random(self.seed ^ 0x5EED)
        events = span = 0
        for _ in range(1000):
            times = [t for t, _ in self._session(rng, 0, rng.choice(self.shops), "b",
                                                 self._kind(rng))]
            events += len(times)
            span += times[-1]
        self._session_s = span / 1000 / 1000
        return events / 1000

    def max_rate(self) -> float:
        """Roughly the highest rate these shops and buyers sustain (events/s).

        A buyer holds one conversation per shop at a time; beyond about half of all shop-buyer
        pairs busy at once, new conversations keep colliding and the rate sags.
        """
        pairs = len(self.shops) * len(self.buyers)
        return pairs / 2 / max(self._session_s, 1.0) * self._per_session

    def events(self) -> Iterator[Simulated]:
        """Yield events forever, ordered by send time (``itertools.islice`` to stop)."""
        rng = random.Random(self.seed)
        seq = itertools.count()
        ids = itertools.count(1)
        active: set[str] = set()
        heap: list[tuple[int, int, Any]] = [(self.start_ms - self.warm_up_ms, next(seq), None)]
        start = self.start_ms - self.history_ms  # what is sent: history, then the live part
        lam = self.rate / self._per_session / 1000  # sessions per ms
        peak = max(_HOURLY) / _HOURLY_MEAN if self.diurnal else 1.0
        r = self.rates
        while True:
            at, _, item = heapq.heappop(heap)
            if item is None:  # a candidate conversation arrival
                heapq.heappush(heap, (at + int(rng.expovariate(lam * peak)) + 1, next(seq), None))
                if self.diurnal and rng.random() * peak > _HOURLY[_local_hour(at)] / _HOURLY_MEAN:
                    continue
                shop = rng.choice(self.shops)
                for _ in range(8):  # a buyer already talking to this shop cannot start again
                    buyer = rng.choice(self.buyers)
                    conv = f"{shop.shop_id}:{buyer}"
                    if conv not in active:
                        break
                else:
                    continue
                active.add(conv)
                gen = self._session(rng, at, shop, buyer, self._kind(rng))
                item = (gen, conv.encode(), conv)
                first = next(gen)
                heapq.heappush(heap, (first[0], next(seq), (item, first[1])))
                continue
            if isinstance(item, Simulated):  # a scheduled duplicate
                if at >= start:
                    yield item
                continue
            (gen, key, conv), body = item
            ts: int = body["ts"]
            if rng.random() < r.out_of_order:
                ts -= rng.randint(500, 3000)
            body = {"event_id": f"ev-{self._tag}-{next(ids):09d}", **body,
                    "ts": ts if rng.random() < 0.5 else _rfc3339(ts)}
            value = _encode(body)
            if at >= start:
                yield Simulated(at, key, value, True)
            if rng.random() < r.duplicate:
                dup = Simulated(at + rng.randint(100, 5000), key, value, True)
                heapq.heappush(heap, (dup.at_ms, next(seq), dup))
            if rng.random() < r.invalid and at >= start:
                yield Simulated(at, key, _corrupt(rng, body, f"ev-{self._tag}-{next(ids):09d}"), False)
            nxt = next(gen, None)
            if nxt is None:
                active.discard(conv)
            else:
                heapq.heappush(heap, (nxt[0], next(seq), ((gen, key, conv), nxt[1])))

    def _kind(self, rng: random.Random) -> str:
        x = rng.random()
        if x < self.rates.ad_buyer:
            return "ad"
        if x < self.rates.ad_buyer + self.rates.peer_buyer:
            return "peer"
        return "silent" if x > 1 - self.rates.silent_buyer else "customer"

    def _orders(self, rng: random.Random, t: int, base: Mapping[str, Any],
                paying: bool) -> Iterator[tuple[int, dict[str, Any]]]:
        """A buyer's order after time ``t``: created, then paid (maybe refunded) or cancelled."""
        order_id = f"{base['shop_id']}-{rng.randrange(10**12):012d}"
        fen = rng.choice(PRICES) * rng.choice((1, 1, 1, 2))
        amount: str | float = f"{fen // 100}.{fen % 100:02d}"
        if rng.random() < 0.3:
            amount = fen / 100  # some integrators send numbers; the decoder reads them exactly

        def order(at: int, status: str, **extra: Any) -> tuple[int, dict[str, Any]]:
            return at, {**base, "ts": at, "type": "order", "order_id": order_id,
                        "status": status, **extra}

        t += rng.randint(5_000, 120_000)
        yield order(t, "created")
        t += rng.randint(3_000, 90_000)
        if not paying:
            yield order(t, "cancelled")
            return
        yield order(t, "paid", amount=amount)
        if rng.random() < self.rates.refund:
            back = fen if rng.random() < 0.6 else fen // 2
            yield order(t + rng.randint(120_000, 900_000), "refunded",
                        amount=f"{back // 100}.{back % 100:02d}")

    def _session(self, rng: random.Random, t: int, shop: Shop, buyer: str,
                 kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """One conversation as (time ms, wire body without id) in time order."""
        base: dict[str, Any] = {"shop_id": shop.shop_id, "buyer_id": buyer}
        if rng.random() < 0.7:
            base["platform"] = shop.platform
        if rng.random() < 0.3:
            base["conversation_id"] = f"{shop.shop_id}:{buyer}"
        if kind not in ("customer", "silent"):
            base["buyer_kind"] = kind
        agent = rng.choice(shop.agents)
        if kind == "silent":  # pays without a word to the shop (静默下单)
            yield from self._orders(rng, t, base, True)
            return

        def msg(at: int, sender: str, text: str, who: str | None = None) -> tuple[int, dict[str, Any]]:
            body = {**base, "ts": at, "type": "message", "sender": sender, "text": text}
            if who is not None:
                body["agent_id"] = who
            return at, body

        def event(at: int, kind_: str, sender: str | None = None) -> tuple[int, dict[str, Any]]:
            body = {**base, "ts": at, "type": kind_}
            if sender is not None:
                body["sender"] = sender
                if sender == "agent":
                    body["agent_id"] = agent
            return at, body

        if kind != "customer":
            pool = AD_TEXTS if kind == "ad" else PEER_TEXTS
            for _ in range(rng.choice((1, 1, 2))):
                yield msg(t, "buyer", fill(rng, rng.choice(pool)))
                t += rng.randint(2000, 15000)
            if rng.random() < 0.3:
                yield msg(t + rng.randint(20_000, 120_000), "agent", "亲，不需要哦", agent)
            return

        if r_assign := self.rates.assign:  # no draw at all when off: same events as before
            if rng.random() < r_assign:
                yield t, {**base, "ts": t, "type": "transfer", "agent_id": agent}
        rounds = 1
        while rounds < 4 and rng.random() < 0.45:
            rounds += 1
        for round_no in range(rounds):
            start = t
            burst = rng.choices((1, 2, 3, 4), (0.45, 0.3, 0.15, 0.1))[0]
            opener = rng.choice(BUYER_OPENERS) if round_no == 0 and rng.random() < 0.5 else None
            texts = ([opener] if opener else []) + [fill(rng, rng.choice(BUYER_QUESTIONS))
                                                    for _ in range(burst - (1 if opener else 0))]
            for i, text in enumerate(texts):
                yield msg(t, "buyer", text)
                if i == 0 and round_no == 0 and shop.bot_id and rng.random() < 0.7:
                    t += rng.randint(800, 3000)
                    yield msg(t, "bot", rng.choice(BOT_REPLIES), shop.bot_id)
                t += rng.randint(1500, 12000)
            delay = _reply_delay(rng)
            if delay is None:
                if rng.random() < 0.5:
                    t = start + rng.randint(120_000, 600_000)
                    yield msg(t, "buyer", rng.choice(BUYER_NUDGES))
                if rng.random() < self.rates.order / 4:  # some buy anyway
                    yield from self._orders(rng, t, base, rng.random() < self.rates.pay)
                return
            t = max(start + delay, t)
            if rng.random() < self.rates.contact_handover:
                yield msg(t, "agent", fill(rng, rng.choice(CONTACT_HANDOVERS)), agent)
            else:
                yield msg(t, "agent", fill(rng, rng.choice(AGENT_REPLIES)), agent)
            if rng.random() < 0.3:
                t += rng.randint(3000, 20000)
                yield msg(t, "agent", fill(rng, rng.choice(AGENT_FOLLOW_UPS)), agent)
            if rng.random() < 0.6:
                t += rng.randint(2000, 30000)
                yield event(t, "read", "buyer")
            t += rng.randint(10_000, 120_000)
        buys = rng.random() < self.rates.order
        paying = rng.random() < self.rates.pay
        if rng.random() < 0.5:
            t += rng.randint(30_000, 120_000)
            yield event(t, "end", "agent" if rng.random() < 0.7 else "system")
        if buys:
            yield from self._orders(rng, t, base, paying)


def _reply_delay(rng: random.Random) -> int | None:
    x = rng.random()
    for cls in _DELAYS:
        if cls is None:
            return None
        weight, low, high = cls
        if x < weight:
            return int(rng.uniform(low, high) * 1000)
        x -= weight
    return None


def _local_hour(ms: int) -> int:
    return (ms // 3_600_000 + 8) % 24


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, _CST).isoformat(timespec="milliseconds")


def _corrupt(rng: random.Random, body: dict[str, Any], event_id: str) -> bytes:
    """Break a line in one of the ways integrators actually do."""
    body = {**body, "event_id": event_id}
    how = rng.randrange(5)
    if how == 0:
        raw = _encode(body)
        return raw[: len(raw) // 2]  # truncated JSON
    if how == 1:
        body.pop("shop_id")
    elif how == 2:
        body["type"] = "typing"
    elif how == 3:
        body["ts"] = "yesterday"
    else:
        body.pop("event_id")
    return _encode(body)


# --- logs for backfill and plan ------------------------------------------------------------
def write_log(path: str, n_events: int, seed: int = 1, *, rate: float = 20.0, shops: int = 20,
              agents: int = 4, buyers: int = 20_000, start_ms: int,
              rates: Rates | None = None, counts: dict[str, int] | None = None,
              platforms: Mapping[str, float] | None = None) -> int:
    """Write ``n_events`` of the model's lines as JSONL to ``path`` (gzip for ``.gz``).

    With a day-night rhythm, in send order (the order a log export has); returns the bytes
    written. ``rate`` is events per second of event time, averaged over a day. ``counts``,
    when given, gets ``invalid`` (lines broken on purpose), ``first_ms`` and ``last_ms``.
    """
    model = TrafficModel(seed=seed, shops=shops, agents_per_shop=agents, buyers=buyers,
                         start_ms=start_ms, rate=rate, diurnal=True, rates=rates,
                         platforms=platforms)
    out = cast(IO[bytes], gzip.open(path, "wb", compresslevel=1) if path.endswith(".gz")
               else open(path, "wb"))  # noqa: SIM115 - closed by the with below
    written = 0
    with out:
        batch: list[bytes] = []
        invalid = 0
        first_ms = last_ms = start_ms
        for n, item in enumerate(itertools.islice(model.events(), n_events)):
            if n == 0:
                first_ms = item.at_ms
            last_ms = item.at_ms
            invalid += not item.valid
            batch.append(item.value)
            if len(batch) == 10_000:
                written += out.write(b"\n".join(batch) + b"\n")
                batch.clear()
        if batch:
            written += out.write(b"\n".join(batch) + b"\n")
    if counts is not None:
        counts.update(invalid=invalid, first_ms=first_ms, last_ms=last_ms)
    return written


# The trial log's default: whole days of traffic (quiet nights, a busy evening), each buyer
# a few conversations a week, most conversations handed to an agent as they open, as a
# shop's own history would be.
TRIAL_DAYS = 7
TRIAL_BUYERS = 20_000
TRIAL_RATES = Rates(assign=0.9)


def days_before_ms(now_ms: int, days: int) -> int:
    """Midnight in Asia/Shanghai ``days`` days before today: a log from then fills whole days."""
    local = datetime.fromtimestamp(now_ms / 1000, _CST)
    start = datetime.combine(local.date() - timedelta(days=days), dt_time(0, 0), _CST)
    return int(start.timestamp() * 1000)


# --- the `chatwatch simulate` driver ----------------------------------------------------------
def require_broker(flag: str | None, settings: Settings, command: str) -> str:
    """Return the broker to produce to: ``--broker``, else KAFKA_BROKER, else a helpful error.

    A producer cannot start its own embedded broker: that broker would vanish, with its data,
    when the command ends, and no worker would ever see the events.
    """
    url = flag or settings.broker
    if not url:
        raise BrokerError(f"`chatwatch {command}` needs a broker to produce to: start one with "
                          f"`chatwatch broker` and pass --broker kafka://HOST:PORT (or set "
                          f"KAFKA_BROKER), or use `chatwatch run` for broker, worker and "
                          f"simulator in one")
    if not url.startswith("kafka://"):
        url = f"kafka://{url}"
    return url


def install_stop_handlers(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM set ``stop`` so the command flushes and exits cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def simulate(settings: Settings, broker_url: str, model: TrafficModel, *,
                   count: int | None = None, duration: float | None = None,
                   stop: asyncio.Event | None = None, report_every: float = 5.0,
                   out: TextIO = sys.stderr) -> int:
    """Produce the model's events in real time (event time = its schedule); return the count.

    The model's clock starts at ``model.start_ms``; each event is sent when that much wall
    time has passed since the call, so a live worker sees waits breach in real time.
    """
    stop = stop or asyncio.Event()
    await ensure_topics(settings, broker_url)
    producer = kafka_producer(settings, broker_url)
    await producer.start()
    topic = settings.events_topic
    sent, last_sent, invalid = 0, 0, 0
    began = last_report = time.monotonic()
    # Anchor the schedule to the wall clock: an event is due when the wall clock reaches its
    # send time, so its ts is "now" even though starting the producer took a moment.
    origin = began - (time.time() - model.start_ms / 1000)
    try:
        for item in model.events():
            if count is not None and sent >= count:
                break
            due = origin + (item.at_ms - model.start_ms) / 1000
            if duration is not None and due - origin >= duration:
                break
            wait = due - time.monotonic()
            if wait >= 0.001:  # below a millisecond a timer costs more than it paces
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                break
            await producer.send(topic, item.value, key=item.key)
            sent += 1
            invalid += not item.valid
            now = time.monotonic()
            if now - last_report >= report_every:
                print(f"simulate: {sent:,} events sent, "
                      f"{(sent - last_sent) / (now - last_report):.1f} events/s", file=out,
                      flush=True)
                last_sent, last_report = sent, now
    finally:
        with contextlib.suppress(Exception):
            await producer.flush()
        await producer.stop()
    elapsed = max(time.monotonic() - began, 1e-9)
    print(f"simulate: done, {sent:,} events in {elapsed:.1f} s ({sent / elapsed:.1f}/s), "
          f"{invalid:,} of them invalid on purpose", file=out, flush=True)
    return sent


def _parse_mix(value: str | None) -> dict[str, float] | None:
    if not value:
        return None
    mix: dict[str, float] = {}
    for part in value.split(","):
        name, _, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight or 1)
        except ValueError:
            raise click.BadParameter(f"{part!r}: write PLATFORM=WEIGHT, e.g. pdd=0.6,taobao=0.4",
                                     param_hint="--platforms") from None
    return mix


@click.command("simulate")
@click.option("--shops", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--agents", default=3, show_default=True, type=click.IntRange(min=1),
              help="Agents per shop.")
@click.option("--buyers", type=click.IntRange(min=1),
              help=f"Buyers to draw from (default 500; with --out {TRIAL_BUYERS:,}).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True),
              help="Mean events per second (default 20; with --out: --events spread over "
                   "--days).")
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--history", "history_s", type=click.FloatRange(min=0, max=3600), default=0,
              help="First send the traffic of the last SECONDS at once, with its own past "
                   "times (figures, conversions and the board start filled).")
@click.option("--count", type=click.IntRange(min=0), help="Stop after this many events.")
@click.option("--seed", type=int, help="Seed for repeatable traffic (default: random, printed).")
@click.option("--platforms", "mix", help="Platform mix, e.g. pdd=0.6,taobao=0.3,jd=0.1.")
@click.option("--broker", "broker_flag", help="kafka://HOST:PORT (default: KAFKA_BROKER).")
@click.option("--out", "out_path", metavar="LOG.jsonl[.gz]",
              help="Write a log file instead of producing, to try `chatwatch backfill` and "
                   "`plan` on: whole days up to last midnight (Shanghai time) with a shop's "
                   "day (quiet nights, a busy evening).")
@click.option("--events", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="With --out: how many lines to write.")
@click.option("--days", type=click.IntRange(min=1), default=TRIAL_DAYS, show_default=True,
              help="With --out: the days the lines are spread over (unless --rate is given).")
@click.pass_obj
def simulate_command(ctx: Any, shops: int, agents: int, buyers: int | None,
                     rate: float | None, duration: float | None, history_s: float,
                     count: int | None, seed: int | None, mix: str | None,
                     broker_flag: str | None, out_path: str | None, events: int,
                     days: int) -> None:
    """Produce realistic Chinese customer-service chat traffic to chat.events, in real time.

    With --out, write that traffic to a log file at once instead (no broker needed). About
    0.3 % of the lines are invalid on purpose, as real feeds have them.
    """
    settings: Settings = ctx.settings
    platforms = _parse_mix(mix)
    for name in platforms or ():
        if (problem := settings.platform_problem(name)) is not None:
            raise click.BadParameter(problem, param_hint="--platforms")
    if out_path:
        from stream.report.writers import check_output

        check_output(out_path, "--out")
        _write_trial(out_path, events, seed, rate, days, shops, agents, buyers, platforms)
        return
    rate = 20.0 if rate is None else rate
    buyers = 500 if buyers is None else buyers
    broker_url = require_broker(broker_flag, settings, "simulate")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    model = TrafficModel(seed=seed, shops=shops, agents_per_shop=agents, buyers=buyers,
                         start_ms=int(time.time() * 1000), rate=rate, platforms=platforms,
                         warm_up_s=max(900, history_s), history_s=history_s)
    click.echo(f"simulate: {shops} shops x {agents} agents, {buyers} buyers, ~{rate:g} events/s "
               f"to {settings.events_topic} on {broker_url} (seed {seed}); about "
               f"{Rates.invalid:.1%} of the events are invalid on purpose (the worker "
               f"dead-letters them to {settings.dlq_topic}); Ctrl-C stops", err=True)
    if rate > model.max_rate():
        click.echo(f"simulate: warning: {buyers} buyers cannot keep up {rate:g} events/s across "
                   f"{shops} shops (about {model.max_rate():.0f}/s at most); raise --buyers",
                   err=True)

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_handlers(stop)
        await simulate(settings, broker_url, model, count=count, duration=duration, stop=stop)

    asyncio.run(main())


def _write_trial(path: str, events: int, seed: int | None, rate: float | None, days: int,
                 shops: int, agents: int, buyers: int | None,
                 platforms: Mapping[str, float] | None) -> None:
    """``simulate --out``: whole days of traffic ending at last midnight, then what to do next.

    ``events`` over ``days`` days (or at ``rate`` events/s, the days following from it).
    """
    derived = rate is None
    if rate is None:
        rate = events / (days * 86_400)
    else:
        days = max(1, -(-int(events / rate) // 86_400))  # ceil: whole days
    counts: dict[str, int] = {}
    now_ms = int(time.time() * 1000)
    start_ms = days_before_ms(now_ms, days)
    midnight_ms = days_before_ms(now_ms, 0)
    # With --days, the lines should end on the last day, after its noon: the traffic's real
    # pace differs from its nominal rate by a few per cent (and an end in the quiet night
    # moves far with it), so the pace is measured and the rate corrected toward 21:00 of the
    # last day, at most three times.
    target_ms = days * 86_400_000 - 3 * 3_600_000
    tries = 0
    while True:
        size = write_log(path, events, 1 if seed is None else seed, rate=rate, shops=shops,
                         agents=agents, buyers=TRIAL_BUYERS if buyers is None else buyers,
                         start_ms=start_ms, counts=counts, platforms=platforms,
                         rates=TRIAL_RATES)
        tries += 1
        last_ms = counts["last_ms"]
        if derived and tries <= 3 and not midnight_ms - 43_200_000 <= last_ms < midnight_ms:
            rate *= (last_ms - start_ms) / target_ms
            continue
        if last_ms < midnight_ms:
            break
        # The traffic ran slower than its nominal rate and past last midnight: the same
        # traffic whole days earlier (the day's shape is by local hour, so it is unchanged).
        start_ms -= -(-(last_ms - midnight_ms + 1) // 86_400_000) * 86_400_000
    first, last = (datetime.fromtimestamp(counts[k] / 1000, _CST).strftime("%Y-%m-%d %H:%M")
                   for k in ("first_ms", "last_ms"))
    invalid = counts["invalid"]
    click.echo(f"simulate: {events:,} events ({size / 2**20:,.1f} MiB) written to {path}: "
               f"{shops} shop{'s' if shops > 1 else ''}, {first} to {last} (Asia/Shanghai); "
               f"{invalid:,} of the lines ({invalid / events:.1%}) are invalid on purpose (cut JSON, a missing field, "
               f"an unknown type, a bad time), as real logs have: backfill counts and skips "
               f"them", err=True)
    click.echo(f"next: chatwatch backfill --input {path} --report daily.jsonl --summary-html "
               f"summary.html", err=True)
