"""The gateway at run time: every configured object built once, at start.

:func:`build_gateway` turns a :class:`~poise.server.config.GatewayConfig` into a :class:`Gateway`:
personas resolved, backends constructed, the guard pipeline and instruction rules loaded, the key
ring, the limiter, the audit store and a :class:`~poise.context.engine.ConversationEngine` per
model for server-side sessions. Anything wrong (a persona file, a rule file, an unknown rail, a
backend option, a missing upstream key) is a :class:`~poise.errors.ConfigError` naming the
config file and the field, raised before the server listens.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from poise.assistant import constitutional_rewriter, load_instructions
from poise.audit import SQLiteAuditStore
from poise.audit.postgres import PostgresAuditStore
from poise.context.engine import ConversationEngine, Instructions
from poise.context.guarding import GuardSettings
from poise.context.store import SQLiteSessionStore
from poise.errors import ConfigError, PoiseError
from poise.guard.pipeline import GuardPipeline, Rewriter, load_pipeline
from poise.instructions.types import InstructionResult
from poise.models.credentials import resolve_openai_credentials
from poise.models.registry import resolve_model
from poise.models.types import ChatModel, GenerationParams
from poise.persona.compile import CompiledPrompt, Family, compile_persona, family_for
from poise.persona.load import resolve_persona
from poise.persona.spec import Persona
from poise.server.audit import AuditWriter
from poise.server.auth import KeyRing
from poise.server.breaker import BreakerMetrics, BreakerSettings, CircuitBreaker
from poise.server.config import BackendConfig, GatewayConfig, ModelRoute
from poise.server.failover import Attempt, FailoverUpstream
from poise.server.limits import GatewayLimiter
from poise.server.metrics import GatewayMetrics
from poise.server.rewrite import RouteRewriter
from poise.server.upstream import ChatModelUpstream, OpenAIPassthrough, Upstream

__all__ = ["Gateway", "Route", "build_gateway"]


@dataclass
class Route:
    """A model id the gateway serves: persona, upstream, prompt family, rules, session engine."""

    config: ModelRoute
    persona: Persona
    upstream: Upstream
    family: Family
    instructions: Instructions | None
    engine: ConversationEngine | None
    canary: str
    backend_name: str
    _prompts: dict[Any, CompiledPrompt] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.config.id

    def params(self, max_tokens: int | None, temperature: float | None, top_p: float | None,
               stop: tuple[str, ...], seed: int | None) -> GenerationParams:  # fmt: skip
        return GenerationParams(
            max_tokens=max_tokens or self.config.max_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
            top_p=0.95 if top_p is None else top_p,
            stop=stop,
            seed=seed,
        )

    def system_prompt(self, result: InstructionResult | None) -> CompiledPrompt:
        """The compiled persona prompt (cached per set of instruction fragments)."""
        fragments = result.fragments if result is not None else ()
        try:
            cached = self._prompts.get(fragments)
        except TypeError:  # an unhashable fragment: compile every time
            return compile_persona(self.persona, result, family=self.family, canary=self.canary)
        if cached is None:
            cached = compile_persona(self.persona, result, family=self.family, canary=self.canary)
            if len(self._prompts) > 512:
                self._prompts.clear()
            self._prompts[fragments] = cached
        return cached


@dataclass
class Gateway:
    """Everything a request needs, built once."""

    config: GatewayConfig
    routes: dict[str, Route]
    pipeline: GuardPipeline | None
    keyring: KeyRing
    limiter: GatewayLimiter
    metrics: GatewayMetrics
    audit: AuditWriter | None
    sessions: SQLiteSessionStore | None
    source: Path | None = None
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    backends: dict[str, Upstream] = field(default_factory=dict)

    async def aclose(self) -> None:
        for route in self.routes.values():
            await route.upstream.aclose()
        for backend in self.backends.values():
            await backend.aclose()
        await self.limiter.aclose()
        if self.audit is not None:
            await self.audit.aclose()
        if self.sessions is not None:
            self.sessions.close()


def _relative(value: str, base: Path | None) -> str:
    if base is None or value in ("default", ":memory:"):
        return value
    p = Path(value).expanduser()
    if p.is_absolute():
        return str(p)
    candidate = base / p
    # A bare name (a built-in persona) stays a name when no such file exists.
    return str(candidate) if candidate.exists() or p.suffix else value


def _backend(name: str, spec: BackendConfig, source: Path | None) -> Upstream:
    where = f"backends.{name}"
    options = dict(spec.options)
    scheme = spec.scheme
    api_key = None
    if spec.api_key_env:
        api_key = os.environ.get(spec.api_key_env)
        if not api_key:
            raise ConfigError(
                f"the environment variable {spec.api_key_env} is not set; export the upstream key in it",
                path=source,
                field=f"{where}.api_key_env",
            )
    if scheme in ("openai", "anthropic"):
        if spec.base_url:
            options["base_url"] = spec.base_url
        if api_key:
            options["api_key"] = api_key
        options.setdefault("timeout", spec.timeout_s)
        options.setdefault("connect_timeout", spec.connect_timeout_s)
        options.setdefault("max_retries", spec.max_retries)
    if spec.context_window and scheme != "local":
        options.setdefault("context_window", spec.context_window)
    try:
        model: ChatModel = resolve_model(spec.model, **options)
    except PoiseError as exc:
        raise ConfigError(str(exc), path=source, field=f"{where}.model") from None
    if scheme == "openai":
        creds = resolve_openai_credentials(api_key, spec.base_url)
        return OpenAIPassthrough(
            model,
            upstream_model=model.model_id,
            base_url=creds.base_url,
            api_key=creds.api_key,
            timeout=spec.timeout_s,
            connect_timeout=spec.connect_timeout_s,
            max_retries=spec.max_retries,
        )
    return ChatModelUpstream(model)


def _deadline(spec: BackendConfig) -> float | None:
    # A remote backend's timeout_s bounds a whole attempt (retries included), so a hung upstream
    # fails over in time; an in-process model (first call loads it) has only request_timeout_s.
    return spec.timeout_s if spec.scheme in ("openai", "anthropic") else None


@lru_cache(maxsize=1)
def _process_secret() -> bytes:
    return secrets.token_bytes(16)


def _canary(route_id: str) -> str:
    # Stable for the life of the process (so upstream prompt caches still hit), unknown to clients.
    return "poise-canary-" + hashlib.sha256(_process_secret() + route_id.encode()).hexdigest()[:16]


def build_gateway(
    config: GatewayConfig,
    *,
    source: Path | None = None,
    base_dir: Path | None = None,
    models: dict[str, ChatModel | Upstream] | None = None,
    pipeline: GuardPipeline | None = None,
    host: str | None = None,
) -> Gateway:
    """Build every object the configuration names.

    Args:
        config: the validated configuration.
        source: the config file, for error messages.
        base_dir: where relative paths in the file are resolved (the file's directory).
        models: backends by name to use instead of building them (tests inject scripted models).
        pipeline: a guard pipeline to use instead of loading ``guard.policy``.
        host: the address the server binds (decides whether keys are required).

    Raises:
        ConfigError: anything the configuration names cannot be built.
    """
    base = base_dir
    metrics = GatewayMetrics()
    upstreams: dict[str, Upstream] = {}
    for name, spec in config.backends.items():
        if models is not None and name in models:
            injected = models[name]
            upstreams[name] = (
                injected
                if isinstance(injected, OpenAIPassthrough | ChatModelUpstream)
                else ChatModelUpstream(injected)  # type: ignore[arg-type]
            )
        else:
            upstreams[name] = _backend(name, spec, source)
    if pipeline is None and config.guard.enabled:
        policy = config.guard.policy
        try:
            pipeline = load_pipeline(None if policy == "default" else _relative(policy, base))
        except ConfigError as exc:
            raise ConfigError(f"guard.policy: {exc}", path=source, field="guard.policy") from None
    if not config.guard.enabled:
        pipeline = None
    sessions = None
    if config.sessions.enabled:
        sessions = SQLiteSessionStore(_relative(config.sessions.db, base))
    breaker_metrics = BreakerMetrics(metrics.registry)
    breakers = {
        name: CircuitBreaker(
            name,
            BreakerSettings(spec.breaker.failures, spec.breaker.window_s, spec.breaker.cooldown_s),
            metrics=breaker_metrics,
        )
        for name, spec in config.backends.items()
    }
    routes: dict[str, Route] = {}
    shared_rules: dict[str | None, Instructions | None] = {}
    for i, rc in enumerate(config.models):
        where = f"models[{i}]"
        try:
            persona = resolve_persona(_relative(rc.persona, base))
        except ConfigError as exc:
            raise ConfigError(str(exc), path=source, field=f"{where}.persona") from None
        rules_ref = config.instructions if rc.instructions == "inherit" else rc.instructions
        if rules_ref not in shared_rules:
            try:
                shared_rules[rules_ref] = load_instructions(
                    None if rules_ref is None else _relative(rules_ref, base)
                )
            except ConfigError as exc:
                raise ConfigError(str(exc), path=source, field=f"{where}.instructions") from None
        rules = shared_rules[rules_ref]
        primary = upstreams[rc.backend].model
        family: Family = rc.family or family_for(primary.name, primary.model_id)
        upstream = FailoverUpstream(
            rc.id,
            [
                Attempt(b, upstreams[b], breakers[b], _deadline(config.backends[b]))
                for b in (rc.backend, rc.fallback)
                if b is not None
            ],
            breaker_metrics,
        )
        engine = None
        if sessions is not None:
            engine = ConversationEngine(
                persona,
                upstream.model,
                store=sessions,
                instructions=rules,
                family=family,
                params=GenerationParams(max_tokens=rc.max_tokens, temperature=rc.temperature),
                # The engine guards what it stores and re-sends as history; the gateway's own
                # check on the turn's reply then sees text already guarded.
                guard=GuardSettings(pipeline) if pipeline is not None else None,
            )
        routes[rc.id] = Route(rc, persona, upstream, family, rules, engine, _canary(rc.id), rc.backend)
    if pipeline is not None and config.guard.constitution is not None:
        pipeline.rewriter = _route_rewriter(config.guard.constitution, routes, base, source)
    audit = None
    if config.audit.enabled:
        path = _relative(config.audit.path, base) if config.audit.path else None
        try:
            store = (
                PostgresAuditStore(config.audit.url)
                if config.audit.backend == "postgres" and config.audit.url
                else SQLiteAuditStore(path)
            )
            audit = AuditWriter(store, wait=config.audit.wait)
        except PoiseError as exc:
            field = "audit.url" if config.audit.backend == "postgres" else "audit.path"
            raise ConfigError(str(exc), path=source, field=field) from None
    keyring = KeyRing(config, require_keys=config.keys_required(host))
    return Gateway(
        config=config,
        routes=routes,
        pipeline=pipeline,
        keyring=keyring,
        limiter=GatewayLimiter(config, metrics),
        metrics=metrics,
        audit=audit,
        sessions=sessions,
        source=source,
        breakers=breakers,
        backends=upstreams,
    )


def _route_rewriter(
    constitution: str, routes: dict[str, Route], base: Path | None, source: Path | None
) -> RouteRewriter:
    """One constitution loop per route, each revising with the route's own model."""
    ref = constitution if constitution == "default" else str(_relative(constitution, base))
    by_route: dict[str, Rewriter] = {}
    persona_routes: dict[str, str] = {}
    try:
        for rid, route in routes.items():
            by_route[rid] = constitutional_rewriter(route.upstream.model, ref)
            persona_routes.setdefault(route.persona.id, rid)
    except ConfigError as exc:
        raise ConfigError(str(exc), path=source, field="guard.constitution") from None
    return RouteRewriter(by_route, persona_routes)
