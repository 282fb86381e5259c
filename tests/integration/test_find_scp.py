"""The archive's C-FIND SCP over real sockets, on asyncio and trio: pending responses
go out in few socket writes, with the counts asked for, in the identifiers pydicom
decodes; an IMAGE query naming only its study is answered unless the server is
strict about the hierarchy (then refused with a comment naming the missing key)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest
from queries import query

import dicomnet
from dicomnet import Association
from dicomnet.archive import Archive, install
from dicomnet.archive.index import InstanceRecord
from dicomnet.dimse import Status
from dicomnet.server import Server
from dicomnet.services import query_retrieve as qr

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

STUDY = "1.2.826.0.1.3680043.10.9"
SERIES = STUDY + ".1"
INSTANCES = 600


def _archive(folder: Path) -> Archive:
    """One study of one series of INSTANCES instances, filed through the index."""
    archive = Archive(folder)
    with archive.index.transaction():
        for n in range(INSTANCES):
            archive.index.write(InstanceRecord(
                patient_id="P1", patient_name="Doe^Jane", birth_date="", sex="",
                study_uid=STUDY, study_date="20260101", study_time="", accession_number="",
                study_id="1", study_description="", referring_physician="",
                series_uid=SERIES, modality="CT", series_number="1", series_description="",
                sop_instance_uid=f"{SERIES}.{n}", sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                instance_number=str(n + 1), transfer_syntax="1.2.840.10008.1.2.1",
                path=f"P1/{n}.dcm", size=1, source_ae_title=""))
    return archive


async def test_pending_responses_share_socket_writes(
        serving: Serving, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _archive(tmp_path)
    writes = [0]
    send_bytes = Association._send_bytes

    async def counted(self: Association, data: bytes | bytearray) -> None:
        writes[0] += 1
        await send_bytes(self, data)

    server = Server("ARCHIVE")
    install(server, archive)
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                             contexts=[qr.STUDY_ROOT_FIND]) as assoc:
        monkeypatch.setattr(Association, "_send_bytes", counted)
        with anyio.fail_after(60):
            responses = [r async for r in qr.find(assoc, query(
                "IMAGE", StudyInstanceUID=STUDY, SeriesInstanceUID=SERIES,
                SOPInstanceUID="", InstanceNumber=""))]
        monkeypatch.setattr(Association, "_send_bytes", send_bytes)
    pending = [r for r in responses if r.status == Status.PENDING]
    assert responses[-1].status == Status.SUCCESS
    assert sorted(int(r.dataset.InstanceNumber) for r in pending) == \
        list(range(1, INSTANCES + 1))
    # Both sides' writes: the request, then a few batches of responses and the final
    # one (one write per response before).
    assert writes[0] < INSTANCES // 10, writes[0]
    archive.close()


@pytest.mark.parametrize("strict", [False, True])
async def test_an_image_query_naming_only_its_study(serving: Serving, tmp_path: Path,
                                                     strict: bool) -> None:
    archive = _archive(tmp_path)
    server = Server("ARCHIVE")
    install(server, archive, strict_hierarchy=strict)
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                             contexts=[qr.STUDY_ROOT_FIND]) as assoc:
        with anyio.fail_after(60):
            responses = [r async for r in qr.find(assoc, query(
                "IMAGE", StudyInstanceUID=STUDY, SOPInstanceUID=""))]
    final = responses[-1]
    if strict:
        assert [r.status for r in responses] == [0xA900]
        assert "SeriesInstanceUID" in str(final.message.error_comment)
        assert final.message.offending_element == (0x0020000E,)
    else:
        assert final.status == Status.SUCCESS
        assert len(responses) == INSTANCES + 1
    archive.close()


async def _study_counts(assoc: Association) -> list[tuple[int, int, str]]:
    found = [r.dataset async for r in qr.find(assoc, query(
        "STUDY", StudyInstanceUID="", NumberOfStudyRelatedSeries="",
        NumberOfStudyRelatedInstances="", ModalitiesInStudy=""))
        if r.status == Status.PENDING]
    return [(int(d.NumberOfStudyRelatedSeries), int(d.NumberOfStudyRelatedInstances),
             str(d.ModalitiesInStudy)) for d in found if d is not None]


async def test_counts_come_back(serving: Serving, tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    server = Server("ARCHIVE")
    install(server, archive)
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                             contexts=[qr.STUDY_ROOT_FIND]) as assoc:
        with anyio.fail_after(60):
            assert await _study_counts(assoc) == [(1, INSTANCES, "CT")]
    archive.close()
