"""Labelled guard cases read from JSONL, each line's shape told by its keys.

Read by ``poise guard eval`` (:mod:`poise.guard.evaluation`):

* input detection ``{"text", "label": "attack"|"benign", "category"?, "lang"?, "system_prompt"?}``
* leak detection ``{"system_prompt", "output", "leaked": bool}``
* PII ``{"text", "entities": [{"start", "end", "type"}]}``

Other keys are ignored. A malformed line is a :class:`~poise.errors.DatasetError` that names the
file, the line, the field and what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from poise.errors import DatasetError

__all__ = [
    "SHAPES",
    "Case",
    "GoldSpan",
    "InputCase",
    "LeakCase",
    "PIICase",
    "Shape",
    "load_cases",
    "parse_case",
]

Shape = Literal["input", "leak", "pii"]
SHAPES: dict[Shape, str] = {
    "input": '{"text", "label": "attack"|"benign", "category"?, "lang"?, "system_prompt"?}',
    "leak": '{"system_prompt", "output", "leaked": true|false}',
    "pii": '{"text", "entities": [{"start", "end", "type"}]}',
}


@dataclass(frozen=True)
class InputCase:
    line: int
    text: str
    attack: bool
    category: str
    lang: str
    system_prompt: str = ""
    """The system prompt the text is sent against (context-aware checks), if the line gives one."""


@dataclass(frozen=True)
class LeakCase:
    line: int
    system_prompt: str
    output: str
    leaked: bool


@dataclass(frozen=True)
class GoldSpan:
    start: int
    end: int
    type: str


@dataclass(frozen=True)
class PIICase:
    line: int
    text: str
    entities: tuple[GoldSpan, ...]


Case = InputCase | LeakCase | PIICase


def _need(
    row: Mapping[str, Any], key: str, kind: type | tuple[type, ...], shape: Shape, where: dict[str, Any]
) -> Any:
    if key not in row:
        raise DatasetError(f"missing {key!r} for a {shape} case; expected {SHAPES[shape]}", **where)
    value = row[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        at = {**where, "field": f"{where['field']}.{key}" if where.get("field") else key}
        raise DatasetError(f"must be {names}, got {type(value).__name__}", **at)
    return value


def _optional_str(row: Mapping[str, Any], key: str, default: str, where: dict[str, Any]) -> str:
    value = row.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"must be a non-empty string when given, got {value!r}", field=key, **where)
    return value


def parse_case(row: Any, *, path: Path | str | None = None, line: int = 0) -> Case:
    """Tell the shape of one decoded JSONL row by its keys and validate it."""
    where: dict[str, Any] = {"path": path, "line": line}
    if not isinstance(row, dict):
        raise DatasetError(f"expected a JSON object, got {type(row).__name__}", **where)
    if "entities" in row:
        text = _need(row, "text", str, "pii", where)
        spans = []
        for i, ent in enumerate(_need(row, "entities", list, "pii", where)):
            at = {**where, "field": f"entities[{i}]"}
            if not isinstance(ent, dict):
                raise DatasetError(f"expected an object {{start, end, type}}, got {type(ent).__name__}", **at)
            start, end = (_need(ent, k, int, "pii", at) for k in ("start", "end"))
            label = _need(ent, "type", str, "pii", at)
            if not 0 <= start < end <= len(text):
                raise DatasetError(f"span {start}..{end} is not inside the text (0..{len(text)})", **at)
            spans.append(GoldSpan(start, end, label))
        return PIICase(line, text, tuple(spans))
    if {"output", "leaked"} & row.keys() or ("system_prompt" in row and not {"text", "label"} & row.keys()):
        return LeakCase(
            line,
            _need(row, "system_prompt", str, "leak", where),
            _need(row, "output", str, "leak", where),
            _need(row, "leaked", bool, "leak", where),
        )
    if {"text", "label"} & row.keys():
        text = _need(row, "text", str, "input", where)
        label = _need(row, "label", str, "input", where)
        if label not in ("attack", "benign"):
            raise DatasetError(f"must be 'attack' or 'benign', got {label!r}", field="label", **where)
        return InputCase(
            line,
            text,
            label == "attack",
            _optional_str(row, "category", label, where),
            _optional_str(row, "lang", "unspecified", where),
            _optional_str(row, "system_prompt", "", where) if "system_prompt" in row else "",
        )
    shapes = "; ".join(f"{k}: {v}" for k, v in SHAPES.items())
    raise DatasetError(
        f"cannot tell the case's shape from its keys {sorted(row)}; expected {shapes}", **where
    )


def load_cases(path: Path | str) -> list[Case]:
    """Read and validate every non-blank line of a JSONL file.

    Raises:
        DatasetError: the first missing, unreadable, malformed or empty-of-cases problem.
    """
    p = Path(path)
    try:
        # Split on "\n" only: str.splitlines() also splits on U+2028 and friends, legal inside JSON strings.
        lines = p.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise DatasetError("no such file", path=p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read it: {exc}", path=p) from None
    cases: list[Case] = []
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"not valid JSON: {exc.msg} at column {exc.colno}", path=p, line=n) from None
        cases.append(parse_case(row, path=p, line=n))
    if not cases:
        raise DatasetError(f"no cases; each line must be one JSON object, e.g. {SHAPES['input']}", path=p)
    return cases
