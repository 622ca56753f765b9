"""The persona spec: who the assistant is, as a validated, versioned document.

A persona file is YAML that maps one-to-one onto :class:`Persona`. Unknown keys are errors, so a
misspelled field never silently does nothing. Rules are do / don't statements; a rule that a
machine can verify says so with a structured ``check`` (see :class:`RuleCheck`), which the lint,
the output rails and the eval suites all read.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tone(_Strict):
    """How the persona sounds."""

    formality: Literal["formal", "neutral", "casual"] = "neutral"
    verbosity: Literal["concise", "balanced", "detailed"] = "balanced"
    emoji: Literal["never", "sparingly", "freely"] = "never"
    languages: list[str] = Field(
        default_factory=lambda: ["en"],
        description="ISO 639-1 codes the persona speaks; the first is the default.",
    )
    formatting: Literal["plain", "markdown"] = "plain"
    descriptors: list[str] = Field(
        default_factory=list, description="Adjectives for the voice, e.g. warm, patient, precise."
    )


class RuleCheck(_Strict):
    """The machine-checkable part of a rule. Every field set here is verified on each reply."""

    max_sentences: int | None = Field(default=None, ge=1)
    min_sentences: int | None = Field(default=None, ge=1)
    max_words: int | None = Field(default=None, ge=1)
    reply_language: str | None = Field(
        default=None, description="ISO 639-1 code, or 'match_user' to answer in the user's language."
    )
    banned_terms: list[str] = Field(default_factory=list)
    required_phrases: list[str] = Field(default_factory=list)
    required_signoff: str | None = None
    apologize_first: bool | None = None
    no_emoji: bool | None = None
    min_list_items: int | None = Field(
        default=None, ge=1, description="The reply must contain a list of at least this many items."
    )

    def is_empty(self) -> bool:
        # The fields themselves, not model_dump(): this runs for every rule on every reply.
        return all(getattr(self, name) in (None, [], False) for name in type(self).model_fields)


class Rule(_Strict):
    """One behaviour rule: exactly one of ``do`` or ``dont``, optionally machine-checkable."""

    id: str | None = None
    do: str | None = None
    dont: str | None = None
    check: RuleCheck | None = None

    @model_validator(mode="after")
    def _exactly_one_statement(self) -> Rule:
        if (self.do is None) == (self.dont is None):
            raise ValueError("a rule needs exactly one of 'do' or 'dont'")
        return self

    @property
    def kind(self) -> Literal["do", "dont"]:
        return "do" if self.do is not None else "dont"

    @property
    def text(self) -> str:
        return self.do if self.do is not None else self.dont or ""

    @property
    def checkable(self) -> bool:
        return self.check is not None and not self.check.is_empty()


class Escalation(_Strict):
    """When and how to hand the conversation to a human."""

    when: list[str] = Field(default_factory=list, description="Situations that call for a human.")
    keywords: list[str] = Field(
        default_factory=list, description="Words in a user message that trigger escalation."
    )
    message: str = Field(description="What the persona says when it hands over.")
    channel: str | None = Field(default=None, description="Where the human is reached.")


class Refusal(_Strict):
    """How this persona declines, in its own voice."""

    style: str = Field(description="How to decline: tone, what to offer instead.")
    message: str = Field(description="The wording used when a request is blocked.")


class Example(_Strict):
    """A few-shot exchange showing the persona at its best."""

    user: str
    assistant: str


class KnowledgeSnippet(_Strict):
    """A fact the persona may rely on (and only these: it must not invent others)."""

    title: str
    content: str


class CardExtras(_Strict):
    """Character Card V2 data with no persona counterpart, kept so an imported card exports unchanged.

    Written by :func:`poise.persona.card.persona_from_card` and read back by
    :func:`poise.persona.card.persona_to_card`; nothing here reaches the compiled prompt.
    """

    creator: str = ""
    creator_notes: str = ""
    alternate_greetings: list[str] = Field(default_factory=list)
    character_book: dict[str, Any] | None = None
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="The card's extensions, except poise's own ('poise')."
    )
    source: dict[str, str] = Field(
        default_factory=dict,
        description="Card text of mapped fields whose persona value was derived from it (macros "
        "expanded, examples parsed), by card key; exported again while it still derives the value.",
    )
    data_extra: dict[str, Any] = Field(
        default_factory=dict, description="Keys inside the card's 'data' that the spec does not define."
    )
    root_extra: dict[str, Any] = Field(
        default_factory=dict, description="Top-level card keys besides 'spec' and 'data' (avatar, ...)."
    )
    root_mirrors: list[str] = Field(
        default_factory=list, description="'data' keys the card also copies to its top level, V1-style."
    )

    @model_validator(mode="after")
    def _no_poise_extension(self) -> CardExtras:
        if "poise" in self.extensions:
            raise ValueError("extensions.poise is written by the exporter; put persona fields on the persona")
        return self


class Persona(_Strict):
    """A complete persona. Load one with :func:`poise.persona.load_persona`."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Stable identifier, lower-case.")
    version: str = Field(description="Version of this persona, e.g. '1.2.0'.")
    name: str
    role: str = Field(description="What the assistant is and does, in one sentence.")
    identity: str | None = Field(default=None, description="Background, personality, context.")
    audience: str | None = None
    tone: Tone = Field(default_factory=Tone)
    values: list[str] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    escalation: Escalation | None = None
    refusal: Refusal | None = None
    examples: list[Example] = Field(default_factory=list)
    greeting: str | None = None
    knowledge: list[KnowledgeSnippet] = Field(default_factory=list)
    reminder: str | None = Field(
        default=None, description="Short post-history reminder re-injected every few turns."
    )
    secrets: list[str] = Field(default_factory=list, description="Strings that must never appear in a reply.")
    scenario: str | None = Field(default=None, description="The situation the conversation is in.")
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    card: CardExtras | None = Field(
        default=None, description="Character Card data kept from an imported card (see CardExtras)."
    )

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> Persona:
        ids = [r.id for r in self.rules if r.id]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids: {', '.join(dupes)}")
        return self

    def checks(self) -> list[RuleCheck]:
        """Every machine-checkable rule's check, in order."""
        return [r.check for r in self.rules if r.check is not None and r.checkable]

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the resolved spec (after ``extends``)."""
        canon = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()
