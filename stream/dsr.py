"""``chatwatch dsr``: what new ratings do to a rolling-average score (the DSR, 动态评分).

A shop's DSR is the plain average of the 1-5 star ratings of its rolling window (Taobao: the
last 180 days). With ``n`` ratings averaging ``S`` (``S × n`` stars), ``k`` more ratings of
``v`` stars give ``(S n + v k) ÷ (n + k)``, which reaches a target ``T`` once

    k >= n (T − S) ÷ (v − T)          (only ratings above the target can lift it there)

and one more rating of ``low`` stars costs ``(S − low) ÷ (n + 1)``, won back by
``⌈(S − low) ÷ (v − S)⌉`` ratings of ``v``. All of it is exact rational arithmetic on the
decimals as written (``Fraction``), so 479 and 480 are never confused by rounding.

A score is usually shown rounded. ``S × n`` must be a whole number of stars; when it is not,
the shown score was rounded to its last digit, and the answer is given for every whole number
of stars that rounds to it (a range). Ratings that leave the window meanwhile are not known
here: the answer assumes none do.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import click
import msgspec

from stream.errors import ChatwatchError

LOWEST, HIGHEST = 1, 5  # stars


class DsrError(ChatwatchError):
    """The score, count or target cannot give an answer: the message says why."""


def ratings_to_reach(stars: Fraction, count: int, target: Fraction, value: int) -> int:
    """The fewest ratings of ``value`` that lift ``stars`` over ``count`` ratings to ``target``."""
    if stars >= target * count:
        return 0
    if value <= target:
        raise DsrError(f"ratings of {value} can never lift the average to {_dec(target)}: only "
                       f"ratings above the target can (try --value {HIGHEST})")
    return math.ceil((target * count - stars) / (value - target))


def _dec(x: Fraction, places: int = 6) -> str:
    """An exact fraction as a decimal string, rounded half-up at ``places`` (trailing 0s cut)."""
    q = Decimal(x.numerator) / Decimal(x.denominator)
    text = f"{q.quantize(Decimal(1).scaleb(-places)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class Answer:
    """Everything ``chatwatch dsr`` says, exact."""

    score: Decimal
    count: int
    target: Decimal
    value: int
    low: int
    stars: Fraction  # S × n as given
    stars_range: tuple[int, int] | None  # whole-star sums the rounded score stands for
    needed: int  # at S × n (or at the range's low end of stars: the most needed)
    needed_range: tuple[int, int] | None  # (fewest, most) over the range
    score_after: Fraction  # the average after ``needed`` ratings of ``value``
    low_after: Fraction  # the average after one more rating of ``low``
    win_back: int | None  # ratings of ``value`` that restore the score after that one

    @property
    def low_cost(self) -> Fraction:
        """How much one more ``low`` rating takes off the score."""
        return self.stars / self.count - self.low_after

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object: exact values as decimal strings."""
        return {
            "score": str(self.score), "ratings": self.count, "target": str(self.target),
            "value": self.value, "stars": _dec(self.stars),
            "stars_range": None if self.stars_range is None else list(self.stars_range),
            "needed": self.needed,
            "needed_range": None if self.needed_range is None else list(self.needed_range),
            "score_after": _dec(self.score_after),
            "low": {"value": self.low, "score_after": _dec(self.low_after),
                    "cost": _dec(self.low_cost), "win_back": self.win_back},
        }


