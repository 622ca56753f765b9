"""The audit trail in PostgreSQL: the SQLite store's guarantees, for gateway replicas on many hosts.

* **Append-only.** ``BEFORE UPDATE / DELETE / TRUNCATE`` triggers make PostgreSQL refuse to
  change history. Changing it means disabling or dropping them (a superuser can), and
  :meth:`PostgresAuditStore.verify` reports disabled or missing triggers as well as every
  broken link.
* **One chain per tenant, many writers.** An append takes a transaction-scoped advisory lock per
  tenant it writes (in sorted order, so two batches cannot deadlock) before reading the chain
  head, so any number of processes on any number of hosts extend a chain without forking it.
* **Durable on acknowledgement.** Every session sets ``synchronous_commit = on``: ``append``
  returns only once the commit is flushed to the WAL on disk.
* **Exact bytes.** The record is stored as the canonical JSON text that was hashed (``TEXT``, not
  ``JSONB``, which would reorder keys), so an export verifies without the database.

Uses psycopg 3 synchronously on worker threads, like :class:`~poise.audit.SQLiteAuditStore`.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from poise.audit.record import GENESIS_HASH, AuditRecord
from poise.audit.sqlstore import SQLAuditStore, chain_rows, link_records
from poise.audit.verify import ChainHead, VerifyProblem, VerifyReport, verify_chain
from poise.errors import AuditError, OptionalDependencyError

__all__ = ["TRIGGERS", "PostgresAuditStore", "is_postgres_url", "redact_url"]

TRIGGERS = ("audit_records_no_update", "audit_records_no_delete", "audit_records_no_truncate")
"""The triggers that make the records table append-only."""

_MIGRATE_LOCK = 0x706F697365  # "poise": serialises schema migrations across processes

_M001 = [
    """CREATE TABLE audit_records (
        tenant TEXT NOT NULL,
        seq BIGINT NOT NULL,
        id TEXT NOT NULL UNIQUE,
        ts DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        session_id TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        body TEXT NOT NULL,
        pos BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (tenant, seq)
    )""",
    "CREATE INDEX audit_records_ts ON audit_records (tenant, ts)",
    "CREATE INDEX audit_records_session ON audit_records (session_id)",
    "CREATE INDEX audit_records_pos ON audit_records (pos)",
    "CREATE TABLE audit_heads (tenant TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
    """CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_records is append-only: % is not allowed', TG_OP; END $$""",
    """CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
       FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()""",
    """CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
       FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()""",
    """CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
       FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only()""",
]

MIGRATIONS: tuple[tuple[str, list[str]], ...] = (("m001_initial", _M001),)


def is_postgres_url(value: object) -> bool:
    """Whether ``value`` names a PostgreSQL database (``postgresql://…`` or ``postgres://…``)."""
    return isinstance(value, str) and value.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise OptionalDependencyError("psycopg", "server") from None
    return psycopg


