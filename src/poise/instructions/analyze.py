"""Request analysis: one :class:`RequestContext` in, one :class:`Signals` out.

Every detector reads the last user message, split once into prose and code; sentiment also reads
the few messages before it. Models (py3langid, VADER) load once on first use; :func:`warm_up`
loads them ahead of the first request. A typical message takes well under a millisecond.
"""

from __future__ import annotations

from poise.instructions.code_language import detect_code_language
from poise.instructions.message_parts import split_message
from poise.instructions.natural_language import identify_language
from poise.instructions.sentiment import summarise_sentiment
from poise.instructions.task import classify_task
from poise.instructions.types import RequestContext, Signals


def analyze(context: RequestContext) -> Signals:
    """Detect task, programming language, natural language and sentiment for a request.

    Args:
        context: the conversation (ending with the new user message), user profile and time.

    Returns:
        The signals; a conversation without user messages gives the 'unknown' defaults.
    """
    user_messages = context.user_messages
    if not user_messages:
        return Signals()
    parts = split_message(user_messages[-1])
    code = detect_code_language(parts)
    language = identify_language(parts.prose)
    task = classify_task(parts.prose, has_code=parts.has_code, code_language=code.language)
    mood = summarise_sentiment(user_messages, last_prose=parts.prose)
    return Signals(
        task=task.task,
        task_scores=task.scores,
        task_cues=task.cues,
        code_language=code.language,
        code_language_confidence=code.confidence,
        code_language_evidence=code.evidence,
        language=language.language,
        language_confidence=language.confidence,
        sentiment=mood.last,
        recent_sentiment=mood.recent,
        complaints=mood.complaints,
        turn=context.turn,
    )


def warm_up() -> None:
    """Load the language-identification and sentiment models now rather than on first use."""
    identify_language("warm up the language identifier")
    summarise_sentiment(["warm up the sentiment analyser"])
