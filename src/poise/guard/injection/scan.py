"""Shared scanning steps: run rules over every form of a normalized text, map spans back.

A rule can match in three places: the normalized text itself, a variant (the de-leeted text, which
keeps the normalized text's offsets) or a decoded segment (base64, hex, ...). Matches in the last
two also mean the text was *obfuscated*, which is reported as its own ``obfuscation`` finding.
"""

from __future__ import annotations

from collections.abc import Callable

from poise.guard.injection.rules import Rule, run_rules
from poise.guard.normalize import NormalizedText
from poise.guard.types import Finding, Span

__all__ = ["classifier_findings", "rule_findings", "windows"]

_WINDOW = 8_000
_STRIDE = 6_000
_MAX_WINDOWS = 64


def windows(text: str) -> list[tuple[int, int]]:
    """Overlapping windows covering ``text``; a huge text is sampled evenly (bounded count)."""
    if len(text) <= _WINDOW:
        return [(0, len(text))]
    starts = list(range(0, len(text) - _WINDOW + _STRIDE, _STRIDE))
    if len(starts) > _MAX_WINDOWS:
        step = len(starts) / _MAX_WINDOWS
        starts = [starts[int(i * step)] for i in range(_MAX_WINDOWS)]
    return [(s, min(len(text), s + _WINDOW)) for s in starts]


def rule_findings(norm: NormalizedText, rules: tuple[Rule, ...]) -> list[Finding]:
    """Findings for every rule hit in the text, its variants and decoded segments."""
    best: dict[str, Finding] = {}
    obfuscated: list[Finding] = []

    def keep(f: Finding) -> None:
        old = best.get(f.category)
        if old is None or f.score > old.score:
            best[f.category] = f
        elif f.spans and f.score == old.score:
            best[f.category] = Finding(old.category, old.score, old.spans + f.spans, old.reason)

    for hit in run_rules(norm.text, rules):
        s, e = norm.to_original(hit.start, hit.end)
        keep(
            Finding(hit.rule.category, hit.rule.weight, (Span(s, e, hit.rule.name),), f"rule {hit.rule.name}")
        )
    seen = {f.reason for f in best.values()}
    for variant in norm.variants:
        for hit in run_rules(variant, rules):
            s, e = norm.to_original(hit.start, hit.end)
            reason = f"rule {hit.rule.name} (after undoing leetspeak)"
            keep(Finding(hit.rule.category, hit.rule.weight, (Span(s, e, hit.rule.name),), reason))
            if f"rule {hit.rule.name}" not in seen:
                obfuscated.append(
                    Finding(
                        "obfuscation",
                        hit.rule.weight * 0.95,
                        (Span(s, e, "leetspeak"),),
                        f"leetspeak hides {hit.rule.name}",
                    )
                )
    for seg in norm.decoded:
        for hit in run_rules(seg.text, rules):
            reason = f"rule {hit.rule.name} inside {seg.encoding}-encoded text"
            keep(
                Finding(
                    hit.rule.category, hit.rule.weight, (Span(seg.start, seg.end, hit.rule.name),), reason
                )
            )
            obfuscated.append(
                Finding(
                    "obfuscation",
                    hit.rule.weight,
                    (Span(seg.start, seg.end, seg.encoding),),
                    f"{seg.encoding}-encoded {hit.rule.name}",
                )
            )
    hidden = {"homoglyph", "invisible", "unicode_tags", "spaced_letters"} & set(norm.transforms)
    if hidden and best:
        top = max(best.values(), key=lambda f: f.score)
        obfuscated.append(
            Finding(
                "obfuscation",
                top.score * 0.95,
                top.spans,
                f"{', '.join(sorted(hidden))} used around {top.reason}",
            )
        )
    out = list(best.values())
    if obfuscated:
        out.append(max(obfuscated, key=lambda f: f.score))
    return out


def classifier_findings(norm: NormalizedText, score: Callable[[str], float], category: str) -> list[Finding]:
    """The classifier's best window over the text, its variants and decoded segments."""
    best = (0.0, 0, 0, "")
    for s, e in windows(norm.text):
        p = score(norm.text[s:e])
        if p > best[0]:
            os_, oe = norm.to_original(s, e)
            best = (p, os_, oe, "ml classifier")
    for variant in norm.variants[:1]:
        p = score(variant[:_WINDOW])
        if p > best[0]:
            best = (p, 0, len(norm.original), "ml classifier (after undoing leetspeak)")
    for seg in norm.decoded:
        p = score(seg.text[:_WINDOW])
        if p > best[0]:
            best = (p, seg.start, seg.end, f"ml classifier on {seg.encoding}-decoded text")
    p, s, e, reason = best
    if p <= 0.0:
        return []
    return [Finding(category, p, (Span(s, e, "classifier"),), f"{reason}: p={p:.2f}")]
