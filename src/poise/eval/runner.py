"""Run suites on several targets side by side: sampled cases, cached transcripts, concurrency.

:func:`run_eval` builds the cases of each suite (seeded, stratified ``limit``), then runs every
(target, case) pair under a semaphore. A transcript found in the :class:`ResultCache` under the same
key — target, suite, case id and config hash (persona content, guard policy, generation parameters,
the case's text) — is reused, so an interrupted run resumes. A case that raises is recorded as an
error result (the one broad ``except`` of the eval runner) and not cached, so the next run retries it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poise.eval.cache import ResultCache
from poise.eval.cases import EvalCase, SuiteName, build_suite, sample_cases
from poise.eval.judges import Agreement, Judge, LexiconJudge
from poise.eval.persona_suite import user_turns_for
from poise.eval.readiness import Readiness, readiness
from poise.eval.scoring import CaseResult, score_case
from poise.eval.targets import ModelFactory, Target, TargetSpec, Transcript
from poise.models.types import GenerationParams

if TYPE_CHECKING:
    from poise.eval.ray_exec import RayExecutor

__all__ = ["EvalRun", "Progress", "RunConfig", "run_eval"]

Progress = Callable[[int, int, bool], None]
"""Called after each case: ``(done, total, from_cache)``."""


@dataclass(frozen=True)
class RunConfig:
    """What to run. ``limit`` applies per suite (seeded, stratified by source)."""

    suites: tuple[SuiteName, ...]
    data: Path
    limit: int | None = None
    seed: int = 0
    concurrency: int = 4
    persona_turns: int = 50
    persona_conversations: int = 4
    params: GenerationParams = field(
        default_factory=lambda: GenerationParams(max_tokens=256, temperature=0.0)
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "suites": list(self.suites),
            "data": str(self.data),
            "limit": self.limit,
            "seed": self.seed,
            "concurrency": self.concurrency,
            "persona_turns": self.persona_turns,
            "persona_conversations": self.persona_conversations,
            "max_tokens": self.params.max_tokens,
            "temperature": self.params.temperature,
        }


@dataclass
class EvalRun:
    """Everything a report needs."""

    config: RunConfig
    targets: list[TargetSpec]
    results: list[CaseResult]
    readiness: dict[str, Readiness]
    judge: str
    agreement: list[Agreement]
    seconds: float
    generated: int
    cached: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "targets": [t.label for t in self.targets],
            "judge": self.judge,
            "judge_agreement": [a.to_dict() for a in self.agreement],
            "seconds": round(self.seconds, 1),
            "generated": self.generated,
            "cached": self.cached,
            "readiness": {k: r.to_dict() for k, r in self.readiness.items()},
            "results": [r.to_dict() for r in self.results],
        }


def select_cases(config: RunConfig) -> list[EvalCase]:
    """The sampled cases of every suite in ``config``."""
    cases: list[EvalCase] = []
    for suite in config.suites:
        every = build_suite(
            suite,
            config.data,
            persona_turns=config.persona_turns,
            persona_conversations=config.persona_conversations,
        )
        cases.extend(sample_cases(every, config.limit, config.seed))
    return cases


def _case_hash(turns: Sequence[str]) -> str:
    return hashlib.sha256("\x1e".join(turns).encode()).hexdigest()[:12]


async def run_eval(
    specs: Sequence[TargetSpec],
    config: RunConfig,
    *,
    model_factory: ModelFactory | None = None,
    judge: Judge | None = None,
    cache: ResultCache | None = None,
    progress: Progress | None = None,
    agreement: Sequence[Agreement] = (),
    executor: RayExecutor | None = None,
) -> EvalRun:
    """Run ``config``'s suites on every target; see the module docstring.

    ``executor``: run each conversation as a Ray task (:class:`~poise.eval.ray_exec.RayExecutor`)
    instead of in this process; everything else (cache, scoring) stays here.
    """
    started = time.perf_counter()
    judge = judge or LexiconJudge()
    cache = cache or ResultCache()
    cases = select_cases(config)
    targets = [Target.build(s, params=config.params, model_factory=model_factory) for s in specs]
    gate = asyncio.Semaphore(max(1, config.concurrency))
    total = len(cases) * len(targets)
    done = generated = cached = 0

    async def one(target: Target, case: EvalCase) -> CaseResult:
        nonlocal done, generated, cached
        turns = user_turns_for(case, target.persona) if case.suite == "persona" else case.turns
        key = target.config_hash((_case_hash(turns),))
        label = target.spec.label
        transcript = cache.get(target.spec.key(), case.suite, case.id, key)
        hit = transcript is not None
        if transcript is None:
            async with gate:
                try:
                    if executor is None:
                        transcript = await target.converse(turns)
                    else:
                        transcript = await executor.converse(target.spec, config.params, model_factory, turns)
                except Exception as exc:  # the runner's boundary: a failed case is data
                    transcript = Transcript(tuple(turns), (), error=f"{type(exc).__name__}: {exc}")
            if transcript.error is None:
                cache.put(target.spec.key(), case.suite, case.id, key, transcript)
                generated += 1
        else:
            cached += 1
        result = await score_case(label, case, transcript, judge, target.persona)
        done += 1
        if progress is not None:
            progress(done, total, hit)
        return result

    results = await asyncio.gather(*(one(t, c) for t in targets for c in cases))
    labels = [t.spec.label for t in targets]
    return EvalRun(
        config=config,
        targets=list(specs),
        results=list(results),
        readiness={label: readiness(label, results, seed=config.seed) for label in labels},
        judge=judge.name,
        agreement=list(agreement),
        seconds=time.perf_counter() - started,
        generated=generated,
        cached=cached,
    )
