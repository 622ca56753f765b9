"""Constitutions: the principles a reply is critiqued and revised against, as a validated file.

A constitution is YAML mapping one-to-one onto :class:`ConstitutionSpec` (unknown keys are errors):

* ``principles``: each with an ``id``, a ``statement``, the ``critique_request`` and
  ``revision_request`` the critic and the reviser are given, a ``scope`` (flag categories it is
  relevant to, personas it applies to) and a ``weight`` (order and sampling odds);
* ``comparison_principles``: questions for labelling which of two replies is better (AI feedback
  for preference pairs);
* ``personas``: per persona id, principles added or replaced (same ``id``) and ids disabled;
* ``loop``: default settings of the inference-time loop (:class:`LoopSettings`);
* ``extends``: ``default`` (the shipped constitution) or a path relative to this file; the child's
  principles replace the parent's with the same id and add the rest, see docs/design/constitution.md.

:func:`load_constitution` returns a :class:`Constitution`, whose :meth:`~Constitution.principles_for`
gives the effective principles for a persona. Loading never executes code.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from poise.config import load_yaml, validate_model
from poise.errors import ConstitutionError

__all__ = [
    "Budget",
    "ComparisonPrinciple",
    "Constitution",
    "ConstitutionSpec",
    "GenerationSettings",
    "LoopSettings",
    "PersonaOverride",
    "Principle",
    "Scope",
    "constitution_json_schema",
    "default_constitution_path",
    "load_constitution",
    "matches_any",
]

PrincipleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
Trigger = Literal["always", "flagged", "high_risk", "sampled"]
Selection = Literal["all", "sampled", "relevant"]
OnUnparseable = Literal["fail_closed", "keep_draft", "retry"]


def matches_any(category: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Whether ``category`` matches one of the glob ``patterns`` (case-insensitive)."""
    return any(fnmatch.fnmatchcase(category.lower(), p.lower()) for p in patterns)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """Where a principle applies. Empty lists mean everywhere."""

    categories: list[str] = Field(
        default_factory=list,
        description="Glob patterns of rail categories this principle is relevant to ('persona.*', 'EMAIL'); "
        "used by the 'relevant' selection. Empty: a general principle.",
    )
    personas: list[str] = Field(
        default_factory=list, description="Persona ids this principle applies to. Empty: every persona."
    )


class Principle(_Strict):
    """One principle: what it asks, how to critique a reply against it, how to revise."""

    id: PrincipleId
    statement: str = Field(min_length=1, description="The principle in one or two sentences.")
    critique_request: str = Field(min_length=1, description="What the critic is asked about the reply.")
    revision_request: str = Field(min_length=1, description="How the reviser is asked to fix the reply.")
    scope: Scope = Field(default_factory=Scope)
    weight: float = Field(default=1.0, gt=0, description="Higher first; also the odds when sampling.")


class ComparisonPrinciple(_Strict):
    """A question for AI-feedback preference labels: which of two replies is better?"""

    id: PrincipleId
    question: str = Field(min_length=1, description="e.g. 'Which reply is more honest about what it knows?'")
    weight: float = Field(default=1.0, gt=0, description="Odds of being drawn for a pair.")


class PersonaOverride(_Strict):
    """A persona's changes: principles added (or replacing same-id ones) and ids switched off."""

    principles: list[Principle] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list, description="Principle ids that do not apply.")


class Budget(_Strict):
    """What the loop may add to one request; when spent, the best draft so far is returned."""

    max_extra_calls: int = Field(default=8, ge=0, description="Critic and reviser calls together.")
    max_added_latency_ms: float = Field(default=20_000, gt=0, description="Wall time the loop may add.")


class GenerationSettings(_Strict):
    """Sampling settings for one kind of call (critique, revision)."""

    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0)


class LoopSettings(_Strict):
    """How the inference-time critique → revision loop runs (see :mod:`poise.align.loop`)."""

    triggers: list[Trigger] = Field(
        default_factory=lambda: list[Trigger](["flagged", "high_risk"]),
        description="The loop runs when any of these fires.",
    )
    flagged_categories: list[str] = Field(
        default_factory=lambda: ["*"], description="Globs: which output-rail flags fire 'flagged'."
    )
    high_risk_categories: list[str] = Field(
        default_factory=lambda: [
            "toxicity",
            "jailbreak",
            "injection",
            "medical*",
            "legal*",
            "finance*",
            "self_harm*",
        ],
        description="Globs: request or reply categories that fire 'high_risk'.",
    )
    sample_rate: float = Field(default=0.0, ge=0, le=1, description="Share of requests 'sampled' fires on.")
    seed: int = Field(default=0, description="Seed of the sampling RNGs (trigger and principle sampling).")
    max_rounds: int = Field(default=2, ge=1, le=10)
    selection: Selection = "relevant"
    max_principles: int | None = Field(
        default=3, ge=1, description="At most this many principles per round (sampled: how many to draw)."
    )
    budget: Budget = Field(default_factory=Budget)
    on_unparseable: OnUnparseable = "retry"
    parse_retries: int = Field(
        default=1, ge=0, description="With on_unparseable=retry: re-asks before failing closed."
    )
    few_shot: bool = Field(
        default=True, description="Show the critic two worked examples first (small models need them)."
    )
    critique: GenerationSettings = Field(default_factory=lambda: GenerationSettings(max_tokens=160))
    revision: GenerationSettings = Field(
        default_factory=lambda: GenerationSettings(max_tokens=384, temperature=0.2)
    )


