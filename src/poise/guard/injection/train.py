"""Train the prompt-attack classifier and write the artifact, split manifest and model card.

    python -m poise.guard.injection.train --data ../shared/data --out src/poise/guard/injection/artifacts

Training needs scikit-learn and scipy (the ``ml`` extra); inference does not. Steps: load and
split the data (:mod:`~poise.guard.injection.dataset`), fit a logistic regression on hashed n-grams
of the *normalized* training texts, choose the system threshold (rules + classifier) on the
validation split as the lowest score whose validation FPR is <= 1.5 %, and only then measure the
held-out test split once. Everything is seeded; the same data gives the same artifact.

Every validation and test text is scored against a system prompt, as the guard does in service:
CyberSecEval attacks against their own, every other text against one drawn from the same pool
(:func:`~poise.guard.injection.dataset.pair_system_prompts`). The test split is also scored without
any system prompt ("input only"), and both figures go in the model card.

``--cv K`` instead runs K-fold cross-validation on train + validation (folds are whole near-duplicate
clusters), pooling the out-of-fold scores: how model choices are compared without touching test.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

from poise.errors import OptionalDependencyError
from poise.guard.injection.classifier import ARTIFACT_DIR, MODEL_FILE, InjectionClassifier
from poise.guard.injection.dataset import (
    Example,
    assign_splits,
    cluster_ids,
    drop_near_copies,
    load_examples,
    load_train_only,
    pair_system_prompts,
    prompt_pool,
    text_key,
)
from poise.guard.injection.detector import InjectionDetector
from poise.guard.injection.evaluate import (
    EvalReport,
    GroupMetrics,
    evaluate,
    example_context,
    format_operating_point,
    operating_points,
)
from poise.guard.injection.features import DIM, hashed_features
from poise.guard.injection.model_card import write_model_card
from poise.guard.normalize import normalize

__all__ = ["MANIFEST_FILE", "TrainReport", "cross_validate", "held_out_split", "train_injection_classifier"]

MANIFEST_FILE = "split_manifest.json"
METRICS_FILE = "metrics.json"
TARGET_VAL_FPR = 0.015
OWN_WEIGHT = 2.0
"""Extra weight of our own examples: the hard negatives (and multilingual attacks) are few."""
ATTACK_SHARE = 0.67
"""Share of the total sample weight the attack class gets (2:1). Chosen by 5-fold cross-validation
once ordinary traffic (``data/train_only/ordinary.jsonl``) joined the benign side: at 1:1 the pooled
recall at threshold 0.5 fell from 0.953 to 0.942; at 2:1 it is 0.951 with FPR 0.007."""
DEFAULT_C = 128.0
"""Inverse L2 regularization strength (liblinear logistic regression)."""


@dataclass(frozen=True)
class TrainReport:
    """What a training run produced and how well it did."""

    artifact: Path
    split_sizes: dict[str, dict[str, int]]
    threshold: float
    val: EvalReport
    test: EvalReport
    test_input_only: EvalReport
    """The test split scored without any system prompt."""
    seconds: float


def _matrix(texts: list[str]) -> object:
    try:
        from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - scipy comes with scikit-learn
        raise OptionalDependencyError("scikit-learn", "ml") from exc
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        idx, val = hashed_features(normalize(text).text)
        rows.append(np.full(idx.size, i, dtype=np.int64))
        cols.append(idx)
        vals.append(val)
    return csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(texts), DIM)
    )


def _fit(train: list[Example], seed: int, c: float) -> tuple[np.ndarray, float]:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:
        raise OptionalDependencyError("scikit-learn", "ml") from exc
    x = _matrix([ex.text for ex in train])
    y = np.array([ex.label == "attack" for ex in train], dtype=np.int64)
    # Each source weighs ~sqrt(its size): the 400 templated in-the-wild jailbreaks must not drown the
    # few dozen injection examples; our own hard examples weigh OWN_WEIGHT times more. Classes then
    # get ATTACK_SHARE and 1 - ATTACK_SHARE of the total weight. (C, OWN_WEIGHT, ATTACK_SHARE and the
    # feature set were chosen by cluster-grouped cross-validation on train + validation, never on test.)
    counts = Counter(ex.source for ex in train)
    w = np.array(
        [(OWN_WEIGHT if ex.source.startswith("own_") else 1.0) / np.sqrt(counts[ex.source]) for ex in train]
    )
    for label, share in ((0, 1.0 - ATTACK_SHARE), (1, ATTACK_SHARE)):
        w[y == label] *= len(train) * share / w[y == label].sum()
    model = LogisticRegression(C=c, solver="liblinear", random_state=seed, max_iter=1000)
    model.fit(x, y, sample_weight=w)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def _choose_threshold(detector: InjectionDetector, val: list[Example]) -> float:
    """Lowest threshold whose validation FPR stays within :data:`TARGET_VAL_FPR`."""
    benign = sorted(
        (detector.detect(ex.text, example_context(ex)).score for ex in val if ex.label == "benign"),
        reverse=True,
    )
    allowed = int(TARGET_VAL_FPR * len(benign))
    # Flag strictly above the (allowed+1)-th highest benign score; never below 0.5.
    cut = benign[allowed] if len(benign) > allowed else 0.0
    return round(max(0.5, cut + 1e-4), 4)


@dataclass(frozen=True)
class _Splits:
    pool: list[str]
    """Every system prompt of the data (what validation and test texts are paired with)."""
    train: list[Example]
    extra: list[Example]
    """Train-only examples, minus near copies of validation or test texts."""
    val: list[Example]
    test: list[Example]


def _splits(data_dir: Path, seed: int) -> _Splits:
    examples = assign_splits(load_examples(data_dir), seed=seed)
    pool = prompt_pool(examples)
    held = pair_system_prompts([ex for ex in examples if ex.split != "train"], pool=pool)
    return _Splits(
        pool=pool,
        train=[ex for ex in examples if ex.split == "train"],
        extra=drop_near_copies(load_train_only(), held),
        val=[ex for ex in held if ex.split == "val"],
        test=[ex for ex in held if ex.split == "test"],
    )


def held_out_split(data_dir: Path, split: str = "test", *, with_prompts: bool = True) -> list[Example]:
    """The shipped artifact's ``val`` or ``test`` texts (per its split manifest), scored as training
    scored them: each against a system prompt, or with ``with_prompts=False`` against none."""
    manifest = json.loads((ARTIFACT_DIR / MANIFEST_FILE).read_text(encoding="utf-8"))
    examples = load_examples(Path(data_dir))
    held = [ex for ex in examples if manifest.get(text_key(ex.text)) == split]
    if not with_prompts:
        return [replace(ex, system_prompt="") for ex in held]
    return pair_system_prompts(held, pool=prompt_pool(examples))


def cross_validate(data_dir: Path, *, folds: int = 5, seed: int = 13, c: float = DEFAULT_C) -> EvalReport:
    """Pooled out-of-fold report of the full detector on train + validation (never test).

    Folds are whole near-duplicate clusters; each fold is scored (against paired system prompts,
    at threshold 0.5) by a classifier fitted on the other folds plus the train-only examples.
    """
    sp = _splits(Path(data_dir), seed)
    dev = pair_system_prompts(sp.train, pool=sp.pool) + sp.val
    roots = cluster_ids(dev)
    fold = [int(text_key(f"cv:{seed}:{text_key(dev[r].text)}"), 16) % folds for r in roots]
    reports = []
    for k in range(folds):
        fit_on = [ex for ex, f in zip(dev, fold, strict=True) if f != k] + sp.extra
        weights, bias = _fit(fit_on, seed, c)
        detector = InjectionDetector(InjectionClassifier(weights, bias, 0.5, {}))
        reports.append(evaluate(detector, [ex for ex, f in zip(dev, fold, strict=True) if f == k]))
    return _pool(reports)


def _pool(reports: list[EvalReport]) -> EvalReport:
    """One report from several disjoint ones (counts added, scores and misses concatenated)."""
    first = reports[0]
    merged: dict[str, dict[str, GroupMetrics]] = {"category": {}, "lang": {}, "source": {}}
    overall = GroupMetrics()
    for r in reports:
        overall = overall + r.overall
        for kind, groups in (("category", r.by_category), ("lang", r.by_lang), ("source", r.by_source)):
            for key, m in groups.items():
                merged[kind][key] = merged[kind].get(key, GroupMetrics()) + m
    return EvalReport(
        first.detector,
        overall,
        merged["category"],
        merged["lang"],
        merged["source"],
        first.latency_ms,
        tuple(m for r in reports for m in r.misses),
        tuple(m for r in reports for m in r.false_positives),
        tuple(s for r in reports for s in r.scores),
    )


def train_injection_classifier(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 13,
    c: float = DEFAULT_C,
    subset: int | None = None,
    write_card: bool = True,
) -> TrainReport:
    """Train, pick the threshold on validation, evaluate on test, write the artifact files.

    Args:
        data_dir: the shared data folder (``../shared/data``).
        out_dir: where ``injection_lr.npz``, the split manifest, metrics and model card go.
        seed: seeds the split hash and the solver.
        c: inverse L2 regularization strength.
        subset: keep only every n-th training example's worth (``subset`` examples), for quick tests.
        write_card: also write ``MODEL_CARD.md``.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sp = _splits(Path(data_dir), seed)
    train, val, test = sp.train + sp.extra, sp.val, sp.test
    if subset is not None and subset < len(train):
        step = len(train) / subset
        train = [train[int(i * step)] for i in range(subset)]
    weights, bias = _fit(train, seed, c)
    meta = {"trained": date.today().isoformat(), "seed": str(seed), "C": str(c), "n_train": str(len(train))}
    provisional = InjectionClassifier(weights=weights, bias=bias, threshold=0.5, meta=meta)
    threshold = _choose_threshold(InjectionDetector(provisional), val)
    clf = InjectionClassifier(weights=weights, bias=bias, threshold=threshold, meta=meta)
    artifact = out_dir / MODEL_FILE
    clf.save(artifact)
    detector = InjectionDetector(clf)
    val_report = evaluate(detector, val)
    test_report = evaluate(detector, test)
    sizes: dict[str, dict[str, int]] = {}
    for name, part in (("train", train), ("val", val), ("test", test)):
        sizes[name] = {
            "attack": sum(ex.label == "attack" for ex in part),
            "benign": sum(ex.label == "benign" for ex in part),
        }
    manifest = {text_key(ex.text): ex.split for ex in val + test}
    (out_dir / MANIFEST_FILE).write_text(
        json.dumps(dict(sorted(manifest.items())), indent=0) + "\n", encoding="utf-8"
    )
    input_only = evaluate(detector, [replace(ex, system_prompt="") for ex in test])
    report = TrainReport(
        artifact, sizes, threshold, val_report, test_report, input_only, time.perf_counter() - t0
    )
    metrics = {
        "threshold": threshold,
        "split_sizes": sizes,
        "val": val_report.as_dict(),
        "test": test_report.as_dict(),
        "test_input_only": input_only.as_dict(),
    }
    (out_dir / METRICS_FILE).write_text(
        json.dumps(metrics, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    if write_card:
        rules_only = evaluate(InjectionDetector(use_classifier=False, threshold=threshold), test)
        write_model_card(out_dir / "MODEL_CARD.md", report, rules_only, meta)
    return report


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description="Train the poise prompt-attack classifier.")
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--out", type=Path, required=True, help="artifact folder")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--c", type=float, default=DEFAULT_C)
    parser.add_argument(
        "--cv", type=int, default=0, metavar="K", help="K-fold cross-validation on train + validation only"
    )
    args = parser.parse_args(argv)
    if args.cv:
        cv = cross_validate(args.data, folds=args.cv, seed=args.seed, c=args.c)
        o = cv.overall
        print(f"{args.cv}-fold CV on train + validation (pooled, threshold 0.5, with system prompts)")
        print(f"recall {o.recall:.3f}  FPR {o.fpr:.3f}  precision {o.precision:.3f}  F1 {o.f1:.3f}")
        print(format_operating_point(operating_points(cv.scores)))
        for key, m in sorted(cv.by_source.items()):
            print(f"  {key:18} attacks {m.tp}/{m.n_attack}  benign flagged {m.fp}/{m.n_benign}")
        return 0
    report = train_injection_classifier(args.data, args.out, seed=args.seed, c=args.c)
    t = report.test.overall
    print(f"split sizes: {report.split_sizes}")
    print(f"threshold {report.threshold:.4f} (chosen on validation)")
    print(
        "keep src/poise/guard/policies/default.yaml in step: rule prompt-attacks, default: "
        f"{{log: 0.3, block: {report.threshold:.4f}}}"
    )
    print(f"test: recall {t.recall:.3f}  FPR {t.fpr:.3f}  precision {t.precision:.3f}  F1 {t.f1:.3f}")
    print(f"wrote {report.artifact} in {report.seconds:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
