"""Sentiment and repeated complaints, from the user's recent messages.

Sentiment is VADER's compound score (-1..1) of the message prose (code removed: ``kill``,
``fail`` and ``error`` in code are not feelings). VADER only knows English, so a message counts as
a complaint when it is negative (VADER, or a small multilingual frustration lexicon) *and* about a
problem ("doesn't work", "no funciona", "funktioniert nicht"...), or when the problem persists
("still not", "immer noch nicht", two problem cues such as "crashed again"). The complaint count
covers the last :data:`COMPLAINT_WINDOW` user messages.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from poise.instructions.message_parts import split_message
from poise.instructions.task import normalise

COMPLAINT_WINDOW = 5
RECENT_WINDOW = 3
NEGATIVE = -0.05
"""VADER's own threshold for 'negative'."""

_PROBLEM = re.compile(
    r"\b(not work|doesn't work|does not work|don't work|isn't working|not working|broken|broke|"
    r"crash|error|fail|bug|wrong|still|again|never|nobody|no one|third time|second time|refund|"
    r"useless|no funciona|sigue|otra vez|todavia|nunca|ne marche|marche pas|plante|toujours pas|encore|"
    r"funktioniert nicht|geht nicht|immer noch|schon wieder|kaputt|stürzt|sturzt|non funziona|"
    r"ancora|não funciona|nao funciona|werkt niet|не работает|опять)",
)
# "still not", "immer noch nicht": a problem that persists is a complaint even in neutral words.
_PERSISTING = re.compile(
    r"\b(still (not|no|hasn't|haven't|doesn't|isn't|won't|can't)|not .{0,20}\byet\b|immer noch (nicht|kein)|"
    r"noch immer (nicht|kein)|toujours pas|todavia no|sigue sin|ancora non|ainda nao|nog steeds niet|"
    r"все еще не|до сих пор не)",
)
_FRUSTRATION = re.compile(
    r"\b(fed up|ridiculous|unacceptable|useless|terrible|awful|worst|annoy|frustrat|angry|"
    r"harto|harta|inaceptable|horrible|inutil|nul\b|nulle|inadmissible|ras le bol|marre|"
    r"nervig|argerlich|unverschamt|frustrierend|katastroph|schlecht|sauer|inaccettabile|"
    r"vergonha|pessimo|belachelijk|ужасно|бесит)",
)


@dataclass(frozen=True)
class SentimentSummary:
    """Sentiment of the last message, of the last few, and the recent complaint count."""

    last: float
    recent: float
    complaints: int


class SentimentAnalyzer:
    """VADER, loaded once, plus the complaint heuristics of this module."""

    def __init__(self) -> None:
        self._vader: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._vader is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                self._vader = SentimentIntensityAnalyzer()
        return self._vader

    def compound(self, prose: str) -> float:
        """VADER compound score of ``prose``, rounded to 3 decimals (0.0 for empty text)."""
        if not prose.strip():
            return 0.0
        vader = self._vader or self._load()
        return round(float(vader.polarity_scores(prose)["compound"]), 3)

    def is_complaint(self, prose: str, compound: float | None = None) -> bool:
        """Negative (VADER or frustration lexicon) *and* about a problem; or a persisting problem
        ("still not", two problem cues)."""
        text = normalise(prose)
        score = self.compound(prose) if compound is None else compound
        problems = {m.group(0) for m in _PROBLEM.finditer(text)}
        if len(problems) >= 2 or _PERSISTING.search(text):
            # "it crashed again": a problem reported as repeated is a complaint even when VADER
            # sees no negative word.
            return True
        frustrated = _FRUSTRATION.search(text) is not None
        return (score <= NEGATIVE or frustrated) and (bool(problems) or frustrated)

    def summarise(self, user_messages: Sequence[str], *, last_prose: str | None = None) -> SentimentSummary:
        """Summarise the user's messages (oldest first).

        Args:
            user_messages: the content of every user message so far.
            last_prose: the last message's prose, when the caller has split it already.

        Returns:
            The last message's compound score, the mean over the last :data:`RECENT_WINDOW`
            and how many of the last :data:`COMPLAINT_WINDOW` are complaints.
        """
        if not user_messages:
            return SentimentSummary(0.0, 0.0, 0)
        window = user_messages[-COMPLAINT_WINDOW:]
        proses = [split_message(m).prose for m in window[:-1]]
        proses.append(split_message(window[-1]).prose if last_prose is None else last_prose)
        compounds = [self.compound(p) for p in proses]
        recent = compounds[-RECENT_WINDOW:]
        complaints = sum(self.is_complaint(p, c) for p, c in zip(proses, compounds, strict=True))
        return SentimentSummary(compounds[-1], round(sum(recent) / len(recent), 3), complaints)


_default = SentimentAnalyzer()


def summarise_sentiment(user_messages: Sequence[str], *, last_prose: str | None = None) -> SentimentSummary:
    """Summarise with the shared default :class:`SentimentAnalyzer`."""
    return _default.summarise(user_messages, last_prose=last_prose)
