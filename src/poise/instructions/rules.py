"""Instruction rule files: the YAML format, loading with located errors, and the JSON Schema.

A rule set::

    version: 1
    rules:
      - id: python-idioms
        description: Idiomatic Python for code questions in Python
        when: {task: code, code_language: [python]}       # every key must hold
        add: "When writing Python, target 3.11+, use type hints and follow PEP 8."
      - id: frustrated-user
        when_any: [{sentiment: {lte: -0.4}}, {complaints: {gte: 2}}]   # one must hold
        unless: {user: {tier: internal}}                  # none may hold (a mapping or a list)
        replace: {section: tone, text: "The user is frustrated: acknowledge it first..."}
        priority: 50

A rule has exactly one action: ``add`` (a fragment in the prompt's instructions section) or
``replace`` (``section:`` a persona section, or ``rule:`` another rule's fragment). Higher
``priority`` comes first (ties: rule id). Texts may use placeholders, filled per request:
:data:`PLACEHOLDERS`. Unknown keys, bad values, duplicate ids and a ``replace`` naming an
unknown rule are :class:`~poise.errors.ConfigError` naming the file and the field path.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from poise.config import field_path, load_yaml, validate_model, validation_to_config_error
from poise.errors import ConfigError
from poise.instructions.conditions import ONE_OR_MANY, Condition

ReplaceableSection = Literal[
    "role",
    "identity",
    "audience",
    "tone",
    "values",
    "rules",
    "escalation",
    "refusal",
    "examples",
    "knowledge",
    "scenario",
]
"""Persona sections a rule may replace (``instructions`` is where ``add`` goes)."""

PLACEHOLDERS: tuple[str, ...] = (
    "language",
    "language_name",
    "code_language",
    "task",
    "turn",
    "user.name",
    "user.locale",
    "user.language",
    "user.language_name",
    "user.tier",
)
"""Names usable as ``{{ name }}`` in rule texts."""
PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
_ID = r"^[a-z0-9][a-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_placeholders(text: str) -> str:
    unknown = sorted({m for m in PLACEHOLDER.findall(text) if m not in PLACEHOLDERS})
    if unknown:
        raise ValueError(f"unknown placeholder {{{{ {unknown[0]} }}}} (known: {', '.join(PLACEHOLDERS)})")
    return text


class Replace(_Strict):
    """Replace a persona section, or another rule's fragment, with ``text``."""

    section: ReplaceableSection | None = None
    rule: str | None = Field(default=None, pattern=_ID, description="Id of the rule to replace.")
    text: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def _text_placeholders(cls, v: str) -> str:
        return _check_placeholders(v)

    @model_validator(mode="after")
    def _one_target(self) -> Replace:
        if (self.section is None) == (self.rule is None):
            raise ValueError("give exactly one of 'section' or 'rule'")
        return self


class Rule(_Strict):
    """One instruction rule: conditions and one action."""

    id: str = Field(pattern=_ID, description="Unique within the rule set, lower-case.")
    description: str | None = None
    when: Condition | None = Field(default=None, description="Every key must hold.")
    when_any: list[Condition] | None = Field(default=None, min_length=1, description="One must hold.")
    unless: Condition | list[Condition] | None = Field(default=None, description="None may hold.")
    add: str | None = Field(default=None, min_length=1, description="Text for the instructions section.")
    replace: Replace | None = None
    priority: int = Field(default=0, description="Higher first; ties are ordered by rule id.")

    @field_validator("add")
    @classmethod
    def _add_placeholders(cls, v: str | None) -> str | None:
        return None if v is None else _check_placeholders(v)

    @model_validator(mode="after")
    def _one_action(self) -> Rule:
        if (self.add is None) == (self.replace is None):
            raise ValueError("give exactly one action: 'add' or 'replace'")
        return self

    @property
    def unless_conditions(self) -> list[Condition]:
        if self.unless is None:
            return []
        return [self.unless] if isinstance(self.unless, Condition) else list(self.unless)


