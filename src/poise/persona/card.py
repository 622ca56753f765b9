"""Import and export Character Cards (SillyTavern's ``chara_card_v2``; V1 cards on import).

Field mapping (card ``data.*`` ↔ :class:`~poise.persona.spec.Persona`)::

    name                       ↔ name
    description                ↔ identity
    personality                ↔ tone.descriptors   ("calm, witty" ↔ [calm, witty]; prose stays one item)
    scenario                   ↔ scenario
    first_mes                  ↔ greeting
    mes_example                ↔ examples           (<START> blocks of {{user}}: / {{char}}: turns)
    system_prompt              ↔ role               ("You are {{char}}, <role>"; empty → a default role)
    post_history_instructions  ↔ reminder
    tags                       ↔ tags
    character_version          ↔ version            (empty → "1.0.0")
    creator, creator_notes, alternate_greetings,
    character_book, other extensions              ↔ card (CardExtras, never compiled)
    extensions.poise.persona   ↔ every other persona field (id, rules, refusal, ...)

The persona ``id`` is slugified from the name unless the card carries one in ``extensions.poise``.

**Macros.** On import ``{{char}}`` (and V1's ``<BOT>``) becomes the persona name and ``{{user}}``
(``<USER>``) becomes "the user" ("The user" at the start of a sentence), so the compiled prompt
reads naturally; ``{{original}}`` in ``system_prompt``/``post_history_instructions`` is dropped.
Export never writes macros back into text except the speaker labels of ``mes_example`` and the
``You are {{char}},`` lead of ``system_prompt``.

**Round trips are exact.** A card's original text for every mapped field that does not re-render
byte for byte (macros, blank fields, hand formatting) is kept in ``Persona.card.source`` and
exported again as long as it still derives the persona's current value; edit the persona and the
edited value is exported instead. On export every persona field that the card fields cannot
reproduce travels in ``data.extensions.poise.persona`` (only the differing keys of ``tone``) and
wins on import. Top-level keys (``avatar``, V1 mirrors of ``data``) and unknown ``data`` keys are
kept too. Exactness holds for spec-complete cards: an absent or ``null`` optional field is
exported as its empty value ("", [], {}), and a ``null`` ``character_book`` is dropped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from poise.config import load_json, validation_to_config_error
from poise.errors import PersonaError
from poise.persona.spec import Persona

SPEC = "chara_card_v2"
SPEC_VERSION = "2.0"
DEFAULT_VERSION = "1.0.0"
DEFAULT_ROLE = "the character described below. Stay in character."
POISE_SCHEMA = 1

_TEXT_KEYS = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
)
_LIST_KEYS = ("alternate_greetings", "tags")
_DATA_KEYS = (  # the spec's order, which export follows
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "alternate_greetings",
    "character_book",
    "tags",
    "creator",
    "character_version",
    "extensions",
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CHAR = re.compile(r"\{\{\s*char\s*\}\}|<bot>", re.IGNORECASE)
_USER = re.compile(r"\{\{\s*user\s*\}\}|<user>", re.IGNORECASE)
_ORIGINAL = re.compile(r"\{\{\s*original\s*\}\}", re.IGNORECASE)
_START = re.compile(r"^[ \t]*<start>[ \t]*$", re.IGNORECASE | re.MULTILINE)


def expand_macros(text: str, name: str) -> str:
    """Replace ``{{char}}``/``<BOT>`` with ``name`` and ``{{user}}``/``<USER>`` with "the user"."""

    def user(m: re.Match[str]) -> str:
        before = m.string[: m.start()].rstrip(" \t*\"'“_(")
        return "The user" if not before or before[-1] in ".!?\n" else "the user"

    return _USER.sub(user, _CHAR.sub(lambda _: name, text))


def slugify(name: str) -> str:
    """A persona id from a character name: ``"Dr. Élise Moreau"`` → ``"dr-elise-moreau"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug or "character-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]


def _text_or_none(raw: str, name: str) -> str | None:
    text = expand_macros(raw, name)
    return text if text.strip() else None


def _parse_role(raw: str, name: str) -> str:
    text = expand_macros(_ORIGINAL.sub("", raw), name).strip()
    lead = f"You are {name}, "
    if text.startswith(lead) and text[len(lead) :].strip():
        return text[len(lead) :]
    return text or DEFAULT_ROLE


def _parse_reminder(raw: str, name: str) -> str | None:
    text = _text_or_none(_ORIGINAL.sub("", raw), name)
    return text.strip() if text and _ORIGINAL.search(raw) else text


