"""Rate limits per API key and per tenant, on any :class:`~poise.guard.ratelimit.RateLimiter`.

A request is admitted when both its key's and its tenant's buckets allow it (one request plus
the estimated tokens), and it holds a concurrency slot of each while it runs. The real token
usage is settled when the reply is done. A refusal is a 429 with ``Retry-After``; the key's
request unit is not refunded when only the tenant refuses (a small over-count, on the safe side).

``limits.backend: redis`` keeps the buckets in Redis (:mod:`poise.server.limits_redis`) so every
replica shares them; Redis is pinged at start (a clear :class:`~poise.errors.ConfigError`), and
when it fails later the limited requests are refused with 503 (fail closed), never let through.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from poise.errors import ConfigError, RateLimiterUnavailable
from poise.guard.ratelimit import (
    InMemoryRateLimiter,
    RateLimitDecision,
    RateLimiter,
    RateLimits,
    TokenReservation,
)
from poise.server.auth import Principal
from poise.server.config import GatewayConfig
from poise.server.errors import APIError
from poise.server.metrics import GatewayMetrics

__all__ = ["Admission", "GatewayLimiter"]

log = logging.getLogger("poise.server")


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
        self.limiter: RateLimiter = limiter or _build_limiter(config, overrides)
        self.metrics = metrics

    async def aclose(self) -> None:
        """Close the limiter's connections (Redis), if it has any."""
        close = getattr(self.limiter, "aclose", None)
        if close is not None:
            await close()

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
        except RateLimiterUnavailable as exc:
            await self.release(admission, used_tokens=0)
            self.metrics.overloaded.inc()
            log.error("%s", exc)  # the detail (where Redis is) stays in the log, not the answer
            raise APIError(
                503,
                "the rate limiter's shared store cannot be reached, so the gateway refuses rate-limited "
                "requests rather than let them through unlimited; retry shortly",
                type="api_error",
                code="rate_limiter_unavailable",
                retry_after=1,
            ) from None
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


def _build_limiter(config: GatewayConfig, overrides: dict[str, RateLimits]) -> RateLimiter:
    settings = config.limits
    if settings.backend == "memory" or settings.redis_url is None:
        return InMemoryRateLimiter(RateLimits(), overrides=overrides)
    from poise.server.limits_redis import RedisRateLimiter, check_redis

    if overrides:  # nothing limited: Redis is never asked, so it need not be up
        try:
            check_redis(settings.redis_url, timeout_s=max(settings.timeout_s, 2.0))
        except RateLimiterUnavailable as exc:
            raise ConfigError(str(exc), field="limits.redis_url") from None
    return RedisRateLimiter(
        settings.redis_url,
        RateLimits(),
        overrides=overrides,
        prefix=settings.key_prefix,
        lease_ttl_s=settings.lease_ttl_s,
        timeout_s=settings.timeout_s,
    )
