"""Strict and loose scoring, the four accuracies, and pairing responses with prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from poise.errors import DatasetError
from poise.eval.datasets import IFEvalPrompt, IFEvalResponse
from poise.eval.ifeval import evaluate, loose_variants, pair_responses


def prompt(key: int, text: str, *instructions: tuple[str, dict[str, object]]) -> IFEvalPrompt:
    return IFEvalPrompt(
        id=f"ifeval:{key}",
        key=key,
        prompt=text,
        instruction_ids=tuple(i for i, _ in instructions),
        kwargs=tuple(k for _, k in instructions),
    )


def test_loose_variants_drop_first_and_last_lines_and_asterisks() -> None:
    variants = loose_variants("Sure!\n**Body**\nBye")
    assert variants[0] == "Sure!\n**Body**\nBye"
    assert variants[1] == "Sure!\nBody\nBye"
    assert variants[2:5] == ("**Body**\nBye", "Sure!\n**Body**", "**Body**")
    assert variants[5:] == ("Body\nBye", "Sure!\nBody", "Body")


def test_loose_forgives_a_preamble_line_that_strict_does_not() -> None:
    p = prompt(1, "Wrap it.", ("startend:quotation", {}))
    report = evaluate([p], ['Here you go:\n"The answer."'])
    assert report.results[0].strict == (False,)
    assert report.results[0].loose == (True,)


def test_a_blank_response_follows_nothing_even_a_ban() -> None:
    p = prompt(1, "No commas.", ("punctuation:no_comma", {}))
    report = evaluate([p], ["   "])
    assert report.results[0].strict == (False,) and report.results[0].loose == (False,)


def test_the_four_accuracies_count_prompts_and_instructions() -> None:
    prompts = [
        prompt(1, "a", ("punctuation:no_comma", {}), ("startend:quotation", {})),
        prompt(2, "b", ("punctuation:no_comma", {})),
    ]
    report = evaluate(prompts, ["no comma here", "also none"])
    assert report.prompts == 2 and report.instructions == 3
    assert report.prompt_strict == pytest.approx(0.5)
    assert report.instruction_strict == pytest.approx(2 / 3)
    assert report.by_instruction["punctuation:no_comma"].strict == 2
    assert report.by_group["startend"].total == 1
    data = report.to_dict(include_results=True)
    assert data["prompt_level_strict_accuracy"] == 0.5
    assert data["results"][0]["follow_instruction_list_strict"] == [True, False]


def response(line: int, text: str, reply: str, key: int | None = None) -> IFEvalResponse:
    return IFEvalResponse(line=line, prompt=text, response=reply, key=key)


PROMPTS = [
    prompt(7, "first", ("punctuation:no_comma", {})),
    prompt(9, "second", ("punctuation:no_comma", {})),
]


def test_pairing_by_prompt_text_ignores_order_and_extra_lines() -> None:
    pairing = pair_responses(
        PROMPTS, [response(1, "second", "B"), response(2, "other", "X"), response(3, "first", "A")]
    )
    assert pairing.method == "prompt" and pairing.responses == ("A", "B")


def test_pairing_by_key_when_every_line_has_one() -> None:
    pairing = pair_responses(PROMPTS, [response(1, "?", "B", key=9), response(2, "?", "A", key=7)])
    assert pairing.method == "key" and pairing.responses == ("A", "B")


def test_pairing_falls_back_to_line_order_and_reports_the_mismatch() -> None:
    pairing = pair_responses(PROMPTS, [response(1, "first", "A"), response(2, "second, edited", "B")])
    assert pairing.method == "line" and pairing.responses == ("A", "B")
    assert pairing.mismatched_keys == (9,)


def test_missing_responses_are_a_dataset_error_naming_the_keys() -> None:
    with pytest.raises(DatasetError, match=r"no response for 1 prompt\(s\) \(keys 9\)") as info:
        pair_responses(PROMPTS, [response(1, "first", "A")], path=Path("r.jsonl"))
    assert info.value.path == Path("r.jsonl")
