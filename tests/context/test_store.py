from __future__ import annotations

import sqlite3

import pytest

from poise.context.store import MIGRATIONS, SQLiteSessionStore
from poise.errors import SessionError


def test_sessions_and_messages_persist_across_reopen(tmp_path):
    path = tmp_path / "s.db"
    store = SQLiteSessionStore(path)
    sid = store.create_session("p", "1", metadata={"k": "v"})
    store.append(sid, "user", "hello")
    seq = store.append(sid, "user", "lost?", status="pending")
    store.set_status(sid, seq, "failed")
    store.add_summary(sid, 1, "summary one")
    store.close()

    again = SQLiteSessionStore(path)
    assert again.get_session(sid).metadata == {"k": "v"}
    assert [m.content for m in again.messages(sid)] == ["hello"]
    assert [m.status for m in again.messages(sid, include_failed=True)] == ["ok", "failed"]
    assert again.latest_summary(sid).content == "summary one"


def test_migrations_recorded_once(tmp_path):
    path = tmp_path / "s.db"
    SQLiteSessionStore(path).close()
    SQLiteSessionStore(path).close()
    names = [r[0] for r in sqlite3.connect(path).execute("SELECT name FROM _migrations")]
    assert names == [name for name, _ in MIGRATIONS]


def test_unknown_and_duplicate_sessions_are_errors():
    store = SQLiteSessionStore(":memory:")
    with pytest.raises(SessionError, match="unknown session 'nope'"):
        store.append("nope", "user", "x")
    store.create_session("p", "1", session_id="abc")
    with pytest.raises(SessionError, match="already exists"):
        store.create_session("p", "1", session_id="abc")


def test_damaged_database_is_a_session_error(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not a sqlite database at all" * 100)
    with pytest.raises(SessionError, match="cannot open session store"):
        SQLiteSessionStore(path)
