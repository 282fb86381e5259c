"""The index in PostgreSQL (``dicomnet serve --index postgresql://...``): several
servers, on one or several machines, sharing one index and one data folder.

The driver is psycopg 3, through its synchronous API: the archive runs every index call
in its worker threads already (:mod:`~dicomnet.archive.worker`), so both back-ends
share one code path; asyncpg has no synchronous API, and would need a second one.
psycopg is an optional dependency (``pip install dicomnet[postgresql]``), imported only
when a PostgreSQL index is opened.

Writes are serialised across every server on the database by one transaction-level
advisory lock, the counterpart of SQLite's ``BEGIN IMMEDIATE``: the rules of
:mod:`~dicomnet.archive.hierarchy` (read the rows, then move or update them, delete
the empty ones) and the placing of a file under a name no other copy has
(:mod:`~dicomnet.archive.store`) hold as they do on SQLite, whichever node files an
instance. Two nodes storing one instance at once therefore leave one row and one file:
the second sees the first's row once it has the lock. A filing transaction is a few
short statements, so one lock costs little next to the data set's transfer; readers
take no lock at all (each statement sees the last commit).

Statements keep SQLite's ``?`` placeholders and are translated once; the driver's
errors become :class:`~dicomnet.archive.database.IndexDatabaseError`, and a connection
lost with the server is made anew at the next transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from dicomnet.archive.database import (
    POSTGRESQL,
    IndexConnection,
    IndexCursor,
    IndexDatabaseError,
    WouldWait,
)
from dicomnet.archive.schema import create_or_upgrade

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresBackend", "PostgresConnection", "is_postgresql_url", "where"]

#: The advisory lock every writer takes ("dicomnet" in ASCII): one writer at a time.
_WRITE_LOCK = 0x6469636F6D6E6574
#: Seconds to wait for a connection to the server, and for unacknowledged data: a
#: server gone silent fails a store in bounded time rather than hanging the writer.
_CONNECT_TIMEOUT = 10
_TCP_USER_TIMEOUT_MS = 20_000


def is_postgresql_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


def where(url: str) -> str:
    """``host:port/database`` of ``url`` (libpq's environment filling the gaps), for
    messages: never the password."""
    import psycopg.conninfo

    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "an unparsable PostgreSQL URL"
    host = str(info.get("host") or os.environ.get("PGHOST") or "localhost")
    port = str(info.get("port") or os.environ.get("PGPORT") or "5432")
    database = str(info.get("dbname") or os.environ.get("PGDATABASE") or "")
    return f"{host}:{port}/{database}"


_TRANSLATED: dict[str, str] = {}


def _translate(sql: str) -> str:
    """SQLite's ``?`` placeholders, outside quoted literals, as psycopg's ``%s``; every
    literal ``%`` doubled (psycopg reads placeholders inside literals too)."""
    translated = _TRANSLATED.get(sql)
    if translated is None:
        parts = sql.replace("%", "%%").split("'")
        for i in range(0, len(parts), 2):  # the even parts are outside quotes
            parts[i] = parts[i].replace("?", "%s")
        translated = _TRANSLATED[sql] = "'".join(parts)
    return translated


def _value(value: object) -> object:
    # PostgreSQL's text holds no NUL; matching treats NUL as padding (PS3.5 6.2).
    return value.replace("\x00", "") if isinstance(value, str) else value


class PostgresConnection:
    """A psycopg connection in autocommit mode, with the face of a ``sqlite3``
    connection the index uses."""

    dialect = POSTGRESQL

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.connection.info.transaction_status != TransactionStatus.IDLE)

    @property
    def broken(self) -> bool:
        return bool(self.connection.broken or self.connection.closed)

    def execute(self, sql: str, parameters: Any = (), /) -> IndexCursor:
        import psycopg

        try:
            if not parameters:
                # Read as it is (psycopg looks for no placeholder): may hold several
                # statements, sent in one round trip.
                return self.connection.execute(sql)
            return self.connection.execute(_translate(sql),
                                           tuple(_value(p) for p in parameters))
        except psycopg.Error as exc:
            raise IndexDatabaseError(_first_line(exc)) from exc

    def set_progress_handler(self, handler: object, steps: int) -> None:
        """SQLite's interruption of a long statement: PostgreSQL scans are sliced
        (see :mod:`~dicomnet.archive.find_sql`) and stop between slices."""

    def close(self) -> None:
        self.connection.close()


def _first_line(exc: BaseException) -> str:
    # Only the first line: PostgreSQL's DETAIL lines may quote a row's values (patient
    # data), and this text is logged at ERROR.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PostgresBackend:
    """The index in a PostgreSQL database, shared by every server given its URL."""

    dialect = POSTGRESQL
    quick_writes = False

    def __init__(self, url: str, busy_timeout: float) -> None:
        self.url = url
        self.busy_timeout = busy_timeout

    def describe(self) -> str:
        return f"the PostgreSQL index at {where(self.url)}"

    def _open(self) -> PostgresConnection:
        try:
            import psycopg
        except ImportError as exc:
            raise IndexDatabaseError("a PostgreSQL index needs psycopg: pip install "
                                     "'dicomnet[postgresql]'") from exc
        try:
            connection = psycopg.connect(
                self.url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT,
                tcp_user_timeout=_TCP_USER_TIMEOUT_MS, application_name="dicomnet",
                # A lock another server holds is waited for as long as SQLite's busy
                # handler would; then the store is refused (A700), not left hanging.
                options=f"-c lock_timeout={int(self.busy_timeout * 1000)}")
        except psycopg.Error as exc:
            raise IndexDatabaseError(f"cannot connect to {self.describe()}: "
                                     f"{_first_line(exc)}") from exc
        return PostgresConnection(connection)

    def connect(self) -> PostgresConnection:
        db = self._open()
        try:
            with self.write_lock(db, wait=True):
                create_or_upgrade(db, POSTGRESQL)
        except BaseException:
            db.close()
            raise
        return db

    def reader(self) -> PostgresConnection:
        return self._open()

    def reconnect(self, db: PostgresConnection) -> None:
        """Replace a connection the server dropped (the writer's: it lives on)."""
        db.connection.close()
        db.connection = self._open().connection

    @contextmanager
    def write_lock(self, db: IndexConnection, *, wait: bool) -> Iterator[None]:
        assert isinstance(db, PostgresConnection)
        if db.broken:
            self.reconnect(db)
        try:
            if wait:  # BEGIN and the lock in one round trip
                db.execute(f"BEGIN; SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
            else:
                db.execute("BEGIN")
                if not db.execute(f"SELECT pg_try_advisory_xact_lock({_WRITE_LOCK})"
                                  ).fetchone()[0]:
                    raise WouldWait("another server is writing to the index")
            yield
            db.execute("COMMIT")
        except BaseException:
            if not db.broken and db.in_transaction:
                with suppress(IndexDatabaseError):
                    db.execute("ROLLBACK")
            raise

    def upkeep_due(self, commits: int) -> bool:
        return False  # PostgreSQL's own checkpointer and autovacuum do the upkeep

    def upkeep(self, db: IndexConnection) -> None:
        pass
