"""Persona rule checks: each violation is a finding with a span; clean replies pass."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poise.guard.persona_rules import (
    _APOLOGY_RE,
    APOLOGY_LEXICON,
    PersonaRulesRail,
    _apologizes,
    check_reply,
    sentence_spans,
    word_count,
    word_spans,
)
from poise.guard.rails import GuardContext
from poise.guard.types import Span
from poise.persona.spec import Persona, Rule, RuleCheck

CASES = [
    # (check, reply, violated category or None, text the first span covers or None)
    (RuleCheck(max_sentences=2), "One. Two. Three is extra.", "persona.max_sentences", "Three is extra."),
    (RuleCheck(max_sentences=2), "One, e.g. this. Two.", None, None),
    (RuleCheck(min_sentences=3), "Just one.", "persona.min_sentences", "Just one."),
    (RuleCheck(max_words=3), "one two three four five", "persona.max_words", "four five"),
    (RuleCheck(max_words=5), "one two three", None, None),
    (
        RuleCheck(reply_language="en"),
        "Bonjour, je vais vous aider avec votre compte bancaire aujourd'hui.",
        "persona.reply_language",
        None,
    ),
    (RuleCheck(reply_language="en"), "Hello, I will help you with your bank account today.", None, None),
    (
        RuleCheck(banned_terms=["guarantee"]),
        "We Guarantee it. Guaranteed!",
        "persona.banned_term",
        "Guarantee",
    ),
    (RuleCheck(banned_terms=["cheap"]), "That is not inexpensive, nor cheaply made.", None, None),
    (RuleCheck(required_phrases=["Kind regards"]), "Here you go.", "persona.required_phrase", "Here you go."),
    (RuleCheck(required_phrases=["kind regards"]), "Here you go. Kind  Regards", None, None),
    (RuleCheck(required_signoff="— Ada"), "Done.\nCheers", "persona.required_signoff", "Cheers"),
    (RuleCheck(required_signoff="— Ada"), "Done.\n— Ada.", None, None),
    (
        RuleCheck(apologize_first=True),
        "Your card is blocked. Sorry.",
        "persona.apologize_first",
        "Your card is blocked.",
    ),
    (RuleCheck(apologize_first=True), "I'm sorry about that. Your card is blocked.", None, None),
    (RuleCheck(apologize_first=True), "Es tut mir leid. Ihre Karte ist gesperrt.", None, None),
    (RuleCheck(apologize_first=True), "Désolé pour le retard. Voici la réponse.", None, None),
    (RuleCheck(apologize_first=True), "申し訳ございません。カードは停止されています。", None, None),
    (RuleCheck(no_emoji=True), "Great job 👍🏽 see you ✨", "persona.no_emoji", "👍🏽"),
    (RuleCheck(no_emoji=True), "Great job (c) 2024 -> done :)", None, None),
    (RuleCheck(min_list_items=3), "Steps:\n- one\n- two", "persona.min_list_items", None),
    (RuleCheck(min_list_items=3), "Steps:\n1. one\n2. two\n3) three", None, None),
]


@pytest.mark.parametrize(
    ("check", "reply", "category", "covered"),
    CASES,
    ids=[f"{(c or 'clean').removeprefix('persona.')}-{i}" for i, (_, _, c, _) in enumerate(CASES)],
)
def test_rule_checks(check, reply, category, covered):
    result = check_reply(reply, [check])
    if category is None:
        assert not result.flagged, result.findings
        return
    assert result.flagged
    (finding,) = result.findings
    assert finding.category == category and finding.reason and finding.spans
    if covered is not None:
        span = finding.spans[0]
        assert reply[span.start : span.end] == covered


@pytest.mark.parametrize(
    ("user", "reply", "flagged"),
    [
        pytest.param(
            "Wie kann ich mein Passwort zurücksetzen, bitte?",
            "Sie können es in den Einstellungen ändern.",
            False,
            id="german-both",
        ),
        pytest.param(
            "Wie kann ich mein Passwort zurücksetzen, bitte?",
            "You can change it in the account settings.",
            True,
            id="german-user-english-reply",
        ),
        pytest.param("ok", "You can change it in the account settings.", False, id="user-language-unknown"),
    ],
)
async def test_match_user_language(user, reply, flagged):
    persona = Persona(
        id="p",
        version="1",
        name="P",
        role="r",
        rules=[Rule(do="Answer in the user's language", check=RuleCheck(reply_language="match_user"))],
    )
    result = await PersonaRulesRail().check(reply, GuardContext(persona=persona, user_text=user))
    assert result.flagged is flagged


def test_sentence_spans_cover_cjk_and_newlines():
    assert len(sentence_spans("第一句。第二句！\nThird line")) == 3


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZ9_ -'\t.,\n’é")), max_size=30))
def test_word_count_equals_the_number_of_word_spans(text: str) -> None:
    assert word_count(text) == len(word_spans(text))


_APOLOGY_PIECES = [*APOLOGY_LEXICON, "SORRY", "Lo Siento", "ÖZÜR DİLERİM", "DÉSOLÉ", "ИЗВИНИТЕ", "ſorry"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(_APOLOGY_PIECES), st.text(alphabet=list("ab İıſK .,'\n"), max_size=6)),
        max_size=5,
    ).map("".join)
)
def test_apology_prefilter_never_hides_an_apology(text: str) -> None:
    # The substring prefilter only skips the regex when the regex could not match either.
    span = Span(0, len(text), "first_sentence")
    assert _apologizes(text, span) is (_APOLOGY_RE.search(text, 0, len(text)) is not None)
