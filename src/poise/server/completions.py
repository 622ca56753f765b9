"""One chat completion, from an authenticated request to a guarded reply and its audit record.

The path, in order: route the model id (404/403) → rate limits of the key and the tenant (429) →
input rails on the last user message (a block answers with the persona's refusal and
``finish_reason: "content_filter"`` without calling the model; ``redact`` masks the message) →
the persona prompt with this request's dynamic instructions → the model (stateless: the client's
messages; with a session id: :class:`~poise.context.engine.ConversationEngine` and its stored
history) → output rails (streams: the hold-back :class:`~poise.guard.streaming.StreamGuard`) →
one audit record, written before the reply completes.

A route with ``input_rails: parallel`` starts the (stateless) model call first and runs the input
rails while it is in flight: a refused input still gets the refusal, a redacted one is sent again
redacted, and the discarded call is marked in the audit record (``docs/design/parallel-input-rails.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from poise.context.engine import TurnResult
from poise.guard.pipeline import GuardVerdict
from poise.guard.rails import GuardContext
from poise.guard.streaming import StreamGuard
from poise.guard.types import DetectionContext
from poise.instructions.types import RequestContext, UserProfile
from poise.models.estimate import estimate_tokens
from poise.models.types import ChatMessage, Usage
from poise.server.audit import request_record
from poise.server.auth import Principal
from poise.server.errors import APIError, error_body, to_api_error
from poise.server.gateway import Gateway, Route
from poise.server.limits import Admission
from poise.server.rewrite import ROUTE_KEY
from poise.server.schemas import (
    ChatCompletionRequest,
    ChatMessageIn,
    chunk_dict,
    completion_dict,
    completion_id,
    message_text,
    usage_dict,
)
from poise.server.upstream import UpstreamCall, UpstreamDelta, aclose_iterator

__all__ = ["CompletionService", "Exchange"]

T = TypeVar("T")

SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CLIENT_SYSTEM_HEADING = "\n\n## Instructions from the application\n"


def _finish(reason: str) -> str:
    return reason if reason in ("stop", "length", "content_filter", "tool_calls", "function_call") else "stop"


@dataclass
class Exchange:
    """Everything one request did, for its audit record and metrics."""

    request_id: str
    principal: Principal
    endpoint: str
    started: float = field(default_factory=time.perf_counter)
    route: Route | None = None
    stream: bool = False
    session_id: str | None = None
    input_text: str | None = None
    output_text: str | None = None
    input_verdict: GuardVerdict | None = None
    output_verdict: GuardVerdict | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: int = 0
    admission: Admission | None = None
    guard_ctx: GuardContext | None = None
    discarded_call: bool = False
    """A parallel route's model call was dropped: the input rails refused or changed the input."""
    done: bool = False


@dataclass
class _Prepared:
    route: Route
    ctx: GuardContext
    user_text: str
    session: str | None
    messages: list[ChatMessageIn]
    user_index: int
    refusal: str | None = None
    changed: bool = False
    """The input rails rewrote the user message (``redact``)."""


