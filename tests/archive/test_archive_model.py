"""The archive's patient / study / series / instance model under re-sends: each level
holds its latest instance's attributes, a corrected Patient ID moves the study as a
whole, no empty entity stays, and the files and the index always agree (through the
Archive API; tests/integration/test_archive_model_live.py does it over sockets)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from archive_backends import empty_index
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from instances import check_consistent, file_into, index_state, instance_bytes

from dicomnet.archive import Archive, DuplicateInstanceError

STUDY = "1.2.826.0.1.3680043.2.1143.77.1"
SERIES = STUDY + ".1"


def _uids(archive: Archive, sql: str, *params: str) -> list[str]:
    return sorted(str(row[0]) for row in archive.index.execute(sql, params))


def _study_of(archive: Archive, patient_id: str) -> list[str]:
    return _uids(archive, "SELECT study_uid FROM study WHERE patient_id = ?", patient_id)


def _instances_of(archive: Archive, patient_id: str) -> list[str]:
    return _uids(archive, "SELECT i.sop_instance_uid FROM instance i "
                 "JOIN series se ON se.series_uid = i.series_uid "
                 "JOIN study st ON st.study_uid = se.study_uid WHERE st.patient_id = ?",
                 patient_id)


def _three(patient_id: str, **more: str) -> list[bytes]:
    return [instance_bytes(PatientID=patient_id, StudyInstanceUID=STUDY,
                           SeriesInstanceUID=SERIES, SOPInstanceUID=f"{SERIES}.{n}", **more)
            for n in (1, 2, 3)]


@pytest.mark.parametrize("resent", [3, 1], ids=["all-resent", "one-resent"])
def test_a_corrected_patient_id_moves_the_study(tmp_path: Path, resent: int,
        index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url)
    for data in _three("WRONG-ID", PatientName="Wrong^Name"):
        file_into(archive, data)
    for data in _three("RIGHT-ID", PatientName="Right^Name")[:resent]:
        file_into(archive, data)
    assert _study_of(archive, "RIGHT-ID") == [STUDY]
    assert _study_of(archive, "WRONG-ID") == []
    # The study moved as a whole: every instance, re-sent or not, is under RIGHT-ID.
    assert _instances_of(archive, "RIGHT-ID") == [f"{SERIES}.{n}" for n in (1, 2, 3)]
    assert archive.index.execute("SELECT patient_id, patient_name FROM patient") == [
        ("RIGHT-ID", "Right^Name")]
    check_consistent(archive)
    # Folders left empty go with the last file; the others stay where they were filed.
    assert (archive.folder / "WRONG-ID").exists() == (resent < 3)
    archive.close()


def test_the_latest_instance_sets_each_level_s_attributes(tmp_path: Path,
        index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url)
    first, second, _third = _three("P", StudyDescription="OLD", SeriesDescription="OLD",
                                   PatientBirthDate="19700101")
    file_into(archive, first)
    file_into(archive, second)
    file_into(archive, instance_bytes(
        PatientID="P", StudyInstanceUID=STUDY, SeriesInstanceUID=SERIES,
        SOPInstanceUID=f"{SERIES}.1", StudyDescription="NEW", SeriesDescription="NEWER",
        PatientBirthDate="19710202", Modality="CT", AccessionNumber="A2"))
    assert archive.index.execute("SELECT birth_date FROM patient") == [("19710202",)]
    assert archive.index.execute("SELECT description, accession_number FROM study") == [
        ("NEW", "A2")]
    assert archive.index.execute("SELECT description, modality FROM series") == [
        ("NEWER", "CT")]
    check_consistent(archive)
    archive.close()


@pytest.mark.parametrize("same_series", [True, False], ids=["same-series", "new-series"])
def test_one_instance_resent_under_20_studies_leaves_one_study(tmp_path: Path,
                                                               same_series: bool,
        index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url)
    for n in range(20):
        file_into(archive, instance_bytes(
            PatientID="P", StudyInstanceUID=f"{STUDY}.{n}",
            SeriesInstanceUID=SERIES if same_series else f"{SERIES}.{n}",
            SOPInstanceUID="1.2.3.4.5"))
    assert archive.index.count("study") == 1
    assert archive.index.count("series") == 1
    assert _study_of(archive, "P") == [f"{STUDY}.19"]
    check_consistent(archive)
    archive.close()


def test_an_instance_moved_to_another_series_leaves_no_empty_series(
        tmp_path: Path, index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url)
    file_into(archive, instance_bytes(PatientID="A", StudyInstanceUID=STUDY,
                                      SeriesInstanceUID=SERIES, SOPInstanceUID="1.9.1"))
    file_into(archive, instance_bytes(PatientID="B", StudyInstanceUID=STUDY + ".2",
                                      SeriesInstanceUID=SERIES + ".2",
                                      SOPInstanceUID="1.9.1"))
    assert index_state(archive)["patient"] == [("B", "CompressedSamples^MR1", "", "F")]
    assert archive.index.count("series") == archive.index.count("study") == 1
    check_consistent(archive)
    archive.close()


# -- duplicates policy ---------------------------------------------------------------

def test_duplicates_keep_answers_with_the_earlier_copy(tmp_path: Path,
        index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url, duplicates="keep")
    first = file_into(archive, instance_bytes(SOPInstanceUID="1.9.1", PatientID="FIRST"))
    first_bytes = first.read_bytes()
    before = index_state(archive)
    again = file_into(archive, instance_bytes(SOPInstanceUID="1.9.1", PatientID="SECOND"))
    assert again == first and first.read_bytes() == first_bytes
    assert index_state(archive) == before
    check_consistent(archive)
    # A new instance is filed as ever.
    file_into(archive, instance_bytes(SOPInstanceUID="1.9.2", PatientID="SECOND"))
    assert archive.index.count("instance") == 2
    archive.close()


def test_duplicates_reject_refuses_the_new_copy(tmp_path: Path, index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url, duplicates="reject")
    first = file_into(archive, instance_bytes(SOPInstanceUID="1.9.1", PatientID="FIRST"))
    first_bytes = first.read_bytes()
    before = index_state(archive)
    with pytest.raises(DuplicateInstanceError):
        file_into(archive, instance_bytes(SOPInstanceUID="1.9.1", PatientID="SECOND"))
    assert first.read_bytes() == first_bytes
    assert index_state(archive) == before
    check_consistent(archive)
    archive.close()


def test_duplicates_replace_files_the_new_copy(tmp_path: Path, index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url)
    assert archive.duplicates == "replace"
    first = file_into(archive, instance_bytes(SOPInstanceUID="1.9.1", PatientID="FIRST"))
    second = file_into(archive, instance_bytes(SOPInstanceUID="1.9.1", PatientID="SECOND"))
    assert not first.exists() and second.exists()
    assert _instances_of(archive, "SECOND") == ["1.9.1"]
    check_consistent(archive)
    archive.close()


def test_an_unknown_duplicates_policy_is_refused(tmp_path: Path, index_url: str | None) -> None:
    with pytest.raises(ValueError, match="keep"):
        Archive(tmp_path / "archive", index=index_url, duplicates="overwrite")


# -- two writers on one folder -------------------------------------------------------

def test_two_archives_on_one_folder_stay_consistent(tmp_path: Path, index_url: str | None) -> None:
    """Two Archive objects (two connections, as two processes have) file the same study
    under different Patient IDs at once; whatever the interleaving, each instance ends
    under one patient, study and series, with no ghost and one file per row."""
    folder = tmp_path / "archive"
    archives = [Archive(folder, index=index_url), Archive(folder, index=index_url)]
    rounds = 15
    data = {patient: [instance_bytes(PatientID=patient, StudyInstanceUID=STUDY,
                                     SeriesInstanceUID=f"{SERIES}.{n % 2}",
                                     SOPInstanceUID=f"{SERIES}.9.{n}") for n in range(6)]
            for patient in ("ONE", "TWO")}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(archive: Archive, patient: str) -> None:
        try:
            start.wait(timeout=10)
            for _round in range(rounds):
                for item in data[patient]:
                    file_into(archive, item)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(archive, patient))
               for archive, patient in zip(archives, ("ONE", "TWO"), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    for archive in archives:
        check_consistent(archive)
        assert archive.index.count("instance") == 6
        assert archive.index.count("study") == archive.index.count("patient") == 1
        assert archive.index.count("series") == 2
    archives[0].close()
    archives[1].close()


# -- any sequence of stores ----------------------------------------------------------

_PATIENTS = ("P1", "P2", "P3")
_STUDIES = (STUDY + ".1", STUDY + ".2", STUDY + ".3")
_SERIES = (SERIES + ".1", SERIES + ".2", SERIES + ".3", SERIES + ".4")
_INSTANCES = ("1.9.1", "1.9.2", "1.9.3", "1.9.4", "1.9.5")

_stores = st.lists(st.tuples(st.sampled_from(_INSTANCES), st.sampled_from(_SERIES),
                             st.sampled_from(_STUDIES), st.sampled_from(_PATIENTS),
                             st.sampled_from(("", "A", "B")),  # a description
                             st.sampled_from(("MR", "CT"))),
                   min_size=1, max_size=12)


def _model(stores: list[tuple[str, str, str, str, str, str]]
           ) -> tuple[dict[str, str], dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """What the rules say the index holds after ``stores``: instance -> series,
    series -> (study, modality), study -> (patient, description); no empty entity."""
    instances: dict[str, str] = {}
    series: dict[str, tuple[str, str]] = {}
    studies: dict[str, tuple[str, str]] = {}
    for sop, series_uid, study_uid, patient, description, modality in stores:
        instances[sop] = series_uid
        series[series_uid] = (study_uid, modality)
        studies[study_uid] = (patient, description)
        series = {uid: row for uid, row in series.items() if uid in instances.values()}
        studies = {uid: row for uid, row in studies.items()
                   if uid in {study for study, _m in series.values()}}
    return instances, series, studies


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stores=_stores)
def test_any_sequence_of_stores_leaves_the_latest_model(tmp_path_factory: pytest.TempPathFactory,
                                                        stores: list[tuple[str, ...]],
        index_url: str | None) -> None:
    archive = Archive(tmp_path_factory.mktemp("archive"), index=index_url)
    empty_index(archive)
    try:
        for sop, series_uid, study_uid, patient, description, modality in stores:
            file_into(archive, instance_bytes(
                SOPInstanceUID=sop, SeriesInstanceUID=series_uid, StudyInstanceUID=study_uid,
                PatientID=patient, StudyDescription=description, Modality=modality))
            check_consistent(archive)
        instances, series, studies = _model(stores)  # type: ignore[arg-type]
        assert {sop: series_uid for sop, series_uid in archive.index.execute(
            "SELECT sop_instance_uid, series_uid FROM instance")} == instances
        assert {uid: (study, modality) for uid, study, modality in archive.index.execute(
            "SELECT series_uid, study_uid, modality FROM series")} == series
        assert {uid: (patient, description) for uid, patient, description in
                archive.index.execute("SELECT study_uid, patient_id, description "
                                      "FROM study")} == studies
        assert _uids(archive, "SELECT patient_id FROM patient") == sorted(
            {patient for patient, _d in studies.values()})
    finally:
        archive.close()
