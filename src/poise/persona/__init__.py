"""Personas: the spec, loading with ``extends``, compiling to a system prompt."""

from poise.persona.compile import CompiledPrompt, CompileTrace, compile_persona, family_for
from poise.persona.load import (
    builtin_personas,
    load_persona,
    persona_from_yaml,
    persona_to_yaml,
    resolve_persona,
)
from poise.persona.spec import Escalation, Example, KnowledgeSnippet, Persona, Refusal, Rule, RuleCheck, Tone

__all__ = [
    "CompileTrace",
    "CompiledPrompt",
    "Escalation",
    "Example",
    "KnowledgeSnippet",
    "Persona",
    "Refusal",
    "Rule",
    "RuleCheck",
    "Tone",
    "builtin_personas",
    "compile_persona",
    "family_for",
    "load_persona",
    "persona_from_yaml",
    "persona_to_yaml",
    "resolve_persona",
]
