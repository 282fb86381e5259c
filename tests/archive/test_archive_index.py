"""The index records every instance under its patient, study and series, also when it
skips the upserts of the rows it has just written."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dicomnet.archive.index import DATABASE_ERRORS, ArchiveIndex, InstanceRecord

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
