"""Benchmark the injection detector on the held-out test split: metrics with/without ML, latency.

.venv/bin/python bench/guard_injection.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from poise.guard.injection import InjectionDetector
from poise.guard.injection.classifier import ARTIFACT_DIR
from poise.guard.injection.dataset import load_examples, text_key
from poise.guard.injection.evaluate import evaluate, format_report, operating_points, percentile
from poise.guard.policy import load_policy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
    args = parser.parse_args()
    manifest = json.loads((ARTIFACT_DIR / "split_manifest.json").read_text(encoding="utf-8"))
    test = [ex for ex in load_examples(args.data) if manifest.get(text_key(ex.text)) == "test"]
    full = InjectionDetector()
    rule = next(r for r in load_policy().spec.rules if r.id == "prompt-attacks")
    block = rule.thresholds.for_tier("anonymous").get("block")
    print(f"# held-out test split: {len(test)} texts, threshold {full.threshold:.4f}")
    print(f"default policy blocks prompt attacks at {block} (anonymous tier)\n")
    print("## rules + classifier\n")
    report = evaluate(full, test)
    print(format_report(report))
    op = operating_points(report.scores)
    print(
        f"\noperating points (threshold picked on this split, an oracle): recall at FPR 2 % "
        f"{op.recall_at_fpr:.3f}, FPR at recall 95 % {op.fpr_at_recall:.3f}"
    )
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
