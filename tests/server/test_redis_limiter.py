"""RedisRateLimiter against a real redis-server: the in-process limiter's cases, run on both backends.

Every case runs on :class:`InMemoryRateLimiter` and :class:`RedisRateLimiter` with the same fake
clock, so the shared backend is held to the exact semantics (buckets, ``retry_after``, debt,
all-or-nothing, leases) of the in-process one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from tests.services import RedisServer, free_port, redis_server

from poise.errors import RateLimiterUnavailable, RateLimitExceeded
from poise.guard.ratelimit import InMemoryRateLimiter, RateLimiter, RateLimits
from poise.server.limits_redis import RedisRateLimiter, check_redis

__all__ = ["redis_server"]

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Make = Callable[..., Any]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Make]:
    """``make(overrides=None, **limits)`` → a limiter of the parametrized backend, fake clock."""
    made: list[RedisRateLimiter] = []

    def build(overrides: dict[str, RateLimits] | None = None, **limits: Any) -> RateLimiter:
        if request.param == "memory":
            return InMemoryRateLimiter(RateLimits(**limits), overrides=overrides, clock=clock)
        server: RedisServer = request.getfixturevalue("redis_server")
        lim = RedisRateLimiter(
            server.url, RateLimits(**limits), overrides=overrides, prefix=uuid.uuid4().hex, clock=clock
        )
        made.append(lim)
        return lim

    yield build
    for lim in made:
        await lim.aclose()


def test_satisfies_the_protocol(make: Make) -> None:
    assert isinstance(make(), RateLimiter)


async def test_unlimited_by_default(make: Make) -> None:
    lim = make()
    for _ in range(100):
        d = await lim.check("k", tokens=10_000)
        assert d.allowed and d.remaining is None and d.reservation is None


async def test_burst_up_to_the_minute_allowance_then_refused(make: Make) -> None:
    lim = make(requests_per_minute=60)
    decisions = [await lim.check("k") for _ in range(61)]
    assert all(d.allowed for d in decisions[:60])
    assert [d.remaining for d in decisions[:3]] == [59, 58, 57]
    assert decisions[59].remaining == 0
    refused = decisions[60]
    assert not refused.allowed and refused.limit == "requests_per_minute"
    assert refused.retry_after == pytest.approx(1.0)
    assert refused.remaining == 0


async def test_refill_is_continuous(make: Make, clock: FakeClock) -> None:
    lim = make(requests_per_minute=60)
    for _ in range(60):
        await lim.check("k")
    clock.advance(0.5)
    assert not (await lim.check("k")).allowed
    clock.advance(0.5)
    assert (await lim.check("k")).allowed
    clock.advance(10)
    assert (await lim.check("k")).remaining_requests == 9
    clock.advance(3600)
    assert (await lim.check("k")).remaining_requests == 59


async def test_waiting_exactly_retry_after_is_enough(make: Make, clock: FakeClock) -> None:
    lim = make(requests_per_minute=7, tokens_per_minute=1000)
    while (d := await lim.check("k", tokens=130)).allowed:
        pass
    assert d.retry_after is not None and d.retry_after > 0
    clock.advance(d.retry_after)
    assert (await lim.check("k", tokens=130)).allowed


async def test_burst_fraction_limits_the_bucket(make: Make) -> None:
    lim = make(requests_per_minute=600, burst=0.1)
    assert sum([(await lim.check("k")).allowed for _ in range(100)]) == 60


async def test_token_reserve_then_settle_refunds_and_charges(make: Make) -> None:
    lim = make(tokens_per_minute=1000)
    d = await lim.check("k", tokens=600)
    assert d.allowed and d.remaining_tokens == 400 and d.reservation is not None
    assert not (await lim.check("k", tokens=500)).allowed  # all or nothing: nothing taken
    await lim.settle(d.reservation, 100)  # used less: 500 back
    d2 = await lim.check("k", tokens=800)
    assert d2.allowed and d2.remaining_tokens == 100
    await lim.settle(d2.reservation, 1500)  # used more: 700 of debt
    refused = await lim.check("k")  # no estimate, but the key is in debt
    assert not refused.allowed and refused.limit == "tokens_per_minute"
    assert refused.retry_after == pytest.approx(600 * 60 / 1000)
    await lim.settle(None, 5)


async def test_debt_is_bounded_by_one_bucket(make: Make, clock: FakeClock) -> None:
    lim = make(tokens_per_minute=600)
    d = await lim.check("k", tokens=100)
    await lim.settle(d.reservation, 100_000)  # would be -99 400; stops at -600
    refused = await lim.check("k", tokens=1)
    assert refused.retry_after == pytest.approx(601 / 10)


async def test_refused_request_takes_nothing_from_other_buckets(make: Make) -> None:
    lim = make(requests_per_minute=10, tokens_per_minute=100)
    assert not (await lim.check("k", tokens=101)).allowed
    d = await lim.check("k", tokens=1)
    assert d.remaining_requests == 9 and d.remaining_tokens == 99


async def test_request_larger_than_the_limit_can_never_succeed(make: Make) -> None:
    lim = make(tokens_per_minute=1000)
    d = await lim.check("k", tokens=5000)
    assert not d.allowed and d.limit == "tokens_per_minute" and d.retry_after is None
    with pytest.raises(RateLimitExceeded, match="exceeds the limit"):
        d.raise_for_limit()


async def test_retry_after_is_the_longest_wait_over_limits(make: Make) -> None:
    lim = make(requests_per_minute=60, tokens_per_minute=60)
    assert (await lim.check("k", tokens=60)).allowed
    d = await lim.check("k", tokens=30)
    assert d.limit == "tokens_per_minute" and d.retry_after == pytest.approx(30.0)


async def test_keys_are_isolated_and_overrides_apply(make: Make) -> None:
    lim = make(overrides={"gold": RateLimits(requests_per_minute=100)}, requests_per_minute=1)
    assert (await lim.check("a")).allowed
    assert not (await lim.check("a")).allowed
    assert (await lim.check("b")).allowed
    assert all([(await lim.check("gold")).allowed for _ in range(100)])
    assert not (await lim.check("gold")).allowed


async def test_lease_limits_concurrency_and_releases(make: Make) -> None:
    lim = make(concurrent_requests=2)
    async with lim.lease("k") as a, lim.lease("k") as b, lim.lease("k") as c:
        assert a.allowed and b.allowed and b.remaining == 0
        assert not c.allowed and c.limit == "concurrent_requests" and c.retry_after == 1.0
        assert (await lim.check("k")).remaining_concurrent == 0
    async with lim.lease("k") as again:
        assert again.allowed and again.remaining_concurrent == 1


async def test_lease_released_on_exception_and_cancellation(make: Make) -> None:
    lim = make(concurrent_requests=1)
    with pytest.raises(RuntimeError):
        async with lim.lease("k") as slot:
            assert slot.allowed
            raise RuntimeError("model failed")
    entered = asyncio.Event()

    async def call_model() -> None:
        async with lim.lease("k") as slot:
            assert slot.allowed
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(call_model())
    await entered.wait()
    async with lim.lease("k") as busy:
        assert not busy.allowed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with lim.lease("k") as slot:
        assert slot.allowed


async def test_refused_lease_does_not_release_someone_elses_slot(make: Make) -> None:
    lim = make(concurrent_requests=1)
    async with lim.lease("k") as held:
        async with lim.lease("k") as refused:
            assert held.allowed and not refused.allowed
        async with lim.lease("k") as still_refused:
            assert not still_refused.allowed


async def test_negative_tokens_are_rejected(make: Make) -> None:
    with pytest.raises(ValueError, match="tokens"):
        await make(tokens_per_minute=10).check("k", tokens=-1)


# Redis only ---------------------------------------------------------------------------------


async def test_two_limiters_on_one_redis_share_exact_limits(redis_server: RedisServer) -> None:
    prefix = uuid.uuid4().hex
    a, b = (
        RedisRateLimiter(redis_server.url, RateLimits(requests_per_minute=10), prefix=prefix) for _ in "ab"
    )
    try:
        decisions = await asyncio.gather(*(lim.check("k") for _ in range(15) for lim in (a, b)))
        assert sum(d.allowed for d in decisions) == 10
        refused = [d for d in decisions if not d.allowed]
        assert all(d.retry_after is not None and 0 < d.retry_after <= 6.1 for d in refused)
    finally:
        await a.aclose()
        await b.aclose()


async def test_lease_of_a_crashed_holder_expires(redis_server: RedisServer, clock: FakeClock) -> None:
    lim = RedisRateLimiter(
        redis_server.url,
        RateLimits(concurrent_requests=1),
        prefix=uuid.uuid4().hex,
        clock=clock,
        lease_ttl_s=30,
    )
    try:
        holder = lim.lease("k")
        assert (await holder.__aenter__()).allowed  # never exited: the replica died
        async with lim.lease("k") as busy:
            assert not busy.allowed
        clock.advance(31)
        async with lim.lease("k") as freed:
            assert freed.allowed
        await holder.__aexit__(None, None, None)  # releasing an expired slot is harmless
        async with lim.lease("k") as again:
            assert again.allowed
    finally:
        await lim.aclose()


async def test_idle_keys_expire_from_redis(redis_server: RedisServer) -> None:
    prefix = uuid.uuid4().hex
    lim = RedisRateLimiter(redis_server.url, RateLimits(requests_per_minute=60_000), prefix=prefix)
    try:
        await lim.check("k")
        client = redis.Redis.from_url(redis_server.url)
        ttl_ms = client.pttl(f"{prefix}:{{k}}")
        client.close()
        assert 0 < ttl_ms <= 1100  # one request refills in 1 ms: the hash lives ~1 s, not forever
    finally:
        await lim.aclose()


async def test_unreachable_redis_fails_closed() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    lim = RedisRateLimiter(url, RateLimits(requests_per_minute=10, concurrent_requests=1), timeout_s=0.2)
    try:
        with pytest.raises(RateLimiterUnavailable, match="refused rather than let through"):
            await lim.check("k")
        with pytest.raises(RateLimiterUnavailable):
            async with lim.lease("k"):
                pass
    finally:
        await lim.aclose()
    with pytest.raises(RateLimiterUnavailable, match=r"cannot reach Redis .*limits.backend: memory"):
        check_redis(url, timeout_s=0.2)


def test_password_is_not_in_the_error() -> None:
    url = f"redis://user:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(RateLimiterUnavailable) as info:
        check_redis(url, timeout_s=0.2)
    assert "hunter2" not in str(info.value) and "user:***@" in str(info.value)
