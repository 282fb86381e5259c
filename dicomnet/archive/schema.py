"""The index's tables, one schema for both back-ends, and its migrations.

The schema is written once, in SQLite's words; PostgreSQL gets the same tables with
its types, and every text column ``COLLATE "C"``: bytewise, as SQLite compares, so
ranges (DA as YYYYMMDD), wild cards and the order of a scan are the same on both.

``schema_version`` holds the version of the tables. On start the writer's connection
creates them (a new index) or upgrades them step by step (:data:`_UPGRADES`), inside
one transaction under the index's write lock, so that several servers starting on one
database at once cannot both upgrade it. An index from before the table existed has
the tables of version 1. A version newer than this dicomnet knows is refused
(:class:`~dicomnet.archive.database.IndexVersionError`): this code could not keep it
consistent.
"""

from __future__ import annotations

from dicomnet.archive.database import Dialect, IndexConnection, IndexVersionError

__all__ = ["SCHEMA_VERSION", "create_or_upgrade", "statements"]

#: The version of the tables this dicomnet writes.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patient (
    patient_id    TEXT PRIMARY KEY,
    patient_name  TEXT,
    birth_date    TEXT,
    sex           TEXT
);
CREATE TABLE IF NOT EXISTS study (
    study_uid           TEXT PRIMARY KEY,
    patient_id          TEXT NOT NULL REFERENCES patient(patient_id),
    study_date          TEXT,
    study_time          TEXT,
    accession_number    TEXT,
    study_id            TEXT,
    description         TEXT,
    referring_physician TEXT
);
CREATE TABLE IF NOT EXISTS series (
    series_uid    TEXT PRIMARY KEY,
    study_uid     TEXT NOT NULL REFERENCES study(study_uid),
    modality      TEXT,
    series_number TEXT,
    description   TEXT
);
CREATE TABLE IF NOT EXISTS instance (
    sop_instance_uid TEXT PRIMARY KEY,
    series_uid       TEXT NOT NULL REFERENCES series(series_uid),
    sop_class_uid    TEXT NOT NULL,
    instance_number  TEXT,
    transfer_syntax  TEXT NOT NULL,
    path             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    source_ae_title  TEXT,
    received_at      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS mpps (
    sop_instance_uid TEXT PRIMARY KEY,
    status           TEXT NOT NULL,
    patient_id       TEXT,
    modality         TEXT,
    dataset          TEXT NOT NULL,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS study_patient ON study(patient_id);
CREATE INDEX IF NOT EXISTS series_study ON series(study_uid);
CREATE INDEX IF NOT EXISTS instance_series ON instance(series_uid);
"""

#: version -> the statements that take the tables there from the version before.
_UPGRADES: dict[int, list[str]] = {}


def _for(dialect: Dialect, sql: str) -> str:
    if dialect.name == "sqlite":
        return sql
    return (sql.replace(" TEXT", ' TEXT COLLATE "C"').replace(" REAL", " DOUBLE PRECISION")
            .replace(" INTEGER", " BIGINT"))


def statements(dialect: Dialect) -> list[str]:
    """The statements that create the current tables (each ``IF NOT EXISTS``)."""
    return [_for(dialect, part.strip()) for part in _SCHEMA.split(";") if part.strip()]


def create_or_upgrade(db: IndexConnection, dialect: Dialect) -> None:
    """Bring the tables of ``db`` to :data:`SCHEMA_VERSION`, inside the caller's write
    transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    found = None if row is None or row[0] is None else int(row[0])
    if found is not None and found > SCHEMA_VERSION:
        raise IndexVersionError(
            f"the index has schema version {found}, newer than this dicomnet's "
            f"{SCHEMA_VERSION}: upgrade dicomnet")
    if found is None:
        for statement in statements(dialect):
            db.execute(statement)
        # Tables from before versions were recorded are version 1's.
        version = 1
        db.execute("INSERT INTO schema_version VALUES (?)", (version,))
    else:
        version = found
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for statement in _UPGRADES[step]:
            db.execute(_for(dialect, statement))
        db.execute("UPDATE schema_version SET version = ?", (step,))
