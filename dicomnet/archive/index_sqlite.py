"""The index in SQLite, the embedded default: ``DIR/index.sqlite`` beside the files.

WAL mode lets readers run beside the one writer, each reader thread on a connection of
its own. Every connection waits at most ``busy_timeout`` seconds for a lock another
process holds (SQLite's busy handler), then fails with ``sqlite3.OperationalError``:
callers run in worker threads, so the wait never holds the event loop, and a store
that cannot be indexed in time is refused rather than left hanging.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dicomnet.archive import sqlmatch
from dicomnet.archive.database import SQLITE, IndexConnection, WouldWait
from dicomnet.archive.schema import create_or_upgrade

__all__ = ["CHECKPOINT_EVERY", "SQLiteBackend"]

#: Commits between two checkpoints: about SQLite's own default (1000 pages), an
#: instance's transaction writing a few pages.
CHECKPOINT_EVERY = 250


class SQLiteBackend:
    """The index in one SQLite file."""

    dialect = SQLITE
    quick_writes = True

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout

    def describe(self) -> str:
        return "the SQLite index"

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                             timeout=self.busy_timeout)
        sqlmatch.register(db)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process crash; only power loss can
        # lose the last transactions (the files themselves are not fsynced either).
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        # Checkpoints (copying the log into the database, with an fsync) are run by
        # after_commit() when due, never by a commit: a quick commit, which may run on
        # the event loop, never waits for one (see Archive.file_in_writer).
        db.execute("PRAGMA wal_autocheckpoint=0")
        with self.write_lock(db, wait=True):
            create_or_upgrade(db, SQLITE)
        return db

    def reader(self) -> sqlite3.Connection:
        """WAL: readers see the last commit and never wait for the writer."""
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                             timeout=self.busy_timeout)
        db.execute("PRAGMA query_only=ON")
        sqlmatch.register(db)
        return db

    @contextmanager
    def write_lock(self, db: IndexConnection, *, wait: bool) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` takes SQLite's write lock at once, waiting at most
        ``busy_timeout`` for another process to let it go."""
        if wait:
            db.execute("BEGIN IMMEDIATE")
        else:
            db.execute("PRAGMA busy_timeout=0")
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise WouldWait(str(exc)) from exc
            finally:
                db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def upkeep_due(self, commits: int) -> bool:
        return commits >= CHECKPOINT_EVERY

    def upkeep(self, db: IndexConnection) -> None:
        # PASSIVE: copies what no reader still needs, waits for nobody.
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
