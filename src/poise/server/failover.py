"""A route's upstream with fault handling: attempt deadline, circuit breaker, fallback backend.

:class:`FailoverUpstream` is what a route calls. It tries the route's backend, then its
``fallback`` backend (when the config names one), each behind that backend's
:class:`~poise.server.breaker.CircuitBreaker`:

* an **outage** -- a 5xx, an unreachable host, a timeout (the backend's ``timeout_s`` is also a
  deadline for the whole attempt, retries included), an upstream 429, a misconfigured backend --
  counts against the backend's breaker and moves on to the next backend;
* the **caller's mistake** (400 from the upstream, ``tools`` on a text-only backend) is raised as
  it is: another backend would refuse it too;
* when no backend can answer, the last outage is raised (502 ``upstream_error`` / 504
  ``upstream_timeout``), or, when every breaker was open and nothing was tried, 502
  ``upstream_unavailable`` with ``Retry-After`` set to the shortest remaining cool-down.

Streams fail over only before their first piece; after that the client already has text.
:attr:`FailoverUpstream.model` is the same logic as a :class:`~poise.models.types.ChatModel`, so
server-side sessions (which call the model through the conversation engine) get it too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from poise.errors import (
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
    ModelUnreachableError,
)
from poise.models.types import ChatChunk, ChatMessage, ChatModel, ChatResponse, GenerationParams
from poise.server.breaker import BreakerMetrics, CircuitBreaker
from poise.server.errors import APIError
from poise.server.upstream import Upstream, UpstreamCall, UpstreamDelta, UpstreamReply, aclose_iterator

__all__ = ["Attempt", "FailoverUpstream", "is_outage"]

T = TypeVar("T")
_OUTAGES = (
    ModelServerError,
    ModelUnreachableError,
    ModelTimeoutError,
    ModelRateLimitError,
    ModelAuthError,
    ModelNotFoundError,
    TimeoutError,
)
_TOOL_FIELDS = ("tools", "functions", "tool_choice", "function_call")


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the backend cannot answer now (rather than that the request is bad)."""
    if isinstance(exc, _OUTAGES):
        return True
    # A ModelError without a more precise type (a backend's own failure) is an outage too; the
    # request-level ones (400, cancelled) are not.
    return type(exc) is ModelError


def _kind(exc: BaseException) -> str:
    if isinstance(exc, ModelTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, ModelRateLimitError):
        return "rate_limited"
    if isinstance(exc, ModelUnreachableError):
        return "unreachable"
    if isinstance(exc, ModelAuthError | ModelNotFoundError):
        return "misconfigured"
    return "error"


@dataclass(frozen=True)
class Attempt:
    """One backend a route may call: the upstream, its breaker and its attempt deadline."""

    backend: str
    upstream: Upstream
    breaker: CircuitBreaker
    deadline_s: float | None = None


