"""A worklist query by modality and date, keys inside the Scheduled Procedure Step
Sequence, from ``dicomnet find``: against DCMTK's wlmscpfs and ``dicomnet serve
--worklist``, in dicomnet's keyword spelling and in DCMTK's tag spelling."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from dicomnet.testing import Process, dicomnet_command, free_port, run, start_process

pytestmark = pytest.mark.interop

#: (patient ID, modality, date): only P0 is CT on 10 or 11 March 2025.
_STEPS = [("P0", "CT", "20250310"), ("P1", "MR", "20250310"), ("P2", "CT", "20250312")]
_KEYWORD_KEYS = ["-k", "ScheduledProcedureStepSequence[0].Modality=CT",
                 "-k", "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate="
                       "20250310-20250311"]
_TAG_KEYS = ["-k", "(0040,0100)[0].(0008,0060)=CT",
             "-k", "(0040,0100)[0].(0040,0002)=20250310-20250311"]


def _write_items(folder: Path) -> None:
    for number, (patient, modality, date) in enumerate(_STEPS):
        step = pydicom.Dataset()
        step.Modality = modality
        step.ScheduledStationAETitle = "SCANNER"
        step.ScheduledProcedureStepStartDate = date
        step.ScheduledProcedureStepStartTime = "0900"
        step.ScheduledPerformingPhysicianName = ""
        step.ScheduledProcedureStepDescription = "exam"
        step.ScheduledProcedureStepID = f"SPS{number}"
        item = pydicom.Dataset()
        item.SpecificCharacterSet = "ISO_IR 100"
        item.PatientName = f"DOE^{patient}"
        item.PatientID = patient
        item.PatientBirthDate = "19700101"
        item.PatientSex = "O"
        item.AccessionNumber = f"A{number}"
        item.RequestedProcedureID = f"RP{number}"
        item.RequestedProcedureDescription = "exam"
        item.StudyInstanceUID = generate_uid()
        item.ScheduledProcedureStepSequence = [step]
        item.file_meta = pydicom.dataset.FileMetaDataset()
        item.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        item.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
        item.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        item.save_as(folder / f"item{number}.wl", enforce_file_format=True)


def _matched(called: str, port: int, keys: list[str]) -> list[str]:
    """The Patient IDs `dicomnet find -W` gets back for these keys (and PatientID=)."""
    done = run(dicomnet_command("find", "-aec", called, "-W", "127.0.0.1", str(port),
                                "--json", "-k", "PatientID=", *keys))
    assert done.returncode == 0, done.output
    matches = [json.loads(line) for line in done.output.splitlines()
               if line.startswith("{")]
    for match in matches:  # the step came back with the matched values in it
        (step,) = match["00400100"]["Value"]
        assert step["00080060"]["Value"] == ["CT"]
    return sorted(m["00100020"]["Value"][0] for m in matches)


@pytest.mark.parametrize("keys", [_KEYWORD_KEYS, _TAG_KEYS], ids=["keywords", "tags"])
def test_worklist_by_modality_and_date_against_wlmscpfs(
        keys: list[str], dcmtk: Callable[[str], str], tmp_path: Path) -> None:
    folder = tmp_path / "worklists" / "WLMSCP"  # one sub-folder per called AE title
    folder.mkdir(parents=True)
    (folder / "lockfile").touch()  # wlmscpfs refuses (A700) a folder without one
    _write_items(folder)
    port = free_port()
    server = start_process([dcmtk("wlmscpfs"), "-dfp", str(tmp_path / "worklists"),
                            str(port)], port)
    try:
        assert _matched("WLMSCP", port, keys) == ["P0"]
    finally:
        server.stop()


@pytest.mark.parametrize("keys", [_KEYWORD_KEYS, _TAG_KEYS], ids=["keywords", "tags"])
def test_worklist_by_modality_and_date_against_dicomnet_serve(
        keys: list[str], dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    folder = tmp_path / "worklist"
    folder.mkdir()
    _write_items(folder)
    server = dicomnet_serve("--data", str(tmp_path / "archive"), "--worklist", str(folder))
    assert _matched("DICOMNET", server.port, keys) == ["P0"]
