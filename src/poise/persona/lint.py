"""Lint a persona: contradictions, rules no checker can verify, prompt size, missing parts.

Every finding has a stable code; severities never change per code::

    P101 error    a required list is longer than the sentence limit allows
    P102 error    required content (phrases, sign-off, 3 words per sentence/list item) exceeds max_words
    P103 error    min_sentences is greater than max_sentences
    P104 error    a required reply language is not among tone.languages
    P105 error    two rules require different reply languages
    P106 error    a banned term appears in the greeting, an example, the refusal, escalation or reminder
    P107 error    a required phrase or sign-off contains a banned term
    P108 error    an example does not contain the required sign-off
    P109 warning  apologize_first, but an example does not open with an apology
    P110 error    emoji are forbidden (no_emoji or tone.emoji: never) but the persona's own text has some
    P111 warning  an example breaks a length or list check (sentence counting is approximate)
    P112 error    a do-rule and a dont-rule say the same thing
    P113 warning  two rules say the same thing (duplicate)
    P114 warning  a do-rule and a dont-rule are nearly the same
    P115 warning  tone.verbosity disagrees with the length checks
    P116 warning  a rule's text states a limit its check does not enforce (or enforces differently)
    P117 error    a secret appears in the persona's text, where the model or the user sees it
    P201 info     a rule has no check, so no rail can verify it (hint: the check to add, when the text
                  suggests one)
    P301 warning  the compiled prompt is over the token budget
    P302 error    the persona does not compile
    P401 warning  no refusal style          P402 warning  no escalation
    P403 info     no examples               P404 info     no greeting

Limits are read from rule checks and, heuristically, from rule text ("at most 2 sentences",
"a 5-step checklist", "reply in German"); a rule whose text is conditional (when, if, unless...)
contributes no stated limit, since it does not apply to every reply. Unchecked rules are always
``info``: many good rules (be kind, don't argue) cannot be checked, and that is fine.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from poise.errors import ConfigError
from poise.persona.compile import compile_persona
from poise.persona.spec import Persona, Rule

Severity = Literal["error", "warning", "info"]
_LIMITS = ("max_sentences", "min_sentences", "max_words", "min_list_items")


@dataclass(frozen=True)
class LintFinding:
    """One problem found in a persona; ``field`` is a path such as ``rules[3].check``."""

    severity: Severity
    code: str
    message: str
    field: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class LintReport:
    """Every finding for one persona, and the size of its compiled prompt."""

    persona_id: str
    findings: tuple[LintFinding, ...]
    prompt_tokens: int | None
    token_budget: int

    def _of(self, severity: Severity) -> tuple[LintFinding, ...]:
        return tuple(f for f in self.findings if f.severity == severity)

    @property
    def errors(self) -> tuple[LintFinding, ...]:
        return self._of("error")

    @property
    def warnings(self) -> tuple[LintFinding, ...]:
        return self._of("warning")

    @property
    def infos(self) -> tuple[LintFinding, ...]:
        return self._of("info")

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings and infos allowed)."""
        return not self.errors

    def codes(self) -> list[str]:
        """The finding codes in order, e.g. ``["P101", "P201"]``."""
        return [f.code for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "persona": self.persona_id,
            "ok": self.ok,
            "counts": {"error": len(self.errors), "warning": len(self.warnings), "info": len(self.infos)},
            "prompt_tokens": self.prompt_tokens,
            "token_budget": self.token_budget,
            "findings": [f.to_dict() for f in self.findings],
        }


def estimate_tokens(text: str) -> int:
    """Estimate BPE tokens: ~4 ASCII characters per token, one per other character.

    OpenAI's rule of thumb for English; counting every non-ASCII character (CJK, emoji, accents)
    as a whole token errs high, which is the safe side for a budget.
    """
    ascii_chars = sum(1 for c in text if c.isascii())
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


# --- reading limits from rule text -------------------------------------------------------------

