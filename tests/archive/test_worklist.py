"""Modality Worklist items from a folder (PS3.4 Annex K), matched with the C-FIND rules
of PS3.4 C.2.2.2: DICOM and DICOM JSON files, reloading, bad files, and the archive
answering worklist C-FIND through a server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import dicomnet
from dicomnet.archive import Archive, Worklist, install
from dicomnet.archive.matching import MatchError
from dicomnet.dimse import Status
from dicomnet.server import Server
from dicomnet.services import query_retrieve as qr

Serving = Callable[..., AbstractAsyncContextManager[int]]


def _item(name: str, patient_id: str, modality: str, date: str,
          station: str = "SCANNER") -> pydicom.Dataset:
    step = pydicom.Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = station
    step.ScheduledProcedureStepStartDate = date
    step.ScheduledProcedureStepStartTime = "0900"
    step.ScheduledProcedureStepID = f"SPS-{patient_id}"
    item = pydicom.Dataset()
    item.SpecificCharacterSet = "ISO_IR 100"
    item.PatientName = name
    item.PatientID = patient_id
    item.AccessionNumber = f"A-{patient_id}"
    item.StudyInstanceUID = generate_uid()
    item.ScheduledProcedureStepSequence = [step]
    return item


def _save(item: pydicom.Dataset, path: Path) -> None:
    item.file_meta = FileMetaDataset()
    item.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    item.file_meta.MediaStorageSOPClassUID = qr.WORKLIST_FIND
    item.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    item.save_as(path, enforce_file_format=True)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "worklist"
    (folder / "ward").mkdir(parents=True)
    _save(_item("DOE^JANE", "P1", "CT", "20261125"), folder / "p1.dcm")
    _save(_item("ROE^JOHN", "P2", "MR", "20261126"), folder / "ward" / "p2.wl")
    both = [_item("POE^EDGAR", "P3", "CT", "20261127").to_json_dict(),
            _item("MOE^ANNA", "P4", "US", "20261125", station="OTHER").to_json_dict()]
    (folder / "two.json").write_text(json.dumps(both))
    (folder / "one.json").write_text(_item("LOE^MAX", "P5", "MR", "20261201").to_json())
    unicode = _item("ÅSTRÖM^SIGNE", "P6", "XA", "20261202")
    del unicode.SpecificCharacterSet
    (folder / "unicode.json").write_text(unicode.to_json(), encoding="utf-8")
    (folder / "notes.txt").write_text("not an item")
    return folder


def _query(**keys: str) -> pydicom.Dataset:
    query = pydicom.Dataset()
    query.PatientName = keys.pop("PatientName", "")
    query.PatientID = ""
    step = pydicom.Dataset()
    for keyword, value in keys.items():
        setattr(step, keyword, value)
    query.ScheduledProcedureStepSequence = [step]
    return query


def _ids(worklist: Worklist, query: pydicom.Dataset) -> list[str]:
    return sorted(str(match.PatientID) for match in worklist.matches(query))


def test_items_from_dicom_and_json_files(folder: Path) -> None:
    worklist = Worklist(folder)
    assert sorted(str(item.PatientID) for item in worklist.items()) == \
        ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert _ids(worklist, _query()) == ["P1", "P2", "P3", "P4", "P5", "P6"]


def test_matching_rules(folder: Path) -> None:
    worklist = Worklist(folder)
    assert _ids(worklist, _query(Modality="CT")) == ["P1", "P3"]
    assert _ids(worklist, _query(PatientName="*OE^J*")) == ["P1", "P2"]
    assert _ids(worklist, _query(ScheduledProcedureStepStartDate="20261125-20261126")) \
        == ["P1", "P2", "P4"]
    assert _ids(worklist, _query(Modality="CT", ScheduledStationAETitle="SCANNER",
                                 ScheduledProcedureStepStartDate="20261125")) == ["P1"]
    assert _ids(worklist, _query(Modality="NM")) == []
    # The response carries the keys asked for, with the item's values (C.2.2.1.2).
    match = next(worklist.matches(_query(Modality="MR", ScheduledProcedureStepID="")))
    assert match.PatientName in ("LOE^MAX", "ROE^JOHN")
    assert match.ScheduledProcedureStepSequence[0].Modality == "MR"
    assert match.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID.startswith("SPS")
    assert "AccessionNumber" not in match
    with pytest.raises(MatchError):
        list(worklist.matches(_query(ScheduledProcedureStepStartDate="20261201-20261101")))


def test_changes_are_seen_and_bad_files_skipped(folder: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    worklist = Worklist(folder)
    assert len(worklist.items()) == 6
    (folder / "p1.dcm").unlink()
    (folder / "broken.json").write_text("{not json")
    (folder / "broken.dcm").write_bytes(b"\0" * 10)
    changed = _item("DOE^JANE", "P5", "MR", "20261201")
    changed.PatientName = "LOE^MAXIMILIAN"
    (folder / "one.json").write_text(changed.to_json())
    stat = (folder / "one.json").stat()
    os.utime(folder / "one.json", (stat.st_atime, stat.st_mtime + 5))
    names = sorted(str(item.PatientName) for item in worklist.items())
    assert names == ["LOE^MAXIMILIAN", "MOE^ANNA", "POE^EDGAR", "ROE^JOHN", "ÅSTRÖM^SIGNE"]
    assert "broken.json" in caplog.text and "broken.dcm" in caplog.text


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        Worklist(tmp_path / "nowhere")


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
async def test_archive_answers_worklist_find(serving: Serving, folder: Path,
                                             tmp_path: Path) -> None:
    server = Server("ARCHIVE")
    install(server, Archive(tmp_path / "archive"), worklist=folder)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=[qr.WORKLIST_FIND]) as assoc:
            responses = [r async for r in qr.find(assoc, _query(Modality="MR"),
                                                  model="worklist")]
            xa = [r async for r in qr.find(assoc, _query(Modality="XA"), model="worklist")]
            unicode_match = xa[0].dataset
            bad = [r.status async for r in qr.find(
                assoc, _query(ScheduledProcedureStepStartDate="2026*"), model="worklist")]
    assert [r.status for r in responses] == [Status.PENDING, Status.PENDING, Status.SUCCESS]
    assert sorted(str(r.dataset.PatientID) for r in responses[:2]) == ["P2", "P5"]  # type: ignore[union-attr]
    assert bad == [0xA900]  # a wild card in a date cannot be a key (C.2.2.2.4)
    # A JSON item's Unicode name arrives intact, in UTF-8 (ISO_IR 192).
    assert unicode_match is not None
    assert unicode_match.PatientName == "ÅSTRÖM^SIGNE"
    assert unicode_match.SpecificCharacterSet == "ISO_IR 192"
