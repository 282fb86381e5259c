"""A PostgreSQL server of the test suite's own: ``initdb`` + ``pg_ctl`` into a temporary
folder, on a free port of 127.0.0.1, never the system's service.

Started once per session (:func:`postgres_server`), each test then creates a fresh
database of its own (:meth:`PostgresServer.new_database`), so tests never see each
other's rows. The binaries come from ``pg_config --bindir``, PATH, or
``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package; ``.ci/run`` installs it
when missing): a missing binary FAILS, it never skips. As root, the server runs as the
``postgres`` user (``initdb`` refuses root) in a folder that user owns.

Benchmarks reuse it the same way::

    with PostgresServer.started(durable=True) as pg:
        url = pg.new_database("bench")   # postgresql://postgres@127.0.0.1:PORT/bench_...
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from dicomnet.testing import free_port, wait_for_port

__all__ = ["PostgresServer", "postgres_binary", "postgres_server", "postgres_url"]

_USER = "postgres"


def postgres_binary(name: str) -> str:
    """The path of PostgreSQL's ``name`` (initdb, pg_ctl, postgres); raises when the
    server is not installed."""
    folders: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with suppress(OSError, subprocess.SubprocessError):
            folders.append(subprocess.run([pg_config, "--bindir"], capture_output=True,
                                          text=True, check=True, timeout=30).stdout.strip())
    folders += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in folders:
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if found is not None:
        return found
    raise FileNotFoundError(f"PostgreSQL's {name} is not installed "
                            "(apt-get install -y postgresql; .ci/run does it)")


class PostgresServer:
    """One server: its folder, port and superuser (trust authentication on 127.0.0.1
    only). :meth:`stop` and :meth:`start` take it down and up again on the same port
    (a database lost and back, for tests)."""

    def __init__(self, root: Path, port: int, *, durable: bool = False) -> None:
        self.folder = root
        self.port = port
        self.durable = durable
        self.user = _USER
        self._names = itertools.count(1)
        self._prefix = ["runuser", "-u", _USER, "--"] if os.geteuid() == 0 else []
        self._data = root / "data"
        self._log = root / "server.log"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def new_database(self, prefix: str = "test") -> str:
        """A new, empty database (UTF-8, C collation); returns its URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\' '
                       "LC_COLLATE 'C' LC_CTYPE 'C'")
        return self.url(name)

    def _initdb(self) -> None:
        subprocess.run([*self._prefix, postgres_binary("initdb"), "-D", str(self._data),
                        "-U", self.user, "-A", "trust", "-E", "UTF8", "--locale=C",
                        "--no-sync"], check=True, capture_output=True, timeout=120,
                       cwd=self.folder)

    def start(self) -> None:
        # Listening on 127.0.0.1 only, its socket in our folder, never the system's
        # (/var/run/postgresql). Not durable, fsync is off: a test server need not
        # survive a crash (a benchmark should ask for durable, as in production).
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.folder} -c max_connections=300")
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        try:
            subprocess.run([*self._prefix, postgres_binary("pg_ctl"), "-D", str(self._data),
                            "-l", str(self._log), "-o", options, "-w", "-t", "60", "start"],
                           check=True, capture_output=True, timeout=90, cwd=self.folder)
        except subprocess.CalledProcessError as exc:
            text = self._log.read_text(errors="replace") if self._log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r}\n{text}") from exc
        wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: every connection is closed."""
        subprocess.run([*self._prefix, postgres_binary("pg_ctl"), "-D", str(self._data),
                        "-m", "fast", "-w", "stop"], capture_output=True, timeout=60,
                       check=False, cwd=self.folder)

    @classmethod
    @contextmanager
    def started(cls, *, durable: bool = False) -> Iterator[PostgresServer]:
        """Start a server for the duration of the block; stopped (``pg_ctl stop -m
        fast``) and its folder removed when the block ends, even on failure.
        ``durable``: PostgreSQL's default fsync and synchronous commits (for
        benchmarks); else off (tests)."""
        root = Path(tempfile.mkdtemp(prefix="dicomnet-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, _USER)
        server = cls(root, free_port(), durable=durable)
        try:
            server._initdb()
            server.start()
            yield server
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, started when a test first asks for it."""
    with PostgresServer.started() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database for this test."""
    return postgres_server.new_database()
