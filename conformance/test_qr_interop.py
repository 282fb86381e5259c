"""Query/Retrieve against real peers: DCMTK's findscu, getscu and movescu against
``dicomnet serve``, and ``dicomnet find/get/move`` against DCMTK's dcmqrscp; pynetdicom
as a C-FIND SCU. Retrieved data sets must be the stored bytes (file meta aside)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from corpus import build_corpus

from dicomnet.part10 import dataset_bytes
from dicomnet.testing import (
    Process,
    data_sets_by_instance,
    dcmtk_binary,
    dicomnet_command,
    free_port,
    run,
    start_process,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A few instances of different studies (explicit VR little endian, so every peer
    accepts them as they are)."""
    corpus = build_corpus(tmp_path_factory.mktemp("qr-corpus"), copies=2)
    return corpus["explicit-le"][:6]



def _load(port: int, called: str, files: list[Path]) -> None:
    done = run(dicomnet_command("store", "-aec", called, "127.0.0.1", str(port),
                                *map(str, files)), timeout=120)
    assert done.returncode == 0, done.output


def test_findscu_against_dicomnet_serve(studies: list[Path], dcmtk: Callable[[str], str],
                                        dicomnet_serve: Callable[..., Process],
                                        tmp_path: Path) -> None:
    server = dicomnet_serve("--data", str(tmp_path / "archive"))
    _load(server.port, "DICOMNET", studies)
    target = pydicom.dcmread(studies[0])
    done = run([dcmtk("findscu"), "-v", "-S", "-aec", "DICOMNET",
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"PatientID={target.PatientID}",
                "-k", "StudyInstanceUID", "-k", "StudyDate", "127.0.0.1", str(server.port)])
    assert done.returncode == 0, done.output
    expected = {pydicom.dcmread(p).StudyInstanceUID for p in studies
                if pydicom.dcmread(p).PatientID == target.PatientID}
    assert done.output.count("(Pending)") == len(expected), done.output
    for uid in expected:
        assert uid in done.output


def test_getscu_against_dicomnet_serve(studies: list[Path], dcmtk: Callable[[str], str],
                                       dicomnet_serve: Callable[..., Process],
                                       tmp_path: Path) -> None:
    server = dicomnet_serve("--data", str(tmp_path / "archive"))
    _load(server.port, "DICOMNET", studies)
    target = pydicom.dcmread(studies[0])
    out = tmp_path / "got"
    out.mkdir()
    done = run([dcmtk("getscu"), "-v", "-S", "+B", "-aec", "DICOMNET", "-od", str(out),
                "-k", "QueryRetrieveLevel=STUDY",
                "-k", f"StudyInstanceUID={target.StudyInstanceUID}",
                "127.0.0.1", str(server.port)])
    assert done.returncode == 0, done.output
    received = data_sets_by_instance(out, "*", skip_others=True)
    assert received == {target.SOPInstanceUID: dataset_bytes(studies[0])[1]}


def test_movescu_to_storescp_through_dicomnet_serve(
        studies: list[Path], dcmtk: Callable[[str], str],
        dicomnet_serve: Callable[..., Process], storescp: Callable[..., Process],
        tmp_path: Path) -> None:
    destination = storescp("+B")
    server = dicomnet_serve("--data", str(tmp_path / "archive"), "--peer",
                            f"STORESCP=127.0.0.1:{destination.port}")
    _load(server.port, "DICOMNET", studies)
    target = pydicom.dcmread(studies[1])
    done = run([dcmtk("movescu"), "-v", "-S", "-aec", "DICOMNET", "-aem", "STORESCP",
                "-k", "QueryRetrieveLevel=STUDY",
                "-k", f"StudyInstanceUID={target.StudyInstanceUID}",
                "127.0.0.1", str(server.port)])
    assert done.returncode == 0, done.output
    received = data_sets_by_instance(tmp_path / f"storescp-{destination.port}", "*",
                                     skip_others=True)
    assert received == {target.SOPInstanceUID: dataset_bytes(studies[1])[1]}
    unknown = run([dcmtk("movescu"), "-S", "-aec", "DICOMNET", "-aem", "NOBODY",
                   "-k", "QueryRetrieveLevel=STUDY",
                   "-k", f"StudyInstanceUID={target.StudyInstanceUID}",
                   "127.0.0.1", str(server.port)])
    assert unknown.returncode != 0
    assert "MoveDestinationUnknown" in unknown.output, unknown.output  # status A801


# -- dicomnet as SCU against dcmqrscp -------------------------------------------------


