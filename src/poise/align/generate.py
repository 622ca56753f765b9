"""Constitutional training data: SL-CAI records and AI-feedback preference pairs.

For each prompt, :func:`generate` has the actor draft a reply, runs the
:class:`~poise.align.loop.ConstitutionalLoop` on it (forced: every prompt gets critiqued), and
writes (see :mod:`poise.align.dataset`):

* an **SL-CAI** record: prompt, initial response, every critique, the revision; the revision is
  the SFT target;
* a **preference pair** labelled by AI feedback: two candidate replies (the draft and the revision,
  or, when the loop changed nothing, the draft and a second sample at a higher temperature) are put
  to the critic with a *comparison principle* drawn by weight ("which reply is more honest?"). The
  order of A and B and the principle are drawn from a per-prompt seed, so a resumed or concurrent
  run labels each prompt the same way and position bias averages out. A choice the critic does not
  make readably (after one retry) gives no pair rather than a guessed one.

Prompts run concurrently under a semaphore; results are written as they finish, and a rerun skips
the ids already written.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from poise.align.constitution import ComparisonPrinciple
from poise.align.critique import Preference, parse_preference
from poise.align.dataset import AlignmentDataWriter, PromptItem
from poise.align.loop import ConstitutionalLoop, LoopResult
from poise.align.prompts import Exchange, comparison_messages
from poise.errors import CritiqueParseError, PoiseError
from poise.models.types import ChatMessage, GenerationParams

__all__ = ["GenerateReport", "PreferenceLabel", "generate", "label_preference"]

ProgressCallback = Callable[[PromptItem, str], None]
"""Called after each prompt with its outcome: ``written``, ``skipped`` or ``failed``."""


@dataclass(frozen=True)
class PreferenceLabel:
    """Which of two replies the critic preferred, under which comparison principle."""

    principle: str
    chosen: str
    rejected: str
    chosen_is: Literal["initial", "revision", "alternative"]
    reason: str
    order: str  # which reply was shown as A ("initial-first" / "initial-second")


@dataclass
class GenerateReport:
    """What one ``generate`` run did."""

    total: int = 0
    skipped: int = 0
    written: int = 0
    pairs: int = 0
    revised: int = 0
    failed: int = 0
    calls: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "skipped": self.skipped,
            "written": self.written,
            "pairs": self.pairs,
            "revised": self.revised,
            "failed": self.failed,
            "calls": self.calls,
            "seconds": round(self.seconds, 1),
            "errors": self.errors[:20],
        }


def _rng_for(prompt_id: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{prompt_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


async def label_preference(
    loop: ConstitutionalLoop,
    exchange: Exchange,
    initial: str,
    other: str,
    other_is: Literal["revision", "alternative"],
    principles: Sequence[ComparisonPrinciple],
    rng: random.Random,
    params: GenerationParams,
) -> tuple[PreferenceLabel | None, int, str | None]:
    """Ask the loop's critic which reply is better. Returns the label (or ``None``), calls, error."""
    principle = rng.choices(list(principles), weights=[p.weight for p in principles])[0]
    initial_first = rng.random() < 0.5
    a, b = (initial, other) if initial_first else (other, initial)
    messages = comparison_messages(principle, exchange, a, b, few_shot=loop.settings.few_shot)
    calls, error = 0, None
    for _ in range(2):
        calls += 1
        answer = await loop.critic.generate(messages, params)
        try:
            pref: Preference = parse_preference(answer.text)
        except CritiqueParseError as exc:
            error = str(exc)
            continue
        a_wins = pref.preferred == "A"
        initial_wins = a_wins == initial_first
        chosen, rejected = (initial, other) if initial_wins else (other, initial)
        label = PreferenceLabel(
            principle.id,
            chosen,
            rejected,
            "initial" if initial_wins else other_is,
            pref.reason,
            "initial-first" if initial_first else "initial-second",
        )
        return label, calls, None
    return None, calls, error


