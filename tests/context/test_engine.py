from __future__ import annotations

import asyncio

import pytest

from poise.context.drift import DriftSignal, TurnObservation
from poise.context.engine import ConversationEngine, reminder_text
from poise.context.store import SQLiteSessionStore
from poise.errors import ModelServerError, SessionError
from poise.instructions.types import FiredRule, InstructionFragment, InstructionResult, RequestContext
from poise.models.scripted import ScriptedModel
from poise.models.types import ChatChunk, GenerationParams
from poise.persona import resolve_persona

PERSONA = resolve_persona("bank-support")


def engine_with(model: ScriptedModel, **kwargs) -> ConversationEngine:
    return ConversationEngine(PERSONA, model, store=SQLiteSessionStore(":memory:"), **kwargs)


async def test_turns_are_persisted_and_history_is_sent():
    model = ScriptedModel(["First reply.", "Second reply."])
    engine = engine_with(model)
    first = await engine.send("Hello")
    second = await engine.send("And again", session_id=first.session_id)
    assert (first.turn, second.turn) == (1, 2)
    sent = [(m.role, m.content) for m in model.last_call.messages]
    assert sent[0][0] == "system" and "You are Ava" in sent[0][1]
    assert sent[1:] == [("user", "Hello"), ("assistant", "First reply."), ("user", "And again")]
    assert [m.content for m in engine.history(first.session_id)] == [
        "Hello",
        "First reply.",
        "And again",
        "Second reply.",
    ]


async def test_failed_backend_call_loses_nothing_and_can_be_retried():
    model = ScriptedModel(
        ["ok", "(never used: call 1 raises)", "recovered"],
        errors={1: ModelServerError("upstream 503", backend="scripted")},
    )
    engine = engine_with(model)
    first = await engine.send("one")
    with pytest.raises(ModelServerError):
        await engine.send("two", session_id=first.session_id)
    stored = engine.store.messages(first.session_id, include_failed=True)
    assert [(m.content, m.status) for m in stored] == [("one", "ok"), ("ok", "ok"), ("two", "failed")]
    # the failed message is not part of the conversation sent to the model...
    again = await engine.retry(first.session_id)
    assert again.reply == "recovered"
    assert [(m.role, m.content) for m in model.last_call.messages[1:]] == [
        ("user", "one"),
        ("assistant", "ok"),
        ("user", "two"),
    ]


async def test_retry_without_failure_is_an_error():
    engine = engine_with(ScriptedModel(["x"]))
    result = await engine.send("hi")
    with pytest.raises(SessionError, match="nothing to retry"):
        await engine.retry(result.session_id)


async def test_empty_message_rejected():
    with pytest.raises(SessionError, match="empty message"):
        await engine_with(ScriptedModel()).send("   ")


async def test_reminder_every_n_turns_and_on_demand():
    model = ScriptedModel(lambda messages, params: "fine")
    engine = engine_with(model, reminder_every=3)
    sid = engine.start_session()
    injected = []
    for i in range(6):
        result = await engine.send(f"message {i}", session_id=sid, remind=(i == 0))
        injected.append(result.trace.window.reminder_injected)
    assert injected == [True, False, True, False, False, True]
    assert model.last_call.messages[-2].content == reminder_text(PERSONA)


async def test_drift_monitor_can_request_reinforcement():
    class Monitor:
        def __init__(self) -> None:
            self.seen: list[TurnObservation] = []

        def observe(self, observation: TurnObservation) -> DriftSignal | None:
            self.seen.append(observation)
            return DriftSignal(0.9, True, ("off-persona",)) if "pirate" in observation.reply else None

    monitor = Monitor()
    engine = engine_with(
        ScriptedModel(["Arr, pirate talk!", "Back to normal."]), drift=monitor, reminder_every=0
    )
    first = await engine.send("hi")
    second = await engine.send("hi again", session_id=first.session_id)
    assert first.trace.drift is not None and first.trace.drift.reinforce
    assert not first.trace.window.reminder_injected and second.trace.window.reminder_injected
    assert [o.turn for o in monitor.seen] == [1, 2]


async def test_over_budget_history_is_summarized_by_the_model():
    calls = []

    def reply(messages, params):
        calls.append(messages)
        if messages[0].content.startswith("You condense conversations"):
            return "The user is Sam and asked about card limits."
        return "word " * 20

    model = ScriptedModel(reply, context_window=900)
    engine = engine_with(model, params=GenerationParams(max_tokens=100))
    sid = engine.start_session()
    results = [await engine.send("tell me more " * 10, session_id=sid) for _ in range(12)]
    assert any(r.trace.window.used_summary for r in results)
    assert engine.store.latest_summary(sid) is not None
    last = model.last_call.messages
    assert last[0].content.startswith("You are Ava")  # persona never dropped
    assert any("Sam" in m.content for m in last if m.role == "system")
    for r in results:
        assert r.trace.window.prompt_tokens <= r.trace.window.budget


async def test_summary_failure_degrades_to_truncation_and_is_traced():
    def reply(messages, params):
        if messages[0].content.startswith("You condense conversations"):
            raise ModelServerError("summarizer down", backend="scripted")
        return "word " * 20

    engine = engine_with(ScriptedModel(reply, context_window=900), params=GenerationParams(max_tokens=100))
    sid = engine.start_session()
    results = [await engine.send("tell me more " * 10, session_id=sid) for _ in range(12)]
    errors = [r.trace.summary_error for r in results if r.trace.summary_error]
    assert errors and "summarizer down" in errors[0]
    assert all(r.trace.window.prompt_tokens <= r.trace.window.budget for r in results)


async def test_instructions_are_evaluated_and_traced():
    seen: list[RequestContext] = []

    def instructions(context: RequestContext) -> InstructionResult:
        seen.append(context)
        return InstructionResult(
            fragments=(InstructionFragment("always", "Mention the app."),),
            fired=(FiredRule("always", ("always on",), "add"),),
        )

    model = ScriptedModel(["x"])
    engine = engine_with(model, instructions=instructions)
    result = await engine.send("hello")
    assert "Mention the app." in model.last_call.messages[0].content
    assert result.to_dict()["trace"]["fired_rules"] == [
        {"id": "always", "action": "add", "reasons": ["always on"]}
    ]
    assert seen[0].user_messages == ["hello"]


async def test_streaming_yields_chunks_then_result_and_stores_reply():
    engine = engine_with(ScriptedModel(["one two three"]))
    events = [e async for e in engine.stream("hi")]
    chunks = [e for e in events if isinstance(e, ChatChunk)]
    assert "".join(c.delta for c in chunks) == "one two three"
    result = events[-1]
    assert result.reply == "one two three"
    assert engine.history(result.session_id)[-1].content == "one two three"


async def test_stream_closed_early_keeps_partial_reply():
    engine = engine_with(ScriptedModel(["alpha beta gamma delta"], stream_delay=0.001))
    sid = engine.start_session()
    agen = engine.stream("hi", session_id=sid)
    async for event in agen:
        assert isinstance(event, ChatChunk)
        break
    await agen.aclose()
    stored = engine.store.messages(sid, include_failed=True)
    assert [(m.role, m.status) for m in stored] == [("user", "failed"), ("assistant", "partial")]


async def test_cancelling_a_turn_marks_it_failed():
    engine = engine_with(ScriptedModel(["a b c d e f g h"], stream_delay=0.05))
    sid = engine.start_session()

    async def consume():
        async for _ in engine.stream("hi", session_id=sid):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.08)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    statuses = [(m.role, m.status) for m in engine.store.messages(sid, include_failed=True)]
    assert statuses[0] == ("user", "failed")
