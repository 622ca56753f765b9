"""Persona lint: each finding from a minimal persona that triggers it, and clean personas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import poise.persona.lint as lint_module
from poise.errors import ConfigError
from poise.persona.lint import LintFinding, LintReport, estimate_tokens, lint_persona
from poise.persona.load import load_persona
from poise.persona.spec import Persona

DATA = Path(__file__).parent / "data"

# Triggers none of the findings except P201 notes (it has no rules at all).
BASE: dict[str, Any] = {
    "id": "t",
    "version": "1",
    "name": "Tess",
    "role": "a test assistant.",
    "tone": {"languages": ["en"], "verbosity": "balanced"},
    "greeting": "Hello, how can I help?",
    "refusal": {"style": "Decline briefly.", "message": "Sorry, I can't help with that."},
    "escalation": {"message": "Sorry, let me get a colleague for you."},
    "examples": [{"user": "Hi", "assistant": "Sorry for the wait. Hello there."}],
}


def persona(**overrides: Any) -> Persona:
    return Persona.model_validate({**BASE, **overrides})


def do(text: str, **check: Any) -> dict[str, Any]:
    return {"do": text, "check": check} if check else {"do": text}


def dont(text: str, **check: Any) -> dict[str, Any]:
    return {"dont": text, "check": check} if check else {"dont": text}


def ex(assistant: str) -> list[dict[str, str]]:
    return [{"user": "Hi", "assistant": assistant}]


CASES: list[tuple[str, dict[str, Any], str, str, str | None]] = [
    # id, persona overrides, code, severity, field
    (
        "list-vs-sentences-checks",
        {"rules": [do("Be brief.", max_sentences=2), do("List.", min_list_items=5)]},
        "P101",
        "error",
        "rules[1].check.min_list_items",
    ),
    (
        "list-vs-sentences-text",
        {"rules": [do("Answer in at most 2 sentences."), do("Always give a 5-step checklist.")]},
        "P101",
        "error",
        "rules[1]",
    ),
    (
        "one-sentence-vs-options",
        {"rules": [do("Reply in one sentence."), do("List at least 3 options.")]},
        "P101",
        "error",
        "rules[1]",
    ),
    (
        "text-vs-check",
        {"rules": [do("Keep it to two sentences."), do("Steps.", min_list_items=4)]},
        "P101",
        "error",
        "rules[1].check.min_list_items",
    ),
    (
        "words-vs-required",
        {
            "rules": [
                do("Short.", max_words=5, required_phrases=["Thank you for calling Acme"]),
                do("Sign.", required_signoff="Best regards, Tess"),
            ]
        },
        "P102",
        "error",
        "rules[0].check.max_words",
    ),
    (
        "words-vs-list",
        {"rules": [do("Be terse.", max_words=10), do("Give a 5-point plan.")]},
        "P102",
        "error",
        "rules[0].check.max_words",
    ),
    (
        "min-over-max",
        {"rules": [do("Explain.", min_sentences=5), do("Short.", max_sentences=2)]},
        "P103",
        "error",
        "rules[0].check.min_sentences",
    ),
    (
        "language-check",
        {"rules": [do("German.", reply_language="de")]},
        "P104",
        "error",
        "rules[0].check.reply_language",
    ),
    ("language-text", {"rules": [do("Always reply in German.")]}, "P104", "error", "rules[0]"),
    (
        "two-languages",
        {
            "tone": {"languages": ["de", "fr"]},
            "rules": [do("a", reply_language="de"), do("b", reply_language="fr")],
        },
        "P105",
        "error",
        "rules[1].check.reply_language",
    ),
    (
        "banned-in-greeting",
        {"greeting": "Welcome to Globex!", "rules": [dont("x", banned_terms=["globex"])]},
        "P106",
        "error",
        "greeting",
    ),
    (
        "banned-in-example",
        {"examples": ex("Try Globex."), "rules": [dont("x", banned_terms=["Globex"])]},
        "P106",
        "error",
        "examples[0].assistant",
    ),
    ("banned-in-refusal", {"rules": [dont("x", banned_terms=["can't"])]}, "P106", "error", "refusal.message"),
    (
        "banned-in-escalation",
        {"rules": [dont("x", banned_terms=["colleague"])]},
        "P106",
        "error",
        "escalation.message",
    ),
    (
        "banned-in-reminder",
        {"reminder": "Mention Globex.", "rules": [dont("x", banned_terms=["Globex"])]},
        "P106",
        "error",
        "reminder",
    ),
    (
        "required-contains-banned",
        {"rules": [dont("x", banned_terms=["cheap"]), do("y", required_phrases=["our cheap plans"])]},
        "P107",
        "error",
        "rules[1].check.required_phrases",
    ),
    (
        "signoff-missing",
        {"rules": [do("Sign off.", required_signoff="— Tess")]},
        "P108",
        "error",
        "examples[0].assistant",
    ),
    (
        "no-apology",
        {"examples": ex("Hello there."), "rules": [do("Apologize.", apologize_first=True)]},
        "P109",
        "warning",
        "examples[0].assistant",
    ),
    (
        "no-emoji-check",
        {"tone": {"emoji": "freely"}, "examples": ex("Sorry! 😊"), "rules": [dont("x", no_emoji=True)]},
        "P110",
        "error",
        "examples[0].assistant",
    ),
    ("emoji-never-tone", {"greeting": "Hi 👋"}, "P110", "error", "greeting"),
    (
        "example-too-long",
        {"examples": ex("Sorry. One. Two. Three."), "rules": [do("x", max_sentences=2)]},
        "P111",
        "warning",
        "examples[0].assistant",
    ),
    (
        "example-list-short",
        {"examples": ex("Sorry.\n- a\n- b"), "rules": [do("x", min_list_items=3)]},
        "P111",
        "warning",
        "examples[0].assistant",
    ),
    (
        "do-and-dont",
        {"rules": [do("Mention our competitors."), dont("mention our competitors")]},
        "P112",
        "error",
        "rules[1]",
    ),
    (
        "always-vs-dont",
        {"rules": [do("Always use formal titles."), dont("Use formal titles.")]},
        "P112",
        "error",
        "rules[1]",
    ),
    ("never-vs-do", {"rules": [do("Never share prices."), do("Share prices.")]}, "P112", "error", "rules[1]"),
    ("duplicate", {"rules": [do("Be kind."), do("Be kind.")]}, "P113", "warning", "rules[1]"),
    (
        "never-equals-dont",
        {"rules": [do("Never use slang."), dont("Use slang.")]},
        "P113",
        "warning",
        "rules[1]",
    ),
    (
        "near-contradiction",
        {
            "rules": [
                do("Offer a refund to every unhappy customer."),
                dont("Offer any refund to every unhappy customer."),
            ]
        },
        "P114",
        "warning",
        "rules[1]",
    ),
    (
        "detailed-but-short",
        {"tone": {"verbosity": "detailed"}, "rules": [do("x", max_sentences=2)]},
        "P115",
        "warning",
        "tone.verbosity",
    ),
    (
        "concise-but-long",
        {"tone": {"verbosity": "concise"}, "rules": [do("x", min_sentences=6)]},
        "P115",
        "warning",
        "tone.verbosity",
    ),
    (
        "text-check-differ",
        {"rules": [do("At most 3 sentences.", max_sentences=5)]},
        "P116",
        "warning",
        "rules[0].check.max_sentences",
    ),
    (
        "text-not-enforced",
        {"rules": [do("Use at most 50 words, no emoji.", no_emoji=True)]},
        "P116",
        "warning",
        "rules[0].check",
    ),
    (
        "secret-in-identity",
        {"identity": "Routing code ZX-99.", "secrets": ["zx-99"]},
        "P117",
        "error",
        "identity",
    ),
    (
        "secret-in-example",
        {"examples": ex("Sorry, code ZX-99."), "secrets": ["ZX-99"]},
        "P117",
        "error",
        "examples[0].assistant",
    ),
    ("unchecked", {"rules": [dont("Argue with the customer.")]}, "P201", "info", "rules[0]"),
    ("no-refusal", {"refusal": None}, "P401", "warning", "refusal"),
    ("no-escalation", {"escalation": None}, "P402", "warning", "escalation"),
    ("no-examples", {"examples": []}, "P403", "info", "examples"),
    ("no-greeting", {"greeting": None}, "P404", "info", "greeting"),
]


@pytest.mark.parametrize(
    ("overrides", "code", "severity", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_finding(overrides, code, severity, field):
    report = lint_persona(persona(**overrides))
    hits = [f for f in report.findings if f.code == code]
    assert hits, f"expected {code}, got {[(f.code, f.field, f.message) for f in report.findings]}"
    assert {f.severity for f in hits} == {severity}
    assert field in [f.field for f in hits]


def test_base_persona_is_clean():
    assert lint_persona(persona()).findings == ()


def test_bank_persona_has_only_checkability_notes():
    report = lint_persona(load_persona(DATA / "persona_bank.yaml"))
    assert report.ok and not report.warnings
    assert [(f.code, f.field) for f in report.findings] == [
        ("P201", "rules[1]"),
        ("P201", "rules[2]"),
        ("P201", "rules[5]"),
    ]
    assert report.prompt_tokens is not None and 0 < report.prompt_tokens < 1024


def test_consistent_limits_are_clean():
    rules = [
        do("Keep each reply to at most 5 sentences.", max_sentences=5),
        do("Give a 3-step checklist.", min_list_items=3),
        do("Sign off.", required_signoff="Tess"),
        dont("Mention Globex.", banned_terms=["Globex"]),
    ]
    reply = "Sorry, here are the steps:\n1. Open the app.\n2. Tap Cards.\n3. Tap Freeze. Tess"
    report = lint_persona(persona(rules=rules, examples=ex(reply)))
    assert report.findings == ()


@pytest.mark.parametrize(
    "rules",
    [
        [do("When declining, use one sentence."), do("Always give a 5-step checklist.")],
        [do("Answer in one sentence if the user asks yes/no."), do("List.", min_list_items=3)],
        [do("Reply in German unless asked otherwise.")],
    ],
    ids=["conditional-sentence-limit", "if-clause", "unless-language"],
)
def test_conditional_rule_text_states_no_limit(rules):
    codes = lint_persona(persona(rules=rules)).codes()
    assert not {"P101", "P104"} & set(codes)


@pytest.mark.parametrize(
    ("rule", "hint"),
    [
        (do("Keep replies under 50 words."), "check: {max_words: 49}"),
        (do("Answer in at most two sentences."), "check: {max_sentences: 2}"),
        (do("Always reply in Spanish."), 'check: {reply_language: "es"}'),
        (do('Sign off with "Cheers, Tess".'), 'check: {required_signoff: "Cheers, Tess"}'),
        (do("Apologize first when something went wrong."), None),  # conditional: no hint
        (do("Always apologize first."), "check: {apologize_first: true}"),
        (dont("Use emoji."), "check: {no_emoji: true}"),
        (dont('Say "cheap" or "free".'), 'check: {banned_terms: ["cheap", "free"]}'),
        (dont("Write more than 3 sentences."), "check: {max_sentences: 3}"),
        (do("Give a 4-step plan."), "check: {min_list_items: 4}"),
        (dont("Argue."), None),
    ],
    ids=[
        "words",
        "sentences",
        "language",
        "signoff",
        "conditional",
        "apology",
        "emoji",
        "banned",
        "dont-more-than",
        "steps",
        "judgement",
    ],
)
def test_unchecked_rule_hint(rule, hint):
    report = lint_persona(persona(tone={"languages": ["en", "es"]}, rules=[rule]))
    (note,) = [f for f in report.findings if f.code == "P201"]
    assert note.hint == hint


def test_over_budget_with_custom_counter():
    calls: list[str] = []

    def count(text: str) -> int:
        calls.append(text)
        return 5000

    report = lint_persona(persona(), token_budget=100, count_tokens=count)
    assert calls and "Tess" in calls[0]  # the compiled prompt was counted
    (f,) = [f for f in report.findings if f.code == "P301"]
    assert f.severity == "warning" and "5000" in f.message and report.prompt_tokens == 5000


def test_within_budget_has_no_size_finding():
    assert "P301" not in lint_persona(persona(), token_budget=10_000).codes()


def test_compile_failure_is_an_error(monkeypatch):
    def broken(_persona: Persona) -> None:
        raise ConfigError("template exploded")

    monkeypatch.setattr(lint_module, "compile_persona", broken)
    report = lint_persona(persona())
    assert report.codes() == ["P302"] and not report.ok and report.prompt_tokens is None


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("abcd", 1), ("abcde", 2), ("Hello, world! " * 4, 14), ("雪雪", 2), ("café", 2)],
    ids=["empty", "four-chars", "five-chars", "sentence", "cjk", "accent"],
)
def test_estimate_tokens(text, tokens):
    assert estimate_tokens(text) == tokens


def test_report_groups_and_serializes():
    report = lint_persona(persona(greeting="Hi 👋", refusal=None, examples=[], rules=[dont("Argue.")]))
    assert [f.code for f in report.errors] == ["P110"]
    assert [f.code for f in report.warnings] == ["P401"]
    assert [f.code for f in report.infos] == ["P403", "P201"]
    assert not report.ok
    data = report.to_dict()
    assert data["persona"] == "t" and data["ok"] is False
    assert data["counts"] == {"error": 1, "warning": 1, "info": 2}
    assert data["token_budget"] == 1024 and isinstance(data["prompt_tokens"], int)
    assert data["findings"][0] == {
        "severity": "error",
        "code": "P110",
        "field": "greeting",
        "message": report.errors[0].message,
        "hint": None,
    }


def test_every_code_is_documented_with_its_severity():
    doc = lint_module.__doc__ or ""
    documented = dict(re.findall(r"(P\d{3}) (error|warning|info)", doc))
    seen = {c[2]: c[3] for c in CASES} | {"P301": "warning", "P302": "error"}
    assert seen == documented


def test_findings_and_report_are_frozen():
    finding = LintFinding("info", "P201", "m")
    with pytest.raises(AttributeError):
        finding.code = "P999"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        LintReport("x", (), None, 1).token_budget = 2  # type: ignore[misc]
