"""The eval result cache: one SQLite row per (target, suite, case, config hash).

What is stored is the *transcript* (the replies), not the score, so an interrupted run resumes
where it stopped and a re-scored run (another judge, a fixed scorer) costs no model calls. Rows are
written as each case finishes; failed cases are not stored, so the next run retries them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from poise.eval.targets import Transcript

__all__ = ["ResultCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transcripts (
    target TEXT NOT NULL,
    suite TEXT NOT NULL,
    case_id TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    transcript TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (target, suite, case_id, config_hash)
)
"""


class ResultCache:
    """Transcripts keyed by target, suite, case id and config hash (``":memory:"`` for none)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute(_SCHEMA)

    def get(self, target: str, suite: str, case_id: str, config_hash: str) -> Transcript | None:
        with self._lock:
            row = self._db.execute(
                "SELECT transcript FROM transcripts"
                " WHERE target=? AND suite=? AND case_id=? AND config_hash=?",
                (target, suite, case_id, config_hash),
            ).fetchone()
        return Transcript.from_dict(json.loads(row[0])) if row else None

    def put(self, target: str, suite: str, case_id: str, config_hash: str, transcript: Transcript) -> None:
        data = json.dumps(transcript.to_dict(), ensure_ascii=False)
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO transcripts (target, suite, case_id, config_hash, transcript) "
                "VALUES (?, ?, ?, ?, ?)",
                (target, suite, case_id, config_hash, data),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM transcripts").fetchone()[0])

    def close(self) -> None:
        self._db.close()
