"""Upstream faults: the circuit breaker's state machine, fallback backends, 502/504 when nothing can
answer, /readyz and metrics reflecting an open breaker. The upstreams are real HTTP servers on
loopback that fail, hang or go down on demand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from poise.errors import ConfigError
from poise.server import GatewayConfig
from poise.server.breaker import BreakerSettings, CircuitBreaker

from .conftest import sse_events
from .fake_upstream import FakeUpstream

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# the breaker alone -------------------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_and_probes_after_the_cooldown():
    clock = Clock()
    b = CircuitBreaker("a", BreakerSettings(failures=3, window_s=10, cooldown_s=5), clock=clock)
    for _ in range(2):
        assert b.allow()
        b.failure()
    assert b.state == "closed"
    assert b.allow()
    b.failure()
    assert b.state == "open" and not b.allow() and b.retry_after() == 5
    clock.now += 5
    assert b.state == "half_open"
    assert b.allow()  # the probe
    assert not b.allow()  # only one at a time
    b.success()
    assert b.state == "closed" and b.allow()


def test_a_failed_probe_reopens_for_another_cooldown():
    clock = Clock()
    b = CircuitBreaker("a", BreakerSettings(failures=1, cooldown_s=5), clock=clock)
    b.allow()
    b.failure()
    clock.now += 6
    assert b.allow()
    b.failure()
    assert b.state == "open" and b.retry_after() == 5


def test_a_released_probe_lets_the_next_call_probe():
    clock = Clock()
    b = CircuitBreaker("a", BreakerSettings(failures=1, cooldown_s=1), clock=clock)
    b.allow()
    b.failure()
    clock.now += 2
    assert b.allow()
    b.release()  # e.g. the client went away mid-probe
    assert b.allow()


@pytest.mark.parametrize(
    ("gaps", "state"),
    [pytest.param([1, 1], "open", id="close-together"), pytest.param([1, 11], "closed", id="far-apart")],
)
def test_only_failures_within_the_window_count_together(gaps, state):
    clock = Clock()
    b = CircuitBreaker("a", BreakerSettings(failures=3, window_s=10), clock=clock)
    b.failure()
    for gap in gaps:
        clock.now += gap
        b.failure()
    assert b.state == state


def test_a_success_ends_the_failure_streak():
    b = CircuitBreaker("a", BreakerSettings(failures=2))
    b.failure()
    b.success()
    b.failure()
    assert b.state == "closed"


# the gateway with real upstreams on loopback ----------------------------------------------------


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream("primary answered", hang_s=3.0) as a, FakeUpstream("fallback answered") as b:
        yield a, b


def _backend(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "openai:mock",
        "base_url": url,
        "max_retries": 0,
        "timeout_s": 1.0,  # long enough for a loaded machine; the "hang" mode sleeps 3 s
        "breaker": {"failures": 2, "window_s": 30, "cooldown_s": 10},
        **extra,
    }


async def _gateway(make_gateway: Any, a: FakeUpstream, b: FakeUpstream | None, **route: Any) -> Any:
    backends = {"a": _backend(a.url)}
    if b is not None:
        backends["b"] = _backend(b.url)
    gw = await make_gateway(
        backends=backends, models=[{"id": "bank", "persona": "bank-support", "backend": "a", **route}]
    )
    clock = Clock()
    for breaker in gw.app.state.gateway.breakers.values():
        breaker.clock = clock
    gw.clock = clock
    return gw


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def test_fallback_answers_when_the_primary_fails_then_the_breaker_skips_the_primary(
    make_gateway, upstreams
):
    a, b = upstreams
    gw = await _gateway(make_gateway, a, b, fallback="b")
    a.mode = "fail"
    for _ in range(2):
        r = await gw.chat("Is my card active?")
        assert r.status_code == 200
        assert r.json()["choices"][0]["message"]["content"] == "fallback answered"
    assert a.calls == 2
    r = await gw.chat("Is my card still active?")
    assert r.status_code == 200 and a.calls == 2  # open breaker: the primary is not even called
    assert r.json()["choices"][0]["message"]["content"] == "fallback answered"
    ready = await gw.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded" and ready.json()["open_circuits"] == ["a"]
    metrics = (await gw.client.get("/metrics")).text
    assert 'poise_circuit_state{backend="a"} 2.0' in metrics
    assert _metric(metrics, "poise_upstream_fallbacks_total") == 3
    assert _metric(metrics, 'poise_upstream_failures_total{backend="a",kind="error"}') == 2


async def test_a_timeout_falls_back_too(make_gateway, upstreams):
    a, b = upstreams
    gw = await _gateway(make_gateway, a, b, fallback="b")
    a.mode = "hang"
    r = await gw.chat("hello")
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "fallback answered"


async def test_streams_fall_back_before_their_first_piece(make_gateway, upstreams):
    a, b = upstreams
    gw = await _gateway(make_gateway, a, b, fallback="b")
    a.mode = "down"
    r = await gw.chat("hello", stream=True)
    assert r.status_code == 200
    text = "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in sse_events(r.text)
        if isinstance(e, dict) and e.get("choices")
    )
    assert text == "fallback answered"


async def test_sessions_fall_back_too(make_gateway, upstreams):
    a, b = upstreams
    gw = await _gateway(make_gateway, a, b, fallback="b")
    a.mode = "fail"
    r = await gw.chat("hello", headers={"X-Poise-Session": "s1"})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "fallback answered"


async def test_without_a_fallback_failures_are_502_and_timeouts_504(make_gateway, upstreams):
    a, _ = upstreams
    gw = await _gateway(make_gateway, a, None)
    a.mode = "fail"
    r = await gw.chat("hello")
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"
    a.mode = "hang"
    r = await gw.chat("hello")
    assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"


async def test_open_breaker_is_502_with_retry_after_and_readyz_503_until_a_probe_succeeds(
    make_gateway, upstreams
):
    a, _ = upstreams
    gw = await _gateway(make_gateway, a, None)
    a.mode = "fail"
    for _ in range(2):
        assert (await gw.chat("hello")).status_code == 502
    r = await gw.chat("hello")
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unavailable"
    assert r.headers["Retry-After"] == "10" and a.calls == 2
    ready = await gw.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "upstream_unavailable"
    assert (await gw.client.get("/healthz")).status_code == 200  # alive, just not ready
    a.mode = "ok"
    gw.clock.now += 10  # cool-down over: the next call is the probe
    r = await gw.chat("hello")
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "primary answered"
    ready = await gw.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_the_callers_own_mistake_does_not_trip_the_breaker(make_gateway, upstreams):
    a, b = upstreams
    gw = await _gateway(make_gateway, a, b, fallback="b")
    for _ in range(3):
        r = await gw.chat("hello", tools="not a list")
        assert r.status_code == 400
    assert gw.app.state.gateway.breakers["a"].state == "closed"


@pytest.mark.parametrize(
    ("route", "message"),
    [
        pytest.param({"fallback": "nowhere"}, "falls back to backend 'nowhere'", id="unknown"),
        pytest.param({"fallback": "a"}, "falls back to its own backend", id="itself"),
    ],
)
def test_bad_fallback_is_a_config_error(route, message):
    from poise.config import validate_model

    data = {
        "backends": {"a": {"model": "scripted"}},
        "models": [{"id": "bank", "persona": "bank-support", "backend": "a", **route}],
    }
    with pytest.raises(ConfigError, match=message):
        validate_model(GatewayConfig, data, "gateway.yaml")
