"""DIMSE-N services against real peers: pynetdicom as SCU and as SCP of the six
N-operations, of Storage Commitment Push Model (both association modes) and of MPPS;
DCMTK's findscu -W against `dicomnet serve --worklist`.

pynetdicom blocks, so beside an in-process dicomnet it runs in a worker thread; the
archive side is the real `dicomnet serve` command."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.dimse import Status
from dicomnet.server import Server
from dicomnet.services import commitment, mpps
from dicomnet.services.commitment import (
    STORAGE_COMMITMENT_INSTANCE,
    STORAGE_COMMITMENT_PUSH,
    CommitmentResults,
    Failed,
    Reference,
)
from dicomnet.services.normalized import (
    NFailure,
    NormalizedRequest,
    n_action,
    n_create,
    n_delete,
    n_event_report,
    n_get,
    n_set,
    select_attributes,
)
from dicomnet.testing import Process, dicomnet_command, free_port, run

pytestmark = pytest.mark.interop

#: Basic Film Session (PS3.4 H): pynetdicom's Print Management service class routes
#: all six N-operations of it to the handlers, which makes it a neutral test class.
FILM_SESSION = "1.2.840.10008.5.1.1.1"
MPPS = mpps.MPPS
CT = get_testdata_file("CT_small.dcm")
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


@asynccontextmanager
async def _serving(server: Server) -> AsyncIterator[int]:
    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve, "127.0.0.1", 0)
        try:
            yield port
        finally:
            server.shutdown(grace=2)


def _session(copies: str = "1") -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.NumberOfCopies = copies
    ds.MediumType = "PAPER"
    return ds


# -- the six N-operations ----------------------------------------------------------------


@pytest.mark.anyio
async def test_pynetdicom_n_operations_against_dicomnet() -> None:
    """pynetdicom as SCU of every N-operation; dicomnet's handlers answer."""
    from pynetdicom import AE, build_role

    items: dict[str, pydicom.Dataset] = {}
    events: list[tuple[int | None, str]] = []
    server = Server("DICOMNET")

    def known(request: NormalizedRequest) -> pydicom.Dataset:
        if request.sop_instance_uid not in items:
            raise NFailure(Status.NO_SUCH_SOP_INSTANCE)
        return items[request.sop_instance_uid]

    async def create(request: NormalizedRequest) -> tuple[int, pydicom.Dataset | None]:
        items[request.sop_instance_uid] = request.dataset or pydicom.Dataset()
        return Status.SUCCESS, None

    async def get(request: NormalizedRequest) -> tuple[int, pydicom.Dataset]:
        return Status.SUCCESS, select_attributes(known(request),
                                                 request.attribute_identifier_list)

    async def set_(request: NormalizedRequest) -> int:
        item = known(request)
        for element in request.dataset or []:
            item[element.tag] = element
        return Status.SUCCESS

    async def action(request: NormalizedRequest) -> tuple[int, pydicom.Dataset]:
        known(request)
        reply = pydicom.Dataset()
        reply.ReferencedPrintJobSequence = [pydicom.Dataset()]
        reply.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"
        return Status.SUCCESS, reply

    async def delete(request: NormalizedRequest) -> int:
        known(request)
        del items[request.sop_instance_uid]
        return Status.SUCCESS

    async def event(request: NormalizedRequest) -> int:
        events.append((request.event_type_id, request.sop_instance_uid))
        return Status.SUCCESS

    for operation, handler in (("N-CREATE", create), ("N-GET", get), ("N-SET", set_),
                               ("N-ACTION", action), ("N-DELETE", delete),
                               ("N-EVENT-REPORT", event)):
        server.on_normalized(FILM_SESSION, operation)(handler)  # type: ignore[arg-type]

    uid = generate_uid()

    def client(port: int) -> dict[str, Any]:
        ae = AE(ae_title="PYNETSCU")
        ae.add_requested_context(FILM_SESSION)
        assoc = ae.associate("127.0.0.1", port, ae_title="DICOMNET",
                             ext_neg=[build_role(FILM_SESSION, scu_role=True,
                                                 scp_role=True)])
        assert assoc.is_established
        out: dict[str, Any] = {}
        try:
            out["create"] = assoc.send_n_create(_session(), FILM_SESSION, uid)
            out["get"] = assoc.send_n_get([0x20000010], FILM_SESSION, uid)
            change = pydicom.Dataset()
            change.NumberOfCopies = "4"
            out["set"] = assoc.send_n_set(change, FILM_SESSION, uid)
            out["action"] = assoc.send_n_action(None, 1, FILM_SESSION, uid)
            out["event"] = assoc.send_n_event_report(None, 3, FILM_SESSION, uid)
            out["delete"] = assoc.send_n_delete(FILM_SESSION, uid)
            out["gone"] = assoc.send_n_get([0x20000010], FILM_SESSION, uid)
        finally:
            assoc.release()
        return out

    async with _serving(server) as port:
        out = await anyio.to_thread.run_sync(client, port)
    assert out["create"][0].Status == 0x0000
    status, attributes = out["get"]
    assert status.Status == 0x0000 and attributes.NumberOfCopies == 1
    assert "MediumType" not in attributes
    assert out["set"][0].Status == 0x0000
    status, reply = out["action"]
    assert status.Status == 0x0000
    assert reply.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID == "1.2.3.4"
    assert out["event"][0].Status == 0x0000
    assert events == [(3, uid)]
    assert out["delete"].Status == 0x0000
    assert out["gone"][0].Status == 0x0112
    assert uid not in items


