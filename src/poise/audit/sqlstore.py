"""What the SQLite and Postgres audit stores share: chaining records, and reading them back.

Both keep records as the exact canonical JSON that was hashed, one row per record, in tables of
the same shape; only the SQL placeholder, the column giving insertion order, transactions and
locking differ.
"""

from __future__ import annotations

import asyncio
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TextIO

from poise.audit.record import GENESIS_HASH, AuditRecord, canonical_json
from poise.audit.scrub import scrub_record
from poise.audit.store import ExportFormat
from poise.audit.verify import ChainHead, ChainRow

PAGE = 500
"""Records fetched per query when iterating a chain."""


def record_from_body(body: str) -> AuditRecord:
    """An :class:`AuditRecord` from the stored canonical JSON."""
    return AuditRecord.from_body(json.loads(body))


Row = tuple[Any, ...]
"""One ``audit_records`` row: tenant, seq, id, ts, kind, session_id, prev_hash, hash, body."""


def link_records(
    records: Sequence[AuditRecord], head_of: Callable[[str], ChainHead]
) -> tuple[list[Row], dict[str, ChainHead], list[AuditRecord]]:
    """Scrub, number and hash-chain ``records`` after each tenant's current head.

    Returns the rows to insert, the new head per tenant, and the stored records.
    """
    heads: dict[str, ChainHead] = {}
    rows: list[Row] = []
    stored: list[AuditRecord] = []
    for rec in (scrub_record(r) for r in records):
        head = heads.get(rec.tenant) or head_of(rec.tenant)
        linked = rec.model_copy(update={"seq": head.seq + 1, "prev_hash": head.hash, "hash": ""})
        body = linked.body()
        final = linked.model_copy(update={"hash": linked.computed_hash()})
        body["hash"] = final.hash
        rows.append((
            final.tenant, final.seq, final.id, final.timestamp.timestamp(), final.kind,
            final.session_id, final.prev_hash, final.hash, canonical_json(body),
        ))  # fmt: skip
        heads[rec.tenant] = ChainHead(final.seq, final.hash)
        stored.append(final)
    return rows, heads, stored


class SQLAuditStore(ABC):
    """The shared half of a SQL audit store: ``append``, ``iter``, ``tail``, ``tenants``,
    ``export`` and closing, over ``audit_records``/``audit_heads``.

    Subclasses set :attr:`placeholder` (``?`` or ``%s``) and :attr:`insertion_order` (the column
    that orders rows as appended), keep their connection in ``_db`` under ``_lock``, and implement
    :meth:`append_sync`, :meth:`_rows` and :meth:`_export_rows`.
    """

    placeholder: ClassVar[str]
    insertion_order: ClassVar[str]
    _db: Any
    _lock: threading.Lock | threading.RLock

    @abstractmethod
    def append_sync(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """:meth:`append` for synchronous callers (a thread, a CLI)."""

    @abstractmethod
    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """Run a read query on a read-only connection."""

    @abstractmethod
    def _export_rows(self, dest: TextIO, where: str, params: Sequence[Any]) -> int:
        """Write every record body matching ``where`` to ``dest``, one per line; return the count."""

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    async def aclose(self) -> None:
        """Close the database connection (async form, for the protocol)."""
        await asyncio.to_thread(self.close)

    async def append(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """Scrub, number, chain and durably store ``records`` as one transaction (see the protocol)."""
        if not records:
            return []
        return await asyncio.to_thread(self.append_sync, records)

    def _head(self, db: Any, tenant: str) -> ChainHead:
        """The tenant's last record as a chain head (genesis when it has none)."""
        row = db.execute(
            self._sql("SELECT seq, hash FROM audit_records WHERE tenant = ? ORDER BY seq DESC LIMIT 1"),
            (tenant,),
        ).fetchone()
        return ChainHead(row[0], row[1]) if row else ChainHead(0, GENESIS_HASH)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.placeholder)

    async def iter(
        self, tenant: str = "default", *, since: datetime | None = None, after_seq: int = 0
    ) -> AsyncIterator[AuditRecord]:
        """One tenant's records in chain order, from ``since`` (inclusive) and after ``after_seq``."""
        floor = since.timestamp() if since is not None else float("-inf")
        last = after_seq
        sql = self._sql(
            "SELECT seq, body FROM audit_records WHERE tenant = ? AND seq > ? AND ts >= ? "
            "ORDER BY seq LIMIT ?"
        )
        while True:
            rows = await asyncio.to_thread(self._rows, sql, (tenant, last, floor, PAGE))
            for seq, body in rows:
                last = seq
                yield record_from_body(body)
            if len(rows) < PAGE:
                return

    async def tail(self, n: int = 20, *, tenant: str | None = None) -> list[AuditRecord]:
        """The ``n`` most recently appended records (of one tenant or all), oldest first."""
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        sql = self._sql(
            f"SELECT body FROM audit_records {where} ORDER BY {self.insertion_order} DESC LIMIT ?"
        )
        rows = await asyncio.to_thread(self._rows, sql, (*params, n))
        return [record_from_body(body) for (body,) in reversed(rows)]

    async def tenants(self) -> list[str]:
        """Every tenant with a chain (or a recorded head), sorted."""
        rows = await asyncio.to_thread(
            self._rows, "SELECT tenant FROM audit_records UNION SELECT tenant FROM audit_heads ORDER BY 1", ()
        )
        return [t for (t,) in rows]

    async def export(
        self, dest: Path | str | TextIO, *, tenant: str | None = None, format: ExportFormat = "jsonl"
    ) -> int:
        """Write one JSON record per line (hashes included), tenant by tenant in chain order.

        The lines are exactly what was hashed, so :func:`~poise.audit.verify_jsonl` can check an
        export without the database.
        """
        if format != "jsonl":
            raise ValueError(f"unknown export format {format!r}; supported: jsonl")
        return await asyncio.to_thread(self._export_sync, dest, tenant)

    def _export_sync(self, dest: Path | str | TextIO, tenant: str | None) -> int:
        if isinstance(dest, Path | str):
            with open(dest, "w", encoding="utf-8", newline="\n") as fh:
                return self._export_sync(fh, tenant)
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        return self._export_rows(dest, self._sql(where), params)


def chain_rows(rows: Iterable[Sequence[Any]]) -> Iterator[ChainRow]:
    """``(seq, body, hash)`` rows as :class:`ChainRow` s; a body that is not JSON becomes ``None``
    (verification then reports the record as altered)."""
    for seq, body, digest in rows:
        try:
            data = json.loads(body)
        except (TypeError, ValueError):
            data = None
        yield ChainRow(seq, data, digest)
