"""Each of IFEval's 25 checkers on hand-written responses that follow and that break the rule."""

from __future__ import annotations

import pytest

from poise.errors import DatasetError
from poise.eval.ifeval import CHECKERS, build_checker

PROMPT = "Write a short note about the moon."

LOREM = "The moon is bright tonight and the sky is clear above the quiet town."

# (instruction id, kwargs, a response that follows it, a response that does not)
CASES: list[tuple[str, dict[str, object], str, str]] = [
    ("keywords:existence", {"keywords": ["moon", "tide"]}, "The Moon pulls the TIDE.", "The moon is nice."),
    (
        "keywords:frequency",
        {"keyword": "moon", "frequency": 2, "relation": "at least"},
        "moon, moon",
        "moon once",
    ),
    (
        "keywords:frequency",
        {"keyword": "moon", "frequency": 2, "relation": "less than"},
        "one moon",
        "Moon moon",
    ),
    ("keywords:forbidden_words", {"forbidden_words": ["sun"]}, "Sunday is fine.", "The SUN is out."),
    (
        "keywords:letter_frequency",
        {"letter": "z", "let_frequency": 2, "let_relation": "at least"},
        "Zigzag",
        "zero",
    ),
    (
        "keywords:letter_frequency",
        {"letter": "z", "let_frequency": 2, "let_relation": "less than"},
        "zero",
        "Zigzag",
    ),
    (
        "language:response_language",
        {"language": "de"},
        "Der Mond scheint heute Nacht sehr hell über der kleinen Stadt.",
        LOREM,
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 3, "relation": "less than"},
        "One sentence. Two sentences.",
        "One. Two. Three.",
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": "at least"},
        "Dr. Smith left. He was tired!",
        "Dr. Smith left at 5 p.m. yesterday.",
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "First.\n***\nSecond.",
        "One\n***\n***\nTwo",
    ),
    (
        "length_constraints:number_words",
        {"num_words": 5, "relation": "less than"},
        "four words right here",
        "five words are right here",
    ),
    (
        "length_constraints:number_words",
        {"num_words": 5, "relation": "at least"},
        "it's five words, isn't it",
        "only three words",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "moon"},
        'Intro.\n\n"Moon, at last."',
        "Intro.\n\nThe moon.",
    ),
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 2},
        "To [name] at [address]",
        "To [name]",
    ),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\n\nP.S. See you", "Hi. PS see you"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\np.p.s. later", "Hi.\nP.S. later"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n* two", "* one\n* two\n- three"),
    ("detectable_format:constrained_response", {}, "My answer is maybe.", "Maybe."),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*one* and **two**",
        "*one* and **",
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "SECTION 1\nhi\nSECTION 2\nbye",
        "SECTION 1\nhi\nSection two",
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', "Here: {'a': 1}"),
    ("detectable_format:title", {}, "<<Moonlight>>\nThe moon.", "<< >>\nThe moon."),
    ("combination:two_responses", {}, "First answer.\n******\nSecond answer.", "Same.\n******\nSame."),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a short note about the moon."},
        "write a short note about the moon. The moon is...",
        "Here is a short note about the moon.",
    ),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        '"The moon. any other questions?"',
        "Any other questions? Bye.",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 3, "capital_relation": "at least"},
        "NASA and ESA DON'T agree.",
        "NASA and ESA agree.",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "less than"},
        "Only NASA here.",
        "NASA and ESA.",
    ),
    ("change_case:english_capital", {}, LOREM.upper(), LOREM),
    ("change_case:english_lowercase", {}, LOREM.lower(), LOREM),
    ("punctuation:no_comma", {}, "No commas here.", "Yes, one."),
    ("startend:quotation", {}, '  "The moon."  ', '"The moon.'),
]


def _case_id(case: tuple[str, dict[str, object], str, str]) -> str:
    return case[0].split(":")[1] + ("-" + str(case[1].get("relation") or case[1].get("let_relation") or ""))


@pytest.mark.parametrize(("instruction_id", "kwargs", "good", "bad"), CASES, ids=[_case_id(c) for c in CASES])
def test_checker_accepts_a_following_response_and_rejects_a_breaking_one(
    instruction_id: str, kwargs: dict[str, object], good: str, bad: str
) -> None:
    checker = build_checker(instruction_id, kwargs, PROMPT)
    assert checker.check(good) is True
    assert checker.check(bad) is False


def test_every_one_of_the_25_instructions_has_a_case() -> None:
    assert len(CHECKERS) == 25
    assert {c[0] for c in CASES} == set(CHECKERS)


def test_featureless_text_counts_as_the_right_language() -> None:
    # the reference counts "cannot detect" as followed (langdetect raises on it)
    assert build_checker("language:response_language", {"language": "fr"}, PROMPT).check("12345 !!!")


def test_english_capital_needs_english_not_just_capitals() -> None:
    checker = build_checker("change_case:english_capital", {}, PROMPT)
    assert not checker.check("DER MOND SCHEINT HEUTE NACHT SEHR HELL ÜBER DER KLEINEN STADT UND DEM FLUSS.")


def test_keyword_arguments_are_literal_text_not_regular_expressions() -> None:
    checker = build_checker("keywords:existence", {"keywords": ["c++"]}, PROMPT)
    assert checker.check("I write C++ daily.")
    assert not checker.check("I write cc daily.")


def test_null_kwargs_from_the_hugging_face_copy_are_ignored() -> None:
    checker = build_checker("punctuation:no_comma", {"num_words": None, "keywords": None}, PROMPT)
    assert checker.check("fine")


@pytest.mark.parametrize(
    ("instruction_id", "kwargs", "field"),
    [
        ("keywords:nonexistent", {}, "instruction_id_list"),
        ("length_constraints:number_words", {"num_words": 5}, "length_constraints:number_words.relation"),
        (
            "length_constraints:number_words",
            {"num_words": "5", "relation": "at least"},
            "length_constraints:number_words.num_words",
        ),
        (
            "length_constraints:number_words",
            {"num_words": 5, "relation": "at most"},
            "length_constraints:number_words.relation",
        ),
        ("punctuation:no_comma", {"keywords": ["x"]}, "punctuation:no_comma"),
        ("keywords:letter_frequency", {"letter": "ab", "let_frequency": 1, "let_relation": "at least"}, None),
        (
            "length_constraints:nth_paragraph_first_word",
            {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "x"},
            None,
        ),
    ],
    ids=["unknown-id", "missing", "mistyped", "bad-relation", "unknown-arg", "two-letters", "nth-past-end"],
)
def test_bad_instruction_arguments_are_a_dataset_error_naming_the_field(
    instruction_id: str, kwargs: dict[str, object], field: str | None
) -> None:
    with pytest.raises(DatasetError) as info:
        build_checker(instruction_id, kwargs, PROMPT)
    if field is not None:
        assert info.value.field == field
    assert info.value.detail
