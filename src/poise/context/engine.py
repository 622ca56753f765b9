"""The conversation engine: one user turn from message to stored reply.

Per turn: load the session's history → analyse the request and evaluate the instruction rules →
compile the persona prompt → fit everything in the context window (summarizing older turns with
the model when needed, re-injecting the persona reminder every N turns, when the drift monitor
asks, or on demand) → call the model → store the reply → let the drift monitor observe it.

Nothing typed by the user is lost: the user message is stored (``pending``) before the model is
called; a failed call marks it ``failed`` (kept, retryable with :meth:`ConversationEngine.retry`)
and re-raises the backend's typed error; a stream cut short keeps its partial reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from poise.context.drift import DriftMonitor, DriftSignal, NoDriftMonitor, TurnObservation
from poise.context.guarding import GuardSettings, GuardTrace, Placeholders
from poise.context.store import SQLiteSessionStore, StoredMessage
from poise.context.summarize import summarize_history
from poise.context.window import ContextWindow, WindowPlan
from poise.errors import ModelError, SessionError
from poise.guard.pipeline import GuardVerdict
from poise.guard.rails import GuardContext, Tier
from poise.guard.streaming import StreamGuard
from poise.instructions.types import InstructionResult, RequestContext, UserProfile
from poise.models.types import ChatChunk, ChatMessage, ChatModel, GenerationParams, Usage
from poise.persona.compile import CompiledPrompt, Family, compile_persona, family_for
from poise.persona.spec import Persona

Instructions = Callable[[RequestContext], InstructionResult]
"""Anything that turns a request context into instruction fragments (see ``poise.instructions``)."""


@dataclass(frozen=True)
class TurnTrace:
    """Why this turn's prompt looked the way it did."""

    prompt: CompiledPrompt
    instructions: InstructionResult
    window: WindowPlan
    summary_error: str | None = None
    drift: DriftSignal | None = None
    guard: GuardTrace | None = None

    def to_dict(self) -> dict[str, Any]:
        s = self.instructions.signals
        return {
            **self.prompt.trace.to_dict(),
            "signals": {
                "task": s.task,
                "code_language": s.code_language,
                "language": s.language,
                "sentiment": round(s.sentiment, 3),
                "recent_sentiment": round(s.recent_sentiment, 3),
                "complaints": s.complaints,
                "turn": s.turn,
            },
            "window": {
                "prompt_tokens": self.window.prompt_tokens,
                "budget": self.window.budget,
                "history_included": self.window.history_included,
                "history_total": self.window.history_total,
                "used_summary": self.window.used_summary,
                "reminder_injected": self.window.reminder_injected,
            },
            "summary_error": self.summary_error,
            "drift": None
            if self.drift is None
            else {
                "score": self.drift.score,
                "reinforce": self.drift.reinforce,
                "reasons": list(self.drift.reasons),
            },
            "guard": None if self.guard is None else self.guard.to_dict(),
        }


@dataclass(frozen=True)
class TurnResult:
    """A finished turn."""

    session_id: str
    turn: int
    reply: str
    usage: Usage
    finish_reason: str
    trace: TurnTrace

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "turn": self.turn,
            "reply": self.reply,
            "finish_reason": self.finish_reason,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "total_tokens": self.usage.total_tokens,
            },
            "trace": self.trace.to_dict(),
        }


@dataclass
class _Prepared:
    session_id: str
    turn: int
    user_seq: int
    messages: tuple[ChatMessage, ...]
    prompt: CompiledPrompt
    instructions: InstructionResult
    window: WindowPlan
    text: str
    summary_error: str | None = None
    guard_ctx: GuardContext | None = None
    input_verdict: GuardVerdict | None = None


def reminder_text(persona: Persona) -> str:
    """The persona's post-history reminder, or one derived from its name and role."""
    return persona.reminder or f"Remember: you are {persona.name}, {persona.role} Stay in character."


