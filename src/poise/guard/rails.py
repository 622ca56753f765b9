"""Rails: one check each, run with a timeout, whose crash is an error and never a decision.

A :class:`Rail` is anything with a ``name``, a ``timeout``, an ``on_error`` and an async
``check(text, ctx) -> RailResult``. :class:`DetectorRail` turns any
:class:`~poise.guard.types.Detector` into one. :func:`run_rail` is the *rail runner*: the one
place in the guard with a broad ``except``. Whatever a rail does (raise, hang, return garbage),
the runner hands back a :class:`RailResult`; a crash or a timeout becomes ``status="error"`` with
the error's type and message, and it is the policy, not the runner, that turns that into an
action according to ``on_error`` (``fail_closed`` by default: block with reason
``rail_error:<name>``).

Detectors are synchronous. Most finish in microseconds, where a hop to a thread costs more than
the check itself (about 40-80 us per call on a busy 2-core box, measured with
``bench/guard_pipeline.py``), so they run ``inline`` on the event loop; an inline rail that
overruns its timeout is still reported as a timeout error (its result is discarded), since it
could not be interrupted. CPU-heavy detectors (the ML classifier) run in ``thread`` mode on a
small shared pool, where the timeout really stops the wait. A ``thread`` rail may still check
short texts inline (``inline_chars``): the classifier scores a chat-sized message in about
0.1 ms, less than the hop costs, and only long texts take long enough for an interruptible
timeout to matter. :func:`runs_inline` is the one place that decides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from poise.guard.types import DetectionContext, Detector, DetectorResult

if TYPE_CHECKING:
    from poise.persona.spec import Persona

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TIERS",
    "DetectorRail",
    "ExecutionMode",
    "GuardContext",
    "OnError",
    "Rail",
    "RailError",
    "RailFactory",
    "RailResult",
    "RegisteredRail",
    "Tier",
    "build_rail",
    "rail_names",
    "register_rail",
    "registered_rail",
    "run_rail",
    "runs_inline",
]

OnError = Literal["fail_closed", "fail_open"]
ExecutionMode = Literal["inline", "thread"]
Tier = Literal["anonymous", "customer", "trusted", "internal"]
TIERS: tuple[Tier, ...] = ("anonymous", "customer", "trusted", "internal")
"""Trust tiers, least trusted first."""
DEFAULT_TIMEOUT_S = 0.5

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="poise-rail")


@dataclass(frozen=True)
class GuardContext:
    """What a rail may know about the exchange besides the text it checks.

    Attributes:
        detection: facts for detectors (system prompt, secrets, canary).
        tier: how much the caller is trusted; selects the policy thresholds.
        tenant: the tenant whose policy overrides apply, if any.
        persona: the persona replying (its rule checks, refusal message, topics).
        user_text: the user's message, for output rails that compare with it (reply language).
    """

    detection: DetectionContext = field(default_factory=DetectionContext)
    tier: Tier = "anonymous"
    tenant: str | None = None
    persona: Persona | None = None
    user_text: str | None = None


@dataclass(frozen=True)
class RailError:
    """Why a rail produced no result: the exception type name and its message."""

    type: str
    message: str


@dataclass(frozen=True)
class RailResult:
    """One rail's outcome on one text: a detector result, or an error. Never both.

    ``latency_ms`` is the wall time the runner measured, including any thread hop.
    """

    rail: str
    status: Literal["ok", "error"]
    on_error: OnError = "fail_closed"
    result: DetectorResult | None = None
    error: RailError | None = None
    latency_ms: float = 0.0

    @property
    def flagged(self) -> bool:
        return self.result is not None and self.result.flagged

    @property
    def score(self) -> float:
        return self.result.score if self.result is not None else 0.0

    @property
    def categories(self) -> tuple[str, ...]:
        return self.result.categories if self.result is not None else ()


@runtime_checkable
class Rail(Protocol):
    """One guard check. ``check`` may raise or hang: :func:`run_rail` turns that into an error."""

    name: str
    timeout: float
    on_error: OnError

    async def check(self, text: str, ctx: GuardContext) -> RailResult:
        """Check ``text``; return ``RailResult(status="ok", result=...)``."""
        ...


class DetectorRail:
    """A :class:`Rail` around any :class:`~poise.guard.types.Detector`.

    Args:
        detector: the detector to run.
        name: the rail's name (default: the detector's).
        timeout: seconds before the check counts as failed.
        on_error: what the policy does when this rail errors.
        mode: ``inline`` on the event loop (microsecond detectors) or ``thread`` (CPU-heavy ones).
        stream: whether streaming output checks run this rail on every chunk (span detectors:
            PII, secrets, canaries); whole-reply checks (sentence counts) leave it ``False``.
        inline_chars: in ``thread`` mode, texts of at most this many characters are checked
            inline all the same (0: never), where the hop would cost more than the check.
    """

    def __init__(
        self,
        detector: Detector,
        *,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        on_error: OnError = "fail_closed",
        mode: ExecutionMode = "inline",
        stream: bool = False,
        inline_chars: int = 0,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if inline_chars < 0:
            raise ValueError(f"inline_chars must be >= 0, got {inline_chars}")
        if on_error not in ("fail_closed", "fail_open"):
            raise ValueError(f"on_error must be 'fail_closed' or 'fail_open', got {on_error!r}")
        if mode not in ("inline", "thread"):
            raise ValueError(f"mode must be 'inline' or 'thread', got {mode!r}")
        self.detector = detector
        self.name = name or detector.name
        self.timeout = timeout
        self.on_error: OnError = on_error
        self.mode: ExecutionMode = mode
        self.stream = stream
        self.inline_chars = inline_chars

    def __repr__(self) -> str:
        return (
            f"DetectorRail({self.name!r}, mode={self.mode!r}, timeout={self.timeout}, "
            f"on_error={self.on_error!r})"
        )

    async def check(self, text: str, ctx: GuardContext) -> RailResult:
        if runs_inline(self, text):
            result = self.detector.detect(text, ctx.detection)
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(_POOL, self.detector.detect, text, ctx.detection)
        if not isinstance(result, DetectorResult):
            raise TypeError(
                f"detector {self.detector.name!r} returned {type(result).__name__}, not DetectorResult"
            )
        return RailResult(rail=self.name, status="ok", on_error=self.on_error, result=result)


def runs_inline(rail: Rail, text: str) -> bool:
    """Whether ``rail`` checks ``text`` on the event loop (``inline``, or a short text in ``thread``
    mode under the rail's ``inline_chars``) rather than on the rail thread pool."""
    mode = getattr(rail, "mode", None)
    return mode == "inline" or (mode == "thread" and len(text) <= getattr(rail, "inline_chars", 0))


def _error(rail: Rail, name: str, exc: BaseException, started: float) -> RailResult:
    message = str(exc) or exc.__class__.__doc__ or ""
    return RailResult(
        rail=name,
        status="error",
        on_error=getattr(rail, "on_error", "fail_closed"),
        error=RailError(type=type(exc).__name__, message=message.strip().splitlines()[0] if message else ""),
        latency_ms=(time.perf_counter() - started) * 1000,
    )


async def run_rail(rail: Rail, text: str, ctx: GuardContext) -> RailResult:
    """Run one rail under its timeout; a crash or timeout comes back as ``status="error"``.

    This is the guard's only broad ``except``: a rail failing must never take the request down,
    and must never be mistaken for a decision. ``asyncio.CancelledError`` (the caller gave up) is
    not caught.
    """
    started = time.perf_counter()
    name = str(getattr(rail, "name", type(rail).__name__))
    try:
        timeout = float(rail.timeout)
        if runs_inline(rail, text):
            # Nothing can interrupt synchronous work on the loop; an overrun still counts as a
            # timeout, so the result does not depend on how slow the box happened to be.
            result = await rail.check(text, ctx)
            elapsed = time.perf_counter() - started
            if elapsed > timeout:
                raise TimeoutError(
                    f"ran inline for {elapsed * 1000:.1f} ms, over its {timeout * 1000:.0f} ms timeout"
                )
        else:
            result = await asyncio.wait_for(rail.check(text, ctx), timeout=timeout)
        if not isinstance(result, RailResult):
            raise TypeError(f"rail {name!r} returned {type(result).__name__}, not RailResult")
    except TimeoutError as exc:
        if not str(exc):
            exc = TimeoutError(f"no result within its {float(rail.timeout) * 1000:.0f} ms timeout")
        return _error(rail, name, exc, started)
    except Exception as exc:  # the rail runner: a crash is recorded as an error, never raised
        return _error(rail, name, exc, started)
    latency = (time.perf_counter() - started) * 1000
    return RailResult(
        rail=result.rail or name,
        status=result.status,
        on_error=getattr(rail, "on_error", "fail_closed"),
        result=result.result,
        error=result.error,
        latency_ms=latency,
    )


# --- the registry: rails by name, so a policy file can name them ---------------------------------

RailFactory = Callable[..., Rail]
"""Builds a rail from its YAML ``args`` plus ``name``, ``timeout``, ``on_error``, ``mode``, ``stream``."""


@dataclass(frozen=True)
class RegisteredRail:
    """A registry entry: the factory and what it is for."""

    name: str
    factory: RailFactory
    stages: tuple[str, ...]
    description: str


_REGISTRY: dict[str, RegisteredRail] = {}


def register_rail(
    name: str, *, stages: tuple[str, ...] = ("input", "output"), description: str = ""
) -> Callable[[RailFactory], RailFactory]:
    """Decorator registering a rail factory under ``name`` (a later registration replaces it)."""

    def deco(factory: RailFactory) -> RailFactory:
        _REGISTRY[name] = RegisteredRail(
            name, factory, stages, description or (factory.__doc__ or "").strip()
        )
        return factory

    return deco


def rail_names() -> tuple[str, ...]:
    """Every registered rail name, sorted."""
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def registered_rail(name: str) -> RegisteredRail:
    """The registry entry for ``name``; ``KeyError`` naming the known ones otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown rail {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def build_rail(
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    on_error: OnError = "fail_closed",
    mode: ExecutionMode | None = None,
    stream: bool | None = None,
) -> Rail:
    """Build the rail registered as ``name`` with ``args`` (``TypeError``/``ValueError`` on bad args)."""
    entry = registered_rail(name)
    return entry.factory(
        **dict(args or {}), name=name, timeout=timeout, on_error=on_error, mode=mode, stream=stream
    )


def _load_builtins() -> None:
    # The built-in rails register through the same decorator as anyone else's, in pipeline.py.
    import poise.guard.pipeline  # noqa: F401
