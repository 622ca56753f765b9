"""Upstreams: how the gateway calls the model behind a route.

Two kinds behind one small protocol:

* :class:`OpenAIPassthrough` speaks the Chat Completions API to an OpenAI-compatible server
  directly, so request fields poise does not model (``tools``, ``tool_choice``,
  ``response_format``...) and replies poise does not model (``tool_calls``) pass through as sent.
  It reuses :class:`~poise.models.http.ModelHttpClient` for timeouts, retries and typed errors.
* :class:`ChatModelUpstream` wraps any :class:`~poise.models.types.ChatModel` (the embedded model,
  Anthropic, the scripted double). Text only: a request with ``tools`` is a 400 naming the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import urllib.request
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from poise.errors import ModelServerError
from poise.models.estimate import estimate_tokens
from poise.models.http import (
    RETRYABLE_STATUSES,
    ErrorContext,
    HttpSettings,
    ModelHttpClient,
    RetryPolicy,
    _retryable_transport_error,
    decode_event,
    map_http_status,
    map_transport_error,
    parse_retry_after,
)
from poise.models.openai_compat import parse_usage
from poise.models.types import ChatMessage, ChatModel, GenerationParams, Role, Usage
from poise.server.errors import APIError
from poise.server.fasthttp import LeanHttpClient, lean_url_supported

__all__ = [
    "ChatModelUpstream",
    "OpenAIPassthrough",
    "Upstream",
    "UpstreamCall",
    "UpstreamDelta",
    "UpstreamReply",
    "aclose_iterator",
]


@dataclass(frozen=True)
class UpstreamCall:
    """One model call: OpenAI-shaped messages (persona prompt first), parameters, passthrough fields."""

    messages: list[dict[str, Any]]
    params: GenerationParams
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UpstreamReply:
    """A whole reply; ``finish_reason`` is OpenAI's value (``stop``, ``length``, ``tool_calls``...)."""

    text: str | None
    finish_reason: str
    usage: Usage
    tool_calls: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class UpstreamDelta:
    """One streamed piece: text, raw ``tool_calls`` deltas, and on the last one finish and usage."""

    text: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    usage: Usage | None = None


class Upstream(Protocol):
    """What a route calls."""

    name: str
    supports_tools: bool
    model: ChatModel

    async def complete(self, call: UpstreamCall) -> UpstreamReply: ...

    def stream(self, call: UpstreamCall) -> AsyncIterator[UpstreamDelta]: ...

    async def aclose(self) -> None: ...


async def aclose_iterator(iterator: object) -> None:
    """Close an async generator (a no-op for iterators without ``aclose``)."""
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return "" if content is None else str(content)


def to_chat_messages(messages: Sequence[dict[str, Any]]) -> list[ChatMessage]:
    """OpenAI message dicts as poise messages (``developer`` counts as ``system``)."""
    out: list[ChatMessage] = []
    for m in messages:
        role = m.get("role")
        if role in ("tool", "function") or m.get("tool_calls"):
            raise APIError(
                400,
                "this model's backend does not support tool calls; route the model to an "
                "OpenAI-compatible backend to use tools",
                code="tools_unsupported",
                param="messages",
            )
        kind: Role = (
            "system" if role in ("system", "developer") else "assistant" if role == "assistant" else "user"
        )
        out.append(ChatMessage(kind, _text(m.get("content"))))
    return out


class ChatModelUpstream:
    """Any :class:`ChatModel` as an upstream (text only)."""

    supports_tools = False

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.name = model.name

    def _check(self, call: UpstreamCall) -> list[ChatMessage]:
        if any(k in call.extra for k in ("tools", "functions", "tool_choice", "function_call")):
            raise APIError(
                400,
                f"the {self.name} backend does not support tools; route this model to an "
                "OpenAI-compatible backend to use tools",
                code="tools_unsupported",
                param="tools",
            )
        return to_chat_messages(call.messages)

    async def complete(self, call: UpstreamCall) -> UpstreamReply:
        reply = await self.model.generate(self._check(call), call.params)
        return UpstreamReply(reply.text, reply.finish_reason, reply.usage)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[UpstreamDelta]:
        messages = self._check(call)
        chunks = self.model.stream(messages, call.params)
        try:
            async for chunk in chunks:
                yield UpstreamDelta(chunk.delta, None, chunk.finish_reason, chunk.usage)
        finally:
            await aclose_iterator(chunks)

    async def aclose(self) -> None:
        close = getattr(self.model, "aclose", None)
        if close is not None:
            await close()


