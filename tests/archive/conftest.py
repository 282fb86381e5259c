"""The archive's tests run against both index back-ends: SQLite in the archive folder,
and PostgreSQL (a server of the suite's own, conformance/postgres.py, a fresh database
per test)."""

from __future__ import annotations

import pytest
from postgres import postgres_server, postgres_url  # noqa: F401 - fixtures

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def index_url(request: pytest.FixtureRequest) -> str | None:
    """None for the SQLite index (the default), or a new PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))

