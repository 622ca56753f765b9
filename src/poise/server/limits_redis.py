"""Rate limits shared by every gateway replica: the token buckets of the in-process limiter, in Redis.

:class:`RedisRateLimiter` implements :class:`~poise.guard.ratelimit.RateLimiter` with the same
semantics as :class:`~poise.guard.ratelimit.InMemoryRateLimiter` (same buckets, same
``retry_after``, same all-or-nothing refusals, same token debt), so replicas behind a load
balancer share *exact* limits. Each operation is one Lua script, which Redis runs atomically:

* a key's two buckets are one hash ``{prefix}:{<key>}`` (level and timestamp per bucket), kept
  only until the buckets are full again (a missing hash *is* a full bucket);
* its concurrency slots are a sorted set ``{prefix}:{<key>}:c`` of lease ids scored by their
  expiry, so a slot held by a replica that crashed frees itself after ``lease_ttl_s``.

Time comes from Redis (``TIME``), one clock for every replica; tests inject a fake clock.

Redis unreachable or failing: :class:`~poise.errors.RateLimiterUnavailable` (fail closed; the
gateway answers 503). Settling tokens and releasing a slot are best effort: a failure is logged,
and the bucket refills / the lease expires on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from poise.errors import RateLimiterUnavailable
from poise.guard.ratelimit import LimitName, RateLimitDecision, RateLimits, TokenReservation

__all__ = ["RedisRateLimiter", "check_redis"]

log = logging.getLogger("poise.server")

# Shared by every script. ARGV[1] is the time ('' = Redis TIME); a bucket `p` ('r' requests,
# 't' tokens) is the hash fields <p>l (level) and <p>s (stamp), exactly like guard.ratelimit._Bucket.
_PRELUDE = """
local now
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) else
  local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local function load(p, cap, rate)
  if cap <= 0 then return nil end
  local v = redis.call('HMGET', KEYS[1], p .. 'l', p .. 's')
  local level, stamp = tonumber(v[1]), tonumber(v[2])
  if level == nil or stamp == nil then level, stamp = cap, now end
  if level > cap then level = cap end
  if now > stamp then level = math.min(cap, level + (now - stamp) * rate); stamp = now end
  return {p = p, cap = cap, rate = rate, level = level, stamp = stamp}
end
local function save(buckets)
  local ttl = 0
  for _, b in ipairs(buckets) do
    redis.call('HSET', KEYS[1], b.p .. 'l', string.format('%.17g', b.level),
      b.p .. 's', string.format('%.17g', b.stamp))
    ttl = math.max(ttl, (b.cap - b.level) / b.rate)
  end
  if #buckets > 0 then redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000) + 1000) end
end
local function remaining(b)
  if b == nil then return -1 end
  return math.max(0, math.floor(b.level + 1e-9))
end
local function in_flight(cap)
  if cap <= 0 then return -1 end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  return redis.call('ZCARD', KEYS[2])
end
"""

# ARGV: now, requests cap, requests rate, tokens cap, tokens rate, tokens wanted, concurrency cap.
# Returns {allowed, refusing limit, retry_after ('' = never), remaining requests, remaining
# tokens, in flight}; -1 for a dimension without a limit.
_CHECK = (
    _PRELUDE
    + """
local r = load('r', tonumber(ARGV[2]), tonumber(ARGV[3]))
local t = load('t', tonumber(ARGV[4]), tonumber(ARGV[5]))
local wanted = {}
if r then table.insert(wanted, {'requests_per_minute', r, 1}) end
if t then table.insert(wanted, {'tokens_per_minute', t, tonumber(ARGV[6])}) end
local refused, longest = nil, -2
for _, w in ipairs(wanted) do
  local b, amount = w[2], w[3]
  if b.level + 1e-9 < amount then
    local wait = math.huge
    if amount <= b.cap then wait = math.max(0, (amount - b.level) / b.rate) end
    if wait > longest then refused, longest = w[1], wait end
  end
end
local buckets = {}
if r then table.insert(buckets, r) end
if t then table.insert(buckets, t) end
if refused == nil then
  for _, w in ipairs(wanted) do w[2].level = math.max(-w[2].cap, w[2].level - w[3]) end
