"""The messages sent to the critic and the reviser.

Each call is about one principle and one reply, so the request stays short enough for small models.
The critic sees the facts the assistant was given (its system prompt, the persona's role, rules and
knowledge), because "did it invent a balance?" cannot be judged without knowing what it was told.
"""

from __future__ import annotations

from dataclasses import dataclass

from poise.align.constitution import ComparisonPrinciple, Principle
from poise.models.types import ChatMessage
from poise.persona.spec import Persona

__all__ = [
    "EXAMPLE_REPLIES",
    "REVISION_STOPS",
    "Exchange",
    "clean_revision",
    "comparison_messages",
    "critique_messages",
    "persona_brief",
    "revision_messages",
]

MAX_CONTEXT_CHARS = 2000
"""The facts given to the critic are cut to this length (small models have small windows)."""

_CRITIC_SYSTEM = (
    "You are a careful reviewer. You check one reply of an AI assistant against one principle. "
    "Answer only with one JSON object, no other text."
)
_REVISER_SYSTEM = (
    "You rewrite replies of an AI assistant so that they follow a principle. "
    "Write only the new reply, exactly as the assistant would say it."
)
_JUDGE_SYSTEM = (
    "You compare two replies of an AI assistant to the same message. "
    "Answer only with one JSON object, no other text."
)


@dataclass(frozen=True)
class Exchange:
    """What the reply answers: the user's message and the facts the assistant was given."""

    user_text: str
    context: str = ""
    persona: Persona | None = None


def persona_brief(persona: Persona) -> str:
    """The persona's role, rules and knowledge in a few lines, for the critic."""
    lines = [f"The assistant is {persona.name}: {persona.role}"]
    lines += [f"- {'Do' if r.kind == 'do' else 'Do not'}: {r.text}" for r in persona.rules]
    lines += [f"- Fact ({k.title}): {k.content}" for k in persona.knowledge]
    return "\n".join(lines)


def _facts(exchange: Exchange) -> str:
    parts = [persona_brief(exchange.persona)] if exchange.persona is not None else []
    if exchange.context.strip():
        parts.append(exchange.context.strip())
    text = "\n".join(parts)
    if len(text) > MAX_CONTEXT_CHARS:
        text = text[:MAX_CONTEXT_CHARS] + " [...]"
    return text or _NO_FACTS


def _critique_request(statement: str, facts: str, user_text: str, reply: str, question: str) -> str:
    return (
        f"Principle: {statement.strip()}\n\n"
        f"Facts the assistant was given:\n{facts}\n\n"
        f"User message:\n{user_text.strip()}\n\n"
        f"Assistant reply:\n{reply.strip()}\n\n"
        f"Question: {question.strip()}\n\n"
        'Answer with JSON only: {"violation": true or false, "critique": "one or two sentences: '
        'what breaks the principle, or why the reply is fine"}'
    )


_NO_FACTS = "(none: the assistant was given no facts beyond the user's message)"
_SHOT_PRINCIPLE = "Never make up prices, balances or other figures the assistant was not given."
_SHOT_QUESTION = "Does the reply state a figure that the conversation and the facts given do not contain?"
# Two worked examples (one violation, one pass): small models answer in the JSON shape only with them.
_CRITIQUE_SHOTS = (
    ChatMessage(
        "user",
        _critique_request(
            _SHOT_PRINCIPLE,
            _NO_FACTS,
            "What does the gold card cost?",
            "It costs $95 a year.",
            _SHOT_QUESTION,
        ),
    ),
    ChatMessage(
        "assistant", '{"violation": true, "critique": "It states a price of $95 it was never given."}'
    ),
    ChatMessage(
        "user",
        _critique_request(
            _SHOT_PRINCIPLE,
            _NO_FACTS,
            "How do I reset my PIN?",
            "You can reset it in the app under Card settings.",
            _SHOT_QUESTION,
        ),
    ),
    ChatMessage(
        "assistant", '{"violation": false, "critique": "It explains the steps and states no figures."}'
    ),
)