@pytest.fixture
def pynetdicom_n_scp() -> Iterator[tuple[int, dict[str, Any]]]:
    """A pynetdicom SCP of every N-operation of Basic Film Session (AE PYNETN),
    keeping its instances in a dict; the requestor may take the SCP role (to send
    N-EVENT-REPORT)."""
    from pynetdicom import AE, evt

    state: dict[str, Any] = {"items": {}, "events": []}
    items: dict[str, pydicom.Dataset] = state["items"]

    def create(event: Any) -> tuple[int, pydicom.Dataset]:
        uid = str(event.request.AffectedSOPInstanceUID)
        items[uid] = event.attribute_list
        return 0x0000, event.attribute_list

    def get(event: Any) -> tuple[int, pydicom.Dataset | None]:
        uid = str(event.request.RequestedSOPInstanceUID)
        if uid not in items:
            return 0x0112, None
        reply = pydicom.Dataset()
        tags = event.request.AttributeIdentifierList or []
        # pydicom decodes an AT of one value as a bare tag, not a list of one.
        for tag in tags if isinstance(tags, list | tuple) else [tags]:
            if tag in items[uid]:
                reply[tag] = items[uid][tag]
        return 0x0000, reply

    def set_(event: Any) -> tuple[int, pydicom.Dataset | None]:
        uid = str(event.request.RequestedSOPInstanceUID)
        if uid not in items:
            return 0x0112, None
        for element in event.modification_list:
            items[uid][element.tag] = element
        return 0x0000, None

    def action(event: Any) -> tuple[int, pydicom.Dataset | None]:
        reply = pydicom.Dataset()
        reply.ReferencedPrintJobSequence = [pydicom.Dataset()]
        reply.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID = "9.8.7"
        return 0x0000, reply

    def delete(event: Any) -> int:
        return 0x0000 if items.pop(str(event.request.RequestedSOPInstanceUID), None) \
            is not None else 0x0112

    def report(event: Any) -> tuple[int, None]:
        state["events"].append((event.event_type,
                                str(event.request.AffectedSOPInstanceUID)))
        return 0x0000, None

    ae = AE(ae_title="PYNETN")
    ae.add_supported_context(FILM_SESSION, scu_role=True, scp_role=True)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[
        (evt.EVT_N_CREATE, create), (evt.EVT_N_GET, get), (evt.EVT_N_SET, set_),
        (evt.EVT_N_ACTION, action), (evt.EVT_N_DELETE, delete),
        (evt.EVT_N_EVENT_REPORT, report)])
    try:
        yield port, state
    finally:
        server.shutdown()


