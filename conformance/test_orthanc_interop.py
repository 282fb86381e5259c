"""Orthanc 1.10 (Debian) against dicomnet, both ways: storage, query/retrieve, storage
commitment and TLS; ``serve``'s own associations (C-MOVE sub-operations, commitment
reports) reaching a TLS-only Orthanc through ``--peer AET=HOST:PORT:tls``.

Orthanc is driven as an SCU through its REST API (see orthanc.py); what it received is
read back through the same API."""

from __future__ import annotations

import io
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pydicom
import pytest
from corpus import build_corpus
from orthanc import AET, Modality, Orthanc, echo_context, start_orthanc
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.errors import DicomNetError
from dicomnet.part10 import dataset_bytes
from dicomnet.server import Server
from dicomnet.services import commitment
from dicomnet.services.commitment import (
    STORAGE_COMMITMENT_PUSH,
    CommitmentResults,
    Failed,
    Reference,
)
from dicomnet.testing import Process, data_sets_by_instance, dicomnet_command, free_port, run
from dicomnet.tls import TestPKI, create_test_pki

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Instances of distinct studies in syntaxes Orthanc takes as they are."""
    corpus = build_corpus(tmp_path_factory.mktemp("orthanc-corpus"), copies=1)
    return corpus["explicit-le"] + corpus["implicit-le"][:1] + corpus["rle"][:1]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """One CA; the server certificate is used on both sides (Orthanc, serve)."""
    return create_test_pki(tmp_path_factory.mktemp("orthanc-pki"), dual_use=True)


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Callable[..., Orthanc]]:
    """``start(modalities, pki=..., dicom_port=...)`` a fresh Orthanc; stopped at the
    end (it must exit 0)."""
    started: list[Orthanc] = []

    def start(modalities: dict[str, Modality] | None = None, **options: object) -> Orthanc:
        peer = start_orthanc(tmp_path / f"orthanc-{len(started)}", modalities,
                             **options)  # type: ignore[arg-type]
        started.append(peer)
        return peer

    yield start
    for peer in started:
        assert peer.stop() == 0, peer.process.output[-3000:]


def _uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _indexed(archive: Path) -> set[str]:
    with sqlite3.connect(archive / "index.sqlite") as db:
        return {row[0] for row in db.execute("SELECT sop_instance_uid FROM instance")}



def _tls(pki: TestPKI, *, client: bool) -> list[str]:
    """TLS options: a client tool's, or serve's (its certificate for both sides)."""
    if client:
        return ["--tls-ca", str(pki.ca_cert), "--tls-cert", str(pki.client_cert),
                "--tls-key", str(pki.client_key)]
    return ["--tls-ca", str(pki.ca_cert), "--tls-cert", str(pki.server_cert),
            "--tls-key", str(pki.server_key)]


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


# -- storage ------------------------------------------------------------------------------


def test_dicomnet_store_to_orthanc(files: list[Path], orthanc: Callable[..., Orthanc]) -> None:
    peer = orthanc()
    done = run(dicomnet_command("store", "-aec", AET, "127.0.0.1", str(peer.dicom_port),
                                *map(str, files)), timeout=300)
    assert done.returncode == 0, done.output
    assert peer.instance_uids() == {_uid(path) for path in files}


def test_orthanc_stores_to_dicomnet_serve(
        files: list[Path], orthanc: Callable[..., Orthanc],
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    """Orthanc sends the files it was given as they are: serve files them byte for
    byte (data sets; the file meta is each side's own)."""
    archive = tmp_path / "archive"
    server = dicomnet_serve("--data", str(archive))
    peer = orthanc({"dicomnet": Modality("DICOMNET", server.port)})
    ids = peer.upload(files)
    peer.rest("POST", "/modalities/dicomnet/store", {"Resources": ids, "Synchronous": True})
    assert data_sets_by_instance(archive) == \
        {_uid(path): dataset_bytes(path)[1] for path in files}


# -- query/retrieve -----------------------------------------------------------------------


def test_dicomnet_find_get_move_against_orthanc(
        files: list[Path], orthanc: Callable[..., Orthanc],
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    server = dicomnet_serve("--data", str(archive))
    peer = orthanc({"dicomnet": Modality("DICOMNET", server.port)})
    peer.upload(files)
    target = pydicom.dcmread(files[0], stop_before_pixels=True)
    where = ["-aec", AET, "127.0.0.1", str(peer.dicom_port)]
    found = run(dicomnet_command("find", *where, "-L", "STUDY",
                                 "-k", f"PatientID={target.PatientID}",
                                 "-k", "StudyInstanceUID="))
    assert found.returncode == 0, found.output
    studies = {str(pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID)
               for p in files
               if pydicom.dcmread(p, stop_before_pixels=True).PatientID == target.PatientID}
    for uid in studies:
        assert uid in found.output, found.output

    study = ["-L", "STUDY", "-k", f"StudyInstanceUID={target.StudyInstanceUID}"]
    out = tmp_path / "got"
    got = run(dicomnet_command("get", *where, *study, "-o", str(out)), timeout=120)
    assert got.returncode == 0, got.output
    # Each instance comes back as Orthanc holds it: a context per syntax lets it choose
    # the file's own (issue 20 item 5; Orthanc once transcoded everything to Deflated).
    assert {header.sop_instance_uid: (header.transfer_syntax, data)
            for header, data in map(dataset_bytes, out.rglob("*.dcm"))} \
        == {target.SOPInstanceUID: (dataset_bytes(files[0])[0].transfer_syntax,
                                    dataset_bytes(files[0])[1])}

    moved = run(dicomnet_command("move", *where, *study, "--dest", "DICOMNET"), timeout=120)
    assert moved.returncode == 0, moved.output
    assert _indexed(archive) == {target.SOPInstanceUID}
    unknown = run(dicomnet_command("move", *where, *study, "--dest", "NOBODY"), timeout=120)
    assert unknown.returncode != 0, unknown.output


def test_orthanc_finds_and_moves_against_dicomnet_serve(
        files: list[Path], orthanc: Callable[..., Orthanc],
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    """Orthanc as C-FIND and C-MOVE SCU; serve moves to Orthanc, its --peer."""
    orthanc_port = free_port()
    server = dicomnet_serve("--data", str(tmp_path / "archive"),
                            "--peer", f"{AET}=127.0.0.1:{orthanc_port}")
    done = run(dicomnet_command("store", "-aec", "DICOMNET", "127.0.0.1", str(server.port),
                                *map(str, files)), timeout=300)
    assert done.returncode == 0, done.output
    peer = orthanc({"dicomnet": Modality("DICOMNET", server.port)}, dicom_port=orthanc_port)
    target = pydicom.dcmread(files[1], stop_before_pixels=True)
    query = peer.rest("POST", "/modalities/dicomnet/query", {
        "Level": "Study", "Query": {"PatientID": str(target.PatientID),
                                    "StudyInstanceUID": ""}})
    answers = peer.rest("GET", f"/queries/{query['ID']}/answers?expand&simplify")
    expected = {str(pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID)
                for p in files
                if pydicom.dcmread(p, stop_before_pixels=True).PatientID == target.PatientID}
    assert {answer["StudyInstanceUID"] for answer in answers} == expected
    peer.rest("POST", "/modalities/dicomnet/move", {
        "Level": "Study", "Resources": [{"StudyInstanceUID": str(target.StudyInstanceUID)}],
        "TargetAet": AET, "Synchronous": True})
    assert peer.instance_uids() == {str(target.SOPInstanceUID)}


# -- storage commitment --------------------------------------------------------------------


def test_dicomnet_commitment_scu_against_orthanc(
        files: list[Path], orthanc: Callable[..., Orthanc]) -> None:
    """Orthanc commits what it holds and fails the rest (0112), reporting on a new
    association to dicomnet's receiver (Orthanc never reports on the requesting one)."""
    results = CommitmentResults()
    receiver = Server("COMMITSCU")
    results.install(receiver)
    receiver_port = free_port()
    peer = orthanc({"dicomnet": Modality("COMMITSCU", receiver_port)})
    peer.upload(files[:1])
    held = pydicom.dcmread(files[0], stop_before_pixels=True)
    held_ref = Reference(str(held.SOPClassUID), str(held.SOPInstanceUID))
    missing = Reference(str(held.SOPClassUID), str(generate_uid()))

    async def commit() -> commitment.CommitmentResult:
        async with anyio.create_task_group() as tg:
            await tg.start(receiver.serve, "127.0.0.1", receiver_port)
            async with dicomnet.connect("127.0.0.1", peer.dicom_port, called_ae=AET,
                                        calling_ae="COMMITSCU",
                                        contexts=[STORAGE_COMMITMENT_PUSH]) as assoc:
                transaction = await commitment.request_commitment(
                    assoc, [held_ref, missing])
            with anyio.fail_after(60):
                result = await results.wait(transaction)
            receiver.shutdown(grace=2)
        return result

    result = anyio.run(commit)
    assert result.committed == (held_ref,)
    assert result.failed == (Failed(missing.sop_class_uid, missing.sop_instance_uid,
                                    0x0112),)


def _orthanc_commitment(peer: Orthanc, references: list[Reference]) -> dict[str, object]:
    """Ask serve (modality 'dicomnet') through Orthanc; the report Orthanc got."""
    asked = peer.rest("POST", "/modalities/dicomnet/storage-commitment", {
        "DicomInstances": [[r.sop_class_uid, r.sop_instance_uid] for r in references]})
    report: dict[str, object] = {}

    def arrived() -> bool:
        report.update(peer.rest("GET", asked["Path"]))
        return report.get("Status") != "Pending"

    _wait_for(arrived, "Orthanc's storage commitment report")
    return report


def test_orthanc_commitment_scu_against_dicomnet_serve(
        files: list[Path], orthanc: Callable[..., Orthanc],
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    orthanc_port = free_port()
    server = dicomnet_serve("--data", str(tmp_path / "archive"),
                            "--peer", f"{AET}=127.0.0.1:{orthanc_port}")
    done = run(dicomnet_command("store", "-aec", "DICOMNET", "127.0.0.1", str(server.port),
                                str(files[0])))
    assert done.returncode == 0, done.output
    peer = orthanc({"dicomnet": Modality("DICOMNET", server.port)}, dicom_port=orthanc_port)
    held = pydicom.dcmread(files[0], stop_before_pixels=True)
    missing = str(generate_uid())
    report = _orthanc_commitment(peer, [
        Reference(str(held.SOPClassUID), str(held.SOPInstanceUID)),
        Reference(str(held.SOPClassUID), missing)])
    assert report["Status"] == "Failure", report
    assert report["Success"] == [{"SOPClassUID": str(held.SOPClassUID),
                                  "SOPInstanceUID": str(held.SOPInstanceUID)}], report
    assert [f["SOPInstanceUID"] for f in report["Failures"]] == [missing], report  # type: ignore[attr-defined]


# -- TLS ------------------------------------------------------------------------------------


def test_dicomnet_store_with_tls_to_orthanc(
        files: list[Path], pki: TestPKI, orthanc: Callable[..., Orthanc]) -> None:
    """Orthanc demands a client certificate from our CA; plain TCP is refused."""
    peer = orthanc(pki=pki)
    where = ["-aec", AET, "127.0.0.1", str(peer.dicom_port)]
    done = run(dicomnet_command("store", *_tls(pki, client=True), *where,
                                *map(str, files[:3])), timeout=120)
    assert done.returncode == 0, done.output
    assert peer.instance_uids() == {_uid(path) for path in files[:3]}
    plain = run(dicomnet_command("echo", *where))
    assert plain.returncode != 0, plain.output
    no_certificate = run(dicomnet_command("echo", "--tls-ca", str(pki.ca_cert), *where))
    assert no_certificate.returncode != 0, no_certificate.output


def test_orthanc_stores_with_tls_to_dicomnet_serve(
        files: list[Path], pki: TestPKI, orthanc: Callable[..., Orthanc],
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    """Orthanc presents its (dual-use) certificate as the client's to a mutual-TLS
    serve."""
    archive = tmp_path / "archive"
    server = dicomnet_serve("--data", str(archive), *_tls(pki, client=False))
    peer = orthanc({"dicomnet": Modality("DICOMNET", server.port, tls=True)}, pki=pki)
    ids = peer.upload(files[:3])
    peer.rest("POST", "/modalities/dicomnet/store", {"Resources": ids, "Synchronous": True})
    assert data_sets_by_instance(archive) == {_uid(p): dataset_bytes(p)[1] for p in files[:3]}


def test_serve_moves_and_reports_to_a_tls_only_orthanc(
        files: list[Path], pki: TestPKI, orthanc: Callable[..., Orthanc],
        dicomnet_serve: Callable[..., Process], tmp_path: Path) -> None:
    """Issue 20 item 9: Orthanc speaks TLS only. Its C-MOVE through serve comes back
    to it over TLS (``--peer ORTHANC=HOST:PORT:tls``, serve's certificate as the
    client's), and so does a storage commitment report on a new association."""
    orthanc_port = free_port()
    server = dicomnet_serve("--data", str(tmp_path / "archive"), *_tls(pki, client=False),
                            "--peer", f"{AET}=127.0.0.1:{orthanc_port}:tls")
    done = run(dicomnet_command("store", *_tls(pki, client=True), "-aec", "DICOMNET",
                                "127.0.0.1", str(server.port), *map(str, files[:2])))
    assert done.returncode == 0, done.output
    peer = orthanc({"dicomnet": Modality("DICOMNET", server.port, tls=True)}, pki=pki,
                   dicom_port=orthanc_port)
    target = pydicom.dcmread(files[0], stop_before_pixels=True)
    peer.rest("POST", "/modalities/dicomnet/move", {
        "Level": "Study", "Resources": [{"StudyInstanceUID": str(target.StudyInstanceUID)}],
        "TargetAet": AET, "Synchronous": True})
    assert peer.instance_uids() == {str(target.SOPInstanceUID)}
    held = Reference(str(target.SOPClassUID), str(target.SOPInstanceUID))
    report = _orthanc_commitment(peer, [held])
    assert report["Status"] == "Success", report
    assert "Traceback" not in server.output_so_far()


def test_echo_context_is_what_orthanc_with_tls_trusts(
        pki: TestPKI, orthanc: Callable[..., Orthanc]) -> None:
    """The fixture's own readiness check (a TLS C-ECHO) is a real one: without the
    client certificate the same echo is refused."""
    peer = orthanc(pki=pki)

    async def echo(with_certificate: bool) -> int:
        context = echo_context(pki) if with_certificate else None
        async with dicomnet.connect("127.0.0.1", peer.dicom_port, called_ae=AET,
                                    ssl=context) as assoc:
            return await assoc.echo()

    assert anyio.run(echo, True) == 0
    with pytest.raises((DicomNetError, OSError)):  # plain TCP to a TLS port
        anyio.run(echo, False)



def test_dicomnet_get_receives_compressed_instances_from_orthanc_as_stored(
        orthanc: Callable[..., Orthanc], tmp_path: Path) -> None:
    """JPEG 2000, JPEG-LS and RLE instances of one study come back from Orthanc's C-GET
    byte for byte, each in its own transfer syntax: a context per syntax lets Orthanc
    send what it holds (issue 20 item 5)."""
    names = ["MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm"]
    study = f"2.25.{uuid.uuid4().int >> 64}"  # room for ".n" within a UID's 64 characters
    sources = []
    for number, name in enumerate(names):
        dataset = pydicom.dcmread(get_testdata_file(name))
        dataset.StudyInstanceUID = study
        dataset.SOPInstanceUID = f"{study}.{number + 1}"
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        path = tmp_path / name
        dataset.save_as(path, enforce_file_format=True)
        sources.append(path)
    # Orthanc answers a C-GET only from an AE it knows; the port is not used for one.
    peer = orthanc({"dicomnet": Modality("DICOMNET", free_port())})
    peer.upload(sources)
    out = tmp_path / "got"
    got = run(dicomnet_command("get", "-aec", AET, "127.0.0.1", str(peer.dicom_port),
                               "-L", "STUDY", "-k", f"StudyInstanceUID={study}",
                               "-o", str(out)), timeout=120)
    assert got.returncode == 0, got.output
    received = {header.sop_instance_uid: (header.transfer_syntax, data)
                for header, data in map(dataset_bytes, out.rglob("*.dcm"))}
    expected = {header.sop_instance_uid: (header.transfer_syntax, data)
                for header, data in map(dataset_bytes, sources)}
    # Orthanc keeps what it was sent but for Data Set Trailing Padding (FFFC,FFFC),
    # which it drops: the same syntax, attributes and compressed pixel data bytes (no
    # transcoding on the way).
    assert received.keys() == expected.keys()
    for uid, (syntax, data) in expected.items():
        got_syntax, got_data = received[uid]
        assert got_syntax == syntax
        got, sent = (pydicom.dcmread(io.BytesIO(raw), force=True) for raw in (got_data, data))
        if (0xFFFC, 0xFFFC) in sent:
            del sent[0xFFFC, 0xFFFC]
        assert [element.tag for element in got] == [element.tag for element in sent]
        assert got.PixelData == sent.PixelData
