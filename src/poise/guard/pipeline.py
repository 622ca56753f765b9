"""The guard pipeline: input rails before the model, output rails after it, one verdict each.

:class:`GuardPipeline` runs its rails concurrently (inline microsecond rails first, then the
threaded and async ones under ``asyncio.gather``), hands every :class:`RailResult` to the
:class:`~poise.guard.policy.Policy`, and returns a :class:`GuardVerdict`: the action, every rail's
result (scores, categories, spans, latency), the reasons, the redacted text (``redact``), the
words to say instead (``block``/``escalate``: the persona's own refusal) and the total latency.

Rails are built by name from a registry (:func:`register_rail`, :func:`build_rail`), so a policy
file names them and an unknown name fails when the file is loaded. ``rewrite`` is a hook for the
constitution loop (:class:`Rewriter`); without one it falls back to ``block`` (fail closed).
Escalations go to a pluggable sink: :class:`~poise.guard.policy.QueueSink` or
:class:`~poise.guard.policy.WebhookSink`. The built-in rails register at the bottom of this module.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from poise.errors import EscalationError, PoiseError, PolicyError, UnknownRailError
from poise.guard.policy import (
    Action,
    Decision,
    EscalationEvent,
    EscalationSink,
    Policy,
    RailSpec,
    Reason,
    Stage,
    load_policy,
)
from poise.guard.rails import (
    DetectorRail,
    ExecutionMode,
    GuardContext,
    OnError,
    Rail,
    RailResult,
    build_rail,
    register_rail,
    run_rail,
    runs_inline,
)
from poise.guard.types import Detector, Span

__all__ = [
    "GuardPipeline",
    "GuardVerdict",
    "Rewriter",
    "load_pipeline",
    "mask_spans",
]

SpanRedactor = Callable[[str, Sequence[Span]], str]


def mask_spans(text: str, spans: Sequence[Span], replace: Callable[[Span, str], str] | None = None) -> str:
    """Replace each span with ``[LABEL]`` (or ``replace(span, covered_text)``); overlapping spans
    merge (the first label wins)."""
    merged: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and s.start < merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, s.end), merged[-1].label)
        else:
            merged.append(s)
    out: list[str] = []
    last = 0
    for s in merged:
        out.append(text[last : s.start])
        out.append(replace(s, text[s.start : s.end]) if replace else f"[{s.label.upper()}]")
        last = s.end
    out.append(text[last:])
    return "".join(out)


@dataclass(frozen=True)
class GuardVerdict:
    """What the guard decided for one text at one stage, and everything behind the decision.

    Attributes:
        text: the text to pass on when it changed: redacted (``redact``) or rewritten (``rewrite``).
        message: what to say instead when the action is ``block`` or ``escalate``.
        escalation: the event sent to the sink on ``escalate``; ``escalation_error`` if sending failed.
    """

    stage: Stage
    action: Action
    results: tuple[RailResult, ...]
    reasons: tuple[Reason, ...] = ()
    latency_ms: float = 0.0
    text: str | None = None
    message: str | None = None
    escalation: EscalationEvent | None = None
    escalation_error: str | None = None

    @property
    def blocked(self) -> bool:
        return self.action in ("block", "escalate")

    @property
    def errors(self) -> tuple[RailResult, ...]:
        return tuple(r for r in self.results if r.status == "error")

    @property
    def scores(self) -> dict[str, float]:
        return {r.rail: r.score for r in self.results if r.status == "ok"}


class Rewriter(Protocol):
    """Hook for the constitution loop: rewrite a draft the policy marked ``rewrite``."""

    async def rewrite(self, text: str, verdict: GuardVerdict, ctx: GuardContext) -> str:
        """Return a revised draft; raise a :class:`~poise.errors.PoiseError` to give up."""
        ...


def _build_all(specs: Sequence[RailSpec], stage: str, path: Path | None) -> list[Rail]:
    rails: list[Rail] = []
    for i, spec in enumerate(specs):
        try:
            rails.append(
                build_rail(
                    spec.name,
                    spec.args,
                    timeout=spec.timeout_ms / 1000,
                    on_error=spec.on_error,
                    mode=spec.mode,
                    stream=spec.stream,
                )
            )
        except (TypeError, ValueError, PoiseError) as exc:
            if isinstance(exc, UnknownRailError):
                raise
            raise PolicyError(
                f"cannot build rail {spec.name!r}: {exc}", path=path, field=f"rails.{stage}[{i}].args"
            ) from exc
    return rails


class GuardPipeline:
    """Input and output rails plus the policy that decides.

    Args:
        input_rails: rails run on the user's message before the model.
        output_rails: rails run on the model's reply.
        policy: maps rail results to an action.
        sink: where ``escalate`` events go (none: the event is only on the verdict).
        rewriter: the constitution loop's hook; without one ``rewrite`` becomes ``block``.
        redactor: how ``redact`` rewrites spans (default :func:`mask_spans`).
    """

    def __init__(
        self,
        input_rails: Sequence[Rail],
        output_rails: Sequence[Rail],
        policy: Policy,
        *,
        sink: EscalationSink | None = None,
        rewriter: Rewriter | None = None,
        redactor: SpanRedactor = mask_spans,
    ) -> None:
        for stage, rails in (("input", input_rails), ("output", output_rails)):
            names = [r.name for r in rails]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{stage} rails have duplicate names {dupes}; give each rail its own name")
        self.input_rails = tuple(input_rails)
        self.output_rails = tuple(output_rails)
        self.policy = policy
        self.sink = sink
        self.rewriter = rewriter
        self.redactor = redactor

    @classmethod
    def from_policy(cls, policy: Policy, **kwargs: object) -> GuardPipeline:
        """Build the rails a policy names, from the registry."""
        path = policy.path
        inputs = _build_all(policy.spec.rails.input, "input", path)
        outputs = _build_all(policy.spec.rails.output, "output", path)
        return cls(inputs, outputs, policy, **kwargs)  # type: ignore[arg-type]

    @property
    def streaming_rails(self) -> tuple[Rail, ...]:
        """Output rails that run on every streamed chunk (``stream=True``)."""
        return tuple(r for r in self.output_rails if getattr(r, "stream", False))

    async def run_rails(self, rails: Sequence[Rail], text: str, ctx: GuardContext) -> tuple[RailResult, ...]:
        """Run ``rails`` on ``text``: inline ones directly, the rest concurrently."""
        inline = [runs_inline(r, text) for r in rails]
        results: list[RailResult | None] = [None] * len(rails)
        for i, rail in enumerate(rails):
            if inline[i]:
                results[i] = await run_rail(rail, text, ctx)
        waiting = [i for i in range(len(rails)) if not inline[i]]
        if waiting:
            done = await asyncio.gather(*(run_rail(rails[i], text, ctx) for i in waiting))
            for i, res in zip(waiting, done, strict=True):
                results[i] = res
        return tuple(r for r in results if r is not None)

    async def check_input(self, text: str, ctx: GuardContext | None = None) -> GuardVerdict:
        """Check a user's message before it reaches the model."""
        return await self._check("input", self.input_rails, text, ctx or GuardContext())

    async def check_output(self, text: str, ctx: GuardContext | None = None) -> GuardVerdict:
        """Check the model's reply before it reaches the user."""
        ctx = ctx or GuardContext()
        verdict = await self._check("output", self.output_rails, text, ctx)
        if verdict.action == "rewrite":
            verdict = await self._rewrite(verdict, text, ctx)
        return verdict

    async def check_rails(
        self, rails: Sequence[Rail], stage: Stage, text: str, ctx: GuardContext
    ) -> GuardVerdict:
        """Check ``text`` with a subset of rails (streaming uses this on each chunk)."""
        return await self._check(stage, rails, text, ctx)

    async def _check(self, stage: Stage, rails: Sequence[Rail], text: str, ctx: GuardContext) -> GuardVerdict:
        started = time.perf_counter()
        results = await self.run_rails(rails, text, ctx)
        decision = self.policy.decide(results, stage=stage, tier=ctx.tier, tenant=ctx.tenant)
        verdict = self._verdict(stage, decision, results, text, ctx, started)
        if verdict.action == "escalate":  # the latency then includes sending the event
            verdict = await self._escalate(verdict, ctx)
            verdict = replace(verdict, latency_ms=(time.perf_counter() - started) * 1000)
        return verdict

    def _verdict(
        self,
        stage: Stage,
        decision: Decision,
        results: tuple[RailResult, ...],
        text: str,
        ctx: GuardContext,
        started: float,
    ) -> GuardVerdict:
        action, reasons = decision.action, decision.reasons
        if action == "rewrite" and (self.rewriter is None or stage == "input"):
            why = "no rewriter is configured" if self.rewriter is None else "input is never rewritten"
            reasons = (
                *reasons,
                Reason("rewrite_unavailable", "block", "policy", detail=f"{why}; failing closed"),
            )
            action = "block"
        new_text = self.redactor(text, decision.redact_spans) if action == "redact" else None
        message = (
            self.refusal_message(ctx, escalate=action == "escalate")
            if action in ("block", "escalate")
            else None
        )
        return GuardVerdict(
            stage, action, results, reasons, (time.perf_counter() - started) * 1000, new_text, message
        )

    def refusal_message(self, ctx: GuardContext, *, escalate: bool = False) -> str:
        """The persona's own words for a block (its escalation message on escalate)."""
        persona = ctx.persona
        if escalate and persona is not None and persona.escalation is not None:
            return persona.escalation.message
        if persona is not None and persona.refusal is not None:
            return persona.refusal.message
        return self.policy.spec.fallback_refusal

    async def _escalate(self, verdict: GuardVerdict, ctx: GuardContext) -> GuardVerdict:
        event = EscalationEvent.from_verdict(verdict, ctx)
        if self.sink is None:
            return replace(verdict, escalation=event)
        try:
            await self.sink.send(event)
        except EscalationError as exc:
            return replace(verdict, escalation=event, escalation_error=str(exc))
        return replace(verdict, escalation=event)

    async def _rewrite(self, verdict: GuardVerdict, draft: str, ctx: GuardContext) -> GuardVerdict:
        assert self.rewriter is not None  # _verdict turned rewrite into block otherwise
        try:
            revised = await self.rewriter.rewrite(draft, verdict, ctx)
        except PoiseError as exc:
            reason = Reason("rewrite_failed", "block", "policy", detail=f"{type(exc).__name__}: {exc}")
            return replace(
                verdict, action="block", reasons=(*verdict.reasons, reason), message=self.refusal_message(ctx)
            )
        again = await self._check("output", self.output_rails, revised, ctx)
        if again.action in ("allow", "log", "redact"):
            return replace(
                again, action="rewrite", text=again.text or revised, reasons=verdict.reasons + again.reasons
            )
        reason = Reason(
            "rewrite_rejected", "block", "policy", detail=f"the rewrite still triggers {again.action}"
        )
        return replace(
            again,
            action="block" if again.action != "escalate" else "escalate",
            reasons=(*again.reasons, reason),
            message=again.message or self.refusal_message(ctx),
        )