@pytest.fixture
def loaded_dcmqrscp(dcmqrscp: Callable[..., Process], studies: list[Path]
                    ) -> Callable[[int], Process]:
    """DCMTK's dcmqrscp (AE QRSCP) loaded with the studies; ``start(dest_port)`` names
    DICOMNET at 127.0.0.1:dest_port as its move destination."""

    def start(dest_port: int) -> Process:
        process = dcmqrscp("QRSCP", peers={"DICOMNET": ("127.0.0.1", dest_port)})
        done = run([dcmtk_binary("storescu"), "-aec", "QRSCP", "127.0.0.1",
                    str(process.port), *map(str, studies)])
        assert done.returncode == 0, done.output
        return process

    return start


def test_dicomnet_find_against_dcmqrscp(studies: list[Path],
                                        loaded_dcmqrscp: Callable[[int], Process]) -> None:
    server = loaded_dcmqrscp(free_port())
    target = pydicom.dcmread(studies[0])
    done = run(dicomnet_command("find", "-aec", "QRSCP", "127.0.0.1", str(server.port),
                                "-L", "STUDY", "-k", f"PatientID={target.PatientID}",
                                "-k", "StudyInstanceUID=", "--json"))
    assert done.returncode == 0, done.output
    matches = [json.loads(line) for line in done.output.splitlines()
               if line.startswith("{")]
    uids = {m["0020000D"]["Value"][0] for m in matches}
    expected = {pydicom.dcmread(p).StudyInstanceUID for p in studies
                if pydicom.dcmread(p).PatientID == target.PatientID}
    assert uids == expected


def test_dicomnet_get_against_dcmqrscp(studies: list[Path],
                                       loaded_dcmqrscp: Callable[[int], Process],
                                       tmp_path: Path) -> None:
    server = loaded_dcmqrscp(free_port())
    target = pydicom.dcmread(studies[2])
    out = tmp_path / "got"
    done = run(dicomnet_command("get", "-aec", "QRSCP", "127.0.0.1", str(server.port),
                                "-L", "STUDY", "-k",
                                f"StudyInstanceUID={target.StudyInstanceUID}",
                                "-o", str(out)))
    assert done.returncode == 0, done.output
    assert data_sets_by_instance(out, "*", skip_others=True) == \
        {target.SOPInstanceUID: dataset_bytes(studies[2])[1]}


