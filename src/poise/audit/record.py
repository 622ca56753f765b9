"""One audit record, and the canonical JSON and hash that chain records together.

Every step of a request (a rail, a policy decision, a model turn, an error) leaves one
:class:`AuditRecord`. Records of one tenant form a hash chain: each record's ``hash`` is the
SHA-256 of its canonical JSON (every field except ``hash`` itself, ``prev_hash`` included), so
changing, removing, inserting or reordering any record breaks the chain from that point on.

A record never holds the text it is about: inputs and outputs are kept as SHA-256 digests
(:func:`sha256_text`) and spans as offsets and labels only.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from poise.guard.types import DetectorResult

__all__ = [
    "GENESIS_HASH",
    "RECORD_VERSION",
    "Action",
    "AuditRecord",
    "AuditSpan",
    "canonical_json",
    "compute_hash",
    "sha256_text",
]

RECORD_VERSION = 1
"""Bumped when the hashed shape of a record changes; stored in every record."""

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first record of every tenant's chain."""

Action = Literal["allow", "log", "redact", "rewrite", "block", "escalate"]


def sha256_text(text: str) -> str:
    """Hex SHA-256 of ``text`` (UTF-8; lone surrogates escaped): what the trail keeps instead."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def compute_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of ``body`` without its ``hash`` field."""
    payload = {k: v for k, v in body.items() if k != "hash"}
    return hashlib.sha256(canonical_json(payload).encode("utf-8", "surrogatepass")).hexdigest()


class AuditSpan(BaseModel):
    """Where in a text something was found: offsets and a label, never the text itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int
    end: int
    label: str


class AuditRecord(BaseModel):
    """One step a request went through, as evidence.

    ``seq``, ``prev_hash`` and ``hash`` are assigned by :meth:`AuditStore.append
    <poise.audit.AuditStore.append>`; leave them at their defaults when building a record.

    Attributes:
        kind: what the step was (``rail``, ``decision``, ``turn``, ``error``, ...).
        name: the rail or detector that acted, when one did.
        action: what the policy did, when the step was a decision.
        input_sha256 / output_sha256: digests of the texts the step saw and produced.
        data: free structured facts; scrubbed of secrets and PII on append.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = RECORD_VERSION
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    tenant: str = "default"
    seq: int = 0
    session_id: str | None = None
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    kind: str
    name: str | None = None
    action: Action | None = None
    score: float | None = None
    categories: tuple[str, ...] = ()
    latency_ms: float | None = None
    persona_id: str | None = None
    persona_version: str | None = None
    policy_id: str | None = None
    policy_version: str | None = None
    reasons: tuple[str, ...] = ()
    spans: tuple[AuditSpan, ...] = ()
    input_sha256: str | None = None
    output_sha256: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = ""
    hash: str = ""

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware (use datetime.now(UTC))")
        return value.astimezone(UTC)

    @field_validator("tenant", "kind")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    def body(self) -> dict[str, Any]:
        """The record as JSON-ready data: what is stored, exported and hashed."""
        return self.model_dump(mode="json")

    def computed_hash(self) -> str:
        """The hash this record's content (``prev_hash`` included) should carry."""
        return compute_hash(self.body())

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> AuditRecord:
        """Rebuild a record from :meth:`body` output (a stored row or an exported line)."""
        return cls.model_validate(dict(body))

    @classmethod
    def for_detection(cls, result: DetectorResult, *, text: str | None = None, **fields: Any) -> AuditRecord:
        """A ``rail`` record for what a detector reported: score, categories, spans, latency.

        Args:
            result: the detector's report.
            text: the inspected text; only its digest is kept.
            **fields: any other record field (``session_id``, ``action``, ``tenant``, ...).
        """
        values: dict[str, Any] = {
            "kind": "rail",
            "name": result.detector,
            "score": result.score,
            "categories": result.categories,
            "latency_ms": result.latency_ms,
            "reasons": tuple(f.reason for f in result.findings if f.reason),
            "spans": tuple(
                AuditSpan(start=s.start, end=s.end, label=s.label) for f in result.findings for s in f.spans
            ),
        }
        if text is not None:
            values["input_sha256"] = sha256_text(text)
        values.update(fields)
        return cls(**values)
