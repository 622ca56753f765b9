"""The server's error mapper: every failure leaves as an OpenAI-shaped body with a real status.

``{"error": {"message", "type", "param", "code"}}``, the shape the official ``openai`` client
parses into its typed exceptions. :func:`to_api_error` is the one place that turns poise's typed
errors into HTTP statuses:

=====================================  ======  ==========================================
error                                  status  ``type`` / ``code``
=====================================  ======  ==========================================
bad request body, unknown parameter    400     ``invalid_request_error``
missing or unknown API key             401     ``invalid_request_error`` / ``invalid_api_key``
model not allowed for this key         403     ``permission_error`` / ``model_not_allowed``
unknown model or path                  404     ``invalid_request_error`` / ``model_not_found``
body larger than the limit             413     ``invalid_request_error`` / ``request_too_large``
poise or upstream rate limit           429     ``rate_limit_error`` (+ ``Retry-After``)
upstream failed / unreachable          502     ``api_error`` / ``upstream_error``
gateway overloaded, audit store down   503     ``api_error`` / ``overloaded`` (+ ``Retry-After``)
upstream too slow                      504     ``api_error`` / ``upstream_timeout``
a bug                                  500     ``api_error`` / ``internal_error`` (no trace)
=====================================  ======  ==========================================

A block by a rail is not an error: it is a normal completion with ``finish_reason:
"content_filter"`` and the persona's refusal.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from starlette.responses import JSONResponse

from poise.errors import (
    AuditError,
    ConfigError,
    ContextBudgetError,
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelRequestError,
    ModelTimeoutError,
    PoiseError,
    RateLimitExceeded,
    SessionError,
)

__all__ = ["APIError", "error_body", "error_response", "to_api_error"]

log = logging.getLogger("poise.server")


class APIError(PoiseError):
    """An error the gateway answers with: HTTP status plus the OpenAI error fields.

    Attributes:
        status: the HTTP status.
        type: OpenAI's error ``type`` (``invalid_request_error``, ``rate_limit_error``, ...).
        code: a machine-readable code (``model_not_found``, ``invalid_api_key``, ...).
        param: the request field at fault, when there is one.
        retry_after: seconds for the ``Retry-After`` header (429/503).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after
        super().__init__(message)


def error_body(error: APIError) -> dict[str, Any]:
    return {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}


def error_response(error: APIError) -> JSONResponse:
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return JSONResponse(error_body(error), status_code=error.status, headers=headers)


def _upstream(exc: ModelError) -> APIError:
    backend = exc.backend or "upstream"
    if isinstance(exc, ModelTimeoutError):
        return APIError(
            504, f"the {backend} backend timed out: {exc}", type="api_error", code="upstream_timeout"
        )
    if isinstance(exc, ModelRateLimitError):
        return APIError(
            429,
            f"the {backend} backend is rate limiting the gateway: {exc}",
            type="rate_limit_error",
            code="upstream_rate_limited",
            retry_after=exc.retry_after if exc.retry_after is not None else 1.0,
        )
    if isinstance(exc, ModelRequestError):
        return APIError(400, f"the {backend} backend rejected the request: {exc}", code="upstream_rejected")
    if isinstance(exc, ModelAuthError | ModelNotFoundError):
        # The gateway's own upstream credentials or model name are wrong: not the caller's fault.
        return APIError(
            502, f"the {backend} backend is misconfigured: {exc}", type="api_error", code="upstream_error"
        )
    return APIError(502, f"the {backend} backend failed: {exc}", type="api_error", code="upstream_error")


def to_api_error(exc: BaseException, *, request_id: str = "") -> APIError:
    """Map any exception to the :class:`APIError` the client sees (the one broad boundary)."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, RateLimitExceeded):
        retry = exc.retry_after
        if retry is None:
            return APIError(
                429, str(exc), type="rate_limit_error", code="request_exceeds_limit", retry_after=None
            )
        return APIError(429, str(exc), type="rate_limit_error", code="rate_limit_exceeded", retry_after=retry)
    if isinstance(exc, ModelError):
        return _upstream(exc)
    if isinstance(exc, ContextBudgetError):
        return APIError(400, str(exc), code="context_length_exceeded", param="messages")
    if isinstance(exc, SessionError):
        return APIError(400, str(exc), code="invalid_session")
    if isinstance(exc, ConfigError):
        return APIError(400, str(exc), code="invalid_value")
    if isinstance(exc, AuditError):
        log.error("audit store failed in request %s: %s", request_id, exc)
        return APIError(
            503,
            "the audit trail cannot be written, so the gateway refuses to answer; retry later",
            type="api_error",
            code="audit_unavailable",
            retry_after=5,
        )
    if isinstance(exc, TimeoutError):
        return APIError(
            504, "the upstream model did not answer in time", type="api_error", code="upstream_timeout"
        )
    log.error("internal error in request %s", request_id, exc_info=exc)
    return APIError(
        500,
        f"internal error (request {request_id}); the gateway logged the details",
        type="api_error",
        code="internal_error",
    )
