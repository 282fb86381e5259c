"""No patient data in the archive's WARNING and ERROR log lines.

The default log level of ``dicomnet serve`` is WARNING, and such lines end up in
operators' consoles, ticket systems and log collectors: they may name AE titles,
addresses, UIDs and reasons, never a Patient ID, a patient's name or a file path
(the archive's folders are named after the Patient ID). INFO (``-v``) may show paths.

One archive is driven through every failure its storage, query/retrieve, commitment
and MPPS code reports: damaged data sets, an index locked by another process, a file
system that refuses, a re-send under another patient, refused and failing queries,
retrievals of a missing and a garbled file, moves to unknown and unreachable
destinations, commitment of lost instances, MPPS rule violations. Every record at
WARNING or above, from every logger, tracebacks included, is then searched for the
patients' identifiers; the INFO records must hold them (so the search would find them
where they leak).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from queries import query as _query

import dicomnet
from dicomnet.archive import Archive, install
from dicomnet.dimse import CStoreRQ, Status
from dicomnet.part10 import dataset_bytes
from dicomnet.server import Server
from dicomnet.services import commitment, mpps
from dicomnet.services import query_retrieve as qr
from dicomnet.services.commitment import STORAGE_COMMITMENT_PUSH, CommitmentResults
from dicomnet.services.storage import contexts_for
from dicomnet.testing import free_port

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

PATIENT_IDS = ("PHI-7741-ID", "PHI-8852-ID")
PATIENT_NAMES = ("Secretname^Phinella", "Othername^Phineas")
#: What must never show at WARNING or above: the IDs, and any part of the names.
_LEAK = re.compile("|".join(re.escape(part) for part in (
    *PATIENT_IDS, *(piece for name in PATIENT_NAMES for piece in name.split("^")))),
    re.IGNORECASE)


def _instances(folder: Path, patient: int, count: int, study: str | None = None
               ) -> list[Path]:
    """``count`` CT images of one series of patient number ``patient``."""
    study = study or generate_uid()
    series = generate_uid()
    paths = []
    for number in range(count):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.PatientID = PATIENT_IDS[patient]
        ds.PatientName = PATIENT_NAMES[patient]
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = number + 1
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths



async def test_no_patient_data_at_warning_or_above(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sources = tmp_path / "sources"
    sources.mkdir()
    good = _instances(sources, 0, 4)
    study = pydicom.dcmread(good[0]).StudyInstanceUID
    # The same instance sent again under the other patient (a corrected Patient ID).
    moved = pydicom.dcmread(good[3])
    moved.PatientID, moved.PatientName = PATIENT_IDS[1], PATIENT_NAMES[1]
    # A truncated copy of another instance: refused as damaged.
    damaged = _instances(sources, 1, 1)[0]
    damaged.write_bytes(damaged.read_bytes()[:-1000])
    # One that arrives while another process holds the index's write lock.
    locked_out = _instances(sources, 1, 1)[0]

    archive = Archive(tmp_path / "archive", busy_timeout=0.2)
    server = Server("ARCHIVE", prefer_requestor_order=True)
    unreachable = free_port()  # nothing listens there
    install(server, archive, {"NOWHERE": ("127.0.0.1", unreachable)}.get)
    results = CommitmentResults()
    async with serving(server) as port:
        contexts = [*contexts_for(good), qr.STUDY_ROOT_FIND, qr.PATIENT_ROOT_FIND,
                    qr.STUDY_ROOT_GET, qr.STUDY_ROOT_MOVE, STORAGE_COMMITMENT_PUSH,
                    mpps.MPPS]
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=contexts, on_request=results.on_request,
                                    roles={pydicom.dcmread(good[0]).SOPClassUID:
                                           (True, True)}) as assoc:
            for path in good:
                assert await assoc.store(path) == Status.SUCCESS
            assert await assoc.store(moved) == Status.SUCCESS
            # Sent as bytes: a client refuses a damaged file before sending it, and the
            # server's refusal is what this test watches.
            header, data = dataset_bytes(damaged)
            context = assoc.negotiated.contexts_for(header.sop_class_uid)[0]
            response = await assoc.request_one(context, CStoreRQ(
                affected_sop_class_uid=header.sop_class_uid,
                affected_sop_instance_uid=header.sop_instance_uid), data)
            assert response.status != Status.SUCCESS
            other = sqlite3.connect(archive.index.path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                assert await assoc.store(locked_out) == 0xA700
            finally:
                other.execute("ROLLBACK")
                other.close()
            # The file system refuses: a file where the instance's series folder goes.
            blocked = pydicom.dcmread(locked_out)
            blocked.SOPInstanceUID = generate_uid()
            blocked.SeriesInstanceUID = generate_uid()
            (archive.folder / PATIENT_IDS[1] / blocked.StudyInstanceUID
             / blocked.SeriesInstanceUID).parent.mkdir(parents=True, exist_ok=True)
            (archive.folder / PATIENT_IDS[1] / blocked.StudyInstanceUID
             / blocked.SeriesInstanceUID).write_bytes(b"in the way")
            assert await assoc.store(blocked) != Status.SUCCESS

            # Queries the archive refuses or cannot answer, about the patient the
            # study now belongs to (the re-send with the corrected Patient ID moved it).
            refused = [
                _query("IMAGE", PatientID=PATIENT_IDS[1], SOPInstanceUID=""),
                _query("FRAME", PatientID=PATIENT_IDS[1]),
                _query("STUDY", PatientName=PATIENT_NAMES[1], StudyDate="20300101-20200101"),
                _query("STUDY", PatientID=PATIENT_IDS[1] + "*", StudyInstanceUID="1.2*"),
            ]
            for query in refused:
                statuses = [r.status async for r in qr.find(assoc, query)]
                assert statuses[-1] not in (Status.SUCCESS, Status.PENDING)
            matches = [r async for r in qr.find(assoc, _query(
                "STUDY", PatientName="Secret*", PatientID="", StudyInstanceUID=""))]
            assert matches[-1].status == Status.SUCCESS

            # Retrievals with one file gone and one garbled.
            files = sorted((tmp_path / "archive").rglob("*.dcm"))
            assert len(files) == 4
            files[0].unlink()
            files[1].write_bytes(b"garbage" * 10)
            got = [r async for r in qr.get(assoc, _query("STUDY", StudyInstanceUID=study))]
            assert got[-1].status != Status.SUCCESS
            for destination in ("UNKNOWN", "NOWHERE"):
                moves = [r async for r in qr.move(assoc, _query(
                    "STUDY", StudyInstanceUID=study), destination=destination)]
                assert moves[-1].status != Status.SUCCESS

            # Commitment of instances whose files are gone or never came.
            first = pydicom.dcmread(good[0])
            await commitment.request_commitment(
                assoc, [(first.SOPClassUID, first.SOPInstanceUID),
                        (first.SOPClassUID, generate_uid())])

            # MPPS rule violations on a step that names the patient.
            step = pydicom.Dataset()
            step.PatientName, step.PatientID = PATIENT_NAMES[0], PATIENT_IDS[0]
            step.Modality = "CT"
            step.PerformedProcedureStepStatus = "COMPLETED"  # must start IN PROGRESS
            assert (await mpps.create(assoc, step)).status != Status.SUCCESS
            update = pydicom.Dataset()
            update.PatientName = PATIENT_NAMES[0]
            update.PerformedProcedureStepStatus = "COMPLETED"
            assert (await mpps.update(assoc, generate_uid(), update)).status \
                != Status.SUCCESS
    archive.close()

    loud = [record for record in caplog.records if record.levelno >= logging.WARNING]
    # The failures above were reported (else this test would prove nothing)...
    assert len(loud) >= 10, [record.getMessage() for record in loud]
    leaks = [_text(record) for record in loud if _LEAK.search(_text(record))]
    assert not leaks
    # ... and the search finds patient data where it may be: the INFO lines.
    assert any(_LEAK.search(_text(record)) for record in caplog.records
               if record.levelno == logging.INFO)


def _text(record: logging.LogRecord) -> str:
    """What a log handler would write: the message and any traceback."""
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return text
