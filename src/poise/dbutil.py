"""SQLite helpers shared by the session store and the audit store: transactions and migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

Migration = tuple[str, Callable[[sqlite3.Connection], None]]


@contextmanager
def transaction(
    db: sqlite3.Connection, lock: threading.RLock | threading.Lock
) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` under ``lock``; any exception rolls back and propagates.

    The connection must be in autocommit mode (``isolation_level=None``).
    """
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def apply_migrations(
    db: sqlite3.Connection, lock: threading.RLock | threading.Lock, migrations: Sequence[Migration]
) -> None:
    """Apply, in order and in one transaction, each named migration not yet recorded in ``_migrations``."""
    with transaction(db, lock):
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
        for name, fn in migrations:
            if name not in done:
                fn(db)
                db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
