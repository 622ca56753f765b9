"""Reversible redaction: replace PII with typed, numbered placeholders and put it back later.

``Call me at +44 20 7946 0958`` becomes ``Call me at [PHONE_1]``. The same value always gets the
same placeholder within one :class:`Redactor` (one conversation), also when written differently
(``4111 1111 1111 1111`` and ``4111111111111111``), so the model can still refer to it. The
mapping placeholder → original lives only in memory, is never in a ``repr`` and is what
:func:`restore` uses to put the originals back into a model reply when policy allows. In
``mask`` mode nothing is kept: every entity becomes ``[EMAIL]``, ``[CARD]``... for good.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from poise.guard.pii.detector import find_entities
from poise.guard.pii.entity import ENTITY_TYPES, PIIEntity

__all__ = ["RedactionResult", "Redactor", "restore"]

_PLACEHOLDER_RE = re.compile(r"\[([A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)*)_(\d{1,6})\]")


@dataclass(frozen=True)
class RedactionResult:
    """A redacted text, the placeholder → original mapping of the conversation so far, and the
    entities that were replaced (positions in the text *before* redaction)."""

    text: str
    mapping: Mapping[str, str] = field(repr=False)
    entities: tuple[PIIEntity, ...] = ()


def _key(entity: PIIEntity) -> str:
    """What makes two mentions "the same value" for a type."""
    if entity.type in ("PHONE", "CARD", "IBAN", "SSN"):
        return "".join(c for c in entity.text if c.isalnum()).upper()
    if entity.type in ("EMAIL", "IPV6"):
        return entity.text.casefold()
    return entity.text


class Redactor:
    """Replaces PII with placeholders; one instance per conversation keeps placeholders stable.

    Args:
        mode: ``"placeholder"`` (reversible, ``[EMAIL_1]``) or ``"mask"`` (irreversible, ``[EMAIL]``).
        types: entity types to redact (default: all).
    """

    def __init__(
        self, *, mode: Literal["placeholder", "mask"] = "placeholder", types: Iterable[str] | None = None
    ) -> None:
        if mode not in ("placeholder", "mask"):
            raise ValueError(f"mode must be 'placeholder' or 'mask', not {mode!r}")
        self.mode = mode
        self.types: tuple[str, ...] = tuple(types) if types is not None else ENTITY_TYPES
        self._by_value: dict[tuple[str, str], str] = {}
        self._originals: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Redactor(mode={self.mode!r}, placeholders={len(self._originals)})"

    @property
    def mapping(self) -> Mapping[str, str]:
        """Placeholder → original for the whole conversation so far (read-only view)."""
        return MappingProxyType(self._originals)

    def placeholder(self, entity: PIIEntity) -> str:
        """The conversation's placeholder for ``entity`` (the same value keeps the same one)."""
        if self.mode == "mask":
            return f"[{entity.type}]"
        key = (entity.type, _key(entity))
        found = self._by_value.get(key)
        if found is None:
            self._counts[entity.type] = self._counts.get(entity.type, 0) + 1
            found = f"[{entity.type}_{self._counts[entity.type]}]"
            self._by_value[key] = found
            self._originals[found] = entity.text
        return found

    def redact(self, text: str) -> RedactionResult:
        """Replace every entity in ``text``; returns the new text, the mapping and the entities."""
        entities = find_entities(text, self.types)
        pieces: list[str] = []
        last = 0
        for e in entities:
            pieces.append(text[last : e.start])
            pieces.append(self.placeholder(e))
            last = e.end
        pieces.append(text[last:])
        mapping: Mapping[str, str] = MappingProxyType({}) if self.mode == "mask" else self.mapping
        return RedactionResult("".join(pieces), mapping, tuple(entities))

    def restore(self, text: str, *, types: Iterable[str] | None = None) -> str:
        """Put this conversation's originals back into ``text`` (see :func:`restore`)."""
        return restore(text, self._originals, types=types)


def restore(text: str, mapping: Mapping[str, str], *, types: Iterable[str] | None = None) -> str:
    """Replace the placeholders of ``mapping`` found in ``text`` by their originals.

    Args:
        text: typically a model reply written against redacted input.
        mapping: placeholder → original, from :attr:`RedactionResult.mapping`.
        types: restore only these entity types (policy may allow ``EMAIL`` but never ``CARD``);
            other placeholders stay as they are. Unknown placeholders are always left alone.
    """
    allowed = frozenset(types) if types is not None else None

    def _sub(m: re.Match[str]) -> str:
        if allowed is not None and m.group(1) not in allowed:
            return m.group()
        return mapping.get(m.group(), m.group())

    return _PLACEHOLDER_RE.sub(_sub, text) if "[" in text else text
