"""``dicomnet check`` against real peers: everything passes against ``dicomnet serve``
(with --store and --hostile; matching.sequence is skipped: its index keeps no Procedure
Code Sequence), and against DCMTK's storescp and dcmqrscp, Orthanc and pynetdicom it
reports what a DICOM engineer would: every check passes or is skipped for a service the
peer does not offer, except storescp and Orthanc leaving an A-ASSOCIATE-RQ with a
malformed item unanswered (PS3.8 Table 9-10, Sta2 + Evt19 calls for an A-ABORT), Orthanc
answering a C-GET of a study it does not hold and a C-MOVE to an unknown destination
with 0xC000 instead of Success and 0xA801 and narrowing a STUDY-level query by a
SERIES-level key, dcmqrscp and Orthanc closing a C-MOVE sub-operation association when
the destination's A-RELEASE-RQ crosses theirs instead of answering it with A-RELEASE-RP
(PS3.8 Table 9-10, Sta7 + Evt12: AR-8, then AR-9), pynetdicom waiting for the rest of a
P-DATA-TF longer than its maximum, and DCMTK's three letting a slowly sent
A-ASSOCIATE-RQ hold up every other association (endurance). Orthanc's storage
commitment report comes on a new association to the check's own SCP (--listen)."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from orthanc import AET, Modality, start_orthanc
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dicomnet.testing import Process, dcmtk_binary, dicomnet_command, free_port, run, start_process

pytestmark = pytest.mark.interop


def check(port: int, called: str, folder: Path, *options: str) -> tuple[int, dict[str, str],
                                                                        str]:
    """Run the real command; (exit status, check id -> result, the table)."""
    report = folder / f"check-{called}.json"
    junit = folder / f"check-{called}.xml"
    done = run(dicomnet_command("check", "-aec", called, "127.0.0.1", str(port),
                                "--json", str(report), "--junit", str(junit), *options),
               timeout=400)
    results = {r["id"]: r["result"] for r in json.loads(report.read_text())}
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert sum(int(s.get("tests", "0")) for s in suites) == len(results)
    return done.returncode, results, done.output


@pytest.fixture
def move_port() -> int:
    """Where the check's own SCP (--listen, AE title MOVE_DEST) listens: the C-MOVE
    destination, and where a commitment report on a new association goes."""
    return free_port()


MOVE_DEST = "CHECK-DEST"


def write_worklist(folder: Path) -> Path:
    """Three worklist items (CT, MR, CT) as files, for serve --worklist and wlmscpfs."""
    folder.mkdir(parents=True)
    for number, modality in enumerate(["CT", "MR", "CT"]):
        step = pydicom.Dataset()
        step.Modality = modality
        step.ScheduledStationAETitle = "SCANNER"
        step.ScheduledProcedureStepStartDate = "20260101"
        step.ScheduledProcedureStepStartTime = "0900"
        step.ScheduledPerformingPhysicianName = ""  # wlmscpfs ignores items without it
        step.ScheduledProcedureStepID = f"SPS{number}"
        step.ScheduledProcedureStepDescription = "exam"
        item = pydicom.Dataset()
        item.SpecificCharacterSet = "ISO_IR 100"
        item.PatientName = f"DOE^P{number}"
        item.PatientID = f"P{number}"
        item.PatientBirthDate = "19700101"
        item.PatientSex = "O"
        item.RequestedProcedureDescription = "exam"
        item.AccessionNumber = f"A{number}"
        item.RequestedProcedureID = f"RP{number}"
        item.StudyInstanceUID = generate_uid()
        item.ScheduledProcedureStepSequence = [step]
        item.file_meta = pydicom.dataset.FileMetaDataset()
        item.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        item.file_meta.MediaStorageSOPClassUID = pydicom.uid.UID("1.2.840.10008.5.1.4.31")
        item.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        item.save_as(folder / f"item{number}.wl", enforce_file_format=True)
    return folder


def write_procedure_coded(folder: Path) -> list[Path]:
    """CT_small as three studies whose Procedure Code Sequence holds Code Values QD1 and
    QD2, QD2, QD3: data for matching.sequence, which SKIPs on a peer holding none."""
    folder.mkdir(parents=True)
    paths = []
    for number, codes in enumerate([("QD1", "QD2"), ("QD2",), ("QD3",)]):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientID = f"CODED{number}"
        items = []
        for code in codes:
            item = pydicom.Dataset()
            item.CodeValue, item.CodingSchemeDesignator = code, "99DNCHK"
            item.CodeMeaning = f"procedure {code}"
            items.append(item)
        ds.ProcedureCodeSequence = items
        paths.append(folder / f"coded{number}.dcm")
        ds.save_as(paths[-1])
    return paths


#: Its index keeps no Procedure Code Sequence (an optional key, PS3.4 C.6.2.1.2), so
#: matching.sequence has nothing returned to judge.
NO_PROCEDURE_CODES = {"matching.sequence": "SKIP"}
#: The services checks, all SKIPped by a peer that offers none of the three services.
NO_SERVICES = {f"services.{name}": "SKIP" for name in (
    "worklist-universal", "worklist-modality", "commitment", "commitment-unknown",
    "mpps-complete", "mpps-unknown")}
#: DCMTK reads a whole A-ASSOCIATE-RQ before it forks or hands the association to a
#: thread (storescp, dcmqrscp, Orthanc alike): while one trickles in, no one is served.
SERIAL_ACCEPT = {"endurance.slow-requestor": "FAIL"}
#: DCMTK's moveSCP (dcmqrscp, Orthanc) releasing a sub-operation association takes the
#: destination's crossing A-RELEASE-RQ for a failed release ("DUL Peer Requested
#: Release") and closes the connection: no A-RELEASE-RP (PS3.8 Table 9-10: Sta7 +
#: Evt12 is AR-8, a release collision, answered with AR-9).
RELEASE_COLLISION = {"association.release-collision": "FAIL"}
#: storescp and dcmqrscp as started here, and pynetdicom's AllStoragePresentationContexts,
#: accept no compressed transfer syntax: storage.compressed has nothing to send.
NO_COMPRESSED = {"storage.compressed": "SKIP"}


def test_everything_passes_against_dicomnet_serve(
        dicomnet_serve: Callable[..., Process], tmp_path: Path, move_port: int) -> None:
    server = dicomnet_serve("--data", str(tmp_path / "archive"),
                            "--peer", f"{MOVE_DEST}=127.0.0.1:{move_port}", "--worklist",
                            str(write_worklist(tmp_path / "worklist")))
    code, results, table = check(server.port, "DICOMNET", tmp_path, "--store", "--hostile",
                                 "--listen", f"{MOVE_DEST}=127.0.0.1:{move_port}")
    assert code == 0, table
    assert {k: v for k, v in results.items() if v != "PASS"} == NO_PROCEDURE_CODES, table
    assert len(results) >= 24


def test_storescp(storescp: Callable[..., Process], tmp_path: Path) -> None:
    server = storescp()
    code, results, table = check(server.port, "STORESCP", tmp_path, "--store", "--hostile")
    assert code == 1, table
    # one association at a time (no --fork): stuck while the malformed one is open
    records = json.loads((tmp_path / "check-STORESCP.json").read_text())
    bad_item = next(r for r in records if r["id"] == "robustness.bad-item")
    assert any("serves no one while that connection is open" in line
               for line in bad_item["evidence"]), bad_item
    expected = {check_id: "PASS" for check_id in results}
    expected |= {"storage.found": "SKIP", "query.study-universal": "SKIP",
                 "query.single-value": "SKIP", "query.wildcard": "SKIP",
                 "query.cancel": "SKIP", "robustness.bad-item": "FAIL",
                 "endurance.oversized-find-value": "SKIP",
                 "association.release-collision": "SKIP"} | NO_SERVICES | SERIAL_ACCEPT \
        | NO_COMPRESSED
    # no Query/Retrieve SCP: every retrieve and matching check is skipped, saying so
    expected |= {check_id: "SKIP" for check_id in results
                 if check_id.startswith(("retrieve.", "matching."))}
    assert results == expected, table


@pytest.fixture
def dcmqrscp(tmp_path: Path, move_port: int) -> Iterator[Process]:
    """DCMTK's dcmqrscp (AE QRSCP) holding CT_small and MR_small, knowing the retrieve
    group's storage SCP as a move destination."""
    port = free_port()
    database = tmp_path / "qrdb"
    database.mkdir()
    config = tmp_path / "dcmqrscp.cfg"
    config.write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\n"
        f"HostTable BEGIN\ndest = ({MOVE_DEST}, 127.0.0.1, {move_port})\nHostTable END\n\n"
        "VendorTable BEGIN\nVendorTable END\n\n"
        f"AETable BEGIN\nQRSCP {database} RW (200, 1024mb) ANY\nAETable END\n")
    process = start_process([dcmtk_binary("dcmqrscp"), "-c", str(config)], port)
    try:
        done = run([dcmtk_binary("storescu"), "-aec", "QRSCP", "127.0.0.1", str(port),
                    str(get_testdata_file("CT_small.dcm")),
                    str(get_testdata_file("MR_small.dcm"))])
        assert done.returncode == 0, done.output
        yield process
    finally:
        process.stop()