class OpenAIPassthrough:
    """An OpenAI-compatible server called directly, passing unknown fields and tool calls through.

    Args:
        model: the backend as a :class:`ChatModel` too (server-side sessions use it).
        upstream_model: the model name the server knows.
        base_url: its API root (``/v1`` included).
        api_key: its bearer key, if any.
        timeout / connect_timeout / max_retries: as for :class:`~poise.models.OpenAICompatibleModel`.
        transport: an httpx transport for tests.
    """

    supports_tools = True
    name = "openai"

    def __init__(
        self,
        model: ChatModel,
        *,
        upstream_model: str,
        base_url: str,
        api_key: str | None,
        timeout: float,
        connect_timeout: float,
        max_retries: int,
        transport: Any = None,
    ) -> None:
        self.model = model
        self.upstream_model = upstream_model
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._context = ErrorContext(
            "openai", upstream_model, "api_key_env", secrets=(api_key,) if api_key else ()
        )
        self._retry = RetryPolicy(max_retries=max_retries)
        self._http = ModelHttpClient(
            base_url,
            headers=headers,
            context=self._context,
            settings=HttpSettings(timeout, connect_timeout, self._retry),
            transport=transport,
        )
        # Non-streaming calls to a plain-http upstream (a local vLLM, llama.cpp, a sidecar) take
        # the lean client: httpx costs ~0.7 ms of CPU a request, most of the gateway's budget.
        # https, proxies, injected transports and streams stay on httpx.
        self._lean: LeanHttpClient | None = None
        if (
            transport is None
            and lean_url_supported(self._http.base_url)
            and not _proxied(self._http.base_url)
        ):
            self._lean = LeanHttpClient(
                self._http.base_url,
                headers={**headers, "Accept-Encoding": "gzip, deflate"},
                timeout=timeout,
                connect_timeout=connect_timeout,
            )
        self._rng = random.Random()

    def _payload(self, call: UpstreamCall, stream: bool) -> dict[str, Any]:
        p = call.params
        payload: dict[str, Any] = {
            **call.extra,
            "model": self.upstream_model,
            "messages": call.messages,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
        }
        if p.stop:
            payload["stop"] = list(p.stop)
        if p.seed is not None:
            payload["seed"] = p.seed
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    async def complete(self, call: UpstreamCall) -> UpstreamReply:
        payload = self._payload(call, False)
        if self._lean is not None:
            data = await self._post_lean("/chat/completions", payload)
        else:
            data = await self._http.post_json("/chat/completions", payload)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ModelServerError(
                f"{self._http.base_url}/chat/completions answered without choices", backend=self.name
            )
        message = choices[0].get("message")
        message = message if isinstance(message, dict) else {}
        content = message.get("content")
        text = content if isinstance(content, str) else None
        tool_calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else None
        usage = parse_usage(data.get("usage")) or Usage(
            sum(estimate_tokens(_text(m.get("content"))) for m in call.messages), estimate_tokens(text or "")
        )
        return UpstreamReply(text, str(choices[0].get("finish_reason") or "stop"), usage, tool_calls)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[UpstreamDelta]:
        finish: str | None = None
        usage: Usage | None = None
        produced = 0
        done = False
        events = self._http.stream_events("/chat/completions", self._payload(call, True))
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                if event.data == "[DONE]":
                    done = True
                    break
                if not event.data:
                    continue
                chunk = self._decode(event.data)
                usage = parse_usage(chunk.get("usage")) or usage
                for choice in chunk.get("choices") or ():
                    if not isinstance(choice, dict):
                        continue
                    raw = choice.get("delta")
                    delta: dict[str, Any] = raw if isinstance(raw, dict) else {}
                    content = delta.get("content")
                    text = content if isinstance(content, str) else ""
                    calls = delta.get("tool_calls")
                    tools = calls if isinstance(calls, list) else None
                    if text or tools:
                        produced += estimate_tokens(text) if text else 0
                        yield UpstreamDelta(text, tools)
                    if choice.get("finish_reason"):
                        finish = str(choice["finish_reason"])
        if finish is None and not done:
            raise ModelServerError(
                f"the stream from {self._http.base_url} ended before the reply was complete",
                backend=self.name,
            )
        if usage is None:
            usage = Usage(sum(estimate_tokens(_text(m.get("content"))) for m in call.messages), produced)
        yield UpstreamDelta("", None, finish or "stop", usage)

    async def _post_lean(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """:meth:`ModelHttpClient.post_json` over the lean client: same retries, same typed errors."""
        assert self._lean is not None
        url = f"{self._http.base_url}{path}"
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        policy, attempt = self._retry, 0
        while True:
            try:
                response = await self._lean.post(path, body)
            except httpx.HTTPError as exc:
                if attempt >= policy.max_retries or not _retryable_transport_error(exc):
                    raise map_transport_error(exc, url, self._context) from exc
                await asyncio.sleep(policy.backoff(attempt, self._rng))
                attempt += 1
                continue
            if response.is_success:
                break
            headers = response.header_map()
            status, retry_after = response.status, parse_retry_after(headers)
            if (
                status in RETRYABLE_STATUSES
                and attempt < policy.max_retries
                and (retry_after is None or retry_after <= policy.max_retry_after)
            ):
                await asyncio.sleep(max(policy.backoff(attempt, self._rng), retry_after or 0.0))
                attempt += 1
                continue
            text = response.body.decode(_charset(headers), errors="replace")
            raise map_http_status(status, url, text, headers, self._context)
        try:
            data = json.loads(response.body)
        except ValueError:
            text = response.body.decode(_charset(response.header_map()), errors="replace")
            raise ModelServerError(
                f"{url} answered with something that is not JSON: {text[:200]!r}",
                backend=self._context.backend,
                status=response.status,
            ) from None
        if not isinstance(data, dict):
            raise ModelServerError(
                f"{url} answered with JSON that is not an object", backend=self._context.backend
            )
        return data

    def _decode(self, data: str) -> dict[str, Any]:
        chunk = decode_event(data, str(self._http.base_url), self.name)
        if "error" in chunk:
            raise ModelServerError(f"{self._http.base_url} failed mid-stream", backend=self.name)
        return chunk

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._lean is not None:
            await self._lean.aclose()
        close = getattr(self.model, "aclose", None)
        if close is not None:
            await close()


def _proxied(base_url: str) -> bool:
    """Whether httpx would send requests to ``base_url`` through a proxy (``HTTP_PROXY`` & co.)."""
    proxies = urllib.request.getproxies()
    if not (proxies.get("http") or proxies.get("all")):
        return False
    host = httpx.URL(base_url).host
    return not urllib.request.proxy_bypass(host)


def _charset(headers: httpx.Headers) -> str:
    kind = str(headers.get("content-type", ""))
    for part in kind.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            try:
                "".encode(value.strip('"'))
            except LookupError:
                break
            return value.strip('"')
    return "utf-8"