@pytest.mark.anyio
async def test_dicomnet_n_operations_against_pynetdicom(
        pynetdicom_n_scp: tuple[int, dict[str, Any]]) -> None:
    """dicomnet as SCU of every N-operation; pynetdicom's handlers answer."""
    port, state = pynetdicom_n_scp
    uid = generate_uid()
    async with dicomnet.connect("127.0.0.1", port, called_ae="PYNETN",
                                contexts=[FILM_SESSION],
                                roles={FILM_SESSION: (True, True)}) as assoc:
        created = await n_create(assoc, FILM_SESSION, uid, _session("2"))
        status, attributes = await n_get(assoc, FILM_SESSION, uid,
                                         [0x20000010, 0x20000050])
        change = pydicom.Dataset()
        change.NumberOfCopies = "5"
        changed = await n_set(assoc, FILM_SESSION, uid, change)
        action = await n_action(assoc, FILM_SESSION, uid, 1)
        event = await n_event_report(assoc, FILM_SESSION, uid, 2)
        deleted = await n_delete(assoc, FILM_SESSION, uid)
        gone = await n_get(assoc, FILM_SESSION, uid, [0x20000010])
    assert created.status == Status.SUCCESS and created.sop_instance_uid == uid
    assert status == Status.SUCCESS and attributes is not None
    assert attributes.NumberOfCopies == 2
    assert changed.status == Status.SUCCESS
    assert action.status == Status.SUCCESS and action.dataset is not None
    assert action.dataset.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID == "9.8.7"
    assert event.status == Status.SUCCESS
    assert state["events"] == [(2, uid)]
    assert deleted.status == Status.SUCCESS
    assert gone.status == Status.NO_SUCH_SOP_INSTANCE


# -- storage commitment -----------------------------------------------------------------


def _commit_request(instances: list[tuple[str, str]]) -> tuple[str, pydicom.Dataset]:
    transaction = generate_uid()
    information = pydicom.Dataset()
    information.TransactionUID = transaction
    information.ReferencedSOPSequence = []
    for sop_class, sop_instance in instances:
        item = pydicom.Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        information.ReferencedSOPSequence.append(item)
    return transaction, information


def _stored_serve(dicomnet_serve: Callable[..., Process], tmp_path: Path,
                  *extra: str) -> Process:
    server = dicomnet_serve("--data", str(tmp_path / "archive"), *extra)
    done = run(dicomnet_command("store", "-aec", "DICOMNET", "127.0.0.1",
                                str(server.port), CT))
    assert done.returncode == 0, done.output
    return server