def test_dcmqrscp(dcmqrscp: Process, tmp_path: Path, move_port: int) -> None:
    code, results, table = check(dcmqrscp.port, "QRSCP", tmp_path, "--store", "--hostile",
                                 "--listen", f"{MOVE_DEST}=127.0.0.1:{move_port}")
    assert code == 1, table
    expected = {check_id: "PASS" for check_id in results} | NO_SERVICES | SERIAL_ACCEPT \
        | NO_PROCEDURE_CODES | RELEASE_COLLISION | NO_COMPRESSED
    assert results == expected, table


def test_wlmscpfs_services(dcmtk: Callable[[str], str], tmp_path: Path) -> None:
    """DCMTK's worklist SCP: both worklist checks pass; it offers neither storage
    commitment nor MPPS, so those SKIP."""
    folder = write_worklist(tmp_path / "worklists" / "WLMSCP")  # one folder per AE
    (folder / "lockfile").touch()  # wlmscpfs refuses (A700) a folder without one
    port = free_port()
    server = start_process([dcmtk("wlmscpfs"), "-dfp", str(tmp_path / "worklists"),
                            str(port)], port)
    try:
        code, results, table = check(port, "WLMSCP", tmp_path, "--store",
                                     "--only", "services")
    finally:
        server.stop()
    assert code == 0, table
    assert results == NO_SERVICES | {"services.worklist-universal": "PASS",
                                     "services.worklist-modality": "PASS"}, table