_WORDNUM = {
    "a single": 1,
    "single": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_N = r"(\d+|a single|single|one|two|three|four|five|six|seven|eight|nine|ten)"
_AT_MOST = r"(?:at most|no more than|not more than|up to|a maximum of|maximum of|max(?:imum)?)"
_LIST_NOUN = r"(?:bullet points|bullets|items|steps|tips|options|points|reasons|suggestions)"
_CONDITIONAL = re.compile(r"\b(?:when|whenever|if|unless|except|while|in case)\b", re.IGNORECASE)
_LANGS = {
    "english": "en",
    "spanish": "es",
    "french": "fr",
    "german": "de",
    "italian": "it",
    "portuguese": "pt",
    "dutch": "nl",
    "polish": "pl",
    "swedish": "sv",
    "danish": "da",
    "norwegian": "no",
    "finnish": "fi",
    "russian": "ru",
    "ukrainian": "uk",
    "turkish": "tr",
    "arabic": "ar",
    "hebrew": "he",
    "hindi": "hi",
    "japanese": "ja",
    "chinese": "zh",
    "korean": "ko",
    "greek": "el",
    "czech": "cs",
    "romanian": "ro",
    "hungarian": "hu",
}


def _num(word: str) -> int:
    return int(word) if word.isdigit() else _WORDNUM[word]


def _stated_limits(rule: Rule) -> dict[str, Any]:
    """Checkable limits a rule's text states, as the ``check`` keys that would enforce them."""
    text, out = rule.text.lower(), dict[str, Any]()
    do = rule.kind == "do"
    for unit, kind in (("sentences?", "sentences"), ("words?", "words")):
        if do:
            pats = [
                (rf"{_AT_MOST}\s+{_N}\s+{unit}\b", 0),
                (rf"(?:under|fewer than|less than)\s+{_N}\s+{unit}\b", -1),
                (rf"\b{_N}\s+{unit}\s+(?:or (?:fewer|less)|at most|max)", 0),
                (rf"\b(?:in|to|within|using)\s+(?:just\s+|only\s+)?(?:a\s+)?{_N}\s+{unit}\b", 0),
                (rf"\b{_N}-{unit[:-2]}\b", 0),
            ]
            if m := re.search(rf"(?:at least|no fewer than|a minimum of|minimum of)\s+{_N}\s+{unit}\b", text):
                out[f"min_{kind}"] = _num(m.group(1))
        else:
            pats = [(rf"(?:more|longer) than\s+{_N}\s+{unit}\b", 0)]
        for pat, delta in pats:
            if m := re.search(pat, text):
                out[f"max_{kind}"] = max(1, _num(m.group(1)) + delta)
                break
    out.pop("min_words", None)  # RuleCheck has no min_words
    if do:
        lead = r"(?:at least|a list of|list of|give|provide|include|with)"
        m = re.search(rf"\b{_N}[- ](?:step|point|item|bullet)\b", text) or re.search(
            rf"{lead}\s+{_N}\s+{_LIST_NOUN}", text
        )
        if m:
            out["min_list_items"] = _num(m.group(1))
        langs = "|".join(_LANGS)
        verb = r"\b(?:reply|respond|answer|write|speak)\s+(?:only\s+|always\s+)?in"
        if m := re.search(rf"{verb}\s+({langs})\b", text):
            out["reply_language"] = _LANGS[m.group(1)]
        lead = r"(?:sign(?:[ -]?off)?|end (?:each|every|all|your)? ?\w*) (?:with|as)"
        if m := re.search(lead + r" [\"“'‘](.+?)[\"”'’]", rule.text, re.IGNORECASE):
            out["required_signoff"] = m.group(1)
        if re.search(r"apologi[sz]e first|(?:start|open|begin) (?:with|by) (?:an )?apolog", text):
            out["apologize_first"] = True
    if (not do and re.search(r"\bemoji", text)) or re.search(r"\b(?:no|never use|without|avoid) emoji", text):
        out["no_emoji"] = True
    quoted = re.findall(r"[\"“]([^\"”]+)[\"”]|(?<!\w)['‘]([^'’]+)['’](?!\w)", rule.text)
    if not do and quoted:
        out["banned_terms"] = [a or b for a, b in quoted]
    return out


def _check_yaml(check: dict[str, Any]) -> str:
    return "check: {" + ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in check.items()) + "}"


# --- reading replies ---------------------------------------------------------------------------

