"""The HTTP surface: a FastAPI app over one :class:`~poise.server.gateway.Gateway`.

Endpoints: ``POST /v1/chat/completions`` (JSON or SSE), ``GET /v1/models``, ``POST
/v1/guard/check``, ``/healthz``, ``/readyz``, ``/metrics`` and the OpenAPI document at
``/openapi.json``. Every error leaves through :func:`~poise.server.errors.to_api_error` as an
OpenAI-shaped body; bodies over ``server.max_body_bytes`` get 413; more than
``server.max_in_flight`` concurrent requests get 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from poise.config import field_path
from poise.guard.pipeline import GuardPipeline
from poise.instructions.analyze import warm_up
from poise.instructions.natural_language import shared_language_ids
from poise.models.types import ChatModel
from poise.server.auth import Principal
from poise.server.completions import CompletionService, Exchange, new_request_id
from poise.server.config import GatewayConfig
from poise.server.errors import APIError, error_response, to_api_error
from poise.server.gateway import Gateway, build_gateway
from poise.server.metrics import CONTENT_TYPE_LATEST
from poise.server.overload import ConcurrencyLimit
from poise.server.schemas import (
    ChatCompletionOut,
    ChatCompletionRequest,
    ErrorOut,
    GuardCheckRequest,
    ModelListOut,
)
from poise.server.upstream import Upstream

__all__ = ["create_app"]

log = logging.getLogger("poise.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "Invalid request"),
        (401, "Missing or invalid API key"),
        (403, "Model not allowed for this key"),
        (404, "Unknown model"),
        (413, "Body too large"),
        (429, "Rate limited (see Retry-After)"),
        (502, "Upstream failed"),
        (503, "Overloaded (see Retry-After)"),
        (504, "Upstream timed out"),
    )
}


class BodyLimit:
    """Pure ASGI middleware: refuse bodies over ``max_bytes`` with 413, declared or streamed."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = APIError(
            413,
            f"request body larger than {self.max_bytes} bytes; send less (fewer or shorter messages)",
            code="request_too_large",
        )
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await error_response(too_large)(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise too_large
            return message

        await self.app(scope, limited, send)


FastHandler = Callable[[ChatCompletionRequest, Principal, str | None], Awaitable[Response]]
_COMPLETIONS = "/v1/chat/completions"


class FastPath:
    """Pure ASGI middleware: ``POST /v1/chat/completions`` without FastAPI's per-request machinery.

    Routing, dependency solving and body validation through FastAPI cost a few hundred
    microseconds a request. A request whose JSON body is a valid non-streaming
    :class:`ChatCompletionRequest` from an authenticated caller goes straight to the same
    handler; anything else (streams, other routes, a bad body, a bad key, an unusual content
    type or a mounted app) goes to FastAPI with its body replayed, so every error, and the
    OpenAPI document, stay FastAPI's.
    """

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        gateway: Gateway,
        handler: FastHandler,
    ) -> None:
        self.app = app
        self.gateway = gateway
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") != _COMPLETIONS
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        authorization = session = content_type = None
        for name, value in scope.get("headers", ()):  # the first of repeated headers, as Starlette
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"x-poise-session" and session is None:
                session = value.decode("latin-1")
            elif name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
        chunks: list[Message] = []
        failure: BaseException | None = None
        body = b""
        try:
            more = True
            while more:
                message = await receive()
                chunks.append(message)
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                more = message.get("more_body", False)
        except Exception as exc:  # BodyLimit's 413: FastAPI meets it where it always did
            failure = exc
        request = None
        if failure is None and content_type is not None and _is_json(content_type) and body:
            request = self._parse(body, authorization)
        if request is None:
            await self.app(scope, _replay(chunks, failure, receive), send)
            return
        caller, parsed = request
        response = await self.handler(parsed, caller, session)
        await response(scope, receive, send)

    def _parse(
        self, body: bytes, authorization: str | None
    ) -> tuple[Principal, ChatCompletionRequest] | None:
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("stream"):
            return None
        try:
            caller = self.gateway.keyring.authenticate(authorization)
            parsed = ChatCompletionRequest.model_validate(data)
        except (APIError, ValidationError):
            return None
        if parsed.stream:
            return None
        return caller, parsed