def test_orthanc(tmp_path: Path, move_port: int) -> None:
    # Orthanc answers C-FIND only from the AEs it knows (else it aborts the association)
    # and reports storage commitment on a new association to the calling AE's address:
    # the check's own SCP, which answers whichever AE title it is called by
    peer = start_orthanc(tmp_path / "orthanc", {
        "check": Modality("DICOMNET-CHECK", move_port), "dest": Modality(MOVE_DEST, move_port)})
    try:
        stored = run([dcmtk_binary("storescu"), "-aet", "DICOMNET-CHECK", "-aec", AET,
                      "127.0.0.1", str(peer.dicom_port),
                      *map(str, write_procedure_coded(tmp_path / "coded"))])
        assert stored.returncode == 0, stored.output
        code, results, table = check(peer.dicom_port, AET, tmp_path, "--store", "--hostile",
                                     "--listen", f"{MOVE_DEST}=127.0.0.1:{move_port}")
    finally:
        peer.stop()
    assert code == 1, table
    expected = {check_id: "PASS" for check_id in results}
    expected["robustness.bad-item"] = "FAIL"
    # 0xC000 (Unable to process) where PS3.4 Tables C.4-3 and C.4-2 have an answer: a
    # C-GET matching nothing is Success with no sub-operations; an unknown move
    # destination is 0xA801
    expected |= {"retrieve.get-unknown": "FAIL", "retrieve.move-unknown": "FAIL"}
    # a SERIES-level key (Series Instance UID, Modality) in a STUDY-level query narrows
    # the studies to those with such a series: Success without the study asked, where
    # the hierarchical search (PS3.4 C.4.1.3.1.1) matches study attributes only
    expected["matching.other-level-key"] = "FAIL"
    # no worklist (without its plugin) nor MPPS; storage commitment passes, its report
    # on a new association to the modality's configured address (PS3.4 J.3.3 allows it)
    expected |= NO_SERVICES | SERIAL_ACCEPT | RELEASE_COLLISION
    expected |= {"services.commitment": "PASS", "services.commitment-unknown": "PASS"}
    assert results == expected, table
    records = json.loads((tmp_path / f"check-{AET}.json").read_text())
    # it returns the Procedure Code Sequence but does not match on it (allowed)
    coded = next(r for r in records if r["id"] == "matching.sequence")
    assert "not matched on" in coded["reason"], coded
    for check_id in ("services.commitment", "services.commitment-unknown"):
        record = next(r for r in records if r["id"] == check_id)
        assert "report on a new association ORTHANC -> DICOMNET-CHECK (SCP role proposed " \
            "and granted)" in record["evidence"], record
    collision = next(r for r in records if r["id"] == "association.release-collision")
    assert "closed without an A-RELEASE-RP" in collision["reason"], collision


def test_pynetdicom(tmp_path: Path) -> None:
    """pynetdicom 3 as a Verification and Storage SCP (its own AE, in a process of its
    own; Query/Retrieve is left out: pynetdicom has no archive, so the matching checks
    would judge a handler written here, not pynetdicom). Every protocol check passes but
    oversized-pdu: pynetdicom does not compare a P-DATA-TF's length with the maximum it
    announced, and waits for the rest of it (PS3.8 D.1 binds the sender; this check asks
    the receiver to refuse rather than buffer what it said it would not take)."""
    port = free_port()
    script = Path(__file__).with_name("pynetdicom_scp.py")
    peer = start_process([sys.executable, str(script), str(port), "PYNETSCP"], port)
    try:
        code, results, table = check(port, "PYNETSCP", tmp_path, "--store", "--hostile")
    finally:
        peer.stop()
    assert code == 1, table
    expected = {check_id: "PASS" for check_id in results} | NO_SERVICES
    expected |= {check_id: "SKIP" for check_id in results
                 if check_id.startswith(("query.", "retrieve.", "matching."))}
    expected |= {"storage.found": "SKIP", "robustness.oversized-pdu": "FAIL",
                 "endurance.oversized-find-value": "SKIP",
                 "association.release-collision": "SKIP"} | NO_COMPRESSED
    assert results == expected, table
    accept = next(r for r in json.loads((tmp_path / "check-PYNETSCP.json").read_text())
                  if r["id"] == "association.accept")
    assert "PYNETDICOM" in " ".join(accept["evidence"]), accept
