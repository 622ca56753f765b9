"""The rule engine behind :mod:`poise.guard.injection.rules`: gated, linear-time regex rules.

A :class:`Rule` is a named regex with a category, a weight and *gates*: literal necessary conditions
(a word token or a substring every match contains) checked on the case-folded text before the regex
runs. :func:`run_rules` looks up which rules' first gate holds through a per-table index, so a text
that carries none of a rule's keywords never pays for its regex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from poise.guard.normalize import ignorecase_fold, word_tokens

__all__ = ["MAX_RULE_CHARS", "Gate", "Rule", "RuleHit", "make_rule", "run_rules"]

_F = re.IGNORECASE | re.MULTILINE


@dataclass(frozen=True)
class Gate:
    """One necessary condition of a rule: some ``word`` is a token of the folded text, or some
    ``stem`` is a substring of it. A rule runs only when every one of its gates holds."""

    words: frozenset[str] = frozenset()
    stems: tuple[str, ...] = ()
    _ascii: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def holds(self, folded: str, tokens: frozenset[str], ascii_text: bool) -> bool:
        if not self.words.isdisjoint(tokens):
            return True
        return any(s in folded for s in (self._ascii if ascii_text else self.stems))

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ascii", tuple(s for s in self.stems if s.isascii()))


@dataclass(frozen=True)
class Rule:
    """A named pattern for one attack family.

    ``gates`` are literal necessary conditions of ``pattern`` (a word or substring every match
    contains), checked on the case-folded text before the regex runs: most texts hold none of a
    rule's keywords, and a set lookup is a hundred times cheaper than a case-insensitive search.
    """

    name: str
    category: str
    weight: float
    pattern: re.Pattern[str]
    gates: tuple[Gate, ...] = ()

    def may_match(self, folded: str, tokens: frozenset[str], ascii_text: bool) -> bool:
        """False only when ``pattern`` cannot match the text ``folded`` was made from."""
        return all(g.holds(folded, tokens, ascii_text) for g in self.gates)


@dataclass(frozen=True)
class RuleHit:
    """Where a rule matched, in the coordinates of the text it ran on."""

    rule: Rule
    start: int
    end: int


def make_rule(name: str, category: str, weight: float, pattern: str, *gates: str) -> Rule:
    """A rule; each gate is ``"w:word word ..."`` (whole tokens) and/or ``"s:stem|stem"`` (substrings,
    ``\\|`` for a literal bar), joined by ``;``."""
    return Rule(name, category, weight, re.compile(pattern, _F), tuple(_gate(g) for g in gates))


def _gate(spec: str) -> Gate:
    words: list[str] = []
    stems: list[str] = []
    for part in spec.split(";"):
        kind, _, body = part.strip().partition(":")
        if kind == "w":
            words += [ignorecase_fold(w) for w in body.split()]
        elif kind == "s":
            stems += [ignorecase_fold(x.replace("\\|", "|")) for x in re.split(r"(?<!\\)\|", body)]
        else:
            raise ValueError(f"gate part {part!r} must start with 'w:' or 's:'")
    return Gate(frozenset(words), tuple(stems))


MAX_RULE_CHARS = 120_000
"""Rules read at most this much: the first 90,000 and the last 30,000 characters."""


@dataclass(frozen=True)
class _GateIndex:
    """Rules by the keywords of their first gate, so a text only visits the rules it may match."""

    by_word: dict[str, tuple[int, ...]]
    words: frozenset[str]
    by_stem: tuple[tuple[int, Gate], ...]
    always: tuple[int, ...]


_INDEXES: dict[int, tuple[tuple[Rule, ...], _GateIndex]] = {}


def _index(rules: tuple[Rule, ...]) -> _GateIndex:
    cached = _INDEXES.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    by_word: dict[str, list[int]] = {}
    by_stem: list[tuple[int, Gate]] = []
    always: list[int] = []
    for i, rule in enumerate(rules):
        if not rule.gates:
            always.append(i)
            continue
        first = rule.gates[0]
        for w in first.words:
            by_word.setdefault(w, []).append(i)
        if first.stems:
            by_stem.append((i, Gate(frozenset(), first.stems)))
    index = _GateIndex(
        {w: tuple(v) for w, v in by_word.items()}, frozenset(by_word), tuple(by_stem), tuple(always)
    )
    if len(_INDEXES) > 64:
        _INDEXES.clear()
    _INDEXES[id(rules)] = (rules, index)
    return index


def run_rules(text: str, rules: tuple[Rule, ...]) -> list[RuleHit]:
    """Every rule's first match in ``text`` (one hit per rule is enough to score it).

    A rule's regex runs only when its gates hold (:meth:`Rule.may_match`); rules are still reported
    in their order in ``rules``.
    """
    parts = [(0, text)]
    if len(text) > MAX_RULE_CHARS:
        tail = len(text) - 30_000
        parts = [(0, text[:90_000]), (tail, text[tail:])]
    folded = ignorecase_fold(text)
    words = word_tokens(folded)
    ascii_text = folded.isascii()
    index = _index(rules)
    candidates = set(index.always)
    for w in index.words.intersection(words):
        candidates.update(index.by_word[w])
    for i, gate in index.by_stem:
        if i not in candidates and gate.holds(folded, words, ascii_text):
            candidates.add(i)
    hits: list[RuleHit] = []
    for i in sorted(candidates):
        rule = rules[i]
        if not all(g.holds(folded, words, ascii_text) for g in rule.gates[1:]):
            continue
        for offset, part in parts:
            m = rule.pattern.search(part)
            if m is not None:
                hits.append(RuleHit(rule, offset + m.start(), offset + m.end()))
                break
    return hits
