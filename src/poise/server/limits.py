"""Rate limits per API key and per tenant, on any :class:`~poise.guard.ratelimit.RateLimiter`.

A request is admitted when both its key's and its tenant's buckets allow it (one request plus
the estimated tokens), and it holds a concurrency slot of each while it runs. The real token
usage is settled when the reply is done. A refusal is a 429 with ``Retry-After``; the key's
request unit is not refunded when only the tenant refuses (a small over-count, on the safe side).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from poise.guard.ratelimit import (
    InMemoryRateLimiter,
    RateLimitDecision,
    RateLimiter,
    RateLimits,
    TokenReservation,
)
from poise.server.auth import Principal
from poise.server.config import GatewayConfig
from poise.server.metrics import GatewayMetrics

__all__ = ["Admission", "GatewayLimiter"]


@dataclass
class Admission:
    """What an admitted request holds: token reservations to settle and concurrency slots."""

    reservations: list[TokenReservation] = field(default_factory=list)
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)


class GatewayLimiter:
    """Applies the configured key and tenant limits.

    Args:
        config: the gateway configuration (its tenants, keys and anonymous limits).
        limiter: the shared limiter (default: in-process); it must know the per-key limits, so a
            custom one is given the overrides by the caller.
        metrics: where rejections are counted.
    """

    def __init__(
        self, config: GatewayConfig, metrics: GatewayMetrics, *, limiter: RateLimiter | None = None
    ) -> None:
        overrides: dict[str, RateLimits] = {}
        for name, tenant in config.tenants.items():
            if not tenant.limits.unlimited:
                overrides[f"tenant:{name}"] = tenant.limits.to_rate_limits()
            for key in tenant.keys:
                if not key.limits.unlimited:
                    overrides[f"key:{key.id}"] = key.limits.to_rate_limits()
        anon = config.auth.anonymous_limits
        if not anon.unlimited:
            overrides[f"anon:{config.auth.anonymous_tenant}"] = anon.to_rate_limits()
        self.limited = frozenset(overrides)
        self.limiter: RateLimiter = limiter or InMemoryRateLimiter(RateLimits(), overrides=overrides)
        self.metrics = metrics

    def _scopes(self, principal: Principal) -> list[tuple[str, str]]:
        scopes = [("key", principal.rate_key), ("tenant", f"tenant:{principal.tenant}")]
        return [(scope, key) for scope, key in scopes if key in self.limited]

    async def admit(self, principal: Principal, tokens: int) -> Admission:
        """Take a request, ``tokens`` and a concurrency slot from the key and the tenant.

        Raises:
            RateLimitExceeded: a limit refused (the caller maps it to 429 + ``Retry-After``).
        """
        admission = Admission()
        scopes = self._scopes(principal)
        if not scopes:
            return admission
        try:
            for scope, key in scopes:
                decision = await self.limiter.check(key, tokens=tokens)
                self._raise(scope, decision)
                if decision.reservation is not None:
                    admission.reservations.append(decision.reservation)
            for scope, key in scopes:
                slot = await admission.stack.enter_async_context(self.limiter.lease(key))
                self._raise(scope, slot)
        except BaseException:
            await self.release(admission, used_tokens=0)
            raise
        return admission

    def _raise(self, scope: str, decision: RateLimitDecision) -> None:
        if not decision.allowed:
            self.metrics.rate_limited.labels(scope, decision.limit or "unknown").inc()
            decision.raise_for_limit()

    async def release(self, admission: Admission, *, used_tokens: int) -> None:
        """Give back the concurrency slots and settle the token reservations with real usage."""
        await admission.stack.aclose()
        for reservation in admission.reservations:
            await self.limiter.settle(reservation, used_tokens)
        admission.reservations.clear()