def load_pipeline(path: Path | str | None = None, **kwargs: object) -> GuardPipeline:
    """Load a policy file (default: the shipped one) and build its pipeline."""
    return GuardPipeline.from_policy(load_policy(path), **kwargs)


# --- built-in rails -------------------------------------------------------------------------------
# Each factory takes the YAML ``args`` as keywords plus name/timeout/on_error/mode/stream. Detector
# imports are lazy so that loading a policy does not import numpy unless a rail needs it.


def _detector_rail(
    detector: Detector,
    *,
    name: str,
    timeout: float,
    on_error: OnError,
    mode: ExecutionMode | None,
    stream: bool | None,
    default_mode: ExecutionMode = "inline",
    default_stream: bool = False,
    inline_chars: int = 0,
) -> DetectorRail:
    return DetectorRail(
        detector,
        name=name,
        timeout=timeout,
        on_error=on_error,
        mode=mode or default_mode,
        stream=default_stream if stream is None else stream,
        inline_chars=inline_chars,
    )


@register_rail(
    "injection", stages=("input",), description="prompt injection and jailbreak (rules + ML classifier)"
)
def _injection(
    *,
    classifier: bool | Literal["auto"] = "auto",
    threshold: float | None = None,
    inline_chars: int = 2000,
    **rail: Any,
) -> Rail:
    from poise.guard.injection import InjectionDetector
    from poise.guard.injection.classifier import ARTIFACT_DIR, MODEL_FILE

    use = (ARTIFACT_DIR / MODEL_FILE).is_file() if classifier == "auto" else bool(classifier)
    detector = InjectionDetector(use_classifier=use, threshold=threshold)
    # With the classifier, a check grows with the text (~0.1 ms for a chat message, ~1 ms at 6,000
    # characters on a 2-core box): long texts go to a thread, where the timeout can bite; up to
    # ``inline_chars`` the hop would cost more than the check.
    return _detector_rail(
        detector, default_mode="thread" if use else "inline", inline_chars=inline_chars, **rail
    )