def test_pynetdicom_commitment_scu_same_association(
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    """pynetdicom asks `dicomnet serve` for commitment and gets the report (held
    instance committed, unknown one failed 0112) on the same association."""
    from pynetdicom import AE, evt

    server = _stored_serve(dicomnet_serve, tmp_path)
    ct = pydicom.dcmread(CT)
    unknown = generate_uid()
    reports: list[tuple[int, pydicom.Dataset]] = []
    arrived = threading.Event()

    def on_report(event: Any) -> tuple[int, None]:
        reports.append((event.event_type, event.event_information))
        arrived.set()
        return 0x0000, None

    ae = AE(ae_title="PYNETSCU")
    ae.add_requested_context(STORAGE_COMMITMENT_PUSH)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="DICOMNET",
                         evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
    assert assoc.is_established
    transaction, information = _commit_request([(CT_STORAGE, ct.SOPInstanceUID),
                                                (CT_STORAGE, unknown)])
    try:
        status, _reply = assoc.send_n_action(information, 1, STORAGE_COMMITMENT_PUSH,
                                             STORAGE_COMMITMENT_INSTANCE)
        assert arrived.wait(10), "no N-EVENT-REPORT on the association"
    finally:
        assoc.release()
    assert status.Status == 0x0000
    event_type, report = reports[0]
    assert event_type == 2  # failures exist (PS3.4 Table J.3-2)
    assert report.TransactionUID == transaction
    assert [i.ReferencedSOPInstanceUID for i in report.ReferencedSOPSequence] == \
        [ct.SOPInstanceUID]
    assert [(i.ReferencedSOPInstanceUID, i.FailureReason)
            for i in report.FailedSOPSequence] == [(unknown, 0x0112)]


def test_pynetdicom_commitment_scu_new_association(
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    """pynetdicom releases after the N-ACTION-RSP; `dicomnet serve` opens an
    association to it (its --peer address) with the SCP role and reports there."""
    from pynetdicom import AE, evt

    reports: list[tuple[int, pydicom.Dataset]] = []
    arrived = threading.Event()

    def on_report(event: Any) -> tuple[int, None]:
        reports.append((event.event_type, event.event_information))
        arrived.set()
        return 0x0000, None

    receiver = AE(ae_title="PYNETSCU")
    receiver.add_supported_context(STORAGE_COMMITMENT_PUSH, scu_role=True, scp_role=True)
    receiver_port = free_port()
    listening = receiver.start_server(("127.0.0.1", receiver_port), block=False,
                                      evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
    try:
        server = _stored_serve(dicomnet_serve, tmp_path, "--peer",
                               f"PYNETSCU=127.0.0.1:{receiver_port}")
        ct = pydicom.dcmread(CT)
        ae = AE(ae_title="PYNETSCU")
        ae.add_requested_context(STORAGE_COMMITMENT_PUSH)
        assoc = ae.associate("127.0.0.1", server.port, ae_title="DICOMNET")
        assert assoc.is_established
        transaction, information = _commit_request([(CT_STORAGE, ct.SOPInstanceUID)])
        try:
            status, _reply = assoc.send_n_action(information, 1, STORAGE_COMMITMENT_PUSH,
                                                 STORAGE_COMMITMENT_INSTANCE)
        finally:
            assoc.release()
        assert status.Status == 0x0000
        assert arrived.wait(10), "no N-EVENT-REPORT on a new association"
    finally:
        listening.shutdown()
    event_type, report = reports[0]
    assert event_type == 1  # all committed
    assert report.TransactionUID == transaction
    assert [i.ReferencedSOPInstanceUID for i in report.ReferencedSOPSequence] == \
        [ct.SOPInstanceUID]


@pytest.fixture
def pynetdicom_commitment_scp() -> Iterator[tuple[int, dict[str, Any]]]:
    """A pynetdicom storage commitment SCP (AE PYNETSCP) that commits everything but
    instance UIDs ending in ".0". Mode "same": reports from the N-ACTION handler on
    the same association; mode "new": after answering, from a new association to
    ``state["receiver"]`` (port), proposing the SCP role."""
    from pynetdicom import AE, build_role, evt

    state: dict[str, Any] = {"mode": "same", "receiver": None, "sent": []}

    def decide(information: pydicom.Dataset) -> tuple[int, pydicom.Dataset]:
        report = pydicom.Dataset()
        report.TransactionUID = information.TransactionUID
        report.ReferencedSOPSequence = []
        failed = []
        for item in information.ReferencedSOPSequence:
            if str(item.ReferencedSOPInstanceUID).endswith(".0"):
                bad = pydicom.Dataset()
                bad.ReferencedSOPClassUID = item.ReferencedSOPClassUID
                bad.ReferencedSOPInstanceUID = item.ReferencedSOPInstanceUID
                bad.FailureReason = 0x0112
                failed.append(bad)
            else:
                report.ReferencedSOPSequence.append(item)
        if failed:
            report.FailedSOPSequence = failed
        return (2 if failed else 1), report

    def report_on_new_association(event_type: int, report: pydicom.Dataset) -> None:
        ae = AE(ae_title="PYNETSCP")
        ae.add_requested_context(STORAGE_COMMITMENT_PUSH)
        assoc = ae.associate("127.0.0.1", state["receiver"], ae_title="COMMITSCU",
                             ext_neg=[build_role(STORAGE_COMMITMENT_PUSH, scp_role=True)])
        assert assoc.is_established
        try:
            status, _ = assoc.send_n_event_report(report, event_type,
                                                  STORAGE_COMMITMENT_PUSH,
                                                  STORAGE_COMMITMENT_INSTANCE)
            state["sent"].append(("new", status.Status))
        finally:
            assoc.release()

    def on_action(event: Any) -> tuple[int, None]:
        event_type, report = decide(event.action_information)
        if state["mode"] == "same":
            status, _ = event.assoc.send_n_event_report(
                report, event_type, STORAGE_COMMITMENT_PUSH, STORAGE_COMMITMENT_INSTANCE)
            state["sent"].append(("same", status.Status))
        else:
            threading.Timer(0.2, report_on_new_association, (event_type, report)).start()
        return 0x0000, None

    ae = AE(ae_title="PYNETSCP")
    ae.add_supported_context(STORAGE_COMMITMENT_PUSH)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_N_ACTION, on_action)])
    try:
        yield port, state
    finally:
        server.shutdown()


