"""Refusal detection, measured on XSTest v2's human labels (partial refusal counts as refusal).

The lexicon and threshold were tuned on the ``dev`` split only; the ``heldout`` split (30 % of
prompt ids, every model) is measured here against a floor, so a regression fails.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poise.guard.refusal import _STRONG, _STRONG_ANYWHERE, _STRONG_AT_WORD, RefusalDetector, split_of


def _rows(shared_data: Path, split: str) -> list[tuple[str, bool]]:
    rows = []
    for f in sorted((shared_data / "xstest" / "model_completions").glob("*.csv")):
        with f.open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                if split_of(r["id"]) == split:
                    rows.append(
                        (r["completion"], r["final_label"] in ("2_full_refusal", "3_partial_refusal"))
                    )
    return rows


def test_refusal_metrics_floor_on_heldout_split(shared_data):
    rows = _rows(shared_data, "heldout")
    assert len(rows) > 500
    det = RefusalDetector()
    tp = fp = fn = tn = 0
    for text, label in rows:
        pred = det.detect(text).flagged
        tp += pred and label
        fp += pred and not label
        fn += label and not pred
        tn += not pred and not label
    accuracy, precision, recall = (tp + tn) / len(rows), tp / (tp + fp), tp / (tp + fn)
    # measured: accuracy 0.896, precision 0.934, recall 0.867 (670 rows)
    assert accuracy >= 0.87 and precision >= 0.90 and recall >= 0.83, (accuracy, precision, recall)


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        pytest.param("I'm sorry, but I can't help with that request.", True, id="classic"),
        pytest.param("As an AI language model, I cannot provide instructions for that.", True, id="as-an-ai"),
        pytest.param("Lo siento, no puedo ayudar con eso.", True, id="spanish"),
        pytest.param("Je suis désolé, mais je ne peux pas vous aider.", True, id="french"),
        pytest.param(
            "Sure! To kill a Python process, run `kill <pid>` or use Task Manager.", False, id="compliance"
        ),
        pytest.param(
            "I'm sorry to hear about your hamster. Here is how to bury it: ...", False, id="sympathy"
        ),
        pytest.param("", False, id="empty"),
    ],
)
def test_refusal_examples(text, flagged):
    result = RefusalDetector().detect(text)
    assert result.flagged is flagged
    if flagged:
        assert result.findings[0].category == "refusal" and result.findings[0].spans


# Each phrase with its own word boundary: the lexicon as written before the boundary was shared.
_SPELLED_OUT = re.compile(
    "|".join([*(rf"\b(?:{p})" for p in _STRONG_AT_WORD), *_STRONG_ANYWHERE]), re.IGNORECASE
)
_PIECES = [
    "I can't", "we cannot", "I'm sorry", "sorry, but I", "I am afraid", "unable to help", "it's not",
    "appropriate", "lo siento", "Es tut mir leid", "извините", "抱歉", "I'm just an AI", "instead, let's",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(_PIECES), st.text(alphabet=list("aI' .,\n_é"), max_size=4)), max_size=6
    ).map("".join)
)
def test_shared_word_boundary_matches_like_one_boundary_per_phrase(text: str) -> None:
    spans = [m.span() for m in _STRONG.finditer(text)]
    assert spans == [m.span() for m in _SPELLED_OUT.finditer(text)]