def _is_json(content_type: str) -> bool:
    kind = content_type.partition(";")[0].strip().lower()
    return kind == "application/json"


def _replay(chunks: list[Message], failure: BaseException | None, receive: Receive) -> Receive:
    pending = list(chunks)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        if failure is not None:
            raise failure
        return await receive()

    return replayed


async def _principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    # async on purpose: FastAPI runs a sync dependency in its thread pool, a thread hop per request.
    gateway: Gateway = request.app.state.gateway
    return gateway.keyring.authenticate(authorization)


Caller = Annotated[Principal, Depends(_principal)]
"""The authenticated caller of a request (401 before the body is even validated)."""


def _validation_error(exc: RequestValidationError) -> APIError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = tuple(p for p in first.get("loc", ()) if p != "body")
    param = field_path(loc) or None
    kind = first.get("type", "")
    if kind == "json_invalid":
        return APIError(400, "the request body is not valid JSON", code="invalid_json")
    message = str(first.get("msg", "invalid request"))
    where = f"'{param}': " if param else ""
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return APIError(400, f"invalid value for {where}{message}{more}", code="invalid_value", param=param)


def create_app(
    config: GatewayConfig | Gateway,
    *,
    source: Path | None = None,
    base_dir: Path | None = None,
    models: dict[str, ChatModel | Upstream] | None = None,
    pipeline: GuardPipeline | None = None,
    host: str | None = None,
) -> FastAPI:
    """Build the gateway app.

    Args:
        config: a validated configuration (or an already built :class:`Gateway`).
        source / base_dir: the config file and the directory its relative paths start from.
        models: backends by name to use instead of building them (tests: scripted models).
        pipeline: a guard pipeline instead of the configured policy.
        host: the address the server binds (``auth.require_keys: auto`` decides with it).

    Raises:
        ConfigError: the configuration names something that cannot be built.
    """
    gateway = (
        config
        if isinstance(config, Gateway)
        else build_gateway(
            config,
            source=source,
            base_dir=base_dir,
            models=models,
            pipeline=pipeline,
            host=host,
        )
    )
    service = CompletionService(gateway)
    settings = gateway.config.server
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if gateway.audit is not None:
            gateway.audit.start()
        if any(route.instructions is not None for route in gateway.routes.values()):
            warm_up()  # the language and sentiment models: not on the first request (~0.7 s)
        # Everything built so far lives as long as the process: keep it out of the cyclic
        # collector's full passes, which otherwise walk it all (tens of ms) every so often.
        gc.collect()
        gc.freeze()
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            await gateway.aclose()

    app = FastAPI(
        title="poise gateway",
        version="1",
        description="OpenAI-compatible chat completions with personas, guardrails, limits and audit.",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.state.service = service

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_response(_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return error_response(APIError(exc.status_code, message, code=code))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        return error_response(to_api_error(exc, request_id=request.headers.get("x-request-id", "")))

    async def _fail(ex: Exchange, exc: BaseException) -> APIError:
        error = to_api_error(exc, request_id=ex.request_id)
        try:
            await service.finish(ex, error.status, error.code)
        except Exception as audit_exc:  # the request already failed; report the audit failure too
            return to_api_error(audit_exc, request_id=ex.request_id)
        return error

    @app.post(
        "/v1/chat/completions",
        response_model=ChatCompletionOut,
        responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
        summary="Create a chat completion (OpenAI-compatible; stream=true for SSE)",
    )
    async def chat_completions(
        body: ChatCompletionRequest,
        caller: Caller,
        x_poise_session: Annotated[
            str | None, Header(description="Server-side session id: the gateway keeps the history.")
        ] = None,
    ) -> Response:
        ex = Exchange(new_request_id(), caller, "chat.completions")
        try:
            if body.stream:
                source = await service.open_stream(body, ex, x_poise_session)
                return StreamingResponse(
                    service.sse(body, ex, source),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Request-Id": ex.request_id},
                )
            return await _complete(body, ex, x_poise_session)
        except asyncio.CancelledError:
            await asyncio.shield(service.finish(ex, 499, "client_disconnected"))
            raise
        except Exception as exc:
            raise await _fail(ex, exc) from None

    async def _complete(body: ChatCompletionRequest, ex: Exchange, session: str | None) -> Response:
        with shared_language_ids():  # analysis and persona_rules identify the user's text once
            data = await service.complete(body, ex, session)
        headers = {"X-Request-Id": ex.request_id}
        if gateway.audit is not None and gateway.audit.must_wait:  # the answer waits for the record
            await service.finish(ex, 200)
            return JSONResponse(data, headers=headers)
        # The record is committed after the answer anyway (audit.wait: false): build and queue it,
        # and count the metrics, once the body is sent (~0.3 ms off the reply). Limits are given
        # back first, so a caller's next request never meets this one's concurrency slot.
        admission, ex.admission = ex.admission, None
        if admission is not None:
            used = ex.usage.total_tokens if ex.usage else 0
            await gateway.limiter.release(admission, used_tokens=used)
        return JSONResponse(data, headers=headers, background=BackgroundTask(_finish_after, ex))

    async def _finish_after(ex: Exchange) -> None:
        try:
            await service.finish(ex, 200)
        except Exception as exc:  # the answer is gone: log, as the writer does for a failed commit
            log.error("audit/metrics after request %s failed: %s", ex.request_id, exc)

    async def fast_completion(
        body: ChatCompletionRequest, caller: Principal, session: str | None
    ) -> Response:
        """:func:`chat_completions` for a valid non-streaming body (the :class:`FastPath`)."""
        ex = Exchange(new_request_id(), caller, "chat.completions")
        try:
            return await _complete(body, ex, session)
        except asyncio.CancelledError:
            await asyncio.shield(service.finish(ex, 499, "client_disconnected"))
            raise
        except Exception as exc:
            return error_response(await _fail(ex, exc))

    @app.get("/v1/models", response_model=ModelListOut, responses=_ERRORS, summary="List the models")
    async def list_models(caller: Caller) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": r.id, "object": "model", "created": 0, "owned_by": f"poise:{r.persona.id}"}
                for r in gateway.routes.values()
                if caller.may_use(r.id)
            ],
        }

    @app.post("/v1/guard/check", responses=_ERRORS, summary="Run the rails on a text (no model call)")
    async def guard_check(body: GuardCheckRequest, caller: Caller) -> Response:
        ex = Exchange(new_request_id(), caller, "guard")
        try:
            data = await service.guard_check(body.text, body.stage, body.model, ex)
            await service.finish(ex, 200)
        except Exception as exc:
            raise await _fail(ex, exc) from None
        return JSONResponse(data)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness", responses={503: {"model": ErrorOut}})
    async def readyz() -> Response:
        if not state["ready"]:
            return error_response(
                APIError(503, "the gateway is starting or stopping", type="api_error", code="not_ready")
            )
        open_circuits = sorted(name for name, b in gateway.breakers.items() if b.state == "open")
        down = [r.id for r in gateway.routes.values() if not getattr(r.upstream, "available", True)]
        if down:
            wait = min((gateway.breakers[name].retry_after() for name in open_circuits), default=1.0)
            return error_response(
                APIError(
                    503,
                    f"no backend can answer for {', '.join(down)}: circuit breaker open for "
                    f"{', '.join(open_circuits)}",
                    type="api_error",
                    code="upstream_unavailable",
                    retry_after=max(1.0, wait),
                )
            )
        status = "degraded" if open_circuits else "ready"
        return JSONResponse({"status": status, "models": len(gateway.routes), "open_circuits": open_circuits})

    if settings.metrics:

        @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
        async def metrics() -> Response:
            return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # Innermost: valid non-streaming completions skip the router and dependency solving.
    app.add_middleware(FastPath, gateway=gateway, handler=fast_completion)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # Added last, so it runs first: a refused request costs no body read, parse or audit.
    app.add_middleware(ConcurrencyLimit, max_in_flight=settings.max_in_flight, metrics=gateway.metrics)
    return app
