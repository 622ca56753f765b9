"""Rate limits: requests per minute, tokens per minute and concurrent requests, per key.

A limiter *answers*; it does not raise. :meth:`RateLimiter.check` returns a
:class:`RateLimitDecision` (allowed, which limit refused, what is left, ``retry_after``) and
callers that prefer an exception call :meth:`RateLimitDecision.raise_for_limit`, which raises
:class:`~poise.errors.RateLimitExceeded`. A typical request::

    decision = await limiter.check(api_key, tokens=estimate)      # 1 request + estimated tokens
    decision.raise_for_limit()
    async with limiter.lease(api_key) as slot:                    # a concurrency slot
        slot.raise_for_limit()
        reply = await model.chat(...)
    await limiter.settle(decision.reservation, reply.usage.total_tokens)

Rates are token buckets (see ``docs/design/rate-limits.md``): each key has a bucket per limit
that holds up to one minute's allowance and refills continuously. :class:`InMemoryRateLimiter`
keeps them in process; a Redis backend can implement the same async protocol for a fleet.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from poise.errors import RateLimitExceeded

__all__ = [
    "InMemoryRateLimiter",
    "LimitName",
    "RateLimitDecision",
    "RateLimitExceeded",
    "RateLimiter",
    "RateLimits",
    "TokenReservation",
]

_SWEEP_INTERVAL = 60.0
_EPS = 1e-9  # float slack, so that waiting exactly ``retry_after`` is enough

LimitName = Literal["requests_per_minute", "tokens_per_minute", "concurrent_requests"]


@dataclass(frozen=True)
class RateLimits:
    """The limits of one key; ``None`` means unlimited.

    Attributes:
        requests_per_minute: requests admitted per minute, refilled continuously.
        tokens_per_minute: model tokens (prompt + completion) per minute.
        concurrent_requests: requests in flight at once.
        burst: bucket size as a fraction of the per-minute limit (1.0: a whole minute's allowance
            may be spent at once; 0.1: at most six seconds' worth).
        concurrency_retry_after: the ``retry_after`` hint when every concurrency slot is taken
            (no clock can predict when a request finishes).
    """

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    concurrent_requests: int | None = None
    burst: float = 1.0
    concurrency_retry_after: float = 1.0

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute", "concurrent_requests"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None (unlimited), not {value}")
        if not 0 < self.burst <= 1:
            raise ValueError(f"burst must be in (0, 1], not {self.burst}")


@dataclass(frozen=True)
class TokenReservation:
    """Tokens taken from a key's bucket on an estimate, to be settled with the real usage."""

    key: str
    tokens: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class RateLimitDecision:
    """What a limiter answered.

    Attributes:
        allowed: whether the call may go ahead (and what it asked for was taken).
        key: the rate-limit key.
        limit: the limit that refused; ``None`` when allowed.
        retry_after: seconds until the same call can succeed (0.0 when allowed); ``None`` when
            waiting cannot help (the call alone exceeds the limit).
        remaining_requests / remaining_tokens / remaining_concurrent: what is left after this
            call (``None`` for an unlimited dimension); useful for ``x-ratelimit-*`` headers.
        reservation: the tokens taken on the estimate, for :meth:`RateLimiter.settle`.
    """

    allowed: bool
    key: str
    limit: LimitName | None = None
    retry_after: float | None = 0.0
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    remaining_concurrent: int | None = None
    reservation: TokenReservation | None = None

    @property
    def remaining(self) -> int | None:
        """What is left on the limit that refused (0), or on the tightest limit when allowed."""
        values = {
            "requests_per_minute": self.remaining_requests,
            "tokens_per_minute": self.remaining_tokens,
            "concurrent_requests": self.remaining_concurrent,
        }
        if self.limit is not None:
            return values[self.limit]
        known = [v for v in values.values() if v is not None]
        return min(known) if known else None

    def raise_for_limit(self) -> None:
        """Raise :class:`~poise.errors.RateLimitExceeded` when the call was refused."""
        if self.allowed:
            return
        limit = self.limit or "requests_per_minute"
        hint = (
            f"retry after {self.retry_after:.2f}s"
            if self.retry_after is not None
            else "this call alone exceeds the limit; make it smaller or raise the limit"
        )
        raise RateLimitExceeded(
            f"rate limit {limit} exceeded for key {self.key!r}; {hint}",
            retry_after=self.retry_after,
            limit=limit,
            key=self.key,
        )


@runtime_checkable
class RateLimiter(Protocol):
    """Keyed rate limits behind one async interface (in-process or shared, e.g. Redis)."""

    async def check(self, key: str, *, tokens: int = 0) -> RateLimitDecision:
        """Take one request and ``tokens`` (an estimate) from ``key``'s buckets, all or nothing."""
        ...

    async def settle(self, reservation: TokenReservation | None, actual_tokens: int) -> None:
        """Correct a token reservation with the real usage (refund or charge the difference)."""
        ...

    def lease(self, key: str) -> AbstractAsyncContextManager[RateLimitDecision]:
        """Hold one concurrency slot of ``key`` for the ``async with`` block (also on error/cancel)."""
        ...


class _Bucket:
    """A token bucket: ``level`` units now, ``capacity`` at most, ``rate`` units per second."""

    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, per_minute: int, burst: float, now: float) -> None:
        self.capacity = per_minute * burst
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def wait_for(self, amount: float) -> float | None:
        """Seconds until ``amount`` is available; ``None`` when it never fits."""
        if amount > self.capacity:
            return None
        return max(0.0, (amount - self.level) / self.rate)

    def full_at(self) -> float:
        return self.stamp + max(0.0, self.capacity - self.level) / self.rate


