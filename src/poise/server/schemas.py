"""OpenAI wire shapes: the request bodies the gateway accepts and the replies it builds.

Requests are pydantic models so that a bad body is a 400 naming the field, and the OpenAPI spec
documents them. Unknown request fields are accepted and ignored (clients send many optional
parameters), except those in :data:`PASSTHROUGH_FIELDS`, which OpenAI-compatible backends receive
as sent. Replies are built as plain dicts (cheaper than models on the hot path); their models
below exist for the OpenAPI document.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PASSTHROUGH_FIELDS",
    "ChatCompletionRequest",
    "ChatMessageIn",
    "GuardCheckRequest",
    "chunk_dict",
    "completion_dict",
    "completion_id",
    "message_text",
    "usage_dict",
]

PASSTHROUGH_FIELDS = (
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "functions",
    "function_call",
    "reasoning_effort",
)
"""Request fields forwarded untouched to OpenAI-compatible backends."""


class ChatMessageIn(BaseModel):
    """One message of a chat completion request."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``: OpenAI's body. ``model`` is a gateway model id."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=128)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="Only 1 is supported.")
    user: str | None = Field(default=None, max_length=256)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    def passthrough(self) -> dict[str, Any]:
        """The fields forwarded as-is to OpenAI-compatible backends."""
        data = self.model_dump(exclude_none=True, include=set(PASSTHROUGH_FIELDS))
        extra = self.model_extra or {}
        data.update({k: v for k, v in extra.items() if k in PASSTHROUGH_FIELDS and v is not None})
        return data


class GuardCheckRequest(BaseModel):
    """``POST /v1/guard/check``: run the rails on a text, no model call."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=200_000)
    stage: Literal["input", "output"] = "input"
    model: str | None = Field(default=None, description="A model id whose persona gives the context.")


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class MessageOut(BaseModel):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None


class ChoiceOut(BaseModel):
    index: int
    message: MessageOut
    finish_reason: str


class ChatCompletionOut(BaseModel):
    """A non-streamed reply (streams send ``chat.completion.chunk`` events instead)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChoiceOut]
    usage: UsageOut


class ModelOut(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelListOut(BaseModel):
    object: Literal["list"]
    data: list[ModelOut]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorOut(BaseModel):
    error: ErrorDetail


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def message_text(content: str | list[dict[str, Any]] | None) -> str:
    """The text of a message's content (text parts joined; images and audio ignored)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def usage_dict(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_dict(
    cid: str,
    model: str,
    content: str | None,
    finish_reason: str,
    usage: dict[str, int],
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
    }


def chunk_dict(
    cid: str,
    model: str,
    created: int,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    *,
    usage: dict[str, int] | None = None,
    choices: bool = True,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        if choices
        else [],
    }
    if usage is not None:
        out["usage"] = usage
    return out