def test_dicomnet_move_from_dcmqrscp_to_dicomnet_serve(
        studies: list[Path], loaded_dcmqrscp: Callable[[int], Process],
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    destination = dicomnet_serve("--data", str(tmp_path / "dest"))
    server = loaded_dcmqrscp(destination.port)
    target = pydicom.dcmread(studies[3])
    done = run(dicomnet_command("move", "-aec", "QRSCP", "127.0.0.1", str(server.port),
                                "-L", "STUDY", "-k",
                                f"StudyInstanceUID={target.StudyInstanceUID}",
                                "--dest", "DICOMNET"))
    assert done.returncode == 0, done.output
    received = data_sets_by_instance(tmp_path / "dest", "*", skip_others=True)
    assert received == {target.SOPInstanceUID: dataset_bytes(studies[3])[1]}


# -- pynetdicom ----------------------------------------------------------------------


def test_pynetdicom_find_against_dicomnet_serve(
        studies: list[Path], dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

    server = dicomnet_serve("--data", str(tmp_path / "archive"))
    _load(server.port, "DICOMNET", studies)
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="DICOMNET")
    assert assoc.is_established
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    try:
        results = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
    finally:
        assoc.release()
    statuses = [status.Status for status, _identifier in results]
    assert statuses[-1] == 0x0000
    found = {identifier.StudyInstanceUID for status, identifier in results
             if status.Status == 0xFF00}
    assert found == {pydicom.dcmread(p).StudyInstanceUID for p in studies}



def test_pynetdicom_get_against_dicomnet_serve(
        studies: list[Path], dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    """pynetdicom as C-GET SCU (SCP role for the storage class negotiated, PS3.7
    D.3.3.4): the instance arrives on the same association, byte-identical."""
    from pynetdicom import AE, build_role, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

    server = dicomnet_serve("--data", str(tmp_path / "archive"))
    _load(server.port, "DICOMNET", studies)
    target = pydicom.dcmread(studies[2])
    received: dict[str, bytes] = {}

    def on_store(event: object) -> int:
        received[event.request.AffectedSOPInstanceUID] = bytes(  # type: ignore[attr-defined]
            event.request.DataSet.getvalue())  # type: ignore[attr-defined]
        return 0x0000

    ae = AE(ae_title="PYNETGET")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(target.SOPClassUID, [target.file_meta.TransferSyntaxUID])
    assoc = ae.associate("127.0.0.1", server.port, ae_title="DICOMNET",
                         ext_neg=[build_role(target.SOPClassUID, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = target.StudyInstanceUID
    try:
        results = list(assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
    final = results[-1][0]
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == 1
    assert received == {target.SOPInstanceUID: dataset_bytes(studies[2])[1]}


@pytest.fixture
def pynetdicom_storage_scp(tmp_path: Path) -> Iterator[tuple[int, dict[str, bytes]]]:
    """A pynetdicom storage SCP (AE PYNETSTORE) on a free port, keeping each received
    data set's bytes by SOP Instance UID."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    received: dict[str, bytes] = {}

    def on_store(event: object) -> int:
        received[event.request.AffectedSOPInstanceUID] = bytes(  # type: ignore[attr-defined]
            event.request.DataSet.getvalue())  # type: ignore[attr-defined]
        return 0x0000

    ae = AE(ae_title="PYNETSTORE")
    ae.supported_contexts = AllStoragePresentationContexts
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield port, received
    finally:
        server.shutdown()


def test_pynetdicom_move_through_dicomnet_serve_to_pynetdicom(
        studies: list[Path], dicomnet_serve: Callable[..., Process],
        pynetdicom_storage_scp: tuple[int, dict[str, bytes]], tmp_path: Path) -> None:
    """pynetdicom as C-MOVE SCU and as the move destination, dicomnet serve between."""
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

    destination_port, received = pynetdicom_storage_scp
    server = dicomnet_serve("--data", str(tmp_path / "archive"), "--peer",
                            f"PYNETSTORE=127.0.0.1:{destination_port}")
    _load(server.port, "DICOMNET", studies)
    target = pydicom.dcmread(studies[5])
    ae = AE(ae_title="PYNETMOVE")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="DICOMNET")
    assert assoc.is_established
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = target.StudyInstanceUID
    try:
        results = list(assoc.send_c_move(query, "PYNETSTORE",
                                         StudyRootQueryRetrieveInformationModelMove))
        unknown = list(assoc.send_c_move(query, "NOBODY",
                                         StudyRootQueryRetrieveInformationModelMove))
    finally:
        assoc.release()
    assert results[-1][0].Status == 0x0000
    assert results[-1][0].NumberOfCompletedSuboperations == 1
    assert received == {target.SOPInstanceUID: dataset_bytes(studies[5])[1]}
    assert unknown[-1][0].Status == 0xA801


@pytest.fixture
def pynetdicom_qr_scp(studies: list[Path]) -> Iterator[tuple[int, dict[str, int]]]:
    """A pynetdicom C-FIND, C-GET and C-MOVE SCP (Study Root, AE PYNETQR) over the
    studies, on a free port; the dict it yields maps move destinations to ports."""
    from pynetdicom import AE, StoragePresentationContexts, evt
    from pynetdicom.sop_class import (
        StudyRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelGet,
        StudyRootQueryRetrieveInformationModelMove,
    )

    destinations: dict[str, int] = {}

    instances = [pydicom.dcmread(path) for path in studies]

    def matching(query: pydicom.Dataset) -> list[pydicom.Dataset]:
        wanted = str(query.get("StudyInstanceUID", "") or "")
        return [ds for ds in instances if not wanted or ds.StudyInstanceUID == wanted]

    def on_find(event: object) -> Iterator[tuple[int, pydicom.Dataset | None]]:
        query = event.identifier  # type: ignore[attr-defined]
        for ds in matching(query):
            identifier = pydicom.Dataset()
            identifier.QueryRetrieveLevel = "STUDY"
            identifier.StudyInstanceUID = ds.StudyInstanceUID
            identifier.PatientID = ds.PatientID
            yield 0xFF00, identifier

    def on_get(event: object) -> Iterator[int | tuple[int, pydicom.Dataset]]:
        found = matching(event.identifier)  # type: ignore[attr-defined]
        yield len(found)
        for ds in found:
            yield 0xFF00, ds

    def on_move(event: object) -> Iterator[object]:
        title = event.move_destination  # type: ignore[attr-defined]
        title = title.decode() if isinstance(title, bytes) else str(title)
        port = destinations.get(title.strip())
        yield ("127.0.0.1", port) if port else (None, None)
        found = matching(event.identifier)  # type: ignore[attr-defined]
        yield len(found)
        for ds in found:
            yield 0xFF00, ds

    ae = AE(ae_title="PYNETQR")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
    for context in StoragePresentationContexts:
        ae.add_requested_context(context.abstract_syntax, context.transfer_syntax)
    for context in StoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, scu_role=True, scp_role=True)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_FIND, on_find),
                                           (evt.EVT_C_GET, on_get),
                                           (evt.EVT_C_MOVE, on_move)])
    try:
        yield port, destinations
    finally:
        server.shutdown()


def test_dicomnet_find_and_get_against_pynetdicom(studies: list[Path],
                                                  pynetdicom_qr_scp: tuple[int, dict[str, int]],
                                                  tmp_path: Path) -> None:
    port, _destinations = pynetdicom_qr_scp
    target = pydicom.dcmread(studies[4])
    found = run(dicomnet_command("find", "-aec", "PYNETQR", "127.0.0.1", str(port),
                                 "-L", "STUDY", "-k", "StudyInstanceUID=", "--json"))
    assert found.returncode == 0, found.output
    uids = {json.loads(line)["0020000D"]["Value"][0] for line in found.output.splitlines()
            if line.startswith("{")}
    assert uids == {pydicom.dcmread(p).StudyInstanceUID for p in studies}
    out = tmp_path / "got"
    got = run(dicomnet_command("get", "-aec", "PYNETQR", "127.0.0.1", str(port), "-L",
                               "STUDY", "-k", f"StudyInstanceUID={target.StudyInstanceUID}",
                               "-o", str(out)))
    assert got.returncode == 0, got.output
    received = data_sets_by_instance(out, "*", skip_others=True)
    assert list(received) == [target.SOPInstanceUID]
    # pynetdicom re-encodes what it sends: compare the data sets, not the bytes.
    assert pydicom.dcmread(next(out.glob("*.dcm"))) == pydicom.dcmread(studies[4])


def test_dicomnet_move_from_pynetdicom_to_dicomnet_serve(
        studies: list[Path], pynetdicom_qr_scp: tuple[int, dict[str, int]],
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    """`dicomnet move` against pynetdicom as C-MOVE SCP, dicomnet serve the destination."""
    port, destinations = pynetdicom_qr_scp
    destination = dicomnet_serve("--data", str(tmp_path / "dest"))
    destinations["DICOMNET"] = destination.port
    target = pydicom.dcmread(studies[1])
    done = run(dicomnet_command("move", "-aec", "PYNETQR", "127.0.0.1", str(port),
                                "-L", "STUDY", "-k",
                                f"StudyInstanceUID={target.StudyInstanceUID}",
                                "--dest", "DICOMNET"))
    assert done.returncode == 0, done.output
    received = data_sets_by_instance(tmp_path / "dest", "*", skip_others=True)
    assert list(received) == [target.SOPInstanceUID]
    unknown = run(dicomnet_command("move", "-aec", "PYNETQR", "127.0.0.1", str(port),
                                   "-L", "STUDY", "-k",
                                   f"StudyInstanceUID={target.StudyInstanceUID}",
                                   "--dest", "NOBODY"))
    assert unknown.returncode != 0
    assert "A801" in unknown.output, unknown.output


def test_dicomnet_worklist_find_against_wlmscpfs(dcmtk: Callable[[str], str],
                                                 tmp_path: Path) -> None:
    """`dicomnet find -m worklist` against DCMTK's worklist SCP over .wl files."""
    folder = tmp_path / "worklists" / "WLMSCP"  # one sub-folder per called AE title
    folder.mkdir(parents=True)
    (folder / "lockfile").touch()  # wlmscpfs refuses (A700) a folder without one
    for number, (name, modality) in enumerate([("DOE^JANE", "CT"), ("ROE^JOHN", "MR")]):
        item = pydicom.Dataset()
        item.Modality = modality
        item.ScheduledStationAETitle = "SCANNER"
        item.ScheduledProcedureStepStartDate = "20261125"
        item.ScheduledProcedureStepStartTime = "0900"
        item.ScheduledPerformingPhysicianName = ""
        item.ScheduledProcedureStepDescription = "exam"
        item.ScheduledProcedureStepID = f"SPS{number}"
        worklist = pydicom.Dataset()
        worklist.SpecificCharacterSet = "ISO_IR 100"
        worklist.PatientName = name
        worklist.PatientID = f"P{number}"
        worklist.PatientBirthDate = "19700101"
        worklist.PatientSex = "O"
        worklist.AccessionNumber = f"A{number}"
        worklist.RequestedProcedureID = f"RP{number}"
        worklist.RequestedProcedureDescription = "exam"
        worklist.StudyInstanceUID = pydicom.uid.generate_uid()
        worklist.ScheduledProcedureStepSequence = [item]
        worklist.file_meta = pydicom.dataset.FileMetaDataset()
        worklist.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        worklist.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
        worklist.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        worklist.save_as(folder / f"item{number}.wl", enforce_file_format=True)
    port = free_port()
    server = start_process([dcmtk("wlmscpfs"), "-dfp", str(tmp_path / "worklists"),
                            str(port)], port)
    try:
        done = run(dicomnet_command("find", "-aec", "WLMSCP", "-m", "worklist",
                                    "127.0.0.1", str(port), "--json",
                                    "-k", "PatientName=DOE*", "-k", "PatientID=",
                                    "-k", "ScheduledProcedureStepSequence"))
    finally:
        server.stop()
    assert done.returncode == 0, done.output
    matches = [json.loads(line) for line in done.output.splitlines()
               if line.startswith("{")]
    assert [m["00100020"]["Value"][0] for m in matches] == ["P0"]
