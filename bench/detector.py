"""Content-detector throughput on one core (agent messages per second) and its scaling.

    python -m bench.detector [N]

The mix is realistic for a customer-service floor: mostly short clean replies, a share with
order numbers, prices and dates, and a few contact hand-overs, plain and disguised (homophones,
look-alikes, split digits, other apps). ``scaling`` scans single texts of 1 KB to 1 MB and
reports milliseconds per KB, which stays flat when the detector is linear in the text.
"""

from __future__ import annotations

import random
import sys
import time

from stream.core.content import Detector

CLEAN = [
    "亲，在的，有什么可以帮您？", "好的亲，马上为您处理", "亲，这款是现货的哦，今天下单今天发",
    "不客气亲，祝您生活愉快", "亲，质量是有保证的，您放心", "稍等，我帮您查一下",
    "亲，这个颜色显白，很多买家反馈不错", "收到货有任何问题随时联系我们哦", "亲亲，已经给您备注了",
    "好的，感谢您的耐心等待", "亲，这边建议您拍大一码", "您好，请问是哪个商品呢？",
    "亲，七天无理由退换的", "已经催促仓库了，请您再耐心等待一下", "亲，可以的呢",
]
NUMBERS = [
    "亲，您的订单号231111-123456789012345已经发货了，快递单号SF1234567890123",
    "这款现在活动价¥199.00，满2件包邮", "预计11月13日送达，请注意查收",
    "尺码39-40建议拍40，身高175cm体重65kg拍XL", "顺丰客服电话95338", "退款128.50元已原路退回",
    "型号A2894，iPhone 15 Pro Max 256G", "商品链接 https://mobile.yangkeduo.com/goods.html?goods_id=123456",
]
VIOLATIONS = [
    "加我微信13812345678，给您返现", "威信：lily_2024 备注订单号", "扣扣 一二三四五六七八",
    "电话①③⑧-1234-5678", "发票发我邮箱abc123艾特qq点com", "复制￥AbCd1234￥打开手机淘宝",
    "有需要加我胃心 kf_8899 私下优惠", "3172 6409 口口", "留个号码给您：14412345678",
    "纸飞机 @tb_deal", "𝐕𝐗 amy1990", "KTB582 威",
]


def messages(n: int, seed: int = 7) -> list[str]:
    """``n`` messages: ~80 % clean, ~17 % with numbers, ~3 % violations."""
    r = random.Random(seed)
    out = []
    for _ in range(n):
        x = r.random()
        pool = CLEAN if x < 0.80 else NUMBERS if x < 0.97 else VIOLATIONS
        out.append(r.choice(pool))
    return out


def run(n: int = 200_000) -> float:
    """Scan ``n`` messages in PDD (mention) mode on this core; returns messages per second."""
    detector = Detector()
    batch = messages(n)
    for text in batch[:1000]:  # warm the normalisation and phone caches
        detector.scan(text)
    scan = detector.scan
    start = time.perf_counter()
    for text in batch:
        scan(text, mode="mention")
    return n / (time.perf_counter() - start)


# One long message made of a realistic reply with a hand-over in it, repeated.
MIXED_UNIT = ("亲，您的订单号231111-123456789012345已经发货了，快递单号SF1234567890123。"
              "有问题加我vx lily_2024 或者打 138 1234 5678，详情看 https://x.cn/a 哦。")
SIZES_KB = (1, 10, 100, 1024)


def _ms_per_kb(detector: Detector, unit: str, kb: int, runs: int) -> float:
    size = len(unit.encode("utf-8"))
    text = unit * max(1, kb * 1024 // size)
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        detector.scan(text, mode="mention")
        best = min(best, time.perf_counter() - began)
    return best * 1000 / (len(text.encode("utf-8")) / 1024)


def scaling() -> dict[str, float]:
    """Milliseconds per KB of one long text at 1 KB, 10 KB, 100 KB and 1 MB.

    Best of a few runs (the small sizes get more), for 「微信 abc123 」 repeated and a mixed
    text; and the seconds for 「微信 abc123 」 x 20,000 (about 280 KB, issue 20).
    """
    detector = Detector()
    out: dict[str, float] = {}
    for kb in SIZES_KB:
        runs = 20 if kb <= 10 else 3 if kb <= 100 else 2
        label = f"{kb}kb" if kb < 1024 else "1mb"
        ids = _ms_per_kb(detector, "微信 abc123 ", kb, runs)
        mixed = _ms_per_kb(detector, MIXED_UNIT, kb, runs)
        out[f"detector_ms_per_kb_{label}"] = max(ids, mixed)
        out[f"detector_ms_per_kb_{label}_ids"] = ids
        out[f"detector_ms_per_kb_{label}_mixed"] = mixed
    text = "微信 abc123 " * 20_000
    began = time.perf_counter()
    detector.scan(text, mode="mention")
    out["detector_280kb_s"] = time.perf_counter() - began
    return out


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    print(f"content detector: {run(count):,.0f} messages/s on one core")
    for key, value in scaling().items():
        print(f"{key}: {value:.3f}")
