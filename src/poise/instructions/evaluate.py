"""Evaluate a rule set against one request: which rules fire, why, and the fragments they give.

Pure and deterministic: the same rule set, context and signals give the same result (a context
without ``now`` reads the clock, so pin ``now`` where time conditions matter). Conflicts are
settled here, not left to the prompt compiler:

* a fired rule whose action is ``replace: {rule: X}`` drops X's fragment (X's :class:`FiredRule`
  gets ``superseded_by``), even when it is itself replaced in turn; its own text is used whether
  or not X fired;
* when several fired rules replace the same persona section, the highest ``priority`` wins
  (ties: rule id) and the others are marked superseded;
* fragments are ordered by priority, highest first, then rule id (the compiler's order too).
"""

from __future__ import annotations

import re
from datetime import datetime

from poise.instructions.conditions import condition_reasons, describe, resolve_now
from poise.instructions.natural_language import LANGUAGE_NAMES
from poise.instructions.rules import PLACEHOLDER, Rule, RuleSet
from poise.instructions.types import (
    FiredRule,
    InstructionFragment,
    InstructionResult,
    RequestContext,
    Signals,
)

_FALLBACKS = {
    "language": "unknown",
    "language_name": "the user's language",
    "code_language": "the programming language in question",
    "user.name": "the user",
    "user.language_name": "the user's preferred language",
}


def rule_reasons(rule: Rule, context: RequestContext, signals: Signals, now: datetime) -> list[str] | None:
    """The reasons ``rule`` fires, or ``None`` when it does not.

    Args:
        rule: the rule.
        context: the request.
        signals: what analysis detected.
        now: the request time, timezone-aware.
    """
    reasons: list[str] = []
    if rule.when is not None:
        held = condition_reasons(rule.when, context, signals, now)
        if held is None:
            return None
        reasons.extend(held)
    if rule.when_any is not None:
        alternatives = [condition_reasons(c, context, signals, now) for c in rule.when_any]
        matched = [r for r in alternatives if r is not None]
        if not matched:
            return None
        for held in matched:
            reasons.extend(r for r in held if r not in reasons)
    for cond in rule.unless_conditions:
        if condition_reasons(cond, context, signals, now) is not None:
            return None
        reasons.append(f"not ({describe(cond)})")
    return reasons or ["always (the rule has no conditions)"]


def _values(context: RequestContext, signals: Signals) -> dict[str, str | None]:
    user = context.user
    return {
        "language": signals.language,
        "language_name": LANGUAGE_NAMES.get(signals.language or ""),
        "code_language": signals.code_language,
        "task": signals.task,
        "turn": str(signals.turn),
        "user.name": user.name,
        "user.locale": user.locale,
        "user.language": user.language,
        "user.language_name": LANGUAGE_NAMES.get(user.language or ""),
        "user.tier": user.tier,
    }


def render_text(text: str, context: RequestContext, signals: Signals) -> str:
    """Fill ``{{ placeholder }}`` names in a rule text (unknown values use a neutral phrase)."""
    values = _values(context, signals)

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        value = values.get(name)
        return value if value else _FALLBACKS.get(name, "unknown")

    return PLACEHOLDER.sub(sub, text)


def _fragment(rule: Rule, context: RequestContext, signals: Signals) -> InstructionFragment:
    if rule.replace is None:
        text = render_text(rule.add or "", context, signals)
        return InstructionFragment(rule.id, text, priority=rule.priority)
    section = rule.replace.section or "instructions"
    return InstructionFragment(
        rule.id,
        render_text(rule.replace.text, context, signals),
        section=section,
        replaces=rule.replace.rule,
        priority=rule.priority,
    )


def evaluate_rules(
    rule_set: RuleSet, context: RequestContext, signals: Signals | None = None
) -> InstructionResult:
    """Decide which rules fire for a request and build their instruction fragments.

    Args:
        rule_set: the rules, from :func:`~poise.instructions.rules.load_rule_set`.
        context: the request.
        signals: analysis of the request; computed with :func:`~poise.instructions.analyze`
            when not given.

    Returns:
        The fragments (ordered, conflicts settled), every fired rule with its reasons in rule
        file order, and the signals.
    """
    if signals is None:
        from poise.instructions.analyze import analyze

        signals = analyze(context)
    now = resolve_now(context.now)
    fired: list[tuple[Rule, list[str]]] = []
    for rule in rule_set.rules:
        reasons = rule_reasons(rule, context, signals, now)
        if reasons is not None:
            fired.append((rule, reasons))

    ranked = sorted(fired, key=lambda fr: (-fr[0].priority, fr[0].id))
    superseded: dict[str, str] = {}
    for rule, _ in ranked:
        target = rule.replace.rule if rule.replace else None
        if target is not None and target not in superseded:
            superseded[target] = rule.id
    section_owner: dict[str, str] = {}
    for rule, _ in ranked:
        section = rule.replace.section if rule.replace else None
        if section is None or rule.id in superseded:
            continue
        if section in section_owner:
            superseded[rule.id] = section_owner[section]
        else:
            section_owner[section] = rule.id

    fragments = tuple(_fragment(rule, context, signals) for rule, _ in ranked if rule.id not in superseded)
    fired_rules = tuple(
        FiredRule(
            rule.id,
            tuple(reasons),
            "add" if rule.add is not None else "replace",
            superseded_by=superseded.get(rule.id),
        )
        for rule, reasons in fired
    )
    return InstructionResult(fragments=fragments, fired=fired_rules, signals=signals)
