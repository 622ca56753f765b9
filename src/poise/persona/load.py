"""Load persona files, resolving ``extends``.

Override rules when a persona ``extends`` another (documented in docs/design/persona-extends.md):

* mappings (``tone``, ``escalation``, ``refusal``, ``metadata``) merge key by key, recursively;
* scalars and other lists replace the parent's value;
* ``rules`` merge by ``id``: a child rule with a parent rule's id replaces it in place, a child
  rule ``{id: X, remove: true}`` deletes it, and every other child rule is appended;
* ``knowledge`` merges the same way by ``title``;
* the child must set its own ``id`` and ``version`` (a derived persona is a new persona).

``extends`` paths are relative to the file that names them. Cycles are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from poise.config import load_yaml, parse_yaml, validate_model
from poise.errors import PersonaError
from poise.persona.spec import Persona

_MAX_DEPTH = 16


def _merge_keyed(parent: list[Any], child: list[Any], key: str, where: str, path: Path) -> list[Any]:
    out = [dict(p) if isinstance(p, dict) else p for p in parent]
    index = {p.get(key): i for i, p in enumerate(out) if isinstance(p, dict) and p.get(key)}
    removed: set[int] = set()
    for item in child:
        if not isinstance(item, dict):
            out.append(item)
            continue
        k = item.get(key)
        if item.get("remove") is True:
            if k not in index:
                raise PersonaError(
                    f"'remove: true' names {key} {k!r}, which the parent does not have",
                    path=path,
                    field=where,
                )
            removed.add(index[k])
            continue
        if k is not None and k in index:
            out[index[k]] = item
        else:
            out.append(item)
    return [x for i, x in enumerate(out) if i not in removed]


def merge_persona_data(parent: dict[str, Any], child: dict[str, Any], path: Path) -> dict[str, Any]:
    """Apply ``child`` over ``parent`` with the override rules in this module's docstring."""
    merged: dict[str, Any] = dict(parent)
    for key, value in child.items():
        old = merged.get(key)
        keyed = {"rules": "id", "knowledge": "title"}
        if key in keyed and isinstance(value, list) and isinstance(old, list | None):
            merged[key] = _merge_keyed(old or [], value, keyed[key], key, path)
        elif isinstance(value, dict) and isinstance(old, dict):
            merged[key] = merge_persona_data(old, value, path)
        else:
            merged[key] = value
    return merged


def _resolve(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise PersonaError(f"'extends' cycle: {chain}", path=path, field="extends")
    if len(seen) >= _MAX_DEPTH:
        raise PersonaError(f"'extends' chain deeper than {_MAX_DEPTH}", path=path, field="extends")
    data = load_yaml(path, PersonaError)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise PersonaError(f"the top level must be a mapping, got {got}", path=path)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str):
        raise PersonaError("must be a file path", path=path, field="extends", expected="a string")
    parent_path = path.parent / parent_ref
    if not parent_path.exists():
        raise PersonaError(
            f"extends {parent_ref!r}, which does not exist ({parent_path})", path=path, field="extends"
        )
    parent = _resolve(parent_path, (*seen, path))
    for required in ("id", "version"):
        if required not in data:
            raise PersonaError(
                "a persona that extends another must set its own value",
                path=path,
                field=required,
                expected="a value",
            )
    return merge_persona_data(parent, data, path)


def load_persona(path: Path | str) -> Persona:
    """Load and validate a persona YAML file, resolving ``extends``.

    Raises:
        PersonaError: the file is missing, malformed, invalid, or its ``extends`` chain is.
    """
    p = Path(path)
    return validate_model(Persona, _resolve(p, ()), p, PersonaError)


def persona_from_yaml(text: str, path: Path | str | None = None) -> Persona:
    """Validate persona YAML given as text (``extends`` is not allowed here)."""
    data = parse_yaml(text, path, PersonaError)
    if isinstance(data, dict) and "extends" in data:
        raise PersonaError("'extends' needs a file; use load_persona()", path=path, field="extends")
    return validate_model(Persona, data, path, PersonaError)


def persona_to_yaml(persona: Persona) -> str:
    """Serialize a persona to YAML, leaving out fields that hold their defaults."""
    import yaml

    data = persona.model_dump(mode="json", exclude_defaults=True)
    # id, version, name and role are always written even if a default ever appears.
    for key in ("id", "version", "name", "role"):
        data.setdefault(key, getattr(persona, key))
    ordered = {k: data[k] for k in Persona.model_fields if k in data}
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100)


BUILTIN_DIR = Path(__file__).parent / "builtin"
DEFAULT_PERSONA = "assistant"


def builtin_personas() -> dict[str, Path]:
    """The personas shipped with poise, by name (file stem)."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.yaml"))}


def resolve_persona(ref: Path | str | None = None) -> Persona:
    """Load a persona from a file path or a built-in name (``None``: the default persona).

    Raises:
        PersonaError: neither a file nor a built-in persona has that name.
    """
    ref = DEFAULT_PERSONA if ref is None else ref
    path = Path(ref)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
        return load_persona(path)
    builtins = builtin_personas()
    if str(ref) in builtins:
        return load_persona(builtins[str(ref)])
    raise PersonaError(
        f"no persona file or built-in persona named {str(ref)!r}; built-in personas: "
        f"{', '.join(builtins)}; or pass a path to a persona YAML file",
        path=None,
    )
