"""The index records every instance under its patient, study and series, also when it
skips the upserts of the rows it has just written."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from dicomnet.archive.database import SQLITE
from dicomnet.archive.index import (
    DATABASE_ERRORS,
    ArchiveIndex,
    IndexVersionError,
    InstanceRecord,
)
from dicomnet.archive.schema import SCHEMA_VERSION, statements

RECORD = InstanceRecord(
    patient_id="P1", patient_name="Doe^Jane", birth_date="19700101", sex="F",
    study_uid="1.2.3", study_date="20260101", study_time="101010", accession_number="A1",
    study_id="S1", study_description="CT HEAD", referring_physician="Dr^Who",
    series_uid="1.2.3.4", modality="CT", series_number="1", series_description="AX",
    sop_instance_uid="1.2.3.4.1", sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    instance_number="1", transfer_syntax="1.2.840.10008.1.2.1", path="P1/a/b/1.dcm",
    size=10, source_ae_title="SENDER")


def _instance(n: int, **changes: str) -> InstanceRecord:
    return replace(RECORD, sop_instance_uid=f"1.2.3.4.{n}", instance_number=str(n),
                   path=f"P1/a/b/{n}.dcm", **changes)


def test_instances_of_one_series_share_its_rows(tmp_path: Path, index_url: str | None) -> None:
    index = ArchiveIndex(tmp_path, url=index_url)
    for n in range(1, 4):
        index.add(_instance(n))
    assert [index.count(t) for t in ("patient", "study", "series", "instance")] == [1, 1, 1, 3]


def test_a_changed_patient_name_still_updates_the_patient(tmp_path: Path,
        index_url: str | None) -> None:
    index = ArchiveIndex(tmp_path, url=index_url)
    index.add(_instance(1))
    index.add(_instance(2, patient_name="Doe^Janet"))
    assert index.execute("SELECT patient_name FROM patient") == [("Doe^Janet",)]


def test_new_series_and_studies_get_rows_between_repeated_ones(tmp_path: Path,
        index_url: str | None) -> None:
    index = ArchiveIndex(tmp_path, url=index_url)
    index.add(_instance(1))
    index.add(_instance(2, series_uid="1.2.3.5"))
    index.add(_instance(3))  # back to the first series: its row is there already
    index.add(_instance(4, study_uid="1.2.4", series_uid="1.2.4.1"))
    assert [index.count(t) for t in ("patient", "study", "series", "instance")] == [1, 2, 3, 4]
    rows = index.execute("SELECT series_uid, study_uid FROM series ORDER BY series_uid")
    assert rows == [("1.2.3.4", "1.2.3"), ("1.2.3.5", "1.2.3"), ("1.2.4.1", "1.2.4")]


def test_a_failed_transaction_is_not_remembered(tmp_path: Path, index_url: str | None) -> None:
    """The rows of a rolled-back instance are gone: the next instance of the same series
    must write them again (else its instance row would name a missing series, which
    the foreign keys refuse)."""
    index = ArchiveIndex(tmp_path, url=index_url)
    broken = replace(_instance(1), path=None)  # type: ignore[arg-type] - NOT NULL fails
    with pytest.raises(DATABASE_ERRORS):
        index.add(broken)
    assert index.count("patient") == 0
    index.add(_instance(2))
    assert [index.count(t) for t in ("patient", "study", "series", "instance")] == [1, 1, 1, 1]


def test_a_step_is_recorded_then_updated(tmp_path: Path, index_url: str | None) -> None:
    index = ArchiveIndex(tmp_path, url=index_url)
    index.put_mpps("1.2.9", status="IN PROGRESS", patient_id="P1", modality="CT",
                   dataset='{"00400252": {"vr": "CS", "Value": ["IN PROGRESS"]}}')
    index.put_mpps("1.2.9", status="COMPLETED", patient_id="P1", modality="CT",
                   dataset='{"00400252": {"vr": "CS", "Value": ["COMPLETED"]}}')
    assert index.count("mpps") == 1
    assert "COMPLETED" in str(index.mpps_dataset("1.2.9"))
    assert index.mpps_dataset("1.2.8") is None
    index.close()


def test_the_schema_is_versioned_and_a_newer_one_refused(tmp_path: Path,
                                                         index_url: str | None) -> None:
    """A new index records the schema version this dicomnet writes; opening it again
    changes nothing; an index of a newer version (a newer dicomnet's) is refused,
    with both versions named, rather than misread."""
    index = ArchiveIndex(tmp_path, url=index_url)
    index.add(_instance(1))
    assert index.execute("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    index.close()
    index = ArchiveIndex(tmp_path, url=index_url)
    assert index.execute("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert index.count("instance") == 1
    with index.transaction() as db:
        db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    index.close()
    with pytest.raises(IndexVersionError, match=f"version {SCHEMA_VERSION + 1}, newer"):
        ArchiveIndex(tmp_path, url=index_url)


def test_an_index_from_before_versions_is_version_1(tmp_path: Path) -> None:
    """SQLite indexes written before the schema_version table have version 1's tables:
    they are adopted as they are, rows kept."""
    db = sqlite3.connect(tmp_path / "index.sqlite")
    for statement in statements(SQLITE):
        db.execute(statement)
    db.execute("INSERT INTO patient VALUES ('P0', 'Old^Row', '', '')")
    db.commit()
    db.close()
    index = ArchiveIndex(tmp_path)
    assert index.execute("SELECT version FROM schema_version") == [(1,)]
    assert index.execute("SELECT patient_name FROM patient") == [("Old^Row",)]
    index.close()


def test_libpq_s_environment_fills_what_the_url_leaves_out(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """postgresql:///DB with PGHOST, PGPORT and PGUSER set, as libpq users expect; the
    index names where it is from them too (never a password)."""
    import psycopg.conninfo

    info = psycopg.conninfo.conninfo_to_dict(postgres_url)
    monkeypatch.setenv("PGHOST", str(info["host"]))
    monkeypatch.setenv("PGPORT", str(info["port"]))
    monkeypatch.setenv("PGUSER", str(info["user"]))
    index = ArchiveIndex(tmp_path, url=f"postgresql:///{info['dbname']}")
    index.add(_instance(1))
    assert index.count("instance") == 1
    assert index.describe() == (f"the PostgreSQL index at {info['host']}:{info['port']}/"
                                f"{info['dbname']}")
    index.close()
