"""Reading an audit store: what the SQLite and Postgres stores share.

Both keep records as the exact canonical JSON that was hashed, one row per record, in tables of
the same shape; only the SQL placeholder and the column giving insertion order differ.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TextIO

from poise.audit.record import AuditRecord
from poise.audit.store import ExportFormat

PAGE = 500
"""Records fetched per query when iterating a chain."""


def record_from_body(body: str) -> AuditRecord:
    """An :class:`AuditRecord` from the stored canonical JSON."""
    return AuditRecord.from_body(json.loads(body))


class AuditReads:
    """``iter``, ``tail``, ``tenants`` and ``export`` over ``audit_records``/``audit_heads``.

    Subclasses set :attr:`placeholder` (``?`` or ``%s``) and :attr:`insertion_order` (the column
    that orders rows as appended) and implement :meth:`_rows` and :meth:`_export_rows`.
    """

    placeholder: ClassVar[str]
    insertion_order: ClassVar[str]

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    def _export_rows(self, dest: TextIO, where: str, params: Sequence[Any]) -> int:
        raise NotImplementedError

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