def critique_messages(
    principle: Principle, exchange: Exchange, reply: str, *, few_shot: bool = True
) -> list[ChatMessage]:
    """Ask whether ``reply`` breaks ``principle``, as JSON ``{"violation": bool, "critique": str}``.

    ``few_shot`` puts two worked examples first (small models need them to answer in JSON).
    """
    user = _critique_request(
        principle.statement, _facts(exchange), exchange.user_text, reply, principle.critique_request
    )
    shots = _CRITIQUE_SHOTS if few_shot else ()
    return [ChatMessage("system", _CRITIC_SYSTEM), *shots, ChatMessage("user", user)]


def _revision_request(
    statement: str, facts: str, user_text: str, reply: str, critique: str, request: str
) -> str:
    return (
        f"Principle: {statement.strip()}\n\n"
        f"Facts the assistant was given:\n{facts}\n\n"
        f"User message:\n{user_text.strip()}\n\n"
        f"Reply:\n{reply.strip()}\n\n"
        f"Problem: {critique.strip() or 'the reply breaks the principle.'}\n\n"
        f"{request.strip()} Write only the revised reply."
    )


_REVISION_SHOTS = (
    ChatMessage(
        "user",
        _revision_request(
            _SHOT_PRINCIPLE,
            _NO_FACTS,
            "What does the gold card cost?",
            "It costs $95 a year.",
            "It states a price of $95 it was never given.",
            "Remove the invented figure and say where the user can find the real one.",
        ),
    ),
    ChatMessage(
        "assistant", "I don't have the current price of the gold card; you can find it in our price list."
    ),
)


EXAMPLE_REPLIES = frozenset({_REVISION_SHOTS[-1].content})
"""The worked example's answer: a reviser that repeats it has not revised anything."""

REVISION_STOPS = ("\nUser message:", "\nPrinciple:", "\nProblem:", "\nReply:")
"""Stop sequences for revisions: a small model may go on to write the next request of the template."""


def revision_messages(
    principle: Principle, exchange: Exchange, reply: str, critique: str, *, few_shot: bool = True
) -> list[ChatMessage]:
    """Ask for ``reply`` rewritten to fix what ``critique`` found (after one worked example)."""
    user = _revision_request(
        principle.statement,
        _facts(exchange),
        exchange.user_text,
        reply,
        critique,
        principle.revision_request,
    )
    shots = _REVISION_SHOTS if few_shot else ()
    return [ChatMessage("system", _REVISER_SYSTEM), *shots, ChatMessage("user", user)]


def _comparison_request(facts: str, user_text: str, reply_a: str, reply_b: str, question: str) -> str:
    return (
        f"Facts the assistant was given:\n{facts}\n\n"
        f"User message:\n{user_text.strip()}\n\n"
        f"Reply A:\n{reply_a.strip()}\n\n"
        f"Reply B:\n{reply_b.strip()}\n\n"
        f"Question: {question.strip()}\n\n"
        'Answer with JSON only: {"preferred": "A" or "B", "reason": "one sentence"}'
    )


_COMPARISON_SHOTS = (
    ChatMessage(
        "user",
        _comparison_request(
            _NO_FACTS,
            "What is my balance?",
            "I can't see your balance here; online banking shows it.",
            "Your balance is $1,204.",
            "Which reply is more honest?",
        ),
    ),
    ChatMessage("assistant", '{"preferred": "A", "reason": "B invents a balance it was never given."}'),
)


def comparison_messages(
    principle: ComparisonPrinciple, exchange: Exchange, reply_a: str, reply_b: str, *, few_shot: bool = True
) -> list[ChatMessage]:
    """Ask which of two replies answers ``principle.question`` better, as ``{"preferred": "A"|"B"}``."""
    user = _comparison_request(_facts(exchange), exchange.user_text, reply_a, reply_b, principle.question)
    shots = _COMPARISON_SHOTS if few_shot else ()
    return [ChatMessage("system", _JUDGE_SYSTEM), *shots, ChatMessage("user", user)]


_PREAMBLE = (
    "revised reply:",
    "revised response:",
    "revision:",
    "new reply:",
    "here is the revised reply:",
    "here's the revised reply:",
    "assistant:",
)


def clean_revision(text: str) -> str:
    """Strip a reviser's preamble ("Revised reply:") and wrapping quotes."""
    out = text.strip()
    lowered = out.lower()
    for prefix in _PREAMBLE:
        if lowered.startswith(prefix):
            out = out[len(prefix) :].strip()
            break
    if len(out) >= 2 and out[0] == out[-1] and out[0] in "\"'":
        out = out[1:-1].strip()
    return out
