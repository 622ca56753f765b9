"""Compile a persona (plus the instruction fragments that fired) into a system prompt.

The compiler is deterministic: the same persona, fragments, family and canary give the same
bytes, so a prompt can be hashed, cached, diffed and audited. Section bodies come from packaged
Jinja2 templates (``templates/_sections.j2``); the *family* template lays them out for a kind of
model: ``markdown`` (headings, the default), ``xml`` (tagged sections, which Anthropic models
follow well) and ``compact`` (short labels and fewer examples, for small local models).

Instruction fragments either add to the ``instructions`` section (in priority order, then rule
id) or replace a persona section wholesale; the trace records which rules fired and why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import jinja2

from poise.errors import ConfigError
from poise.instructions.types import FiredRule, InstructionFragment, InstructionResult
from poise.persona.spec import Persona

Family = Literal["markdown", "xml", "compact"]
FAMILIES: tuple[Family, ...] = ("markdown", "xml", "compact")
TEMPLATE_VERSION = "1"

SECTION_ORDER: tuple[str, ...] = (
    "role",
    "identity",
    "audience",
    "scenario",
    "tone",
    "values",
    "rules",
    "instructions",
    "escalation",
    "refusal",
    "knowledge",
    "examples",
)
SECTION_TITLES: dict[str, str] = {
    "role": "Role",
    "identity": "Who you are",
    "audience": "Audience",
    "scenario": "Situation",
    "tone": "Tone and style",
    "values": "Values",
    "rules": "Rules",
    "instructions": "Instructions for this conversation",
    "escalation": "Escalation",
    "refusal": "When you decline",
    "knowledge": "Facts you can rely on",
    "examples": "Examples",
}
_EXAMPLE_LIMIT: dict[Family, int] = {"markdown": 8, "xml": 8, "compact": 2}

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "tr": "Turkish",
    "ar": "Arabic",
    "he": "Hebrew",
    "hi": "Hindi",
    "ja": "Japanese",
    "zh": "Chinese",
    "ko": "Korean",
    "el": "Greek",
    "cs": "Czech",
    "ro": "Romanian",
    "hu": "Hungarian",
}


def language_name(code: str) -> str:
    """English name of an ISO 639-1 code (the code itself when unknown)."""
    return LANGUAGE_NAMES.get(code.lower().split("-")[0], code)


@dataclass(frozen=True)
class CompileTrace:
    """Why the prompt is what it is: which persona, which family, which rules fired."""

    persona_id: str
    persona_version: str
    persona_hash: str
    family: Family
    template_version: str
    fired_rules: tuple[FiredRule, ...]
    replaced_sections: tuple[str, ...]
    prompt_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "persona": {"id": self.persona_id, "version": self.persona_version, "hash": self.persona_hash},
            "family": self.family,
            "template_version": self.template_version,
            "fired_rules": [
                {"id": r.rule_id, "action": r.action, "reasons": list(r.reasons)} for r in self.fired_rules
            ],
            "replaced_sections": list(self.replaced_sections),
            "prompt_sha256": self.prompt_sha256,
        }


@dataclass(frozen=True)
class CompiledPrompt:
    """The system prompt and its trace."""

    text: str
    trace: CompileTrace


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("poise.persona", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["lang_name"] = language_name
    env.globals["lang_name"] = language_name
    return env


def _present(persona: Persona, name: str, overrides: dict[str, str], added: list[str]) -> bool:
    if name in overrides:
        return bool(overrides[name].strip())
    if name == "instructions":
        return bool(added)
    if name == "role":
        return True
    if name == "tone":
        return True
    return bool(getattr(persona, name))


def _ordered_fragments(fragments: tuple[InstructionFragment, ...]) -> list[InstructionFragment]:
    superseded = {f.replaces for f in fragments if f.replaces}
    kept = [f for f in fragments if f.rule_id not in superseded]
    return sorted(kept, key=lambda f: (-f.priority, f.rule_id))


def compile_persona(
    persona: Persona,
    instructions: InstructionResult | None = None,
    *,
    family: Family = "markdown",
    canary: str | None = None,
) -> CompiledPrompt:
    """Build the system prompt for ``persona``.

    Args:
        persona: the resolved persona.
        instructions: the outcome of the dynamic instruction rules for this request.
        family: prompt layout for the target model (see the module docstring).
        canary: a per-session marker embedded for system-prompt leak detection.

    Returns:
        The prompt text and a :class:`CompileTrace`.
    """
    if family not in FAMILIES:
        raise ConfigError(f"unknown prompt family {family!r}", field="family", expected=f"one of {FAMILIES}")
    result = instructions or InstructionResult()
    overrides: dict[str, str] = {}
    added: list[str] = []
    for frag in _ordered_fragments(result.fragments):
        if frag.section == "instructions":
            added.append(frag.text.strip())
        elif frag.section in SECTION_TITLES:
            # Higher priority wins a replace conflict; ordering makes the first one the winner.
            overrides.setdefault(frag.section, frag.text.strip())
        else:
            raise ConfigError(
                f"rule {frag.rule_id!r} targets unknown section {frag.section!r}",
                field="section",
                expected=f"one of {', '.join(SECTION_TITLES)}",
            )

    def body(name: str, macros: Any) -> str:
        if name in overrides:
            return overrides[name]
        if name == "instructions":
            return "\n".join(f"- {text}" for text in added)
        macro: Callable[..., str] = getattr(macros, name)
        if name == "examples":
            return str(macro(persona, _EXAMPLE_LIMIT[family]))
        return str(macro(persona))

    template = _environment().get_template(f"{family}.j2")
    text = template.render(
        order=SECTION_ORDER,
        titles=SECTION_TITLES,
        present=lambda name: _present(persona, name, overrides, added),
        body=body,
        canary=canary,
    )
    text = text.strip() + "\n"
    trace = CompileTrace(
        persona_id=persona.id,
        persona_version=persona.version,
        persona_hash=persona.content_hash(),
        family=family,
        template_version=TEMPLATE_VERSION,
        fired_rules=result.fired,
        replaced_sections=tuple(sorted(overrides)),
        prompt_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    return CompiledPrompt(text=text, trace=trace)


def family_for(backend: str, model_id: str = "") -> Family:
    """The prompt family that suits a backend/model: xml for Claude, compact for small local models."""
    if backend == "anthropic" or "claude" in model_id.lower():
        return "xml"
    if backend == "local":
        return "compact"
    return "markdown"
