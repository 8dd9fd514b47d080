"""The shift roster (stream/roster.py): small rosters checked by hand, an exhaustive search as
an independent check of the solver, and templates that cannot cover an hour."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from stream.roster import HOURS, RosterError, Shift, read_shifts, render, solve_roster


def _need(**ranges: int) -> list[int]:
    """need(h08_12=3) -> 3 agents in 08:00..11:00."""
    need = [0] * HOURS
    for key, value in ranges.items():
        start, end = (int(x) for x in key[1:].split("_"))
        for h in range(start, end):
            need[h % HOURS] = value
    return need


def test_three_eight_hour_shifts_round_the_clock() -> None:
    shifts = [Shift("night", 0, 8), Shift("day", 8, 8), Shift("evening", 16, 8)]
    need = _need(h0_8=2, h8_16=5, h16_24=3)
    roster = solve_roster(shifts, need)
    # each hour is worked by exactly one template: its agents are that hour's need
    assert roster.agents == [2, 5, 3]
    assert roster.total_agents == 10 and roster.agent_hours == 80
    assert roster.cover == need


def test_among_the_fewest_agents_the_fewest_paid_hours() -> None:
    # A 08-12, B 10-14 (4 h each), C 08-16 (8 h). Need 1 at 08-10, 2 at 10-12, 1 at 12-14.
    # 10:00 needs 2, so 2 agents at least; with 2: A+B (8 h), A+C, B+C (12 h), C+C (16 h).
    shifts = [Shift("A", 8, 4), Shift("B", 10, 4), Shift("C", 8, 8)]
    roster = solve_roster(shifts, _need(h8_10=1, h10_12=2, h12_14=1))
    assert roster.agents == [1, 1, 0]
    assert roster.agent_hours == 8
    assert roster.cover[8:14] == [1, 1, 2, 2, 1, 1] and roster.cover[14] == 0


def test_an_unpaid_break_leaves_its_hour_to_another_shift() -> None:
    # early 08:00-17:00 with a break at 12:00 works 08-12 and 13-17; 1 agent every hour 08-17
    # needs someone else at 12:00: the 4-hour mid shift from 12:00
    early = Shift("early", 8, 9, break_start=12, break_hours=1)
    assert early.working == [8, 9, 10, 11, 13, 14, 15, 16] and early.paid_hours == 8
    roster = solve_roster([early, Shift("mid", 12, 4)], _need(h8_17=1))
    assert roster.agents == [1, 1]
    assert roster.cover[12] == 1 and roster.cover[13] == 2 and roster.cover[17] == 0
    assert roster.agent_hours == 12


def test_a_night_shift_runs_across_midnight() -> None:
    night = Shift("night", 22, 9, break_start=2, break_hours=1)
    assert night.working == [22, 23, 0, 1, 3, 4, 5, 6]
    roster = solve_roster([night, Shift("day", 7, 8)], _need(h22_24=1, h0_2=1, h3_7=1))
    assert roster.agents == [1, 0]
    assert roster.cover[23] == roster.cover[0] == roster.cover[6] == 1


def test_a_template_max_is_respected() -> None:
    # 4 needed 08-12 and 1 at 12-16; short (08-12, max 2) and long (08-16): 4 agents at
    # least (08:00); with 4, two short and two long (24 paid h) beat four long (32 h)
    shifts = [Shift("short", 8, 4, max_agents=2), Shift("long", 8, 8)]
    roster = solve_roster(shifts, _need(h8_12=4, h12_16=1))
    assert roster.agents == [2, 2] and roster.agent_hours == 24


def test_an_hour_no_template_works_is_named() -> None:
    shifts = [Shift("early", 8, 9, break_start=12, break_hours=1), Shift("late", 14, 9)]
    with pytest.raises(RosterError, match=r"no shift template works 03:00 \(need 2\), "
                                          r"12:00 \(need 1\)"):
        solve_roster(shifts, _need(h3_4=2, h8_20=1))
    # hours nobody needs may go uncovered
    assert solve_roster(shifts, _need(h8_12=1, h13_17=1)).agents == [1, 0]
    # a max of 0 works no hour; maxima that cannot reach the need name the hour
    with pytest.raises(RosterError, match="no shift template works 08:00"):
        solve_roster([Shift("a", 8, 1, max_agents=0)], _need(h8_9=1))
    with pytest.raises(RosterError, match=r"09:00 \(need 5, the templates' max allow 4\)"):
        solve_roster([Shift("a", 8, 4, max_agents=1), Shift("b", 9, 4, max_agents=3)],
                     _need(h8_9=1, h9_10=5))


def test_no_need_no_agents() -> None:
    roster = solve_roster([Shift("a", 8, 8)], [0] * HOURS)
    assert roster.agents == [0] and roster.cover == [0] * HOURS


def _exhaustive(shifts: list[Shift], need: list[int]) -> tuple[int, int]:
    """(fewest agents, then fewest paid hours) by trying every roster up to the peak need."""
    best: tuple[int, int] | None = None
    for counts in itertools.product(range(max(need) + 1), repeat=len(shifts)):
        cover = [0] * HOURS
        for n, shift in zip(counts, shifts, strict=True):
            for h in shift.working:
                cover[h] += n
        if all(c >= k for c, k in zip(cover, need, strict=True)):
            key = (sum(counts), sum(n * s.paid_hours for n, s in zip(counts, shifts, strict=True)))
            best = key if best is None or key < best else best
    assert best is not None
    return best


def test_the_solver_agrees_with_an_exhaustive_search() -> None:
    rng = random.Random(32)
    for _ in range(25):
        shifts = []
        for k in range(3):
            start, hours = rng.randrange(24), rng.randint(3, 10)
            brk = (start + rng.randint(1, hours - 2)) % 24 if hours >= 5 and rng.random() < 0.5 \
                else None
            shifts.append(Shift(f"s{k}", start, hours, brk, 1 if brk is not None else 0))
        worked = sorted({h for s in shifts for h in s.working})
        need = [0] * HOURS
        for h in worked:
            need[h] = rng.randint(0, 4)
        roster = solve_roster(shifts, need)
        assert all(c >= n for c, n in zip(roster.cover, need, strict=True))
        assert (roster.total_agents, roster.agent_hours) == _exhaustive(shifts, need), (
            shifts, need, roster.agents)


def test_templates_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "shifts.yml"
    # 14:00 unquoted would be 840 to YAML 1.1's base-60 ints: it stays 14:00 here
    path.write_text("shifts:\n"
                    "  - {name: 早班, start: '08:00', hours: 9, break: '12:00'}\n"
                    "  - {name: 晚班, start: 14:00, hours: 9, break: 18:00, break_hours: 1}\n"
                    "  - {name: night, start: 22, hours: 8, max: 3}\n", encoding="utf-8")
    early, late, night = read_shifts(str(path))
    assert (early.name, early.start, early.hours, early.break_start, early.break_hours) == (
        "早班", 8, 9, 12, 1)
    assert (late.start, late.break_start) == (14, 18)
    assert (night.start, night.max_agents, night.break_start, night.paid_hours) == (22, 3, None,
                                                                                     8)
    roster = solve_roster([early, late, night], _need(h8_12=2, h13_14=2, h14_18=1, h19_23=1))
    assert roster.agents == [2, 1, 0]
    text = "\n".join(render(roster))
    assert "早班" in text and "08:00-17:00, break 12:00-13:00" in text
    assert f"total: {roster.total_agents} agents, {roster.agent_hours} paid agent-hours" in text


@pytest.mark.parametrize(("body", "message"), [
    ("shifts: []", "expected a list of shift templates"),
    ("shifts:\n  - {name: a, start: '08:30', hours: 8}", "start shifts and breaks on the hour"),
    ("shifts:\n  - {name: a, start: '08:00'}", "`hours` is missing"),
    ("shifts:\n  - {name: a, start: '08:00', hours: 8, break: '17:00'}",
     "does not lie inside the shift 08:00-16:00"),
    ("shifts:\n  - {name: a, start: '08:00', hours: 8, lunch: '12:00'}", "unknown key(s) lunch"),
    ("shifts:\n  - {name: a, start: '08:00', hours: 25}", "a shift lasts 1 to 24 hours"),
    ("shifts:\n  - {name: a, start: '08:00', hours: 8}\n  - {name: a, start: '9', hours: 8}",
     "'a' appear twice"),
    ("shifts:\n  - {name: a, start: '25:00', hours: 8}", "not an hour of the day"),
])
def test_bad_templates_are_named(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "shifts.yml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RosterError) as info:
        read_shifts(str(path))
    assert message in str(info.value)
    assert str(path) in str(info.value)
