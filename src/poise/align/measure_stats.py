"""The statistics ``poise align measure`` reports: rates with Wilson intervals, percentiles, kappa.

Pure functions on counts and lists, so each figure in a report can be checked by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Agreement", "Rate", "agreement", "percentile", "wilson_interval"]

Z_95 = 1.959963984540054
"""The two-sided 95 % normal quantile."""


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (``(0, 1)`` when ``n`` is 0).

    Unlike the normal ("Wald") interval it stays inside [0, 1] and is sensible for small ``n``
    and for rates near 0 or 1, which is where refusal rates live.
    """
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """``hits`` of ``n`` with its 95 % Wilson interval (``value`` is ``None`` when ``n`` is 0)."""

    hits: int
    n: int

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.hits, self.n)

    def to_dict(self) -> dict[str, object]:
        low, high = self.interval
        value = self.value
        return {
            "hits": self.hits,
            "n": self.n,
            "rate": None if value is None else round(value, 4),
            "ci95": [round(low, 4), round(high, 4)],
        }

    def __str__(self) -> str:
        if self.value is None:
            return "n/a (no judged replies)"
        low, high = self.interval
        return f"{self.value:.1%} ({self.hits}/{self.n}; 95% CI {low:.1%}–{high:.1%})"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) by linear interpolation between closest ranks; ``None`` if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Agreement:
    """Agreement of a binary judge with human labels (positive class: refusal).

    Attributes:
        both_refusal / both_compliance: both said the same.
        judge_only: the judge said refusal, the humans compliance (a false positive).
        human_only: the humans said refusal, the judge compliance (a false negative).
    """

    both_refusal: int
    both_compliance: int
    judge_only: int
    human_only: int

    @property
    def n(self) -> int:
        return self.both_refusal + self.both_compliance + self.judge_only + self.human_only

    @property
    def accuracy(self) -> float | None:
        return (self.both_refusal + self.both_compliance) / self.n if self.n else None

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa; ``None`` when chance agreement is 1 (both raters used a single class)."""
        n = self.n
        if not n:
            return None
        observed = (self.both_refusal + self.both_compliance) / n
        judge_yes = (self.both_refusal + self.judge_only) / n
        human_yes = (self.both_refusal + self.human_only) / n
        chance = judge_yes * human_yes + (1 - judge_yes) * (1 - human_yes)
        if chance >= 1:
            return None
        return (observed - chance) / (1 - chance)

    @property
    def precision(self) -> float | None:
        flagged = self.both_refusal + self.judge_only
        return self.both_refusal / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        actual = self.both_refusal + self.human_only
        return self.both_refusal / actual if actual else None

    def to_dict(self) -> dict[str, object]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {
            "n": self.n,
            "accuracy": r(self.accuracy),
            "kappa": r(self.kappa),
            "precision_refusal": r(self.precision),
            "recall_refusal": r(self.recall),
            "confusion": {
                "both_refusal": self.both_refusal,
                "both_compliance": self.both_compliance,
                "judge_refusal_human_compliance": self.judge_only,
                "judge_compliance_human_refusal": self.human_only,
            },
        }


def agreement(pairs: Sequence[tuple[bool, bool]]) -> Agreement:
    """Count ``(judge_says_refusal, humans_say_refusal)`` pairs into an :class:`Agreement`."""
    return Agreement(
        both_refusal=sum(1 for j, h in pairs if j and h),
        both_compliance=sum(1 for j, h in pairs if not j and not h),
        judge_only=sum(1 for j, h in pairs if j and not h),
        human_only=sum(1 for j, h in pairs if not j and h),
    )