class ConversationEngine:
    """Runs conversations for one persona on one model, persisted in a session store."""

    def __init__(
        self,
        persona: Persona,
        model: ChatModel,
        *,
        store: SQLiteSessionStore | None = None,
        instructions: Instructions | None = None,
        family: Family | None = None,
        params: GenerationParams | None = None,
        reminder_every: int = 6,
        summarize: bool = True,
        drift: DriftMonitor | None = None,
        guard: GuardSettings | None = None,
    ) -> None:
        self.persona = persona
        self.guard = guard
        self.model = model
        self.store = store or SQLiteSessionStore(":memory:")
        self.instructions = instructions
        self.family: Family = family or family_for(model.name, model.model_id)
        self.params = params or GenerationParams()
        self.reminder_every = reminder_every
        self.summarize = summarize
        self.drift = drift or NoDriftMonitor()
        self.window = ContextWindow(model.count_tokens, model.context_window, self.params.max_tokens)
        self._reinforce: set[str] = set()
        self._placeholders: dict[str, Placeholders] = {}  # reversible input redaction, memory only

    # sessions ---------------------------------------------------------------------------
    def start_session(self, session_id: str | None = None, metadata: dict[str, Any] | None = None) -> str:
        return self.store.create_session(
            self.persona.id, self.persona.version, session_id=session_id, metadata=metadata
        )

    def history(self, session_id: str) -> list[StoredMessage]:
        return self.store.messages(session_id)

    def remind_next_turn(self, session_id: str) -> None:
        """Re-inject the persona reminder on the next turn of ``session_id`` (on demand)."""
        self._reinforce.add(session_id)

    # one turn ---------------------------------------------------------------------------
    @cached_property
    def _input_prompt(self) -> str:
        """The persona's prompt without per-turn instructions: what the input rails check a message
        against (a request for a secret or a topic the prompt protects), compiled once."""
        return compile_persona(self.persona, None, family=self.family).text

    def _instructions_for(self, context: RequestContext) -> InstructionResult:
        return self.instructions(context) if self.instructions else InstructionResult()

    async def _prepare(
        self, text: str, session_id: str | None, user: UserProfile | None, now: datetime | None, remind: bool
    ) -> _Prepared:
        if session_id is None:
            session_id = self.start_session()
        elif not self.store.has_session(session_id):
            self.start_session(session_id)
        history = self.store.messages(session_id)
        context = RequestContext(
            messages=(
                *(ChatMessage(m.role, m.content) for m in history if m.role in ("user", "assistant")),  # type: ignore[arg-type]
                ChatMessage("user", text),
            ),
            user=user or UserProfile(),
            now=now or datetime.now(UTC),
        )
        turn = context.turn
        instructions = self._instructions_for(context)
        canary = self.guard.canary(session_id) if self.guard else None
        prompt = compile_persona(self.persona, instructions, family=self.family, canary=canary)
        wants_reminder = (
            remind
            or session_id in self._reinforce
            or (self.reminder_every > 0 and turn > 1 and turn % self.reminder_every == 0)
        )
        reminder = reminder_text(self.persona) if wants_reminder else None
        summary = self.store.latest_summary(session_id)
        plan = self.window.plan(prompt.text, history, text, summary=summary, reminder=reminder)
        summary_error = None
        if plan.summarize_upto is not None and self.summarize:
            to_fold = [
                m
                for m in history
                if (summary is None or m.seq > summary.upto_seq) and m.seq <= plan.summarize_upto
            ]
            try:
                content = await summarize_history(
                    self.model, to_fold, previous=summary.content if summary else None
                )
            except ModelError as exc:
                # Degrade to plain truncation, and say so in the trace.
                summary_error = f"{type(exc).__name__}: {exc}"
            else:
                self.store.add_summary(session_id, plan.summarize_upto, content)
                summary = self.store.latest_summary(session_id)
                plan = self.window.plan(prompt.text, history, text, summary=summary, reminder=reminder)
        user_seq = self.store.append(session_id, "user", text, status="pending")
        self._reinforce.discard(session_id)
        return _Prepared(
            session_id,
            turn,
            user_seq,
            plan.messages,
            prompt,
            instructions,
            plan,
            text,
            summary_error,
        )

    def _finish(
        self,
        prep: _Prepared,
        reply: str,
        usage: Usage,
        finish_reason: str,
        output_verdict: GuardVerdict | None = None,
    ) -> TurnResult:
        meta: dict[str, Any] = {
            "finish_reason": finish_reason,
            "prompt_sha256": prep.prompt.trace.prompt_sha256,
        }
        guard = None
        if self.guard is not None:
            guard = GuardTrace(prep.input_verdict, output_verdict)
            meta["guard"] = {
                "input": prep.input_verdict.action if prep.input_verdict else None,
                "output": output_verdict.action if output_verdict else None,
            }
        self.store.append(prep.session_id, "assistant", reply, meta=meta)
        self.store.set_status(prep.session_id, prep.user_seq, "ok")
        signal = self.drift.observe(
            TurnObservation(prep.session_id, prep.turn, prep.text, reply, self.persona)
        )
        if signal is not None and signal.reinforce:
            self._reinforce.add(prep.session_id)
        trace = TurnTrace(prep.prompt, prep.instructions, prep.window, prep.summary_error, signal, guard)
        return TurnResult(prep.session_id, prep.turn, reply, usage, finish_reason, trace)

    async def send(
        self,
        text: str,
        *,
        session_id: str | None = None,
        user: UserProfile | None = None,
        now: datetime | None = None,
        remind: bool = False,
        tier: Tier | None = None,
        tenant: str | None = None,
    ) -> TurnResult:
        """Send one user message and return the persona's reply.

        Raises:
            ModelError: the backend failed; the user message is kept as ``failed``.
            ContextBudgetError: the persona or the message cannot fit the model's context.

        ``tier`` and ``tenant`` override the engine's guard settings for this call (a gateway
        serving many API keys from one engine).
        """
        if not text.strip():
            raise SessionError("empty message: type something to send", session_id=session_id)
        prep = await self._guarded_prepare(text, session_id, user, now, remind, tier, tenant)
        if prep.input_verdict is not None and prep.input_verdict.blocked:
            return self._finish(prep, self._refusal(prep.input_verdict, prep), Usage(), "content_filter")
        try:
            response = await self.model.generate(prep.messages, self.params)
        except BaseException:
            self.store.set_status(prep.session_id, prep.user_seq, "failed")
            raise
        reply, finish, verdict = response.text, response.finish_reason, None
        if self.guard is not None and prep.guard_ctx is not None:
            reply = self._placeholders_for(prep.session_id).restore(reply)
            verdict = await self.guard.pipeline.check_output(reply, prep.guard_ctx)
            if verdict.blocked:
                reply, finish = self._refusal(verdict, prep), "content_filter"
            elif verdict.text is not None:
                reply = verdict.text
        return self._finish(prep, reply, response.usage, finish, verdict)

    async def _guarded_prepare(
        self,
        text: str,
        session_id: str | None,
        user: UserProfile | None,
        now: datetime | None,
        remind: bool,
        tier: Tier | None = None,
        tenant: str | None = None,
    ) -> _Prepared:
        """Input rails first: a redacted message is what the model and the session store see."""
        if self.guard is None:
            return await self._prepare(text, session_id, user, now, remind)
        settings = self.guard
        if tier is not None or tenant is not None:
            settings = replace(settings, tier=tier or settings.tier, tenant=tenant or settings.tenant)
        if session_id is None:
            session_id = self.start_session()  # placeholders and canaries are per session
        ctx = settings.context(self.persona, user_text=text, system_prompt=self._input_prompt)
        verdict = await settings.pipeline.check_input(text, ctx)
        if verdict.action == "redact" and verdict.text is not None:
            if settings.restore_redacted:
                text = self._placeholders_for(session_id).redact(text, verdict)
            else:
                text = verdict.text
        prep = await self._prepare(text, session_id, user, now, remind)
        prep.input_verdict = verdict
        prep.guard_ctx = settings.context(
            self.persona,
            user_text=text,
            system_prompt=prep.prompt.text,
            canary=settings.canary(prep.session_id),
        )
        return prep

    def _placeholders_for(self, session_id: str) -> Placeholders:
        found = self._placeholders.get(session_id)
        if found is None:
            found = self._placeholders[session_id] = Placeholders()
        return found

    def _refusal(self, verdict: GuardVerdict, prep: _Prepared) -> str:
        assert self.guard is not None
        if verdict.message:
            return verdict.message
        ctx = prep.guard_ctx or self.guard.context(self.persona, user_text=prep.text)
        return self.guard.pipeline.refusal_message(ctx, escalate=verdict.action == "escalate")

    async def stream(
        self,
        text: str,
        *,
        session_id: str | None = None,
        user: UserProfile | None = None,
        now: datetime | None = None,
        remind: bool = False,
        tier: Tier | None = None,
        tenant: str | None = None,
    ) -> AsyncIterator[ChatChunk | TurnResult]:
        """Like :meth:`send`, yielding :class:`ChatChunk` deltas and finally the :class:`TurnResult`."""
        if not text.strip():
            raise SessionError("empty message: type something to send", session_id=session_id)
        prep = await self._guarded_prepare(text, session_id, user, now, remind, tier, tenant)
        if prep.input_verdict is not None and prep.input_verdict.blocked:
            refusal = self._refusal(prep.input_verdict, prep)
            yield ChatChunk(delta=refusal, finish_reason="content_filter")
            yield self._finish(prep, refusal, Usage(), "content_filter")
            return
        watch = (
            StreamGuard(self.guard.pipeline, prep.guard_ctx)
            if self.guard is not None and prep.guard_ctx is not None
            else None
        )
        restorer = self._placeholders_for(prep.session_id).stream() if watch is not None else None
        parts: list[str] = []  # what the user was shown
        usage = Usage()
        finish = "stop"
        verdict: GuardVerdict | None = None
        try:
            async for chunk in self.model.stream(prep.messages, self.params):
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason is not None:
                    finish = chunk.finish_reason
                if watch is None:
                    if chunk.delta:
                        parts.append(chunk.delta)
                    yield chunk
                    continue
                assert restorer is not None
                for event in await watch.feed(restorer.feed(chunk.delta)):
                    verdict = event.verdict or verdict
                    if event.text:
                        parts.append(event.text)
                        yield ChatChunk(delta=event.text)
                if watch.stopped:  # a streaming rail blocked: the refusal was the last text
                    finish = "content_filter"
                    break
            if watch is not None and not watch.stopped:
                assert restorer is not None
                events = await watch.feed(restorer.flush())
                for event in [*events, *(await watch.close())]:
                    if event.text:
                        parts.append(event.text)
                        yield ChatChunk(delta=event.text)
                    verdict = event.verdict or verdict
                    if event.finish_reason == "content_filter":
                        finish = "content_filter"
        except BaseException as exc:
            self.store.set_status(prep.session_id, prep.user_seq, "failed")
            if parts:
                self.store.append(
                    prep.session_id,
                    "assistant",
                    "".join(parts),
                    status="partial",
                    meta={
                        "error": type(exc).__name__,
                        "cancelled": isinstance(exc, asyncio.CancelledError | GeneratorExit),
                    },
                )
            raise
        yield self._finish(prep, "".join(parts), usage, finish, verdict)

    async def retry(self, session_id: str) -> TurnResult:
        """Re-send the last user message of ``session_id`` if its model call failed."""
        failed = [m for m in self.store.messages(session_id, include_failed=True) if m.role == "user"]
        if not failed or failed[-1].status != "failed":
            raise SessionError("nothing to retry: the last user message did not fail", session_id=session_id)
        return await self.send(failed[-1].content, session_id=session_id)
