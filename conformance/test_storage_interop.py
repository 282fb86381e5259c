"""C-STORE against real peers, both directions, checked byte for byte.

A folder of 100+ varied instances (CT, MR, RT dose multi-frame, SR, ECG, segmentation,
ultrasound palette; explicit and implicit VR little endian, explicit VR big endian,
JPEG baseline, JPEG lossless, RLE) goes from DCMTK's storescu to ``dicomnet serve`` and
from ``dicomnet store`` to DCMTK's storescp; pynetdicom plays both roles too. Every data
set that lands on disk must be exactly the one sent (file meta aside).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from corpus import GROUPS, build_corpus

from dicomnet.part10 import dataset_bytes
from dicomnet.testing import Process, dicomnet_command, free_port, partial_files, run

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    return build_corpus(tmp_path_factory.mktemp("corpus"), copies=6)


def _all(corpus: dict[str, list[Path]]) -> list[Path]:
    return [path for paths in corpus.values() for path in paths]


def _by_instance(folder: Path) -> dict[str, Path]:
    """SOP Instance UID -> file, for every DICOM file under ``folder``."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".sqlite" and not path.name.startswith("index"):
            try:
                header, _ = dataset_bytes(path)
            except Exception:
                continue
            found[header.sop_instance_uid] = path
    return found


def _assert_identical(sent: list[Path], received: dict[str, Path]) -> None:
    missing, different = [], []
    for path in sent:
        header, data = dataset_bytes(path)
        got = received.get(header.sop_instance_uid)
        if got is None:
            missing.append(path.name)
            continue
        got_header, got_data = dataset_bytes(got)
        if got_data != data or got_header.transfer_syntax != header.transfer_syntax:
            different.append(path.name)
    assert not missing, f"{len(missing)} of {len(sent)} not received: {missing[:5]}"
    assert not different, f"{len(different)} differ from what was sent: {different[:5]}"


def test_storescu_folder_to_dicomnet_serve(corpus: dict[str, list[Path]],
                                           dcmtk: Callable[[str], str],
                                           dicomnet_serve: Callable[..., Process],
                                           tmp_path: Path) -> None:
    data = tmp_path / "archive"
    server = dicomnet_serve("--data", str(data))
    for group, (option, _names) in GROUPS.items():
        done = run([dcmtk("storescu"), "-aet", "STORESCU", "-aec", "DICOMNET", "-R", option,
                    "+sd", "127.0.0.1", str(server.port), str(corpus[group][0].parent)],
                   timeout=120)
        assert done.returncode == 0, f"{group}: {done.output}"
        assert "E:" not in done.output and "F:" not in done.output, done.output
    sent = _all(corpus)
    assert len(sent) >= 100
    _assert_identical(sent, _by_instance(data))
    with sqlite3.connect(data / "index.sqlite") as db:
        assert db.execute("SELECT count(*) FROM instance").fetchone()[0] == len(sent)
        sources = {row[0] for row in db.execute("SELECT source_ae_title FROM instance")}
    assert sources == {"STORESCU"}
    stored = next(iter(_by_instance(data).values()))
    assert pydicom.dcmread(stored).file_meta.SourceApplicationEntityTitle == "STORESCU"
    assert not partial_files(data)


def test_dicomnet_store_folder_to_storescp(corpus: dict[str, list[Path]],
                                           storescp: Callable[..., Process],
                                           tmp_path: Path) -> None:
    server = storescp("+xa", "+B")
    done = run(dicomnet_command("store", "-aec", "STORESCP", "127.0.0.1", str(server.port),
                                "-r", str(next(iter(corpus.values()))[0].parent.parent)),
               timeout=180)
    assert done.returncode == 0, done.output
    sent = _all(corpus)
    assert f"{len(sent)} of {len(sent)} instances stored" in done.output, done.output
    out = tmp_path / f"storescp-{server.port}"
    _assert_identical(sent, _by_instance(out))


