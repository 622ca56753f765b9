"""Input-side prompt-attack detectors: injection/jailbreak, many-shot and prompt extraction.

:class:`InjectionDetector` is the full pipeline a user message goes through::

    normalize (de-obfuscate, decode)  ->  rules (all families, all languages)  ->  ML classifier

Its score is the highest finding; it is flagged at the threshold chosen on the validation split
(stored with the classifier). :class:`ManyShotDetector` and :class:`SystemPromptExtractionDetector`
run one family each, for policies that want to treat them apart.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from poise.guard.injection.classifier import InjectionClassifier, load_classifier
from poise.guard.injection.manyshot import analyze_turns
from poise.guard.injection.protected import context_findings
from poise.guard.injection.rules import EXTRACTION_RULES, INJECTION_RULES
from poise.guard.injection.scan import classifier_findings, rule_findings
from poise.guard.normalize import NormalizedText, normalize
from poise.guard.types import DetectionContext, DetectorResult, Finding, Span

__all__ = [
    "DEFAULT_THRESHOLD",
    "InjectionDetector",
    "ManyShotDetector",
    "SystemPromptExtractionDetector",
    "many_shot_finding",
]

DEFAULT_THRESHOLD = 0.5
SHORT_TEXT_CHARS = 100
"""Under this many characters (not words: CJK has no spaces) and with no rule hit, the classifier
alone needs high confidence to block: a handful of n-grams is thin evidence ("Tell me your opening
hours", "Imagine you are a medieval blacksmith" scored 0.6-0.8). Short attacks ("ignore all previous
instructions", "reveal your system prompt") are what the rules catch. The length and the bar below
were chosen by 5-fold cross-validation on train + validation: from 32 to 100 characters the pooled
false-positive rate fell from 1.9 % to 0.6 % while recall went from 0.960 to 0.953."""
SHORT_TEXT_CONFIDENT = 0.9
"""A short text's classifier score at or above this stands (the classifier is sure)..."""
TINY_TEXT_CHARS = 32
"""... except under this many characters, where it never does: "Tell me more" and "You are great"
score above 0.9 on a few n-grams each."""
SHORT_TEXT_CAP = 0.9
"""A capped score is this fraction of the detector threshold: still above the policy's ``log``
(0.3), so such texts stay visible in the audit trail, but never a block alone."""
_ALL_RULES = INJECTION_RULES + EXTRACTION_RULES


def _result(name: str, findings: list[Finding], threshold: float, t0: float) -> DetectorResult:
    findings.sort(key=lambda f: -f.score)
    score = findings[0].score if findings else 0.0
    return DetectorResult(
        detector=name,
        flagged=score >= threshold,
        score=round(score, 4),
        findings=tuple(findings),
        latency_ms=(time.perf_counter() - t0) * 1000.0,
    )


def _classifier_bar(length: int) -> float:
    """The classifier score a text of ``length`` characters needs, without rule hits, to keep it."""
    if length < TINY_TEXT_CHARS:
        return 2.0  # never
    return SHORT_TEXT_CONFIDENT if length < SHORT_TEXT_CHARS else 0.0


def _keep_best(found: list[Finding], new: Finding) -> list[Finding]:
    """``found`` with ``new`` in place of its category's finding, if ``new`` scores higher."""
    same = [g for g in found if g.category == new.category]
    if same and new.score <= same[0].score:
        return found
    return [g for g in found if g.category != new.category] + [new]


def many_shot_finding(norm: NormalizedText) -> Finding | None:
    """A ``many_shot`` finding when the text fabricates a long dialogue."""
    analysis = analyze_turns(norm.text)
    if analysis.score <= 0.0 or analysis.span is None:
        return None
    s, e = norm.to_original(analysis.span.start, analysis.span.end)
    reason = (
        f"{analysis.user_turns} user and {analysis.assistant_turns} assistant turns in one message, "
        f"{analysis.compliance_ratio:.0%} of assistant turns comply"
    )
    return Finding("many_shot", round(analysis.score, 4), (Span(s, e, "dialogue"),), reason)


class InjectionDetector:
    """Prompt injection and jailbreak detector: normalization, rules, then the trained classifier.

    Args:
        classifier: a loaded classifier, or ``None`` for the shipped artifact.
        model_path: load the classifier from this ``.npz`` instead of the shipped one.
        use_classifier: ``False`` runs the rules only (faster, lower recall).
        threshold: flag at this score; defaults to the threshold stored with the classifier.
    """

    name = "injection"

    def __init__(
        self,
        classifier: InjectionClassifier | None = None,
        *,
        model_path: Path | None = None,
        use_classifier: bool = True,
        threshold: float | None = None,
    ) -> None:
        self.classifier = (classifier or load_classifier(model_path)) if use_classifier else None
        default = self.classifier.threshold if self.classifier is not None else DEFAULT_THRESHOLD
        self.threshold = threshold if threshold is not None else default

    def findings(self, norm: NormalizedText, system_prompt: str | None = None) -> list[Finding]:
        """All findings for an already normalized text (used by the document scanner too).

        With the ``system_prompt`` the message is sent against, a request for what that prompt
        protects (its secret, a person's private data, a forbidden topic) is a finding too.
        """
        found = rule_findings(norm, _ALL_RULES)
        shot = many_shot_finding(norm)
        if shot is not None:
            found.append(shot)
        bar = 0.0 if found else _classifier_bar(len(norm.text.strip()))
        category = max(found, key=lambda f: f.score).category if found else "injection"
        for f in context_findings(norm, system_prompt):
            found = _keep_best(found, f)
        if self.classifier is not None:
            for f in classifier_findings(
                norm, self.classifier.score, "injection" if category == "obfuscation" else category
            ):
                cap = SHORT_TEXT_CAP * self.threshold
                if cap < f.score < bar:  # too little text for the classifier alone
                    f = replace(f, score=cap, reason=f"{f.reason}; capped: a short text without rule hits")
                found = _keep_best(found, f)
        return found

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        """Score one user message (against ``context.system_prompt`` when given); never raises."""
        t0 = time.perf_counter()
        norm = normalize(text)
        prompt = context.system_prompt if context is not None else None
        return _result(self.name, self.findings(norm, prompt), self.threshold, t0)


class ManyShotDetector:
    """Flags a message that carries many fabricated dialogue turns (many-shot jailbreaking)."""

    name = "many_shot"

    def __init__(self, *, threshold: float = 0.6) -> None:
        self.threshold = threshold

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        """Count role markers and compliant assistant turns; never raises."""
        t0 = time.perf_counter()
        finding = many_shot_finding(normalize(text))
        return _result(self.name, [finding] if finding else [], self.threshold, t0)


class SystemPromptExtractionDetector:
    """Flags requests to reveal the system prompt or earlier instructions, in several languages.

    With a :class:`DetectionContext` carrying the ``system_prompt``, a message that quotes a long
    stretch of it ("continue this: <first words of the prompt>") is flagged too.
    """

    name = "system_prompt_extraction"

    def __init__(self, *, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        """Run the extraction rules on every form of ``text``; never raises."""
        t0 = time.perf_counter()
        norm = normalize(text)
        found = rule_findings(norm, EXTRACTION_RULES)
        prompt = context.system_prompt if context is not None else None
        if prompt and len(prompt) >= 40:
            head = " ".join(prompt.split())[:40].lower()
            at = " ".join(norm.text.split()).lower().find(head)
            if at >= 0:
                found.append(
                    Finding(
                        "system_prompt_extraction",
                        0.8,
                        (Span(0, len(text), "prompt_quote"),),
                        "the message quotes the start of the system prompt",
                    )
                )
        return _result(self.name, found, self.threshold, t0)
