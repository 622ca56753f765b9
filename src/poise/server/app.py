"""The HTTP surface: a FastAPI app over one :class:`~poise.server.gateway.Gateway`.

Endpoints: ``POST /v1/chat/completions`` (JSON or SSE), ``GET /v1/models``, ``POST
/v1/guard/check``, ``/healthz``, ``/readyz``, ``/metrics`` and the OpenAPI document at
``/openapi.json``. Every error leaves through :func:`~poise.server.errors.to_api_error` as an
OpenAI-shaped body; bodies over ``server.max_body_bytes`` get 413; more than
``server.max_in_flight`` concurrent requests get 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from poise.config import field_path
from poise.guard.pipeline import GuardPipeline
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
            data = await service.complete(body, ex, x_poise_session)
            await service.finish(ex, 200)
            return JSONResponse(data, headers={"X-Request-Id": ex.request_id})
        except asyncio.CancelledError:
            await asyncio.shield(service.finish(ex, 499, "client_disconnected"))
            raise
        except Exception as exc:
            raise await _fail(ex, exc) from None

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

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # Added last, so it runs first: a refused request costs no body read, parse or audit.
    app.add_middleware(ConcurrencyLimit, max_in_flight=settings.max_in_flight, metrics=gateway.metrics)
    return app