class CompletionService:
    """Serves chat completions and guard checks for one :class:`Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.timeout = gateway.config.server.request_timeout_s

    # routing -------------------------------------------------------------------------------------
    def route_for(self, principal: Principal, model: str) -> Route:
        route = self.gw.routes.get(model)
        if route is None:
            raise APIError(
                404,
                f"the model {model!r} does not exist; GET /v1/models lists the models of this gateway",
                code="model_not_found",
                param="model",
            )
        if not principal.may_use(model):
            raise APIError(
                403,
                f"this API key may not use the model {model!r}",
                type="permission_error",
                code="model_not_allowed",
                param="model",
            )
        return route

    def _session(self, req: ChatCompletionRequest, header: str | None, ex: Exchange) -> str | None:
        raw = header if header else (req.user if self.gw.config.sessions.user_field else None)
        if not raw:
            return None
        if not SESSION_ID.match(raw):
            raise APIError(
                400,
                "invalid session id: use 1-128 characters from A-Z a-z 0-9 . _ : -",
                code="invalid_session",
                param="X-Poise-Session",
            )
        if ex.route is None or ex.route.engine is None:
            raise APIError(400, "server-side sessions are disabled on this gateway", code="sessions_disabled")
        if req.passthrough():
            raise APIError(
                400,
                "tools and other passthrough fields cannot be combined with a server-side session; "
                "drop the X-Poise-Session header and send the whole conversation",
                code="unsupported_with_session",
                param="tools",
            )
        # Namespaced, so that tenants (and models) never share a conversation.
        return f"{ex.principal.tenant}/{ex.route.id}/{raw}"

    # the shared first half -----------------------------------------------------------------------
    async def _prepare(
        self, req: ChatCompletionRequest, ex: Exchange, session_header: str | None
    ) -> _Prepared:
        route = ex.route = self.route_for(ex.principal, req.model)
        session = ex.session_id = self._session(req, session_header, ex)
        index = next((i for i in range(len(req.messages) - 1, -1, -1) if req.messages[i].role == "user"), -1)
        if index < 0:
            raise APIError(400, "messages must contain at least one user message", param="messages")
        user_text = message_text(req.messages[index].content)
        if session is not None and not user_text.strip():
            raise APIError(400, "the last user message is empty", param="messages")
        ex.input_text = user_text
        tokens = sum(estimate_tokens(message_text(m.content)) for m in req.messages) + (
            req.max_tokens or req.max_completion_tokens or route.config.max_tokens
        )
        ex.admission = await self.gw.limiter.admit(ex.principal, tokens)
        ctx = GuardContext(
            detection=DetectionContext(
                system_prompt=route.system_prompt(None).text,  # what the input rails check against
                secrets=tuple(route.persona.secrets),
                canary=route.canary,
                extra={ROUTE_KEY: route.id},
            ),
            tier=ex.principal.tier,
            tenant=ex.principal.tenant,
            persona=route.persona,
            user_text=user_text,
        )
        prep = _Prepared(route, ctx, user_text, session, list(req.messages), index)
        if self.gw.pipeline is not None and not self._parallel(prep):
            await self._check_input(prep, ex)
        return prep

    def _parallel(self, prep: _Prepared) -> bool:
        """Whether the input rails run alongside the model call (stateless requests only)."""
        return (
            self.gw.pipeline is not None
            and prep.session is None
            and prep.route.config.input_rails == "parallel"
        )

    async def _check_input(self, prep: _Prepared, ex: Exchange) -> None:
        """Run the input rails: a block sets ``prep.refusal``, a redaction rewrites the message."""
        pipeline = self.gw.pipeline
        assert pipeline is not None
        verdict = ex.input_verdict = await pipeline.check_input(prep.user_text, prep.ctx)
        self.gw.metrics.rail_decisions.labels("input", verdict.action).inc()
        if verdict.blocked:
            prep.refusal = verdict.message or pipeline.refusal_message(prep.ctx)
        elif verdict.text is not None:
            index = prep.user_index
            prep.user_text = verdict.text
            prep.messages[index] = prep.messages[index].model_copy(update={"content": verdict.text})
            prep.changed = True

    async def _answer(
        self,
        req: ChatCompletionRequest,
        prep: _Prepared,
        ex: Exchange,
        start: Callable[[UpstreamCall], Awaitable[T]],
        drop: Callable[[T], Awaitable[None]] | None = None,
    ) -> tuple[T, GuardContext] | None:
        """``start`` the model call on ``prep``'s messages; ``None`` when the input rails refuse.

        Before: the rails already ran in :meth:`_prepare`. Parallel: the call leaves first and
        the rails run while it is in flight; if they refuse, the call is cancelled (``drop``
        releases what it already returned); if they redact, it is cancelled and made again with
        the redacted message. A rail or call failure cancels the other, so nothing leaks out.
        """
        call, ctx = self._call(req, prep)
        if not self._parallel(prep):
            return await start(call), ctx
        pending = asyncio.ensure_future(start(call))
        await asyncio.sleep(0)  # let the request leave before the rails take the CPU
        try:
            await self._check_input(prep, ex)
        except BaseException:
            await _abandon(pending, drop)
            raise
        if prep.refusal is None and not prep.changed:
            return await pending, ctx
        await _abandon(pending, drop)
        ex.discarded_call = True
        if prep.refusal is not None:
            return None
        call, ctx = self._call(req, prep)
        return await start(call), ctx

    def _call(self, req: ChatCompletionRequest, prep: _Prepared) -> tuple[UpstreamCall, GuardContext]:
        route = prep.route
        history = [
            ChatMessage("user" if m.role == "user" else "assistant", message_text(m.content))
            for m in prep.messages
            if m.role in ("user", "assistant")
        ]
        result = None
        if route.instructions is not None:
            result = route.instructions(
                RequestContext(messages=tuple(history), user=UserProfile(tier=prep.ctx.tier))
            )
        prompt = route.system_prompt(result)
        system = prompt.text
        client_system = [message_text(m.content) for m in prep.messages if m.role in ("system", "developer")]
        if client_system and route.config.client_system == "append":
            system += _CLIENT_SYSTEM_HEADING + "\n\n".join(client_system)
        outgoing: list[dict[str, Any]] = [{"role": "system", "content": system}]
        for m in prep.messages:
            if m.role not in ("system", "developer"):
                outgoing.append(m.model_dump(exclude_none=True))
        stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
        params = route.params(
            req.max_tokens or req.max_completion_tokens, req.temperature, req.top_p, stop, req.seed
        )
        ctx = replace(prep.ctx, detection=replace(prep.ctx.detection, system_prompt=prompt.text))
        return UpstreamCall(outgoing, params, req.passthrough()), ctx

    def _user_profile(self, ex: Exchange) -> UserProfile:
        return UserProfile(tier=ex.principal.tier)

    # non-streaming -------------------------------------------------------------------------------
    async def complete(
        self, req: ChatCompletionRequest, ex: Exchange, session_header: str | None = None
    ) -> dict[str, Any]:
        prep = await self._prepare(req, ex, session_header)
        cid, route = completion_id(), prep.route
        if prep.refusal is not None:
            return self._refusal(ex, cid, route.id, prep.refusal)
        started = time.perf_counter()
        tool_calls = None
        async with asyncio.timeout(self.timeout):
            if prep.session is not None and route.engine is not None:
                turn = await route.engine.send(
                    prep.user_text,
                    session_id=prep.session,
                    user=self._user_profile(ex),
                    tier=prep.ctx.tier,
                    tenant=prep.ctx.tenant,
                )
                text: str | None = turn.reply
                finish, usage = turn.finish_reason, turn.usage
                ctx = replace(
                    prep.ctx, detection=replace(prep.ctx.detection, system_prompt=turn.trace.prompt.text)
                )
            else:
                answer = await self._answer(req, prep, ex, route.upstream.complete)
                if answer is None:
                    assert prep.refusal is not None
                    return self._refusal(ex, cid, route.id, prep.refusal)
                reply, ctx = answer
                text, finish, usage, tool_calls = (
                    reply.text,
                    reply.finish_reason,
                    reply.usage,
                    reply.tool_calls,
                )
        self.gw.metrics.upstream_latency.labels(route.backend_name).observe(time.perf_counter() - started)
        ex.usage = usage
        ex.tool_calls = len(tool_calls or ())
        pipeline = self.gw.pipeline
        if pipeline is not None and text:
            verdict = ex.output_verdict = await pipeline.check_output(text, ctx)
            self.gw.metrics.rail_decisions.labels("output", verdict.action).inc()
            if verdict.blocked:
                text, finish, tool_calls = (
                    verdict.message or pipeline.refusal_message(ctx),
                    "content_filter",
                    None,
                )
            elif verdict.text is not None:
                text = verdict.text
        ex.output_text = text
        ex.finish_reason = _finish(finish)
        return completion_dict(
            cid,
            route.id,
            text,
            ex.finish_reason,
            usage_dict(usage.prompt_tokens, usage.completion_tokens),
            tool_calls=tool_calls,
        )

    def _refusal(self, ex: Exchange, cid: str, model: str, message: str) -> dict[str, Any]:
        ex.output_text, ex.finish_reason, ex.usage = message, "content_filter", Usage()
        return completion_dict(cid, model, message, "content_filter", usage_dict(0, 0))

    # streaming -----------------------------------------------------------------------------------
    async def open_stream(
        self, req: ChatCompletionRequest, ex: Exchange, session_header: str | None = None
    ) -> AsyncIterator[UpstreamDelta | str]:
        """Everything up to the first upstream event; errors until then become HTTP statuses.

        Returns an iterator of upstream deltas (or, for a blocked input, of the refusal text).
        The caller turns it into SSE with :meth:`sse`.
        """
        ex.stream = True
        prep = await self._prepare(req, ex, session_header)
        route = prep.route
        if prep.refusal is not None:
            ex.output_verdict = None
            return _once(prep.refusal)
        started = time.perf_counter()
        async with asyncio.timeout(self.timeout):
            if prep.session is not None and route.engine is not None:
                first, source = await _first(_engine_deltas(route, prep, self._user_profile(ex)))
                ctx = replace(
                    prep.ctx,
                    detection=replace(prep.ctx.detection, system_prompt=route.system_prompt(None).text),
                )
            else:
                answer = await self._answer(
                    req, prep, ex, lambda call: _first(route.upstream.stream(call)), _close_rest
                )
                if answer is None:
                    assert prep.refusal is not None
                    return _once(prep.refusal)
                (first, source), ctx = answer
        self.gw.metrics.upstream_latency.labels(route.backend_name).observe(time.perf_counter() - started)
        ex.guard_ctx = ctx
        return _prepend(first, source)

    async def sse(
        self, req: ChatCompletionRequest, ex: Exchange, source: AsyncIterator[UpstreamDelta | str]
    ) -> AsyncIterator[bytes]:
        """The SSE body: role chunk, guarded content chunks, finish chunk, usage chunk, ``[DONE]``."""
        assert ex.route is not None
        cid, model, created = completion_id(), ex.route.id, int(time.time())
        ctx = ex.guard_ctx
        pipeline = self.gw.pipeline
        guard = StreamGuard(pipeline, ctx) if pipeline is not None and ctx is not None else None
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        parts: list[str] = []
        finish: str | None = None
        usage: Usage | None = None
        blocked = False

        def frame(data: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"

        yield frame(chunk_dict(cid, model, created, {"role": "assistant", "content": ""}))
        try:
            async for item in source:
                if isinstance(item, str):  # a refusal of the input: no model call was made
                    parts.append(item)
                    blocked = True
                    yield frame(chunk_dict(cid, model, created, {"content": item}))
                    continue
                if item.tool_calls:
                    ex.tool_calls += len(item.tool_calls)
                    yield frame(chunk_dict(cid, model, created, {"tool_calls": item.tool_calls}))
                if item.text:
                    events = await guard.feed(item.text) if guard is not None else None
                    if events is None:
                        parts.append(item.text)
                        yield frame(chunk_dict(cid, model, created, {"content": item.text}))
                    for event in events or ():
                        if event.kind in ("text", "refusal") and event.text:
                            parts.append(event.text)
                            yield frame(chunk_dict(cid, model, created, {"content": event.text}))
                        elif event.kind == "finish":
                            blocked = True
                            ex.output_verdict = event.verdict
                    if blocked:
                        break
                if item.finish_reason is not None:
                    finish = item.finish_reason
                if item.usage is not None:
                    usage = item.usage
            if guard is not None and not guard.stopped:
                for event in await guard.close():
                    if event.kind in ("text", "refusal") and event.text:
                        parts.append(event.text)
                        yield frame(chunk_dict(cid, model, created, {"content": event.text}))
                    elif event.kind == "finish":
                        ex.output_verdict = event.verdict
                        blocked = blocked or event.finish_reason == "content_filter"
            if ex.output_verdict is not None:
                self.gw.metrics.rail_decisions.labels("output", ex.output_verdict.action).inc()
            ex.finish_reason = "content_filter" if blocked else _finish(finish or "stop")
            ex.usage = usage or Usage()
            ex.output_text = "".join(parts)
            yield frame(chunk_dict(cid, model, created, {}, ex.finish_reason))
            if include_usage:
                u = ex.usage
                yield frame(
                    chunk_dict(
                        cid,
                        model,
                        created,
                        {},
                        usage=usage_dict(u.prompt_tokens, u.completion_tokens),
                        choices=False,
                    )
                )
            await self.finish(ex, 200)
            yield b"data: [DONE]\n\n"
        except Exception as exc:
            error = to_api_error(exc, request_id=ex.request_id)
            await self.finish(ex, error.status, error.code)
            yield frame(error_body(error))
        finally:
            with contextlib.suppress(Exception):
                await aclose_iterator(source)
            await self.finish(ex, 499, "client_disconnected")

    # guard check ---------------------------------------------------------------------------------
    async def guard_check(self, text: str, stage: str, model: str | None, ex: Exchange) -> dict[str, Any]:
        pipeline = self.gw.pipeline
        if pipeline is None:
            raise APIError(
                400, "the guard is disabled on this gateway (guard.enabled: false)", code="guard_disabled"
            )
        ctx = GuardContext(tier=ex.principal.tier, tenant=ex.principal.tenant)
        if model is not None:
            route = ex.route = self.route_for(ex.principal, model)
            detection = DetectionContext(
                system_prompt=route.system_prompt(None).text,
                secrets=tuple(route.persona.secrets),
                canary=route.canary,
            )
            ctx = replace(ctx, persona=route.persona, detection=detection)
        ex.admission = await self.gw.limiter.admit(ex.principal, 0)
        ex.input_text = text
        if stage == "output":
            verdict = ex.output_verdict = await pipeline.check_output(text, ctx)
        else:
            verdict = ex.input_verdict = await pipeline.check_input(text, ctx)
        self.gw.metrics.rail_decisions.labels(stage, verdict.action).inc()
        return {
            "stage": verdict.stage,
            "action": verdict.action,
            "blocked": verdict.blocked,
            "text": verdict.text,
            "message": verdict.message,
            "latency_ms": round(verdict.latency_ms, 3),
            "reasons": [
                {
                    "code": r.code,
                    "action": r.action,
                    "rail": r.rail,
                    "category": r.category,
                    "score": r.score,
                    "threshold": r.threshold,
                    "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in r.spans],
                }
                for r in verdict.reasons
            ],
            "rails": [
                {
                    "rail": r.rail,
                    "status": r.status,
                    "score": r.score,
                    "categories": list(r.categories),
                    "latency_ms": round(r.latency_ms, 3),
                }
                for r in verdict.results
            ],
        }

    # the end of every request --------------------------------------------------------------------
    async def finish(self, ex: Exchange, status: int, error_code: str | None = None) -> None:
        """Release limits, count metrics and write the audit record, once per exchange."""
        if ex.done:
            return
        ex.done = True
        usage = ex.usage
        if ex.admission is not None:
            await self.gw.limiter.release(ex.admission, used_tokens=usage.total_tokens if usage else 0)
        model = ex.route.id if ex.route is not None else ""
        m = self.gw.metrics
        m.requests.labels(ex.endpoint, model, str(status)).inc()
        elapsed = time.perf_counter() - ex.started
        m.latency.labels(ex.endpoint, model).observe(elapsed)
        if usage is not None and ex.route is not None:
            m.tokens.labels(model, "prompt").inc(usage.prompt_tokens)
            m.tokens.labels(model, "completion").inc(usage.completion_tokens)
        if self.gw.audit is None:
            return
        route = ex.route
        record = request_record(
            tenant=ex.principal.tenant,
            kind="guard_check" if ex.endpoint == "guard" else "completion",
            model=route.id if route else None,
            key_id=ex.principal.key_id,
            request_id=ex.request_id,
            status=status,
            latency_ms=elapsed * 1000,
            session_id=ex.session_id,
            persona_id=route.persona.id if route else None,
            persona_version=route.persona.version if route else None,
            input_text=ex.input_text,
            output_text=ex.output_text,
            input_verdict=ex.input_verdict,
            output_verdict=ex.output_verdict,
            finish_reason=ex.finish_reason,
            usage=usage_dict(usage.prompt_tokens, usage.completion_tokens) if usage else None,
            stream=ex.stream,
            error_code=error_code,
            tool_calls=ex.tool_calls,
            discarded_call=ex.discarded_call,
        )
        await self.gw.audit.write(record)


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex[:24]


async def _once(text: str) -> AsyncIterator[UpstreamDelta | str]:
    yield text


async def _first(source: AsyncIterator[UpstreamDelta]) -> tuple[UpstreamDelta, AsyncIterator[UpstreamDelta]]:
    """A stream's first event and the stream; a failure (or cancellation) closes the stream."""
    try:
        return await anext(source), source
    except BaseException:
        with contextlib.suppress(Exception):
            await aclose_iterator(source)
        raise


