"""Condense older turns with the model itself when they no longer fit in the context window."""

from __future__ import annotations

from collections.abc import Sequence

from poise.context.store import StoredMessage
from poise.models.types import ChatMessage, ChatModel, GenerationParams

SUMMARY_INSTRUCTIONS = (
    "You condense conversations. Write a short summary, at most {max_words} words, of the "
    "conversation below between a user and an assistant. Keep every fact the user gave (names, "
    "numbers, dates, preferences), what was decided, and any open question. Write plain sentences, "
    "no preamble."
)


def render_transcript(messages: Sequence[StoredMessage]) -> str:
    return "\n".join(f"{m.role.capitalize()}: {m.content}" for m in messages)


async def summarize_history(
    model: ChatModel,
    messages: Sequence[StoredMessage],
    *,
    previous: str | None = None,
    max_words: int = 120,
) -> str:
    """Ask ``model`` for a summary of ``messages`` (continuing ``previous`` if there is one).

    Raises:
        ModelError: whatever the backend raises; the caller decides how to degrade.
    """
    transcript = render_transcript(messages)
    if previous:
        transcript = f"Earlier summary: {previous}\n\n{transcript}"
    prompt = [
        ChatMessage("system", SUMMARY_INSTRUCTIONS.format(max_words=max_words)),
        ChatMessage("user", transcript),
    ]
    response = await model.generate(prompt, GenerationParams(max_tokens=max_words * 2, temperature=0.0))
    text = response.text.strip()
    return text or (previous or "")
