"""A self-contained HTML summary of a backfill, one section per shop.

For people who would rather look than read: per shop, the daily reply rate against the shop's
target (bars, with the target as a dashed line) and the counted breached waits by local hour
of day, plus the daily figures as a table. Inline SVG only: no script, no fonts or styles from
the network, so the file can be mailed or opened offline.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from stream.core.figures import DailyFigures
from stream.core.kpi import reply_rate_kpi
from stream.core.orders import Conversion, per_buyer, yuan
from stream.core.policy import PolicyBook
from stream.report.tally import Tally

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 16, 16, 40

_STYLE = """
body { font-family: -apple-system, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC",
       sans-serif; margin: 24px; color: #222; }
section { margin-bottom: 40px; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; }
td.low { color: #b00020; font-weight: bold; }
svg text { font-size: 11px; fill: #444; }
"""


def _y(value: float, top: float) -> float:
    plot = HEIGHT - PAD_TOP - PAD_BOTTOM
    return PAD_TOP + plot * (1 - value / top if top else 1)


def bar_chart(values: Sequence[float | None], labels: Sequence[str], *, title: str,
              top: float, percent: bool = False, target: float | None = None,
              low_below: float | None = None) -> str:
    """One SVG bar chart; ``None`` values leave a gap; ``target`` draws a dashed line."""
    n = max(len(values), 1)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    slot = plot_w / n
    bar_w = min(max(slot * 0.7, 1.0), 48.0)  # one day alone should not be a wall
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{html.escape(title)}</title>']
    for frac in (0, 0.25, 0.5, 0.75, 1):  # grid and y labels
        y = _y(top * frac, top)
        label = f"{frac * top:.0%}" if percent else f"{frac * top:g}"
        parts.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" '
                     f'y2="{y:.1f}" stroke="#eee"/>'
                     f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    every = max(1, n // 16)  # keep axis labels readable on long histories
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        if value is not None:
            y = _y(min(value, top), top)
            colour = "#d9534f" if low_below is not None and value < low_below else "#4a90d9"
            shown = f"{value:.1%}" if percent else f"{value:g}"
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                         f'height="{HEIGHT - PAD_BOTTOM - y:.1f}" fill="{colour}">'
                         f'<title>{html.escape(label)}: {shown}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" '
                         f'text-anchor="middle">{html.escape(label)}</text>')
    if target is not None:
        y = _y(target, top)
        parts.append(f'<line class="target" x1="{PAD_LEFT}" y1="{y:.1f}" '
                     f'x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" stroke="#d9534f" '
                     f'stroke-dasharray="6 4" stroke-width="2"/>'
                     f'<text x="{WIDTH - PAD_RIGHT}" y="{y - 4:.1f}" text-anchor="end">'
                     f'目标 target {target:.0%}</text>')
    parts.append(f'<line x1="{PAD_LEFT}" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH - PAD_RIGHT}" '
                 f'y2="{HEIGHT - PAD_BOTTOM}" stroke="#888"/></svg>')
    return "".join(parts)


def _count_top(counts: Sequence[int]) -> float:
    """A y-axis top that puts whole numbers on the four grid lines."""
    peak = max(max(counts, default=0), 1)
    return float(-(-peak // 4) * 4)


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else format(value, pattern)


def _shop_section(shop: str, rows: Sequence[DailyFigures], hours: Sequence[int],
                  target: float, title: str) -> str:
    days = [r.day for r in rows]
    rates = [r.reply_rate for r in rows]
    out = [f'<section id="shop-{html.escape(shop)}"><h2>店铺 Shop {html.escape(shop)}</h2>',
           f"<h3>每日{html.escape(title)} Daily reply rate vs target</h3>",
           bar_chart(rates, [d[5:] for d in days], title=f"{shop} reply rate", top=1.0,
                     percent=True, target=target, low_below=target),
           "<h3>按小时超时次数 Breached waits by hour of day</h3>",
           bar_chart([float(h) for h in hours], [f"{h:02d}" for h in range(24)],
                     title=f"{shop} breaches by hour", top=_count_top(hours)),
           "<table><tr><th>日期 Day</th><th>咨询人数 Consultations</th>"
           "<th>未回复 Unreplied</th><th>回复率 Reply rate</th><th>会话等待 Waits</th>"
           "<th>超时 Breached</th><th>平均响应(秒) Mean response (s)</th></tr>"]
    for r in rows:
        low = ' class="low"' if r.reply_rate is not None and r.reply_rate < target else ""
        out.append(f"<tr><td>{r.day}</td><td>{r.consultations}</td><td>{r.unreplied}</td>"
                   f"<td{low}>{_fmt(r.reply_rate, '.1%')}</td><td>{r.waits}</td>"
                   f"<td>{r.waits_breached}</td><td>{_fmt(r.mean_response_seconds, '.1f')}</td>"
                   f"</tr>")
    out.append("</table></section>")
    return "\n".join(out)


def _conversion_section(shop: str, days: Sequence[Conversion],
                        agents: Sequence[Conversion]) -> str:
    """Daily inquiry conversion and the agents ranked over the whole log (§7)."""
    out = ["<h3>询单转化率 Daily inquiry conversion</h3>",
           bar_chart([d.conversion_rate for d in days], [d.day[5:] for d in days],
                     title=f"{shop} conversion", top=1.0, percent=True),
           '<table class="conversion"><tr><th>日期 Day</th><th>询单人数 Inquiries</th>'
           "<th>付款人数 Paid buyers</th><th>转化率 Conversion</th><th>客服销售额 Chat sales</th>"
           "<th>客单价 Avg order</th><th>退款 Refunds</th><th>静默下单 Silent orders</th>"
           "<th>静默销售额 Silent sales</th></tr>"]
    for d in days:
        out.append(f"<tr><td>{d.day}</td><td>{d.inquiries}</td><td>{d.paid_buyers}</td>"
                   f"<td>{_fmt(d.conversion_rate, '.1%')}</td><td>{d.chat_sales}</td>"
                   f"<td>{d.avg_order_value or '–'}</td><td>{d.refunds}</td>"
                   f"<td>{d.silent_orders}</td><td>{d.silent_sales}</td></tr>")
    out.append("</table>")
    # Over the whole log: buyer-days (a buyer counts once per day, as in the daily figures).
    totals: dict[str, list[int]] = {}
    for a in agents:
        t = totals.setdefault(a.agent or "unassigned", [0, 0, 0])
        t[0] += a.inquiries
        t[1] += a.paid_buyers
        t[2] += a.sales_fen
    ranking = sorted(totals.items(), key=lambda kv: (
        kv[1][0] == 0, -(kv[1][1] / kv[1][0]) if kv[1][0] else 0.0, -kv[1][2], kv[0]))
    out.append("<h3>客服排名 Agent ranking (conversion, then sales)</h3>"
               '<table class="ranking"><tr><th>名次 Rank</th><th>客服 Agent</th>'
               "<th>询单 Inquiries (buyer-days)</th><th>付款 Paid (buyer-days)</th>"
               "<th>转化率 Conversion</th><th>客服销售额 Chat sales</th>"
               "<th>客单价 Avg order</th></tr>")
    for rank, (agent, (inq, paid, sales)) in enumerate(ranking, 1):
        out.append(f"<tr><td>{rank}</td><td>{html.escape(agent)}</td><td>{inq}</td>"
                   f"<td>{paid}</td><td>{_fmt(paid / inq if inq else None, '.1%')}</td>"
                   f"<td>{yuan(sales)}</td>"
                   f"<td>{yuan(per_buyer(sales, paid)) if paid else '–'}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def render_summary(rows: Sequence[DailyFigures], tally: Tally, policies: PolicyBook,
                   conversions: Sequence[Conversion] = (),
                   agents: Sequence[Conversion] = ()) -> str:
    """The whole page: an index, then one section per shop (sorted).

    With ``conversions`` (a log with orders) each shop's section also shows its daily inquiry
    conversion and its agents ranked by conversion, then chat sales.
    """
    platforms: dict[str, str] = {}
    for conv in tally.engine.conversations.values():
        platforms.setdefault(conv.shop_id, conv.platform)
    by_shop: dict[str, list[DailyFigures]] = {}
    for row in rows:
        by_shop.setdefault(row.shop_id, []).append(row)
    shop_conversions: dict[str, list[Conversion]] = {}
    for c in conversions:
        shop_conversions.setdefault(c.shop_id, []).append(c)
        by_shop.setdefault(c.shop_id, [])
    sections = []
    for shop in sorted(by_shop):
        platform = platforms.get(shop, policies.default_platform)
        policy = policies.policy(platform, shop)
        title = reply_rate_kpi(policies.kpis(platform, shop), policy).title
        section = _shop_section(shop, by_shop[shop], tally.breach_hours.get(shop, [0] * 24),
                                policy.reply_rate_target, title)
        if shop in shop_conversions:
            section = section.removesuffix("</section>") + _conversion_section(
                shop, shop_conversions[shop], [a for a in agents if a.shop_id == shop]) \
                + "</section>"
        sections.append(section)
    index = " · ".join(f'<a href="#shop-{html.escape(s)}">{html.escape(s)}</a>'
                       for s in sorted(by_shop))
    return ("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<title>chatwatch 回复率汇总 reply-rate summary</title>"
            f"<style>{_STYLE}</style></head><body>"
            "<h1>chatwatch 回复率汇总 Reply-rate summary</h1>"
            f"<p>{len(by_shop)} 家店铺 shops · {len(rows)} 店铺日 shop-days · "
            "只计入计数时段内的等待 counted waits only</p>"
            f"<nav>{index}</nav>\n" + "\n".join(sections) + "\n</body></html>\n")
