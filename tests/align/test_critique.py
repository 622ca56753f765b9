"""Reading critics' answers in the shapes real models produce; unclear answers are errors, never passes."""

from __future__ import annotations

import pytest

from poise.align import parse_critique, parse_preference
from poise.errors import CritiqueParseError


@pytest.mark.parametrize(
    ("text", "violation", "critique"),
    [
        ('{"violation": true, "critique": "invents a balance"}', True, "invents a balance"),
        ('```json\n{"violation": false, "critique": "fine"}\n```\nHope this helps!', False, "fine"),
        ('Sure! {"violation": true, "critique": "a {nested} brace"} That is all.', True, "a {nested} brace"),
        ("{'violation': True, 'critique': 'single quotes'}", True, "single quotes"),
        ("{violation: yes, critique: yaml flow}", True, "yaml flow"),
        ("violation: no\ncritique: the reply only restates the user's own figure", False, None),
        ('{"Violation": "Yes", "Explanation": "keys in any case"}', True, "keys in any case"),
        ('{"verdict": "pass", "reason": "ok"}', False, "ok"),
        ('{"verdict": "violation"}', True, ""),
        ('{"violation": 1, "critique": "numeric"}', True, "numeric"),
        ('{"violation": false, "critique": "doesn\'t invent anything"}', False, "doesn't invent anything"),
    ],
    ids=[
        "json",
        "fenced-with-trailing-prose",
        "braces-in-string",
        "python-dict",
        "yaml-flow",
        "yaml-lines",
        "case-and-aliases",
        "verdict-pass",
        "verdict-violation",
        "numeric",
        "apostrophe",
    ],
)
def test_parse_critique_shapes(text: str, violation: bool, critique: str | None) -> None:
    parsed = parse_critique(text)
    assert parsed.violation is violation
    if critique is not None:
        assert parsed.critique == critique


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The reply is fine.",
        '{"critique": "forgot the verdict"}',
        '{"violation": "maybe"}',
        '{"violation": null}',
        "[true, false]",
        '{"violation": true or false, "critique": "one sentence"}',
        '{"violation": tru',
    ],
    ids=["empty", "prose", "missing", "unclear", "null", "list", "echoed-template", "truncated"],
)
def test_unreadable_critique_is_an_error_not_a_pass(text: str) -> None:
    with pytest.raises(CritiqueParseError) as caught:
        parse_critique(text)
    assert caught.value.kind == "critique"
    assert '{"violation": true' in str(caught.value)


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ('{"preferred": "A", "reason": "more honest"}', "A"),
        ("```\n{'better': 'Reply B'}\n```", "B"),
        ("(B) because it admits it does not know", "B"),
        ('{"preferred": "(a)"}', "A"),
        ("preferred: B\nreason: safer", "B"),
    ],
    ids=["json", "fenced-python", "leading-letter", "parenthesised", "lines"],
)
def test_parse_preference(text: str, letter: str) -> None:
    assert parse_preference(text).preferred == letter


@pytest.mark.parametrize("text", ["", "Both are good.", '{"preferred": "both"}', "Absolutely A"])
def test_unreadable_preference_is_an_error(text: str) -> None:
    with pytest.raises(CritiqueParseError) as caught:
        parse_preference(text)
    assert caught.value.kind == "comparison"