@pytest.mark.anyio
async def test_dicomnet_commitment_scu_against_pynetdicom(
        pynetdicom_commitment_scp: tuple[int, dict[str, Any]]) -> None:
    """dicomnet as storage commitment SCU, pynetdicom as SCP: the report on the
    requesting association, then on a new one dicomnet's server receives."""
    port, state = pynetdicom_commitment_scp
    good, bad = generate_uid(), f"1.2.826.0.1.3680043.10.1{threading.get_ident() % 997}.0"
    results = CommitmentResults()
    async with dicomnet.connect("127.0.0.1", port, called_ae="PYNETSCP",
                                calling_ae="COMMITSCU", contexts=[STORAGE_COMMITMENT_PUSH],
                                on_request=results.on_request) as assoc:
        same = await commitment.request_commitment(assoc, [(CT_STORAGE, good),
                                                           (CT_STORAGE, bad)])
        with anyio.fail_after(10):
            result = await results.wait(same)
    assert result.committed == (Reference(CT_STORAGE, good),)
    assert result.failed == (Failed(CT_STORAGE, bad, 0x0112),)

    receiver = Server("COMMITSCU")
    results.install(receiver)
    async with _serving(receiver) as receiver_port:
        state["mode"], state["receiver"] = "new", receiver_port
        async with dicomnet.connect("127.0.0.1", port, called_ae="PYNETSCP",
                                    calling_ae="COMMITSCU",
                                    contexts=[STORAGE_COMMITMENT_PUSH]) as assoc:
            new = await commitment.request_commitment(assoc, [(CT_STORAGE, good)])
        with anyio.fail_after(10):
            result = await results.wait(new)
    assert result.committed == (Reference(CT_STORAGE, good),)
    assert result.all_committed
    assert state["sent"] == [("same", 0x0000), ("new", 0x0000)]


# -- MPPS ---------------------------------------------------------------------------


def _step(uid_status: str = "IN PROGRESS") -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "P1"
    ds.Modality = "CT"
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedProcedureStepStatus = uid_status
    return ds


def test_pynetdicom_mpps_scu_against_dicomnet_serve(
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    """pynetdicom creates and completes a step; `dicomnet serve` records it and refuses
    any later change (0110, Error ID A710, PS3.4 F.7.2.2.4)."""
    from pynetdicom import AE

    server = dicomnet_serve("--data", str(tmp_path / "archive"))
    uid = generate_uid()
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(MPPS)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="DICOMNET")
    assert assoc.is_established
    done = pydicom.Dataset()
    done.PerformedProcedureStepStatus = "COMPLETED"
    done.PerformedProcedureStepEndTime = "0930"
    try:
        created, _ = assoc.send_n_create(_step(), MPPS, uid)
        completed, _ = assoc.send_n_set(done, MPPS, uid)
        refused, _ = assoc.send_n_set(_step(), MPPS, uid)
        unknown, _ = assoc.send_n_set(done, MPPS, generate_uid())
    finally:
        assoc.release()
    assert created.Status == 0x0000
    assert completed.Status == 0x0000
    assert refused.Status == 0x0110
    assert refused.ErrorComment == mpps.NO_LONGER_UPDATABLE
    assert refused.ErrorID == 0xA710
    assert unknown.Status == 0x0112
    with sqlite3.connect(tmp_path / "archive" / "index.sqlite") as db:
        rows = db.execute("SELECT sop_instance_uid, status, dataset FROM mpps").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(uid, "COMPLETED")]
    assert json.loads(rows[0][2])["00400253"]["Value"] == ["PPS1"]


