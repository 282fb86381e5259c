"""Modality Performed Procedure Step (PS3.4 Annex F) between dicomnet's SCU and SCP, on
asyncio and trio: the state rules of F.7.2 (created IN PROGRESS; to COMPLETED or
DISCONTINUED; no change after that: 0110 with Error ID A710 and the standard's
comment), and the archive recording steps in its index."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.archive import Archive, install
from dicomnet.archive.steps import IndexMPPSStore
from dicomnet.dimse import Status
from dicomnet.server import Server
from dicomnet.services import mpps
from dicomnet.services.mpps import MPPS, MPPSSCP, NO_LONGER_UPDATABLE

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


def _step(status: str | None = "IN PROGRESS") -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "P1"
    ds.Modality = "CT"
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedProcedureStepStartDate = "20261125"
    ds.PerformedProcedureStepStartTime = "0900"
    if status is not None:
        ds.PerformedProcedureStepStatus = status
    return ds


def _final(status: str) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = "20261125"
    ds.PerformedProcedureStepEndTime = "0930"
    return ds


async def test_state_rules(serving: Serving) -> None:
    server = Server("RIS")
    scp = MPPSSCP()
    scp.install(server)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="RIS",
                                    contexts=[MPPS]) as assoc:
            uid = generate_uid()
            assert (await mpps.create(assoc, _step(), uid)).status == Status.SUCCESS
            # Created only once, and only IN PROGRESS (Table F.7.2-1).
            assert (await mpps.create(assoc, _step(), uid)).status == \
                Status.DUPLICATE_SOP_INSTANCE
            assert (await mpps.create(assoc, _step("COMPLETED"))).status == \
                Status.INVALID_ATTRIBUTE_VALUE
            assert (await mpps.create(assoc, _step(None))).status == \
                Status.MISSING_ATTRIBUTE
            assert (await mpps.update(assoc, generate_uid(), _final("COMPLETED"))
                    ).status == Status.NO_SUCH_SOP_INSTANCE
            # Updates while IN PROGRESS, then the final state.
            more = pydicom.Dataset()
            more.PerformedProcedureStepDescription = "CT head"
            assert (await mpps.update(assoc, uid, more)).status == Status.SUCCESS
            bad = pydicom.Dataset()
            bad.PerformedProcedureStepStatus = "FINISHED"
            assert (await mpps.update(assoc, uid, bad)).status == \
                Status.INVALID_ATTRIBUTE_VALUE
            assert (await mpps.update(assoc, uid, _final("COMPLETED"))).status == \
                Status.SUCCESS
            # No change after COMPLETED, not even back to IN PROGRESS (F.7.2.2.4).
            for change in (_final("DISCONTINUED"), _step(), more):
                refused = await mpps.update(assoc, uid, change)
                assert refused.status == 0x0110
                assert refused.error_comment == NO_LONGER_UPDATABLE
                assert refused.error_id == 0xA710
            # DISCONTINUED is final too; the SCP chooses the UID when none is given.
            created = await mpps.create(assoc, _step())
            other = created.sop_instance_uid
            assert created.status == Status.SUCCESS and other is not None
            assert (await mpps.update(assoc, other, _final("DISCONTINUED"))).status == \
                Status.SUCCESS
            assert (await mpps.update(assoc, other, _final("COMPLETED"))).status == 0x0110
    kept = scp.store.get(uid)
    assert kept is not None
    assert kept.PerformedProcedureStepStatus == "COMPLETED"
    assert kept.PerformedProcedureStepDescription == "CT head"
    assert kept.SOPInstanceUID == uid and kept.SOPClassUID == MPPS
    discontinued = scp.store.get(other)
    assert discontinued is not None
    assert discontinued.PerformedProcedureStepStatus == "DISCONTINUED"


async def test_archive_records_steps(serving: Serving, tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    server = Server("ARCHIVE")
    install(server, archive)
    uid = generate_uid()
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=[MPPS]) as assoc:
            assert (await mpps.create(assoc, _step(), uid)).status == Status.SUCCESS
            assert archive.index.execute("SELECT status FROM mpps") == [("IN PROGRESS",)]
            assert (await mpps.update(assoc, uid, _final("COMPLETED"))).status == 0
            assert (await mpps.update(assoc, uid, _final("DISCONTINUED"))).status == 0x0110
    assert archive.index.count("mpps") == 1
    assert archive.index.execute("SELECT sop_instance_uid, status, patient_id, modality "
                                 "FROM mpps") == [(uid, "COMPLETED", "P1", "CT")]
    step = IndexMPPSStore(archive.index).get(uid)
    assert step is not None
    assert step.PerformedProcedureStepEndTime == "0930"
    assert step.PatientName == "DOE^JANE"
    archive.close()
    # The index is the archive's memory: a new server on the folder keeps the rules.
    reopened = Archive(tmp_path)
    server = Server("ARCHIVE")
    install(server, reopened)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=[MPPS]) as assoc:
            assert (await mpps.update(assoc, uid, _step())).status == 0x0110
    reopened.close()
