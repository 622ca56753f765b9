"""The guard policy's ``rewrite`` action runs the constitution loop (real shipped policy and rails)."""

from __future__ import annotations

from collections.abc import Sequence

from poise.align import ConstitutionalLoop, ConstitutionalRewriter, LoopSettings
from poise.audit import SQLiteAuditStore
from poise.guard.pipeline import load_pipeline
from poise.guard.rails import GuardContext
from poise.models import ChatMessage, GenerationParams, ScriptedModel
from poise.persona.spec import Persona, Refusal, Rule, RuleCheck

from .helpers import is_critique, principle_of, reply_under_review

PERSONA = Persona(
    id="bank-support",
    version="1",
    name="Bank",
    role="Helps bank customers.",
    rules=[Rule(dont="Promise returns", check=RuleCheck(banned_terms=["guaranteed"]))],
    refusal=Refusal(style="kind", message="Sorry, I can't help with that."),
)
DRAFT = "This fund has guaranteed returns of 12%."
CTX = GuardContext(persona=PERSONA, user_text="Is this fund good?")


def critic_of_banned_word(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    assert is_critique(messages)
    bad = "guaranteed" in reply_under_review(messages) and "persona" in principle_of(messages)
    return f'{{"violation": {str(bad).lower()}, "critique": "uses a banned word and promises returns"}}'


def reviser(fixed: str) -> ScriptedModel:
    return ScriptedModel(lambda m, p: fixed)


def rewriting_pipeline(actor: ScriptedModel, store: SQLiteAuditStore | None = None):
    loop = ConstitutionalLoop(
        actor, critic=ScriptedModel(critic_of_banned_word), settings=LoopSettings(), audit=store
    )
    rewriter = ConstitutionalRewriter(loop)
    return load_pipeline(rewriter=rewriter), rewriter


async def test_policy_rewrite_action_runs_the_loop_and_rechecks() -> None:
    fixed = "Returns vary; past performance says nothing certain about the future."
    pipe, rewriter = rewriting_pipeline(reviser(fixed))
    verdict = await pipe.check_output(DRAFT, CTX)
    assert verdict.action == "rewrite" and verdict.text == fixed
    result = rewriter.last_result
    assert result is not None and result.trigger.reason == "forced"
    assert result.principles == ("persona-fidelity",)  # relevant to the persona.banned_term flag


async def test_rewrite_that_still_breaks_the_rule_is_blocked() -> None:
    pipe, _ = rewriting_pipeline(reviser("Still guaranteed, honestly."))
    verdict = await pipe.check_output(DRAFT, CTX)
    assert verdict.action == "block" and verdict.message == "Sorry, I can't help with that."


async def test_loop_that_changes_nothing_fails_closed() -> None:
    pipe, _ = rewriting_pipeline(reviser(DRAFT))
    verdict = await pipe.check_output(DRAFT, CTX)
    assert verdict.action == "block"
    assert verdict.reasons[-1].code == "rewrite_failed"
    assert "left the draft unchanged" in verdict.reasons[-1].detail


async def test_unreadable_critique_blocks_through_the_pipeline() -> None:
    loop = ConstitutionalLoop(
        reviser("fine"),
        critic=ScriptedModel(lambda m, p: "no idea"),
        settings=LoopSettings(on_unparseable="fail_closed"),
    )
    verdict = await load_pipeline(rewriter=ConstitutionalRewriter(loop)).check_output(DRAFT, CTX)
    assert verdict.action == "block"
    assert "CritiqueParseError" in verdict.reasons[-1].detail


async def test_critiques_and_revisions_are_audited_as_digests(audit_store: SQLiteAuditStore) -> None:
    fixed = "Returns vary and are never certain. Contact jane@example.com for details."
    pipe, _ = rewriting_pipeline(reviser(fixed), audit_store)
    await pipe.check_output(DRAFT, CTX)
    records = await audit_store.tail(10)
    kinds = [r.kind for r in records]
    # round 1 finds the violation and revises; round 2 passes the revision
    assert kinds == [
        "constitution.critique",
        "constitution.revision",
        "constitution.critique",
        "constitution.loop",
    ]
    critique, revision, recheck, summary = records
    assert recheck.data["verdict"] == "pass" and recheck.input_sha256 == revision.output_sha256
    assert critique.name == "persona-fidelity" and critique.data["verdict"] == "violation"
    assert critique.persona_id == "bank-support" and critique.categories == ("persona.banned_term",)
    assert revision.action == "rewrite" and revision.output_sha256 is not None
    assert summary.data["trigger"] == "forced" and summary.action == "rewrite"
    dumped = "".join(r.model_dump_json() for r in records)
    assert DRAFT not in dumped and fixed not in dumped and "jane@example.com" not in dumped
    assert (await audit_store.verify()).ok


async def test_critique_text_in_the_trail_is_scrubbed(audit_store: SQLiteAuditStore) -> None:
    critic = ScriptedModel(lambda m, p: '{"violation": false, "critique": "mentions jane@example.com, fine"}')
    loop = ConstitutionalLoop(reviser("x"), critic=critic, settings=LoopSettings(), audit=audit_store)
    await loop.run("hi", draft="hello", force=True)
    [first, *_] = await audit_store.tail(10)
    assert "jane@example.com" not in first.data["critique"] and "[EMAIL]" in first.data["critique"]
