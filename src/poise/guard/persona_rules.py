"""Verify a reply against the persona's machine-checkable rules (:class:`~poise.persona.spec.RuleCheck`).

Every field a rule's ``check`` sets is verified here, on every reply: sentence and word counts,
reply language (``match_user`` compares with the user's message), emoji, banned terms (whole
words, case-insensitive), required phrases, the sign-off, apologizing first (a multilingual
apology lexicon) and a minimum list length. Each violation is a :class:`~poise.guard.types.Finding`
in category ``persona.<check>`` whose span points at the offending part of the reply (the whole
reply when something is *missing*). The checks are pure functions; :class:`PersonaRulesRail`
runs them as an output rail, taking the checks from ``ctx.persona`` unless given explicitly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from poise.guard.normalize import ignorecase_fold
from poise.guard.rails import DEFAULT_TIMEOUT_S, GuardContext, OnError, RailResult
from poise.guard.types import DetectorResult, Finding, Span
from poise.instructions.natural_language import identify_language
from poise.persona.spec import RuleCheck

__all__ = [
    "APOLOGY_LEXICON",
    "PersonaRulesRail",
    "check_reply",
    "sentence_spans",
    "word_count",
    "word_spans",
]

APOLOGY_LEXICON: tuple[str, ...] = (
    # en
    "sorry", "apologize", "apologise", "apologies", "my apologies", "i regret", "forgive me", "pardon",
    # de, nl, sv/da/no
    "entschuldigung", "entschuldigen", "tut mir leid", "bedaure", "verzeihung", "excuses", "het spijt me",
    "sorry", "beklager", "förlåt", "undskyld", "ursäkta",
    # fr, es, it, pt, ro
    "désolé", "désolée", "pardon", "excusez", "navré", "je regrette", "lo siento", "disculpa", "disculpe",
    "perdón", "perdone", "lamento", "mi dispiace", "scusa", "scusi", "scusate", "desculpe", "desculpa",
    "sinto muito", "perdão", "îmi pare rău", "scuze",
    # pl, cs, ru, uk, tr, el
    "przepraszam", "przykro mi", "omlouvám", "promiňte", "извините", "простите", "сожалению",
    "прошу прощения",
    "вибачте", "перепрошую", "özür dilerim", "kusura bakmayın", "üzgünüm", "συγγνώμη", "λυπάμαι",
    # ja, zh, ko, ar, he, hi
    "申し訳", "すみません", "ごめん", "失礼", "抱歉", "对不起", "對不起", "不好意思", "죄송", "미안",
    "آسف", "أعتذر", "عذرا", "מצטער", "מצטערת", "סליחה", "क्षमा", "माफ़", "माफ",
)  # fmt: skip
"""Words and phrases that open an apology, by language (matched case-insensitively)."""

_LANG_CHARS = 400  # language ID on the opening is as reliable as on the whole text, and O(1)
_WORD_RE = re.compile(r"[^\W_](?:[\w'’-]*[^\W_])?")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"')\]]*(?=\s|$)|[。！？]+|\n")
_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "no",
        "nr",
        "approx",
        "ca",
        "cf",
        "fig",
        "jr",
        "sr",
        "inc",
        "ltd",
        "co",
        "z.b",
        "bzw",
        "usw",
        "d.h",
    ]
)
_LIST_ITEM_RE = re.compile(r"^[ \t]*(?:[-*•‣◦+]|\d{1,3}[.)]|[a-zA-Z][.)])[ \t]+\S", re.MULTILINE)
_EMOJI_RE = re.compile(
    r"(?:[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B50\u2B55\u2B1B\u2B1C\u2934\u2935\u3030\u303D\u3297\u3299]"
    r"[\uFE0F\u200D\U0001F3FB-\U0001F3FF]*)+"
)
_APOLOGY_RE = re.compile(
    "|".join(
        rf"(?<!\w){re.escape(t)}" if not _CJK_RE.search(t) else re.escape(t)
        for t in sorted(set(APOLOGY_LEXICON), key=len, reverse=True)
    ),
    re.IGNORECASE,
)
# Every apology _APOLOGY_RE finds contains one of these as a substring of the folded text: a
# C-level scan rules out most sentences before the alternation (~70 phrases, each behind a
# look-behind, tried at every position) runs.
_APOLOGY_FOLDED = tuple(sorted({ignorecase_fold(t) for t in APOLOGY_LEXICON}))


_WORD_SHAPE = bytes(ord("w") if i < 128 and chr(i).isalnum() else ord(" ") for i in range(256))


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int


def sentence_spans(text: str) -> list[Span]:
    """Sentences of ``text`` as spans (line breaks end a sentence; common abbreviations do not)."""
    return list(_sentences(text))


def _sentences(text: str) -> Iterator[Span]:
    start = 0
    for m in _SENTENCE_END_RE.finditer(text):
        if m.group().startswith("."):
            cut = max(text.rfind(" ", start, m.start()), text.rfind("\n", start, m.start()), start - 1)
            last = text[cut + 1 : m.start()].lower()
            if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
        end = m.end()
        if _WORD_RE.search(text, start, end) or _CJK_RE.search(text, start, end):
            yield Span(start + _lead(text[start:end]), end, "sentence")
        start = end
    if start < len(text) and (_WORD_RE.search(text, start) or _CJK_RE.search(text, start)):
        yield Span(start + _lead(text[start:]), len(text), "sentence")


def _lead(s: str) -> int:
    return len(s) - len(s.lstrip())


def word_count(text: str) -> int:
    """``len(word_spans(text))``, without building the spans (ASCII text: one C-level pass)."""
    if text.isascii():
        # Letters/digits -> "w", the inner joiners ("_", "'", "-") deleted, the rest a space: each
        # run left is exactly one match of _WORD_RE (which starts and ends on a letter or digit).
        return len(text.encode("ascii").translate(_WORD_SHAPE, b"_'-").split())
    return len(word_spans(text))


def word_spans(text: str) -> list[Span]:
    """Words of ``text``; each CJK character counts as one word (those scripts have no spaces)."""
    if not _CJK_RE.search(text):
        return [Span(m.start(), m.end(), "word") for m in _WORD_RE.finditer(text)]
    spans: list[Span] = []
    for m in _WORD_RE.finditer(text):
        if _CJK_RE.search(m.group()):
            spans.extend(
                Span(m.start() + i, m.start() + i + 1, "word")
                for i, ch in enumerate(m.group())
                if _CJK_RE.match(ch)
            )
        else:
            spans.append(Span(m.start(), m.end(), "word"))
    return spans


def _finding(check: str, reason: str, spans: Iterable[Span] = (), score: float = 1.0) -> Finding:
    return Finding(category=f"persona.{check}", score=score, spans=tuple(spans), reason=reason)


def _whole(text: str, label: str) -> Span:
    return Span(0, len(text), label)


def _term_re(term: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(w) for w in term.split())
    if _CJK_RE.search(term):
        return re.compile(body, re.IGNORECASE)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _norm_lang(code: str) -> str:
    return code.strip().lower().replace("_", "-").split("-", 1)[0]


def _check_language(text: str, want: str, user_text: str | None) -> Finding | None:
    if want == "match_user":
        if not user_text:
            return None
        user = identify_language(user_text[:_LANG_CHARS]).language
        if user is None:
            return None
        expected = user
    else:
        expected = _norm_lang(want)
    guess = identify_language(text[:_LANG_CHARS])
    if guess.language is None or _norm_lang(guess.language) == expected:
        return None
    why = f"reply is in {guess.language!r} (confidence {guess.confidence:.2f}), expected {expected!r}"
    if want == "match_user":
        why += " (the user's language)"
    return _finding("reply_language", why, [_whole(text, "reply")], score=guess.confidence)


def _check_one(text: str, c: RuleCheck, user_text: str | None) -> list[Finding]:
    out: list[Finding] = []
    counted = c.max_sentences is not None or c.min_sentences is not None
    # Only the counts need every sentence; apologize_first needs the first one.
    sentences = (
        sentence_spans(text) if counted else list(islice(_sentences(text), 1)) if c.apologize_first else []
    )
    if c.max_sentences is not None and len(sentences) > c.max_sentences:
        extra = Span(sentences[c.max_sentences].start, len(text), "extra_sentences")
        out.append(
            _finding(
                "max_sentences", f"{len(sentences)} sentences, at most {c.max_sentences} allowed", [extra]
            )
        )
    if c.min_sentences is not None and len(sentences) < c.min_sentences:
        out.append(
            _finding(
                "min_sentences",
                f"{len(sentences)} sentences, at least {c.min_sentences} required",
                [_whole(text, "reply")],
            )
        )
    if c.max_words is not None and word_count(text) > c.max_words:
        words = word_spans(text)
        if len(words) > c.max_words:
            extra = Span(words[c.max_words].start, len(text), "extra_words")
            out.append(_finding("max_words", f"{len(words)} words, at most {c.max_words} allowed", [extra]))
    if c.reply_language:
        found = _check_language(text, c.reply_language, user_text)
        if found is not None:
            out.append(found)
    folded = ignorecase_fold(text) if c.banned_terms else ""
    for term in c.banned_terms:
        head_word = ignorecase_fold(term.split()[0]) if term.split() else ""
        if head_word not in folded:  # every match contains the term's first word (any case)
            continue
        hits = [Span(m.start(), m.end(), "banned_term") for m in _term_re(term).finditer(text)]
        if hits:
            out.append(_finding("banned_term", f"uses banned term {term!r} ({len(hits)}x)", hits))
    casefolded = text.casefold() if c.required_phrases else ""
    for phrase in c.required_phrases:
        if not _term_re(phrase).search(text) and phrase.casefold() not in casefolded:
            out.append(
                _finding("required_phrase", f"missing required phrase {phrase!r}", [_whole(text, "reply")])
            )
    if c.required_signoff:
        tail = text.rstrip()
        want = c.required_signoff.strip().rstrip(".!").casefold()
        if not tail.rstrip(".!").casefold().endswith(want):
            line_start = tail.rfind("\n") + 1
            out.append(
                _finding(
                    "required_signoff",
                    f"does not end with the sign-off {c.required_signoff!r}",
                    [Span(line_start, len(tail), "last_line")],
                )
            )
    if c.apologize_first:
        first = sentences[0] if sentences else _whole(text, "reply")
        if not _apologizes(text, first):
            out.append(
                _finding(
                    "apologize_first",
                    "the first sentence does not apologize",
                    [Span(first.start, first.end, "first_sentence")],
                )
            )
    if c.no_emoji and not text.isascii():  # every emoji is outside ASCII
        hits = [Span(m.start(), m.end(), "emoji") for m in _EMOJI_RE.finditer(text)]
        if hits:
            out.append(_finding("no_emoji", f"contains {len(hits)} emoji", hits))
    if c.min_list_items is not None:
        items = len(_LIST_ITEM_RE.findall(text))
        if items < c.min_list_items:
            out.append(
                _finding(
                    "min_list_items",
                    f"{items} list items, at least {c.min_list_items} required",
                    [_whole(text, "reply")],
                )
            )
    return out


def _apologizes(text: str, sentence: Span) -> bool:
    folded = ignorecase_fold(text[sentence.start : sentence.end])
    if not any(term in folded for term in _APOLOGY_FOLDED):
        return False
    return _APOLOGY_RE.search(text, sentence.start, sentence.end) is not None


def check_reply(reply: str, checks: Sequence[RuleCheck], *, user_text: str | None = None) -> DetectorResult:
    """Check ``reply`` against every ``RuleCheck``; each violation is one finding.

    Args:
        reply: the assistant's reply.
        checks: the persona's checks (``persona.checks()``).
        user_text: the user's message, needed for ``reply_language: match_user``.
    """
    started = time.perf_counter()
    findings = tuple(f for c in checks for f in _check_one(reply, c, user_text))
    return DetectorResult(
        detector="persona_rules",
        flagged=bool(findings),
        score=max((f.score for f in findings), default=0.0),
        findings=findings,
        latency_ms=(time.perf_counter() - started) * 1000,
    )


class PersonaRulesRail:
    """Output rail: the reply against the persona's rule checks.

    Args:
        checks: the checks to verify; ``None`` reads ``ctx.persona.checks()`` on every call.
    """

    def __init__(
        self,
        checks: Sequence[RuleCheck] | None = None,
        *,
        name: str = "persona_rules",
        timeout: float = DEFAULT_TIMEOUT_S,
        on_error: OnError = "fail_closed",
    ) -> None:
        self.checks = tuple(checks) if checks is not None else None
        self.name = name
        self.timeout = timeout
        self.on_error: OnError = on_error
        self.stream = False
        self.mode = "inline"

    async def check(self, text: str, ctx: GuardContext) -> RailResult:
        checks = self.checks if self.checks is not None else (ctx.persona.checks() if ctx.persona else ())
        result = check_reply(text, checks, user_text=ctx.user_text)
        return RailResult(rail=self.name, status="ok", on_error=self.on_error, result=result)
