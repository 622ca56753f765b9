"""Word, sentence and capital-word counting that stands in for NLTK in IFEval's checks."""

from __future__ import annotations

import pytest

from poise.eval.ifeval.text import (
    capital_words,
    count_sentences,
    count_words,
    detect_language,
    split_sentences,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello world", 2),
        ("it's a well-known fact", 6),
        ("snake_case counts once", 3),
        ("Café déjà vu", 3),
        ("", 0),
    ],
)
def test_words_are_runs_of_word_characters(text: str, expected: int) -> None:
    assert count_words(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two? Three!", 3),
        ("No final period", 1),
        ("Mr. Smith met Dr. Jones. They talked.", 2),
        ("It costs 3.50 dollars. Cheap.", 2),
        ("Meet at 5 p.m. tomorrow.", 1),
        ("A list\nwith lines\nbut no stops", 1),
        ('He said "stop." Then he left.', 2),
        ("What?! Really.", 2),
        ("Use tools, e.g. hammers.", 2),  # Punkt's English model does not know "e.g."
        ("J. Smith wrote it.", 1),
        ("I. **Introduction**\nII. **Body**", 3),
        ("1. first item\n2. Second item", 2),
        ("Wait... The end.", 2),
        ("Wait... and then.", 1),
    ],
)
def test_sentences_split_like_punkt(text: str, expected: int) -> None:
    assert count_sentences(text) == expected, split_sentences(text)


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert split_sentences('She said "Go." Then silence.') == ['She said "Go."', "Then silence."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NASA and ESA", 2),
        ("I DON'T KNOW", 4),  # DO + N'T, like the Treebank tokenizer
        ("AI-DRIVEN tools", 1),
        ("(USA), [UK].", 2),
        ("100% Sure", 0),
        ("lower case only", 0),
    ],
)
def test_capital_words_are_all_caps_tokens(text: str, expected: int) -> None:
    assert capital_words(text) == expected


def test_language_detection_is_deterministic_and_none_without_letters() -> None:
    text = "Le soleil brille sur la mer et les enfants jouent sur la plage."
    assert {detect_language(text) for _ in range(5)} == {"fr"}
    assert detect_language("123 456 !!!") is None
