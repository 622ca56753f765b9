"""Build a ready-to-use conversation engine from names: the few-lines Python API.

>>> import asyncio, poise
>>> engine = poise.create_engine(persona="bank-support", model="scripted")
>>> asyncio.run(engine.send("My card was declined")).reply  # doctest: +SKIP

The CLI goes through the same function, so ``poise chat`` and the Python API behave alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from poise.context.drift import DriftMonitor
from poise.context.engine import ConversationEngine, Instructions
from poise.context.guarding import GuardSettings
from poise.context.store import SQLiteSessionStore
from poise.errors import ConfigError
from poise.models.registry import resolve_model
from poise.models.types import ChatModel, GenerationParams
from poise.persona.compile import Family
from poise.persona.load import resolve_persona
from poise.persona.spec import Persona

if TYPE_CHECKING:
    from poise.guard.pipeline import GuardPipeline, Rewriter
    from poise.guard.rails import Tier


def load_guard(
    guard: GuardPipeline | str | Path | None, *, tier: Tier = "anonymous", tenant: str | None = None
) -> GuardSettings | None:
    """``"default"`` → the shipped policy; a path → that policy file; a pipeline as is; ``None`` → off."""
    if guard is None:
        return None
    from poise.guard.pipeline import GuardPipeline, load_pipeline

    if isinstance(guard, GuardPipeline):
        pipeline = guard
    else:
        pipeline = load_pipeline(None if str(guard) == "default" else guard)
    return GuardSettings(pipeline, tier=tier, tenant=tenant)


def constitutional_rewriter(
    model: ChatModel, constitution: str | Path, *, critic: ChatModel | None = None
) -> Rewriter:
    """The guard's ``rewrite`` action backed by the constitution loop (``"default"``: the shipped one)."""
    from poise.align import ConstitutionalLoop, ConstitutionalRewriter, load_constitution

    loaded = load_constitution(None if str(constitution) == "default" else constitution)
    return ConstitutionalRewriter(ConstitutionalLoop(model, critic=critic, constitution=loaded))


def load_instructions(rules: str | Path | None) -> Instructions | None:
    """``"default"`` → the built-in rule set; a path → that rule file; ``None`` → no rules."""
    if rules is None:
        return None
    from poise.instructions.engine import RuleEngine

    if str(rules) == "default":
        return RuleEngine.default()
    return RuleEngine.from_file(rules)


def create_engine(
    persona: Persona | str | Path | None = None,
    model: ChatModel | str = "local",
    *,
    db: str | Path | None = None,
    rules: str | Path | None = "default",
    family: Family | None = None,
    params: GenerationParams | None = None,
    reminder_every: int = 6,
    drift: DriftMonitor | None = None,
    guard: GuardPipeline | str | Path | None = "default",
    tier: Tier = "anonymous",
    tenant: str | None = None,
    constitution: str | Path | None = None,
    critic: ChatModel | str | None = None,
    **model_options: Any,
) -> ConversationEngine:
    """Create a :class:`ConversationEngine`.

    Args:
        persona: a :class:`Persona`, a persona file path, or a built-in name
            (``assistant``, ``bank-support``, ``coding-tutor``, ``clinic-intake``).
        model: a :class:`ChatModel` or a spec such as ``local``, ``local:/path/model.gguf``,
            ``openai:gpt-4o-mini``, ``anthropic:claude-sonnet-4-5``, ``scripted``.
        db: the SQLite session database (``None``: in memory, nothing persisted).
        rules: ``"default"``, a rule file path, or ``None`` for no dynamic instructions.
        family: the prompt layout; by default chosen from the backend.
        params: generation parameters.
        reminder_every: re-inject the persona reminder every N user turns (0: never).
        drift: a drift monitor plugged into the engine.
        guard: ``"default"`` (the shipped guard policy), a policy file, a :class:`GuardPipeline`,
            or ``None`` to run without rails. Blocks become the persona's refusal with
            ``finish_reason="content_filter"``; the verdicts are on ``TurnResult.trace.guard``.
        tier, tenant: who is calling (select the policy's thresholds and overrides).
        constitution: ``"default"`` or a constitution file: the guard policy's ``rewrite`` action
            then runs the critique → revision loop on the draft (otherwise ``rewrite`` blocks).
        critic: the model that critiques (a spec or a ChatModel; default: the same model).
        **model_options: passed to the backend (``base_url``, ``api_key``, ``timeout``...).
    """
    p = persona if isinstance(persona, Persona) else resolve_persona(persona)
    m = model if not isinstance(model, str) else resolve_model(model, **model_options)
    store = SQLiteSessionStore(db if db is not None else ":memory:")
    settings = load_guard(guard, tier=tier, tenant=tenant)
    if constitution is not None:
        if settings is None:
            raise ConfigError(
                "a constitution rewrites what the guard flags, so it needs the guard on",
                field="constitution",
                expected="guard='default' or a policy file together with constitution=",
            )
        critic_model = resolve_model(critic) if isinstance(critic, str) else critic
        settings.pipeline.rewriter = constitutional_rewriter(m, constitution, critic=critic_model)
    return ConversationEngine(
        p,
        m,
        store=store,
        instructions=load_instructions(rules),
        family=family,
        params=params,
        reminder_every=reminder_every,
        drift=drift,
        guard=settings,
    )
