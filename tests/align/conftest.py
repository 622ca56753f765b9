"""Fixtures for the align tests: an in-memory-file audit store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from poise.audit import SQLiteAuditStore


@pytest.fixture
async def audit_store(tmp_path: Path) -> AsyncIterator[SQLiteAuditStore]:
    store = SQLiteAuditStore(tmp_path / "audit.db")
    yield store
    store.close()
