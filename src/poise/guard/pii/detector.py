"""Find PII in a text and report it through the :class:`~poise.guard.types.Detector` protocol.

Person names are *not* detected: no offline named-entity recogniser on PyPI ships its weights in
the wheel (spaCy, flair and stanza download models at run time), and a capitalised-word heuristic
flags far too many harmless words. Names inside e-mail addresses are covered by the e-mail type.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable

from poise.guard.pii.entity import ENTITY_TYPES, PIIEntity
from poise.guard.pii.numbers import scan_numbers
from poise.guard.pii.patterns import RECOGNIZERS
from poise.guard.types import DetectionContext, DetectorResult, Finding, Span

__all__ = ["PIIDetector", "find_entities"]

# When two candidates overlap, the more specific type wins (a JWT is not also an API key).
_PRIORITY = {t: i for i, t in enumerate(
    ("PRIVATE_KEY", "JWT", "API_KEY", "SECRET", "EMAIL", "IBAN", "CARD", "SSN",
     "IPV6", "IPV4", "PHONE", "ADDRESS")
)}  # fmt: skip


def find_entities(text: str, types: Iterable[str] | None = None) -> list[PIIEntity]:
    """Every PII entity in ``text``, non-overlapping, in order of position.

    Args:
        text: any string (empty, huge, with lone surrogates); never raises for a ``str``.
        types: only report these entity types (default: all of :data:`ENTITY_TYPES`).
    """
    if not text:
        return []
    wanted = frozenset(types) if types is not None else frozenset(ENTITY_TYPES)
    candidates = [e for rec in RECOGNIZERS for e in rec(text)]
    candidates.extend(scan_numbers(text))
    candidates.sort(key=lambda e: (_PRIORITY.get(e.type, 99), -(e.end - e.start), e.start))
    # Greedy by priority; ``starts``/``ends`` hold the taken, disjoint intervals in order.
    starts: list[int] = []
    ends: list[int] = []
    taken: list[PIIEntity] = []
    for cand in candidates:
        i = bisect.bisect_right(starts, cand.start)
        if (i and ends[i - 1] > cand.start) or (i < len(starts) and starts[i] < cand.end):
            continue
        starts.insert(i, cand.start)
        ends.insert(i, cand.end)
        taken.insert(i, cand)
    return [e for e in taken if e.type in wanted]


class PIIDetector:
    """A :class:`~poise.guard.types.Detector` for personal data and credentials.

    Each entity becomes one :class:`~poise.guard.types.Finding` whose category is the entity type
    (``EMAIL``, ``CARD``, ...) and whose span points into the original text.
    """

    name = "pii"

    def __init__(self, types: Iterable[str] | None = None) -> None:
        self.types: tuple[str, ...] = tuple(types) if types is not None else ENTITY_TYPES
        unknown = set(self.types) - set(ENTITY_TYPES)
        if unknown:
            raise ValueError(f"unknown PII entity types {sorted(unknown)}; known: {', '.join(ENTITY_TYPES)}")

    def entities(self, text: str) -> list[PIIEntity]:
        """The entities of the configured types in ``text``."""
        return find_entities(text, self.types)

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        """Report every entity as a finding; ``context`` is not needed."""
        started = time.perf_counter()
        found = find_entities(text, self.types) if isinstance(text, str) else []
        findings = tuple(
            Finding(category=e.type, score=e.score, spans=(Span(e.start, e.end, e.type),), reason=e.reason)
            for e in found
        )
        score = max((f.score for f in findings), default=0.0)
        return DetectorResult(
            detector=self.name,
            flagged=bool(findings),
            score=score,
            findings=findings,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
