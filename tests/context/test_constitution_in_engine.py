"""The guard's ``rewrite`` action inside a conversation turn runs the constitution loop."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from poise import create_engine
from poise.errors import ConfigError
from poise.models import ChatMessage, GenerationParams, ScriptedModel

DRAFT = "Honestly, Globex Bank has better cards than we do."  # a banned competitor name
FIXED = "I'm sorry, I can only speak for Acme Bank; our card options are listed in the app."


def critique_or_revise(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    text = " ".join(m.content for m in messages)
    if '"violation"' in text:  # the critique request asks for JSON with a violation field
        bad = "Globex" in messages[-1].content
        return f'{{"violation": {str(bad).lower()}, "critique": "names a competitor"}}'
    return FIXED


async def test_a_flagged_draft_is_revised_instead_of_blocked():
    actor = ScriptedModel(lambda m, p: DRAFT if len(m) <= 2 else critique_or_revise(m, p))
    critic = ScriptedModel(critique_or_revise)
    engine = create_engine("bank-support", actor, constitution="default", critic=critic)
    turn = await engine.send("Which bank has the best credit cards?")
    assert turn.reply == FIXED and turn.finish_reason == "stop"
    assert turn.to_dict()["trace"]["guard"]["output"]["action"] == "rewrite"
    assert critic.calls, "the critic was asked"


async def test_without_a_constitution_the_same_draft_is_blocked():
    engine = create_engine("bank-support", ScriptedModel([DRAFT]))
    turn = await engine.send("Which bank has the best credit cards?")
    assert turn.finish_reason == "content_filter" and "Globex" not in turn.reply


def test_a_constitution_needs_the_guard():
    with pytest.raises(ConfigError, match="constitution"):
        create_engine("bank-support", ScriptedModel(), guard=None, constitution="default")
