"""Small, generic metrics for detector benchmarks and tests: confusion counts and latency.

Shared by every guard benchmark (PII, leak, injection) so the numbers they print mean the same
thing. Convention for empty denominators: a ratio with nothing to count is *vacuously perfect*
(precision 1.0 when nothing was predicted, recall 1.0 when there were no positives) and the
false-positive rate is 0.0 when there were no negatives; :attr:`Confusion.support` shows when a
figure rests on few or no cases.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Self

__all__ = ["Confusion", "LatencySummary", "confusion", "percentile", "summarize_latency"]


@dataclass(frozen=True)
class Confusion:
    """Counts of a binary decision against the truth, and the ratios derived from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Self) -> Self:
        return type(self)(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def support(self) -> int:
        """Number of true positives in the truth (``tp + fn``)."""
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fpr(self) -> float:
        """False-positive rate: share of true negatives that were flagged."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def accuracy(self) -> float:
        total = self.tp + self.fp + self.fn + self.tn
        return (self.tp + self.tn) / total if total else 1.0


def confusion(truth: Iterable[bool], predicted: Iterable[bool]) -> Confusion:
    """Count a paired sequence of true labels and predictions (they must have the same length)."""
    tp = fp = fn = tn = 0
    for t, p in zip(truth, predicted, strict=True):
        if t and p:
            tp += 1
        elif p:
            fp += 1
        elif t:
            fn += 1
        else:
            tn += 1
    return Confusion(tp, fp, fn, tn)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation; ``nan`` for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, not {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LatencySummary:
    """Latency distribution in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def __str__(self) -> str:
        return (
            f"n={self.count} mean={self.mean_ms:.3f}ms p50={self.p50_ms:.3f}ms "
            f"p95={self.p95_ms:.3f}ms p99={self.p99_ms:.3f}ms max={self.max_ms:.3f}ms"
        )


def summarize_latency(values_ms: Sequence[float]) -> LatencySummary:
    """Mean, p50/p95/p99 and max of ``values_ms`` (all ``nan`` when empty)."""
    if not values_ms:
        return LatencySummary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return LatencySummary(
        count=len(values_ms),
        mean_ms=sum(values_ms) / len(values_ms),
        p50_ms=percentile(values_ms, 50),
        p95_ms=percentile(values_ms, 95),
        p99_ms=percentile(values_ms, 99),
        max_ms=max(values_ms),
    )
