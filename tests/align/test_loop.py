"""The critique → revision loop with scripted actor and critic."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from poise.align import ConstitutionalLoop, LoopSettings, load_constitution
from poise.align.constitution import Budget
from poise.errors import CritiqueParseError
from poise.models import ChatMessage, GenerationParams, ScriptedModel

from .helpers import BALANCE_DRAFT, HONEST_REPLY, balance_critic, fixing_actor, is_critique

FORCE_ALL = {"triggers": ["always"], "selection": "all", "max_principles": None}


def settings(**kw: object) -> LoopSettings:
    return LoopSettings.model_validate({**FORCE_ALL, **kw})


async def test_loop_revises_a_draft_that_invents_a_balance() -> None:
    actor, critic = fixing_actor(), balance_critic()
    loop = ConstitutionalLoop(actor, critic=critic, settings=settings(budget=Budget(max_extra_calls=20)))
    result = await loop.run("What is my balance?")
    assert result.draft == BALANCE_DRAFT
    assert result.text == HONEST_REPLY
    assert result.changed and result.stopped == "no_violation"
    [violation] = result.violations
    assert (violation.principle, violation.round) == ("honesty", 1)
    assert violation.before == BALANCE_DRAFT and violation.after == HONEST_REPLY
    assert "never given" in violation.critique
    # round 1: five critiques + one revision; round 2: five passing critiques
    assert result.rounds == 2 and result.calls == 11
    assert len(critic.calls) == 10 and len(actor.calls) == 2  # draft + revision


async def test_loop_stops_early_when_the_first_critique_round_finds_nothing() -> None:
    actor, critic = fixing_actor(), balance_critic()
    loop = ConstitutionalLoop(actor, critic=critic, settings=settings(max_rounds=3))
    result = await loop.run("Hi", draft="Hello! How can I help?")
    assert result.stopped == "no_violation" and not result.changed
    assert result.rounds == 1 and result.calls == 5
    assert all(s.verdict == "pass" for s in result.steps)
    assert len(actor.calls) == 0


async def test_critic_and_actor_are_different_models() -> None:
    actor, critic = fixing_actor(), balance_critic()
    loop = ConstitutionalLoop(actor, critic=critic, settings=settings())
    await loop.run("What is my balance?", draft=BALANCE_DRAFT)
    assert all(is_critique(c.messages) for c in critic.calls)
    assert not any(is_critique(c.messages) for c in actor.calls)


async def test_critic_sees_the_facts_the_assistant_was_given() -> None:
    critic = balance_critic()
    loop = ConstitutionalLoop(fixing_actor(), critic=critic, settings=settings(max_principles=1))
    convo = [ChatMessage("system", "Balance on file: $12.00"), ChatMessage("user", "Balance?")]
    await loop.run(convo, draft="It is $12.00.")
    assert "Balance on file: $12.00" in critic.calls[0].messages[-1].content


async def test_budget_of_calls_returns_the_best_draft_so_far() -> None:
    actor, critic = fixing_actor(), balance_critic()
    loop = ConstitutionalLoop(actor, critic=critic, settings=settings(budget=Budget(max_extra_calls=2)))
    result = await loop.run("What is my balance?", draft=BALANCE_DRAFT)
    assert result.budget_exhausted and result.stopped == "budget_exhausted"
    assert result.calls == 2
    assert result.text == HONEST_REPLY  # the revision finished before the budget ran out


async def test_budget_spent_before_the_revision_keeps_the_draft() -> None:
    loop = ConstitutionalLoop(
        fixing_actor(), critic=balance_critic(), settings=settings(budget=Budget(max_extra_calls=1))
    )
    result = await loop.run("What is my balance?", draft=BALANCE_DRAFT)
    assert result.budget_exhausted and result.text == BALANCE_DRAFT
    [step] = result.steps
    assert step.verdict == "violation" and step.error == "budget ran out before the revision"


async def test_latency_budget_cancels_a_slow_critic() -> None:
    async def slow(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        await asyncio.sleep(5)
        return '{"violation": false}'

    critic = ScriptedModel(slow)
    loop = ConstitutionalLoop(
        fixing_actor(), critic=critic, settings=settings(budget=Budget(max_added_latency_ms=50))
    )
    result = await loop.run("Hi", draft="Hello.")
    assert result.budget_exhausted and result.text == "Hello."
    assert result.latency_ms < 1000


async def test_latency_budget_already_spent_makes_no_call() -> None:
    ticks = iter([0.0, 100.0, 100.0, 100.0, 100.0])
    critic = balance_critic()
    loop = ConstitutionalLoop(
        fixing_actor(),
        critic=critic,
        settings=settings(budget=Budget(max_added_latency_ms=1000)),
        clock=lambda: next(ticks),
    )
    result = await loop.run("Hi", draft="Hello.")
    assert result.budget_exhausted and critic.calls == []


@pytest.mark.parametrize(
    "answer",
    ["I think it is fine overall.", "", '{"critique": "no verdict here"}', '{"violation": "perhaps"}'],
    ids=["prose", "empty", "no-verdict", "unclear-verdict"],
)
async def test_unparseable_critique_fails_closed(answer: str) -> None:
    loop = ConstitutionalLoop(
        fixing_actor(), critic=ScriptedModel([answer]), settings=settings(on_unparseable="fail_closed")
    )
    with pytest.raises(CritiqueParseError) as caught:
        await loop.run("Hi", draft=BALANCE_DRAFT)
    assert caught.value.raw == answer


async def test_unparseable_critique_keep_draft_is_marked_not_passed() -> None:
    loop = ConstitutionalLoop(
        fixing_actor(), critic=ScriptedModel(["no idea"]), settings=settings(on_unparseable="keep_draft")
    )
    result = await loop.run("Hi", draft=BALANCE_DRAFT)
    assert result.stopped == "unparseable" and result.text == BALANCE_DRAFT
    [step] = result.steps
    assert step.verdict == "unparseable" and "cannot read a verdict" in (step.error or "")


async def test_unparseable_critique_is_retried_then_read() -> None:
    critic = ScriptedModel(["hmm", "violation: yes\ncritique: invents a balance", '{"violation": false}'])
    loop = ConstitutionalLoop(
        fixing_actor(),
        critic=critic,
        settings=settings(on_unparseable="retry", parse_retries=1, max_principles=1, max_rounds=2),
    )
    result = await loop.run("Hi", draft=BALANCE_DRAFT)
    assert result.text == HONEST_REPLY and result.stopped == "no_violation"
    assert result.steps[0].calls == 3  # two critiques + one revision


async def test_retries_exhausted_fail_closed() -> None:
    loop = ConstitutionalLoop(
        fixing_actor(),
        critic=ScriptedModel(["hmm", "still hmm"]),
        settings=settings(on_unparseable="retry", parse_retries=1),
    )
    with pytest.raises(CritiqueParseError):
        await loop.run("Hi", draft=BALANCE_DRAFT)


# --- triggers ---------------------------------------------------------------------------------


def make_loop(**kw: object) -> ConstitutionalLoop:
    return ConstitutionalLoop(
        fixing_actor(), critic=balance_critic(), settings=LoopSettings.model_validate(kw)
    )


async def test_not_triggered_returns_the_draft_without_calls() -> None:
    loop = make_loop(triggers=["flagged"])
    result = await loop.run("What is my balance?", draft=BALANCE_DRAFT)
    assert result.stopped == "not_triggered" and not result.trigger.fired
    assert result.text == BALANCE_DRAFT and result.calls == 0


@pytest.mark.parametrize(
    ("kw", "flags", "risk", "reason"),
    [
        ({"triggers": ["always"]}, (), (), "always"),
        ({"triggers": ["flagged"]}, ("persona.banned_terms",), (), "flagged:persona.banned_terms"),
        ({"triggers": ["flagged"], "flagged_categories": ["EMAIL"]}, ("refusal",), (), None),
        ({"triggers": ["high_risk"]}, (), ("medical_advice",), "high_risk:medical_advice"),
        ({"triggers": ["high_risk"]}, (), ("weather",), None),
        ({"triggers": ["sampled"], "sample_rate": 1.0}, (), (), "sampled"),
        ({"triggers": ["sampled"], "sample_rate": 0.0}, (), (), None),
    ],
    ids=["always", "flagged", "flag-not-listed", "high-risk", "low-risk", "sampled-all", "sampled-none"],
)
def test_triggers(kw: dict[str, object], flags: tuple[str, ...], risk: tuple[str, ...], reason: str | None):
    decision = make_loop(**kw).should_run(flags, risk)
    assert decision.fired == (reason is not None)
    if reason is not None:
        assert decision.reason == reason


def test_sampled_trigger_is_seeded_and_near_its_rate() -> None:
    def decisions(seed: int) -> list[bool]:
        loop = make_loop(triggers=["sampled"], sample_rate=0.3, seed=seed)
        return [loop.should_run().fired for _ in range(1000)]

    first = decisions(7)
    assert first == decisions(7)
    assert first != decisions(8)
    assert 0.25 < sum(first) / 1000 < 0.35


# --- principle selection ------------------------------------------------------------------------


def test_relevant_selection_follows_the_flags() -> None:
    loop = make_loop(selection="relevant", max_principles=3)
    assert [p.id for p in loop.select(None, ["EMAIL"])] == ["privacy"]
    assert [p.id for p in loop.select(None, ["persona.banned_terms"])] == ["persona-fidelity"]
    assert [p.id for p in loop.select(None, ["refusal"])] == ["helpfulness"]
    # no flag (or nothing relevant): the heaviest principles
    assert [p.id for p in loop.select(None, [])] == ["honesty", "harmlessness", "privacy"]


def test_sampled_selection_is_seeded_and_without_repeats() -> None:
    a = [[p.id for p in make_loop(selection="sampled", max_principles=2, seed=3).select()] for _ in range(3)]
    b = [[p.id for p in make_loop(selection="sampled", max_principles=2, seed=3).select()] for _ in range(3)]
    assert a == b
    assert all(len(set(ids)) == 2 for ids in a)


def test_persona_override_adds_its_principle() -> None:
    loop = make_loop(selection="all", max_principles=None)
    assert "no-financial-advice" in [p.id for p in loop.select("acme-bank-support")]
    assert "no-financial-advice" not in [p.id for p in loop.select("assistant")]


async def test_relevant_flag_runs_only_that_principle() -> None:
    critic = balance_critic()
    loop = ConstitutionalLoop(
        fixing_actor(), critic=critic, settings=LoopSettings(triggers=["flagged"], selection="relevant")
    )
    result = await loop.run("Hi", draft="Write to jane@example.com", flags=["EMAIL"])
    assert result.trigger.reason == "flagged:EMAIL"
    assert result.principles == ("privacy",) and len(critic.calls) == 1


async def test_draft_is_written_by_the_actor_when_not_given() -> None:
    actor = fixing_actor()
    loop = ConstitutionalLoop(actor, critic=balance_critic(), constitution=load_constitution())
    result = await loop.run("What is my balance?", force=True)
    assert result.draft == BALANCE_DRAFT and actor.calls[0].messages[-1].content == "What is my balance?"
    assert result.trigger.reason == "forced"
