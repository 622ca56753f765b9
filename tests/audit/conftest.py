"""Fixtures for the audit trail tests: a file-backed store and raw sqlite access for tampering."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from poise.audit import SQLiteAuditStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteAuditStore]:
    s = SQLiteAuditStore(db_path)
    yield s
    s.close()


@pytest.fixture
def raw(store: SQLiteAuditStore, db_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection behind the store's back with the append-only triggers dropped (autocommit)."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("DROP TRIGGER audit_records_no_update")
    db.execute("DROP TRIGGER audit_records_no_delete")
    yield db
    db.close()
