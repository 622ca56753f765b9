import math

import pytest

from poise.guard.metrics import Confusion, confusion, percentile, summarize_latency


@pytest.mark.parametrize(
    ("truth", "pred", "expected"),
    [
        ([True, True, False, False], [True, False, True, False], Confusion(1, 1, 1, 1)),
        ([True, True], [True, True], Confusion(tp=2)),
        ([False, False], [False, True], Confusion(fp=1, tn=1)),
        ([], [], Confusion()),
    ],
    ids=["mixed", "all-correct-positives", "false-positive", "empty"],
)
def test_confusion_counts_pairs(truth, pred, expected):
    assert confusion(truth, pred) == expected


def test_ratios_follow_their_definitions():
    c = Confusion(tp=8, fp=2, fn=4, tn=6)
    assert c.precision == pytest.approx(0.8)
    assert c.recall == pytest.approx(8 / 12)
    assert c.f1 == pytest.approx(2 * 0.8 * (8 / 12) / (0.8 + 8 / 12))
    assert c.fpr == pytest.approx(0.25)
    assert c.accuracy == pytest.approx(0.7)
    assert c.support == 12


def test_empty_denominators_are_vacuous():
    c = Confusion()
    assert (c.precision, c.recall, c.fpr) == (1.0, 1.0, 0.0)
    assert Confusion(fn=3).f1 == 0.0


def test_confusions_add_up():
    assert Confusion(1, 2, 3, 4) + Confusion(1, 1, 1, 1) == Confusion(2, 3, 4, 5)


def test_confusion_rejects_unequal_lengths():
    with pytest.raises(ValueError):
        confusion([True], [True, False])


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0, 1.0), (50, 2.5), (100, 4.0), (25, 1.75)],
    ids=["min", "median", "max", "interpolated"],
)
def test_percentile_interpolates_linearly(q, expected):
    assert percentile([4.0, 1.0, 3.0, 2.0], q) == pytest.approx(expected)


def test_percentile_rejects_out_of_range_and_handles_empty():
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    assert math.isnan(percentile([], 50))


def test_latency_summary():
    s = summarize_latency([1.0, 2.0, 3.0])
    assert (s.count, s.mean_ms, s.p50_ms, s.max_ms) == (3, 2.0, 2.0, 3.0)
    assert "p95=" in str(s)
    assert summarize_latency([]).count == 0
