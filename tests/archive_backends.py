"""Helpers of the archive tests that run on both index back-ends (the fixtures are in
tests/archive/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dicomnet.archive import Archive


@contextmanager
def other_writer(archive: Archive) -> Iterator[None]:
    """Another process writing to the archive's index for the duration of the block: a
    connection of its own holding the index's write lock (SQLite's, or PostgreSQL's
    advisory lock)."""
    backend = archive.index.backend
    db = backend.connect()
    try:
        with backend.write_lock(db, wait=True):
            yield
    finally:
        db.close()


def empty_index(archive: Archive) -> None:
    """Remove every row (a PostgreSQL database outlives the archive objects of one
    test: hypothesis examples start from an empty index)."""
    with archive.index.transaction() as db:
        for table in ("instance", "series", "study", "patient", "mpps"):
            db.execute(f"DELETE FROM {table}")
