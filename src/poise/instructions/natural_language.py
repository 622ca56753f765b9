"""Natural-language identification of a message's prose with ``py3langid``.

The model is loaded once (lazily, ~0.6 s) and restricted to :data:`DEFAULT_LANGUAGES`, which
cuts the confusions a 97-language model makes on chat-length text. Short text is where
identification fails, so the probability is scaled down by length and anything below
:data:`MIN_CONFIDENCE` is reported as unknown (``None``) rather than guessed: "ok", "thanks!" or
"lol" say nothing reliable about the language.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

DEFAULT_LANGUAGES: tuple[str, ...] = (
    "ar",
    "cs",
    "da",
    "de",
    "el",
    "en",
    "es",
    "fi",
    "fr",
    "he",
    "hi",
    "id",
    "it",
    "ja",
    "ko",
    "nl",
    "no",
    "pl",
    "pt",
    "ro",
    "ru",
    "sv",
    "tr",
    "uk",
    "vi",
    "zh",
)
"""ISO 639-1 codes the identifier may answer; others are never guessed."""

LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
    "zh": "Chinese",
}
"""English names of the languages, for prompt text ("Reply in German")."""

MIN_CONFIDENCE = 0.5
_LETTERS = re.compile(r"[^\W\d_]", re.U)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# Latin-script text needs about this many letters before the identifier is trusted fully; CJK
# characters carry more information each, so they count three times.
_FULL_LENGTH = 12
_ASCII_NON_LETTERS = bytes(i for i in range(128) if not chr(i).isalpha())


@dataclass(frozen=True)
class LanguageGuess:
    """The detected natural language, or ``None`` with the confidence that was too low."""

    language: str | None
    confidence: float


class LanguageIdentifier:
    """A ``py3langid`` model restricted to a set of languages, loaded on first use.

    Args:
        languages: ISO 639-1 codes the identifier may answer.
        min_confidence: below this (after the length penalty) the answer is ``None``.
    """

    def __init__(
        self, languages: tuple[str, ...] = DEFAULT_LANGUAGES, min_confidence: float = MIN_CONFIDENCE
    ) -> None:
        self.languages = languages
        self.min_confidence = min_confidence
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from py3langid.langid import MODEL_FILE
                from py3langid.langid import LanguageIdentifier as _Model

                model = _Model.from_model_file(MODEL_FILE, norm_probs=True)
                model.set_languages(list(self.languages))
                self._model = model
        return self._model

    def identify(self, prose: str) -> LanguageGuess:
        """Identify the language of ``prose`` (code already removed).

        Args:
            prose: natural-language text.

        Returns:
            The language and a confidence in 0..1; ``None`` when the text is too short or the
            model is unsure.
        """
        letters = _letters(prose)
        if letters < 4:
            return LanguageGuess(None, 0.0)
        model = self._model or self._load()
        lang, prob = model.classify(prose)
        confidence = round(float(prob) * min(1.0, letters / _FULL_LENGTH), 3)
        if confidence < self.min_confidence:
            return LanguageGuess(None, confidence)
        return LanguageGuess(str(lang), confidence)


def _letters(prose: str) -> int:
    """How much language evidence ``prose`` holds: its letters, CJK characters counting three."""
    if prose.isascii():  # the letters of ASCII text are a-z and A-Z, in one C-level pass
        return len(prose.encode("ascii").translate(None, _ASCII_NON_LETTERS))
    return len(_LETTERS.findall(prose)) + 2 * len(_CJK.findall(prose))


_default = LanguageIdentifier()


_shared: ContextVar[dict[str, LanguageGuess] | None] = ContextVar("poise_language_ids", default=None)


@contextmanager
def shared_language_ids() -> Iterator[None]:
    """Within the block (one request), identify each distinct text once.

    The instruction analysis and the persona-rules rail both identify the user's message; in a
    gateway request they share the result instead of running the model twice. The result is the
    same either way (identification is deterministic); only the repeat is skipped.
    """
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)


def identify_language(prose: str) -> LanguageGuess:
    """Identify ``prose`` with the shared default :class:`LanguageIdentifier`."""
    memo = _shared.get()
    if memo is None:
        return _default.identify(prose)
    guess = memo.get(prose)
    if guess is None:
        guess = memo[prose] = _default.identify(prose)
    return guess
