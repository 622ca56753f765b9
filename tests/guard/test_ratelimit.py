"""InMemoryRateLimiter with a fake clock: bursts, refill, tokens, concurrency leases, eviction."""

from __future__ import annotations

import asyncio
import threading

import pytest

from poise.errors import RateLimitExceeded
from poise.guard.ratelimit import InMemoryRateLimiter, RateLimitDecision, RateLimiter, RateLimits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def limiter(clock: FakeClock, **limits: int | float) -> InMemoryRateLimiter:
    return InMemoryRateLimiter(RateLimits(**limits), clock=clock)  # type: ignore[arg-type]


def test_satisfies_the_protocol(clock: FakeClock) -> None:
    assert isinstance(limiter(clock), RateLimiter)


async def test_unlimited_by_default(clock: FakeClock) -> None:
    lim = limiter(clock)
    for _ in range(1000):
        d = await lim.check("k", tokens=10_000)
        assert d.allowed and d.remaining is None and d.reservation is None


async def test_burst_up_to_the_minute_allowance_then_refused(clock: FakeClock) -> None:
    lim = limiter(clock, requests_per_minute=60)
    decisions = [await lim.check("k") for _ in range(61)]
    assert all(d.allowed for d in decisions[:60])
    assert decisions[59].remaining == 0
    refused = decisions[60]
    assert not refused.allowed and refused.limit == "requests_per_minute"
    assert refused.retry_after == pytest.approx(1.0)  # 60/min refills one a second
    assert refused.remaining == 0


async def test_refill_is_continuous(clock: FakeClock) -> None:
    lim = limiter(clock, requests_per_minute=60)
    for _ in range(60):
        await lim.check("k")
    clock.advance(0.5)
    assert not (await lim.check("k")).allowed
    clock.advance(0.5)
    assert (await lim.check("k")).allowed
    clock.advance(10)
    assert (await lim.check("k")).remaining_requests == 9
    clock.advance(3600)
    assert (await lim.check("k")).remaining_requests == 59  # capped at the bucket size


async def test_waiting_exactly_retry_after_is_enough(clock: FakeClock) -> None:
    lim = limiter(clock, requests_per_minute=7, tokens_per_minute=1000)
    while (d := await lim.check("k", tokens=130)).allowed:
        pass
    assert d.retry_after is not None
    clock.advance(d.retry_after)
    assert (await lim.check("k", tokens=130)).allowed


async def test_burst_fraction_limits_the_bucket(clock: FakeClock) -> None:
    lim = limiter(clock, requests_per_minute=600, burst=0.1)
    assert sum([(await lim.check("k")).allowed for _ in range(100)]) == 60


async def test_token_reserve_then_settle_refunds_and_charges(clock: FakeClock) -> None:
    lim = limiter(clock, tokens_per_minute=1000)
    d = await lim.check("k", tokens=600)
    assert d.allowed and d.remaining_tokens == 400 and d.reservation is not None
    assert d.reservation.tokens == 600
    assert not (await lim.check("k", tokens=500)).allowed  # all or nothing: nothing taken
    await lim.settle(d.reservation, 100)  # used less: 500 back
    d2 = await lim.check("k", tokens=800)
    assert d2.allowed and d2.remaining_tokens == 100
    await lim.settle(d2.reservation, 1500)  # used more: 700 of debt
    refused = await lim.check("k")  # no estimate, but the key is in debt
    assert not refused.allowed and refused.limit == "tokens_per_minute"
    assert refused.retry_after == pytest.approx(600 * 60 / 1000)
    await lim.settle(None, 5)  # nothing reserved: a no-op


async def test_refused_request_takes_nothing_from_other_buckets(clock: FakeClock) -> None:
    lim = limiter(clock, requests_per_minute=10, tokens_per_minute=100)
    assert not (await lim.check("k", tokens=101)).allowed
    d = await lim.check("k", tokens=1)
    assert d.remaining_requests == 9 and d.remaining_tokens == 99


async def test_request_larger_than_the_limit_can_never_succeed(clock: FakeClock) -> None:
    lim = limiter(clock, tokens_per_minute=1000)
    d = await lim.check("k", tokens=5000)
    assert not d.allowed and d.limit == "tokens_per_minute" and d.retry_after is None
    with pytest.raises(RateLimitExceeded, match="exceeds the limit") as info:
        d.raise_for_limit()
    assert info.value.retry_after is None


async def test_retry_after_is_the_longest_wait_over_limits(clock: FakeClock) -> None:
    lim = limiter(clock, requests_per_minute=60, tokens_per_minute=60)
    assert (await lim.check("k", tokens=60)).allowed
    d = await lim.check("k", tokens=30)
    assert d.limit == "tokens_per_minute" and d.retry_after == pytest.approx(30.0)


