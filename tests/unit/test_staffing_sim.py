"""The staffing advice against a simulated queue (DOMAIN.md §6, Erlang C).

Buyers arrive at random (Poisson) and each wait takes an agent a random (exponential) time to
handle; N agents take the waits first come, first served, and each reply goes out when its
handling is done. The chat events of that queue run through the engine as any log would, and
the KPI is read from the engine's own daily figures. With the number of agents the advice
gives, the share of waits answered within the window meets the target; with one fewer it
falls short. And the live advice, computed from the same events (arrivals and busy time per
reply over 15 minutes), recovers the inputs and the number.
"""

from __future__ import annotations

import heapq
import json
import random
import statistics

from stream.config import settings_from_mapping
from stream.core.engine import Engine
from stream.core.staffing import agents_needed, policy_kpis, service_level
from stream.schema import decode

START = 1794355200000  # 2026-11-11T08:00:00+08:00, the start of counted hours
RATE = 0.1  # waits per second (360 an hour)
HANDLE = 60.0  # mean seconds an agent is busy per wait
WINDOW, TARGET = 120, 0.80  # the KPI: 80 % of waits answered within 2 minutes
HOURS = 12


def queue_events(agents: int, seed: int) -> list[tuple[int, bytes]]:
    """(ts ms, event JSON) of the simulated queue, in time order."""
    rng = random.Random(seed)
    free = [(0.0, k) for k in range(agents)]  # (free from, agent) heap
    heapq.heapify(free)
    t = 0.0
    out: list[tuple[int, bytes]] = []
    n = 0
    while True:
        t += rng.expovariate(RATE)
        if t > HOURS * 3600:
            break
        free_from, agent = heapq.heappop(free)
        done = max(t, free_from) + rng.expovariate(1 / HANDLE)
        heapq.heappush(free, (done, agent))
        n += 1
        base = {"shop_id": "s1", "buyer_id": f"b{n}", "platform": "taobao", "type": "message"}
        ask = START + int(t * 1000)
        reply = max(START + int(done * 1000), ask)
        out.append((ask, json.dumps({**base, "event_id": f"q{n}", "ts": ask,
                                     "sender": "buyer", "text": "在吗"}).encode()))
        out.append((reply, json.dumps({**base, "event_id": f"r{n}", "ts": reply,
                                       "sender": "agent", "agent_id": f"a{agent}",
                                       "text": "亲，在的"}).encode()))
    out.sort(key=lambda e: e[0])
    return out


def run(agents: int, seed: int = 7) -> tuple[float, list[tuple[float, float, int | None]]]:
    """The KPI from the engine's figures, and the live advice every 15 minutes."""
    settings = settings_from_mapping({"shops": {"s1": {"window_seconds": WINDOW,
                                                       "reply_rate_target": TARGET}}}, {})
    engine = Engine(settings.policies)
    kpi = policy_kpis(WINDOW, TARGET)
    advice: list[tuple[float, float, int | None]] = []
    next_look = START + 30 * 60_000
    for ts, raw in queue_events(agents, seed):
        while ts >= next_look:
            (a,) = engine.staffing.advise("s1", next_look, kpi)
            assert a.handle_seconds is not None
            advice.append((a.rate_per_hour, a.handle_seconds, a.agents_needed))
            next_look += 15 * 60_000
        engine.apply(decode(raw))  # type: ignore[arg-type]
    engine.finish()
    rows = engine.report()
    waits = sum(r.waits for r in rows)
    breached = sum(r.waits_breached for r in rows)
    assert waits > 0.9 * RATE * HOURS * 3600
    return (waits - breached) / waits, advice


def test_the_advised_agents_meet_the_target_and_one_fewer_falls_short() -> None:
    advised = agents_needed(RATE, HANDLE, WINDOW, TARGET)
    assert advised == 8
    level, advice = run(advised)
    fewer, _ = run(advised - 1)
    theory = service_level(RATE, HANDLE, advised, WINDOW)
    theory_fewer = service_level(RATE, HANDLE, advised - 1, WINDOW)
    assert level >= TARGET, (level, theory)
    assert fewer < TARGET, (fewer, theory_fewer)
    # the simulated KPI is where the theory puts it
    assert abs(level - theory) < 0.03 and abs(fewer - theory_fewer) < 0.05

    # The live advice, from 15-minute windows of the same events, sees the inputs...
    rates = [r for r, _, _ in advice]
    handles = [h for _, h, _ in advice]
    assert abs(statistics.median(rates) - RATE * 3600) < 0.15 * RATE * 3600
    assert abs(statistics.mean(handles) - HANDLE) < 0.1 * HANDLE
    # ...and advises the number the theory gives, give or take one, most of the day.
    numbers = [n for _, _, n in advice]
    assert all(n is not None for n in numbers)
    assert statistics.median([n for n in numbers if n is not None]) in (advised - 1, advised,
                                                                        advised + 1)
    close = sum(1 for n in numbers if n is not None and abs(n - advised) <= 1)
    assert close >= 0.7 * len(numbers)
