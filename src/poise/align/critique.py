"""Reading a critic's answer: a verdict and a critique, or a preference between two replies.

Critics are asked for one JSON object, and real models answer with JSON inside a code fence, JSON
followed by prose, Python-style single quotes, ``True``/``yes`` for ``true``, or ``key: value``
lines. :func:`parse_critique` and :func:`parse_preference` accept all of these. What they cannot
read is a :class:`~poise.errors.CritiqueParseError`: an answer whose verdict is unclear is never
taken as a pass.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from poise.errors import CritiqueParseError

__all__ = ["Critique", "Preference", "extract_mapping", "parse_critique", "parse_preference"]

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_LINE = re.compile(r"^\s*[-*]?\s*\"?'?([A-Za-z_ ]{2,30})\"?'?\s*[:=]\s*(.+?)\s*,?\s*$")
_VIOLATION_KEYS = ("violation", "violates", "violated", "violating", "breaks", "broken", "flag", "flagged")
_VERDICT_KEYS = ("verdict", "result", "decision", "judgment", "judgement", "answer")
_CRITIQUE_KEYS = ("critique", "explanation", "reason", "reasoning", "rationale", "comment", "why")
_PREFERENCE_KEYS = ("preferred", "preference", "better", "choice", "winner", "answer", "best")
_TRUE = {"true", "yes", "y", "1", "violation", "violated", "violates", "fail", "failed", "unsafe", "bad"}
_FALSE = {
    "false",
    "no",
    "n",
    "0",
    "none",
    "pass",
    "passed",
    "ok",
    "okay",
    "fine",
    "compliant",
    "safe",
    "good",
    "no violation",
}


@dataclass(frozen=True)
class Critique:
    """A critic's reading of one reply against one principle."""

    violation: bool
    critique: str


@dataclass(frozen=True)
class Preference:
    """A critic's choice between reply ``A`` and reply ``B``."""

    preferred: Literal["A", "B"]
    reason: str


def _balanced_objects(text: str) -> list[str]:
    """Every top-level ``{...}`` substring, braces inside quoted strings ignored."""
    found: list[str] = []
    depth, start, quote, escaped = 0, -1, "", False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'" and depth > 0:
            # an apostrophe inside a word ("doesn't") is not a quote
            if ch == "'" and i > 0 and text[i - 1].isalnum():
                continue
            quote = ch
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                found.append(text[start : i + 1])
    return found


def _load_object(candidate: str) -> dict[str, Any] | None:
    try:
        value = json.loads(candidate)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        try:
            value = ast.literal_eval(candidate)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
    if not isinstance(value, dict):
        try:
            value = yaml.safe_load(candidate)
        except yaml.YAMLError:
            value = None
    return value if isinstance(value, dict) else None


def _lines(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out.setdefault(m.group(1).strip().lower().replace(" ", "_"), m.group(2).strip().strip("\"'"))
    return out


def extract_mapping(text: str) -> dict[str, Any]:
    """The first key/value mapping in ``text``: fenced or bare JSON, Python or YAML flow dict,
    or ``key: value`` lines. Keys are lower-cased. Returns ``{}`` when there is none."""
    sources = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for source in sources:
        for candidate in _balanced_objects(source):
            loaded = _load_object(candidate)
            if loaded:
                return {str(k).strip().lower(): v for k, v in loaded.items()}
    for source in sources:
        found = _lines(source)
        if found:
            return found
    return {}


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        word = value.strip().strip(".!\"'").lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        if re.search(r"\bor\b", word):  # "true or false": the template echoed, not an answer
            return None
        first = re.split(r"[\s,.;:(]", word, maxsplit=1)[0]
        if first in {"yes", "true"}:
            return True
        if first in {"no", "false"}:
            return False
    return None


def _first(mapping: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in mapping and mapping[key] is not None:
            return mapping[key]
    return None


def parse_critique(text: str) -> Critique:
    """Read a critic's answer as a :class:`Critique`.

    Raises:
        CritiqueParseError: no mapping, or no readable verdict in it (never read as a pass).
    """
    mapping = extract_mapping(text)
    verdict = _as_bool(_first(mapping, _VIOLATION_KEYS))
    if verdict is None:
        verdict = _as_bool(_first(mapping, _VERDICT_KEYS))
    if verdict is None:
        shown = text.strip()[:120] or "an empty answer"
        raise CritiqueParseError(
            f"cannot read a verdict from the critic's answer {shown!r}; the critic must answer with "
            'JSON such as {"violation": true, "critique": "..."}',
            raw=text,
        )
    critique = _first(mapping, _CRITIQUE_KEYS)
    return Critique(verdict, str(critique).strip() if critique is not None else "")


_LETTER = re.compile(r"^\W*(?:option|reply|response|answer)?\s*\(?\s*([AB])\s*\)?(?:\W|$)", re.IGNORECASE)


def _as_letter(value: Any) -> Literal["A", "B"] | None:
    if not isinstance(value, str):
        return None
    m = _LETTER.match(value.strip())
    if m is None:
        return None
    return "A" if m.group(1).upper() == "A" else "B"


def parse_preference(text: str) -> Preference:
    """Read a critic's answer to "which reply is better, A or B?".

    Accepts ``{"preferred": "A", "reason": ...}`` in any of the forms :func:`extract_mapping`
    reads, or an answer that starts with the letter (``(B) because ...``).

    Raises:
        CritiqueParseError: no readable choice.
    """
    mapping = extract_mapping(text)
    letter = _as_letter(_first(mapping, _PREFERENCE_KEYS))
    reason = _first(mapping, _CRITIQUE_KEYS)
    if letter is None and not mapping:
        letter = _as_letter(text)
        reason = text.strip()
    if letter is None:
        shown = text.strip()[:120] or "an empty answer"
        raise CritiqueParseError(
            f"cannot read a choice from the critic's answer {shown!r}; the critic must answer with "
            'JSON such as {"preferred": "A", "reason": "..."}',
            raw=text,
            kind="comparison",
        )
    return Preference(letter, str(reason).strip() if reason is not None else "")
