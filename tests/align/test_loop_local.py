"""One round of the loop on the embedded SmolLM2-135M: it completes and is recorded (not its quality)."""

from __future__ import annotations

import importlib.util

import pytest

from poise.align import ConstitutionalLoop, LoopSettings
from poise.align.constitution import Budget, GenerationSettings
from poise.audit import SQLiteAuditStore
from poise.models import resolve_model

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs poise[local]"),
]


async def test_one_round_on_the_embedded_model_completes_and_is_audited(
    audit_store: SQLiteAuditStore,
) -> None:
    settings = LoopSettings(
        triggers=["always"],
        selection="all",
        max_principles=1,
        max_rounds=1,
        on_unparseable="keep_draft",
        budget=Budget(max_extra_calls=2, max_added_latency_ms=120_000),
        critique=GenerationSettings(max_tokens=48),
        revision=GenerationSettings(max_tokens=48),
    )
    loop = ConstitutionalLoop(resolve_model("local"), settings=settings, audit=audit_store)
    result = await loop.run("What is my balance?", draft="Your balance is $4,213.55.")
    assert result.rounds == 1 and len(result.steps) == 1
    assert result.steps[0].principle == "honesty"
    assert result.steps[0].verdict in ("pass", "violation", "unparseable")
    assert 1 <= result.calls <= 2
    records = await audit_store.tail(5)
    assert records[-1].kind == "constitution.loop" and records[-1].data["stopped"] == result.stopped
