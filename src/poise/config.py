"""Loading user-facing YAML/JSON files into pydantic models, with errors that name the file,
the field path and what was expected.

Every config file in poise (persona, instruction rules, and later policy, constitution, eval
suites) goes through :func:`load_yaml` and :func:`validate_model`, so they all fail the same way.
Loading never executes code: ``yaml.safe_load`` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from poise.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_text(path: Path | str, error: type[ConfigError] = ConfigError) -> str:
    """Read a UTF-8 text file, turning I/O and decoding failures into ``error``."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", path=p) from None
    except IsADirectoryError:
        raise error("is a directory, expected a file", path=p) from None
    except UnicodeDecodeError as exc:
        raise error(f"not valid UTF-8 (byte {exc.start})", path=p) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", path=p) from None


def parse_yaml(text: str, path: Path | str | None = None, error: type[ConfigError] = ConfigError) -> Any:
    """Parse YAML text safely; syntax errors name the line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise error(f"malformed YAML: {where}{exc.problem}", path=path) from None
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {exc}", path=path) from None


def load_yaml(path: Path | str, error: type[ConfigError] = ConfigError) -> Any:
    """Read and parse a YAML (or JSON, which is YAML) file."""
    return parse_yaml(read_text(path, error), path, error)


def load_json(path: Path | str, error: type[ConfigError] = ConfigError) -> Any:
    text = read_text(path, error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"malformed JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}", path=path) from None


def _expected(err: Any) -> str | None:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    simple = {
        "missing": "a value (this field is required)",
        "extra_forbidden": None,
        "string_type": "a string",
        "int_type": "an integer",
        "int_parsing": "an integer",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
    }
    if kind in simple:
        return simple[kind]
    if kind == "literal_error" and "expected" in ctx:
        return f"one of {ctx['expected']}"
    if kind == "string_pattern_mismatch" and "pattern" in ctx:
        return f"a string matching {ctx['pattern']}"
    if kind in ("greater_than_equal", "greater_than") and ctx:
        return f"a number {'>=' if kind.endswith('equal') else '>'} {next(iter(ctx.values()))}"
    return None


def field_path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic location as ``rules[2].check.max_sentences``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_to_config_error(
    exc: ValidationError, path: Path | str | None, error: type[ConfigError] = ConfigError
) -> ConfigError:
    """Turn a pydantic error into one ConfigError listing every problem."""
    problems = []
    first: tuple[str | None, str | None] = (None, None)
    for i, err in enumerate(exc.errors()):
        loc = field_path(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; unknown keys are not allowed)"
        else:
            msg = err["msg"]
        expected = _expected(err)
        if i == 0:
            first = (loc or None, expected)
        line = f"{loc or '<root>'}: {msg}"
        if expected:
            line += f" (expected {expected})"
        problems.append(line)
    if len(problems) == 1:
        first_loc, first_expected = first
        msg = problems[0].split(": ", 1)[1] if ": " in problems[0] else problems[0]
        if first_expected and msg.endswith(f"(expected {first_expected})"):
            msg = msg[: -len(f" (expected {first_expected})")]
        return error(msg, path=path, field=first_loc, expected=first_expected)
    return error(f"{len(problems)} problems:\n  - " + "\n  - ".join(problems), path=path, field=first[0])


def validate_model(
    model: type[M], data: Any, path: Path | str | None = None, error: type[ConfigError] = ConfigError
) -> M:
    """Validate parsed data into ``model``; errors name the file and field path."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise error(f"the top level must be a mapping, got {got}", path=path, expected="a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(exc, path, error) from None
