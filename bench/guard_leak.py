"""Score :class:`poise.guard.leak.LeakDetector` on the generated leak set: precision, recall, F1,
per-kind detection rates and per-reply latency.

    python bench/guard_leak.py --seed 7
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_leak_set import DATA, build, load_prompts
from poise.guard.leak import LeakDetector, compile_prompt
from poise.guard.metrics import Confusion, confusion, summarize_latency
from poise.guard.types import DetectionContext


def evaluate(rows: list[dict[str, object]], show_errors: int = 0) -> Confusion:
    detector = LeakDetector()
    for row in rows:  # compile every prompt once, as a server would on the first request
        compile_prompt(str(row["system_prompt"]))
    truth: list[bool] = []
    pred: list[bool] = []
    latencies: list[float] = []
    by_kind: dict[str, list[bool]] = defaultdict(list)
    errors: list[str] = []
    for row in rows:
        ctx = DetectionContext(system_prompt=str(row["system_prompt"]))
        t0 = time.perf_counter()
        result = detector.detect(str(row["output"]), ctx)
        latencies.append((time.perf_counter() - t0) * 1000)
        truth.append(bool(row["leaked"]))
        pred.append(result.flagged)
        by_kind[f"{'leak' if row['leaked'] else 'safe'}/{row['kind']}"].append(result.flagged)
        if result.flagged != row["leaked"]:
            errors.append(
                f"{'FN' if row['leaked'] else 'FP'} [{row['kind']}] {row['output']!r:.160} "
                f"| prompt {row['system_prompt']!r:.80} | {[f.reason for f in result.findings]}"
            )
    c = confusion(truth, pred)
    print(
        f"rows={len(rows)} leaks={c.support} "
        f"P={c.precision:.3f} R={c.recall:.3f} F1={c.f1:.3f} FPR={c.fpr:.3f}"
    )
    for kind in sorted(by_kind):
        flags = by_kind[kind]
        print(f"  {kind:<22} n={len(flags):>4} flagged={sum(flags) / len(flags):.3f}")
    print(f"latency per reply (index cached): {summarize_latency(latencies)}")
    for e in errors[:show_errors]:
        print(e)
    return c


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="leak detector precision/recall/F1 and latency")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--errors", type=int, default=0)
    args = parser.parse_args(argv)
    evaluate(build(args.seed, load_prompts(args.data)), args.errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
