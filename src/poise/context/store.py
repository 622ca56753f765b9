"""Conversation sessions persisted in SQLite.

One database file holds every session and its messages. Messages are never deleted or
rewritten: a user message whose model call failed is kept with status ``failed`` (so nothing
the user typed is lost and the turn can be retried), a reply cut short is kept as ``partial``,
and summaries of older turns are stored beside the messages they cover. Schema changes go
through ordered, named migrations recorded in the ``_migrations`` table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from poise.dbutil import apply_migrations, transaction
from poise.errors import SessionError

MessageStatus = Literal["pending", "ok", "failed", "partial"]


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, which would break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _m001_initial(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            persona_id TEXT NOT NULL,
            persona_version TEXT NOT NULL,
            created_at REAL NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE messages (
            session_id TEXT NOT NULL REFERENCES sessions(id),
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (session_id, seq)
        );
        CREATE TABLE summaries (
            session_id TEXT NOT NULL REFERENCES sessions(id),
            upto_seq INTEGER NOT NULL,
            content TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (session_id, upto_seq)
        );
        """,
    )


MIGRATIONS: tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...] = (("m001_initial", _m001_initial),)


@dataclass(frozen=True)
class StoredMessage:
    """A message as stored: its position in the session and its status."""

    seq: int
    role: str
    content: str
    status: MessageStatus
    created_at: float
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionInfo:
    id: str
    persona_id: str
    persona_version: str
    created_at: float
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Summary:
    """A model-written summary of every message with ``seq <= upto_seq``."""

    upto_seq: int
    content: str


def default_db_path() -> Path:
    """``$POISE_HOME/sessions.db``, with ``POISE_HOME`` defaulting to ``~/.local/share/poise``."""
    import os

    home = os.environ.get("POISE_HOME") or str(Path.home() / ".local" / "share" / "poise")
    return Path(home) / "sessions.db"


class SQLiteSessionStore:
    """Sessions and messages in one SQLite file (``":memory:"`` for a throwaway store)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = str(path) if path is not None else str(default_db_path())
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise SessionError(f"cannot open session store {self.path}: {exc}") from None

    def _migrate(self) -> None:
        apply_migrations(self._db, self._lock, MIGRATIONS)

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db, self._lock)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # sessions -----------------------------------------------------------------------------
    def create_session(
        self,
        persona_id: str,
        persona_version: str,
        *,
        session_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        sid = session_id or uuid.uuid4().hex
        with self._tx() as db:
            if db.execute("SELECT 1 FROM sessions WHERE id = ?", (sid,)).fetchone():
                raise SessionError(f"session {sid!r} already exists", session_id=sid)
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (sid, persona_id, persona_version, time.time(), json.dumps(metadata or {})),
            )
        return sid

    def get_session(self, session_id: str) -> SessionInfo:
        with self._lock:
            row = self._db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionError(
                f"unknown session {session_id!r}; list sessions with `poise sessions` or start a new one",
                session_id=session_id,
            )
        return SessionInfo(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def has_session(self, session_id: str) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is not None
            )

    def list_sessions(self, limit: int = 50) -> list[SessionInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM sessions ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [SessionInfo(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    # messages -----------------------------------------------------------------------------
    def append(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        status: MessageStatus = "ok",
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Append a message and return its sequence number."""
        self.get_session(session_id)
        with self._tx() as db:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE session_id = ?", (session_id,)
            ).fetchone()
            seq = int(last) + 1
            db.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, seq, role, content, status, time.time(), json.dumps(meta or {})),
            )
        return seq

    def set_status(self, session_id: str, seq: int, status: MessageStatus) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE messages SET status = ? WHERE session_id = ? AND seq = ?", (status, session_id, seq)
            )

    def messages(self, session_id: str, *, include_failed: bool = False) -> list[StoredMessage]:
        """Messages in order; by default only those that are part of the conversation."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, role, content, status, created_at, meta FROM messages "
                "WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        out = [StoredMessage(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]
        if include_failed:
            return out
        return [m for m in out if m.status == "ok"]

    # summaries ----------------------------------------------------------------------------
    def add_summary(self, session_id: str, upto_seq: int, content: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?)",
                (session_id, upto_seq, content, time.time()),
            )

    def latest_summary(self, session_id: str) -> Summary | None:
        with self._lock:
            row = self._db.execute(
                "SELECT upto_seq, content FROM summaries WHERE session_id = ? ORDER BY upto_seq DESC LIMIT 1",
                (session_id,),
            ).fetchone()
        return Summary(row[0], row[1]) if row else None
