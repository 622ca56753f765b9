"""Detection metrics: precision, recall, F1 and FPR per category, language and source, plus latency.

Input is any iterable of :class:`~poise.guard.injection.dataset.Example` or a JSONL file of
``{"text", "label": "attack"|"benign", "category"?, "lang"?, "source"?}``. Attacks are grouped by
category (recall), benign texts by source (false-positive rate), both by language.

    python -m poise.guard.injection.evaluate eval.jsonl [--no-ml]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from poise.guard.injection.dataset import Example
from poise.guard.metrics import Confusion
from poise.guard.types import DetectionContext, Detector

__all__ = [
    "EvalReport",
    "GroupMetrics",
    "OperatingPoints",
    "evaluate",
    "example_context",
    "format_operating_point",
    "format_report",
    "load_jsonl",
    "operating_points",
    "percentile",
]


@dataclass(frozen=True)
class GroupMetrics(Confusion):
    """Confusion counts of one group (attack = positive) and the rates derived from them.

    The ratios are :class:`~poise.guard.metrics.Confusion`'s, with its convention for empty
    denominators; ``+`` pools two groups.
    """

    @property
    def n_attack(self) -> int:
        return self.tp + self.fn

    @property
    def n_benign(self) -> int:
        return self.fp + self.tn

    def add(self, attack: bool, flagged: bool) -> GroupMetrics:
        return GroupMetrics(
            self.tp + (attack and flagged),
            self.fp + (not attack and flagged),
            self.fn + (attack and not flagged),
            self.tn + (not attack and not flagged),
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "n_attack": self.n_attack,
            "n_benign": self.n_benign,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "fpr": round(self.fpr, 4),
        }


@dataclass(frozen=True)
class EvalReport:
    """Metrics of one detector on one labelled set."""

    detector: str
    overall: GroupMetrics
    by_category: dict[str, GroupMetrics] = field(default_factory=dict)
    by_lang: dict[str, GroupMetrics] = field(default_factory=dict)
    by_source: dict[str, GroupMetrics] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    misses: tuple[str, ...] = ()
    false_positives: tuple[str, ...] = ()
    scores: tuple[tuple[bool, float], ...] = ()
    """``(is_attack, detector score)`` per example, in order: for threshold-free operating points."""

    def as_dict(self) -> dict[str, object]:
        return {
            "detector": self.detector,
            "overall": self.overall.as_dict(),
            "by_category": {k: v.as_dict() for k, v in sorted(self.by_category.items())},
            "by_lang": {k: v.as_dict() for k, v in sorted(self.by_lang.items())},
            "by_source": {k: v.as_dict() for k, v in sorted(self.by_source.items())},
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True)
class OperatingPoints:
    """The best trade-offs a labelled set allows, with the threshold picked *on that set* (an oracle).

    They say how far a detector is from a floor such as "recall >= 95 % at FPR <= 2 %"; they are
    not the shipped operating point, whose threshold was chosen on the validation split.
    """

    recall_at_fpr: float
    """Highest recall whose FPR stays within :attr:`max_fpr`."""
    fpr_at_recall: float
    """Lowest FPR whose recall reaches :attr:`min_recall`."""
    max_fpr: float
    min_recall: float

    def as_dict(self) -> dict[str, float]:
        return {
            f"recall_at_fpr_{self.max_fpr:g}": round(self.recall_at_fpr, 4),
            f"fpr_at_recall_{self.min_recall:g}": round(self.fpr_at_recall, 4),
        }


def operating_points(
    scores: Iterable[tuple[bool, float]], *, max_fpr: float = 0.02, min_recall: float = 0.95
) -> OperatingPoints:
    """Recall at ``max_fpr`` and FPR at ``min_recall`` over ``(is_attack, score)`` pairs (score >= t)."""
    pairs = list(scores)
    attacks = sorted((s for a, s in pairs if a), reverse=True)
    benign = sorted((s for a, s in pairs if not a), reverse=True)
    if not attacks or not benign:
        return OperatingPoints(0.0, 0.0, max_fpr, min_recall)
    allowed = int(max_fpr * len(benign))  # this many benign texts may be flagged
    # flag strictly above the (allowed+1)-th highest benign score
    cut = benign[allowed] if allowed < len(benign) else float("-inf")
    recall = sum(s > cut for s in attacks) / len(attacks)
    needed = min(len(attacks), max(1, math.ceil(min_recall * len(attacks) - 1e-9)))
    t = attacks[needed - 1]  # the lowest threshold that still flags `needed` attacks
    fpr = sum(s >= t for s in benign) / len(benign)
    return OperatingPoints(recall, fpr, max_fpr, min_recall)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def example_context(ex: Example) -> DetectionContext | None:
    """The detection context an example is scored in: its system prompt, if it has one."""
    return DetectionContext(system_prompt=ex.system_prompt) if ex.system_prompt else None


def format_operating_point(op: OperatingPoints) -> str:
    """One line: recall at the FPR cap and FPR at the recall floor (threshold picked on the set)."""
    return (
        f"operating points (threshold picked on this set, an oracle): recall at FPR "
        f"{op.max_fpr:.0%} {op.recall_at_fpr:.3f}, FPR at recall {op.min_recall:.0%} {op.fpr_at_recall:.3f}"
    )


def evaluate(detector: Detector, examples: Iterable[Example]) -> EvalReport:
    """Run ``detector`` over ``examples`` and aggregate the confusion counts per group."""
    overall = GroupMetrics()
    groups: dict[str, dict[str, GroupMetrics]] = {"category": {}, "lang": {}, "source": {}}
    latencies: list[float] = []
    misses: list[str] = []
    fps: list[str] = []
    scored: list[tuple[bool, float]] = []
    for ex in examples:
        attack = ex.label == "attack"
        t0 = time.perf_counter()
        result = detector.detect(ex.text, example_context(ex))
        latencies.append((time.perf_counter() - t0) * 1000)
        flagged = result.flagged
        scored.append((attack, result.score))
        overall = overall.add(attack, flagged)
        for kind, key in (
            ("category", ex.category if attack else "benign"),
            ("lang", ex.lang),
            ("source", ex.source),
        ):
            groups[kind][key] = groups[kind].get(key, GroupMetrics()).add(attack, flagged)
        if attack and not flagged:
            misses.append(ex.text)
        elif flagged and not attack:
            fps.append(ex.text)
    lat = {f"p{q}": round(percentile(latencies, q), 3) for q in (50, 90, 99)}
    lat["max"] = round(max(latencies, default=0.0), 3)
    return EvalReport(
        detector.name,
        overall,
        groups["category"],
        groups["lang"],
        groups["source"],
        lat,
        tuple(misses),
        tuple(fps),
        tuple(scored),
    )


def load_jsonl(path: Path) -> list[Example]:
    """Read ``{"text", "label", "category"?, "lang"?, "source"?, "system_prompt"?}`` lines."""
    out: list[Example] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            label = row["label"]
            out.append(
                Example(
                    row["text"],
                    label,
                    row.get("source", Path(path).stem),
                    row.get("category", "attack" if label == "attack" else "benign"),
                    row.get("lang", "en"),
                    system_prompt=row.get("system_prompt") or "",
                )
            )
    return out


def format_report(report: EvalReport) -> str:
    """A markdown table per grouping, then latency."""
    lines = [f"detector `{report.detector}`", ""]
    header = (
        "| group | attacks | benign | precision | recall | F1 | FPR |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    by_group = (
        ("overall", {"all": report.overall}),
        ("category", report.by_category),
        ("language", report.by_lang),
        ("source", report.by_source),
    )
    for title, group in by_group:
        lines += [f"**{title}**", "", header]
        for key, m in sorted(group.items()):
            lines.append(
                f"| {key} | {m.n_attack} | {m.n_benign} | {m.precision:.3f} | {m.recall:.3f} | "
                f"{m.f1:.3f} | {m.fpr:.3f} |"
            )
        lines.append("")
    lat = report.latency_ms
    lines.append(
        f"latency per message (ms): p50 {lat.get('p50', 0):.2f}, p90 {lat.get('p90', 0):.2f}, "
        f"p99 {lat.get('p99', 0):.2f}, max {lat.get('max', 0):.2f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI: evaluate the shipped injection detector on a JSONL file."""
    from poise.guard.injection.detector import InjectionDetector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("jsonl", type=Path)
    parser.add_argument("--no-ml", action="store_true", help="rules only, no classifier")
    args = parser.parse_args(argv)
    report = evaluate(InjectionDetector(use_classifier=not args.no_ml), load_jsonl(args.jsonl))
    print(format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
