"""Score :func:`poise.guard.pii.find_entities` on a generated PII set: per-type precision/recall
(exact span match and overlap) and per-text latency.

    python bench/guard_pii.py --seed 7 --n 1500
    python bench/guard_pii.py --data /tmp/pii.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_pii_set import build
from poise.guard.evaluation import match_spans
from poise.guard.metrics import Confusion, summarize_latency
from poise.guard.pii import find_entities

Row = dict[str, object]


def evaluate(rows: list[Row]) -> tuple[dict[str, Confusion], dict[str, Confusion], list[float], list[str]]:
    """Per-type confusion (exact, overlap), latencies in ms, and a few error descriptions."""
    exact: dict[str, Confusion] = defaultdict(Confusion)
    overlap: dict[str, Confusion] = defaultdict(Confusion)
    latencies: list[float] = []
    errors: list[str] = []
    for row in rows:
        text = str(row["text"])
        gold = {(int(e["start"]), int(e["end"]), str(e["type"])) for e in row["entities"]}  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        found = find_entities(text)
        latencies.append((time.perf_counter() - t0) * 1000)
        pred = {(e.start, e.end, e.type) for e in found}
        row_exact, row_overlap = match_spans(gold, pred)  # the same matching as `poise guard eval`
        for label, c in row_exact.items():
            exact[label] += c
        for label, c in row_overlap.items():
            overlap[label] += c
        for g in gold - pred:
            errors.append(
                f"FN {g[2]}: {text[g[0] : g[1]]!r} in {text!r} -> {[(p[2], text[p[0] : p[1]]) for p in pred]}"
            )
        for p in pred - gold:
            errors.append(f"FP {p[2]}: {text[p[0] : p[1]]!r} in {text!r}")
    return dict(exact), dict(overlap), latencies, errors


def report(rows: list[Row], show_errors: int = 0) -> tuple[Confusion, Confusion]:
    exact, overlap, latencies, errors = evaluate(rows)
    print(f"{'type':<12} {'support':>7} {'P exact':>8} {'R exact':>8} {'P overlap':>9} {'R overlap':>9}")
    for t in sorted(set(exact) | set(overlap)):
        e, o = exact.get(t, Confusion()), overlap.get(t, Confusion())
        print(
            f"{t:<12} {e.support:>7} {e.precision:>8.3f} {e.recall:>8.3f} "
            f"{o.precision:>9.3f} {o.recall:>9.3f}"
        )
    all_e, all_o = sum(exact.values(), Confusion()), sum(overlap.values(), Confusion())
    print(f"{'ALL':<12} {all_e.support:>7} {all_e.precision:>8.3f} {all_e.recall:>8.3f} "
          f"{all_o.precision:>9.3f} {all_o.recall:>9.3f}")  # fmt: skip
    negatives = [r for r in rows if not r["entities"]]
    print(
        f"texts: {len(rows)} ({len(negatives)} look-alike negatives); "
        f"latency per text: {summarize_latency(latencies)}"
    )
    for line in errors[:show_errors]:
        print(line)
    return all_e, all_o


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PII detector precision/recall and latency")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--data", type=Path, default=None, help="a JSONL file instead of generating")
    parser.add_argument("--errors", type=int, default=0, help="print this many misses/false hits")
    args = parser.parse_args(argv)
    if args.data is not None:
        rows = [
            json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    else:
        rows = build(args.seed, args.n)
    report(rows, args.errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
