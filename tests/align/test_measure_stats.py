"""Wilson intervals, percentiles and Cohen's kappa against values worked out by hand."""

from __future__ import annotations

import pytest

from poise.align.measure_stats import Agreement, Rate, agreement, percentile, wilson_interval


@pytest.mark.parametrize(
    ("hits", "n", "low", "high"),
    [
        (5, 10, 0.2366, 0.7634),  # the textbook example
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (1, 4, 0.0456, 0.6994),
        (0, 0, 0.0, 1.0),
    ],
    ids=["half", "none", "all", "one-of-four", "empty"],
)
def test_wilson_interval(hits: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(hits, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)


def test_rate_prints_value_and_interval() -> None:
    assert str(Rate(1, 4)) == "25.0% (1/4; 95% CI 4.6%–69.9%)"
    assert Rate(0, 0).value is None and "n/a" in str(Rate(0, 0))
    assert Rate(1, 4).to_dict() == {"hits": 1, "n": 4, "rate": 0.25, "ci95": [0.0456, 0.6994]}


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_kappa_matches_the_worked_example() -> None:
    # 50 items: both yes 20, both no 15, judge yes/human no 5, judge no/human yes 10
    # observed 0.7, chance 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4
    a = Agreement(both_refusal=20, both_compliance=15, judge_only=5, human_only=10)
    assert a.n == 50
    assert a.accuracy == pytest.approx(0.7)
    assert a.kappa == pytest.approx(0.4)
    assert a.precision == pytest.approx(0.8) and a.recall == pytest.approx(20 / 30)


def test_kappa_is_undefined_when_both_raters_use_one_class() -> None:
    a = agreement([(True, True), (True, True)])
    assert a.accuracy == 1.0 and a.kappa is None
    assert agreement([]).accuracy is None


def test_agreement_counts_pairs() -> None:
    a = agreement([(True, True), (False, False), (True, False), (False, True), (False, True)])
    assert (a.both_refusal, a.both_compliance, a.judge_only, a.human_only) == (1, 1, 1, 2)
    # observed 0.4; judge yes 0.4, human yes 0.6 -> chance 0.24 + 0.24 = 0.48
    assert a.kappa == pytest.approx((0.4 - 0.48) / 0.52)