class ConstitutionSpec(_Strict):
    """A constitution file."""

    version: Literal[1] = 1
    id: PrincipleId = Field(description="Name of this constitution, recorded with every critique.")
    description: str = ""
    extends: str | None = Field(
        default=None,
        description="'default' (the shipped constitution) or a path relative to this file. "
        "Principles and comparison principles replace the parent's with the same id.",
    )
    principles: list[Principle] = Field(default_factory=list)
    comparison_principles: list[ComparisonPrinciple] = Field(default_factory=list)
    personas: dict[str, PersonaOverride] = Field(
        default_factory=dict, description="Per persona id: principles added or replaced, ids disabled."
    )
    loop: LoopSettings = Field(default_factory=LoopSettings)

    @model_validator(mode="after")
    def _unique_ids(self) -> ConstitutionSpec:
        for name, items in (
            ("principles", [p.id for p in self.principles]),
            ("comparison_principles", [p.id for p in self.comparison_principles]),
        ):
            dupes = sorted({i for i in items if items.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {name} ids: {', '.join(dupes)}")
        return self


@dataclass(frozen=True)
class Constitution:
    """A loaded, resolved constitution (``extends`` applied). Build with :func:`load_constitution`."""

    spec: ConstitutionSpec
    path: Path | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def loop(self) -> LoopSettings:
        return self.spec.loop

    @property
    def comparison_principles(self) -> tuple[ComparisonPrinciple, ...]:
        return tuple(self.spec.comparison_principles)

    def principles_for(
        self, persona_id: str | None = None, extra: list[Principle] | tuple[Principle, ...] = ()
    ) -> tuple[Principle, ...]:
        """The effective principles for ``persona_id``, heaviest first.

        The persona's override (``personas.<id>``) replaces same-id principles and adds new ones,
        then drops its ``disable`` ids; ``extra`` (an API parameter) does the same last. Principles
        scoped to other personas are left out.
        """
        merged: dict[str, Principle] = {p.id: p for p in self.spec.principles}
        override = self.spec.personas.get(persona_id) if persona_id else None
        if override is not None:
            merged.update({p.id: p for p in override.principles})
            for pid in override.disable:
                merged.pop(pid, None)
        merged.update({p.id: p for p in extra})
        chosen = [
            p
            for p in merged.values()
            if not p.scope.personas or (persona_id and persona_id in p.scope.personas)
        ]
        return tuple(sorted(chosen, key=lambda p: -p.weight))

    def principle(self, principle_id: str, persona_id: str | None = None) -> Principle:
        """One effective principle by id.

        Raises:
            ConstitutionError: no such principle for this persona.
        """
        for p in self.principles_for(persona_id):
            if p.id == principle_id:
                return p
        known = ", ".join(p.id for p in self.principles_for(persona_id))
        raise ConstitutionError(
            f"no principle {principle_id!r}", path=self.path, field="principles", expected=f"one of {known}"
        )


def default_constitution_path() -> Path:
    """The constitution shipped with poise (``poise/align/constitutions/default.yaml``)."""
    return Path(str(resources.files("poise.align").joinpath("constitutions/default.yaml")))


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = {**parent, **{k: v for k, v in child.items() if k != "extends"}}
    for key in ("principles", "comparison_principles"):
        if key in child and key in parent:
            by_id = {item.get("id"): item for item in parent[key] if isinstance(item, dict)}
            extra = []
            for item in child[key]:
                if isinstance(item, dict) and item.get("id") in by_id:
                    by_id[item["id"]] = item
                else:
                    extra.append(item)
            out[key] = [*by_id.values(), *extra]
    if "personas" in child and "personas" in parent:
        out["personas"] = {**parent["personas"], **child["personas"]}
    if "loop" in child and "loop" in parent and isinstance(child["loop"], dict):
        out["loop"] = {**parent["loop"], **child["loop"]}
    return out


def _resolve(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    data = load_yaml(path, ConstitutionError)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise ConstitutionError(
            f"the top level must be a mapping, got {got}", path=path, expected="a mapping"
        )
    parent_ref = data.get("extends")
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str):
        raise ConstitutionError(
            "must be a string", path=path, field="extends", expected="'default' or a path"
        )
    parent_path = (
        default_constitution_path() if parent_ref == "default" else (path.parent / parent_ref).resolve()
    )
    if parent_path in seen:
        chain = " -> ".join(str(p) for p in (*seen, parent_path))
        raise ConstitutionError(f"extends cycle: {chain}", path=path, field="extends")
    return _merge(_resolve(parent_path, (*seen, parent_path)), data)


def load_constitution(path: Path | str | None = None) -> Constitution:
    """Load and validate a constitution file (default: the shipped one), ``extends`` applied.

    Raises:
        ConstitutionError: malformed YAML, unknown keys, bad values, an ``extends`` cycle or a
            persona override disabling an unknown principle (naming the file and field path).
    """
    p = (Path(path) if path is not None else default_constitution_path()).resolve()
    data = _resolve(p, (p,))
    data.pop("extends", None)
    spec = validate_model(ConstitutionSpec, data, p, ConstitutionError)
    known = {pr.id for pr in spec.principles}
    for persona_id, override in spec.personas.items():
        own = {pr.id for pr in override.principles}
        unknown = sorted(set(override.disable) - known - own)
        if unknown:
            raise ConstitutionError(
                f"disables unknown principle ids {unknown}",
                path=p,
                field=f"personas.{persona_id}.disable",
                expected=f"ids among {sorted(known | own)}",
            )
    return Constitution(spec, path=p)


def constitution_json_schema() -> dict[str, Any]:
    """JSON Schema of a constitution file, for editors and CI (``schemas/constitution.schema.json``)."""
    schema = ConstitutionSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "poise constitution"
    return schema