async def test_raise_for_limit(clock: FakeClock) -> None:
    lim = limiter(clock, requests_per_minute=1)
    (await lim.check("k")).raise_for_limit()  # allowed: no error
    d = await lim.check("k")
    with pytest.raises(RateLimitExceeded) as info:
        d.raise_for_limit()
    assert info.value.retry_after == pytest.approx(60.0)
    assert info.value.limit == "requests_per_minute" and info.value.key == "k"


async def test_keys_are_isolated_and_overrides_apply(clock: FakeClock) -> None:
    lim = InMemoryRateLimiter(
        RateLimits(requests_per_minute=1),
        overrides={"gold": RateLimits(requests_per_minute=100)},
        clock=clock,
    )
    assert (await lim.check("a")).allowed
    assert not (await lim.check("a")).allowed
    assert (await lim.check("b")).allowed
    assert all([(await lim.check("gold")).allowed for _ in range(100)])


async def test_lease_limits_concurrency_and_releases(clock: FakeClock) -> None:
    lim = limiter(clock, concurrent_requests=2)
    async with lim.lease("k") as a, lim.lease("k") as b, lim.lease("k") as c:
        assert a.allowed and b.allowed and b.remaining == 0
        assert not c.allowed and c.limit == "concurrent_requests" and c.retry_after == 1.0
    async with lim.lease("k") as again:
        assert again.allowed and again.remaining_concurrent == 1


async def test_lease_released_on_exception(clock: FakeClock) -> None:
    lim = limiter(clock, concurrent_requests=1)
    with pytest.raises(RuntimeError):
        async with lim.lease("k") as slot:
            assert slot.allowed
            raise RuntimeError("model failed")
    async with lim.lease("k") as slot:
        assert slot.allowed


async def test_lease_released_on_cancellation(clock: FakeClock) -> None:
    lim = limiter(clock, concurrent_requests=1)
    entered = asyncio.Event()

    async def call_model() -> None:
        async with lim.lease("k") as slot:
            assert slot.allowed
            entered.set()
            await asyncio.Event().wait()  # forever

    task = asyncio.create_task(call_model())
    await entered.wait()
    async with lim.lease("k") as busy:
        assert not busy.allowed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with lim.lease("k") as slot:
        assert slot.allowed


async def test_refused_lease_does_not_release_someone_elses_slot(clock: FakeClock) -> None:
    lim = limiter(clock, concurrent_requests=1)
    async with lim.lease("k") as held:
        async with lim.lease("k") as refused:
            assert held.allowed and not refused.allowed
        async with lim.lease("k") as still_refused:
            assert not still_refused.allowed


def test_thread_safe_counts(clock: FakeClock) -> None:
    lim = limiter(clock, requests_per_minute=1000)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(300):
            d = lim.check_sync("k")
            with lock:
                allowed.append(d.allowed)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 1000


async def test_idle_keys_are_evicted_and_memory_is_bounded(clock: FakeClock) -> None:
    lim = InMemoryRateLimiter(RateLimits(requests_per_minute=60), clock=clock, max_keys=10)
    for i in range(100):
        await lim.check(f"key-{i}")
    assert len(lim) <= 10
    clock.advance(2)  # one request refills in 1 s: every key is idle again
    before = len(lim)
    assert lim.evict_idle() == before > 0
    assert len(lim) == 0


async def test_eviction_drops_idle_keys_before_busy_ones(clock: FakeClock) -> None:
    lim = InMemoryRateLimiter(RateLimits(tokens_per_minute=60), clock=clock, max_keys=2)
    assert (await lim.check("busy", tokens=60)).allowed  # full again only after 60 s
    assert (await lim.check("idle", tokens=1)).allowed  # full again after 1 s
    clock.advance(2)
    await lim.check("new")
    assert len(lim) == 2
    refused = await lim.check("busy", tokens=60)  # its usage was not forgotten
    assert not refused.allowed and refused.retry_after == pytest.approx(58.0)


async def test_eviction_keeps_keys_with_leases(clock: FakeClock) -> None:
    lim = InMemoryRateLimiter(RateLimits(concurrent_requests=1), clock=clock, max_keys=2)
    async with lim.lease("busy") as held:
        assert held.allowed
        for i in range(10):
            await lim.check(f"other-{i}")
        assert len(lim) <= 2
        async with lim.lease("busy") as second:
            assert not second.allowed  # the busy key's count survived eviction
    async with lim.lease("busy") as third:
        assert third.allowed


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="requests_per_minute must be positive"):
        RateLimits(requests_per_minute=0)
    with pytest.raises(ValueError, match="burst"):
        RateLimits(burst=0)
    with pytest.raises(ValueError, match="max_keys"):
        InMemoryRateLimiter(RateLimits(), max_keys=0)


async def test_negative_tokens_are_rejected(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="tokens"):
        await limiter(clock).check("k", tokens=-1)


def test_decision_is_frozen() -> None:
    d = RateLimitDecision(allowed=True, key="k")
    with pytest.raises(AttributeError):
        d.allowed = False  # type: ignore[misc]
