"""Values shared between request analysis, the instruction rules and the prompt compiler.

The flow: a :class:`RequestContext` (what the app knows: the conversation, the user profile, the
time) is analysed into :class:`Signals` (what poise detected: task type, programming language,
natural language, sentiment...). Instruction rules read both and produce an
:class:`InstructionResult`: the fragments to put in the system prompt and, for the trace, which
rules fired and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from poise.models.types import ChatMessage

Expertise = Literal["beginner", "intermediate", "expert"]


class UserProfile(BaseModel):
    """What the application tells poise about the user. Every field is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    name: str | None = None
    expertise: Expertise | None = None
    locale: str | None = Field(default=None, description="BCP 47 tag, e.g. 'en-GB', 'de-DE'.")
    language: str | None = Field(default=None, description="Preferred reply language, ISO 639-1.")
    tier: str | None = Field(default=None, description="Trust or plan tier given by the app.")
    preferences: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class RequestContext:
    """Everything the instruction rules may read about one request."""

    messages: Sequence[ChatMessage] = ()
    """The conversation so far, ending with the new user message (no system message)."""
    user: UserProfile = field(default_factory=UserProfile)
    now: datetime | None = None
    """The moment of the request (timezone-aware preferred); ``None`` means 'now'."""

    @property
    def user_messages(self) -> list[str]:
        return [m.content for m in self.messages if m.role == "user"]

    @property
    def turn(self) -> int:
        """1-based number of the current user turn."""
        return len(self.user_messages)


@dataclass(frozen=True)
class Signals:
    """What request analysis detected. Every field has a defined 'unknown' value."""

    task: str = "general"
    """One of: general, code, support, creative, medical, legal, financial."""
    task_scores: dict[str, float] = field(default_factory=dict)
    code_language: str | None = None
    """Programming language of code in (or asked about in) the last user message, lower-case."""
    code_language_confidence: float = 0.0
    code_language_evidence: str | None = None
    """Where the programming language was found, in plain words (e.g. 'in a ```python block')."""
    language: str | None = None
    """ISO 639-1 code of the last user message's natural language."""
    language_confidence: float = 0.0
    task_cues: tuple[str, ...] = ()
    """The cues that made the winning task type win (words, phrases, 'code block')."""
    sentiment: float = 0.0
    """VADER compound score of the last user message, -1..1."""
    recent_sentiment: float = 0.0
    """Mean VADER compound score of the last three user messages."""
    complaints: int = 0
    """How many recent user messages are complaints (negative and about a problem)."""
    turn: int = 0


@dataclass(frozen=True)
class InstructionFragment:
    """A piece of text a rule contributes to the system prompt.

    ``section`` names where it goes: ``instructions`` (the default) or a persona section it
    replaces (``tone``, ``style``, ``audience``...). ``replaces`` names another rule's fragment
    this one supersedes.
    """

    rule_id: str
    text: str
    section: str = "instructions"
    replaces: str | None = None
    priority: int = 0


@dataclass(frozen=True)
class FiredRule:
    """A rule whose conditions held, with the reasons (one per condition) in plain words."""

    rule_id: str
    reasons: tuple[str, ...]
    action: Literal["add", "replace"]
    superseded_by: str | None = None
    """Set when this rule's fragment was dropped: another fired rule replaced it (or won the same
    persona section with a higher priority)."""


@dataclass(frozen=True)
class InstructionResult:
    """The outcome of evaluating a rule set against one request."""

    fragments: tuple[InstructionFragment, ...] = ()
    fired: tuple[FiredRule, ...] = ()
    signals: Signals = field(default_factory=Signals)
