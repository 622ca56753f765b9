"""Audit records for the constitution loop: one per critique, one per revision, one per run.

Texts are kept as SHA-256 digests only (``input_sha256`` = the draft before, ``output_sha256`` =
after); the critique itself is free text written by a model that read the reply, so it goes through
:func:`poise.audit.scrub_text` (personal data and credentials masked) and is cut short.

==========================  ===========================================================
``kind``                    what
==========================  ===========================================================
``constitution.critique``   a critic's verdict on one principle (``data.verdict``)
``constitution.revision``   a revision after a violation (``action="rewrite"``)
``constitution.loop``       the run: trigger, stop reason, rounds, calls, budget
==========================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from poise.audit.record import AuditRecord, sha256_text
from poise.audit.scrub import scrub_text
from poise.persona.spec import Persona

if TYPE_CHECKING:
    from poise.align.loop import LoopResult, LoopStep

__all__ = ["CRITIQUE_EXCERPT_CHARS", "loop_records"]

CRITIQUE_EXCERPT_CHARS = 300
"""Critiques are cut to this many characters in the trail."""


def loop_records(
    steps: Sequence[LoopStep],
    result: LoopResult | None,
    *,
    draft: str,
    constitution: str,
    trigger: str,
    flags: tuple[str, ...],
    persona: Persona | None,
    session_id: str | None,
    tenant: str,
) -> list[AuditRecord]:
    """The records of one run (``result`` is ``None`` when the run raised)."""
    common = {
        "tenant": tenant,
        "session_id": session_id,
        "categories": flags,
        "persona_id": persona.id if persona is not None else None,
        "persona_version": persona.version if persona is not None else None,
        "policy_id": constitution,
    }
    records: list[AuditRecord] = []
    for step in steps:
        critique = scrub_text(step.critique[:CRITIQUE_EXCERPT_CHARS])
        records.append(
            AuditRecord(
                kind="constitution.critique",
                name=step.principle,
                latency_ms=step.latency_ms,
                input_sha256=sha256_text(step.before),
                reasons=(step.error,) if step.error else (),
                data={
                    "round": step.round,
                    "verdict": step.verdict,
                    "critique": critique,
                    "calls": step.calls,
                },
                **common,
            )
        )
        if step.revised:
            records.append(
                AuditRecord(
                    kind="constitution.revision",
                    name=step.principle,
                    action="rewrite",
                    input_sha256=sha256_text(step.before),
                    output_sha256=sha256_text(step.after),
                    data={"round": step.round},
                    **common,
                )
            )
    final = result.text if result is not None else draft
    records.append(
        AuditRecord(
            kind="constitution.loop",
            action=("rewrite" if final != draft else "allow") if result is not None else None,
            latency_ms=result.latency_ms if result is not None else None,
            input_sha256=sha256_text(draft),
            output_sha256=sha256_text(final),
            reasons=()
            if result is not None
            else ("the loop failed closed (unreadable critique or model error)",),
            data={
                "trigger": trigger,
                "stopped": result.stopped if result is not None else "error",
                "rounds": result.rounds if result is not None else None,
                "calls": result.calls if result is not None else sum(s.calls for s in steps),
                "budget_exhausted": result.budget_exhausted if result is not None else False,
                "principles": list(result.principles) if result is not None else [s.principle for s in steps],
            },
            **common,
        )
    )
    return records
