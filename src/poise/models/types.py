"""Values exchanged with model backends and the :class:`ChatModel` protocol every backend implements.

A backend is anything with ``name``, ``model_id``, ``context_window``, an async ``generate`` and
an async-iterator ``stream``. Cancellation is ordinary asyncio cancellation: cancelling the task
that awaits ``generate`` (or stops iterating ``stream``) stops the generation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role
    content: str
    name: str | None = None

    def to_dict(self) -> dict[str, str]:
        data = {"role": self.role, "content": self.content}
        if self.name:
            data["name"] = self.name
        return data


@dataclass(frozen=True)
class Usage:
    """Token counts of one generation, as reported by the backend (or counted locally)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters understood by every backend (each maps them to its own API)."""

    max_tokens: int = 512
    temperature: float = 0.2
    top_p: float = 0.95
    stop: tuple[str, ...] = ()
    seed: int | None = None


FinishReason = Literal["stop", "length", "content_filter", "cancelled", "error"]


@dataclass(frozen=True)
class ChatResponse:
    """A complete reply."""

    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: FinishReason = "stop"
    model: str = ""


@dataclass(frozen=True)
class ChatChunk:
    """One streamed piece of a reply. The last chunk carries ``finish_reason`` and ``usage``."""

    delta: str
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


@runtime_checkable
class ChatModel(Protocol):
    """What every model backend provides."""

    name: str
    """Backend kind: ``local``, ``openai``, ``anthropic``, ``scripted``..."""

    model_id: str
    """The model this instance talks to (file stem, remote model name)."""

    context_window: int
    """Tokens the model accepts, prompt and completion together."""

    async def generate(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> ChatResponse:
        """Return the whole reply."""
        ...

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Yield the reply piece by piece."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes with this model's tokenizer (an estimate where none is local)."""
        ...