end
save(buckets)
local flying = in_flight(tonumber(ARGV[7]))
if refused == nil then return {1, '', '0', remaining(r), remaining(t), flying} end
local after = ''
if longest ~= math.huge then after = string.format('%.17g', longest) end
return {0, refused, after, remaining(r), remaining(t), flying}
"""
)

# ARGV: now, tokens cap, tokens rate, tokens to give back (negative: to charge).
_SETTLE = (
    _PRELUDE
    + """
local t = load('t', tonumber(ARGV[2]), tonumber(ARGV[3]))
if t == nil then return 0 end
t.level = math.max(-t.cap, math.min(t.cap, t.level + tonumber(ARGV[4])))
save({t})
return 1
"""
)

# ARGV: now, concurrency cap, lease id, lease ttl (s). Returns {acquired, in flight}.
_ACQUIRE = (
    _PRELUDE
    + """
local cap = tonumber(ARGV[2])
local flying = in_flight(cap)
if flying >= cap then return {0, flying} end
local ttl = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[2], math.ceil(ttl * 1000) + 1000)
return {1, flying + 1}
"""
)

_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError)


def check_redis(url: str, *, timeout_s: float = 2.0) -> None:
    """Ping Redis once (synchronously), for a clear error at start instead of at the first request.

    Raises:
        RateLimiterUnavailable: Redis cannot be reached, refuses the credentials or fails.
    """
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise RateLimiterUnavailable(
            f"cannot reach Redis at {_redact(url)}: {exc}; start Redis, fix limits.redis_url, "
            "or use limits.backend: memory"
        ) from None
    finally:
        client.close()


def _redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.partition(':')[0]}:***@{host}"


class RedisRateLimiter:
    """A :class:`~poise.guard.ratelimit.RateLimiter` whose state lives in Redis.

    Args:
        url: ``redis://…``, ``rediss://…`` or ``unix://…``.
        limits: the default limits of every key.
        overrides: limits for particular keys (every replica must be given the same ones).
        prefix: the Redis key prefix (one per gateway fleet).
        clock: seconds; ``None`` (the default) uses Redis's own clock, shared by all replicas.
            Inject a fake one in tests.
        lease_ttl_s: how long a concurrency slot lives if its holder never releases it (crash).
        timeout_s: connect and reply timeout of each Redis call.
    """

    def __init__(
        self,
        url: str,
        limits: RateLimits,
        *,
        overrides: Mapping[str, RateLimits] | None = None,
        prefix: str = "poise:rl",
        clock: Callable[[], float] | None = None,
        lease_ttl_s: float = 600.0,
        timeout_s: float = 0.5,
    ) -> None:
        if lease_ttl_s <= 0:
            raise ValueError("lease_ttl_s must be positive")
        self.url = url
        self.limits = limits
        self.overrides = dict(overrides or {})
        self.prefix = prefix
        self.lease_ttl_s = lease_ttl_s
        self._clock = clock
        self._timeout = timeout_s
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, AsyncScript] = {}

    def limits_for(self, key: str) -> RateLimits:
        """The limits that apply to ``key``."""
        return self.overrides.get(key, self.limits)

    # plumbing -------------------------------------------------------------------------------
    def _redis(self) -> aioredis.Redis:
        # An asyncio client belongs to the loop it first ran on; a new loop (tests) gets its own.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
            self._loop = loop
            self._scripts = {
                name: self._client.register_script(body)
                for name, body in (("check", _CHECK), ("settle", _SETTLE), ("acquire", _ACQUIRE))
            }
        return self._client

    def _keys(self, key: str) -> list[str]:
        # The braces are a Redis Cluster hash tag: a key's hash and its lease set share a slot.
        base = f"{self.prefix}:{{{key}}}"
        return [base, f"{base}:c"]

    def _now(self) -> str:
        return "" if self._clock is None else repr(self._clock())

    async def _run(self, script: str, key: str, *args: Any) -> Any:
        client = self._redis()
        try:
            return await self._scripts[script](keys=self._keys(key), args=[self._now(), *args], client=client)
        except _ERRORS as exc:
            raise RateLimiterUnavailable(
                f"the rate limiter cannot reach Redis at {_redact(self.url)} ({exc}); the request is "
                "refused rather than let through unlimited; retry shortly"
            ) from None

    async def aclose(self) -> None:
        """Close the connections to Redis."""
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(RuntimeError):  # its loop is gone: nothing left to close
                await client.aclose()

    # the protocol ---------------------------------------------------------------------------
    async def check(self, key: str, *, tokens: int = 0) -> RateLimitDecision:
        """Take one request and ``tokens`` from ``key``'s buckets, all or nothing (one script).

        Raises:
            RateLimiterUnavailable: Redis cannot be reached (fail closed).
        """
        if tokens < 0:
            raise ValueError(f"tokens must be >= 0, not {tokens}")
        lim = self.limits_for(key)
        rpm, tpm, cap = lim.requests_per_minute, lim.tokens_per_minute, lim.concurrent_requests
        if rpm is None and tpm is None and cap is None:
            return RateLimitDecision(allowed=True, key=key)
        r_cap, t_cap = (rpm or 0) * lim.burst, (tpm or 0) * lim.burst
        allowed, limit, after, left_r, left_t, flying = await self._run(
            "check", key, r_cap, (rpm or 0) / 60, t_cap, (tpm or 0) / 60, tokens, cap or 0
        )
        text = after.decode() if isinstance(after, bytes) else str(after)
        name = limit.decode() if isinstance(limit, bytes) else str(limit)
        return RateLimitDecision(
            allowed=bool(allowed),
            key=key,
            limit=_limit_name(name) if not allowed else None,
            retry_after=(float(text) if text else None) if not allowed else 0.0,
            remaining_requests=None if left_r < 0 else int(left_r),
            remaining_tokens=None if left_t < 0 else int(left_t),
            remaining_concurrent=None if cap is None else max(0, cap - int(flying)),
            reservation=TokenReservation(key, tokens) if allowed and tokens and tpm else None,
        )

    async def settle(self, reservation: TokenReservation | None, actual_tokens: int) -> None:
        """Refund unused estimated tokens or charge the overrun (best effort: logged on failure)."""
        if reservation is None:
            return
        tpm = self.limits_for(reservation.key).tokens_per_minute
        if tpm is None:
            return
        burst = self.limits_for(reservation.key).burst
        try:
            await self._run(
                "settle", reservation.key, tpm * burst, tpm / 60, reservation.tokens - actual_tokens
            )
        except RateLimiterUnavailable as exc:
            log.warning("token settlement lost for %s: %s", reservation.key, exc)

    @asynccontextmanager
    async def _lease(self, key: str) -> AsyncIterator[RateLimitDecision]:
        lim = self.limits_for(key)
        cap = lim.concurrent_requests
        if cap is None:  # nothing to count: no round trip
            yield RateLimitDecision(allowed=True, key=key)
            return
        lease_id = uuid.uuid4().hex
        acquired, flying = await self._run("acquire", key, cap, lease_id, self.lease_ttl_s)
        decision = RateLimitDecision(
            allowed=bool(acquired),
            key=key,
            limit=None if acquired else "concurrent_requests",
            retry_after=0.0 if acquired else lim.concurrency_retry_after,
            remaining_concurrent=max(0, cap - int(flying)),
        )
        try:
            yield decision
        finally:
            if acquired:
                await asyncio.shield(self._release(key, lease_id))

    async def _release(self, key: str, lease_id: str) -> None:
        try:
            await self._redis().zrem(self._keys(key)[1], lease_id)
        except _ERRORS as exc:
            log.warning("could not release a concurrency slot of %s (it expires on its own): %s", key, exc)

    def lease(self, key: str) -> AbstractAsyncContextManager[RateLimitDecision]:
        """Hold a concurrency slot for the block; yields the decision, refused ones included.

        Raises:
            RateLimiterUnavailable: Redis cannot be reached when taking the slot (fail closed).
        """
        return self._lease(key)


def _limit_name(name: str) -> LimitName:
    if name == "tokens_per_minute":
        return "tokens_per_minute"
    return "requests_per_minute"