class FailoverUpstream:
    """The upstream of one route: backends in order, each behind its breaker (module docstring).

    Args:
        route: the model id (metrics and messages).
        attempts: the route's backend first, then its fallback.
        metrics: breaker metrics (fallbacks and failures are counted there).
    """

    def __init__(
        self, route: str, attempts: Sequence[Attempt], metrics: BreakerMetrics | None = None
    ) -> None:
        if not attempts:
            raise ValueError("a route needs at least one backend")
        self.route = route
        self.attempts = tuple(attempts)
        self.metrics = metrics
        primary = self.attempts[0].upstream
        self.name = primary.name
        self.supports_tools = primary.supports_tools
        self.model: ChatModel = FailoverChatModel(self)

    @property
    def available(self) -> bool:
        """Whether some backend's breaker would let a call through now."""
        return any(a.breaker.state != "open" for a in self.attempts)

    def _eligible(self, needs_tools: bool) -> list[Attempt]:
        able = [a for a in self.attempts if a.upstream.supports_tools or not needs_tools]
        return able or [self.attempts[0]]  # which refuses the tools with a 400 naming the fix

    def _failed(self, attempt: Attempt, exc: BaseException) -> bool:
        """Settle the breaker after ``exc``; whether the next backend should be tried."""
        if is_outage(exc):
            attempt.breaker.failure()
            if self.metrics is not None:
                self.metrics.failures.labels(attempt.backend, _kind(exc)).inc()
            return True
        attempt.breaker.release()
        return False

    def _answered(self, index: int, attempt: Attempt) -> None:
        attempt.breaker.success()
        if index > 0 and self.metrics is not None:
            self.metrics.fallbacks.labels(self.route, attempt.backend).inc()

    def _unavailable(self, last: BaseException | None, tried: list[Attempt]) -> BaseException:
        if last is not None:
            return last
        wait = min((a.breaker.retry_after() for a in tried), default=1.0)
        names = ", ".join(a.backend for a in tried) or "none"
        return APIError(
            502,
            f"no backend of the model {self.route!r} can answer now: the circuit breaker is open for "
            f"{names} after repeated upstream failures; retry after the cool-down",
            type="api_error",
            code="upstream_unavailable",
            retry_after=max(1.0, wait),
        )

    async def run(self, needs_tools: bool, call: Callable[[Upstream], Awaitable[T]]) -> T:
        """``call`` on each backend in turn until one answers (the module docstring's rules)."""
        candidates = self._eligible(needs_tools)
        last: BaseException | None = None
        for index, attempt in enumerate(candidates):
            if not attempt.breaker.allow():
                continue
            try:
                async with asyncio.timeout(attempt.deadline_s):
                    result = await call(attempt.upstream)
            except BaseException as exc:
                if not self._failed(attempt, exc):
                    raise
                last = exc
                continue
            self._answered(index, attempt)
            return result
        raise self._unavailable(last, candidates)

    async def open(
        self, needs_tools: bool, start: Callable[[Upstream], AsyncIterator[T]]
    ) -> tuple[T | None, AsyncIterator[T] | None, Attempt]:
        """Start a stream on the first backend that yields a first piece.

        Returns the first piece (``None`` for an empty stream), the rest, and the backend used.
        """
        candidates = self._eligible(needs_tools)
        last: BaseException | None = None
        for index, attempt in enumerate(candidates):
            if not attempt.breaker.allow():
                continue
            source = start(attempt.upstream)
            try:
                async with asyncio.timeout(attempt.deadline_s):
                    first = await anext(source)
            except StopAsyncIteration:
                self._answered(index, attempt)
                return None, None, attempt
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    await aclose_iterator(source)
                if not self._failed(attempt, exc):
                    raise
                last = exc
                continue
            self._answered(index, attempt)
            return first, source, attempt
        raise self._unavailable(last, candidates)

    async def relay(
        self, needs_tools: bool, start: Callable[[Upstream], AsyncIterator[T]]
    ) -> AsyncIterator[T]:
        """The stream of the first backend that answers; a later failure counts on its breaker."""
        first, rest, attempt = await self.open(needs_tools, start)
        if rest is None:
            return
        try:
            yield first  # type: ignore[misc]
            async for item in rest:
                yield item
        except BaseException as exc:
            if is_outage(exc):
                attempt.breaker.failure()
            raise
        finally:
            with contextlib.suppress(Exception):
                await aclose_iterator(rest)

    # the Upstream protocol -----------------------------------------------------------------------
    async def complete(self, call: UpstreamCall) -> UpstreamReply:
        return await self.run(_needs_tools(call), lambda up: up.complete(call))

    def stream(self, call: UpstreamCall) -> AsyncIterator[UpstreamDelta]:
        return self.relay(_needs_tools(call), lambda up: up.stream(call))

    async def aclose(self) -> None:
        """Backends are shared between routes; the gateway closes each once."""


def _needs_tools(call: UpstreamCall) -> bool:
    return any(k in call.extra for k in _TOOL_FIELDS)


class FailoverChatModel:
    """:class:`FailoverUpstream` as a :class:`~poise.models.types.ChatModel` (server-side sessions)."""

    def __init__(self, upstream: FailoverUpstream) -> None:
        self._up = upstream
        primary = upstream.attempts[0].upstream.model
        self.name = primary.name
        self.model_id = primary.model_id
        self.context_window = primary.context_window
        self._primary = primary

    async def generate(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> ChatResponse:
        return await self._up.run(False, lambda up: up.model.generate(messages, params))

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[ChatChunk]:
        return self._up.relay(False, lambda up: up.model.stream(messages, params))

    def count_tokens(self, text: str) -> int:
        return self._primary.count_tokens(text)