def _parse_personality(raw: str, name: str) -> list[str]:
    text = expand_macros(raw, name).strip()
    if not text:
        return []
    parts = [p.strip() for p in re.split(r"[,;\n]", text)]
    if all(parts) and all(len(p.split()) <= 4 for p in parts):
        return parts
    return [text]


def parse_examples(raw: str, name: str) -> list[dict[str, str]]:
    """Parse ``mes_example`` into ``[{"user": ..., "assistant": ...}]`` (macros expanded).

    Each ``<START>`` block holds turns labelled ``{{user}}:`` or ``{{char}}:`` (also ``<USER>:``,
    ``<BOT>:`` or the character's name); a turn runs until the next label. Every character turn
    becomes one example, paired with the user turn(s) before it ("" when there is none).
    """
    label = re.compile(
        r"^\s*(\{\{\s*user\s*\}\}|<user>|\{\{\s*char\s*\}\}|<bot>|" + re.escape(name) + r")\s*:[ \t]?",
        re.IGNORECASE,
    )
    examples: list[dict[str, str]] = []
    for block in _START.split(raw):
        turns: list[tuple[str, list[str]]] = []
        for line in block.split("\n"):
            m = label.match(line)
            if m:
                who = "user" if _USER.fullmatch(m.group(1)) else "char"
                turns.append((who, [line[m.end() :]]))
            elif turns:
                turns[-1][1].append(line)
        pending: list[str] = []
        for who, lines in turns:
            text = expand_macros("\n".join(lines).rstrip(), name)
            if who == "user":
                pending.append(text)
            else:
                examples.append({"user": "\n".join(pending), "assistant": text})
                pending = []
    return examples


def render_examples(examples: list[dict[str, str]]) -> str:
    """Render examples as ``mes_example`` text, one ``<START>`` block per example."""
    blocks = []
    for ex in examples:
        user = f"{{{{user}}}}: {ex['user']}\n" if ex["user"] else ""
        blocks.append(f"<START>\n{user}{{{{char}}}}: {ex['assistant']}")
    return "\n".join(blocks)


@dataclass(frozen=True)
class _Codec:
    """How one card text field maps onto a persona value (``path`` inside the persona dump)."""

    key: str
    path: tuple[str, ...]
    parse: Callable[[str, str], Any]
    render: Callable[[Any], str]


