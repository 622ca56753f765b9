"""HTTP concerns shared by the remote backends: timeouts, retries and typed errors.

:class:`ModelHttpClient` sends JSON to a model API and either returns the decoded reply or yields
server-sent events. It retries what is worth retrying -- 408, 429, 5xx (Anthropic's 529
"overloaded" included) and connection failures -- with exponential backoff and jitter, honouring
``Retry-After``. Every failure leaves through :func:`map_http_status` or
:func:`map_transport_error`, the one place that turns HTTP trouble into the typed errors of
:mod:`poise.errors` with a message saying what to do. API keys are redacted from every message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from poise.errors import (
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelRequestError,
    ModelServerError,
    ModelTimeoutError,
    ModelUnreachableError,
)
from poise.models.estimate import estimate_tokens
from poise.models.sse import SSEEvent, aparse_sse

Sleep = Callable[[float], Awaitable[None]]

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
_MAX_QUOTED = 500


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    Attributes:
        max_retries: retries after the first attempt (0 disables retrying).
        initial_delay: backoff before the first retry, in seconds; doubles on every retry.
        max_delay: cap on the backoff.
        max_retry_after: a ``Retry-After`` longer than this is not waited for; the error is
            raised at once with the hint in ``retry_after``.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number ``attempt`` (0-based): half fixed, half random ("equal jitter")."""
        cap = min(self.max_delay, self.initial_delay * (2**attempt))
        return float(cap / 2 + rng.uniform(0, cap / 2))


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts (seconds) and retry policy of a remote backend."""

    timeout: float = 120.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class ErrorContext:
    """What an error message needs to be actionable. ``secrets`` are redacted from messages."""

    backend: str
    model: str
    key_env: str
    secrets: tuple[str, ...] = field(default=(), repr=False)


def decode_event(data: str, source: str, backend: str) -> dict[str, Any]:
    """The JSON object one server-sent event carries; a :class:`ModelServerError` naming ``source``
    when it is not JSON or not an object."""
    try:
        decoded = json.loads(data)
    except ValueError:
        raise ModelServerError(
            f"{source} sent a stream event that is not JSON: {data[:200]!r}", backend=backend
        ) from None
    if not isinstance(decoded, dict):
        raise ModelServerError(f"{source} sent a stream event that is not an object", backend=backend)
    return decoded


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every secret in ``text`` with ``***``."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def server_message(body: str) -> str:
    """The human part of an error body (OpenAI and Anthropic both use ``{"error": {"message"}}``)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:_MAX_QUOTED]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(error.get(key), str):
                    return str(error[key])[:_MAX_QUOTED]
        elif isinstance(error, str):
            return error[:_MAX_QUOTED]
        if isinstance(data.get("detail"), str):
            return str(data["detail"])[:_MAX_QUOTED]
    return body.strip()[:_MAX_QUOTED]


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or as a date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def map_http_status(
    status: int, url: str, body: str, headers: Mapping[str, str], ctx: ErrorContext
) -> ModelError:
    """Turn an unsuccessful HTTP response into the matching typed error."""
    said = redact(server_message(body), ctx.secrets)
    quoted = f" (server said: {said})" if said else ""
    backend = ctx.backend
    if status in (401, 403):
        return ModelAuthError(
            f"the API key was rejected by {url} (HTTP {status}){quoted}; set {ctx.key_env} or pass api_key=…",
            backend=backend,
            status=status,
        )
    if status == 404:
        return ModelNotFoundError(
            f"model {ctx.model!r} was not found at {url}{quoted}; check the model name and the base "
            "URL (OpenAI-compatible servers usually end in /v1); `poise models` lists the backends",
            backend=backend,
            status=status,
        )
    if status == 429:
        retry_after = parse_retry_after(headers)
        hint = f"; retry after {retry_after:.0f}s" if retry_after is not None else ""
        return ModelRateLimitError(
            f"{url} kept answering 429 Too Many Requests{quoted}{hint}; slow down or raise your quota",
            backend=backend,
            retry_after=retry_after,
        )
    if status == 408:
        return ModelTimeoutError(
            f"{url} timed out the request (HTTP 408){quoted}", backend=backend, status=status
        )
    if status >= 500:
        kind = "is overloaded" if status == 529 else f"kept failing with HTTP {status}"
        return ModelServerError(f"{url} {kind}{quoted}; try again later", backend=backend, status=status)
    return ModelRequestError(
        f"{url} rejected the request (HTTP {status}){quoted or ' with no error message'}",
        backend=backend,
        status=status,
    )


