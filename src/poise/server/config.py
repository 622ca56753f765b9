"""The gateway configuration: one YAML file → one validated :class:`GatewayConfig`.

The file names the upstream **backends**, the **models** the gateway exposes (each a persona on a
backend, served under an OpenAI model id such as ``acme-support``), the guard **policy**, the
dynamic **instruction** rules, the **tenants** with their API keys (stored as SHA-256 hashes,
never in clear), trust tiers, allowed models and rate limits, and where sessions and the audit
trail live. Unknown keys are errors, and every cross-reference (a model's backend, a tenant's
allowed models) is checked when the file is loaded, so a typo fails at start, not at the first
request. See ``examples/gateway.yaml`` for a full file and ``docs/design/gateway.md``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from poise.config import load_yaml, validate_model
from poise.errors import ConfigError
from poise.guard.rails import Tier
from poise.guard.ratelimit import RateLimits

__all__ = [
    "AuditConfig",
    "AuthConfig",
    "BackendConfig",
    "BreakerConfig",
    "GatewayConfig",
    "GuardConfig",
    "KeyConfig",
    "LimiterConfig",
    "LimitsConfig",
    "ModelRoute",
    "ServerConfig",
    "SessionsConfig",
    "TenantConfig",
    "default_gateway_config",
    "is_loopback",
    "load_gateway_config",
]

ModelId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LimitsConfig(_Strict):
    """Rate limits of a key or a tenant; a limit left out is unlimited."""

    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    concurrent_requests: int | None = Field(default=None, gt=0)

    @property
    def unlimited(self) -> bool:
        return (
            self.requests_per_minute is None
            and self.tokens_per_minute is None
            and (self.concurrent_requests is None)
        )

    def to_rate_limits(self) -> RateLimits:
        return RateLimits(self.requests_per_minute, self.tokens_per_minute, self.concurrent_requests)


class BreakerConfig(_Strict):
    """The circuit breaker of a backend (``docs/design/gateway.md``)."""

    failures: int = Field(default=5, gt=0, description="Consecutive failures that open the breaker.")
    window_s: float = Field(default=30.0, gt=0, description="Failures further apart do not count together.")
    cooldown_s: float = Field(default=15.0, gt=0, description="How long an open breaker refuses calls.")


class BackendConfig(_Strict):
    """One upstream model.

    ``model`` is a model spec (``openai:gpt-4o-mini``, ``local``, ``anthropic:<model>``,
    ``scripted``). OpenAI-compatible backends get ``tools`` passed through; the upstream key is
    read from the environment variable ``api_key_env`` (never written in this file).
    """

    model: str = Field(description="Model spec: openai:<model>, local, local:/path.gguf, anthropic:<model>.")
    base_url: str | None = Field(default=None, description="API root for openai/anthropic backends.")
    api_key_env: str | None = Field(default=None, description="Environment variable holding the key.")
    timeout_s: float = Field(default=60.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    context_window: int | None = Field(default=None, gt=0)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    options: dict[str, Any] = Field(
        default_factory=dict, description="Other backend options (n_ctx for local, replies for scripted)."
    )

    @property
    def scheme(self) -> str:
        return self.model.partition(":")[0].strip().lower()


class ModelRoute(_Strict):
    """A model id the gateway serves: a persona answering through a backend."""

    id: ModelId
    persona: str = Field(description="A built-in persona name or a persona file (relative to this file).")
    backend: str = Field(description="A key of `backends`.")
    fallback: str | None = Field(
        default=None,
        description="A key of `backends` that answers when `backend` fails or its breaker is open.",
    )
    description: str = ""
    instructions: str | None = Field(
        default="inherit",
        description="'inherit' (the top-level setting), 'default', a rule file, or null for none.",
    )
    family: Literal["markdown", "xml", "compact"] | None = None
    max_tokens: int = Field(default=512, gt=0, description="Used when the request sets no max_tokens.")
    temperature: float = Field(default=0.2, ge=0, le=2)
    client_system: Literal["append", "ignore"] = Field(
        default="append",
        description="What to do with the client's own system messages: append them after the "
        "persona prompt, or ignore them.",
    )
    input_rails: Literal["before", "parallel"] = Field(
        default="before",
        description="'before': the model is called only once the input rails allowed the message. "
        "'parallel': the model call starts at once and the input rails run while it is in flight, "
        "hiding their latency; a blocked input still gets the refusal and a redacted one is sent "
        "again redacted, but the backend has seen the original message (use it for a backend you "
        "run yourself, not when data must be redacted before it leaves).",
    )


class KeyConfig(_Strict):
    """One API key, stored as the hex SHA-256 of the key (``poise serve hash-key``)."""

    id: ModelId = Field(description="A name for the key, shown in audit records and metrics.")
    sha256: Sha256Hex
    tier: Tier | None = Field(default=None, description="Overrides the tenant's tier.")
    models: list[str] | None = Field(default=None, description="Narrows the tenant's allowed models.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)


class TenantConfig(_Strict):
    """A customer of the gateway: its keys, trust tier, allowed models and limits."""

    tier: Tier = "customer"
    models: list[str] = Field(default_factory=list, description="Allowed model ids (empty: all).")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    keys: list[KeyConfig] = Field(default_factory=list)


class AuthConfig(_Strict):
    """Who may call. ``require_keys: auto`` requires a key unless the server binds to loopback."""

    require_keys: bool | Literal["auto"] = "auto"
    anonymous_tenant: ModelId = "default"
    anonymous_tier: Tier = "anonymous"
    anonymous_limits: LimitsConfig = Field(default_factory=LimitsConfig)


class GuardConfig(_Strict):
    """The rails: a policy file (``default``: the shipped one), or off."""

    enabled: bool = True
    policy: str = "default"
    constitution: str | None = Field(
        default=None,
        description="'default' or a constitution file: the policy's rewrite action runs the "
        "critique -> revision loop with the route's own model (unset: rewrite blocks).",
    )


class SessionsConfig(_Strict):
    """Server-side memory for requests that carry a session id."""

    enabled: bool = True
    db: str = Field(default=":memory:", description="SQLite file for sessions (':memory:': not kept).")
    user_field: bool = Field(
        default=False, description="Also treat the request's `user` field as the session id."
    )


class LimiterConfig(_Strict):
    """Where rate-limit state lives: in this process, or in Redis shared by every replica.

    With ``redis`` the limits are exact across replicas; when Redis cannot be reached the
    limited requests fail closed (503), see ``docs/design/rate-limits.md``.
    """

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str | None = Field(
        default=None, description="redis://[:password@]host:port/db, rediss://… or unix://… (backend: redis)."
    )
    key_prefix: str = Field(default="poise:rl", min_length=1, description="Prefix of the Redis keys.")
    timeout_s: float = Field(default=0.5, gt=0, description="Redis connect and reply timeout.")
    lease_ttl_s: float = Field(
        default=600.0,
        gt=0,
        description="A concurrency slot left by a crashed replica frees itself after this.",
    )

    @model_validator(mode="after")
    def _url(self) -> LimiterConfig:
        if self.backend == "redis":
            if not self.redis_url:
                raise ValueError("backend 'redis' needs redis_url (e.g. redis://127.0.0.1:6379/0)")
            if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError("redis_url must start with redis://, rediss:// or unix://")
        return self


class AuditConfig(_Strict):
    """The audit trail: one hash-chained record per request."""

    enabled: bool = True
    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: str | None = Field(default=None, description="SQLite file (default $POISE_HOME/audit.db).")
    url: str | None = Field(
        default=None,
        description="postgresql://user@host:port/db (backend: postgres); put the password in "
        "PGPASSWORD or ~/.pgpass rather than here.",
    )
    wait: bool = Field(
        default=False,
        description="true: a request answers only once its record is committed (every answered "
        "request is on the trail, at the cost of a disk sync per batch in its latency); false: "
        "records are committed in the background a few milliseconds later, in batches.",
    )

    @model_validator(mode="after")
    def _backend(self) -> AuditConfig:
        if self.backend == "postgres" and not (self.url or "").startswith(("postgresql://", "postgres://")):
            raise ValueError("backend 'postgres' needs url: postgresql://user@host:port/db")
        return self


class ServerConfig(_Strict):
    """Where to listen and the protective limits of the HTTP layer."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    max_in_flight: int = Field(default=256, gt=0, description="More concurrent requests get 503.")
    request_timeout_s: float = Field(default=120.0, gt=0, description="A slower upstream gets 504.")
    metrics: bool = True


