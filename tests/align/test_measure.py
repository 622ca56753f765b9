"""``poise align measure`` logic with a scripted actor and critic: rates, cost, cache, failures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from poise.align import load_constitution
from poise.align.measure import (
    MeasureRun,
    MeasureSetup,
    build_measure_loop,
    load_measure_prompts,
    run_measurement,
    stratified_sample,
)
from poise.align.measure_cache import MeasureCache
from poise.align.measure_judge import LlmJudge, RefusalDetectorJudge
from poise.align.measure_report import render_report, summarize
from poise.align.measure_stats import wilson_interval
from poise.errors import ConstitutionError, ModelTimeoutError
from poise.eval.datasets import PromptRecord
from poise.models import ChatMessage, GenerationParams, ScriptedModel

from .helpers import is_critique, is_revision, reply_under_review

COMPLY = "Sure, here is how to do it: step one, step two."
REFUSE = "I'm sorry, but I can't help with that."
SAFE_REVISION = "I can't help with that. If you are worried, please talk to a professional."
HELPFUL_REVISION = "Here is the answer: it means the fruit is ripe."


def _records() -> tuple[list[PromptRecord], list[PromptRecord]]:
    harmful = [
        PromptRecord("harmbench:1", "harm: comply one", "harmbench", "unsafe"),
        PromptRecord("harmbench:2", "harm: comply two", "harmbench", "unsafe"),
        PromptRecord("donotanswer:a:1", "harm: comply three", "donotanswer", "unsafe", "a"),
        PromptRecord("donotanswer:a:2", "harm: refuse one", "donotanswer", "unsafe", "a"),
    ]
    safe = [
        PromptRecord(f"xstest:{i}", f"safe: {what} {i}", "xstest", "safe", "homonyms")
        for i, what in enumerate(["refuse", "refuse", "answer", "answer", "answer"])
    ]
    return harmful, safe


def _user(messages: Sequence[ChatMessage]) -> str:
    return messages[-1].content.split("User message:\n", 1)[1].split("\n\n", 1)[0]


def actor_fn(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    """Drafts comply or refuse as the prompt says; revisions fix what the principle asks for."""
    if is_revision(messages):
        return SAFE_REVISION if "Do not give meaningful help" in messages[-1].content else HELPFUL_REVISION
    prompt = messages[-1].content
    return REFUSE if "refuse" in prompt else COMPLY if prompt.startswith("harm") else "It means ripe."


def critic_fn(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    """Harmlessness: a harmful request answered. Helpfulness: a safe request refused."""
    assert is_critique(messages)
    reply, user, principle = reply_under_review(messages), _user(messages), messages[-1].content
    if "Do not give meaningful help" in principle:
        violation = user.startswith("harm") and reply.startswith("Sure")
    else:
        violation = user.startswith("safe") and reply.startswith("I'm sorry")
    return f'{{"violation": {str(violation).lower()}, "critique": "checked"}}'


def _setup(actor: ScriptedModel, critic: ScriptedModel, **kw: Any) -> MeasureSetup:
    return build_measure_loop(actor, load_constitution(), critic=critic, **kw)


async def _measure(cache: MeasureCache, actor: ScriptedModel, critic: ScriptedModel, **kw: Any) -> MeasureRun:
    harmful, safe = _records()
    setup = _setup(actor, critic, **kw)
    return await run_measurement(harmful, safe, actor, setup, RefusalDetectorJudge(), cache)


async def test_loop_lowers_both_rates_and_reports_its_cost(tmp_path: Path) -> None:
    actor, critic = ScriptedModel(actor_fn, model_id="actor"), ScriptedModel(critic_fn, model_id="critic")
    with MeasureCache(tmp_path / "m.db") as cache:
        run = await _measure(cache, actor, critic)
    report = summarize(run, model="actor", critic="critic", judge="detector", principles=["h"])
    assert not run.errors and len(run.items) == 9
    # harmful: 3 of 4 drafts comply; the loop replaces each with a refusal
    assert (report.harmful.off.hits, report.harmful.off.n) == (3, 4)
    assert (report.harmful.on.hits, report.harmful.on.n) == (0, 4)
    assert report.harmful.off.interval == wilson_interval(3, 4)
    # safe: 2 of 5 drafts refuse; the loop answers them
    assert (report.safe.off.hits, report.safe.off.n) == (2, 5)
    assert (report.safe.on.hits, report.safe.on.n) == (0, 5)
    assert report.harmful.changed_by_loop == 3 and report.safe.changed_by_loop == 2
    # calls: 2 critiques each, plus a revision for the 5 violations -> (9*2 + 5) / 9 extra
    assert report.cost.extra_calls_mean == pytest.approx(23 / 9)
    assert report.cost.calls_per_request == pytest.approx(1 + 23 / 9)
    assert report.cost.stopped == {"max_rounds": 5, "no_violation": 4}
    assert report.cost.added_latency_ms[0] is not None
    assert len(critic.calls) == 18 and len(actor.calls) == 9 + 5
    text = "\n".join(render_report(report))
    assert "harmful compliance" in text and "over-refusal" in text and "75.0% (3/4" in text


async def test_rerun_resumes_from_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    actor = ScriptedModel(actor_fn, model_id="actor", errors={3: ModelTimeoutError("slow")})
    with MeasureCache(path) as cache:
        first = await _measure(cache, actor, ScriptedModel(critic_fn, model_id="critic"))
    assert len(first.errors) == 1 and "ModelTimeoutError" in first.errors[0] and len(first.items) == 8
    # the rerun measures only the failed prompt: the others come from the cache
    again_actor = ScriptedModel(actor_fn, model_id="actor")
    with MeasureCache(path) as cache:
        second = await _measure(cache, again_actor, ScriptedModel(critic_fn, model_id="critic"))
    assert not second.errors and len(second.items) == 9
    assert sum(i.from_cache for i in second.items) == 8
    assert 1 <= len(again_actor.calls) <= 2
    # a third run makes no model call at all and gives the same figures
    silent = ScriptedModel([], model_id="actor")
    with MeasureCache(path) as cache:
        third = await _measure(cache, silent, ScriptedModel([], model_id="critic"))
    assert not silent.calls and all(i.from_cache for i in third.items)
    a = summarize(second, model="a", critic="c", judge="j", principles=[])
    b = summarize(third, model="a", critic="c", judge="j", principles=[])
    assert a.harmful == b.harmful and a.safe == b.safe


async def test_other_loop_settings_miss_the_cache_but_reuse_drafts(tmp_path: Path) -> None:
    with MeasureCache(tmp_path / "m.db") as cache:
        await _measure(cache, ScriptedModel(actor_fn, model_id="actor"), ScriptedModel(critic_fn))
        actor, critic = ScriptedModel(actor_fn, model_id="actor"), ScriptedModel(critic_fn)
        run = await _measure(cache, actor, critic, principles=["harmlessness"])
    assert not any(i.from_cache for i in run.items)
    assert all(is_revision(c.messages) for c in actor.calls)  # no new drafts
    assert len(critic.calls) == 9


async def test_unreadable_critique_fails_closed_as_a_blocked_refusal(tmp_path: Path) -> None:
    critic = ScriptedModel(lambda m, p: "no idea", model_id="critic")
    with MeasureCache(tmp_path / "m.db") as cache:
        run = await _measure(cache, ScriptedModel(actor_fn, model_id="actor"), critic)
    report = summarize(run, model="a", critic="c", judge="j", principles=[])
    # the default constitution retries once, then fails closed: 2 calls, no reply for the user
    assert all(i.on.outcome == "blocked" and i.on.calls == 2 for i in run.items)
    assert report.harmful.blocked_on == 4 and report.harmful.on.hits == 0
    assert report.safe.on.hits == 5 and report.safe.on.n == 5  # blocked counts as refusal
    assert report.cost.stopped == {"unparseable": 9}
    assert "blocked by the loop" in "\n".join(render_report(report))


async def test_unparseable_judge_answers_are_left_out_and_counted(tmp_path: Path) -> None:
    harmful, safe = _records()
    actor = ScriptedModel(actor_fn, model_id="actor")
    setup = _setup(actor, ScriptedModel(critic_fn))

    def judge_fn(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        reply = messages[-1].content.split("Assistant's reply:\n", 1)[1]
        return "hmm" if reply.startswith("It means") else '{"class": "full_compliance"}'

    judge = LlmJudge(ScriptedModel(judge_fn, model_id="judge"), spec="scripted", retries=0)
    with MeasureCache(tmp_path / "m.db") as cache:
        run = await run_measurement(harmful, safe, actor, setup, judge, cache)
    report = summarize(run, model="a", critic="c", judge="j", principles=[])
    # the three answered safe drafts ("It means ripe.") are unreadable to the judge, off and on
    assert report.safe.unparseable_off == 3 and report.safe.unparseable_on == 3
    assert report.safe.off.n == 2 and report.safe.on.n == 2
    assert "unparseable judgements left out: 3 off, 3 on" in "\n".join(render_report(report))


def test_unknown_principle_is_a_config_error() -> None:
    with pytest.raises(ConstitutionError, match="no principle 'kindness'"):
        _setup(ScriptedModel(), ScriptedModel(), principles=["kindness"])


def test_stratified_sample_covers_sources_and_categories() -> None:
    records = [PromptRecord(f"hb:{i}", "p", "harmbench") for i in range(20)] + [
        PromptRecord(f"dna:{c}:{i}", "p", "donotanswer", category=c) for c in "abc" for i in range(5)
    ]
    picked = stratified_sample(records, 6, seed=3)
    assert [r.source for r in picked].count("harmbench") == 3
    assert {r.category for r in picked if r.source == "donotanswer"} == {"a", "b", "c"}
    assert picked == stratified_sample(records, 6, seed=3)
    assert stratified_sample(records, 10, seed=3)[:6] == picked  # a larger limit extends a smaller one
    assert stratified_sample(records, 6, seed=4) != picked


def test_measure_prompts_from_the_shared_data(shared_data: Path) -> None:
    harmful, safe = load_measure_prompts(shared_data)
    assert len(safe) == 250 and {r.label for r in safe} == {"safe"}
    assert sum(r.source == "harmbench" for r in harmful) == 200
    assert sum(r.source == "donotanswer" for r in harmful) == 939
    assert len({r.id for r in harmful}) == len(harmful)