def test_dicomnet_store_reports_failures_and_exits_non_zero(
        corpus: dict[str, list[Path]], storescp: Callable[..., Process],
        tmp_path: Path) -> None:
    """storescp without +xa refuses JPEG: those instances fail, the rest go through."""
    server = storescp()
    jpeg = corpus["jpeg-baseline"]
    plain = corpus["explicit-le"][:3]
    done = run(dicomnet_command("store", "-aec", "STORESCP", "127.0.0.1", str(server.port),
                                *map(str, plain + jpeg)), timeout=120)
    assert done.returncode == 1, done.output
    assert f"{len(plain)} of {len(plain) + len(jpeg)} instances stored" in done.output
    assert "no accepted presentation context" in done.output


def test_dicomnet_store_converts_when_the_peer_refuses_the_files_syntax(
        corpus: dict[str, list[Path]], storescp: Callable[..., Process],
        tmp_path: Path) -> None:
    """storescp +xi accepts only implicit VR LE: explicit and big endian files are
    converted, and the data elements survive."""
    server = storescp("+xi")
    files = corpus["explicit-be"][:2] + corpus["explicit-le"][:2]
    done = run(dicomnet_command("store", "-aec", "STORESCP", "127.0.0.1", str(server.port),
                                *map(str, files)), timeout=120)
    assert done.returncode == 0, done.output
    received = _by_instance(tmp_path / f"storescp-{server.port}")
    for path in files:
        original = pydicom.dcmread(path)
        copy = pydicom.dcmread(received[original.SOPInstanceUID])
        assert copy.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
        assert copy.PatientName == original.PatientName
        if "PixelData" in original:
            assert copy.pixel_array.tolist() == original.pixel_array.tolist()


# -- pynetdicom ------------------------------------------------------------------------


def test_pynetdicom_scu_to_dicomnet_serve(corpus: dict[str, list[Path]],
                                          dicomnet_serve: Callable[..., Process],
                                          tmp_path: Path) -> None:
    from pynetdicom import AE

    data = tmp_path / "archive"
    server = dicomnet_serve("--data", str(data))
    files = corpus["explicit-le"][:6] + corpus["explicit-be"][:3] + corpus["rle"][:3]
    datasets = [pydicom.dcmread(path) for path in files]
    ae = AE(ae_title="PYNETDICOM")
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="DICOMNET")
    assert assoc.is_established
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            assert status.Status == 0x0000
    finally:
        assoc.release()
    received = _by_instance(data)
    for path, ds in zip(files, datasets, strict=True):
        copy = pydicom.dcmread(received[ds.SOPInstanceUID])
        assert copy.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
        assert copy.file_meta.SourceApplicationEntityTitle == "PYNETDICOM"
        # pynetdicom re-encodes the data set it read, so compare elements, not bytes.
        assert copy == pydicom.dcmread(path), path.name


@pytest.fixture
def pynetdicom_scp() -> Iterator[tuple[int, dict[str, bytes]]]:
    """A pynetdicom storage SCP keeping each data set's raw bytes as received."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    received: dict[str, bytes] = {}
    lock = threading.Lock()

    def on_store(event: object) -> int:
        raw = event.request.DataSet.getvalue()  # type: ignore[attr-defined]
        uid = event.request.AffectedSOPInstanceUID  # type: ignore[attr-defined]
        with lock:
            received[str(uid)] = raw
        return 0x0000

    ae = AE(ae_title="PYNETSCP")
    syntaxes = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2",
                "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.5"]
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, syntaxes)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield port, received
    finally:
        server.shutdown()


def test_dicomnet_store_to_pynetdicom_scp(corpus: dict[str, list[Path]],
                                          pynetdicom_scp: tuple[int, dict[str, bytes]]
                                          ) -> None:
    port, received = pynetdicom_scp
    files = _all(corpus)
    done = run(dicomnet_command("store", "-aec", "PYNETSCP", "127.0.0.1", str(port),
                                *map(str, files)), timeout=180)
    assert done.returncode == 0, done.output
    for path in files:
        header, data = dataset_bytes(path)
        assert received[header.sop_instance_uid] == data, path.name
