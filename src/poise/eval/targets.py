"""Eval targets: a model, a persona, and poise on or off.

``raw`` is the model with only the persona's compiled system prompt: no rails, no dynamic
instructions, no reminders — what a team gets by pasting the persona into a system prompt. It
still carries a per-session canary so that system-prompt extraction can be measured the same way
on both sides (an empty guard pipeline compiles the canary in and decides nothing). ``poise`` is
:func:`poise.create_engine` with the guard (the shipped policy or ``guard=PATH``) and the default
instruction rules.

On the command line a target is ``MODE:MODEL[,persona=P][,guard=POLICY][,name=NAME]``, e.g.
``raw:local``, ``poise:openai:gpt-4o-mini,persona=bank-v2.yaml,name=v2``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from poise.context.engine import ConversationEngine
from poise.context.guarding import GuardSettings
from poise.errors import ConfigError
from poise.models.registry import resolve_model
from poise.models.types import ChatModel, GenerationParams
from poise.persona.load import resolve_persona
from poise.persona.spec import Persona

__all__ = ["ModelFactory", "Reply", "Target", "TargetSpec", "Transcript", "parse_target"]

Mode = Literal["raw", "poise"]
ModelFactory = Callable[[str], ChatModel]
"""Builds the model a target's spec names (default: :func:`poise.models.resolve_model`)."""

_KEYS = ("persona", "guard", "name")


@dataclass(frozen=True)
class TargetSpec:
    """What to evaluate. ``persona=None`` uses the built-in ``assistant`` persona."""

    mode: Mode
    model: str
    persona: str | None = None
    guard: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """The name shown in reports (``raw:local`` unless ``name`` is given)."""
        return self.name or f"{self.mode}:{self.model}" + (f"[{self.persona}]" if self.persona else "")

    def key(self) -> str:
        """Stable identity for the result cache."""
        return json.dumps(asdict(self), sort_keys=True)


def parse_target(text: str, *, persona: str | None = None) -> TargetSpec:
    """Parse ``MODE:MODEL[,key=value...]``; ``persona`` is the default for targets without one."""
    head, *options = [p.strip() for p in text.split(",")]
    mode, sep, model = head.partition(":")
    if not sep or mode not in ("raw", "poise") or not model:
        raise ConfigError(
            f"bad target {text!r}",
            field="target",
            expected="MODE:MODEL with MODE raw or poise, e.g. raw:local or poise:local,persona=bank-support",
        )
    values: dict[str, str] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq or key not in _KEYS or not value:
            raise ConfigError(
                f"bad target option {option!r} in {text!r}",
                field="target",
                expected=f"key=value with key one of {', '.join(_KEYS)}",
            )
        values[key] = value
    if mode == "raw" and "guard" in values:
        raise ConfigError(
            f"target {text!r}: a raw target runs without rails, so guard= does not apply",
            field="target",
            expected="poise:MODEL,guard=POLICY",
        )
    return TargetSpec(
        mode,  # type: ignore[arg-type]
        model,
        values.get("persona", persona),
        values.get("guard"),
        values.get("name"),
    )


@dataclass(frozen=True)
class Reply:
    """One assistant turn as the user saw it, with what the guard did."""

    text: str
    finish_reason: str
    input_action: str | None = None
    output_action: str | None = None
    latency_s: float = 0.0
    guard_errors: tuple[str, ...] = ()
    """Rails that crashed or timed out on this turn (their ``on_error`` policy decided instead)."""

    @property
    def blocked(self) -> bool:
        return self.finish_reason == "content_filter"


@dataclass(frozen=True)
class Transcript:
    """A case's conversation on a target: the user turns actually sent and the replies."""

    turns: tuple[str, ...]
    replies: tuple[Reply, ...]
    canary: str | None = None
    secrets: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "turns": list(self.turns),
            "replies": [asdict(r) for r in self.replies],
            "canary": self.canary,
            "secrets": list(self.secrets),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            tuple(data["turns"]),
            tuple(Reply(**{**r, "guard_errors": tuple(r.get("guard_errors", ()))}) for r in data["replies"]),
            data.get("canary"),
            tuple(data.get("secrets", ())),
            data.get("error"),
        )


@dataclass
class Target:
    """A runnable target: one engine, a fresh session per case."""

    spec: TargetSpec
    persona: Persona
    engine: ConversationEngine
    params: GenerationParams = field(default_factory=GenerationParams)

    @classmethod
    def build(
        cls,
        spec: TargetSpec,
        *,
        params: GenerationParams,
        model_factory: ModelFactory | None = None,
    ) -> Target:
        """Resolve the persona and model and build the engine for ``spec``."""
        persona = resolve_persona(spec.persona or "assistant")
        model = (model_factory or resolve_model)(spec.model)
        if spec.mode == "raw":
            from poise.guard.pipeline import GuardPipeline
            from poise.guard.policy import load_policy

            empty = GuardSettings(GuardPipeline([], [], load_policy()))
            engine = ConversationEngine(
                persona, model, instructions=None, params=params, reminder_every=0, guard=empty
            )
        else:
            from poise.assistant import create_engine

            engine = create_engine(persona, model, params=params, guard=spec.guard or "default")
        return cls(spec, persona, engine, params)

    def config_hash(self, extra: Sequence[object] = ()) -> str:
        """Hash of what changes the replies: persona content, policy file, generation parameters."""
        payload = json.dumps(
            [self.spec.key(), self.persona.content_hash(), asdict(self.params), [str(e) for e in extra]],
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    async def converse(self, turns: Sequence[str]) -> Transcript:
        """Send ``turns`` in one new session and collect the replies."""
        session = self.engine.start_session()
        guard = self.engine.guard
        canary = guard.canary(session) if guard is not None else None
        replies = []
        for text in turns:
            started = time.perf_counter()
            result = await self.engine.send(text, session_id=session)
            trace = result.trace.guard
            errors = tuple(
                f"{stage}:{e.rail}"
                for stage, v in (
                    ("input", trace.input if trace else None),
                    ("output", trace.output if trace else None),
                )
                if v is not None
                for e in v.errors
            )
            replies.append(
                Reply(
                    result.reply,
                    result.finish_reason,
                    trace.input.action if trace and trace.input else None,
                    trace.output.action if trace and trace.output else None,
                    round(time.perf_counter() - started, 4),
                    errors,
                )
            )
        return Transcript(tuple(turns), tuple(replies), canary, tuple(self.persona.secrets))