def answer(score: Decimal, count: int, target: Decimal, value: int = HIGHEST,
           low: int = LOWEST) -> Answer:
    """The ratings that reach ``target`` and the cost of one more ``low`` rating."""
    if count < 1:
        raise DsrError(f"--ratings {count}: the score averages at least one rating")
    for name, x in (("--score", score), ("--target", target)):
        if not LOWEST <= x <= HIGHEST:
            raise DsrError(f"{name} {x}: a DSR lies between {LOWEST} and {HIGHEST}")
    for name, v in (("--value", value), ("--low", low)):
        if not LOWEST <= v <= HIGHEST:
            raise DsrError(f"{name} {v}: a rating is {LOWEST} to {HIGHEST} stars")
    s, t = Fraction(score), Fraction(target)
    stars = s * count
    stars_range: tuple[int, int] | None = None
    needed_range: tuple[int, int] | None = None
    if stars.denominator != 1:  # a rounded score: every whole-star sum that rounds to it
        exponent = int(score.as_tuple().exponent)  # 4.72 -> -2: shown to 0.01
        half = Fraction(10) ** exponent / 2
        lo = max(math.ceil((s - half) * count), LOWEST * count)
        hi = min(math.ceil((s + half) * count) - 1, HIGHEST * count)
        if lo > hi:
            raise DsrError(f"no whole number of stars over {count} ratings averages {score}")
        stars_range = (lo, hi)
        needed_range = (ratings_to_reach(Fraction(hi), count, t, value),
                        ratings_to_reach(Fraction(lo), count, t, value))
        needed = needed_range[1]
        stars_at = Fraction(lo)
    else:
        needed = ratings_to_reach(stars, count, t, value)
        stars_at = stars
    after = (stars_at + value * needed) / (count + needed)
    low_after = (stars + low) / (count + 1)
    current = stars / count
    win_back: int | None
    if low >= current:
        win_back = 0
    elif value <= current:
        win_back = None  # ratings of value cannot lift it back
    else:
        win_back = math.ceil((current - low) / (value - current))
    return Answer(score, count, target, value, low, stars, stars_range, needed, needed_range,
                  after, low_after, win_back)


def render(a: Answer) -> str:
    """The terminal answer."""
    lines = [f"chatwatch dsr: {a.score} over {a.count:,} ratings, target {a.target}"]
    if a.stars_range is None:
        lines.append(f"stars so far: {a.score} × {a.count:,} = {_dec(a.stars)}")
    else:
        lo, hi = a.stars_range
        lines.append(f"stars so far: {a.score} × {a.count:,} = {_dec(a.stars)} is not a whole "
                     f"number, so {a.score} is rounded: {lo:,} to {hi:,} stars")
    if a.needed == 0 and (a.needed_range is None or a.needed_range[1] == 0):
        lines.append(f"already at or above {a.target}: no rating needed")
    elif a.needed_range is not None and a.needed_range[0] != a.needed_range[1]:
        assert a.stars_range is not None
        lo, hi = a.stars_range
        lines.append(f"{a.needed_range[0]:,} to {a.needed_range[1]:,} ratings of {a.value} "
                     f"raise it to {a.target}: {a.needed_range[0]:,} if the true score is "
                     f"{_dec(Fraction(hi, a.count))} ({hi:,} stars), {a.needed_range[1]:,} if "
                     f"it is {_dec(Fraction(lo, a.count))} ({lo:,} stars)")
    else:
        lines.append(f"{a.needed:,} ratings of {a.value} raise it to {_dec(a.score_after)} "
                     f"(≥ {a.target}); {a.needed - 1:,} would not")
    cost = (f"one more rating of {a.low} takes it to {_dec(a.low_after)} "
            f"(−{_dec(a.low_cost)})")
    if a.win_back:
        cost += f"; {a.win_back:,} ratings of {a.value} win that back"
    elif a.win_back is None:
        cost += f"; ratings of {a.value} cannot win that back"
    lines.append(cost)
    lines.append("assumes no rating leaves the rolling window meanwhile")
    return "\n".join(lines)


def _number(name: str) -> Any:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
        if value is None:
            return None
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise click.BadParameter(f"{value!r} is not a number", param_hint=name) from None
        if not number.is_finite():
            raise click.BadParameter(f"{value!r} is not a number", param_hint=name)
        return number
    return convert


@click.command("dsr")
@click.option("--score", required=True, callback=_number("--score"),
              help="The shop's score now (e.g. 4.72), as shown.")
@click.option("--ratings", "count", required=True, type=click.IntRange(min=1),
              help="How many ratings the score averages (the rolling window's count).")
@click.option("--target", required=True, callback=_number("--target"),
              help="The score to reach (e.g. 4.80).")
@click.option("--value", type=click.IntRange(LOWEST, HIGHEST), default=HIGHEST,
              show_default=True, help="Stars of each new rating.")
@click.option("--low", type=click.IntRange(LOWEST, HIGHEST), default=LOWEST, show_default=True,
              help="Stars of the one low rating whose cost is shown.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
def dsr_command(score: Decimal, count: int, target: Decimal, value: int, low: int,
                as_json: bool) -> None:
    """How many ratings lift a DSR to a target, and what one more low rating costs."""
    result = answer(score, count, target, value, low)
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode(result.as_dict()) + b"\n")
    else:
        click.echo(render(result))
