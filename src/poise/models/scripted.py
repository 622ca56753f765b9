"""A scripted model: the test double for everything that calls a model.

Like pydantic-ai's ``TestModel`` / ``FunctionModel`` it ships with the library so that tests of
personas, rails and the server need no real model. It replies from a list (one reply per call) or a
function of the conversation, records every call, can fail on a chosen call, streams word by word
and counts one token per whitespace-separated word.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from poise.errors import ModelError
from poise.models.types import ChatChunk, ChatMessage, ChatResponse, FinishReason, GenerationParams, Usage

ReplyFunction = Callable[[Sequence[ChatMessage], GenerationParams], "str | Awaitable[str]"]
"""Computes a reply from the conversation and parameters (may be ``async``)."""

_PIECES = re.compile(r"\s*\S+\s*|\s+")


@dataclass(frozen=True)
class ScriptedCall:
    """One call made to a :class:`ScriptedModel`."""

    messages: tuple[ChatMessage, ...]
    params: GenerationParams
    streamed: bool


@dataclass(frozen=True)
class _Reply:
    text: str
    finish_reason: FinishReason
    usage: Usage


def echo_last_user_message(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    """The default reply: ``echo: <last user message>``."""
    for message in reversed(messages):
        if message.role == "user":
            return f"echo: {message.content}"
    return "echo:"


class ScriptedModel:
    """A :class:`~poise.models.types.ChatModel` whose replies are decided by the test.

    Args:
        replies: a list of replies, used one per call in order, or a function (sync or async) of
            ``(messages, params)``. Defaults to echoing the last user message.
        errors: exceptions to raise instead of replying, keyed by 0-based call number.
        model_id: reported as ``model_id`` and ``ChatResponse.model``.
        context_window: reported as ``context_window``.
        stream_delay: seconds to sleep between streamed words (0 still yields to the event loop).

    Replies are cut to ``params.max_tokens`` words (``finish_reason="length"``) and at the first
    ``params.stop`` sequence. Every call, including failing ones, is appended to :attr:`calls`.

    Example:
        >>> model = ScriptedModel(["Hello there."])
        >>> # response = await model.generate([ChatMessage("user", "hi")])
    """

    name = "scripted"

    def __init__(
        self,
        replies: Sequence[str] | ReplyFunction | None = None,
        *,
        errors: Mapping[int, BaseException] | None = None,
        model_id: str = "scripted",
        context_window: int = 4096,
        stream_delay: float = 0.0,
    ) -> None:
        self.model_id = model_id
        self.context_window = context_window
        self.stream_delay = stream_delay
        self.calls: list[ScriptedCall] = []
        self._errors = dict(errors or {})
        self._function: ReplyFunction | None = None
        self._replies: list[str] = []
        if replies is None:
            self._function = echo_last_user_message
        elif callable(replies):
            self._function = replies
        else:
            self._replies = list(replies)

    def __repr__(self) -> str:
        return f"ScriptedModel(model_id={self.model_id!r}, calls={len(self.calls)})"

    @property
    def last_call(self) -> ScriptedCall:
        """The most recent call (raises ``IndexError`` when there was none)."""
        return self.calls[-1]

    def count_tokens(self, text: str) -> int:
        """One token per whitespace-separated word."""
        return len(text.split())

    async def generate(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> ChatResponse:
        """Record the call and return the scripted reply."""
        reply = await self._next(messages, params or GenerationParams(), streamed=False)
        return ChatResponse(reply.text, reply.usage, reply.finish_reason, self.model_id)

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Record the call and yield the scripted reply word by word (whitespace kept)."""
        reply = await self._next(messages, params or GenerationParams(), streamed=True)
        for piece in _PIECES.findall(reply.text):
            await asyncio.sleep(self.stream_delay)
            yield ChatChunk(delta=piece)
        yield ChatChunk(delta="", finish_reason=reply.finish_reason, usage=reply.usage)

    async def _next(
        self, messages: Sequence[ChatMessage], params: GenerationParams, *, streamed: bool
    ) -> _Reply:
        index = len(self.calls)
        self.calls.append(ScriptedCall(tuple(messages), params, streamed))
        if index in self._errors:
            raise self._errors[index]
        if self._function is not None:
            produced = self._function(messages, params)
            text = await produced if inspect.isawaitable(produced) else produced
        elif index < len(self._replies):
            text = self._replies[index]
        else:
            raise ModelError(
                f"ScriptedModel has {len(self._replies)} replies but was called {index + 1} times; "
                "add replies or pass a function",
                backend=self.name,
            )
        return self._shape(str(text), messages, params)

    def _shape(self, text: str, messages: Sequence[ChatMessage], params: GenerationParams) -> _Reply:
        finish: FinishReason = "stop"
        for stop in params.stop:
            if stop and stop in text:
                text = text[: text.index(stop)]
        if self.count_tokens(text) > params.max_tokens:
            text = "".join(_PIECES.findall(text)[: params.max_tokens]).rstrip()
            finish = "length"
        prompt = sum(self.count_tokens(m.content) for m in messages)
        return _Reply(text, finish, Usage(prompt, self.count_tokens(text)))
