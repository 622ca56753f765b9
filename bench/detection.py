"""Measure request analysis on the labelled set: language id, programming-language id, task type.

    .venv/bin/python bench/detection.py                 # held-out ("test") lines
    .venv/bin/python bench/detection.py --split dev     # the lines used while building detectors
    .venv/bin/python bench/detection.py --split all --json

Each line of ``bench/data/detection_labelled.jsonl`` has ``text``, the expected natural
``language`` (``null`` = too short/ambiguous to tell, the detector should say ``None``),
``task``, ``code_language`` (or ``null``) and ``split``. Latency is per message through
:func:`poise.instructions.analyze` with the models already loaded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from poise.instructions import analyze, warm_up
from poise.instructions.types import RequestContext, UserProfile
from poise.models.types import ChatMessage

DATA = Path(__file__).parent / "data" / "detection_labelled.jsonl"
FIELDS = ("language", "code_language", "task")


def load(split: str, path: Path = DATA) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows if split == "all" else [r for r in rows if r["split"] == split]


def _label(value: Any) -> str:
    return "none" if value is None else str(value)


def evaluate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Run analysis over ``rows`` and return accuracy per field and class, confusions, latency."""
    warm_up()
    latencies: list[float] = []
    results: dict[str, Any] = {}
    predictions: list[dict[str, Any]] = []
    for row in rows:
        ctx = RequestContext(messages=(ChatMessage("user", row["text"]),), user=UserProfile())
        start = time.perf_counter()
        signals = analyze(ctx)
        latencies.append((time.perf_counter() - start) * 1000)
        predictions.append({f: getattr(signals, f) for f in FIELDS})
    for field in FIELDS:
        per_class: dict[str, list[int]] = {}
        confusions: Counter[tuple[str, str]] = Counter()
        errors: list[dict[str, str]] = []
        for row, pred in zip(rows, predictions, strict=True):
            want, got = _label(row[field]), _label(pred[field])
            hit = per_class.setdefault(want, [0, 0])
            hit[1] += 1
            if want == got:
                hit[0] += 1
            else:
                confusions[(want, got)] += 1
                errors.append({"text": row["text"][:70], "expected": want, "got": got})
        correct = sum(h[0] for h in per_class.values())
        results[field] = {
            "accuracy": round(correct / len(rows), 3),
            "n": len(rows),
            "per_class": {
                k: {"accuracy": round(c / n, 3), "n": n} for k, (c, n) in sorted(per_class.items())
            },
            "confusions": [{"expected": w, "got": g, "count": c} for (w, g), c in confusions.most_common(10)],
            "errors": errors,
        }
    ordered = sorted(latencies)
    results["latency_ms"] = {
        "p50": round(statistics.median(ordered), 3),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("test", "dev", "all"), default="test")
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    parser.add_argument("--errors", action="store_true", help="list every misclassified line")
    args = parser.parse_args(argv)
    rows = load(args.split)
    results = evaluate(rows)
    if args.json:
        print(json.dumps({"split": args.split, **results}, indent=2, ensure_ascii=False))
        return 0
    print(f"split={args.split}  lines={len(rows)}")
    for field in FIELDS:
        r = results[field]
        print(f"\n{field}: accuracy {r['accuracy']:.3f} (n={r['n']})")
        for name, c in r["per_class"].items():
            print(f"  {name:12s} {c['accuracy']:.3f}  (n={c['n']})")
        if r["confusions"]:
            pairs = (f"{c['expected']}->{c['got']} x{c['count']}" for c in r["confusions"])
            print("  confusions: " + ", ".join(pairs))
        if args.errors:
            for e in r["errors"]:
                print(f"    ! expected {e['expected']}, got {e['got']}: {e['text']!r}")
    lat = results["latency_ms"]
    print(f"\nlatency per message (ms): p50 {lat['p50']}  p99 {lat['p99']}  mean {lat['mean']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
