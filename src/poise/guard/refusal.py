"""Refusal detection on replies: telemetry for over-refusal, not a safety check.

A guard that blocks harmless users is failing too, and the model itself over-refuses ("I'm sorry,
but I can't help with killing a Python process"). :class:`RefusalDetector` flags replies that
decline, so the policy can *log* them and a dashboard can count refusals of harmless prompts.

It is a lexicon of refusal phrases (English plus the common European and Asian languages), weighted
by where they occur: a refusal phrase in the opening sentence is strong evidence, one deep in a
long helpful answer ("I can't stress enough...") is weak, and a compliant opener ("Sure, here is")
lowers the score. Calibrated on XSTest v2's human-labelled model completions with partial
refusals counted as refusals (see :func:`split_of` and ``tests/guard/test_refusal.py``).
"""

# ruff: noqa: E501  (the lexicon's regex alternatives read best one per line)
from __future__ import annotations

import hashlib
import re
import time
from typing import Literal

from poise.guard.types import DetectionContext, DetectorResult, Finding, Span

__all__ = ["REFUSAL_THRESHOLD", "RefusalDetector", "refusal_score", "split_of"]

REFUSAL_THRESHOLD = 0.45
"""Score at or above which a reply counts as a refusal (chosen on the XSTest dev split)."""

_I = r"(?:i|we)(?:\s+(?:really|truly|simply|just|unfortunately))?"
# Phrases that start a word. They share one leading ``\b`` (``\b(?:a|b)`` matches exactly what
# ``\ba|\bb`` does), so the engine tests the boundary once per position instead of once per phrase:
# half the cost on replies that decline nothing, which is most of them.
_STRONG_AT_WORD = [
    rf"{_I}\s*(?:cannot|can ?not|can't|can’t|won't|won’t|will not|am unable to|'m unable to|’m unable to"
    rf"|am not able to|'m not able to|’m not able to|must decline|must refuse|have to decline|do not feel comfortable"
    rf"|don't feel comfortable|don’t feel comfortable|am not comfortable|'m not comfortable|must respectfully)\b",
    r"(?:i'm|i’m|i am)\s+(?:sorry|afraid)\b(?!\s+(?:to hear|for your|about your|that you))",
    r"i\s+(?:apologi[sz]e|must apologi[sz]e)\b",
    r"(?:sorry|unfortunately),?\s+(?:but\s+)?(?:i|we)\b",
    r"i'?m just an ai\b|i’m just an ai\b",
    r"(?:i|we) (?:do not|don't|don’t) think (?:it(?:'s|’s| is)|that(?:'s|’s| is)|you should|(?:it|this|that) (?:is|would be))"
    r"(?: \w+){0,2} (?:appropriate|respectful|fair|accurate|ethical|a good idea|okay|ok)",
    r"(?:it is|it's|it’s|that is|that's|that’s) (?:not|never) (?:accurate|fair|respectful|appropriate)"
    r"(?: or (?:accurate|fair|respectful|appropriate|ethical))? to (?:say|suggest|make|assume|claim|imply)",
    r"(?:it is|it's|it’s|that is|that's|that’s|this is)\s+(?:not|never)\s+(?:appropriate|ethical|safe|legal|"
    r"okay|ok|acceptable|possible for me|something i can)",
    r"not (?:able|allowed|permitted|going) to (?:help|assist|provide|give|share|fulfill|comply|answer|engage)",
    r"(?:cannot|can't|can’t|unable to) (?:help|assist|provide|fulfill|comply|answer|support|engage|create|"
    r"generate|give|share|offer|recommend|suggest|encourage|promote|condone)",
    r"against (?:my|our|the) (?:programming|guidelines|policy|policies|principles|ethical)",
    r"i (?:strongly )?(?:advise|caution|urge) (?:you )?against\b",
    r"(?:instead|rather),? (?:i (?:can|would|suggest|recommend)|let's|you (?:could|might|may))",
    # other languages
    r"(?:ich kann|ich darf|wir können) (?:\w+ ){0,3}nicht\b|es tut mir leid\b|leider kann ich\b",
    r"je ne (?:peux|suis pas en mesure|vais pas)\b|je suis désolée?\b|désolée?,? mais\b",
    r"no (?:puedo|puedes|podemos|es apropiado)\b|lo siento\b",
    r"non (?:posso|sono in grado|è appropriato)\b|mi dispiace\b",
    r"não (?:posso|consigo|sou capaz)\b|(?:sinto muito|desculpe)\b",
    r"ik kan (?:\w+ ){0,2}niet\b|het spijt me\b",
]
# Phrases matched anywhere (scripts written without spaces, or matched inside words).
_STRONG_ANYWHERE = [
    r"(?:я не могу|не могу помочь|к сожалению|извините)",
    r"(?:申し訳|できません|お手伝いできません|我不能|我无法|抱歉|对不起|無法|죄송|할 수 없습니다)",
]
_STRONG = re.compile(
    "|".join([r"\b(?:" + "|".join(_STRONG_AT_WORD) + ")", *_STRONG_ANYWHERE]),
    re.IGNORECASE,
)
_WEAK = re.compile(
    r"\bas an? (?:ai|language model|responsible|ethical)|\bi must (?:respectfully )?(?:clarify|inform|point out|"
    r"emphasi[sz]e|remind)\b|\bi (?:would|will) (?:not|never) (?:recommend|suggest|advise)",
    re.IGNORECASE,
)
_COMPLY = re.compile(
    r"^\s*(?:sure|certainly|of course|absolutely|yes|great question|here(?:'s| is| are)|to \w+ (?:a|an|the)\b"
    r"|there are (?:several|many|a few)|\d+[.)]\s|[-*]\s|#)",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?\n。！？]*[.!?\n。！？]*")
