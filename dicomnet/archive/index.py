"""The archive's index: one row per patient, study, series and instance.

The index is the archive's memory of what it holds; the files are the truth for the
data. By default it lives in the archive folder (``index.sqlite``,
:mod:`~dicomnet.archive.index_sqlite`); given a ``postgresql://`` URL it lives in
PostgreSQL (:mod:`~dicomnet.archive.index_postgresql`), where several servers share
it. A row is written only after its file has been renamed into place, in one
transaction per instance under the index's write lock, so the index never names a
file that is not whole (which rows a re-sent instance moves or updates is
:mod:`~dicomnet.archive.hierarchy`'s). :meth:`ArchiveIndex.reader` opens a connection
of its own for each reader thread (see :mod:`~dicomnet.archive.worker`), while this
object's connection is the writer's.

A statement that cannot get its lock in ``busy_timeout`` seconds (another process
writing) fails with one of :data:`~dicomnet.archive.database.DATABASE_ERRORS`:
callers run in worker threads, so the wait never holds the event loop, and a store
that cannot be indexed in time is refused rather than left hanging.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dicomnet.archive.database import (
    DATABASE_ERRORS,
    IndexBackend,
    IndexConnection,
    IndexDatabaseError,
    IndexVersionError,
    WouldWait,
)
from dicomnet.archive.hierarchy import Held, held_rows, write_instance
from dicomnet.archive.index_sqlite import SQLiteBackend
from dicomnet.records import record

__all__ = ["BUSY_TIMEOUT", "COLUMNS", "DATABASE_ERRORS", "INDEX_NAME", "LEVEL_TABLES",
           "OPEN_ERRORS", "ArchiveIndex", "Held", "IndexDatabaseError", "IndexVersionError",
           "InstanceRecord", "WouldWait", "level_rows", "level_tables_sql"]

INDEX_NAME = "index.sqlite"
#: What opening an index may raise: unreachable, a newer schema, a URL of no database
#: this dicomnet knows.
OPEN_ERRORS: tuple[type[Exception], ...] = (*DATABASE_ERRORS, IndexVersionError, ValueError)
#: Seconds a connection waits for a lock held by another process (a backup, a second
#: server on the folder or the database) before its statement fails: long enough for
#: any ordinary transaction to end, short enough for a C-STORE to be answered before a
#: sender's DIMSE timeout.
BUSY_TIMEOUT = 5.0


@record()
class InstanceRecord:
    """Everything the index keeps about one received instance (values as text)."""

    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_uid: str
    study_date: str
    study_time: str
    accession_number: str
    study_id: str
    study_description: str
    referring_physician: str
    series_uid: str
    modality: str
    series_number: str
    series_description: str
    sop_instance_uid: str
    sop_class_uid: str
    instance_number: str
    transfer_syntax: str
    path: str  # relative to the archive folder
    size: int
    source_ae_title: str


class ArchiveIndex:
    """A thin, synchronous wrapper over the index database (calls take microseconds on
    SQLite, a round trip or a few on PostgreSQL)."""

    def __init__(self, folder: Path, *, busy_timeout: float = BUSY_TIMEOUT,
                 url: str | None = None) -> None:
        self.path = folder / INDEX_NAME
        self.busy_timeout = busy_timeout
        self.backend: IndexBackend
        if url is None:
            self.backend = SQLiteBackend(self.path, busy_timeout)
        else:
            from dicomnet.archive.index_postgresql import PostgresBackend, is_postgresql_url

            if not is_postgresql_url(url):
                raise ValueError("an index URL starts with postgresql://")
            self.backend = PostgresBackend(url, busy_timeout)
        self.dialect = self.backend.dialect
        self._db: IndexConnection = self.backend.connect()
        self._commits = 0

    def close(self) -> None:
        self._db.close()

    def describe(self) -> str:
        """Where the index is, for messages (no password)."""
        return self.backend.describe()

    @property
    def quick_writes(self) -> bool:
        """A write that does not wait may run on the event loop (a local file)."""
        return self.backend.quick_writes

    def reader(self) -> IndexConnection:
        """A new connection, for one reader thread at a time (readers see the last
        commit and never wait for the writer)."""
        return self.backend.reader()

    @property
    def checkpoint_due(self) -> bool:
        """Enough commits since the last checkpoint for the next transaction that may
        wait to run one."""
        return self.backend.upkeep_due(self._commits)

    @contextmanager
    def transaction(self, *, wait: bool = True) -> Iterator[IndexConnection]:
        """One write transaction on the writer's connection, under the index's write
        lock: committed when the block ends, rolled back if it raises (the commit
        failing too). The lock is waited for at most ``busy_timeout``; with
        ``wait=False`` it is not waited for but :class:`WouldWait` raised, and
        upkeep (checkpoints) is left to others."""
        with self.backend.write_lock(self._db, wait=wait):
            yield self._db
        self._commits += 1
        if wait and self.backend.upkeep_due(self._commits):
            self.backend.upkeep(self._db)
            self._commits = 0

    def earlier_path(self, sop_instance_uid: str) -> str | None:
        """The path of the copy of an instance the index names (in a transaction: the
        copy a write in it replaces)."""
        row = self._db.execute("SELECT path FROM instance WHERE sop_instance_uid = ?",
                               (sop_instance_uid,)).fetchone()
        return None if row is None else str(row[0])

    def held(self, *, sop_instance_uid: str, series_uid: str, study_uid: str,
             patient_id: str) -> Held:
        """The rows an instance with these keys would touch (inside :meth:`transaction`,
        so that nobody changes them before :meth:`write`)."""
        assert self._db.in_transaction, "held() belongs in a transaction"
        return held_rows(self._db, sop_instance_uid, series_uid, study_uid, patient_id)

    def add(self, record: InstanceRecord) -> str | None:
        """Record an instance (replacing an earlier copy); returns the path of the
        earlier copy if it was stored elsewhere, so the caller can remove it."""
        with self.transaction():
            held = self.held(sop_instance_uid=record.sop_instance_uid,
                             series_uid=record.series_uid, study_uid=record.study_uid,
                             patient_id=record.patient_id)
            self.write(record, held)
        return held.path if held.path != record.path else None

    def write(self, record: InstanceRecord, held: Held | None = None) -> None:
        """Write an instance's rows, inside :meth:`transaction`, by the rules of
        :mod:`~dicomnet.archive.hierarchy`; ``held`` is what :meth:`held` returned in
        the same transaction (read here when not given)."""
        assert self._db.in_transaction, "write() belongs in a transaction"
        if held is None:
            held = held_rows(self._db, record.sop_instance_uid, record.series_uid,
                             record.study_uid, record.patient_id)
        write_instance(self._db, record, held)

    def count(self, table: str) -> int:
        """Rows in one of the tables (for tests, logs and `dicomnet serve`)."""
        if table not in ("patient", "study", "series", "instance", "mpps", "schema_version"):
            raise ValueError(f"no table {table!r}")
        return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Rows of a read-only query (for the query/retrieve SCP)."""
        return list(self._db.execute(sql, params))

    def mpps_dataset(self, sop_instance_uid: str) -> str | None:
        """A Modality Performed Procedure Step's attributes (DICOM JSON), if known."""
        row = self._db.execute("SELECT dataset FROM mpps WHERE sop_instance_uid = ?",
                               (sop_instance_uid,)).fetchone()
        return None if row is None else str(row[0])

    def put_mpps(self, sop_instance_uid: str, *, status: str, patient_id: str,
                 modality: str, dataset: str) -> None:
        """Record a step (PS3.4 Annex F), new or updated; ``dataset`` is DICOM JSON."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO mpps VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(sop_instance_uid) DO UPDATE SET status=excluded.status, "
                "patient_id=excluded.patient_id, modality=excluded.modality, "
                "dataset=excluded.dataset, updated_at=excluded.updated_at",
                (sop_instance_uid, status, patient_id, modality, dataset, now, now))

    def instance_path(self, sop_instance_uid: str) -> str | None:
        row = self._db.execute("SELECT path FROM instance WHERE sop_instance_uid = ?",
                               (sop_instance_uid,)).fetchone()
        return None if row is None else str(row[0])


#: Index columns by the keyword of the attribute they hold, per table.
COLUMNS: dict[str, dict[str, str]] = {
    "patient": {"PatientID": "patient_id", "PatientName": "patient_name",
                "PatientBirthDate": "birth_date", "PatientSex": "sex"},
    "study": {"StudyInstanceUID": "study_uid", "StudyDate": "study_date",
              "StudyTime": "study_time", "AccessionNumber": "accession_number",
              "StudyID": "study_id", "StudyDescription": "description",
              "ReferringPhysicianName": "referring_physician"},
    "series": {"SeriesInstanceUID": "series_uid", "Modality": "modality",
               "SeriesNumber": "series_number", "SeriesDescription": "description"},
    "instance": {"SOPInstanceUID": "sop_instance_uid", "SOPClassUID": "sop_class_uid",
                 "InstanceNumber": "instance_number"},
}

#: PS3.4 C.6: the tables a query level reaches, from the top of the hierarchy.
LEVEL_TABLES = {
    "PATIENT": ("patient",),
    "STUDY": ("patient", "study"),
    "SERIES": ("patient", "study", "series"),
    "IMAGE": ("patient", "study", "series", "instance"),
}

_JOINS = {
    "study": "JOIN study ON study.patient_id = patient.patient_id",
    "series": "JOIN series ON series.study_uid = study.study_uid",
    "instance": "JOIN instance ON instance.series_uid = series.series_uid",
}


def level_tables_sql(level: str) -> str:
    """``FROM`` and the joins that reach a query level's tables (:data:`LEVEL_TABLES`),
    each row an entity of the level with its parents' rows."""
    return "FROM patient " + " ".join(_JOINS[table] for table in LEVEL_TABLES[level][1:])