@pytest.mark.anyio
async def test_dicomnet_mpps_scu_against_pynetdicom() -> None:
    """dicomnet creates and completes a step on a pynetdicom MPPS SCP."""
    from pynetdicom import AE, evt

    steps: dict[str, pydicom.Dataset] = {}

    def create(event: Any) -> tuple[int, pydicom.Dataset]:
        steps[str(event.request.AffectedSOPInstanceUID)] = event.attribute_list
        return 0x0000, event.attribute_list

    def set_(event: Any) -> tuple[int, pydicom.Dataset | None]:
        step = steps.get(str(event.request.RequestedSOPInstanceUID))
        if step is None:
            return 0x0112, None
        for element in event.modification_list:
            step[element.tag] = element
        return 0x0000, step

    ae = AE(ae_title="PYNETRIS")
    ae.add_supported_context(MPPS)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_N_CREATE, create),
                                           (evt.EVT_N_SET, set_)])
    uid = generate_uid()
    try:
        async with dicomnet.connect("127.0.0.1", port, called_ae="PYNETRIS",
                                    contexts=[MPPS]) as assoc:
            created = await mpps.create(assoc, _step(), uid)
            done = pydicom.Dataset()
            done.PerformedProcedureStepStatus = "COMPLETED"
            completed = await mpps.update(assoc, uid, done)
    finally:
        server.shutdown()
    assert created.status == Status.SUCCESS and created.sop_instance_uid == uid
    assert completed.status == Status.SUCCESS
    assert completed.dataset is not None
    assert completed.dataset.PerformedProcedureStepStatus == "COMPLETED"
    assert steps[uid].PerformedProcedureStepID == "PPS1"


# -- Modality Worklist --------------------------------------------------------------


def test_findscu_worklist_against_dicomnet_serve(
        dcmtk: Callable[[str], str], dicomnet_serve: Callable[..., Process],
        tmp_path: Path) -> None:
    """DCMTK's findscu -W against `dicomnet serve --worklist DIR` (DICOM and JSON
    items), matched on a sequence key and a name wild card."""
    folder = tmp_path / "worklist"
    folder.mkdir()
    for number, (name, modality) in enumerate([("DOE^JANE", "CT"), ("ROE^JOHN", "MR"),
                                               ("DOE^JOHN", "MR")]):
        step = pydicom.Dataset()
        step.Modality = modality
        step.ScheduledStationAETitle = "SCANNER"
        step.ScheduledProcedureStepStartDate = "20261125"
        step.ScheduledProcedureStepID = f"SPS{number}"
        item = pydicom.Dataset()
        item.SpecificCharacterSet = "ISO_IR 100"
        item.PatientName = name
        item.PatientID = f"P{number}"
        item.AccessionNumber = f"A{number}"
        item.StudyInstanceUID = generate_uid()
        item.ScheduledProcedureStepSequence = [step]
        if number == 2:
            (folder / "p2.json").write_text(item.to_json())
            continue
        item.file_meta = pydicom.dataset.FileMetaDataset()
        item.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        item.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
        item.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        item.save_as(folder / f"p{number}.wl", enforce_file_format=True)
    server = dicomnet_serve("--data", str(tmp_path / "archive"), "--worklist", str(folder))
    done = run([dcmtk("findscu"), "-v", "-W", "-aec", "DICOMNET",
                "-k", "PatientName=DOE*", "-k", "PatientID", "-k", "AccessionNumber",
                "-k", "ScheduledProcedureStepSequence[0].Modality=MR",
                "-k", "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
                "127.0.0.1", str(server.port)])
    assert done.returncode == 0, done.output
    assert done.output.count("(Pending)") == 1, done.output
    assert "P2" in done.output and "SPS2" in done.output and "A2" in done.output
    assert "P0" not in done.output and "P1" not in done.output
