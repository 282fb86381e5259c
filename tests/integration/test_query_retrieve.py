"""C-FIND, C-GET, C-MOVE and C-CANCEL between dicomnet's client and server, on asyncio
and trio: the archive answers from its index, retrieved data sets are the stored bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing
from pathlib import Path

import anyio
import pydicom
import pytest
from pydicom.data import get_testdata_file
from queries import query as _query

import dicomnet
from dicomnet.archive import Archive, install
from dicomnet.association import IncomingRequest
from dicomnet.dimse import Status
from dicomnet.part10 import dataset_bytes
from dicomnet.server import Server
from dicomnet.services import query_retrieve as qr
from dicomnet.services.storage import answer_store, contexts_for
from dicomnet.uids import VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

CT = get_testdata_file("CT_small.dcm")
MR = get_testdata_file("MR_small.dcm")
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"



async def _archive_with(serving_port: int, files: list[str]) -> None:
    async with dicomnet.connect("127.0.0.1", serving_port, called_ae="ARCHIVE",
                                contexts=contexts_for(files)) as assoc:
        for path in files:
            assert await assoc.store(path) == Status.SUCCESS


def _archive_server(folder: Path, destinations: dict[str, tuple[str, int]] | None = None
                    ) -> Server:
    server = Server("ARCHIVE", prefer_requestor_order=True)
    install(server, Archive(folder), (destinations or {}).get)
    return server


async def test_find_at_each_level(serving: Serving, tmp_path: Path) -> None:
    ct = pydicom.dcmread(CT)
    async with serving(_archive_server(tmp_path)) as port:
        await _archive_with(port, [CT, MR])
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=[qr.STUDY_ROOT_FIND,
                                              qr.PATIENT_ROOT_FIND]) as assoc:
            study = _query("STUDY", PatientID=ct.PatientID, StudyInstanceUID="",
                           StudyDate="", NumberOfStudyRelatedInstances="")
            responses = [r async for r in qr.find(assoc, study)]
            assert [r.status for r in responses] == [Status.PENDING, Status.SUCCESS]
            match = responses[0].dataset
            assert match is not None
            assert match.StudyInstanceUID == ct.StudyInstanceUID
            assert match.StudyDate == ct.StudyDate
            # Counted when asked for (PS3.4 C.6.1.1.3).
            assert match.NumberOfStudyRelatedInstances == 1
            series = _query("IMAGE", PatientID=ct.PatientID,
                            StudyInstanceUID=ct.StudyInstanceUID,
                            SeriesInstanceUID=ct.SeriesInstanceUID, SOPInstanceUID="")
            images = [r.dataset async for r in qr.find(assoc, series, model="patient")
                      if r.status == Status.PENDING]
            assert [i.SOPInstanceUID for i in images] == [ct.SOPInstanceUID]
            # Hierarchical queries name an entity at each level above (C.4.1.2.1).
            orphan = [r.status async for r in
                      qr.find(assoc, _query("IMAGE", SOPInstanceUID=""), model="patient")]
            assert orphan == [0xA900]
            wildcard = _query("PATIENT", PatientName="*", PatientID="")
            names = [r async for r in qr.find(assoc, wildcard, model="patient")]
            assert len(names) == 3  # two patients and the final response
            nothing = [r.status async for r in
                       qr.find(assoc, _query("STUDY", PatientID="NOBODY"))]
            assert nothing == [Status.SUCCESS]
            bad_level = [r.status async for r in qr.find(assoc, _query("FRAME"))]
            assert bad_level == [0xA900]


async def test_get_returns_the_stored_bytes(serving: Serving, tmp_path: Path) -> None:
    received: dict[str, bytes] = {}

    async def keep(request: IncomingRequest) -> int:
        assert request.raw_dataset is not None
        received[request.message.affected_sop_instance_uid] = request.raw_dataset  # type: ignore[union-attr]
        return Status.SUCCESS

    async def on_request(request: IncomingRequest) -> None:
        await answer_store(request, keep)

    ct = pydicom.dcmread(CT)
    async with serving(_archive_server(tmp_path / "archive")) as port:
        await _archive_with(port, [CT, MR])
        contexts = [qr.STUDY_ROOT_GET, *contexts_for([CT])]
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=contexts, roles={CT_STORAGE: (True, True)},
                                    on_request=on_request) as assoc:
            query = _query("STUDY", StudyInstanceUID=ct.StudyInstanceUID)
            responses = [r async for r in qr.get(assoc, query)]
    final = responses[-1].message
    assert responses[-1].status == Status.SUCCESS
    assert final.number_of_completed_suboperations == 1  # type: ignore[union-attr]
    assert received == {ct.SOPInstanceUID: dataset_bytes(CT)[1]}


async def test_move_to_another_server(serving: Serving, tmp_path: Path) -> None:
    destination = Server("DEST", prefer_requestor_order=True)
    destination_archive = Archive(tmp_path / "dest")
    install(destination, destination_archive)
    ct = pydicom.dcmread(CT)
    async with serving(destination) as dest_port:
        source = _archive_server(tmp_path / "source", {"DEST": ("127.0.0.1", dest_port)})
        async with serving(source) as port:
            await _archive_with(port, [CT, MR])
            async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                        contexts=[qr.STUDY_ROOT_MOVE]) as assoc:
                query = _query("STUDY", StudyInstanceUID=ct.StudyInstanceUID)
                moved = [r async for r in qr.move(assoc, query, destination="DEST")]
                unknown = [r.status async for r in
                           qr.move(assoc, query, destination="NOWHERE")]
    assert moved[-1].status == Status.SUCCESS
    assert unknown == [0xA801]  # Refused: Move Destination unknown
    path = destination_archive.index.instance_path(ct.SOPInstanceUID)
    assert path is not None
    assert dataset_bytes(tmp_path / "dest" / path)[1] == dataset_bytes(CT)[1]
    assert destination_archive.index.count("instance") == 1


async def test_the_final_move_response_comes_after_the_sub_operations_are_released(
        serving: Serving, tmp_path: Path) -> None:
    """As DCMTK does: a requestor that releases as soon as the final C-MOVE-RSP comes
    cannot cut the sub-operations' association short (it did: the move handler was
    cancelled in the middle of that release, which then never ended)."""
    seen: list[str] = []
    destination = Server("DEST", on_event=lambda event: seen.append(type(event).__name__))
    destination_archive = Archive(tmp_path / "dest")
    install(destination, destination_archive)
    ct = pydicom.dcmread(CT)
    async with serving(destination) as dest_port:
        source = _archive_server(tmp_path / "source", {"DEST": ("127.0.0.1", dest_port)})
        async with serving(source) as port:
            await _archive_with(port, [CT])
            async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                        contexts=[qr.STUDY_ROOT_MOVE]) as assoc:
                query = _query("STUDY", StudyInstanceUID=ct.StudyInstanceUID)
                async for response in qr.move(assoc, query, destination="DEST"):
                    if not response.is_pending:
                        final = (response.status, list(seen))
    assert final[0] == Status.SUCCESS
    assert "AssociationReleased" in final[1]


async def test_cancel_stops_a_long_find_within_one_response(
        serving: Serving, caplog: pytest.LogCaptureFixture) -> None:
    server = Server("SCP")
    produced = 0
    after_cancel = 0
    requests: list[IncomingRequest] = []

    @server.on_find()
    async def many(request: IncomingRequest) -> AsyncIterator[pydicom.Dataset]:
        nonlocal produced, after_cancel
        requests.append(request)
        for number in range(10_000):
            if request.cancelled.is_set():
                after_cancel += 1
            produced += 1
            identifier = pydicom.Dataset()
            identifier.QueryRetrieveLevel = "PATIENT"
            identifier.PatientID = str(number)
            yield identifier

    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[qr.PATIENT_ROOT_FIND, VERIFICATION]) as assoc:
            query = _query("PATIENT", PatientID="*")
            with anyio.fail_after(10):
                async with aclosing(qr.find(assoc, query, model="patient")) as results:
                    async for response in results:
                        assert response.status == Status.PENDING
                        break  # -> C-CANCEL, then the final response is awaited
            # ...within the aclosing exit, not when the generators are collected: the
            # SCP has seen the C-CANCEL, no response came for a forgotten request.
            assert requests[0].cancelled.is_set()
            assert "unknown Message ID" not in caplog.text
            assert assoc.is_established
            assert await assoc.echo() == Status.SUCCESS  # nothing left in flight
    assert produced < 10_000
    assert after_cancel <= 1  # PS3.4 C.4.1.3: stop within one response of the C-CANCEL


async def test_cancelling_the_task_sends_c_cancel(serving: Serving) -> None:
    server = Server("SCP")
    stopped = anyio.Event()

    @server.on_find()
    async def endless(request: IncomingRequest) -> AsyncIterator[pydicom.Dataset]:
        try:
            for number in range(100_000):
                identifier = pydicom.Dataset()
                identifier.QueryRetrieveLevel = "PATIENT"
                identifier.PatientID = str(number)
                yield identifier
        finally:
            stopped.set()

    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[qr.PATIENT_ROOT_FIND, VERIFICATION]) as assoc:
            with anyio.fail_after(10), anyio.CancelScope() as scope:
                async for _response in qr.find(assoc, _query("PATIENT", PatientID=""),
                                               model="patient"):
                    scope.cancel()  # the task is cancelled while the find runs
            with anyio.fail_after(10):
                await stopped.wait()  # the SCP's handler was stopped by the C-CANCEL
            assert await assoc.echo() == Status.SUCCESS