_CODECS = (
    _Codec("description", ("identity",), _text_or_none, lambda v: v or ""),
    _Codec("personality", ("tone", "descriptors"), _parse_personality, ", ".join),
    _Codec("scenario", ("scenario",), _text_or_none, lambda v: v or ""),
    _Codec("first_mes", ("greeting",), _text_or_none, lambda v: v or ""),
    _Codec("mes_example", ("examples",), parse_examples, render_examples),
    _Codec("system_prompt", ("role",), _parse_role, lambda v: f"You are {{{{char}}}}, {v}"),
    _Codec("post_history_instructions", ("reminder",), _parse_reminder, lambda v: v or ""),
    _Codec("character_version", ("version",), lambda raw, _: raw if raw.strip() else DEFAULT_VERSION, str),
)
_CARD_PATH = {c.path[0]: c.key for c in _CODECS if len(c.path) == 1} | {
    "name": "name",
    "tags": "tags",
    "tone": "personality",
}


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _split_card(card: Any, path: Path | str | None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Validate a card's shape; return its data, its other top-level keys and the data prefix."""
    if not isinstance(card, dict):
        raise PersonaError(
            f"a character card must be a JSON object, got {_type_name(card)}",
            path=path,
            expected="a JSON object",
        )
    if "spec" in card or isinstance(card.get("data"), dict):
        if card.get("spec", SPEC) != SPEC:
            raise PersonaError(
                f"unsupported card spec {card['spec']!r}",
                path=path,
                field="spec",
                expected=f"'{SPEC}', or a V1 card without 'spec'",
            )
        data, base = card.get("data"), "data."
        if not isinstance(data, dict):
            raise PersonaError(
                f"wrong type: got {_type_name(data)}", path=path, field="data", expected="a JSON object"
            )
        root = {k: v for k, v in card.items() if k not in ("spec", "data")}
        if root.get("spec_version") == SPEC_VERSION:
            del root["spec_version"]
    else:  # V1: the card fields sit at the top level.
        data, base, root = {k: card[k] for k in _DATA_KEYS if k in card}, "", dict(card)
    _check_types(data, base, path)
    return data, root, base


def _check_types(data: dict[str, Any], base: str, path: Path | str | None) -> None:
    def fail(key: str, value: Any, expected: str) -> PersonaError:
        got = f"wrong type: got {_type_name(value)}"
        return PersonaError(got, path=path, field=base + key, expected=expected)

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        got = "missing" if name is None else f"got {name!r}"
        raise PersonaError(
            f"a character card needs a name ({got})",
            path=path,
            field=base + "name",
            expected="a non-empty string",
        )
    for key in _TEXT_KEYS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise fail(key, data[key], "a string")
    for key in _LIST_KEYS:
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise fail(key, items, "a list of strings")
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise fail(f"{key}[{i}]", item, "a string")
    for key in ("character_book", "extensions"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise fail(key, data[key], "a JSON object")
    poise = (data.get("extensions") or {}).get("poise")
    if poise is None:
        return
    if not isinstance(poise, dict):
        raise fail("extensions.poise", poise, "a JSON object")
    unknown = sorted(set(poise) - {"schema", "persona"})
    if unknown:
        raise PersonaError(
            f"unknown key {unknown[0]!r}",
            path=path,
            field=f"{base}extensions.poise",
            expected="only 'schema' and 'persona'",
        )
    if poise.get("schema", POISE_SCHEMA) != POISE_SCHEMA:
        raise PersonaError(
            f"unsupported schema {poise['schema']!r}",
            path=path,
            field=f"{base}extensions.poise.schema",
            expected=str(POISE_SCHEMA),
        )
    if not isinstance(poise.get("persona", {}), dict):
        raise fail("extensions.poise.persona", poise["persona"], "a JSON object")


def _derive(card: Any, path: Path | str | None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Persona data from a card's own fields, the ``extensions.poise`` overlay, and the data prefix."""
    data, root, base = _split_card(card, path)
    name: str = data["name"]
    tags = list(data.get("tags") or [])
    persona: dict[str, Any] = {"id": slugify(name), "name": name, "tone": {}, "tags": tags}
    source: dict[str, str] = {}
    for codec in _CODECS:
        raw = data.get(codec.key) or ""
        value = codec.parse(raw, name)
        if codec.render(value) != raw:
            source[codec.key] = raw
        target = persona
        for part in codec.path[:-1]:
            target = target[part]
        target[codec.path[-1]] = value
    extensions = dict(data.get("extensions") or {})
    overlay = (extensions.pop("poise", None) or {}).get("persona", {})
    mirrors = [k for k in data if k in root and root[k] == data[k]]
    extras = {
        "creator": data.get("creator") or "",
        "creator_notes": data.get("creator_notes") or "",
        "alternate_greetings": data.get("alternate_greetings") or [],
        "character_book": data.get("character_book"),
        "extensions": extensions,
        "source": source,
        "data_extra": {k: v for k, v in data.items() if k not in _DATA_KEYS},
        "root_extra": {k: v for k, v in root.items() if k not in mirrors},
        "root_mirrors": mirrors,
    }
    kept = {k: v for k, v in extras.items() if v not in ("", [], {}, None)}
    if kept:
        persona["card"] = kept
    return persona, overlay, base


def _validate(data: dict[str, Any], overlay: dict[str, Any], base: str, path: Path | str | None) -> Persona:
    merged = dict(data)
    for key, value in overlay.items():
        if key == "tone" and isinstance(value, dict):
            merged["tone"] = {**data["tone"], **value}
        else:
            merged[key] = value
    try:
        return Persona.model_validate(merged)
    except ValidationError as exc:
        err = validation_to_config_error(exc, path, PersonaError)
        top = (err.field or "").split(".")[0].split("[")[0]
        if top in overlay or top not in _CARD_PATH:
            where = f"{base}extensions.poise.persona.{err.field or ''}".rstrip(".")
        else:
            where = base + _CARD_PATH[top]
        raise PersonaError(err.detail, path=path, field=where, expected=err.expected) from None


def persona_from_card(card: Any, path: Path | str | None = None) -> Persona:
    """Build a persona from a parsed Character Card (V2, or V1 without ``spec``).

    Args:
        card: the card's JSON, already parsed.
        path: the file it came from, named in errors.

    Raises:
        PersonaError: the card is not an object, has another ``spec``, lacks a name, holds a value
            of the wrong type, or its ``extensions.poise`` does not describe a valid persona.
    """
    data, overlay, base = _derive(card, path)
    return _validate(data, overlay, base, path)


def persona_to_card(persona: Persona, *, include_secrets: bool = False) -> dict[str, Any]:
    """Export a persona as a ``chara_card_v2`` card (see the module docstring for the mapping).

    Cards are made to be shared, so the persona's ``secrets`` are left out unless
    ``include_secrets`` is true (the round trip is exact only with it).

    Raises:
        PersonaError: the persona's name is empty (a card must have one).
    """
    if not persona.name.strip():
        raise PersonaError("a character card needs a name", field="name", expected="a non-empty string")
    if not include_secrets and persona.secrets:
        persona = persona.model_copy(update={"secrets": []})
    full = persona.model_dump(mode="json")
    extras = persona.card.model_dump(mode="json") if persona.card else {}
    source: dict[str, str] = extras.get("source", {})
    data: dict[str, Any] = {"name": persona.name}
    for codec in _CODECS:
        value: Any = full
        for part in codec.path:
            value = value[part]
        raw = source.get(codec.key)
        keep = raw is not None and codec.parse(raw, persona.name) == value
        data[codec.key] = raw if keep else codec.render(value)
    data |= {
        "creator_notes": extras.get("creator_notes", ""),
        "alternate_greetings": extras.get("alternate_greetings", []),
        "tags": full["tags"],
        "creator": extras.get("creator", ""),
    }
    if extras.get("character_book") is not None:
        data["character_book"] = extras["character_book"]
    data["extensions"] = dict(extras.get("extensions", {}))
    data = {k: data[k] for k in _DATA_KEYS if k in data} | extras.get("data_extra", {})
    card: dict[str, Any] = {"spec": SPEC, "spec_version": SPEC_VERSION, "data": data}
    card |= {k: data[k] for k in extras.get("root_mirrors", []) if k in data}
    card |= extras.get("root_extra", {})
    overlay = _overlay(persona, full, card)
    if overlay:
        data["extensions"]["poise"] = {"schema": POISE_SCHEMA, "persona": overlay}
    return card


def _overlay(persona: Persona, full: dict[str, Any], card: dict[str, Any]) -> dict[str, Any]:
    """The persona fields that the card's own fields do not reproduce on import."""
    derived_data, _, _ = _derive(card, None)
    derived = Persona.model_validate(derived_data).model_dump(mode="json")
    compact = persona.model_dump(mode="json", exclude_defaults=True)
    overlay: dict[str, Any] = {}
    for key, value in full.items():
        if value == derived[key]:
            continue
        if key == "tone":
            overlay[key] = {k: v for k, v in value.items() if derived[key][k] != v}
        else:
            overlay[key] = compact.get(key, value)
    return overlay


def _png_card_text(path: Path) -> str:
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise PersonaError("file not found", path=path) from None
    except OSError as exc:
        raise PersonaError(f"cannot read: {exc.strerror}", path=path) from None
    if not blob.startswith(_PNG_SIGNATURE):
        raise PersonaError("not a PNG file", path=path)
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(blob):
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        kind, body = blob[pos + 4 : pos + 8], blob[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"tEXt" and body.startswith(b"chara\x00"):
            try:
                return base64.b64decode(body[6:], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise PersonaError("the 'chara' chunk is not base64 UTF-8 JSON", path=path) from None
    raise PersonaError("the PNG holds no character card (no 'chara' tEXt chunk)", path=path)


def load_card(path: Path | str) -> Persona:
    """Load a Character Card from a ``.json`` file or a card ``.png`` (its ``chara`` chunk).

    Raises:
        PersonaError: the file is missing, not JSON, or not a valid card (see persona_from_card).
    """
    p = Path(path)
    if p.suffix.lower() == ".png":
        try:
            card = json.loads(_png_card_text(p))
        except json.JSONDecodeError as exc:
            raise PersonaError(
                f"malformed JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}", path=p
            ) from None
    else:
        card = load_json(p, PersonaError)
    return persona_from_card(card, p)


def card_to_json(persona: Persona, *, include_secrets: bool = False) -> str:
    """The exported card as pretty-printed JSON text (UTF-8, keys in spec order)."""
    card = persona_to_card(persona, include_secrets=include_secrets)
    return json.dumps(card, indent=2, ensure_ascii=False) + "\n"


def save_card(persona: Persona, path: Path | str, *, include_secrets: bool = False) -> Path:
    """Write ``persona`` as a card JSON file and return its path."""
    p = Path(path)
    p.write_text(card_to_json(persona, include_secrets=include_secrets), encoding="utf-8")
    return p
