"""What the archive's index needs of a database, so that SQLite and PostgreSQL are two
back-ends of one index rather than ``if postgres:`` scattered through it.

Every index statement is written once, in the SQL both databases speak, with ``?``
placeholders: the PostgreSQL connection (:mod:`~dicomnet.archive.index_postgresql`)
translates them, and wraps its driver's errors in :class:`IndexDatabaseError`. The
few places where the two differ are the :class:`Dialect`'s: SQLite can call Python
(``dn_match``, see :mod:`~dicomnet.archive.sqlmatch`) and slices a scan by rowid;
PostgreSQL cannot, so its conditions keep every row they cannot decide (a superset)
and matching.py's own matchers decide on the rows returned
(:mod:`~dicomnet.archive.find_sql`).

Both back-ends are synchronous: the archive already runs every index call in its
worker threads (:mod:`~dicomnet.archive.worker`), off the event loop, so one code path
serves both (an async-only driver would need a second one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["DATABASE_ERRORS", "POSTGRESQL", "SQLITE", "Dialect", "IndexBackend",
           "IndexConnection", "IndexCursor", "IndexDatabaseError", "IndexVersionError",
           "WouldWait", "dialect_of"]


class WouldWait(Exception):  # noqa: N818 - an outcome, not an error
    """The write lock is held by another connection (``transaction(wait=False)``)."""


class IndexDatabaseError(Exception):
    """The index database failed a statement (PostgreSQL: unreachable, connection
    lost, a lock not granted in time); the SQLite back-end raises ``sqlite3.Error``."""


class IndexVersionError(Exception):
    """The index was made by a newer dicomnet (its schema version is unknown here)."""


#: What an index statement may raise, whichever back-end runs it.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, IndexDatabaseError)


class IndexCursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def close(self) -> None: ...


class IndexConnection(Protocol):
    """The part of ``sqlite3.Connection`` the index uses; the PostgreSQL connection
    has the same."""

    @property
    def in_transaction(self) -> bool: ...
    def execute(self, sql: str, parameters: Any = ..., /) -> IndexCursor: ...
    def set_progress_handler(self, handler: Any, steps: int, /) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """Where the two back-ends' SQL differs."""

    name: str
    #: Conditions may call ``dn_match`` (a Python function inside the database);
    #: without it, they keep the rows only Python can decide.
    python_in_sql: bool
    #: Unnarrowed scans are sliced by rowid (SQLite) or by the table's key (keyset).
    rowid: bool

    def string_agg(self, expression: str, separator: str) -> str:
        """Aggregate text with a separator (an SQL string literal)."""
        if self.name == "sqlite":
            return f"group_concat({expression}, {separator})"
        return f"string_agg({expression}, {separator})"


SQLITE = Dialect("sqlite", python_in_sql=True, rowid=True)
POSTGRESQL = Dialect("postgresql", python_in_sql=False, rowid=False)


def dialect_of(db: IndexConnection) -> Dialect:
    """The dialect of a connection: a PostgreSQL connection says so; a plain
    ``sqlite3`` connection has none."""
    dialect = getattr(db, "dialect", SQLITE)
    assert isinstance(dialect, Dialect)
    return dialect


class IndexBackend(Protocol):
    """One database the index lives in: its connections, write lock and upkeep."""

    dialect: Dialect
    #: A write with ``wait=False`` never waits on anything but a local file: it may run
    #: on the event loop (SQLite). A network database always goes to the writer thread.
    quick_writes: bool

    def describe(self) -> str:
        """Where the index is, for messages (never a password, never a path that
        may hold patient data)."""
        ...

    def connect(self) -> IndexConnection:
        """The writer's connection, its schema created or upgraded."""
        ...

    def reader(self) -> IndexConnection:
        """A new connection for one reader thread at a time."""
        ...

    def write_lock(self, db: IndexConnection, *, wait: bool
                   ) -> AbstractContextManager[None]:
        """A write transaction on ``db``, holding the index's write lock: committed
        when the block ends, rolled back if it raises; :class:`WouldWait` at once when
        ``wait`` is false and another writer holds the lock."""
        ...

    def upkeep_due(self, commits: int) -> bool:
        """Whether upkeep (SQLite: a checkpoint) is due after ``commits`` commits."""
        ...

    def upkeep(self, db: IndexConnection) -> None:
        """Do it, on the writer's connection, outside a transaction."""
        ...