_OPENING_CHARS = 220


def refusal_score(text: str) -> tuple[float, Span | None]:
    """Score in 0..1 that ``text`` declines, and the span of the decisive refusal phrase."""
    head = text.lstrip()
    offset = len(text) - len(head)
    first = _SENTENCE.match(head)
    first_end = first.end() if first and first.end() > 0 else len(head)
    score = 0.0
    where: Span | None = None
    for m in _STRONG.finditer(head):
        if m.start() < first_end:
            s = 0.9
        elif m.start() < _OPENING_CHARS:
            s = 0.7
        elif m.start() < 2 * _OPENING_CHARS:
            s = 0.4
        else:
            s = 0.3 if len(head) < 4 * _OPENING_CHARS else 0.15
        if s > score:
            score, where = s, Span(offset + m.start(), offset + m.end(), "refusal")
        if score >= 0.9:
            break
    weak = _WEAK.search(head, 0, first_end)
    if weak and score < 0.45:
        score, where = 0.45, Span(offset + weak.start(), offset + weak.end(), "refusal")
    if score and _COMPLY.match(head) and score < 0.9:
        score = max(0.0, score - 0.3)
    return score, (where if score else None)


def split_of(key: str) -> Literal["dev", "heldout"]:
    """Deterministic dev/held-out split by XSTest prompt id (30 % held out, same for every model)."""
    return "heldout" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10 < 3 else "dev"


class RefusalDetector:
    """A :class:`~poise.guard.types.Detector` flagging replies that decline (category ``refusal``).

    Args:
        threshold: score at or above which the reply is flagged.
    """

    name = "refusal"

    def __init__(self, threshold: float = REFUSAL_THRESHOLD) -> None:
        self.threshold = threshold

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        started = time.perf_counter()
        score, span = refusal_score(text) if isinstance(text, str) else (0.0, None)
        flagged = score >= self.threshold
        findings = (
            (Finding("refusal", score, (span,) if span else (), "the reply declines the request"),)
            if flagged
            else ()
        )
        return DetectorResult(
            detector=self.name,
            flagged=flagged,
            score=score,
            findings=findings,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
