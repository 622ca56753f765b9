"""The value every PII recognizer produces: one typed entity at a place in the original text."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENTITY_TYPES", "PIIEntity"]

ENTITY_TYPES: tuple[str, ...] = (
    "EMAIL",
    "PHONE",
    "CARD",
    "IBAN",
    "SSN",
    "IPV4",
    "IPV6",
    "API_KEY",
    "JWT",
    "PRIVATE_KEY",
    "SECRET",
    "ADDRESS",
)
"""Every entity type :class:`~poise.guard.pii.PIIDetector` reports (the finding category)."""


@dataclass(frozen=True)
class PIIEntity:
    """One entity: its type (one of :data:`ENTITY_TYPES`), ``[start, end)`` in the original text,
    the matched text, a confidence in 0..1 and the reason it was accepted."""

    type: str
    start: int
    end: int
    text: str
    score: float
    reason: str = ""
