"""Guard verdicts in the audit trail: a record per rail and per decision, crashes as errors, no PII."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from poise.audit import AuditStore, SQLiteAuditStore
from poise.guard.audit import AuditingPipeline, policy_version, record_verdict, verdict_records
from poise.guard.pipeline import GuardPipeline, load_pipeline
from poise.guard.policy import Policy, PolicyRule, PolicySpec, TierThresholds, load_policy
from poise.guard.rails import DetectorRail, GuardContext
from poise.guard.types import DetectionContext, DetectorResult, Finding, Span
from poise.persona.spec import Persona

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PERSONA = Persona(id="bank", version="7", name="Bank", role="Helps bank customers.")


class Word:
    def __init__(self, name: str, word: str, category: str) -> None:
        self.name, self.word, self.category = name, word, category

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        i = text.find(self.word)
        if i < 0:
            return DetectorResult(self.name, False, 0.0)
        span = Span(i, i + len(self.word), self.category)
        return DetectorResult(self.name, True, 0.9, (Finding(self.category, 0.9, (span,), "saw it"),))


class Crash:
    name = "crashy"

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        raise RuntimeError(f"could not parse {text!r}")


class Hang:
    name = "slow"

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        import time

        time.sleep(0.05)
        return DetectorResult(self.name, False, 0.0)


def pipeline(*, on_error: str = "fail_closed") -> GuardPipeline:
    rules = [PolicyRule(id="bad", categories=["bad"], thresholds=TierThresholds(default={"block": 0.5}))]
    rails = [
        DetectorRail(Word("words", "evil", "bad")),
        DetectorRail(Crash(), on_error=on_error),  # type: ignore[arg-type]
        DetectorRail(Hang(), timeout=0.01, mode="thread"),
    ]
    return GuardPipeline(rails, rails, Policy(PolicySpec(rules=rules)))


async def test_one_record_per_rail_and_one_for_the_decision():
    ctx = GuardContext(tier="customer", tenant="acme", persona=PERSONA)
    policy = load_policy()
    verdict = await pipeline().check_input("an evil plan", ctx)
    records = verdict_records(verdict, text="an evil plan", ctx=ctx, policy=policy, session_id="s1")
    assert [(r.kind, r.name) for r in records] == [
        ("rail", "words"),
        ("rail_error", "crashy"),
        ("rail_error", "slow"),
        ("decision", "guard.input"),
    ]
    words, decision = records[0], records[-1]
    assert (words.action, words.score, words.categories) == ("block", 0.9, ("bad",))
    assert [(s.start, s.end, s.label) for s in words.spans] == [(3, 7, "bad")]
    assert words.data == {"stage": "input", "status": "ok", "on_error": "fail_closed", "flagged": True}
    assert (
        decision.action == "block"
        and "rule:bad" in decision.reasons
        and "rail_error:crashy" in decision.reasons
    )
    assert decision.data["tier"] == "customer" and decision.data["rail_errors"] == ["crashy", "slow"]
    for r in records:
        assert (r.tenant, r.session_id, r.persona_id, r.persona_version) == ("acme", "s1", "bank", "7")
        assert (r.policy_id, r.policy_version) == ("default", policy_version(policy))
        assert r.input_sha256 is not None and len(r.input_sha256) == 64


async def test_a_crashing_rail_is_recorded_as_an_error_never_as_a_decision():
    verdict = await pipeline(on_error="fail_open").check_input("fine text")
    [crash] = [r for r in verdict_records(verdict, text="fine text") if r.name == "crashy"]
    assert crash.kind == "rail_error"
    assert crash.action is None and crash.score is None and crash.categories == ()
    assert crash.data["error_type"] == "RuntimeError" and crash.data["on_error"] == "fail_open"
    assert "fine text" not in crash.data["error_message"]  # the checked text never rides along
    assert "<text sha256:" in crash.data["error_message"]
    [timeout] = [r for r in verdict_records(verdict, text="fine text") if r.name == "slow"]
    assert timeout.kind == "rail_error" and timeout.data["error_type"] == "TimeoutError"


async def test_pii_in_the_input_never_lands_in_the_audit_database(tmp_path):
    db = tmp_path / "audit.db"
    store = SQLiteAuditStore(db)
    text = f"Please charge {CARD} and send the receipt to {EMAIL}, thanks"
    auditing = AuditingPipeline(load_pipeline(), store)
    try:
        verdict = await auditing.check_input(text, GuardContext(persona=PERSONA))
        crash = await AuditingPipeline(pipeline(), store).check_output(text)  # a rail error quotes the text
        assert (await store.verify()).ok
    finally:
        store.close()
    assert verdict.action == "redact" and crash.blocked
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("audit.db"))
    for secret in (EMAIL, CARD, CARD.replace(" ", ""), "send the receipt"):
        assert secret.encode() not in raw, secret


async def test_auditing_pipeline_appends_through_any_store():
    class ListStore:
        def __init__(self) -> None:
            self.records: list = []

        async def append(self, records):
            self.records.extend(records)
            return list(records)

    store = ListStore()
    auditing = AuditingPipeline(pipeline(), store)  # type: ignore[arg-type]
    await auditing.check_output("evil")
    assert [r.kind for r in store.records] == ["rail", "rail_error", "rail_error", "decision"]
    assert store.records[-1].name == "guard.output" and auditing.last_records == store.records


async def test_record_verdict_returns_the_stored_chain(tmp_path):
    store = SQLiteAuditStore(tmp_path / "a.db")
    assert isinstance(store, AuditStore)
    try:
        verdict = await pipeline().check_input("evil")
        stored = await record_verdict(store, verdict, text="evil")
        assert [r.seq for r in stored] == [1, 2, 3, 4]
        assert all(r.hash for r in stored) and stored[1].prev_hash == stored[0].hash
    finally:
        store.close()


def test_policy_version_changes_with_the_rules_not_the_path(tmp_path: Path):
    shipped = load_policy()
    copy = tmp_path / "copy.yaml"
    copy.write_text(shipped.path.read_text(encoding="utf-8"), encoding="utf-8")  # type: ignore[union-attr]
    assert policy_version(load_policy(copy)) == policy_version(shipped)
    copy.write_text(
        copy.read_text(encoding="utf-8").replace("{log: 0.3, block:", "{log: 0.31, block:"), encoding="utf-8"
    )
    assert policy_version(load_policy(copy)) != policy_version(shipped)


@pytest.mark.parametrize("stage", ["input", "output"])
def test_redacted_text_is_kept_as_a_digest(stage):
    pipe = load_pipeline()
    check = pipe.check_input if stage == "input" else pipe.check_output
    verdict = asyncio.run(check(f"write to {EMAIL}"))
    decision = verdict_records(verdict, text=f"write to {EMAIL}")[-1]
    assert verdict.text == "write to [EMAIL]"
    assert decision.output_sha256 is not None and decision.output_sha256 != decision.input_sha256
