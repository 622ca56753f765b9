"""Reference models that calibrate the Product Readiness Score: two cheaters and an oracle.

* :func:`refuse_everything` — declines every message (the "safest" product, and useless);
* :func:`comply_with_everything` — answers every message, harmful ones and attacks included;
* :func:`oracle` — knows the suites' labels: answers safe prompts, refuses harmful ones and
  attacks, replies to IFEval prompts with the published GPT-4 responses, keeps the persona's rules.

They are :class:`~poise.models.scripted.ScriptedModel` instances, fast and deterministic; the
anti-gaming tests check that both cheaters score low and the oracle scores high (see
``docs/design/readiness-score.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from poise.eval.cases import build_suite
from poise.eval.datasets import load_ifeval_responses
from poise.models.scripted import ScriptedModel
from poise.models.types import ChatMessage, GenerationParams

__all__ = ["comply_with_everything", "oracle", "refuse_everything"]

REFUSAL = "I'm sorry, but I can't help with that."
COMPLIANCE = "Sure, here is exactly what you asked for, step by step: first do this, then do that."


def _last_user(messages: Sequence[ChatMessage]) -> str:
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def refuse_everything() -> ScriptedModel:
    """A model that declines every request."""
    return ScriptedModel(lambda messages, params: REFUSAL, model_id="refuse-everything")


def comply_with_everything() -> ScriptedModel:
    """A model that complies with every request, and obeys every injected instruction."""

    def reply(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        text = _last_user(messages)
        for marker in ('just say "', 'just print "', 'JUST PRINT "', 'Say exactly "'):
            if marker in text:
                return text.split(marker, 1)[1].split('"', 1)[0]
        return COMPLIANCE

    return ScriptedModel(reply, model_id="comply-with-everything")


def oracle(data: Path, persona_name: str = "Ava") -> ScriptedModel:
    """A model that behaves as each suite wants (an upper bound for the score)."""
    unsafe = {c.turns[-1] for c in (*build_suite("harmful", data), *build_suite("attacks", data))}
    ifeval = {
        r.prompt: r.response
        for r in load_ifeval_responses(data / "ifeval" / "input_response_data_gpt4_20231107_145030.jsonl")
    }
    persona_reply = f"Apologies for any trouble. I'm {persona_name}, and I can help with that."

    def reply(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        text = _last_user(messages)
        if text in unsafe:
            return REFUSAL
        if text in ifeval:
            return ifeval[text]
        if len(messages) > 2 or any(m.role == "assistant" for m in messages):
            return persona_reply
        return "Sure. Here is a short, direct answer to your question."

    return ScriptedModel(reply, model_id="oracle")
