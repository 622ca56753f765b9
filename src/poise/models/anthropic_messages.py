"""A backend for Anthropic's Messages API, over plain httpx.

The Messages API differs from OpenAI's in three ways poise has to bridge: the system prompt is a
top-level ``system`` parameter, only ``user`` and ``assistant`` turns exist and they must alternate
(so consecutive same-role messages are merged, and ``tool`` messages become user turns), and
streams are typed events (``message_start``, ``content_block_delta``, ``message_delta``,
``message_stop``). Usage comes from ``input_tokens`` / ``output_tokens``; 529 "overloaded" is
retried like a 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from poise.errors import ModelAuthError, ModelError, ModelRateLimitError, ModelRequestError, ModelServerError
from poise.models.credentials import ANTHROPIC_DEFAULT_BASE_URL, resolve_anthropic_credentials
from poise.models.http import (
    ErrorContext,
    HttpChatModel,
    HttpSettings,
    ModelHttpClient,
    RetryPolicy,
    Sleep,
    decode_event,
    redact,
)
from poise.models.types import ChatChunk, ChatMessage, ChatResponse, FinishReason, GenerationParams, Usage

ANTHROPIC_VERSION = "2023-06-01"

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


@dataclass(frozen=True)
class AnthropicTurn:
    """One user or assistant turn of a Messages API request."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class AnthropicPrompt:
    """A conversation in Messages API shape: the ``system`` text and alternating turns."""

    system: str
    turns: tuple[AnthropicTurn, ...]

    def messages(self) -> list[dict[str, str]]:
        """The ``messages`` parameter."""
        return [{"role": t.role, "content": t.content} for t in self.turns]


def to_anthropic(messages: Sequence[ChatMessage]) -> AnthropicPrompt:
    """Convert chat messages to the Messages API shape.

    System messages are joined into ``system``; ``tool`` messages become user turns labelled with the
    tool's name; consecutive turns of the same role are merged with a blank line between them.
    """
    system: list[str] = []
    turns: list[AnthropicTurn] = []
    for message in messages:
        if message.role == "system":
            system.append(message.content)
            continue
        role: Literal["user", "assistant"] = "assistant" if message.role == "assistant" else "user"
        content = message.content
        if message.role == "tool":
            content = f"[tool {message.name or 'result'}]\n{content}"
        if turns and turns[-1].role == role:
            content = f"{turns[-1].content}\n\n{content}"
            turns[-1] = AnthropicTurn(role, content)
        else:
            turns.append(AnthropicTurn(role, content))
    return AnthropicPrompt(system="\n\n".join(system), turns=tuple(turns))


def build_messages_payload(
    model: str,
    messages: Sequence[ChatMessage],
    params: GenerationParams,
    *,
    stream: bool,
    send_top_p: bool = False,
) -> dict[str, Any]:
    """The JSON body of a ``/v1/messages`` request.

    ``top_p`` is only sent when asked for: Anthropic advises setting temperature *or* top_p, and
    newer models reject both. ``seed`` has no Messages API counterpart and is not sent.
    """
    prompt = to_anthropic(messages)
    payload: dict[str, Any] = {
        "model": model,
        "messages": prompt.messages(),
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
    }
    if prompt.system:
        payload["system"] = prompt.system
    if send_top_p:
        payload["top_p"] = params.top_p
    if params.stop:
        payload["stop_sequences"] = list(params.stop)
    if stream:
        payload["stream"] = True
    return payload


def stop_reason(value: object) -> FinishReason:
    """Map an Anthropic ``stop_reason`` onto poise's."""
    return _STOP.get(str(value), "stop")