@register_rail("many_shot", stages=("input",), description="many fabricated dialogue turns in one message")
def _many_shot(*, threshold: float = 0.6, **rail: Any) -> Rail:
    from poise.guard.injection import ManyShotDetector

    return _detector_rail(ManyShotDetector(threshold=threshold), **rail)


@register_rail(
    "system_prompt_extraction", stages=("input",), description="requests to reveal the system prompt"
)
def _extraction(*, threshold: float = 0.5, **rail: Any) -> Rail:
    from poise.guard.injection import SystemPromptExtractionDetector

    return _detector_rail(SystemPromptExtractionDetector(threshold=threshold), **rail)


@register_rail("pii", description="personal data and credentials (e-mail, card, IBAN, keys, ...)")
def _pii(*, types: list[str] | None = None, **rail: Any) -> Rail:
    from poise.guard.pii.detector import PIIDetector

    return _detector_rail(PIIDetector(types), default_stream=True, **rail)


@register_rail("persona_rules", stages=("output",), description="the reply against the persona's rule checks")
def _persona_rules(
    *, name: str, timeout: float, on_error: OnError, mode: object = None, stream: object = None
) -> Rail:
    from poise.guard.persona_rules import PersonaRulesRail

    return PersonaRulesRail(name=name, timeout=timeout, on_error=on_error)


