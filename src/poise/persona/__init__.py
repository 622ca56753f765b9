"""Personas: the spec, loading with ``extends``, compiling to a system prompt."""

from poise.persona.card import load_card, persona_from_card, persona_to_card, save_card
from poise.persona.compile import CompiledPrompt, CompileTrace, compile_persona, family_for
from poise.persona.lint import LintFinding, LintReport, lint_persona
from poise.persona.load import (
    builtin_personas,
    load_persona,
    persona_from_yaml,
    persona_to_yaml,
    resolve_persona,
)
from poise.persona.spec import (
    CardExtras,
    Escalation,
    Example,
    KnowledgeSnippet,
    Persona,
    Refusal,
    Rule,
    RuleCheck,
    Tone,
)

__all__ = [
    "CardExtras",
    "CompileTrace",
    "CompiledPrompt",
    "Escalation",
    "Example",
    "KnowledgeSnippet",
    "LintFinding",
    "LintReport",
    "Persona",
    "Refusal",
    "Rule",
    "RuleCheck",
    "Tone",
    "builtin_personas",
    "compile_persona",
    "family_for",
    "lint_persona",
    "load_card",
    "load_persona",
    "persona_from_card",
    "persona_from_yaml",
    "persona_to_card",
    "persona_to_yaml",
    "resolve_persona",
    "save_card",
]
