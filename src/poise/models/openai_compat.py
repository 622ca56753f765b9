"""A backend for any server speaking OpenAI's Chat Completions API, over plain httpx.

OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio and most hosted providers accept
``POST {base_url}/chat/completions``. Replies come whole or as server-sent events; usage comes from
the ``usage`` object (asked for in streams with ``stream_options.include_usage``) and is estimated
when a server sends none. Credentials are passed in; :mod:`poise.models.credentials` finds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from poise.errors import ModelAuthError, ModelServerError
from poise.models.credentials import OPENAI_DEFAULT_BASE_URL, resolve_openai_credentials
from poise.models.estimate import estimate_prompt_tokens, estimate_tokens
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
from poise.models.types import (
    ChatChunk,
    ChatMessage,
    ChatResponse,
    FinishReason,
    GenerationParams,
    Usage,
)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "stop",
    "function_call": "stop",
    "eos": "stop",
}


def finish_reason(value: object) -> FinishReason:
    """Map an OpenAI ``finish_reason`` onto poise's (unknown values count as ``stop``)."""
    return _FINISH.get(str(value), "stop")


def build_chat_payload(
    model: str,
    messages: Sequence[ChatMessage],
    params: GenerationParams,
    *,
    stream: bool,
    include_usage: bool = True,
    max_tokens_field: str = "max_tokens",
) -> dict[str, Any]:
    """The JSON body of a ``/chat/completions`` request."""
    payload: dict[str, Any] = {
        "model": model,
        "messages": [m.to_dict() for m in messages],
        max_tokens_field: params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
    }
    if params.stop:
        payload["stop"] = list(params.stop)
    if params.seed is not None:
        payload["seed"] = params.seed
    if stream:
        payload["stream"] = True
        if include_usage:
            payload["stream_options"] = {"include_usage": True}
    return payload


def parse_usage(data: object) -> Usage | None:
    """Read an OpenAI ``usage`` object; ``None`` when absent or malformed."""
    if not isinstance(data, dict):
        return None
    prompt, completion = data.get("prompt_tokens"), data.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


class OpenAICompatibleModel(HttpChatModel):
    """A model served through an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the model name the server knows (``gpt-4o-mini``, ``llama3.1:8b``...).
        base_url: the API root, ``/v1`` included (``http://localhost:11434/v1`` for Ollama).
        api_key: sent as a bearer token; may be ``None`` for local servers.
        context_window: the model's context size (servers do not report it).
        timeout: seconds to wait for a reply; ``connect_timeout`` for the connection.
        max_retries: retries on 408/429/5xx and connection failures.
        include_usage: ask streams for a usage chunk (turn off for servers that reject
            ``stream_options``).
        max_tokens_field: ``max_tokens``, or ``max_completion_tokens`` for OpenAI reasoning models.
        headers: extra headers (e.g. ``OpenAI-Organization``).
        key_env: the variable named in "set ... or pass api_key=" messages.
        transport, client, sleep, rng: injection points for tests, see :class:`ModelHttpClient`.

    Raises:
        ModelAuthError: OpenAI's own API is targeted without an API key.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str = OPENAI_DEFAULT_BASE_URL,
        api_key: str | None = None,
        context_window: int = 8192,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 2,
        include_usage: bool = True,
        max_tokens_field: str = "max_tokens",
        headers: dict[str, str] | None = None,
        key_env: str = "OPENAI_API_KEY",
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key and "api.openai.com" in base_url:
            raise ModelAuthError(
                f"no API key for {base_url}; set {key_env} or pass api_key=… "
                "(or set OPENAI_BASE_URL to a local OpenAI-compatible server)",
                backend=self.name,
            )
        self.model_id = model
        self.context_window = context_window
        self.include_usage = include_usage
        self.max_tokens_field = max_tokens_field
        all_headers = {"Accept": "application/json", **(headers or {})}
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        self._http = ModelHttpClient(
            base_url,
            headers=all_headers,
            context=ErrorContext(self.name, model, key_env, secrets=(api_key,) if api_key else ()),
            settings=HttpSettings(timeout, connect_timeout, RetryPolicy(max_retries=max_retries)),
            transport=transport,
            client=client,
            sleep=sleep,
            rng=rng,
        )

    @classmethod
    def from_env(cls, model: str, **options: Any) -> OpenAICompatibleModel:
        """Build one with the key and URL from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` unless given."""
        creds = resolve_openai_credentials(options.pop("api_key", None), options.pop("base_url", None))
        return cls(model, base_url=creds.base_url, api_key=creds.api_key, **options)

    def _payload(
        self, messages: Sequence[ChatMessage], params: GenerationParams, stream: bool
    ) -> dict[str, Any]:
        return build_chat_payload(
            self.model_id,
            messages,
            params,
            stream=stream,
            include_usage=self.include_usage,
            max_tokens_field=self.max_tokens_field,
        )

    async def generate(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> ChatResponse:
        """Return the whole reply (see :class:`~poise.models.types.ChatModel`)."""
        data = await self._http.post_json(
            "/chat/completions", self._payload(messages, params or GenerationParams(), False)
        )
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ModelServerError(
                f"{self.base_url}/chat/completions answered without choices: {json.dumps(data)[:200]}",
                backend=self.name,
            )
        choice = choices[0]
        message = choice.get("message") or {}
        text = str(message.get("content") or "") if isinstance(message, dict) else ""
        usage = parse_usage(data.get("usage")) or Usage(
            estimate_prompt_tokens(messages), estimate_tokens(text)
        )
        return ChatResponse(
            text=text,
            usage=usage,
            finish_reason=finish_reason(choice.get("finish_reason")),
            model=str(data.get("model") or self.model_id),
        )

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Yield the reply as it arrives; the last chunk has ``finish_reason`` and ``usage``."""
        payload = self._payload(messages, params or GenerationParams(), True)
        finish: FinishReason | None = None
        usage: Usage | None = None
        parts: list[str] = []
        done = False
        async with contextlib.aclosing(self._http.stream_events("/chat/completions", payload)) as events:
            async for event in events:
                if event.data == "[DONE]":
                    done = True
                    break
                if not event.data:
                    continue
                chunk = self._decode(event.data)
                usage = parse_usage(chunk.get("usage")) or usage
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    text = delta.get("content") if isinstance(delta, dict) else None
                    if text:
                        parts.append(text)
                        yield ChatChunk(delta=text)
                    if choice.get("finish_reason"):
                        finish = finish_reason(choice["finish_reason"])
        if finish is None and not done:
            raise ModelServerError(
                f"the stream from {self.base_url} ended before the reply was complete", backend=self.name
            )
        if usage is None:
            usage = Usage(estimate_prompt_tokens(messages), estimate_tokens("".join(parts)))
        yield ChatChunk(delta="", finish_reason=finish or "stop", usage=usage)

    def _decode(self, data: str) -> dict[str, Any]:
        chunk = decode_event(data, self.base_url, self.name)
        if "error" in chunk:
            error = chunk["error"]
            said = redact(
                str(error.get("message") if isinstance(error, dict) else error), self._http.context.secrets
            )
            raise ModelServerError(f"{self.base_url} failed mid-stream: {said}", backend=self.name)
        return chunk
