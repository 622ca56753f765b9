"""The inference-time loop: critique a draft against principles, revise it, stop when it passes.

One run of :class:`ConstitutionalLoop`:

1. **Trigger.** ``always``, ``flagged`` (an output rail flagged the draft), ``high_risk`` (the
   request or the draft carries a high-risk category) or ``sampled`` (a share of requests, drawn
   from a seeded RNG). Not triggered: the draft is returned untouched, at no cost.
2. **Rounds.** Up to ``max_rounds``; in each, the selected principles (``all``, ``sampled`` by
   weight, or those ``relevant`` to the flags) are checked one by one. The *critic* (which may be
   a different model from the actor) answers in JSON whether the current draft breaks the
   principle; on a violation the *actor* revises the draft. A round without a violation ends the
   loop early.
3. **Budget.** Critic and reviser calls count against ``max_extra_calls`` and the wall time the
   loop adds against ``max_added_latency_ms``; a call that would overrun either is not made (or is
   cancelled), and the best draft so far (the last finished revision) is returned with
   ``budget_exhausted``.
4. **Unparseable critiques** are never a pass: ``fail_closed`` raises
   :class:`~poise.errors.CritiqueParseError`, ``keep_draft`` stops and returns the draft as it is
   (marked ``unparseable``), ``retry`` asks again ``parse_retries`` times and then fails closed.

Every step (principle, verdict, critique, before/after, calls, latency) is on the
:class:`LoopResult`, and every critique and revision goes to the audit trail as digests.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal, TypeVar

from poise.align.audit import loop_records
from poise.align.constitution import Constitution, LoopSettings, Principle, load_constitution, matches_any
from poise.align.critique import Critique, parse_critique
from poise.align.prompts import (
    EXAMPLE_REPLIES,
    REVISION_STOPS,
    Exchange,
    clean_revision,
    critique_messages,
    revision_messages,
)
from poise.audit.store import AuditStore
from poise.errors import CritiqueParseError
from poise.models.types import ChatMessage, ChatModel, GenerationParams
from poise.persona.spec import Persona

__all__ = ["ConstitutionalLoop", "LoopResult", "LoopStep", "StopReason", "TriggerDecision", "Verdict"]

Verdict = Literal["pass", "violation", "unparseable"]
StopReason = Literal["not_triggered", "no_violation", "max_rounds", "budget_exhausted", "unparseable"]
_T = TypeVar("_T")
_COPIED = "the reviser copied the worked example; kept the draft"


@dataclass(frozen=True)
class TriggerDecision:
    """Whether the loop runs, and which trigger fired (``always``, ``flagged:EMAIL``, ``forced``...)."""

    fired: bool
    reason: str


@dataclass(frozen=True)
class LoopStep:
    """One principle checked in one round: the critic's verdict and, on a violation, the revision.

    Attributes:
        calls: model calls this step made (critique retries and the revision included).
        error: why the critique could not be read, or why a revision was discarded.
    """

    round: int
    principle: str
    verdict: Verdict
    critique: str
    before: str
    after: str
    calls: int
    latency_ms: float
    error: str | None = None

    @property
    def revised(self) -> bool:
        return self.after != self.before

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "principle": self.principle,
            "verdict": self.verdict,
            "critique": self.critique,
            "before": self.before,
            "after": self.after,
            "revised": self.revised,
            "calls": self.calls,
            "latency_ms": round(self.latency_ms, 1),
            "error": self.error,
        }


@dataclass(frozen=True)
class LoopResult:
    """What one run of the loop did. ``text`` is the reply to use."""

    text: str
    draft: str
    trigger: TriggerDecision
    stopped: StopReason
    steps: tuple[LoopStep, ...] = ()
    rounds: int = 0
    calls: int = 0
    latency_ms: float = 0.0
    constitution: str = ""
    principles: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.text != self.draft

    @property
    def budget_exhausted(self) -> bool:
        return self.stopped == "budget_exhausted"

    @property
    def violations(self) -> tuple[LoopStep, ...]:
        return tuple(s for s in self.steps if s.verdict == "violation")

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "draft": self.draft,
            "changed": self.changed,
            "triggered": self.trigger.fired,
            "trigger": self.trigger.reason,
            "stopped": self.stopped,
            "budget_exhausted": self.budget_exhausted,
            "rounds": self.rounds,
            "calls": self.calls,
            "latency_ms": round(self.latency_ms, 1),
            "constitution": self.constitution,
            "principles": list(self.principles),
            "steps": [s.to_dict() for s in self.steps],
        }


class _BudgetSpent(Exception):
    """Internal: the next call would overrun the budget (``parse_error``: a critique before it
    could not be read)."""

    def __init__(self, parse_error: CritiqueParseError | None = None) -> None:
        self.parse_error = parse_error
        super().__init__("budget spent")


@dataclass
class _Run:
    settings: LoopSettings
    clock: Callable[[], float]
    started: float
    calls: int = 0
    steps: list[LoopStep] = field(default_factory=list)

    def remaining_s(self) -> float:
        limit = self.settings.budget.max_added_latency_ms / 1000
        return limit - (self.clock() - self.started)

    async def call(self, work: Callable[[], Awaitable[_T]]) -> _T:
        """Make one budgeted call; raise :class:`_BudgetSpent` instead of overrunning."""
        remaining = self.remaining_s()
        if self.calls >= self.settings.budget.max_extra_calls or remaining <= 0:
            raise _BudgetSpent
        self.calls += 1
        try:
            return await asyncio.wait_for(work(), timeout=remaining)
        except TimeoutError:
            raise _BudgetSpent from None


def _exchange(
    prompt: str | Sequence[ChatMessage], persona: Persona | None, context: str | None
) -> tuple[list[ChatMessage], Exchange]:
    messages = [ChatMessage("user", prompt)] if isinstance(prompt, str) else list(prompt)
    users = [m.content for m in messages if m.role == "user"]
    facts = [m.content for m in messages if m.role == "system"]
    if context:
        facts.append(context)
    return messages, Exchange(users[-1] if users else "", "\n".join(facts), persona)


class ConstitutionalLoop:
    """Critique → revision at inference time, under a budget.

    Args:
        actor: the model that wrote the draft; it also writes the revisions.
        critic: the model that critiques (default: the actor).
        constitution: the principles (default: the shipped constitution).
        settings: loop settings (default: the constitution's ``loop`` section).
        audit: where critiques and revisions are recorded (digests only); none: not recorded.
        extra_principles: principles added for this loop (replacing same-id ones), an API-level
            alternative to a persona override in the constitution file.
        clock: seconds, monotonic; injectable for tests.

    Example:
        >>> loop = ConstitutionalLoop(resolve_model("local"))  # doctest: +SKIP
        >>> result = await loop.run("What is my balance?", draft="It is $4,213.", force=True)
    """

    def __init__(
        self,
        actor: ChatModel,
        *,
        critic: ChatModel | None = None,
        constitution: Constitution | None = None,
        settings: LoopSettings | None = None,
        audit: AuditStore | None = None,
        extra_principles: Sequence[Principle] = (),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.actor = actor
        self.critic = critic or actor
        self.constitution = constitution or load_constitution()
        self.settings = settings or self.constitution.loop
        self.audit = audit
        self.extra_principles = tuple(extra_principles)
        self.clock = clock
        self._trigger_rng = random.Random(self.settings.seed)
        self._select_rng = random.Random(self.settings.seed + 1)

    def should_run(self, flags: Sequence[str] = (), risk: Sequence[str] = ()) -> TriggerDecision:
        """Which trigger fires for a draft with output-rail ``flags`` and request ``risk`` categories.

        ``sampled`` draws from the seeded RNG on every call where no earlier trigger fired, so a
        given seed gives the same sequence of decisions.
        """
        s = self.settings
        for trigger in s.triggers:
            if trigger == "always":
                return TriggerDecision(True, "always")
            if trigger == "flagged":
                hit = next((f for f in flags if matches_any(f, s.flagged_categories)), None)
                if hit is not None:
                    return TriggerDecision(True, f"flagged:{hit}")
            if trigger == "high_risk":
                hit = next((c for c in (*risk, *flags) if matches_any(c, s.high_risk_categories)), None)
                if hit is not None:
                    return TriggerDecision(True, f"high_risk:{hit}")
            if trigger == "sampled" and self._trigger_rng.random() < s.sample_rate:
                return TriggerDecision(True, "sampled")
        return TriggerDecision(False, "none")

    def select(self, persona_id: str | None = None, flags: Sequence[str] = ()) -> tuple[Principle, ...]:
        """The principles to check in one round (see ``selection`` and ``max_principles``)."""
        principles = list(self.constitution.principles_for(persona_id, self.extra_principles))
        cap = self.settings.max_principles or len(principles)
        if self.settings.selection == "sampled":
            pool, chosen = principles[:], list[Principle]()
            while pool and len(chosen) < cap:
                pick = self._select_rng.choices(pool, weights=[p.weight for p in pool])[0]
                pool.remove(pick)
                chosen.append(pick)
            return tuple(chosen)
        if self.settings.selection == "relevant" and flags:
            relevant = [p for p in principles if any(matches_any(f, p.scope.categories) for f in flags)]
            if relevant:
                return tuple(relevant[:cap])
        return tuple(principles[:cap])

    async def run(
        self,
        prompt: str | Sequence[ChatMessage],
        *,
        draft: str | None = None,
        persona: Persona | None = None,
        flags: Sequence[str] = (),
        risk: Sequence[str] = (),
        force: bool = False,
        context: str | None = None,
        session_id: str | None = None,
        tenant: str = "default",
    ) -> LoopResult:
        """Run the loop on one reply.

        Args:
            prompt: the user's message, or the whole conversation the actor saw (its system
                messages are shown to the critic as the facts the assistant was given).
            draft: the reply to check; ``None``: the actor writes it first (not counted in the budget).
            persona: the persona replying (persona-scoped principles, and facts for the critic).
            flags: categories output rails flagged on the draft (``flagged``; ``relevant`` selection).
            risk: categories of the request (input-rail findings, topic labels) for ``high_risk``.
            force: run whatever the triggers say (the guard's ``rewrite`` action does this).
            context: more facts the assistant was given, beyond the system messages.
            session_id / tenant: written on the audit records.

        Raises:
            CritiqueParseError: a critique could not be read and ``on_unparseable`` fails closed.
            ModelError: the actor or the critic failed.
        """
        messages, exchange = _exchange(prompt, persona, context)
        if draft is None:
            params = GenerationParams(
                max_tokens=self.settings.revision.max_tokens, temperature=self.settings.revision.temperature
            )
            draft = (await self.actor.generate(messages, params)).text
        trigger = TriggerDecision(True, "forced") if force else self.should_run(flags, risk)
        if not trigger.fired:
            return LoopResult(draft, draft, trigger, "not_triggered", constitution=self.constitution.id)
        state = _Run(self.settings, self.clock, self.clock())
        result: LoopResult | None = None
        try:
            result = await self._rounds(state, exchange, draft, trigger, flags)
            return result
        finally:
            if self.audit is not None:
                records = loop_records(
                    state.steps,
                    result,
                    draft=draft,
                    constitution=self.constitution.id,
                    trigger=trigger.reason,
                    flags=tuple(flags),
                    persona=persona,
                    session_id=session_id,
                    tenant=tenant,
                )
                await self.audit.append(records)

    async def _rounds(
        self, state: _Run, exchange: Exchange, draft: str, trigger: TriggerDecision, flags: Sequence[str]
    ) -> LoopResult:
        persona_id = exchange.persona.id if exchange.persona is not None else None
        current = draft
        stopped: StopReason = "max_rounds"
        rounds = 0
        seen: dict[str, None] = {}
        try:
            for round_no in range(1, self.settings.max_rounds + 1):
                rounds = round_no
                violated = False
                for principle in self.select(persona_id, flags):
                    seen[principle.id] = None
                    step = await self._step(state, round_no, principle, exchange, current)
                    state.steps.append(step)
                    current = step.after
                    if step.verdict == "unparseable":
                        stopped = "unparseable"
                        break
                    violated = violated or step.verdict == "violation"
                if stopped == "unparseable":
                    break
                if not violated:
                    stopped = "no_violation"
                    break
        except _BudgetSpent:
            stopped = "budget_exhausted"
        return LoopResult(
            text=current,
            draft=draft,
            trigger=trigger,
            stopped=stopped,
            steps=tuple(state.steps),
            rounds=rounds,
            calls=state.calls,
            latency_ms=(self.clock() - state.started) * 1000,
            constitution=self.constitution.id,
            principles=tuple(seen),
        )

    async def _step(
        self, state: _Run, round_no: int, principle: Principle, exchange: Exchange, before: str
    ) -> LoopStep:
        started, calls_before = self.clock(), state.calls

        def step(verdict: Verdict, critique: str, after: str, error: str | None = None) -> LoopStep:
            return LoopStep(
                round_no,
                principle.id,
                verdict,
                critique,
                before,
                after,
                state.calls - calls_before,
                (self.clock() - started) * 1000,
                error,
            )

        try:
            found = await self._critique(state, principle, exchange, before)
        except _BudgetSpent as spent:
            if spent.parse_error is not None:
                state.steps.append(step("unparseable", "", before, str(spent.parse_error)))
            raise
        except CritiqueParseError as exc:  # fail closed: recorded, then raised
            state.steps.append(step("unparseable", "", before, str(exc)))
            raise
        if isinstance(found, CritiqueParseError):
            return step("unparseable", "", before, str(found))
        if not found.violation:
            return step("pass", found.critique, before)
        s = self.settings.revision
        params = GenerationParams(max_tokens=s.max_tokens, temperature=s.temperature, stop=REVISION_STOPS)
        messages = revision_messages(
            principle, exchange, before, found.critique, few_shot=self.settings.few_shot
        )
        try:
            response = await state.call(lambda: self.actor.generate(messages, params))
        except _BudgetSpent:
            state.steps.append(
                step("violation", found.critique, before, "budget ran out before the revision")
            )
            raise
        revised = clean_revision(response.text)
        if revised in EXAMPLE_REPLIES:
            return step("violation", found.critique, before, _COPIED)
        if not revised:
            return step(
                "violation", found.critique, before, "the reviser returned an empty reply; kept the draft"
            )
        return step("violation", found.critique, revised)

    async def _critique(
        self, state: _Run, principle: Principle, exchange: Exchange, reply: str
    ) -> Critique | CritiqueParseError:
        s = self.settings
        params = GenerationParams(max_tokens=s.critique.max_tokens, temperature=s.critique.temperature)
        messages = critique_messages(principle, exchange, reply, few_shot=s.few_shot)
        attempts = 1 + (s.parse_retries if s.on_unparseable == "retry" else 0)
        error: CritiqueParseError | None = None
        for attempt in range(attempts):
            # a retry at temperature 0 would repeat the same answer: sample instead
            ask = params if attempt == 0 else replace(params, temperature=max(params.temperature, 0.7))
            try:
                response = await state.call(partial(self.critic.generate, messages, ask))
            except _BudgetSpent:
                raise _BudgetSpent(error) from None
            try:
                return parse_critique(response.text)
            except CritiqueParseError as exc:
                error = exc
        assert error is not None
        if s.on_unparseable == "keep_draft":
            return error
        raise error