class PostgresAuditStore(SQLAuditStore):
    """An :class:`~poise.audit.AuditStore` in a PostgreSQL database.

    Args:
        url: ``postgresql://user@host:port/dbname`` (libpq also reads ``PGPASSWORD`` and
            ``~/.pgpass``, which keep the password out of config files).
        create: create the tables when missing; ``False`` raises :class:`~poise.errors.AuditError`
            instead (the CLI uses that so a wrong ``--db`` is not an empty, "valid" trail).
        connect_timeout_s: how long to wait for the server.
    """

    placeholder = "%s"
    insertion_order = "pos"

    def __init__(self, url: str, *, create: bool = True, connect_timeout_s: float = 10.0) -> None:
        self._pg = _psycopg()
        self.url = url
        self.path = redact_url(url)  # what messages show, like SQLiteAuditStore.path
        self._timeout = connect_timeout_s
        self._lock = threading.Lock()
        try:
            self._db = self._connect()
            if not create and self._missing_tables(self._db):
                self._db.close()
                raise AuditError(f"no audit trail in {self.path} (no audit_records table)")
            self._migrate()
        except self._pg.Error as exc:
            raise AuditError(f"cannot open audit store {self.path}: {_first_line(exc)}") from None

    def _connect(self) -> Any:
        db = self._pg.connect(self.url, autocommit=True, connect_timeout=max(1, round(self._timeout)))
        db.execute("SET synchronous_commit = on")
        return db

    @staticmethod
    def _missing_tables(db: Any) -> bool:
        row = db.execute("SELECT to_regclass('audit_records') IS NULL").fetchone()
        return bool(row[0])

    def _migrate(self) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
            self._db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, at TIMESTAMPTZ)")
            done = {r[0] for r in self._db.execute("SELECT name FROM _migrations")}
            for name, statements in MIGRATIONS:
                if name in done:
                    continue
                for statement in statements:
                    self._db.execute(statement)
                self._db.execute("INSERT INTO _migrations VALUES (%s, now())", (name,))

    @contextmanager
    def _reader(self, *, snapshot: bool = False) -> Iterator[Any]:
        """Its own connection, read-only; ``snapshot``: one consistent view for every query."""
        db = self._connect()
        try:
            if snapshot:
                db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield db
        finally:
            db.close()

    # writing --------------------------------------------------------------------------------
    def append_sync(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """:meth:`append` for synchronous callers (a thread, a CLI)."""
        try:
            with self._lock, self._db.transaction():
                db = self._db
                for tenant in sorted({r.tenant for r in records}):
                    db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"poise:{tenant}",))
                rows, heads, stored = link_records(records, lambda tenant: self._head(db, tenant))
                with db.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO audit_records (tenant, seq, id, ts, kind, session_id, prev_hash, hash, "
                        "body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        rows,
                    )
                    cur.executemany(
                        "INSERT INTO audit_heads VALUES (%s, %s, %s) "
                        "ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                        [(t, h.seq, h.hash) for t, h in heads.items()],
                    )
        except self._pg.IntegrityError as exc:
            raise AuditError(f"cannot append to {self.path}: {_first_line(exc)}") from None
        except self._pg.Error as exc:
            raise AuditError(f"audit store {self.path} failed: {_first_line(exc)}") from None
        return stored

    # reading --------------------------------------------------------------------------------
    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            with self._reader() as db:
                return list(db.execute(sql, params).fetchall())
        except self._pg.Error as exc:
            raise AuditError(f"cannot read audit store {self.path}: {_first_line(exc)}") from None

    def _export_rows(self, dest: TextIO, where: str, params: Sequence[Any]) -> int:
        count = 0
        try:
            with self._reader(snapshot=True) as db, db.cursor(name="poise_export") as cur:
                cur.execute(f"SELECT body FROM audit_records {where} ORDER BY tenant, seq", params)
                for (body,) in cur:
                    dest.write(body + "\n")
                    count += 1
        except self._pg.Error as exc:
            raise AuditError(f"cannot read audit store {self.path}: {_first_line(exc)}") from None
        return count

    # verifying ------------------------------------------------------------------------------
    async def verify(self, tenant: str | None = None) -> VerifyReport:
        """Check every hash, link and ``seq`` of one tenant's chain (or all), and the triggers."""
        return await asyncio.to_thread(self._verify_sync, tenant)

    def _verify_sync(self, tenant: str | None) -> VerifyReport:
        try:
            with self._reader(snapshot=True) as db:  # heads and records from one snapshot
                if tenant is not None:
                    tenants = [tenant]
                else:
                    tenants = [r[0] for r in db.execute(
                        "SELECT tenant FROM audit_records UNION SELECT tenant FROM audit_heads ORDER BY 1"
                    )]  # fmt: skip
                summaries, problems = [], []
                for name in tenants:
                    row = db.execute(
                        "SELECT seq, hash FROM audit_heads WHERE tenant = %s", (name,)
                    ).fetchone()
                    head = ChainHead(row[0], row[1]) if row else ChainHead(0, GENESIS_HASH)
                    with db.cursor(name="poise_verify") as cur:
                        cur.execute(
                            "SELECT seq, body, hash FROM audit_records WHERE tenant = %s ORDER BY seq",
                            (name,),
                        )
                        check = verify_chain(name, chain_rows(cur), head=head)
                    summaries.append(check.summary)
                    if check.problem is not None:
                        problems.append(check.problem)
                enabled = {
                    r[0]
                    for r in db.execute(
                        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_records'::regclass "
                        "AND NOT tgisinternal AND tgenabled <> 'D'"
                    )
                }
        except self._pg.Error as exc:
            raise AuditError(f"cannot read audit store {self.path}: {_first_line(exc)}") from None
        missing = [t for t in TRIGGERS if t not in enabled]
        if missing:
            problems.append(
                VerifyProblem("triggers", f"append-only triggers missing or disabled: {', '.join(missing)}")
            )
        return VerifyReport(tuple(summaries), tuple(problems))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
