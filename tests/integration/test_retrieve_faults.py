"""C-GET and C-MOVE of a study with one file missing and one garbled: the rest is sent,
those two are failed sub-operations (B000, Failed SOP Instance UID List), and the log
names them by UID, never by path (paths name patients)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

import dicomnet
from dicomnet.archive import Archive, install
from dicomnet.association import IncomingRequest, Response
from dicomnet.dimse import Status
from dicomnet.server import Server
from dicomnet.services import query_retrieve as qr
from dicomnet.services.storage import answer_store, contexts_for

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

CT = str(get_testdata_file("CT_small.dcm"))
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
COUNT = 5


def _study(folder: Path) -> list[Path]:
    """COUNT instances of one CT study, files of their own."""
    folder.mkdir()
    paths = []
    for number in range(COUNT):
        ds = pydicom.dcmread(CT)
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{number + 1}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"{number}.dcm"
        ds.save_as(path)
        paths.append(path)
    return paths


def _spoil(archive: Archive) -> tuple[str, str, str]:
    """Delete one stored file and garble another; their UIDs and the archive's folder
    of the patient (which must not show in the log)."""
    rows = sorted(archive.index.execute("SELECT sop_instance_uid, path FROM instance"))
    (missing, missing_path), (garbled, garbled_path) = rows[1], rows[3]
    os.remove(archive.folder / str(missing_path))
    with open(archive.folder / str(garbled_path), "r+b") as fp:
        fp.truncate(60)  # inside the preamble: no DICM prefix, no data set
    return str(missing), str(garbled), Path(str(missing_path)).parts[0]


async def _fill(port: int, files: list[Path]) -> None:
    async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                contexts=contexts_for(files)) as assoc:
        for path in files:
            assert await assoc.store(path) == Status.SUCCESS


def _check_final(responses: list[Response], missing: str, garbled: str) -> None:
    final = responses[-1]
    assert final.status == 0xB000  # sub-operations complete, one or more failures
    message = final.message
    assert message.number_of_completed_suboperations == COUNT - 2  # type: ignore[union-attr]
    assert message.number_of_failed_suboperations == 2  # type: ignore[union-attr]
    assert message.number_of_remaining_suboperations is None  # type: ignore[union-attr]
    assert final.dataset is not None
    assert sorted(final.dataset.FailedSOPInstanceUIDList) == sorted([missing, garbled])


def _check_log(caplog: pytest.LogCaptureFixture, folder: str, missing: str,
               garbled: str) -> None:
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    failures = [text for text in warnings if "sub-operation for" in text]
    assert any(missing in text for text in failures)
    assert any(garbled in text for text in failures)
    assert not [text for text in warnings if folder in text]


async def test_get_sends_the_rest_and_reports_the_bad_files(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    received: list[str] = []

    async def keep(request: IncomingRequest) -> int:
        received.append(str(request.message.affected_sop_instance_uid))  # type: ignore[union-attr]
        return Status.SUCCESS

    async def on_request(request: IncomingRequest) -> None:
        await answer_store(request, keep)

    files = _study(tmp_path / "study")
    archive = Archive(tmp_path / "archive")
    server = Server("ARCHIVE", prefer_requestor_order=True)
    install(server, archive)
    study = pydicom.dcmread(CT).StudyInstanceUID
    async with serving(server) as port:
        await _fill(port, files)
        missing, garbled, folder = _spoil(archive)
        query = pydicom.Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=[qr.STUDY_ROOT_GET, *contexts_for([CT])],
                                    roles={CT_STORAGE: (True, True)},
                                    on_request=on_request) as assoc:
            responses = [r async for r in qr.get(assoc, query)]
    _check_final(responses, missing, garbled)
    assert len(received) == COUNT - 2
    assert missing not in received and garbled not in received
    _check_log(caplog, folder, missing, garbled)


async def test_move_sends_the_rest_and_reports_the_bad_files(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    received: list[str] = []
    destination = Server("DEST")

    @destination.on_store()
    async def keep(request: IncomingRequest) -> int:
        received.append(str(request.message.affected_sop_instance_uid))  # type: ignore[union-attr]
        return Status.SUCCESS

    files = _study(tmp_path / "study")
    archive = Archive(tmp_path / "archive")
    study = pydicom.dcmread(CT).StudyInstanceUID
    async with serving(destination) as dest_port:
        server = Server("ARCHIVE", prefer_requestor_order=True)
        install(server, archive, {"DEST": ("127.0.0.1", dest_port)}.get)
        async with serving(server) as port:
            await _fill(port, files)
            missing, garbled, folder = _spoil(archive)
            query = pydicom.Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.StudyInstanceUID = study
            async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                        contexts=[qr.STUDY_ROOT_MOVE]) as assoc:
                responses = [r async for r in qr.move(assoc, query, destination="DEST")]
    _check_final(responses, missing, garbled)
    assert sorted(received) == sorted(
        uid for uid in (f"{pydicom.dcmread(CT).SOPInstanceUID}.{n + 1}"
                        for n in range(COUNT)) if uid not in (missing, garbled))
    _check_log(caplog, folder, missing, garbled)


async def test_get_of_plain_paths_survives_a_missing_file(serving: Serving,
                                                          tmp_path: Path) -> None:
    """A handler that yields bare paths (no UID with them): the missing one still
    fails alone, its UID unknown and so not listed."""
    files = _study(tmp_path / "study")
    gone = tmp_path / "gone.dcm"
    server = Server("SCP")

    async def retrieve(request: IncomingRequest) -> AsyncIterator[Path]:
        for path in (files[0], gone, files[1]):
            yield path

    server.on_get()(retrieve)
    stored: list[str] = []

    async def keep(request: IncomingRequest) -> int:
        stored.append(str(request.message.affected_sop_instance_uid))  # type: ignore[union-attr]
        return Status.SUCCESS

    async def on_request(request: IncomingRequest) -> None:
        await answer_store(request, keep)

    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = "1.2.3"
    async with serving(server) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="SCP",
            contexts=[qr.STUDY_ROOT_GET, *contexts_for([CT])],
            roles={CT_STORAGE: (True, True)}, on_request=on_request) as assoc:
        responses = [r async for r in qr.get(assoc, query)]
    final = responses[-1]
    assert final.status == 0xB000
    assert final.message.number_of_completed_suboperations == 2  # type: ignore[union-attr]
    assert final.message.number_of_failed_suboperations == 1  # type: ignore[union-attr]
    assert len(stored) == 2
