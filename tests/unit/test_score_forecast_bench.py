"""The end-of-day forecast backtest (``bench/score_forecast.py``) on a tiny log, by hand.

Three days of a Taobao shop (3-minute human rate, one unit per round): each day five rounds,
at 10:00 (answered in 30 s), 11:50 and 13:00 (answered after 4 minutes: breached), 16:00 and
20:30 (30 s). The day ends at 3 of 5; at noon it stands at 1 of 2.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bench.score_forecast import Sample, backtest, errors, history_days, other_rules, table
from stream.config import load_settings
from stream.inputs import Record
from tests.unit.test_reply_window import SHANGHAI, ev, to_event

SETTINGS = load_settings(environ={})
DAY0 = datetime(2026, 11, 11, tzinfo=SHANGHAI)
ROUNDS = ((10, 0, 30), (11, 50, 240), (13, 0, 240), (16, 0, 30), (20, 30, 30))


def day(k: int, upto: int = 24) -> list[dict[str, Any]]:
    out = []
    for i, (hour, minute, reply) in enumerate(ROUNDS):
        if hour >= upto:
            break
        at = DAY0 + timedelta(days=k, hours=hour, minutes=minute)
        buyer = f"d{k}b{i}"
        out += [ev("buyer", at, shop="tb", buyer=buyer, platform="taobao"),
                ev("agent", at + timedelta(seconds=reply), shop="tb", buyer=buyer,
                   platform="taobao")]
    return out


def samples() -> list[Sample]:
    log = day(0) + day(1) + day(2, upto=17)  # the log ends on day 2's afternoon
    records = (Record("log", n, b"", to_event(body)) for n, body in enumerate(log))
    return backtest(records, SETTINGS)


def test_each_checkpoint_of_each_whole_day_with_the_day_s_final_rate() -> None:
    found = samples()
    # day 2 is cut at 16:00: no final rate, left out; days 0 and 1 at 12, 15 and 20
    assert sorted({(s.day, s.hour) for s in found}) == [
        (d, h) for d in ("2026-11-11", "2026-11-12") for h in (12, 15, 20)]
    assert {s.kpi for s in found} == {"taobao_3min_human"}
    assert all(s.final_rate == 0.6 and s.final_units == 5 for s in found)
    so_far = {(s.day, s.hour): s.so_far_rate for s in found}
    # by noon 11:50's wait breached (11:53); by 15:00 13:00's too
    assert [so_far[("2026-11-12", h)] for h in (12, 15, 20)] == pytest.approx([0.5, 1 / 3, 0.5])
    assert {s.history_days for s in found if s.day == "2026-11-11"} == {0}


def test_the_forecast_at_noon_from_yesterday_s_hours() -> None:
    noon = next(s for s in samples() if (s.day, s.hour) == ("2026-11-12", 12))
    # yesterday: 5 units, 3 of them from 12:00 on; today 2 so far: 5 expected
    assert noon.history_days == 1 and noon.forecast_units == pytest.approx(5.0)
    # the last hour (11:00-12:59) had one unit, breached: the 3 to come all breach -> 1 of 5
    assert noon.forecast_rate == pytest.approx(0.2)
    # yesterday's share from 12:00 on was 1 of 3: 1 + 1 breached of 5 -> 3 of 5
    assert noon.history_rate == pytest.approx(0.6)
    # today's 1 of 2 times yesterday's later share (1/3) over its earlier one (1/2)
    assert noon.scaled_rate == pytest.approx(0.6)


def test_mean_absolute_errors_per_checkpoint_and_kpi() -> None:
    found = errors(samples())
    assert [(e.hour, e.days) for e in found] == [(12, 1), (15, 1), (20, 1)]
    noon = found[0]
    assert (noon.forecast_pp, noon.so_far_pp, noon.history_pp) == pytest.approx((40, 10, 0))
    assert noon.units_pct == pytest.approx(0.0) and noon.worst_pp == pytest.approx(40)
    assert "| 12:00 | `taobao_3min_human` | 1 | 40.00 | 10.00 | 0.00 |" in table(found)


def test_errors_skip_days_without_history_or_rate_and_average_the_rest() -> None:
    def sample(hist: int, fc: float | None, final: float | None, so_far: float | None,
               units: float = 10.0) -> Sample:
        return Sample("s", "d", "k", 12, hist, fc, units, so_far, None, 0.5, final, 10)

    found = errors([sample(3, 0.8, 0.9, 0.85), sample(3, 0.6, 0.9, None, 12.0),
                    sample(0, 0.1, 0.9, 0.9), sample(3, None, 0.9, 0.9),
                    sample(3, 0.9, None, 0.9)])
    [e] = found
    assert e.days == 2
    assert e.forecast_pp == pytest.approx((10 + 30) / 2)
    assert e.so_far_pp == pytest.approx((5 + 30) / 2)  # no rate so far: the forecast's
    assert e.history_pp == pytest.approx((10 + 30) / 2)  # None: the forecast's
    assert e.scaled_pp == pytest.approx((40 + 40) / 2)
    assert e.units_pct == pytest.approx((0 + 20) / 2) and e.worst_pp == pytest.approx(30)


def test_history_days_prefer_two_same_weekdays() -> None:
    assert history_days(100, [99, 98, 93, 100, 101]) == [99, 98, 93]
    assert history_days(100, [99, 93, 86, 79]) == [93, 86, 79]
    assert history_days(100, range(80, 100)) == [93, 86]


def test_other_rules_without_history_or_units() -> None:
    assert other_rules(0, 0, 0.0, 12, []) == (None, None)
    hours = [0] * 12 + [2] * 12 + [0] * 12 + [1] * 12  # 24 units from noon, 12 breached
    history, scaled = other_rules(4, 0, 10.0, 12, [hours])
    assert history == pytest.approx((10 - 6 * 0.5) / 10)
    assert scaled == pytest.approx(1.0)  # nothing breached so far, no earlier share


def test_the_command_prints_the_table_and_writes_every_sample(tmp_path, capsys) -> None:
    import json

    from bench.score_forecast import main

    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in day(0) + day(1) + day(2, upto=17)))
    out = tmp_path / "samples.json"
    assert main(["--input", str(log), "--json", str(out), "--hours", "20,12"]) == 0
    printed = capsys.readouterr().out
    assert "| 12:00 | `taobao_3min_human` | 1 | 40.00 | 10.00 | 0.00 |" in printed
    written = json.loads(out.read_text())
    assert [e["hour"] for e in written["errors"]] == [12, 20]
    assert len(written["samples"]) == 4  # days 0 and 1 at 12:00 and 20:00