class _CrossCheck(ValueError):
    """A rule-set level problem that still knows its field path (turned into a ConfigError)."""

    def __init__(self, message: str, field: str, expected: str | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.message = message
        self.field = field
        self.expected = expected


class RuleSet(_Strict):
    """A versioned list of rules. Build one with :func:`load_rule_set` or :func:`parse_rule_set`."""

    version: Literal[1] = Field(description="Format version of the rule file.")
    description: str | None = None
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_check(self) -> RuleSet:
        index: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            if rule.id in index:
                raise _CrossCheck(
                    f"duplicate rule id {rule.id!r} (first used at rules[{index[rule.id]}])",
                    f"rules[{i}].id",
                    "a rule id not used by another rule",
                )
            index[rule.id] = i
        for i, rule in enumerate(self.rules):
            target = rule.replace.rule if rule.replace else None
            if target is None:
                continue
            if target not in index:
                raise _CrossCheck(
                    f"replaces unknown rule {target!r}",
                    f"rules[{i}].replace.rule",
                    f"one of the rule ids in this file ({', '.join(sorted(index))})",
                )
            seen = [rule.id]
            while target is not None:
                if target in seen:
                    chain = " -> ".join([*seen, target])
                    raise _CrossCheck(f"replace cycle: {chain}", f"rules[{i}].replace.rule", "no cycles")
                seen.append(target)
                nxt = self.rules[index[target]].replace
                target = nxt.rule if nxt else None
        return self


def parse_rule_set(data: Any, path: Path | str | None = None) -> RuleSet:
    """Validate parsed YAML/JSON data into a :class:`RuleSet`.

    Args:
        data: the parsed document.
        path: the file it came from, for error messages.

    Raises:
        ConfigError: naming the file, the field path (``rules[2].when.sentiment``) and what was
            expected.
    """
    if not isinstance(data, dict):
        return validate_model(RuleSet, data, path)  # raises the standard 'top level' error
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        for err in errors:
            cross = (err.get("ctx") or {}).get("error")
            if isinstance(cross, _CrossCheck):
                raise ConfigError(
                    cross.message, path=path, field=cross.field, expected=cross.expected
                ) from None
        if len(errors) == 1 and errors[0]["type"] == "extra_forbidden":
            loc = tuple(errors[0]["loc"])
            allowed = _allowed_keys(loc[:-1])
            raise ConfigError(
                "unknown key (check the spelling; unknown keys are not allowed)",
                path=path,
                field=field_path(loc),
                expected=f"one of {', '.join(allowed)}" if allowed else None,
            ) from None
        raise validation_to_config_error(exc, path) from None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the mapping at ``loc`` (a pydantic location inside a RuleSet) accepts."""
    model: type[BaseModel] = RuleSet
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        models = _models_in(info.annotation) if info else []
        if not models:
            return []
        model = models[0]
    return list(model.model_fields)


def load_rule_set(path: Path | str) -> RuleSet:
    """Load a rule file (YAML or JSON). Loading never executes code.

    Args:
        path: the rule file.

    Raises:
        ConfigError: the file is missing, malformed or invalid (see :func:`parse_rule_set`).
    """
    return parse_rule_set(load_yaml(path), path)


DEFAULT_RULES = "default.yaml"


@lru_cache(maxsize=1)
def load_default_rule_set() -> RuleSet:
    """The rule set shipped with poise (``poise/instructions/defaults/default.yaml``)."""
    ref = resources.files("poise.instructions").joinpath("defaults", DEFAULT_RULES)
    with resources.as_file(ref) as path:
        return load_rule_set(path)


def rule_set_json_schema() -> dict[str, Any]:
    """JSON Schema of rule files, for editors (``# yaml-language-server: $schema=...``)."""
    schema: dict[str, Any] = _one_or_many(RuleSet.model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "poise instruction rules"
    return schema


def _one_or_many(node: Any) -> Any:
    """Let fields marked ``x-one-or-many`` accept a single item as well as a list."""
    if isinstance(node, list):
        return [_one_or_many(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _one_or_many(v) for k, v in node.items()}
    if out.pop(ONE_OR_MANY, False):
        return {"anyOf": [out["items"], out]}
    return out
