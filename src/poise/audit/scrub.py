"""Keep raw secrets, personal data and raw texts out of the audit trail.

An audit trail is kept for years and read by people who must not see customers' data, so
every record passes through :func:`scrub_record` before it is hashed and stored:

* free text (``reasons`` and every string inside ``data``) goes through the PII detector in
  irreversible mask mode (``jane@example.com`` → ``[EMAIL]``, API keys, cards, IBANs, ...), then
  through generic credential masks (``password=…``, ``Bearer …``, ``https://user:pass@host``);
* a ``data`` entry whose *key* names a credential (``password``, ``api_key``, ``authorization``,
  ...) is replaced by ``[REDACTED]`` whatever its value;
* a ``data`` entry whose key names raw text (``text``, ``input``, ``prompt``, ``messages``, ...)
  is replaced by ``sha256:<hex>`` of its content, so a trail can prove *which* text was seen
  without holding it.

Scrubbing is deliberately over-eager: a masked harmless string costs little, a leaked card
number in an immutable log cannot be taken back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from poise.audit.record import AuditRecord, canonical_json, sha256_text
from poise.guard.pii import Redactor

__all__ = ["REDACTED", "scrub_data", "scrub_record", "scrub_text"]

REDACTED = "[REDACTED]"

# Mask mode keeps no mapping, so one instance is stateless and safe to share between threads.
_PII = Redactor(mode="mask")

_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token"
    r"|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth(?:orization)?|session[_-]?key|cookie"
    r"|credentials?"
)
_ASSIGNMENT = re.compile(
    rf"(?i)\b((?:[\w-]*[_-])?(?:{_SECRET_WORDS}))(\s*[:=]\s*|\s+is\s+)([\"']?)"
    r"(?!\[[A-Z_]+\])(?!(?:Bearer|Basic|Token)\s)([^\s\"',;&]+)"
)
_AUTH_HEADER = re.compile(r"(?i)\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=\-]{6,}")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@")
_SECRET_KEY = re.compile(rf"(?i)^(?:[\w-]*[_-])?(?:{_SECRET_WORDS})$")
_RAW_TEXT_KEY = re.compile(
    r"(?i)^(?:text|input|output|prompt|completion|content|message|messages|response|reply|query|body)$"
)


def scrub_text(text: str) -> str:
    """Mask PII and credentials in one free-text string."""
    if not text:
        return text
    text = _PII.redact(text).text
    text = _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)
    text = _AUTH_HEADER.sub(rf"\1 {REDACTED}", text)
    return _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else canonical_json(value)
    return f"sha256:{sha256_text(text)}"


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return scrub_data(value)
    if isinstance(value, list | tuple):
        return [_scrub_value(v) for v in value]
    return value


def scrub_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Scrub a ``data`` mapping recursively (see the module docstring for the rules)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key)
        if _SECRET_KEY.match(name):
            out[name] = REDACTED
        elif _RAW_TEXT_KEY.match(name) and value is not None and not _is_digest(value):
            out[name] = _digest(value)
        else:
            out[name] = _scrub_value(value)
    return out


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", value) is not None


def scrub_record(record: AuditRecord) -> AuditRecord:
    """A copy of ``record`` with its reasons and data scrubbed; identifiers are left as they are."""
    return record.model_copy(
        update={
            "reasons": tuple(scrub_text(r) for r in record.reasons),
            "data": scrub_data(record.data),
        }
    )