#: Keys that can narrow the candidates in SQL: the unique keys of each level
#: (PS3.4 C.6.1.1), indexed or primary in the schema.
_NARROWING = {"PatientID": "patient.patient_id", "StudyInstanceUID": "study.study_uid",
              "SeriesInstanceUID": "series.series_uid",
              "SOPInstanceUID": "instance.sop_instance_uid"}


def level_rows(db: IndexConnection, level: str,
               equal: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """The entities of a query level with the attributes of it and its parents, by
    keyword (plus ``_path`` for instances): the candidates a query is matched against,
    read one by one from ``db`` (a reader's connection) as they are asked for.

    ``equal`` (keyword -> value) narrows them in SQL to exact values of unique keys; it
    is an optimisation only, the caller still applies the matching rules.
    """
    tables = LEVEL_TABLES[level]
    columns = [(f"{table}.{column}", keyword) for table in tables
               for keyword, column in COLUMNS[table].items()]
    if "instance" in tables:
        columns.append(("instance.path", "_path"))
    sql = f"SELECT {', '.join(c for c, _k in columns)} {level_tables_sql(level)}"
    conditions = [(f"{_NARROWING[keyword]} = ?", value)
                  for keyword, value in (equal or {}).items()
                  if keyword in _NARROWING and _NARROWING[keyword].split(".")[0] in tables]
    if conditions:
        sql += " WHERE " + " AND ".join(condition for condition, _v in conditions)
    cursor = db.execute(sql, tuple(value for _c, value in conditions))
    try:
        for row in cursor:
            yield {keyword: "" if value is None else str(value)
                   for (_c, keyword), value in zip(columns, row, strict=True)}
    finally:
        cursor.close()
