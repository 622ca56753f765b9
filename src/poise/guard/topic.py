"""Topic scope: keep a persona on its subject with allowed and denied topics.

A topic is a name and a list of keywords or phrases, in as many languages as the persona speaks
(``refunds: [refund, money back, remboursement, Rückerstattung, 退款]``). Matching is on folded
text: case-folded, accents stripped (``Rückerstattung`` matches ``ruckerstattung``), whitespace
collapsed, whole words for space-separated scripts and substrings for CJK. Spans point into the
original text.

* A **denied** topic mentioned is a finding ``topic.denied`` (score 1.0, one per topic).
* With **allowed** topics configured, a message of at least ``min_words`` words that mentions
  none of them is ``topic.off_scope`` (score 0.6): short messages ("hi", "thanks") never are.

Keyword matching is deliberately simple and explainable; the policy decides whether off-scope is
only logged (the default) or blocked.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from poise.guard.rails import DEFAULT_TIMEOUT_S, GuardContext, OnError, RailResult
from poise.guard.types import DetectionContext, DetectorResult, Finding, Span

__all__ = ["TopicDetector", "TopicRail", "fold"]

_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_WORD_RE = re.compile(r"\w+")
_SPACE_RUN_RE = re.compile(r"\s+")
_ODD_SPACE_RE = re.compile(r"^\s|\s\s|[^\S ]")  # anything whitespace collapsing would change
OFF_SCOPE_SCORE = 0.6


@dataclass(frozen=True)
class Folded:
    """Folded text and, for each of its characters, the index of the original character."""

    text: str
    index: tuple[int, ...]

    def span(self, start: int, end: int, label: str) -> Span:
        if start >= len(self.index):
            return Span(len(self.index), len(self.index), label)
        return Span(self.index[start], self.index[end - 1] + 1, label)


def fold(text: str) -> Folded:
    """Case-fold, strip accents and collapse whitespace, keeping a map back to ``text``."""
    return _fold_ascii(text) if text.isascii() else _fold_general(text)


def _fold_general(text: str) -> Folded:
    out: list[str] = []
    index: list[int] = []
    space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if not space and out:
                out.append(" ")
                index.append(i)
            space = True
            continue
        space = False
        for c in unicodedata.normalize("NFKD", ch.casefold()):
            if not unicodedata.combining(c):
                out.append(c)
                index.append(i)
    return Folded("".join(out), tuple(index))


def _fold_ascii(text: str) -> Folded:
    # ASCII has no accents and casefold() is lower(): only whitespace runs need the index map.
    low = text.lower()
    if not _ODD_SPACE_RE.search(low):
        return Folded(low, tuple(range(len(low))))
    out: list[str] = []
    index: list[int] = []
    last = 0
    for m in _SPACE_RUN_RE.finditer(low):
        out.append(low[last : m.start()])
        index.extend(range(last, m.start()))
        if m.start() > 0:  # leading whitespace is dropped, every other run becomes one space
            out.append(" ")
            index.append(m.start())
        last = m.end()
    out.append(low[last:])
    index.extend(range(last, len(low)))
    return Folded("".join(out), tuple(index))


def _pattern(phrases: Sequence[str]) -> re.Pattern[str] | None:
    parts = []
    for p in sorted({fold(p).text.strip() for p in phrases if p.strip()}, key=len, reverse=True):
        body = re.escape(p).replace(r"\ ", " ")
        parts.append(body if _CJK_RE.search(p) else rf"(?<!\w){body}(?!\w)")
    return re.compile("|".join(parts)) if parts else None


class TopicDetector:
    """A :class:`~poise.guard.types.Detector` for allowed and denied topics.

    Args:
        allowed: topic name → keywords/phrases; when non-empty, long messages must mention one.
        denied: topic name → keywords/phrases that must not be discussed.
        min_words: messages shorter than this are never off-scope.
    """

    name = "topic"

    def __init__(
        self,
        allowed: Mapping[str, Sequence[str]] | None = None,
        denied: Mapping[str, Sequence[str]] | None = None,
        *,
        min_words: int = 6,
    ) -> None:
        self.allowed = {k: tuple(v) for k, v in (allowed or {}).items()}
        self.denied = {k: tuple(v) for k, v in (denied or {}).items()}
        self.min_words = min_words
        self._allowed = [(k, p) for k, v in self.allowed.items() if (p := _pattern(v)) is not None]
        self._denied = [(k, p) for k, v in self.denied.items() if (p := _pattern(v)) is not None]

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        started = time.perf_counter()
        findings: list[Finding] = []
        if not self._allowed and not self._denied:  # nothing configured: nothing to fold or match
            return DetectorResult(self.name, False, 0.0, (), (time.perf_counter() - started) * 1000)
        folded = fold(text) if isinstance(text, str) else fold("")
        for topic, pattern in self._denied:
            hits = [folded.span(m.start(), m.end(), f"topic:{topic}") for m in pattern.finditer(folded.text)]
            if hits:
                findings.append(Finding("topic.denied", 1.0, tuple(hits), f"mentions denied topic {topic!r}"))
        words = len(_WORD_RE.findall(folded.text)) + len(_CJK_RE.findall(folded.text))
        on_scope = any(p.search(folded.text) for _, p in self._allowed)
        if self._allowed and words >= self.min_words and not on_scope:
            names = ", ".join(sorted(self.allowed))
            reason = f"mentions none of the allowed topics ({names})"
            findings.append(Finding("topic.off_scope", OFF_SCOPE_SCORE, (), reason))
        return DetectorResult(
            detector=self.name,
            flagged=bool(findings),
            score=max((f.score for f in findings), default=0.0),
            findings=tuple(findings),
            latency_ms=(time.perf_counter() - started) * 1000,
        )


class TopicRail:
    """Input rail for topic scope, with topics per persona (by persona id) or for everyone.

    Args:
        allowed: allowed topics for every persona.
        denied: denied topics for every persona.
        personas: persona id → ``{"allowed": {...}, "denied": {...}}`` replacing the shared topics.
    """

    def __init__(
        self,
        allowed: Mapping[str, Sequence[str]] | None = None,
        denied: Mapping[str, Sequence[str]] | None = None,
        *,
        personas: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]] | None = None,
        min_words: int = 6,
        name: str = "topic",
        timeout: float = DEFAULT_TIMEOUT_S,
        on_error: OnError = "fail_closed",
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.on_error: OnError = on_error
        self.mode = "inline"
        self.stream = False
        self.shared = TopicDetector(allowed, denied, min_words=min_words)
        self.per_persona: dict[str, TopicDetector] = {}
        for pid, topics in (personas or {}).items():
            unknown = set(topics) - {"allowed", "denied"}
            if unknown:
                raise ValueError(
                    f"personas.{pid}: unknown keys {sorted(unknown)} (expected 'allowed', 'denied')"
                )
            self.per_persona[pid] = TopicDetector(
                topics.get("allowed"), topics.get("denied"), min_words=min_words
            )

    async def check(self, text: str, ctx: GuardContext) -> RailResult:
        pid = ctx.persona.id if ctx.persona is not None else None
        detector = self.per_persona.get(pid, self.shared) if pid is not None else self.shared
        result = detector.detect(text, ctx.detection)
        return RailResult(rail=self.name, status="ok", on_error=self.on_error, result=result)