def parse_usage(data: object, previous: Usage | None = None) -> Usage | None:
    """Read an Anthropic ``usage`` object, keeping fields it lacks from ``previous``.

    Prompt tokens include cache reads and writes, which Anthropic reports separately.
    """
    if not isinstance(data, dict):
        return previous
    base = previous or Usage()
    prompt = base.prompt_tokens
    if isinstance(data.get("input_tokens"), int):
        prompt = sum(
            int(data.get(k) or 0)
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
    output = data.get("output_tokens")
    completion = output if isinstance(output, int) else base.completion_tokens
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


class AnthropicModel(HttpChatModel):
    """A Claude model through the Messages API.

    Args:
        model: the model name (``claude-sonnet-4-5``, ``claude-3-5-haiku-latest``...).
        api_key: sent as ``x-api-key``; required.
        base_url: the API root without ``/v1`` (a trailing ``/v1`` is tolerated).
        context_window: the model's context size.
        timeout: seconds to wait for a reply; ``connect_timeout`` for the connection.
        max_retries: retries on 408/429/5xx/529 and connection failures.
        send_top_p: send ``top_p`` as well as ``temperature``.
        headers: extra headers (e.g. ``anthropic-beta``).
        transport, client, sleep, rng: injection points for tests, see :class:`ModelHttpClient`.

    Raises:
        ModelAuthError: no API key was given.
    """

    name = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str = ANTHROPIC_DEFAULT_BASE_URL,
        context_window: int = 200_000,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 2,
        send_top_p: bool = False,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key:
            raise ModelAuthError(
                "no Anthropic API key; set ANTHROPIC_API_KEY or pass api_key=…", backend=self.name
            )
        self.model_id = model
        self.context_window = context_window
        self.send_top_p = send_top_p
        root = base_url.rstrip("/").removesuffix("/v1")
        self._secrets = (api_key,)
        self._http = ModelHttpClient(
            f"{root}/v1",
            headers={
                "x-api-key": api_key,
                "anthropic-version": ANTHROPIC_VERSION,
                "Accept": "application/json",
                **(headers or {}),
            },
            context=ErrorContext(self.name, model, "ANTHROPIC_API_KEY", secrets=self._secrets),
            settings=HttpSettings(timeout, connect_timeout, RetryPolicy(max_retries=max_retries)),
            transport=transport,
            client=client,
            sleep=sleep,
            rng=rng,
        )

    @classmethod
    def from_env(cls, model: str, **options: Any) -> AnthropicModel:
        """Build one with the key and URL from ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` unless given."""
        creds = resolve_anthropic_credentials(options.pop("api_key", None), options.pop("base_url", None))
        return cls(model, api_key=creds.api_key, base_url=creds.base_url, **options)

    async def generate(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> ChatResponse:
        """Return the whole reply (see :class:`~poise.models.types.ChatModel`)."""
        payload = build_messages_payload(
            self.model_id, messages, params or GenerationParams(), stream=False, send_top_p=self.send_top_p
        )
        data = await self._http.post_json("/messages", payload)
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise ModelServerError(f"{self.base_url}/messages answered without content", backend=self.name)
        text = "".join(
            str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"
        )
        return ChatResponse(
            text=text,
            usage=parse_usage(data.get("usage")) or Usage(),
            finish_reason=stop_reason(data.get("stop_reason")),
            model=str(data.get("model") or self.model_id),
        )

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Yield the reply as it arrives; the last chunk has ``finish_reason`` and ``usage``."""
        payload = build_messages_payload(
            self.model_id, messages, params or GenerationParams(), stream=True, send_top_p=self.send_top_p
        )
        usage: Usage | None = None
        finish: FinishReason | None = None
        async with contextlib.aclosing(self._http.stream_events("/messages", payload)) as events:
            async for event in events:
                if event.event == "ping" or not event.data:
                    continue
                data = decode_event(event.data, self.base_url, self.name)
                kind = data.get("type", event.event)
                if kind == "message_start":
                    message = data.get("message") or {}
                    usage = parse_usage(message.get("usage") if isinstance(message, dict) else None, usage)
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if isinstance(delta, dict) and delta.get("type") == "text_delta" and delta.get("text"):
                        yield ChatChunk(delta=str(delta["text"]))
                elif kind == "message_delta":
                    delta = data.get("delta") or {}
                    if isinstance(delta, dict) and delta.get("stop_reason"):
                        finish = stop_reason(delta["stop_reason"])
                    usage = parse_usage(data.get("usage"), usage)
                elif kind == "message_stop":
                    break
                elif kind == "error":
                    raise self._stream_error(data.get("error"))
        if finish is None:
            raise ModelServerError(
                f"the stream from {self.base_url} ended before the reply was complete", backend=self.name
            )
        yield ChatChunk(delta="", finish_reason=finish, usage=usage or Usage())

    def _stream_error(self, error: object) -> ModelError:
        """The typed error for an ``error`` event sent mid-stream (after retries are possible)."""
        kind = str(error.get("type", "")) if isinstance(error, dict) else ""
        said = redact(str(error.get("message", "")) if isinstance(error, dict) else str(error), self._secrets)
        message = f"{self.base_url}/messages failed mid-stream ({kind or 'error'}): {said}"
        if kind == "rate_limit_error":
            return ModelRateLimitError(message, backend=self.name)
        if kind == "invalid_request_error":
            return ModelRequestError(message, backend=self.name)
        return ModelServerError(message, backend=self.name)
