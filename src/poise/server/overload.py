"""Load shedding: a cap on the API requests in flight, enforced before any work is done.

More concurrent ``/v1/`` requests than ``server.max_in_flight`` are answered 503 ``overloaded``
with ``Retry-After`` at once -- before the body is read, parsed, authenticated or audited -- so a
flood costs the gateway almost nothing per refused request and the requests it did accept keep
their latency. A request counts from its first byte in to its last byte out (a stream until its
``[DONE]``). Health, readiness and metrics are never shed, so an orchestrator still sees a live
process under overload.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from poise.server.errors import APIError, error_response
from poise.server.metrics import GatewayMetrics

__all__ = ["ConcurrencyLimit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ConcurrencyLimit:
    """Pure ASGI middleware: at most ``max_in_flight`` requests under ``prefix`` at a time.

    Args:
        app: the wrapped app.
        max_in_flight: the cap; the next request gets 503 with ``Retry-After``.
        metrics: ``poise_requests_in_flight`` and ``poise_overload_rejections_total`` go here.
        retry_after: seconds the 503 tells clients to wait.
        prefix: the paths that count (the API, not health or metrics).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_in_flight: int,
        metrics: GatewayMetrics | None = None,
        retry_after: float = 1.0,
        prefix: str = "/v1/",
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.metrics = metrics
        self.retry_after = retry_after
        self.prefix = prefix
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            if self.metrics is not None:
                self.metrics.overloaded.inc()
            error = APIError(
                503,
                f"the gateway is serving its maximum of {self.max_in_flight} requests; retry shortly",
                type="api_error",
                code="overloaded",
                retry_after=self.retry_after,
            )
            await error_response(error)(scope, receive, send)
            return
        self.in_flight += 1
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            if self.metrics is not None:
                self.metrics.in_flight.dec()
