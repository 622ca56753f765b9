"""The shipped rule set fires for the canonical cases, end to end (analysis + evaluation)."""

from __future__ import annotations

from typing import Any

import pytest

from poise.instructions import RuleEngine

from .helpers import ctx

ENGINE = RuleEngine.default()

CANONICAL: list[Any] = [
    pytest.param(
        ["How do I read a file line by line in Python?"],
        {"expertise": "beginner"},
        {"beginner", "code-answer-shape", "code-beginner", "python-idioms"},
        set(),
        id="python-beginner",
    ),
    pytest.param(
        ["Why is this slow?\n```js\nconst rows = await Promise.all(ids.map(load));\n```"],
        {"expertise": "expert"},
        {"expert", "code-answer-shape", "javascript-expert"},
        {"javascript-idioms"},
        id="js-expert",
    ),
    pytest.param(
        ["The app crashed again.", "Still broken. This is ridiculous, I am fed up!"],
        {},
        {"frustrated-user"},
        set(),
        id="frustrated-user",
    ),
    pytest.param(
        [
            "Meine Bestellung ist immer noch nicht angekommen.",
            "Schon wieder nichts angekommen, das ist eine Katastrophe!",
        ],
        {"locale": "de-AT"},
        {"frustrated-user", "reply-in-user-language", "locale-german"},
        set(),
        id="german-repeated-complaint",
    ),
    pytest.param(
        ["Wie kann ich in Java eine Liste sortieren?"],
        {"locale": "de-DE"},
        {"reply-in-user-language", "locale-german", "code-answer-shape"},
        set(),
        id="german-locale-java",
    ),
    pytest.param(
        ["I've had chest pain since this morning, should I see a doctor?"],
        {},
        {"medical-caution"},
        set(),
        id="medical",
    ),
    pytest.param(
        ["Can my landlord keep my deposit? Do I need a lawyer?"], {}, {"legal-caution"}, set(), id="legal"
    ),
    pytest.param(
        ["Should I invest in an index fund or pay off my loan?"],
        {},
        {"financial-caution"},
        set(),
        id="financial",
    ),
    pytest.param(["hi"] * 20, {}, {"long-conversation"}, set(), id="long-conversation"),
    pytest.param(["Write a haiku about spring"], {"locale": "en-US"}, {"locale-us"}, set(), id="us-locale"),
]


@pytest.mark.parametrize(("messages", "user", "fired", "superseded"), CANONICAL)
def test_default_rules_fire_for_canonical_cases(messages, user, fired: set[str], superseded: set[str]):
    result = ENGINE(ctx(*messages, **user))
    got = {f.rule_id for f in result.fired}
    assert fired <= got, f"missing {fired - got}; got {got}"
    assert {f.rule_id for f in result.fired if f.superseded_by} == superseded
    assert all(f.reasons for f in result.fired)
    fragment_ids = [f.rule_id for f in result.fragments]
    assert not superseded & set(fragment_ids)


def test_python_beginner_reasons_and_prompt_text():
    result = ENGINE(ctx("```python\nfor i in range(3) print(i)\n```\nwhy SyntaxError?", expertise="beginner"))
    fired = {f.rule_id: f.reasons for f in result.fired}
    assert "code_language = python (in a ```python block)" in fired["python-idioms"]
    assert fired["beginner"] == ("user.expertise = beginner",)
    texts = [f.text for f in result.fragments]
    assert any("3.11+" in t for t in texts)


def test_frustrated_user_replaces_tone_and_gives_reason():
    result = ENGINE(ctx("This is useless!! I hate this, nothing works and nobody helps me."))
    fired = {f.rule_id: f.reasons for f in result.fired}
    assert fired["frustrated-user"][0].startswith("sentiment -0.")
    tone = [f for f in result.fragments if f.section == "tone"]
    assert [f.rule_id for f in tone] == ["frustrated-user"]


def test_german_message_asks_for_a_german_reply():
    result = ENGINE(ctx("Kannst du mir erklären, wie ein Kühlschrank funktioniert?"))
    text = next(f.text for f in result.fragments if f.rule_id == "reply-in-user-language")
    assert text.startswith("The user writes in German: reply in German")


def test_neutral_english_question_fires_nothing():
    assert ENGINE(ctx("What is the capital of Australia?")).fired == ()


def test_default_fragment_sections_are_known_to_the_compiler():
    from poise.persona.compile import SECTION_TITLES

    result = ENGINE(ctx("I'm so fed up, this is terrible and still broken!", expertise="expert"))
    assert {f.section for f in result.fragments} <= set(SECTION_TITLES)
