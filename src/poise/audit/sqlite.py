"""The audit trail in one SQLite file: append-only, hash-chained, durable on acknowledgement.

* **Append-only.** Triggers make SQLite itself refuse ``UPDATE`` and ``DELETE`` on the records
  table. Changing history means deliberately dropping them, and :meth:`SQLiteAuditStore.verify`
  reports missing triggers as well as every broken link.
* **Durable.** WAL with ``synchronous=FULL``: the WAL is fsynced on every commit, so a record
  :meth:`~SQLiteAuditStore.append` has acknowledged survives a power cut. ``NORMAL`` would be
  faster but may lose the last commits on power loss, which an audit trail must not do. Pass
  several records to one ``append`` to pay for one fsync.
* **Consistent under concurrency.** Appends take SQLite's write lock (``BEGIN IMMEDIATE``) before
  reading the chain head, so tasks, threads and even other processes never fork a chain. Reads
  use their own connection, so ``verify`` and ``export`` of a large trail do not stall appends.

Schema changes go through ordered, named migrations recorded in ``_migrations``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TextIO

from poise.audit.record import GENESIS_HASH, AuditRecord
from poise.audit.sqlstore import SQLAuditStore, chain_rows, link_records
from poise.audit.verify import ChainHead, VerifyProblem, VerifyReport, verify_chain
from poise.dbutil import apply_migrations, transaction
from poise.errors import AuditError

__all__ = ["TRIGGERS", "SQLiteAuditStore", "default_audit_path"]

TRIGGERS = ("audit_records_no_update", "audit_records_no_delete")
"""The triggers that make the records table append-only."""


def _m001_initial(db: sqlite3.Connection) -> None:
    statements = [
        """CREATE TABLE audit_records (
            tenant TEXT NOT NULL,
            seq INTEGER NOT NULL,
            id TEXT NOT NULL UNIQUE,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            session_id TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (tenant, seq)
        )""",
        "CREATE INDEX audit_records_ts ON audit_records (tenant, ts)",
        "CREATE INDEX audit_records_session ON audit_records (session_id)",
        "CREATE TABLE audit_heads (tenant TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL)",
        """CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
           BEGIN SELECT RAISE(ABORT, 'audit_records is append-only: UPDATE is not allowed'); END""",
        """CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
           BEGIN SELECT RAISE(ABORT, 'audit_records is append-only: DELETE is not allowed'); END""",
    ]
    for statement in statements:
        db.execute(statement)


MIGRATIONS: tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...] = (("m001_initial", _m001_initial),)


def default_audit_path() -> Path:
    """``$POISE_HOME/audit.db``, with ``POISE_HOME`` defaulting to ``~/.local/share/poise``."""
    home = os.environ.get("POISE_HOME") or str(Path.home() / ".local" / "share" / "poise")
    return Path(home) / "audit.db"


class SQLiteAuditStore(SQLAuditStore):
    """An :class:`~poise.audit.AuditStore` in one SQLite file (``":memory:"`` for a throwaway one).

    Args:
        path: the database file (default :func:`default_audit_path`).
        create: create the file when missing; ``False`` raises :class:`~poise.errors.AuditError`
            instead (the CLI uses that so a typo in ``--db`` is not an empty, "valid" trail).
    """

    placeholder = "?"
    insertion_order = "rowid"

    def __init__(self, path: Path | str | None = None, *, create: bool = True) -> None:
        self.path = str(path) if path is not None else str(default_audit_path())
        self._memory = self.path == ":memory:"
        if not self._memory:
            if not create and not Path(self.path).is_file():
                raise AuditError(f"no audit database at {self.path}", path=self.path)
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = self._connect()
            if not self._memory:
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"cannot open audit store {self.path}: {exc}", path=self.path) from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        db.execute("PRAGMA busy_timeout = 10000")
        return db

    def _migrate(self) -> None:
        apply_migrations(self._db, self._lock, MIGRATIONS)

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db, self._lock)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads: its own (a WAL snapshot) for a file, the shared one in memory."""
        if self._memory:
            with self._lock:
                yield self._db
            return
        db = self._connect()
        try:
            db.execute("PRAGMA query_only = ON")
            yield db
        finally:
            db.close()

    # writing --------------------------------------------------------------------------------
    def append_sync(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """:meth:`append` for synchronous callers (a thread, a CLI)."""
        try:
            with self._tx() as db:
                rows, heads, stored = link_records(records, lambda tenant: self._head(db, tenant))
                db.executemany("INSERT INTO audit_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                db.executemany(
                    "INSERT INTO audit_heads VALUES (?, ?, ?) "
                    "ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    [(t, h.seq, h.hash) for t, h in heads.items()],
                )
        except sqlite3.IntegrityError as exc:
            raise AuditError(f"cannot append to {self.path}: {exc}", path=self.path) from None
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"audit store {self.path} failed: {exc}", path=self.path) from None
        return stored

    # reading --------------------------------------------------------------------------------
    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            with self._reader() as db:
                return db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"cannot read audit store {self.path}: {exc}", path=self.path) from None

    def _export_rows(self, dest: TextIO, where: str, params: Sequence[Any]) -> int:
        count = 0
        with self._reader() as db:
            for (body,) in db.execute(f"SELECT body FROM audit_records {where} ORDER BY tenant, seq", params):
                dest.write(body + "\n")
                count += 1
        return count

    # verifying ------------------------------------------------------------------------------
    async def verify(self, tenant: str | None = None) -> VerifyReport:
        """Check every hash, link and ``seq`` of one tenant's chain (or all), and the triggers."""
        return await asyncio.to_thread(self._verify_sync, tenant)

    def _verify_sync(self, tenant: str | None) -> VerifyReport:
        try:
            with self._reader() as db:
                if tenant is not None:
                    tenants = [tenant]
                else:
                    tenants = [r[0] for r in db.execute(
                        "SELECT tenant FROM audit_records UNION SELECT tenant FROM audit_heads ORDER BY 1"
                    )]  # fmt: skip
                summaries, problems = [], []
                for name in tenants:
                    row = db.execute("SELECT seq, hash FROM audit_heads WHERE tenant = ?", (name,)).fetchone()
                    head = ChainHead(row[0], row[1]) if row else ChainHead(0, GENESIS_HASH)
                    cursor = db.execute(
                        "SELECT seq, body, hash FROM audit_records WHERE tenant = ? ORDER BY seq", (name,)
                    )
                    check = verify_chain(name, chain_rows(cursor), head=head)
                    summaries.append(check.summary)
                    if check.problem is not None:
                        problems.append(check.problem)
                present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"cannot read audit store {self.path}: {exc}", path=self.path) from None
        missing = [t for t in TRIGGERS if t not in present]
        if missing:
            problems.append(
                VerifyProblem("triggers", f"append-only triggers missing: {', '.join(missing)} (dropped?)")
            )
        return VerifyReport(tuple(summaries), tuple(problems))


def _loads(body: str) -> Any:
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return None
