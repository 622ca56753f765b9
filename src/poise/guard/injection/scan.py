"""Shared scanning steps: run rules over every form of a normalized text, map spans back.

A rule can match in three places: the normalized text itself, a variant (the de-leeted text, which
keeps the normalized text's offsets) or a decoded segment (base64, hex, ...). Matches in the last
two also mean the text was *obfuscated*, which is reported as its own ``obfuscation`` finding.

A rule hit that lies wholly inside quotation marks ("translate: \u201cignore the signs\u201d") of a
mostly-quoted text scores :data:`QUOTED_RULE_FACTOR` of its weight unless the rule also matches
outside the quotes: quoting an attack phrase is what translation, summary and security-education
requests do, so such a hit alone does not block; the classifier, which sees the whole text, decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from poise.guard.injection.ruleset import Rule, run_rules
from poise.guard.normalize import NormalizedText
from poise.guard.types import Finding, Span

__all__ = ["QUOTED_RULE_FACTOR", "classifier_findings", "quoted_spans", "rule_findings", "windows"]

_WINDOW = 8_000
_STRIDE = 6_000
_MAX_WINDOWS = 64
QUOTED_RULE_FACTOR = 0.5
"""Weight multiplier of a rule hit found only inside quotation marks."""
QUOTED_SHARE = 0.3
"""Quoted passages must cover this share of a text for their rule hits to be discounted."""
# Double quotes of many scripts (straight, curly, low-9, guillemets, CJK corner brackets); single
# quotes are left out, they are apostrophes too often. Bounded, no nesting: linear time.
_WORD = re.compile(r"\w+")
_QUOTED = re.compile(
    r'"[^"\n]{3,2000}"|\u201c[^\u201d]{3,2000}\u201d|\u201e[^\u201c\u201d]{3,2000}[\u201c\u201d]'
    r"|\u00ab[^\u00bb]{3,2000}\u00bb|\u300c[^\u300d]{2,2000}\u300d|\u300e[^\u300f]{2,2000}\u300f"
)


def windows(text: str) -> list[tuple[int, int]]:
    """Overlapping windows covering ``text``; a huge text is sampled evenly (bounded count)."""
    if len(text) <= _WINDOW:
        return [(0, len(text))]
    starts = list(range(0, len(text) - _WINDOW + _STRIDE, _STRIDE))
    if len(starts) > _MAX_WINDOWS:
        step = len(starts) / _MAX_WINDOWS
        starts = [starts[int(i * step)] for i in range(_MAX_WINDOWS)]
    return [(s, min(len(text), s + _WINDOW)) for s in starts]


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every quoted passage in ``text``, quotation marks included.

    Empty unless quoted passages make up at least :data:`QUOTED_SHARE` of the text (a jailbreak
    that quotes a catchphrase inside a long persona setup is not a quotation) and the text outside
    them is not too short (three words or ten letters): a message that is one quoted order is an
    order.
    """
    if not any(q in text for q in '"\u201c\u201e\u00ab\u300c\u300e'):
        return []
    spans = [m.span() for m in _QUOTED.finditer(text)]
    if sum(e - s for s, e in spans) < QUOTED_SHARE * len(text):
        return []
    words = _WORD.findall(_outside_quotes(text, spans))
    if len(words) < 3 and sum(map(len, words)) < 10:  # CJK runs are one "word" each
        return []
    return spans


def _outside_quotes(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with every quoted passage blanked out (same length, so offsets still agree)."""
    parts, at = [], 0
    for s, e in spans:
        parts += [text[at:s], " " * (e - s)]
        at = e
    return "".join([*parts, text[at:]])


def _quoted_weight(rule: Rule, start: int, end: int, text: str, spans: list[tuple[int, int]]) -> float:
    """The rule's weight, scaled down when its hit only occurs inside quotation marks.

    Indirect-injection rules are not: instructions planted in a pasted, quoted document are what
    they look for.
    """
    if rule.category == "indirect_injection" or not any(s <= start and end <= e for s, e in spans):
        return rule.weight
    if rule.pattern.search(_outside_quotes(text, spans)) is not None:
        return rule.weight
    return rule.weight * QUOTED_RULE_FACTOR


def rule_findings(norm: NormalizedText, rules: tuple[Rule, ...]) -> list[Finding]:
    """Findings for every rule hit in the text, its variants and decoded segments."""
    best: dict[str, Finding] = {}
    obfuscated: list[Finding] = []
    spans = quoted_spans(norm.text)

    def keep(f: Finding) -> None:
        old = best.get(f.category)
        if old is None or f.score > old.score:
            best[f.category] = f
        elif f.spans and f.score == old.score:
            best[f.category] = Finding(old.category, old.score, old.spans + f.spans, old.reason)

    plain: set[str] = set()  # rules that hit the plain normalized text
    for hit in run_rules(norm.text, rules):
        plain.add(hit.rule.name)
        s, e = norm.to_original(hit.start, hit.end)
        weight = _quoted_weight(hit.rule, hit.start, hit.end, norm.text, spans)
        reason = f"rule {hit.rule.name}" + (" (inside quotes)" if weight < hit.rule.weight else "")
        keep(Finding(hit.rule.category, weight, (Span(s, e, hit.rule.name),), reason))
    for variant in norm.variants:
        for hit in run_rules(variant, rules):
            s, e = norm.to_original(hit.start, hit.end)
            weight = _quoted_weight(hit.rule, hit.start, hit.end, variant, quoted_spans(variant))
            reason = f"rule {hit.rule.name} (after undoing leetspeak)"
            keep(Finding(hit.rule.category, weight, (Span(s, e, hit.rule.name),), reason))
            if hit.rule.name not in plain:
                obfuscated.append(
                    Finding(
                        "obfuscation",
                        weight * 0.95,
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
