"""Benchmark the injection detector on the held-out test split: metrics with/without ML, latency.

.venv/bin/python bench/guard_injection.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from poise.guard.injection import InjectionDetector
from poise.guard.injection.evaluate import (
    evaluate,
    format_operating_point,
    format_report,
    operating_points,
    percentile,
)
from poise.guard.injection.model_card import HARD_NEGATIVES
from poise.guard.injection.train import held_out_split
from poise.guard.policy import load_policy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
    args = parser.parse_args()
    # As in service, every text is checked against a system prompt: CyberSecEval attacks against
    # their own, every other text against one drawn from the same pool.
    test = held_out_split(args.data)
    full = InjectionDetector()
    rule = next(r for r in load_policy().spec.rules if r.id == "prompt-attacks")
    block = rule.thresholds.for_tier("anonymous").get("block")
    print(f"# held-out test split: {len(test)} texts, threshold {full.threshold:.4f}")
    print(f"default policy blocks prompt attacks at {block} (anonymous tier)\n")
    print("## rules + classifier, each text against a system prompt\n")
    report = evaluate(full, test)
    print(format_report(report))
    print("\n" + format_operating_point(operating_points(report.scores)))
    issue = [ex for ex in test if ex.label == "attack" or ex.source in HARD_NEGATIVES]
    o = evaluate(full, issue).overall
    print(
        f"benign = the hard negatives only ({', '.join(HARD_NEGATIVES)}): recall {o.recall:.3f}, "
        f"FPR {o.fpr:.3f} ({o.n_benign} benign)"
    )
    print("\n## rules + classifier, input only (no system prompt)\n")
    bare = evaluate(full, held_out_split(args.data, with_prompts=False))
    o = bare.overall
    print(f"recall {o.recall:.3f}, FPR {o.fpr:.3f}, precision {o.precision:.3f}, F1 {o.f1:.3f}")
    print(format_operating_point(operating_points(bare.scores)))
    print("\n## rules only\n")
    print(format_report(evaluate(InjectionDetector(use_classifier=False, threshold=full.threshold), test)))
    # ~1k tokens of English is ~4,500 characters.
    msg = ("Please summarise the attached quarterly report for the board and list three risks. " * 60)[:4500]
    lat = []
    for _ in range(300):
        t0 = time.perf_counter()
        full.detect(msg)
        lat.append((time.perf_counter() - t0) * 1000)
    clf = full.classifier
    assert clf is not None
    ml = []
    for _ in range(300):
        t0 = time.perf_counter()
        clf.score(msg)
        ml.append((time.perf_counter() - t0) * 1000)
    print(f"\n## ~1k-token message ({len(msg)} chars), one thread")
    print(f"full pipeline: p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms")
    print(f"classifier only: p50 {percentile(ml, 50):.2f} ms, p99 {percentile(ml, 99):.2f} ms")


if __name__ == "__main__":
    main()