@dataclass
class _KeyState:
    requests: _Bucket | None
    tokens: _Bucket | None
    in_flight: int = 0


class InMemoryRateLimiter:
    """A :class:`RateLimiter` for one process; thread-safe and asyncio-safe.

    Every operation is short, synchronous work under one lock (nothing awaits while holding it),
    so tasks and threads can share one limiter.

    Args:
        limits: the default limits of every key.
        overrides: limits for particular keys (a tenant's tier).
        clock: monotonic seconds; inject a fake one in tests.
        max_keys: keys kept in memory. Idle keys (buckets full again, nothing in flight) are
            dropped first, which changes nothing a caller can observe; beyond that the least
            recently used keys without leases go, which briefly forgives their usage.
    """

    def __init__(
        self,
        limits: RateLimits,
        *,
        overrides: Mapping[str, RateLimits] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.limits = limits
        self.overrides = dict(overrides or {})
        self._clock = clock
        self._max_keys = max_keys
        self._keys: OrderedDict[str, _KeyState] = OrderedDict()
        self._lock = threading.Lock()
        self._last_sweep = -math.inf

    def __len__(self) -> int:
        """Keys currently held in memory."""
        return len(self._keys)

    def limits_for(self, key: str) -> RateLimits:
        """The limits that apply to ``key``."""
        return self.overrides.get(key, self.limits)

    # state ----------------------------------------------------------------------------------
    def _state(self, key: str, now: float) -> _KeyState:
        state = self._keys.get(key)
        if state is None:
            lim = self.limits_for(key)
            rpm, tpm = lim.requests_per_minute, lim.tokens_per_minute
            state = _KeyState(
                requests=_Bucket(rpm, lim.burst, now) if rpm else None,
                tokens=_Bucket(tpm, lim.burst, now) if tpm else None,
            )
            self._keys[key] = state
            self._evict(now, keep=key)
        else:
            self._keys.move_to_end(key)
        for bucket in (state.requests, state.tokens):
            if bucket is not None:
                bucket.refill(now)
        return state

    @staticmethod
    def _idle(state: _KeyState, now: float) -> bool:
        buckets = [b for b in (state.requests, state.tokens) if b is not None]
        return state.in_flight == 0 and all(b.full_at() <= now for b in buckets)

    def _evict(self, now: float, keep: str) -> None:
        if len(self._keys) <= self._max_keys:
            return
        # A full sweep is O(keys): do it at most once per sweep interval, LRU in between.
        if now - self._last_sweep >= _SWEEP_INTERVAL:
            self._last_sweep = now
            for name in [k for k, s in self._keys.items() if k != keep and self._idle(s, now)]:
                del self._keys[name]
        passed = 0
        while len(self._keys) > self._max_keys and passed < len(self._keys):
            name = next(iter(self._keys))
            if name == keep or self._keys[name].in_flight:
                self._keys.move_to_end(name)  # in use: the most recent, really
                passed += 1
            else:
                del self._keys[name]

    def evict_idle(self) -> int:
        """Drop every idle key now; returns how many were dropped."""
        with self._lock:
            now = self._clock()
            idle = [k for k, s in self._keys.items() if self._idle(s, now)]
            for name in idle:
                del self._keys[name]
            return len(idle)

    # the protocol ---------------------------------------------------------------------------
    def check_sync(self, key: str, *, tokens: int = 0) -> RateLimitDecision:
        """:meth:`check` for synchronous callers."""
        if tokens < 0:
            raise ValueError(f"tokens must be >= 0, not {tokens}")
        with self._lock:
            now = self._clock()
            state = self._state(key, now)
            wanted: list[tuple[LimitName, _Bucket, float]] = []
            if state.requests is not None:
                wanted.append(("requests_per_minute", state.requests, 1.0))
            if state.tokens is not None:
                # Also with no estimate: a key in token debt waits until the debt is paid.
                wanted.append(("tokens_per_minute", state.tokens, float(tokens)))
            refusals = [(name, b.wait_for(amount)) for name, b, amount in wanted if b.level + _EPS < amount]
            if refusals:
                # The answer that matters is the longest wait: None (never) beats any number.
                name, wait = max(refusals, key=lambda r: math.inf if r[1] is None else r[1])
                return self._decision(key, state, allowed=False, limit=name, retry_after=wait)
            for _, bucket, amount in wanted:
                bucket.level = max(-bucket.capacity, bucket.level - amount)
            reservation = TokenReservation(key, tokens) if tokens and state.tokens is not None else None
            return self._decision(key, state, allowed=True, reservation=reservation)

    async def check(self, key: str, *, tokens: int = 0) -> RateLimitDecision:
        """Take one request and ``tokens`` from ``key``'s buckets, all or nothing; never raises
        for a refusal (see :meth:`RateLimitDecision.raise_for_limit`)."""
        return self.check_sync(key, tokens=tokens)

    async def settle(self, reservation: TokenReservation | None, actual_tokens: int) -> None:
        """Refund unused estimated tokens or charge the overrun (the bucket may go into debt,
        down to minus one bucket, which delays the key's next calls)."""
        if reservation is None:
            return
        with self._lock:
            now = self._clock()
            state = self._state(reservation.key, now)
            if state.tokens is not None:
                b = state.tokens
                b.level = max(-b.capacity, min(b.capacity, b.level + reservation.tokens - actual_tokens))

    def try_acquire_slot(self, key: str) -> RateLimitDecision:
        """Take a concurrency slot if one is free; pair with :meth:`release_slot` (or use :meth:`lease`)."""
        with self._lock:
            state = self._state(key, self._clock())
            lim = self.limits_for(key)
            if lim.concurrent_requests is not None and state.in_flight >= lim.concurrent_requests:
                wait = lim.concurrency_retry_after
                return self._decision(
                    key, state, allowed=False, limit="concurrent_requests", retry_after=wait
                )
            state.in_flight += 1
            return self._decision(key, state, allowed=True)

    def release_slot(self, key: str) -> None:
        """Give back a slot taken by :meth:`try_acquire_slot`."""
        with self._lock:
            state = self._keys.get(key)
            if state is not None and state.in_flight > 0:
                state.in_flight -= 1

    @asynccontextmanager
    async def _lease(self, key: str) -> AsyncIterator[RateLimitDecision]:
        decision = self.try_acquire_slot(key)
        try:
            yield decision
        finally:
            if decision.allowed:
                self.release_slot(key)

    def lease(self, key: str) -> AbstractAsyncContextManager[RateLimitDecision]:
        """Hold a concurrency slot for the block; yields the decision, refused ones included
        (check ``allowed``). The slot is released however the block ends, cancellation too."""
        return self._lease(key)

    def _decision(
        self,
        key: str,
        state: _KeyState,
        *,
        allowed: bool,
        limit: LimitName | None = None,
        retry_after: float | None = 0.0,
        reservation: TokenReservation | None = None,
    ) -> RateLimitDecision:
        cap = self.limits_for(key).concurrent_requests
        return RateLimitDecision(
            allowed=allowed,
            key=key,
            limit=limit,
            retry_after=retry_after,
            remaining_requests=_floor(state.requests),
            remaining_tokens=_floor(state.tokens),
            remaining_concurrent=max(0, cap - state.in_flight) if cap is not None else None,
            reservation=reservation,
        )


def _floor(bucket: _Bucket | None) -> int | None:
    return None if bucket is None else max(0, math.floor(bucket.level + 1e-9))