def map_transport_error(exc: httpx.HTTPError, url: str, ctx: ErrorContext) -> ModelError:
    """Turn a failure to talk to the server (no HTTP status) into the matching typed error."""
    host = httpx.URL(url).host or url
    detail = redact(str(exc) or type(exc).__name__, ctx.secrets)
    if isinstance(exc, httpx.TimeoutException):
        what = "connect to" if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) else "answer from"
        return ModelTimeoutError(
            f"timed out waiting to {what} {host} ({type(exc).__name__}); raise timeout=… or check the server",
            backend=ctx.backend,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ModelUnreachableError(
            f"cannot reach {url!r}: {detail}; the base URL must start with http:// or https://",
            backend=ctx.backend,
        )
    if isinstance(exc, httpx.ConnectError):
        return ModelUnreachableError(
            f"cannot connect to {host} ({detail}); check that the server is running and the base URL "
            "is right",
            backend=ctx.backend,
        )
    return ModelUnreachableError(
        f"the connection to {host} failed ({type(exc).__name__}: {detail})", backend=ctx.backend
    )


def _retryable_transport_error(exc: httpx.HTTPError) -> bool:
    if isinstance(exc, httpx.TimeoutException):
        return isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
    return isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError)


class ModelHttpClient:
    """Posts JSON to one model API with retries, timeouts and typed errors.

    Args:
        base_url: the API root, e.g. ``https://api.openai.com/v1``.
        headers: sent with every request (credentials included; never shown in reprs or errors).
        context: names used in error messages, and the secrets to redact.
        settings: timeouts and retry policy.
        transport: an httpx transport, e.g. ``httpx.MockTransport`` in tests.
        client: an existing ``httpx.AsyncClient`` to use (its lifetime stays the caller's).
        sleep: awaited between retries; inject a fake in tests.
        rng: source of jitter.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        context: ErrorContext,
        settings: HttpSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.context = context
        self.settings = settings or HttpSettings()
        self._headers = dict(headers)
        self._transport = transport
        self._external = client
        self._owned: httpx.AsyncClient | None = None
        self._owned_loop: asyncio.AbstractEventLoop | None = None
        self._sleep = sleep
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"ModelHttpClient(base_url={self.base_url!r}, backend={self.context.backend!r})"

    def _client(self) -> httpx.AsyncClient:
        if self._external is not None:
            return self._external
        loop = asyncio.get_running_loop()
        if self._owned is None or self._owned_loop is not loop:
            timeout = httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout)
            self._owned = httpx.AsyncClient(timeout=timeout, transport=self._transport)
            self._owned_loop = loop
        return self._owned

    async def aclose(self) -> None:
        """Close the connection pool this client opened (an injected client is left open)."""
        if self._owned is not None:
            owned, self._owned = self._owned, None
            await owned.aclose()

    async def post_json(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """POST ``payload`` to ``{base_url}{path}`` and return the decoded JSON object."""
        response = await self._send(path, payload, stream=False)
        url = str(response.request.url)
        try:
            data = response.json()
        except ValueError:
            raise ModelServerError(
                f"{url} answered with something that is not JSON: {response.text[:200]!r}",
                backend=self.context.backend,
                status=response.status_code,
            ) from None
        if not isinstance(data, dict):
            raise ModelServerError(
                f"{url} answered with JSON that is not an object", backend=self.context.backend
            )
        return data

    async def stream_events(self, path: str, payload: Mapping[str, Any]) -> AsyncGenerator[SSEEvent, None]:
        """POST ``payload`` and yield the server-sent events of the reply.

        Retries happen only before the first event; a failure mid-stream is raised as is (typed).
        """
        response = await self._send(path, payload, stream=True)
        url = str(response.request.url)
        try:
            async for event in aparse_sse(response.aiter_lines()):
                yield event
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, url, self.context) from exc
        finally:
            await response.aclose()

    async def _send(self, path: str, payload: Mapping[str, Any], *, stream: bool) -> httpx.Response:
        url = f"{self.base_url}{path}"
        policy = self.settings.retry
        attempt = 0
        while True:
            client = self._client()
            request = client.build_request("POST", url, json=payload, headers=self._headers)
            try:
                response = await client.send(request, stream=stream)
            except httpx.HTTPError as exc:
                if attempt >= policy.max_retries or not _retryable_transport_error(exc):
                    raise map_transport_error(exc, url, self.context) from exc
                await self._sleep(policy.backoff(attempt, self._rng))
                attempt += 1
                continue
            if response.is_success:
                return response
            body = await self._read_error_body(response)
            status = response.status_code
            retry_after = parse_retry_after(response.headers)
            if (
                status in RETRYABLE_STATUSES
                and attempt < policy.max_retries
                and (retry_after is None or retry_after <= policy.max_retry_after)
            ):
                await self._sleep(max(policy.backoff(attempt, self._rng), retry_after or 0.0))
                attempt += 1
                continue
            raise map_http_status(status, url, body, response.headers, self.context)

    async def _read_error_body(self, response: httpx.Response) -> str:
        try:
            await response.aread()
            return response.text
        except httpx.HTTPError:
            return ""
        finally:
            await response.aclose()


class HttpChatModel:
    """What every HTTP backend shares: its client, base URL, repr, closing, token estimate.

    Subclasses set ``model_id`` and ``_http`` in ``__init__``.
    """

    model_id: str
    _http: ModelHttpClient

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._http.base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, base_url={self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    def count_tokens(self, text: str) -> int:
        """Estimate tokens (about four characters each): the server's tokenizer is not local."""
        return estimate_tokens(text)