async def _close_rest(opened: tuple[UpstreamDelta, AsyncIterator[UpstreamDelta]]) -> None:
    await aclose_iterator(opened[1])


async def _abandon(pending: asyncio.Future[T], drop: Callable[[T], Awaitable[None]] | None) -> None:
    """Cancel a model call nobody will read; release what it returned if it already finished."""
    pending.cancel()
    await asyncio.wait([pending])
    if pending.cancelled() or pending.exception() is not None:  # retrieved: no "never retrieved"
        return
    if drop is not None:
        with contextlib.suppress(Exception):
            await drop(pending.result())


async def _prepend(
    first: UpstreamDelta, rest: AsyncIterator[UpstreamDelta]
) -> AsyncIterator[UpstreamDelta | str]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        with contextlib.suppress(Exception):
            await aclose_iterator(rest)


async def _engine_deltas(route: Route, prep: _Prepared, user: UserProfile) -> AsyncIterator[UpstreamDelta]:
    assert route.engine is not None
    items = route.engine.stream(
        prep.user_text, session_id=prep.session, user=user, tier=prep.ctx.tier, tenant=prep.ctx.tenant
    )
    try:
        async for item in items:
            if isinstance(item, TurnResult):
                return
            yield UpstreamDelta(item.delta, None, item.finish_reason, item.usage)
    finally:
        await aclose_iterator(items)
