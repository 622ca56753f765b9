"""Guard verdicts into the audit trail: one record per rail, one per decision, no raw text.

:func:`verdict_records` turns a :class:`~poise.guard.pipeline.GuardVerdict` into
:class:`~poise.audit.AuditRecord` s: a ``rail`` record for each rail that answered (its score,
categories, spans as offsets, latency and the action the policy took because of it), a
``rail_error`` record for each rail that crashed or timed out (type, message, ``on_error``, and no
action: a crash is never logged as a decision), and one ``decision`` record for the verdict. Every
record names the stage, tier, tenant, persona id and version, and the policy file and version (a
hash of its validated content). Texts are kept only as SHA-256 digests, and the store scrubs PII
and credentials from every free-text field on append.

:class:`AuditingPipeline` wraps a pipeline so that every check is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from poise.audit.record import AuditRecord, AuditSpan, canonical_json, sha256_text
from poise.audit.store import AuditStore
from poise.guard.pipeline import GuardPipeline, GuardVerdict
from poise.guard.policy import Action, Policy, severity
from poise.guard.rails import GuardContext, RailResult

__all__ = ["AuditingPipeline", "policy_version", "record_verdict", "verdict_records"]

_MAX_MESSAGE = 300


def policy_version(policy: Policy) -> str:
    """A short hash of the policy's validated content: which rules decided, whatever the file name."""
    body = canonical_json(policy.spec.model_dump(mode="json"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def _policy_id(policy: Policy) -> str:
    return policy.path.stem if policy.path is not None else "inline"


def _rail_action(verdict: GuardVerdict, rail: str) -> Action:
    actions = [r.action for r in verdict.reasons if r.rail == rail and r.code.startswith("rule:")]
    return max(actions, key=severity) if actions else "allow"


def _safe_message(message: str, text: str) -> str:
    # A crashing rail may put the checked text in its message; keep its digest, not the text.
    if text and text in message:
        message = message.replace(text, f"<text sha256:{sha256_text(text)[:16]}>")
    return message[:_MAX_MESSAGE]


def _rail_record(r: RailResult, verdict: GuardVerdict, text: str, common: dict[str, Any]) -> AuditRecord:
    data: dict[str, object] = {"stage": verdict.stage, "status": r.status, "on_error": r.on_error}
    if r.status == "error":
        err = r.error
        data["error_type"] = err.type if err else "unknown"
        data["error_message"] = _safe_message(err.message, text) if err else ""
        return AuditRecord(kind="rail_error", name=r.rail, latency_ms=r.latency_ms, data=data, **common)
    findings = r.result.findings if r.result is not None else ()
    data["flagged"] = r.flagged
    return AuditRecord(
        kind="rail",
        name=r.rail,
        action=_rail_action(verdict, r.rail),
        score=r.score,
        categories=r.categories,
        latency_ms=r.latency_ms,
        reasons=tuple(f.reason for f in findings if f.reason),
        spans=tuple(AuditSpan(start=s.start, end=s.end, label=s.label) for f in findings for s in f.spans),
        data=data,
        **common,
    )


def verdict_records(
    verdict: GuardVerdict,
    *,
    text: str,
    ctx: GuardContext | None = None,
    policy: Policy | None = None,
    session_id: str | None = None,
) -> list[AuditRecord]:
    """The audit records for one verdict: each rail's result, then the decision.

    Args:
        verdict: what the pipeline decided.
        text: the text that was checked (only its digest is kept).
        ctx: the context of the check (tier, tenant, persona).
        policy: the policy that decided (its file name and content hash are kept).
        session_id: the conversation, to find its records later.
    """
    ctx = ctx or GuardContext()
    digest = sha256_text(text)
    common: dict[str, Any] = {
        "tenant": ctx.tenant or "default",
        "session_id": session_id,
        "persona_id": ctx.persona.id if ctx.persona is not None else None,
        "persona_version": ctx.persona.version if ctx.persona is not None else None,
        "policy_id": _policy_id(policy) if policy is not None else None,
        "policy_version": policy_version(policy) if policy is not None else None,
        "input_sha256": digest,
    }
    records = [_rail_record(r, verdict, text, common) for r in verdict.results]
    decision_data: dict[str, object] = {
        "stage": verdict.stage,
        "tier": ctx.tier,
        "rails": [r.rail for r in verdict.results],
        "rail_errors": [r.rail for r in verdict.errors],
    }
    if verdict.escalation is not None:
        decision_data["escalation_id"] = verdict.escalation.id
    if verdict.escalation_error is not None:
        decision_data["escalation_error"] = _safe_message(verdict.escalation_error, text)
    records.append(
        AuditRecord(
            kind="decision",
            name=f"guard.{verdict.stage}",
            action=verdict.action,
            score=max(verdict.scores.values(), default=0.0),
            categories=tuple(dict.fromkeys(c for r in verdict.results for c in r.categories)),
            latency_ms=verdict.latency_ms,
            reasons=tuple(r.code for r in verdict.reasons),
            output_sha256=sha256_text(verdict.text) if verdict.text is not None else None,
            data=decision_data,
            **common,
        )
    )
    return records


async def record_verdict(
    store: AuditStore,
    verdict: GuardVerdict,
    *,
    text: str,
    ctx: GuardContext | None = None,
    policy: Policy | None = None,
    session_id: str | None = None,
) -> list[AuditRecord]:
    """Append :func:`verdict_records` to ``store`` in one transaction; returns them as stored.

    Raises:
        AuditError: the store cannot be written (the caller should not pass the text on unrecorded).
    """
    records = verdict_records(verdict, text=text, ctx=ctx, policy=policy, session_id=session_id)
    return await store.append(records)


class AuditingPipeline:
    """A :class:`~poise.guard.pipeline.GuardPipeline` whose every check lands in an audit store.

    Args:
        pipeline: the pipeline to run.
        store: where the records go (any :class:`~poise.audit.AuditStore`).
    """

    def __init__(self, pipeline: GuardPipeline, store: AuditStore) -> None:
        self.pipeline = pipeline
        self.store = store
        self.last_records: Sequence[AuditRecord] = ()

    async def check_input(
        self, text: str, ctx: GuardContext | None = None, *, session_id: str | None = None
    ) -> GuardVerdict:
        """:meth:`GuardPipeline.check_input`, then record the verdict."""
        verdict = await self.pipeline.check_input(text, ctx)
        await self._record(verdict, text, ctx, session_id)
        return verdict

    async def check_output(
        self, text: str, ctx: GuardContext | None = None, *, session_id: str | None = None
    ) -> GuardVerdict:
        """:meth:`GuardPipeline.check_output`, then record the verdict."""
        verdict = await self.pipeline.check_output(text, ctx)
        await self._record(verdict, text, ctx, session_id)
        return verdict

    async def _record(
        self, verdict: GuardVerdict, text: str, ctx: GuardContext | None, session_id: str | None
    ) -> None:
        self.last_records = await record_verdict(
            self.store, verdict, text=text, ctx=ctx, policy=self.pipeline.policy, session_id=session_id
        )
