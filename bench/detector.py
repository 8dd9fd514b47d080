"""Content-detector throughput on one core (agent messages per second).

    python -m bench.detector [N]

The mix is realistic for a customer-service floor: mostly short clean replies, a share with
order numbers, prices and dates, and a few contact hand-overs.
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


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    print(f"content detector: {run(count):,.0f} messages/s on one core")
