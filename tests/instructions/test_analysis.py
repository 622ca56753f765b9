"""Request analysis: table-driven detector cases and accuracy floors on the labelled set.

The floors sit honestly below the measured accuracy on the held-out ("test") lines of
``bench/data/detection_labelled.jsonl`` (measured: language 0.981, code_language 0.981,
task 0.962; see ``bench/detection.py``), so a regression fails here before anyone notices.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poise.instructions import analyze
from poise.instructions.code_language import LANGUAGES, detect_code_language, find_mentions
from poise.instructions.conditions import CodeLanguage, Task
from poise.instructions.message_parts import split_message
from poise.instructions.natural_language import _CJK, _LETTERS, _letters, identify_language
from poise.instructions.sentiment import summarise_sentiment
from poise.instructions.task import TASKS, classify_task, normalise

from .helpers import ctx

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "detection_labelled.jsonl"
FLOORS = {"language": 0.93, "code_language": 0.93, "task": 0.90}


def test_condition_literals_match_detectors():
    assert set(Task.__args__) == set(TASKS)
    assert set(CodeLanguage.__args__) == set(LANGUAGES)


SPLIT: list[Any] = [
    pytest.param(
        "Fix:\n```py\nx = 1\n```\nthanks", "Fix:\n\n\nthanks", [("fenced", "py", "x = 1")], id="fence"
    ),
    pytest.param("use `len(x)` here", "use   here", [("inline", None, "len(x)")], id="inline"),
    pytest.param(
        "x = compute(y)\nwhy is x None?", "why is x None?", [("pasted", None, "x = compute(y)")], id="pasted"
    ),
    pytest.param("Plain question, no code at all?", "Plain question, no code at all?", [], id="prose-only"),
    pytest.param(
        "```\nunterminated\nblock", "", [("fenced", None, "unterminated\nblock")], id="unterminated-fence"
    ),
]


@pytest.mark.parametrize(("text", "prose", "code"), SPLIT)
def test_split_message(text: str, prose: str, code: list[tuple[str, str | None, str]]):
    parts = split_message(text)
    assert parts.prose == prose
    assert [(c.kind, c.tag, c.text) for c in parts.code] == code


CODE: list[Any] = [
    pytest.param("```python\nx=1\n```", "python", "in a ```python block", id="tag"),
    pytest.param("```ts\nlet a = 1\n```", "typescript", "in a ```ts block", id="tag-alias"),
    pytest.param(
        '```\nfn main() {\n    let mut v = Vec::new();\n    println!("{:?}", v);\n}\n```',
        "rust",
        "scored from an untagged code block",
        id="untagged-rust",
    ),
    pytest.param(
        "how do I do this in JavaScript?", "javascript", "named in the message: 'JavaScript'", id="prose"
    ),
    pytest.param(
        "Can you port this to Go?\n```python\nprint(sum(xs))\n```",
        "go",
        "named as the target: 'to Go'",
        id="port-target",
    ),
    pytest.param("I want to go to the store", None, None, id="go-the-verb"),
    pytest.param("rust remover for my bike", None, None, id="rust-the-noun"),
    pytest.param("Is C++ faster than C#?", "cpp", "named in the message: 'C++'", id="cpp-first"),
    pytest.param("Write it in C please", "c", "named in the message: 'in C'", id="c-with-cue"),
]


@pytest.mark.parametrize(("text", "language", "evidence"), CODE)
def test_code_language(text: str, language: str | None, evidence: str | None):
    guess = detect_code_language(split_message(text))
    assert guess.language == language
    if evidence is None:
        assert guess.evidence is None
    else:
        assert guess.evidence is not None and guess.evidence.startswith(evidence)


def test_mentions_keep_order_and_surface_text():
    mentions = find_mentions("Rewrite this Python in Rust code")
    assert [(m.language, m.text) for m in mentions] == [("python", "Python"), ("rust", "in Rust")]


NATURAL: list[Any] = [
    pytest.param("Wie kann ich eine Liste in Python sortieren?", "de", id="de"),
    pytest.param("¿Cómo puedo ordenar una lista?", "es", id="es"),
    pytest.param("Comment trier une liste en Python ?", "fr", id="fr"),
    pytest.param("リストを並べ替える方法を教えてください", "ja", id="ja"),
    pytest.param("ok", None, id="too-short"),
    pytest.param("thanks!", None, id="short-ambiguous"),
    pytest.param("", None, id="empty"),
]


@pytest.mark.parametrize(("text", "language"), NATURAL)
def test_natural_language(text: str, language: str | None):
    guess = identify_language(text)
    assert guess.language == language
    assert 0.0 <= guess.confidence <= 1.0


TASK_CASES: list[Any] = [
    pytest.param("What are the side effects of ibuprofen?", "medical", id="medical"),
    pytest.param("¿Es legal que mi casero se quede con la fianza?", "legal", id="legal-es"),
    pytest.param("Soll ich in ETFs investieren?", "financial", id="financial-de"),
    pytest.param("Je n'arrive pas à me connecter à mon compte", "support", id="support-fr"),
    pytest.param("Write a poem about the sea", "creative", id="creative"),
    pytest.param("What is the capital of Peru?", "general", id="general"),
]


@pytest.mark.parametrize(("text", "task"), TASK_CASES)
def test_task(text: str, task: str):
    guess = classify_task(text)
    assert guess.task == task
    assert set(guess.scores) == set(TASKS)
    assert abs(sum(guess.scores.values()) - 1.0) < 0.01


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*map(chr, range(128)), "é", "ß", "語", "中"]), max_size=40))
def test_letter_count_fast_path_agrees_with_the_regexes(text: str):
    assert _letters(text) == len(_LETTERS.findall(text)) + 2 * len(_CJK.findall(text))


@pytest.mark.parametrize(
    ("text", "normal"),
    [("Refund MY Order!", "refund my order!"), ("Ärger über das CAFÉ", "arger uber das cafe"), ("", "")],
    ids=["ascii", "accents", "empty"],
)
def test_normalise_lowercases_and_strips_accents(text: str, normal: str):
    assert normalise(text) == normal


def test_code_in_message_makes_a_code_task():
    guess = classify_task("why?", has_code=True, code_language="go")
    assert guess.task == "code"
    assert guess.cues[0] == "programming language go"


SENTIMENT: list[Any] = [
    pytest.param(["Thanks, that works great!"], "positive", 0, id="happy"),
    pytest.param(["It crashed again.", "Still not working, this is terrible."], "negative", 2, id="repeated"),
    pytest.param(
        ["Es funktioniert immer noch nicht", "Schon wieder kaputt!"], None, 2, id="german-complaints"
    ),
    pytest.param(["I hate rainy days"], "negative", 0, id="negative-but-no-problem"),
    pytest.param(["```python\nkill(); fail(); error()\n```"], "neutral", 0, id="code-ignored"),
]


@pytest.mark.parametrize(("messages", "mood", "complaints"), SENTIMENT)
def test_sentiment_and_complaints(messages: list[str], mood: str | None, complaints: int):
    summary = summarise_sentiment(messages)
    if mood == "positive":
        assert summary.last > 0.3
    elif mood == "negative":
        assert summary.last < -0.3
    elif mood == "neutral":
        assert summary.last == 0.0
    assert summary.complaints == complaints


def test_recent_sentiment_is_mean_of_last_three():
    s = summarise_sentiment(["I love it", "great", "awful", "terrible", "fine"])
    from poise.instructions.sentiment import _default

    last3 = [_default.compound(t) for t in ("awful", "terrible", "fine")]
    assert s.recent == pytest.approx(sum(last3) / 3, abs=1e-3)


def test_analyze_without_user_messages_is_unknown():
    signals = analyze(ctx())
    assert (signals.task, signals.language, signals.code_language, signals.turn) == ("general", None, None, 0)


def test_analyze_counts_turns():
    assert analyze(ctx("a", "b", "c")).turn == 3


def _rows(split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def test_labelled_set_is_large_and_well_formed():
    rows = _rows("all")
    assert len(rows) >= 200
    assert {r["split"] for r in rows} == {"dev", "test"}
    assert {r["task"] for r in rows} == set(TASKS)
    assert {r["code_language"] for r in rows} - {None} <= set(LANGUAGES)


@pytest.mark.parametrize("split", ["test", "all"])
@pytest.mark.parametrize("field", sorted(FLOORS))
def test_detection_accuracy_floor(split: str, field: str):
    rows = _rows(split)
    hits = sum(getattr(analyze(ctx(r["text"])), field) == r[field] for r in rows)
    accuracy = hits / len(rows)
    assert accuracy >= FLOORS[field], f"{field} accuracy on {split} fell to {accuracy:.3f}"
