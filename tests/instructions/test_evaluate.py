"""Evaluating rule sets: combinators, add/replace, ordering, conflicts, placeholders, determinism."""

from __future__ import annotations

from typing import Any

import pytest

from poise.instructions import InstructionFragment, evaluate_rules

from .helpers import ctx, rules, signals

CODE_PY = signals(
    task="code",
    code_language="python",
    code_language_evidence="in a ```python block",
    task_scores={"code": 0.7},
    sentiment=-0.6,
    complaints=0,
    turn=3,
)

COMBINATORS: list[Any] = [
    pytest.param({"when": {"task": "code", "code_language": "python"}}, True, id="when-all-hold"),
    pytest.param({"when": {"task": "code", "code_language": "rust"}}, False, id="when-one-fails"),
    pytest.param({"when_any": [{"task": "legal"}, {"sentiment": {"lte": -0.4}}]}, True, id="when-any-one"),
    pytest.param({"when_any": [{"task": "legal"}, {"complaints": {"gte": 2}}]}, False, id="when-any-none"),
    pytest.param(
        {"when": {"task": "code"}, "unless": {"code_language": "python"}}, False, id="unless-blocks"
    ),
    pytest.param(
        {"when": {"task": "code"}, "unless": [{"turn": {"gte": 10}}, {"code_language": "python"}]},
        False,
        id="unless-list-any-blocks",
    ),
    pytest.param({"when": {"task": "code"}, "unless": {"code_language": "rust"}}, True, id="unless-passes"),
    pytest.param(
        {"when": {"task": "code"}, "when_any": [{"turn": {"gte": 10}}]},
        False,
        id="when-and-when-any-both-needed",
    ),
    pytest.param({}, True, id="no-conditions-always"),
]


@pytest.mark.parametrize(("conditions", "fires"), COMBINATORS)
def test_combinators(conditions: dict[str, Any], fires: bool):
    result = evaluate_rules(rules({"id": "r", "add": "x", **conditions}), ctx("q"), CODE_PY)
    assert bool(result.fired) is fires


REASONS: list[Any] = [
    pytest.param(
        {"when": {"task": "code", "code_language": "python"}},
        ("task = code (score 0.70)", "code_language = python (in a ```python block)"),
        id="when",
    ),
    pytest.param(
        {"when_any": [{"task": "legal"}, {"sentiment": {"lte": -0.4}}, {"turn": {"gte": 2}}]},
        ("sentiment -0.60 <= -0.40", "turn 3 >= 2"),
        id="when-any-every-alternative-that-held",
    ),
    pytest.param(
        {"when": {"task": "code"}, "unless": {"user": {"tier": "free"}}},
        ("task = code (score 0.70)", "not (user.tier in [free])"),
        id="unless",
    ),
    pytest.param({}, ("always (the rule has no conditions)",), id="unconditional"),
]


@pytest.mark.parametrize(("conditions", "reasons"), REASONS)
def test_reasons_text(conditions: dict[str, Any], reasons: tuple[str, ...]):
    result = evaluate_rules(rules({"id": "r", "add": "x", **conditions}), ctx("q"), CODE_PY)
    assert result.fired[0].reasons == reasons


def test_fragments_ordered_by_priority_then_rule_id():
    rs = rules(
        {"id": "c-low", "add": "low", "priority": 1},
        {"id": "b-high", "add": "high", "priority": 10},
        {"id": "a-low", "add": "low too", "priority": 1},
    )
    result = evaluate_rules(rs, ctx("q"), signals())
    assert [f.rule_id for f in result.fragments] == ["b-high", "a-low", "c-low"]
    assert [f.rule_id for f in result.fired] == ["c-low", "b-high", "a-low"]  # file order


def test_add_goes_to_instructions_section():
    result = evaluate_rules(rules({"id": "a", "add": "Be kind.", "priority": 3}), ctx("q"), signals())
    assert result.fragments == (InstructionFragment("a", "Be kind.", "instructions", None, 3),)
    assert result.fired[0].action == "add"


def test_replace_section():
    rs = rules({"id": "calm", "replace": {"section": "tone", "text": "Be calm."}})
    result = evaluate_rules(rs, ctx("q"), signals())
    assert result.fragments == (InstructionFragment("calm", "Be calm.", "tone"),)
    assert result.fired[0].action == "replace"


