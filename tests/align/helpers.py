"""Scripted actor/critic pairs for the align tests."""

from __future__ import annotations

from collections.abc import Sequence

from poise.models import ChatMessage, GenerationParams, ScriptedModel

BALANCE_DRAFT = "Your current balance is $4,213.55."
HONEST_REPLY = "I can't see your balance here; please check online banking or the app."


def reply_under_review(messages: Sequence[ChatMessage]) -> str:
    """The 'Assistant reply:' block of a critique or revision request."""
    text = messages[-1].content
    return text.split("Assistant reply:\n", 1)[1].split("\n\n", 1)[0]


def principle_of(messages: Sequence[ChatMessage]) -> str:
    return messages[-1].content.split("Principle: ", 1)[1].split("\n", 1)[0]


def is_critique(messages: Sequence[ChatMessage]) -> bool:
    return "careful reviewer" in messages[0].content


def is_revision(messages: Sequence[ChatMessage]) -> bool:
    return "You rewrite replies" in messages[0].content


def balance_critic() -> ScriptedModel:
    """Flags a reply containing a '$' amount under the honesty principle; passes everything else."""

    def answer(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        assert is_critique(messages), "the critic was asked something other than a critique"
        invented = "$" in reply_under_review(messages) and "make up" in principle_of(messages)
        if invented:
            return '```json\n{"violation": true, "critique": "It states a balance it was never given."}\n```'
        return '{"violation": false, "critique": "Fine."}'

    return ScriptedModel(answer, model_id="critic")


def fixing_actor(fixed: str = HONEST_REPLY) -> ScriptedModel:
    """Revises anything to ``fixed``; writes ``BALANCE_DRAFT`` as a first draft."""

    def answer(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        if is_revision(messages):
            return f"Revised reply: {fixed}"
        return BALANCE_DRAFT

    return ScriptedModel(answer, model_id="actor")