_EMOJI = re.compile("[\u2600-\u27bf\u2b50\u2b55\U0001f000-\U0001faff]")
_APOLOGY = re.compile(
    r"sorry|apolog|excuse|pardon|regret|lo siento|disculp|perd[oó]n|d[ée]sol[ée]|"
    r"entschuldig|tut mir leid|mi dispiace|scusa|desculp",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", _LIST_ITEM.sub("", text).strip())
    return [p for p in parts if re.search(r"\w", p)]


def _words(text: str) -> int:
    return len(re.findall(r"\w+(?:['’]\w+)?", text))


def _contains(text: str, term: str) -> bool:
    left = r"\b" if term[:1].isalnum() else ""
    right = r"\b" if term[-1:].isalnum() else ""
    return re.search(left + re.escape(term) + right, text, re.IGNORECASE) is not None


def _replies(p: Persona) -> Iterator[tuple[str, str]]:
    """Text the persona itself says to users, with its field path."""
    if p.greeting:
        yield "greeting", p.greeting
    for i, ex in enumerate(p.examples):
        yield f"examples[{i}].assistant", ex.assistant
    if p.refusal:
        yield "refusal.message", p.refusal.message
    if p.escalation:
        yield "escalation.message", p.escalation.message


def _all_text(p: Persona) -> Iterator[tuple[str, str]]:
    yield from _replies(p)
    for key in ("role", "identity", "audience", "scenario", "reminder"):
        if value := getattr(p, key):
            yield key, value
    for i, r in enumerate(p.rules):
        yield f"rules[{i}]", r.text
    for i, k in enumerate(p.knowledge):
        yield f"knowledge[{i}]", k.content
    for i, v in enumerate(p.values):
        yield f"values[{i}]", v


# --- the checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limit:
    kind: str
    value: Any
    field: str
    said: str  # how to name it in a message


class _Linter:
    def __init__(self, persona: Persona) -> None:
        self.p = persona
        self.found: list[LintFinding] = []
        self.limits: list[_Limit] = []

    def add(
        self, severity: Severity, code: str, message: str, field: str | None = None, hint: str | None = None
    ) -> None:
        self.found.append(LintFinding(severity, code, message, field, hint))

    def of(self, kind: str) -> list[_Limit]:
        return [lim for lim in self.limits if lim.kind == kind]

    def collect(self) -> None:
        for i, rule in enumerate(self.p.rules):
            check = rule.check.model_dump(exclude_defaults=True) if rule.checkable and rule.check else {}
            stated = {} if _CONDITIONAL.search(rule.text) else _stated_limits(rule)
            for kind, value in check.items():
                said = f"rules[{i}] ({kind}: {value})"
                self.limits.append(_Limit(kind, value, f"rules[{i}].check.{kind}", said))
            for kind, value in stated.items():
                if kind in check:
                    if check[kind] != value and kind in (*_LIMITS, "reply_language"):
                        self.add(
                            "warning",
                            "P116",
                            f"the text says {kind} {value} but the check says {check[kind]}",
                            f"rules[{i}].check.{kind}",
                        )
                    continue
                if kind in (*_LIMITS, "reply_language"):
                    said = f"rules[{i}] (says {kind} {value})"
                    self.limits.append(_Limit(kind, value, f"rules[{i}]", said))
                if check and kind in _LIMITS:
                    self.add(
                        "warning",
                        "P116",
                        f"the text states {kind} {value} but the check does not enforce it",
                        f"rules[{i}].check",
                        _check_yaml({**check, kind: value}),
                    )
            if not check:
                hint = _check_yaml(stated) if stated else None
                self.add(
                    "info", "P201", "not machine-checkable: no rail can verify this rule", f"rules[{i}]", hint
                )

    def contradictions(self) -> None:
        for lst in self.of("min_list_items"):
            for cap in self.of("max_sentences"):
                if lst.value > cap.value:
                    self.add(
                        "error",
                        "P101",
                        f"{lst.said} asks for a list of {lst.value} items, but "
                        f"{cap.said} allows only {cap.value} sentence(s)",
                        lst.field,
                    )
        for lo in self.of("min_sentences"):
            for cap in self.of("max_sentences"):
                if lo.value > cap.value:
                    self.add(
                        "error",
                        "P103",
                        f"{lo.said} needs at least {lo.value} sentences, but "
                        f"{cap.said} allows at most {cap.value}",
                        lo.field,
                    )
        required = [lim.value for lim in self.of("required_phrases")]
        phrases = [t for group in required for t in group] + [s.value for s in self.of("required_signoff")]
        units = max([0] + [lim.value for lim in (*self.of("min_sentences"), *self.of("min_list_items"))])
        need = sum(_words(t) for t in phrases) + 3 * units
        for cap in self.of("max_words"):
            if need > cap.value:
                self.add(
                    "error",
                    "P102",
                    f"{cap.said} allows {cap.value} words, but the required content "
                    f"needs about {need} (phrases, sign-off, 3 words per sentence or list item)",
                    cap.field,
                )
        langs = self.of("reply_language")
        fixed = [lang for lang in langs if lang.value != "match_user"]
        for lang in fixed:
            if lang.value not in self.p.tone.languages:
                self.add(
                    "error",
                    "P104",
                    f"{lang.said} requires replies in {lang.value!r}, which is not "
                    f"in tone.languages {self.p.tone.languages}",
                    lang.field,
                )
        if len({lang.value for lang in fixed}) > 1:
            self.add(
                "error",
                "P105",
                "rules require different reply languages: " + ", ".join(lang.said for lang in fixed),
                fixed[-1].field,
            )
        self._tone_vs_limits()

    def _tone_vs_limits(self) -> None:
        verbosity = self.p.tone.verbosity
        tight = [c for c in self.of("max_sentences") if c.value <= 2] + [
            c for c in self.of("max_words") if c.value <= 40
        ]
        if verbosity == "detailed" and tight:
            self.add(
                "warning",
                "P115",
                f"tone.verbosity is 'detailed' but {tight[0].said} keeps replies very short",
                "tone.verbosity",
            )
        long_ = [c for c in (*self.of("min_sentences"), *self.of("min_list_items")) if c.value >= 5]
        if verbosity == "concise" and long_:
            self.add(
                "warning",
                "P115",
                f"tone.verbosity is 'concise' but {long_[0].said} asks for long replies",
                "tone.verbosity",
            )

    def content(self) -> None:
        banned = [(t, lim) for lim in self.of("banned_terms") for t in lim.value]
        reminder = [("reminder", self.p.reminder)] if self.p.reminder else []
        for where, text in [*_replies(self.p), *reminder]:
            for term, lim in banned:
                if _contains(text, term):
                    self.add("error", "P106", f"banned term {term!r} ({lim.field}) appears here", where)
        for term, lim in banned:
            for req in self.of("required_phrases") + self.of("required_signoff"):
                for phrase in req.value if isinstance(req.value, list) else [req.value]:
                    if _contains(phrase, term):
                        self.add(
                            "error",
                            "P107",
                            f"required {phrase!r} contains banned term {term!r} ({lim.field})",
                            req.field,
                        )
        for where, text in _all_text(self.p):
            for secret in self.p.secrets:
                if secret and secret.lower() in text.lower():
                    self.add(
                        "error",
                        "P117",
                        "a secret (from secrets) appears here; the model could repeat it",
                        where,
                    )
        no_emoji = [lim.field for lim in self.of("no_emoji")] + (
            ["tone.emoji"] if self.p.tone.emoji == "never" else []
        )
        if no_emoji:
            for where, text in _replies(self.p):
                if m := _EMOJI.search(text):
                    self.add(
                        "error",
                        "P110",
                        f"contains emoji {m.group(0)!r}, but {no_emoji[0]} forbids emoji",
                        where,
                    )
        self._examples()

    def _examples(self) -> None:
        signoffs = self.of("required_signoff")
        apologize = self.of("apologize_first")
        for i, ex in enumerate(self.p.examples):
            where, text = f"examples[{i}].assistant", ex.assistant
            for s in signoffs:
                if s.value.lower() not in text.lower():
                    self.add(
                        "error",
                        "P108",
                        f"does not contain the sign-off {s.value!r} that {s.said} requires",
                        where,
                    )
            first = (_sentences(text) or [""])[0]
            if any(a.value for a in apologize) and not _APOLOGY.search(first):
                self.add(
                    "warning",
                    "P109",
                    f"does not open with an apology, but {apologize[0].said} requires one",
                    where,
                )
            for lim in self.limits:
                if not lim.field.endswith(".check." + lim.kind):
                    continue
                n = {
                    "max_sentences": len(_sentences(text)),
                    "max_words": _words(text),
                    "min_list_items": len(_LIST_ITEM.findall(text)),
                }.get(lim.kind)
                too_long = lim.kind.startswith("max") and n is not None and n > lim.value
                if too_long or (lim.kind == "min_list_items" and n is not None and n < lim.value):
                    self.add(
                        "warning",
                        "P111",
                        f"has {n} {lim.kind.split('_', 1)[1].replace('_', ' ')} but {lim.said}",
                        where,
                    )

    def duplicates(self) -> None:
        cores = [_core(r) for r in self.p.rules]
        for j, (pol_j, core_j) in enumerate(cores):
            for i in range(j):
                pol_i, core_i = cores[i]
                if core_i == core_j:
                    if pol_i != pol_j:
                        self.add(
                            "error",
                            "P112",
                            f"rules[{i}] and rules[{j}] say the same thing, one as do and one as dont",
                            f"rules[{j}]",
                        )
                    else:
                        self.add("warning", "P113", f"duplicates rules[{i}]", f"rules[{j}]")
                elif pol_i != pol_j and _similar(core_i, core_j):
                    self.add(
                        "warning",
                        "P114",
                        f"rules[{i}] and rules[{j}] are nearly the same, one as do and one as dont",
                        f"rules[{j}]",
                    )

    def missing(self) -> None:
        if self.p.refusal is None or not self.p.refusal.style.strip():
            self.add(
                "warning",
                "P401",
                "no refusal style: the model will decline in its default voice",
                "refusal",
                "refusal: {style: ..., message: ...}",
            )
        if self.p.escalation is None or not self.p.escalation.message.strip():
            self.add(
                "warning",
                "P402",
                "no escalation: the persona cannot hand over to a human",
                "escalation",
                "escalation: {when: [...], message: ...}",
            )
        if not self.p.examples:
            self.add("info", "P403", "no examples: a few good exchanges teach the voice best", "examples")
        if not self.p.greeting:
            self.add("info", "P404", "no greeting", "greeting")


_NEGATION = re.compile(r"^(?:never|do not|don t|dont|avoid|refrain from)\s+")
_FILLER = re.compile(r"^(?:always|please|you must|you should|make sure to|be sure to)\s+")
_STOP = frozenset(
    {
        "a",
        "an",
        "the",
        "to",
        "of",
        "and",
        "or",
        "in",
        "on",
        "for",
        "with",
        "your",
        "you",
        "it",
        "is",
        "be",
        "any",
    }
)


def _core(rule: Rule) -> tuple[str, str]:
    """A rule as (polarity, normalized statement): "Never use emoji" → ("dont", "use emoji")."""
    text = " ".join(re.sub(r"[^\w\s]", " ", rule.text.lower()).split())
    polarity = rule.kind
    text = _FILLER.sub("", text)
    if m := _NEGATION.match(text):
        polarity, text = ("dont" if polarity == "do" else "do"), _FILLER.sub("", text[m.end() :])
    return polarity, text


def _similar(a: str, b: str) -> bool:
    wa, wb = set(a.split()) - _STOP, set(b.split()) - _STOP
    return len(wa | wb) >= 3 and len(wa & wb) / len(wa | wb) >= 0.8


def lint_persona(
    persona: Persona,
    *,
    token_budget: int = 1024,
    count_tokens: Callable[[str], int] | None = None,
) -> LintReport:
    """Check a persona and report every finding (see the module docstring for the codes).

    Args:
        persona: the resolved persona.
        token_budget: the most tokens the compiled prompt (no instructions) should take.
        count_tokens: a tokenizer's counter; defaults to :func:`estimate_tokens`.

    Returns:
        A :class:`LintReport`, findings grouped contradictions → checkability → size → missing.
    """
    linter = _Linter(persona)
    linter.collect()
    linter.contradictions()
    linter.content()
    linter.duplicates()
    tokens: int | None = None
    try:
        text = compile_persona(persona).text
    except ConfigError as exc:
        linter.add("error", "P302", f"the persona does not compile: {exc}")
    else:
        tokens = (count_tokens or estimate_tokens)(text)
        if tokens > token_budget:
            linter.add(
                "warning",
                "P301",
                f"the compiled prompt is about {tokens} tokens, over the budget of {token_budget}",
                None,
                "shorten identity, knowledge or examples",
            )
    linter.missing()
    # Checkability notes after the problems, so errors read first.
    order = {"error": 0, "warning": 1, "info": 2}
    findings = sorted(linter.found, key=lambda f: (f.code == "P201", order[f.severity]))
    return LintReport(persona.id, tuple(findings), tokens, token_budget)