def test_replace_rule_drops_target_fragment_and_marks_it():
    rs = rules(
        {"id": "idioms", "when": {"task": "code"}, "add": "generic"},
        {"id": "idioms-expert", "when": {"task": "code"}, "replace": {"rule": "idioms", "text": "expert"}},
    )
    result = evaluate_rules(rs, ctx("q"), CODE_PY)
    assert [(f.rule_id, f.text, f.replaces) for f in result.fragments] == [
        ("idioms-expert", "expert", "idioms")
    ]
    assert {f.rule_id: f.superseded_by for f in result.fired} == {
        "idioms": "idioms-expert",
        "idioms-expert": None,
    }


def test_replace_rule_still_adds_when_target_did_not_fire():
    rs = rules(
        {"id": "idioms", "when": {"task": "legal"}, "add": "generic"},
        {"id": "idioms-expert", "replace": {"rule": "idioms", "text": "expert"}},
    )
    result = evaluate_rules(rs, ctx("q"), CODE_PY)
    assert [f.rule_id for f in result.fragments] == ["idioms-expert"]


def test_replace_chain_drops_every_replaced_fragment():
    rs = rules(
        {"id": "c", "add": "c"},
        {"id": "b", "replace": {"rule": "c", "text": "b"}},
        {"id": "a", "replace": {"rule": "b", "text": "a"}},
    )
    result = evaluate_rules(rs, ctx("q"), signals())
    assert [f.rule_id for f in result.fragments] == ["a"]


def test_two_rules_replacing_one_section_highest_priority_wins():
    rs = rules(
        {"id": "tone-a", "replace": {"section": "tone", "text": "A"}, "priority": 1},
        {"id": "tone-b", "replace": {"section": "tone", "text": "B"}, "priority": 5},
        {"id": "tone-c", "replace": {"section": "tone", "text": "C"}, "priority": 5},
    )
    result = evaluate_rules(rs, ctx("q"), signals())
    assert [f.text for f in result.fragments] == ["B"]
    assert {f.rule_id: f.superseded_by for f in result.fired} == {
        "tone-a": "tone-b",
        "tone-b": None,
        "tone-c": "tone-b",
    }


PLACEHOLDER_CASES: list[Any] = [
    pytest.param(
        "Reply in {{ language_name }}.", signals(language="de"), {}, "Reply in German.", id="language"
    ),
    pytest.param(
        "Reply in {{language_name}}.", signals(), {}, "Reply in the user's language.", id="fallback"
    ),
    pytest.param(
        "Hi {{ user.name }} ({{ user.locale }}), turn {{ turn }}",
        signals(turn=4),
        {"name": "Ana", "locale": "es-MX"},
        "Hi Ana (es-MX), turn 4",
        id="user-fields",
    ),
    pytest.param(
        "Use {{ code_language }}; prefer {{ user.language_name }}",
        signals(code_language="go"),
        {"language": "fr"},
        "Use go; prefer French",
        id="code-and-preferred",
    ),
    pytest.param(
        'JSON like {"a": 1} is left alone',
        signals(),
        {},
        'JSON like {"a": 1} is left alone',
        id="single-braces-untouched",
    ),
]


@pytest.mark.parametrize(("text", "sig", "user", "expected"), PLACEHOLDER_CASES)
def test_placeholders_are_filled(text: str, sig: Any, user: dict[str, Any], expected: str):
    result = evaluate_rules(rules({"id": "r", "add": text}), ctx("q", **user), sig)
    assert result.fragments[0].text == expected


def test_evaluation_is_deterministic():
    rs = rules(
        {"id": "x", "when_any": [{"task": "code"}, {"turn": {"gte": 1}}], "add": "x", "priority": 2},
        {"id": "y", "add": "y", "priority": 2},
        {"id": "z", "replace": {"section": "tone", "text": "z"}},
    )
    context = ctx("Why does this crash?\n```python\nprint(1/0)\n```")
    first = evaluate_rules(rs, context)
    for _ in range(5):
        assert evaluate_rules(rs, context) == first


def test_signals_are_computed_when_not_given():
    rs = rules({"id": "py", "when": {"code_language": "python"}, "add": "x"})
    result = evaluate_rules(rs, ctx("```python\nprint('hi')\n```"))
    assert result.signals.code_language == "python"
    assert result.fired[0].reasons == ("code_language = python (in a ```python block)",)
