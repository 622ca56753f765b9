"""The SQLite cache that makes ``poise align measure`` resumable.

Replies are keyed by ``(model, prompt id, loop, config)``: ``loop`` is ``off`` or ``on``, and
``config`` a hash of everything that decides the reply — the generation settings for ``off``; for
``on`` also the constitution as used (principles, loop settings) and the critic. A changed prompt
text under the same id is a miss. LLM judgements are cached by ``(judge, hash of prompt and
reply)``. Each finished reply is committed at once, so an interrupted run loses at most the
requests in flight, and a rerun with the same settings picks up where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, cast

from poise.align.measure_judge import XSTestClass
from poise.dbutil import Migration, apply_migrations, transaction
from poise.errors import PoiseError

__all__ = ["CachedReply", "MeasureCache", "MeasureCacheError", "default_cache_path", "digest"]

LoopState = Literal["off", "on"]
Outcome = Literal["reply", "blocked"]


class MeasureCacheError(PoiseError):
    """The measurement cache cannot be opened or written (``.path``)."""

    def __init__(self, message: str, *, path: Path | None) -> None:
        self.path = path
        super().__init__(message)


def default_cache_path() -> Path:
    """``$POISE_HOME/align-measure.db``, with ``POISE_HOME`` defaulting to ``~/.local/share/poise``."""
    home = os.environ.get("POISE_HOME") or str(Path.home() / ".local" / "share" / "poise")
    return Path(home) / "align-measure.db"


def digest(*parts: str) -> str:
    """A short, stable hash of ``parts`` (NUL-separated)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class CachedReply:
    """One reply as measured: its text, what it cost and how the loop ended.

    Attributes:
        latency_ms: the draft's generation time (``off``) or the time the loop *added* (``on``).
        calls: model calls: 1 for the draft (``off``); the loop's extra calls (``on``).
        outcome: ``reply``, or ``blocked`` when the loop failed closed on an unreadable critique
            (the user would get no reply).
        stopped: why the loop stopped (``on``); empty for ``off``.
    """

    text: str
    latency_ms: float
    calls: int
    outcome: Outcome = "reply"
    stopped: str = ""
    changed: bool = False
    error: str | None = None


def _m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE replies (model TEXT NOT NULL, prompt_id TEXT NOT NULL, loop TEXT NOT NULL, "
        "config TEXT NOT NULL, prompt_sha TEXT NOT NULL, text TEXT NOT NULL, latency_ms REAL NOT NULL, "
        "calls INTEGER NOT NULL, outcome TEXT NOT NULL, stopped TEXT NOT NULL, changed INTEGER NOT NULL, "
        "error TEXT, created_at REAL NOT NULL, PRIMARY KEY (model, prompt_id, loop, config))"
    )
    db.execute(
        "CREATE TABLE judgements (judge TEXT NOT NULL, key TEXT NOT NULL, verdict TEXT, label TEXT, "
        "raw TEXT NOT NULL, error TEXT, created_at REAL NOT NULL, PRIMARY KEY (judge, key))"
    )


MIGRATIONS: tuple[Migration, ...] = (("m001_initial", _m001_initial),)


class MeasureCache:
    """Replies and judgements of ``poise align measure`` in one SQLite file.

    Args:
        path: the database file (created with its folder); ``":memory:"`` for a throwaway cache.

    Raises:
        MeasureCacheError: the file cannot be opened or is not a measurement cache.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = None if str(path) == ":memory:" else Path(path)
        self._lock = threading.RLock()
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            apply_migrations(self._db, self._lock, MIGRATIONS)
        except (OSError, sqlite3.Error) as exc:
            raise MeasureCacheError(
                f"cannot open the measurement cache {path}: {exc}; pass another file with --cache "
                "or delete this one",
                path=self.path,
            ) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MeasureCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def get_reply(
        self, model: str, prompt_id: str, loop: LoopState, config: str, prompt: str
    ) -> CachedReply | None:
        """The cached reply, or ``None`` (also when the prompt text under this id changed)."""
        with self._lock:
            row = self._db.execute(
                "SELECT prompt_sha, text, latency_ms, calls, outcome, stopped, changed, error FROM replies "
                "WHERE model = ? AND prompt_id = ? AND loop = ? AND config = ?",
                (model, prompt_id, loop, config),
            ).fetchone()
        if row is None or row[0] != digest(prompt):
            return None
        return CachedReply(row[1], row[2], row[3], cast(Outcome, row[4]), row[5], bool(row[6]), row[7])

    def put_reply(
        self, model: str, prompt_id: str, loop: LoopState, config: str, prompt: str, reply: CachedReply
    ) -> None:
        self._write(
            "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                model,
                prompt_id,
                loop,
                config,
                digest(prompt),
                reply.text,
                reply.latency_ms,
                reply.calls,
                reply.outcome,
                reply.stopped,
                int(reply.changed),
                reply.error,
                time.time(),
            ),
        )

    def get_judgement(
        self, judge: str, prompt: str, reply: str
    ) -> tuple[str | None, XSTestClass | None, str, str | None] | None:
        """``(verdict, label, raw, error)`` of a cached judgement, or ``None``."""
        with self._lock:
            row = self._db.execute(
                "SELECT verdict, label, raw, error FROM judgements WHERE judge = ? AND key = ?",
                (judge, digest(prompt, reply)),
            ).fetchone()
        if row is None:
            return None
        return row[0], cast("XSTestClass | None", row[1]), row[2], row[3]

    def put_judgement(
        self,
        judge: str,
        prompt: str,
        reply: str,
        verdict: str | None,
        label: str | None,
        raw: str,
        error: str | None,
    ) -> None:
        self._write(
            "INSERT OR REPLACE INTO judgements VALUES (?, ?, ?, ?, ?, ?, ?)",
            (judge, digest(prompt, reply), verdict, label, raw, error, time.time()),
        )

    def count_replies(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def _write(self, sql: str, values: tuple[object, ...]) -> None:
        try:
            with transaction(self._db, self._lock) as db:
                db.execute(sql, values)
        except sqlite3.Error as exc:
            raise MeasureCacheError(f"cannot write the measurement cache: {exc}", path=self.path) from None
