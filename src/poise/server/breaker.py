"""A circuit breaker per upstream backend.

A backend that keeps failing is not called again for a while: every request would only wait for
its timeout and then fail anyway, and a struggling upstream recovers sooner without the load.

States, per backend:

* **closed** -- calls go through. ``failures`` consecutive failures (errors or timeouts, not the
  caller's bad requests) within ``window_s`` seconds of each other open the breaker.
* **open** -- calls are refused at once (the route's fallback answers, or 502 with
  ``Retry-After``) until ``cooldown_s`` has passed.
* **half-open** -- one probe call goes through; success closes the breaker, failure opens it
  for another cool-down. Other calls are refused while the probe is out.

The clock is injectable so tests drive the state machine without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["BreakerMetrics", "BreakerSettings", "CircuitBreaker", "CircuitState"]

CircuitState = Literal["closed", "open", "half_open"]
_STATE_VALUE: dict[CircuitState, int] = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True)
class BreakerSettings:
    """When a breaker opens and how long it stays open.

    Attributes:
        failures: consecutive failures that open the breaker.
        window_s: failures further apart than this do not count as consecutive.
        cooldown_s: how long an open breaker refuses calls before it lets a probe through.
    """

    failures: int = 5
    window_s: float = 30.0
    cooldown_s: float = 15.0


class BreakerMetrics:
    """``poise_circuit_state{backend}`` (0 closed, 1 half-open, 2 open), transitions, fallbacks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.state = Gauge(
            "poise_circuit_state",
            "Circuit breaker state per backend: 0 closed, 1 half-open, 2 open",
            ["backend"],
            registry=registry,
        )
        self.transitions = Counter(
            "poise_circuit_transitions",
            "Circuit breaker state changes",
            ["backend", "state"],
            registry=registry,
        )
        self.rejections = Counter(
            "poise_circuit_rejections",
            "Calls not made because the backend's breaker was open",
            ["backend"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "poise_upstream_fallbacks",
            "Requests answered by a model's fallback backend",
            ["model", "backend"],
            registry=registry,
        )
        self.failures = Counter(
            "poise_upstream_failures",
            "Failed upstream calls by backend",
            ["backend", "kind"],
            registry=registry,
        )


class CircuitBreaker:
    """The breaker of one backend (see the module docstring).

    Args:
        backend: the backend's name (metrics and messages).
        settings: thresholds.
        metrics: where to report state; ``None`` reports nothing.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        backend: str,
        settings: BreakerSettings | None = None,
        *,
        metrics: BreakerMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.settings = settings or BreakerSettings()
        self.metrics = metrics
        self.clock = clock
        self._state: CircuitState = "closed"
        self._failures = 0
        self._last_failure = 0.0
        self._opened_at = 0.0
        self._probing = False
        if metrics is not None:
            metrics.state.labels(backend).set(0)

    @property
    def state(self) -> CircuitState:
        """The current state (an open breaker past its cool-down reads as half-open)."""
        if self._state == "open" and self.clock() - self._opened_at >= self.settings.cooldown_s:
            self._set("half_open")
        return self._state

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self.settings.cooldown_s - (self.clock() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open, ``True`` claims the one probe.

        Every ``True`` must be followed by :meth:`success`, :meth:`failure` or :meth:`release`.
        """
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        if self.metrics is not None:
            self.metrics.rejections.labels(self.backend).inc()
        return False

    def success(self) -> None:
        """The call answered: a probe closes the breaker; the failure streak ends."""
        self._failures = 0
        self._probing = False
        if self._state != "closed":
            self._set("closed")

    def failure(self) -> None:
        """The call failed or timed out."""
        now = self.clock()
        self._probing = False
        if self._state == "half_open":
            self._open(now)
            return
        if self._failures and now - self._last_failure > self.settings.window_s:
            self._failures = 0
        self._failures += 1
        self._last_failure = now
        if self._state == "closed" and self._failures >= self.settings.failures:
            self._open(now)

    def release(self) -> None:
        """The call ended without a verdict (cancelled, or the caller's own mistake)."""
        self._probing = False

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._failures = 0
        self._set("open")

    def _set(self, state: CircuitState) -> None:
        self._state = state
        if self.metrics is not None:
            self.metrics.state.labels(self.backend).set(_STATE_VALUE[state])
            self.metrics.transitions.labels(self.backend, state).inc()