async def _one(
    item: PromptItem,
    loop: ConstitutionalLoop,
    writer: AlignmentDataWriter,
    lock: asyncio.Lock,
    seed: int,
) -> tuple[LoopResult, bool, int]:
    result = await loop.run(item.prompt, force=True)
    exchange = Exchange(item.prompt)
    rng = _rng_for(item.id, seed)
    calls = 0
    other: str | None = None
    other_is: Literal["revision", "alternative"] = "revision"
    if result.changed:
        other = result.text
    else:
        sample = GenerationParams(
            max_tokens=loop.settings.revision.max_tokens, temperature=1.0, seed=rng.randrange(2**31)
        )
        calls += 1
        alt = (await loop.actor.generate([ChatMessage("user", item.prompt)], sample)).text
        if alt.strip() and alt.strip() != result.draft.strip():
            other, other_is = alt, "alternative"
    label: PreferenceLabel | None = None
    pref_error: str | None = "the two candidate replies are identical" if other is None else None
    principles = loop.constitution.comparison_principles
    if other is not None and principles:
        c = loop.settings.critique
        label, used, pref_error = await label_preference(
            loop,
            exchange,
            result.draft,
            other,
            other_is,
            principles,
            rng,
            GenerationParams(max_tokens=c.max_tokens, temperature=c.temperature),
        )
        calls += used
    elif other is not None:
        pref_error = "the constitution has no comparison_principles"
    record = {
        "id": item.id,
        "prompt": item.prompt,
        "initial_response": result.draft,
        "critiques": [
            {
                "round": s.round,
                "principle": s.principle,
                "verdict": s.verdict,
                "critique": s.critique,
                "revised": s.revised,
            }
            for s in result.steps
        ],
        "revision": result.text,
        "revised": result.changed,
        "stopped": result.stopped,
        "constitution": result.constitution,
        "preference": None
        if label is None
        else {
            "principle": label.principle,
            "chosen_is": label.chosen_is,
            "reason": label.reason,
            "order": label.order,
        },
        "preference_error": pref_error,
        "calls": result.calls + calls,
    }
    sft = writer.sft_row(item.prompt, result.text)
    dpo = writer.dpo_row(item.prompt, label.chosen, label.rejected) if label is not None else None
    async with lock:
        writer.write(record, sft, dpo)
    return result, dpo is not None, result.calls + calls + 1


async def generate(
    items: Sequence[PromptItem],
    loop: ConstitutionalLoop,
    writer: AlignmentDataWriter,
    *,
    concurrency: int = 1,
    limit: int | None = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> GenerateReport:
    """Generate SL-CAI records and preference pairs for ``items`` (the first ``limit`` of them).

    Prompts already in ``writer``'s directory are skipped; a prompt whose generation fails (a model
    error, a critique that fails closed) is counted, reported, left out, and retried by a rerun.
    """
    started = time.perf_counter()
    chosen = list(items[:limit] if limit is not None else items)
    done = writer.recover()
    report = GenerateReport(total=len(chosen))
    semaphore, lock = asyncio.Semaphore(max(1, concurrency)), asyncio.Lock()

    async def worker(item: PromptItem) -> None:
        if item.id in done:
            report.skipped += 1
            if on_progress is not None:
                on_progress(item, "skipped")
            return
        async with semaphore:
            try:
                result, paired, calls = await _one(item, loop, writer, lock, seed)
            except PoiseError as exc:
                report.failed += 1
                report.errors.append(f"{item.id}: {type(exc).__name__}: {exc}")
                outcome = "failed"
            else:
                report.written += 1
                report.pairs += paired
                report.revised += result.changed
                report.calls += calls
                outcome = "written"
        if on_progress is not None:
            on_progress(item, outcome)

    await asyncio.gather(*(worker(item) for item in chosen))
    report.seconds = time.perf_counter() - started
    return report