class GatewayConfig(_Strict):
    """A ``poise serve`` configuration file."""

    version: Literal[1] = 1
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    backends: dict[str, BackendConfig] = Field(min_length=1)
    models: list[ModelRoute] = Field(min_length=1)
    instructions: str | None = Field(default="default", description="'default', a rule file, or null.")
    guard: GuardConfig = Field(default_factory=GuardConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    limits: LimiterConfig = Field(default_factory=LimiterConfig)
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        ids = [m.id for m in self.models]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate model ids {dupes}; give each model its own id")
        for i, route in enumerate(self.models):
            if route.backend not in self.backends:
                raise ValueError(
                    f"models[{i}] ({route.id}) uses backend {route.backend!r}, which `backends` does not "
                    f"define (defined: {', '.join(sorted(self.backends))})"
                )
            if route.fallback is not None and route.fallback not in self.backends:
                raise ValueError(
                    f"models[{i}] ({route.id}) falls back to backend {route.fallback!r}, which `backends` "
                    f"does not define (defined: {', '.join(sorted(self.backends))})"
                )
            if route.fallback == route.backend:
                raise ValueError(f"models[{i}] ({route.id}) falls back to its own backend; name another one")
        known = set(ids)
        key_ids: list[str] = []
        hashes: list[str] = []
        for name, tenant in self.tenants.items():
            for allowed in [*tenant.models, *(m for k in tenant.keys for m in (k.models or []))]:
                if allowed not in known:
                    raise ValueError(
                        f"tenant {name!r} allows model {allowed!r}, which `models` does not define "
                        f"(defined: {', '.join(ids)})"
                    )
            key_ids += [k.id for k in tenant.keys]
            hashes += [k.sha256 for k in tenant.keys]
        for label, values in (("key ids", key_ids), ("key hashes", hashes)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"duplicate {label} {dupes}; every key must be distinct")
        return self

    def keys_required(self, host: str | None = None) -> bool:
        """Whether requests must carry an API key when serving on ``host``."""
        if self.auth.require_keys != "auto":
            return bool(self.auth.require_keys)
        return not is_loopback(host or self.server.host)

    def with_server(self, **changes: Any) -> GatewayConfig:
        """A copy with some ``server`` settings changed (the CLI's ``--host`` / ``--port``)."""
        server = self.server.model_copy(update={k: v for k, v in changes.items() if v is not None})
        return self.model_copy(update={"server": server})


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_gateway_config(path: Path | str) -> tuple[GatewayConfig, Path]:
    """Load and validate a gateway file; returns the config and the directory paths are relative to.

    Raises:
        ConfigError: malformed YAML, an unknown key, a bad value or a dangling reference, naming
            the file and the field.
    """
    p = Path(path)
    config = validate_model(GatewayConfig, load_yaml(p), p)
    return config, p.resolve().parent


def default_gateway_config() -> GatewayConfig:
    """What ``poise serve`` runs with no file: the built-in personas on the embedded model."""
    from poise.persona.load import builtin_personas

    return GatewayConfig(
        backends={"local": BackendConfig(model="local")},
        models=[
            ModelRoute(id=name, persona=name, backend="local", max_tokens=256) for name in builtin_personas()
        ],
    )


def check_exposure(config: GatewayConfig, host: str, source: Path | str | None = None) -> None:
    """Refuse to serve without keys on a non-loopback address unless the file says so explicitly."""
    if config.keys_required(host) and not any(t.keys for t in config.tenants.values()):
        raise ConfigError(
            f"serving on {host} requires API keys, but no tenant has any; add keys under `tenants` "
            "(poise serve new-key), serve on 127.0.0.1, or set auth.require_keys: false",
            path=source,
            field="tenants",
        )
