"""The :class:`AuditStore` protocol: where audit records go, and how they are proven intact.

A store is append-only. :meth:`~AuditStore.append` scrubs each record, gives it the next ``seq``
of its tenant's chain, links it to the previous record's hash and hashes it, all atomically;
once it returns, the records are durable. Nothing in the protocol edits or deletes a record.
:class:`~poise.audit.SQLiteAuditStore` is the built-in implementation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, TextIO, runtime_checkable

from poise.audit.record import AuditRecord
from poise.audit.verify import VerifyReport

__all__ = ["AuditStore", "ExportFormat"]

ExportFormat = Literal["jsonl"]


@runtime_checkable
class AuditStore(Protocol):
    """An append-only, hash-chained store of :class:`AuditRecord` values (one chain per tenant)."""

    async def append(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """Scrub, number, chain and durably store ``records``, in order, as one transaction.

        Returns:
            The records as stored, with ``seq``, ``prev_hash`` and ``hash`` filled in.
        """
        ...

    def iter(
        self, tenant: str = "default", *, since: datetime | None = None, after_seq: int = 0
    ) -> AsyncIterator[AuditRecord]:
        """One tenant's records in chain order, optionally from a time or after a ``seq``."""
        ...

    async def verify(self, tenant: str | None = None) -> VerifyReport:
        """Recompute every hash and link of one tenant's chain (or of all tenants)."""
        ...

    async def tail(self, n: int = 20, *, tenant: str | None = None) -> list[AuditRecord]:
        """The ``n`` most recently appended records, oldest first."""
        ...

    async def export(
        self, dest: Path | str | TextIO, *, tenant: str | None = None, format: ExportFormat = "jsonl"
    ) -> int:
        """Write records, hashes included, so they can be verified elsewhere; returns the count."""
        ...

    async def aclose(self) -> None:
        """Release the store's resources."""
        ...
