"""Values every guard detector returns, and the :class:`Detector` protocol.

A detector looks at one text and reports what it found. It never decides what to do about it:
the policy does (allow / redact / rewrite / block / escalate). Detectors are synchronous and pure
(CPU only, no I/O), so they are cheap to call from a test and to run in a thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Span:
    """A character range ``[start, end)`` of the *original* text, with what it is."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Finding:
    """One thing a detector found: a category, a score in 0..1, where, and why."""

    category: str
    score: float
    spans: tuple[Span, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class DetectorResult:
    """What one detector reported on one text."""

    detector: str
    flagged: bool
    score: float
    findings: tuple[Finding, ...] = ()
    latency_ms: float = 0.0

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.category for f in self.findings))


@dataclass(frozen=True)
class DetectionContext:
    """Optional facts a detector may use: the system prompt it guards, secrets, canary."""

    system_prompt: str | None = None
    secrets: tuple[str, ...] = ()
    canary: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    """Anything that inspects a text and reports findings."""

    name: str

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        """Inspect ``text``; never raise for odd input (empty, huge, binary-looking)."""
        ...
