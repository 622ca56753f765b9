"""Programming-language identification for one chat message.

The evidence is ranked: a fence tag (```python) is a statement, so it wins; otherwise the code in
the message (fenced, pasted, then inline) is scored with the weighted syntax features of
:mod:`poise.instructions.code_features`; a language named in the prose ("in JavaScript") is used
when there is no confident code, and wins when the prose asks to translate *into* it ("port this
to Rust"). Each answer carries its evidence in plain words, which rule reasons quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from poise.instructions.code_features import FEATURES
from poise.instructions.message_parts import CodePart, MessageParts

LANGUAGES: tuple[str, ...] = tuple(sorted(FEATURES))
"""Every programming language the detector can answer."""

TAG_ALIASES: dict[str, str] = {
    "py": "python",
    "python3": "python",
    "py3": "python",
    "ipython": "python",
    "js": "javascript",
    "jsx": "javascript",
    "node": "javascript",
    "mjs": "javascript",
    "ts": "typescript",
    "tsx": "typescript",
    "c++": "cpp",
    "cc": "cpp",
    "cxx": "cpp",
    "hpp": "cpp",
    "h": "c",
    "cs": "csharp",
    "c#": "csharp",
    "dotnet": "csharp",
    "golang": "go",
    "rs": "rust",
    "rb": "ruby",
    "kt": "kotlin",
    "kts": "kotlin",
    "sh": "bash",
    "shell": "bash",
    "zsh": "bash",
    "console": "bash",
    "shell-session": "bash",
    "postgres": "sql",
    "postgresql": "sql",
    "mysql": "sql",
    "sqlite": "sql",
    "plsql": "sql",
    "htm": "html",
    "xhtml": "html",
    "scss": "css",
    "less": "css",
}

# Names that are unambiguous as words; matched case-insensitively anywhere in the prose.
_PLAIN_NAMES: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "typescript": "typescript",
    "java": "java",
    "c\\+\\+": "cpp",
    "cpp": "cpp",
    "c#": "csharp",
    "csharp": "csharp",
    "golang": "go",
    "php": "php",
    "sql": "sql",
    "mysql": "sql",
    "postgresql": "sql",
    "bash": "bash",
    "shell script": "bash",
    "html": "html",
    "css": "css",
    "kotlin": "kotlin",
    "node\\.js": "javascript",
    "nodejs": "javascript",
    "react": "javascript",
    "django": "python",
    "pandas": "python",
}
# Words that are also ordinary English: only capitalised and next to a programming cue
# ("in Go", "Rust function", "Swift code").
_CUE_BEFORE = r"(?:in|into|to|with|using|for|en|em|mit|auf|con|和|用|в|na|op|von|de|del|du|da)"
_CUE_AFTER = r"(?:code|program|function|functions|script|loop|class|struct|closure|closures|trait|"
_CUE_AFTER += r"generics|crate|module|package|app|compiler|Funktion|Code|Programm|programa|código|codice)"
_AMBIGUOUS: dict[str, str] = {"Go": "go", "Rust": "rust", "Swift": "swift", "Ruby": "ruby", "C": "c"}
_SHELL_CUE = re.compile(r"(?:^|\s)(?:git|npm|pip|sudo|chmod|grep|ssh|apt-get|curl)\s+[a-z-]+|\./[\w-]+\.sh\b")
_CONVERT = re.compile(
    r"\b(convert|translate|port|rewrite|transl\w*|tradu\w*|übersetz\w*|konvertier\w*)\b", re.I
)


def _compile_mentions() -> list[tuple[re.Pattern[str], str, str, bool]]:
    """(pattern, language, literal the pattern cannot match without, whether case-insensitive)."""
    out: list[tuple[re.Pattern[str], str, str, bool]] = []
    for name, lang in _PLAIN_NAMES.items():
        pattern = re.compile(rf"(?<![A-Za-z0-9_#+]){name}(?![A-Za-z0-9_#+])", re.I)
        out.append((pattern, lang, name.replace("\\", "").lower(), True))
    for name, lang in _AMBIGUOUS.items():
        guard = r"(?![\w#+-]|\+\+)" if name == "C" else r"(?![\w#+])"
        source = rf"\b{_CUE_BEFORE}\s+{name}{guard}|(?<![\w#+]){name}[\s-]{_CUE_AFTER}\b"
        if name != "C":
            source += rf"|(?<![\w#+]){name}\?$|\b{_CUE_BEFORE}\s+{name}\s*$"
        out.append((re.compile(source), lang, name, False))
    return out


_MENTIONS = _compile_mentions()
_MIN_SCORE = 3.0


@dataclass(frozen=True)
class CodeLanguageGuess:
    """The detected programming language with its evidence."""

    language: str | None
    confidence: float = 0.0
    evidence: str | None = None
    """Plain words saying where the language was found, e.g. 'in a ```python block'."""


def score_code(code: str) -> dict[str, float]:
    """Score ``code`` against every language's syntax features.

    Args:
        code: source text (no prose).

    Returns:
        A score per language (0 when nothing matched), highest is most likely.
    """
    scores: dict[str, float] = {}
    for lang, features in FEATURES.items():
        total = 0.0
        for pattern, weight in features:
            hits = len(pattern.findall(code))
            if hits:
                total += weight * (1.0 if hits == 1 else 2.0)
        scores[lang] = total
    # TypeScript is JavaScript plus types: JavaScript evidence also counts for it once typed.
    if scores["typescript"] >= 3:
        scores["typescript"] += scores["javascript"] * 0.5
    if scores["cpp"] >= 4:
        scores["cpp"] += scores["c"] * 0.5
    return scores


def _best(scores: dict[str, float]) -> CodeLanguageGuess:
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    (lang, top), (_, second) = ranked[0], ranked[1]
    if top < _MIN_SCORE:
        return CodeLanguageGuess(None)
    confidence = round(top / (top + second + 1.0), 2)
    return CodeLanguageGuess(lang, confidence)


@dataclass(frozen=True)
class Mention:
    """A programming language named in prose."""

    language: str
    text: str
    """The words as written, e.g. 'JavaScript' or 'in Go'."""
    start: int


def find_mentions(prose: str) -> list[Mention]:
    """Programming languages named in prose, in order of appearance (first mention of each).

    Args:
        prose: the message's text with code removed.

    Returns:
        The mentions, with languages lower-case as in :data:`LANGUAGES`.
    """
    found: list[Mention] = []
    # A pattern cannot match without its literal name in the text, so a substring test skips most
    # regex searches. Case-insensitive names are pre-tested on ASCII text only, where str.lower()
    # and re.IGNORECASE agree (outside ASCII, re.I also folds e.g. U+017F to "s").
    lowered = prose.lower() if prose.isascii() else None
    for pattern, lang, literal, folded in _MENTIONS:
        if folded:
            if lowered is not None and literal not in lowered:
                continue
        elif literal not in prose:
            continue
        m = pattern.search(prose)
        if m:
            found.append(Mention(lang, m.group(0).strip(), m.start()))
    shell = _SHELL_CUE.search(prose)
    if shell:
        found.append(Mention("bash", shell.group(0).strip(), shell.start()))
    out: list[Mention] = []
    for mention in sorted(found, key=lambda x: (x.start, x.language)):
        if all(m.language != mention.language for m in out):
            out.append(mention)
    return out


_KIND_WORDS = {
    "fenced": "an untagged code block",
    "pasted": "code pasted in the message",
    "inline": "inline code",
}


def detect_code_language(parts: MessageParts) -> CodeLanguageGuess:
    """Identify the programming language of a message (see the module docstring for the order).

    Args:
        parts: the message split by :func:`poise.instructions.message_parts.split_message`.

    Returns:
        The language (or ``None``), a confidence in 0..1 and the evidence in plain words.
    """
    mentions = find_mentions(parts.prose)
    converting = bool(mentions) and bool(_CONVERT.search(parts.prose))
    if converting and (len(mentions) >= 2 or parts.has_code):
        # "convert this Python to Kotlin": the target is the last language named that is not
        # the language of the code being converted.
        source = _from_code(parts.code).language if len(mentions) < 2 else None
        target = next((m for m in reversed(mentions) if m.language != source), None)
        if target is not None:
            return CodeLanguageGuess(target.language, 0.8, f"named as the target: '{target.text}'")
    for part in parts.code:
        if part.kind == "fenced" and part.tag:
            lang = TAG_ALIASES.get(part.tag, part.tag)
            if lang in FEATURES:
                return CodeLanguageGuess(lang, 1.0, f"in a ```{part.tag} block")
    guess = _from_code(parts.code)
    if guess.language is not None and (guess.confidence >= 0.5 or not mentions):
        return guess
    if mentions:
        return CodeLanguageGuess(mentions[0].language, 0.7, f"named in the message: '{mentions[0].text}'")
    return guess


def _from_code(code: tuple[CodePart, ...]) -> CodeLanguageGuess:
    for kind in ("fenced", "pasted", "inline"):
        texts = [p.text for p in code if p.kind == kind]
        if not texts:
            continue
        guess = _best(score_code("\n".join(texts)))
        if guess.language is not None:
            evidence = f"scored from {_KIND_WORDS[kind]}, confidence {guess.confidence:.2f}"
            return CodeLanguageGuess(guess.language, guess.confidence, evidence)
    return CodeLanguageGuess(None)
