"""``chatwatch dsr`` (stream/dsr.py): cases computed by hand, exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from click.testing import CliRunner

from stream.cli import cli
from stream.dsr import DsrError, answer, ratings_to_reach


def test_ratings_of_five_to_lift_472_to_480() -> None:
    # 4.72 × 1,200 = 5,664 stars; k fives reach 4.80 when 5,664 + 5k >= 4.8 (1,200 + k),
    # i.e. 0.2 k >= 96: k = 480, and (5,664 + 2,400) ÷ 1,680 = 8,064 ÷ 1,680 = 4.8 exactly
    a = answer(Decimal("4.72"), 1200, Decimal("4.80"))
    assert a.stars == 5664 and a.stars_range is None
    assert a.needed == 480
    assert a.score_after == Fraction(8064, 1680) == Fraction(24, 5)
    # 479 fall short: 8,059 ÷ 1,679 = 4.79988...
    assert Fraction(5664 + 5 * 479, 1200 + 479) < Fraction("4.8")


def test_what_one_more_low_rating_costs() -> None:
    a = answer(Decimal("4.72"), 1200, Decimal("4.80"))
    # one 1-star: 5,665 ÷ 1,201 = 4.716902..., 3.72 ÷ 1,201 = 0.0030974 lower
    assert a.low_after == Fraction(5665, 1201)
    assert a.low_cost == Fraction("3.72") / 1201
    # won back by k fives once (5,665 + 5k) ÷ (1,201 + k) >= 4.72: 0.28 k >= 3.72, k = 14
    # (13.29 rounded up): 5,735 ÷ 1,215 = 4.72016 but 5,730 ÷ 1,214 = 4.71993
    assert a.win_back == 14
    assert Fraction(5665 + 5 * 13, 1214) < Fraction("4.72") <= Fraction(5665 + 5 * 14, 1215)
    # a 3-star costs (4.72 − 3) ÷ 1,201 and takes ⌈1.72 ÷ 0.28⌉ = 7 fives to win back
    three = answer(Decimal("4.72"), 1200, Decimal("4.80"), low=3)
    assert three.low_cost == Fraction("1.72") / 1201 and three.win_back == 7


def test_ratings_of_another_value() -> None:
    # from 4.5 over 100 (450 stars) to 4.6 with fours: never; with fives: 0.4 k >= 10, k = 25
    with pytest.raises(DsrError, match="ratings of 4 can never lift the average to 4.6"):
        answer(Decimal("4.5"), 100, Decimal("4.6"), value=4)
    assert answer(Decimal("4.5"), 100, Decimal("4.6")).needed == 25
    # from 3.0 over 10 to 3.5 with fours: 30 + 4k >= 3.5 (10 + k), 0.5 k >= 5, k = 10
    assert answer(Decimal("3.0"), 10, Decimal("3.5"), value=4).needed == 10
    # already there
    assert answer(Decimal("4.85"), 200, Decimal("4.80")).needed == 0
    assert ratings_to_reach(Fraction(960), 200, Fraction("4.8"), 5) == 0


def test_a_rounded_score_gives_the_range_it_stands_for() -> None:
    # 4.72 × 1,201 = 5,668.72 stars is not whole: 4.72 is rounded, the true sum is a whole
    # number in [4.715 × 1,201, 4.725 × 1,201) = [5,662.715, 5,674.725): 5,663 to 5,674.
    # At 5,674: 0.2 k >= 5,764.8 − 5,674 = 90.8, k = 454; at 5,663: 0.2 k >= 101.8, k = 509
    a = answer(Decimal("4.72"), 1201, Decimal("4.80"))
    assert a.stars_range == (5663, 5674)
    assert a.needed_range == (454, 509) and a.needed == 509
    # 4.7 over 3 ratings: 14.1 stars; only 14 rounds to 4.7 (14 ÷ 3 = 4.67); to 4.8 with
    # fives: 14 + 5k >= 4.8 (3 + k), 0.2 k >= 0.4, k = 2
    small = answer(Decimal("4.7"), 3, Decimal("4.8"))
    assert small.stars_range == (14, 14) and small.needed_range == (2, 2)
    with pytest.raises(DsrError, match="no whole number of stars"):
        answer(Decimal("4.71"), 2, Decimal("4.8"))  # 9.42: 9.41..9.43 holds no whole number


def test_out_of_range_inputs_are_refused() -> None:
    with pytest.raises(DsrError, match="between 1 and 5"):
        answer(Decimal("5.2"), 10, Decimal("4.8"))
    with pytest.raises(DsrError, match="at least one rating"):
        answer(Decimal("4.5"), 0, Decimal("4.8"))


def test_the_command() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["dsr", "--score", "4.72", "--ratings", "1200", "--target",
                                 "4.80"])
    assert result.exit_code == 0, result.output
    assert "480 ratings of 5 raise it to 4.8 (≥ 4.80); 479 would not" in result.output
    assert "one more rating of 1 takes it to 4.716903 (−0.003097); 14 ratings of 5 win that " \
           "back" in result.output
    data = json.loads(runner.invoke(cli, ["dsr", "--score", "4.72", "--ratings", "1200",
                                          "--target", "4.80", "--json"]).stdout)
    assert data["needed"] == 480 and data["stars"] == "5664"
    assert data["low"] == {"value": 1, "score_after": "4.716903", "cost": "0.003097",
                           "win_back": 14}
    refused = runner.invoke(cli, ["dsr", "--score", "4.72", "--ratings", "1200", "--target",
                                  "4.80", "--value", "4"])
    assert isinstance(refused.exception, DsrError)
