"""PII detection and reversible redaction.

:class:`PIIDetector` finds e-mails, phone numbers, payment cards, IBANs, US SSNs, IP addresses,
API keys and secrets, and street addresses, with checksums and context so that look-alikes (order
ids, ISBNs, tracking numbers, dates, hashes, Luhn-invalid numbers) stay unflagged.
:class:`Redactor` swaps them for ``[EMAIL_1]``-style placeholders and :func:`restore` puts them
back. Person names are not detected (see :mod:`poise.guard.pii.detector`).
"""

from poise.guard.pii.detector import PIIDetector, find_entities
from poise.guard.pii.entity import ENTITY_TYPES, PIIEntity
from poise.guard.pii.redact import RedactionResult, Redactor, restore

__all__ = [
    "ENTITY_TYPES",
    "PIIDetector",
    "PIIEntity",
    "RedactionResult",
    "Redactor",
    "find_entities",
    "restore",
]