@register_rail("refusal", stages=("output",), description="the reply declines (over-refusal telemetry)")
def _refusal(*, threshold: float | None = None, **rail: Any) -> Rail:
    from poise.guard.refusal import REFUSAL_THRESHOLD, RefusalDetector

    return _detector_rail(RefusalDetector(REFUSAL_THRESHOLD if threshold is None else threshold), **rail)


@register_rail("topic", stages=("input",), description="allowed / denied topics, per persona or shared")
def _topic(
    *,
    allowed: dict[str, list[str]] | None = None,
    denied: dict[str, list[str]] | None = None,
    personas: dict[str, dict[str, dict[str, list[str]]]] | None = None,
    min_words: int = 6,
    name: str,
    timeout: float,
    on_error: OnError,
    mode: object = None,
    stream: object = None,
) -> Rail:
    from poise.guard.topic import TopicRail

    return TopicRail(
        allowed, denied, personas=personas, min_words=min_words, name=name, timeout=timeout, on_error=on_error
    )


@register_rail("leak", stages=("output",), description="system prompt, named secret or canary in the reply")
def _leak(*, threshold: float = 0.5, **rail: Any) -> Rail:
    from poise.guard.leak import LeakDetector

    return _detector_rail(LeakDetector(threshold=threshold), default_stream=True, **rail)


@register_rail("toxicity", description="insults, profanity and abuse (alt-profanity-check's offline model)")
def _toxicity(*, threshold: float | None = None, **rail: Any) -> Rail:
    from poise.guard.toxicity import TOXICITY_THRESHOLD, toxicity_detector

    return _detector_rail(toxicity_detector(TOXICITY_THRESHOLD if threshold is None else threshold), **rail)
