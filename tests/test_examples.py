"""Every example runs, as a program, against a real peer."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomnet.part10 import dataset_bytes
from dicomnet.testing import dcmtk_binary, dicomnet_command, free_port, run, start_process

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_echo_client_against_dicomnet_serve(tmp_path: Path) -> None:
    port = free_port()
    server = start_process(dicomnet_command("serve", "--port", str(port), "--any-aet",
                                            "--data", str(tmp_path)), port)
    try:
        done = run([sys.executable, str(EXAMPLES / "echo_client.py"), "127.0.0.1",
                    str(port), "DICOMNET"])
    finally:
        server.stop()
    assert done.returncode == 0, done.output
    assert "C-ECHO status 0x0000" in done.output


@pytest.mark.interop
def test_forwarding_scp_forwards_to_storescp(tmp_path: Path) -> None:
    destination_port, port = free_port(), free_port()
    received = tmp_path / "storescp"
    received.mkdir()
    storescp = start_process(["storescp", "+B", "-od", str(received),
                              str(destination_port)], destination_port)
    forwarder = start_process([sys.executable, str(EXAMPLES / "forwarding_scp.py"),
                               str(port), "127.0.0.1", str(destination_port), "STORESCP"],
                              port)
    try:
        source = get_testdata_file("CT_small.dcm")
        done = run(dicomnet_command("store", "127.0.0.1", str(port), source))
        assert done.returncode == 0, done.output
    finally:
        forwarder.stop()
        storescp.stop()
    files = list(received.iterdir())
    assert len(files) == 1
    # Decoded and re-encoded by pydicom on the way: the elements survive.
    assert pydicom.dcmread(files[0]) == pydicom.dcmread(source)
    assert dataset_bytes(files[0])[0].sop_instance_uid == \
        pydicom.dcmread(source).SOPInstanceUID


def _example(name: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / name), *args]


@pytest.mark.interop
def test_find_scp_list_answers_findscu() -> None:
    port = free_port()
    scp = start_process(_example("find_scp_list.py", "--port", str(port)), port)
    try:
        done = run([dcmtk_binary("findscu"), "-v", "-S", "-aec", "FINDSCP", "127.0.0.1",
                    str(port), "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=doe*",
                    "-k", "StudyDate=20240101-", "-k", "StudyInstanceUID="])
        refused = run([dcmtk_binary("findscu"), "-v", "-S", "-aec", "FINDSCP", "127.0.0.1",
                       str(port), "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyDate=2024*"])
    finally:
        scp.stop()
    assert done.returncode == 0, done.output
    # Wild card on a person name (case-insensitive) and a date range, matched from
    # the list; only the keys asked for come back.
    assert "DOE^JOHN" in done.output and "DOE^JANE" in done.output, done.output
    assert "ROE^RICHARD" not in done.output
    assert "1.2.826.0.1.3680043.8.498.1002" in done.output
    assert "StudyDescription" not in done.output
    assert "Received Final Find Response (Success)" in done.output
    # A wild card in a date is not a valid key (PS3.4 C.2.2.2.4): status A900.
    assert "Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in refused.output, \
        refused.output


@pytest.mark.interop
def test_move_scp_moves_to_storescp_and_refuses_unknown_destinations(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    ct, mr = get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")
    for path in (ct, mr):
        (source / Path(path).name).write_bytes(Path(path).read_bytes())
    received = tmp_path / "received"
    received.mkdir()
    destination_port, port = free_port(), free_port()
    storescp = start_process([dcmtk_binary("storescp"), "+B", "-od", str(received),
                              str(destination_port)], destination_port)
    scp = start_process(_example("move_scp.py", str(source), "--port", str(port),
                                 "--dest", f"STORESCP=127.0.0.1:{destination_port}"), port)
    study = pydicom.dcmread(ct).StudyInstanceUID
    try:
        moved = run([dcmtk_binary("movescu"), "-S", "-aec", "MOVESCP", "-aem", "STORESCP",
                     "127.0.0.1", str(port), "-k", "QueryRetrieveLevel=STUDY",
                     "-k", f"StudyInstanceUID={study}"])
        unknown = run([dcmtk_binary("movescu"), "-S", "-aec", "MOVESCP", "-aem", "NOBODY",
                       "127.0.0.1", str(port), "-k", "QueryRetrieveLevel=STUDY",
                       "-k", f"StudyInstanceUID={study}"])
    finally:
        scp.stop()
        storescp.stop()
    assert moved.returncode == 0, moved.output
    files = list(received.iterdir())
    assert len(files) == 1, files  # the CT's study only
    # Streamed from the file as it is on disk; storescp +B keeps the bytes.
    assert dataset_bytes(files[0])[1] == dataset_bytes(ct)[1]
    assert "MoveDestinationUnknown" in unknown.output, unknown.output


def test_trio_echo_against_dicomnet_serve(tmp_path: Path) -> None:
    port = free_port()
    server = start_process(dicomnet_command("serve", "--port", str(port), "--any-aet",
                                            "--data", str(tmp_path)), port)
    try:
        done = run(_example("trio_echo.py", "127.0.0.1", str(port), "--associations", "3"))
    finally:
        server.stop()
    assert done.returncode == 0, done.output
    assert "3 of 3 C-ECHO succeeded (trio)" in done.output


@pytest.mark.interop
def test_starlette_store_over_http_to_storescp(tmp_path: Path) -> None:
    received = tmp_path / "received"
    received.mkdir()
    dicom_port, http_port = free_port(), free_port()
    storescp = start_process([dcmtk_binary("storescp"), "+B", "-od", str(received),
                              str(dicom_port)], dicom_port)
    app = start_process(_example("starlette_store.py", "--peer", f"127.0.0.1:{dicom_port}",
                                 "--http-port", str(http_port)), http_port)
    source = get_testdata_file("CT_small.dcm")
    base = f"http://127.0.0.1:{http_port}"
    try:
        with urllib.request.urlopen(f"{base}/echo", timeout=30) as response:
            echoed = json.load(response)
        upload = urllib.request.Request(
            f"{base}/store", data=Path(source).read_bytes(), method="POST",
            headers={"Content-Type": "application/dicom"})
        with urllib.request.urlopen(upload, timeout=30) as response:
            stored = json.load(response)
        try:
            urllib.request.urlopen(urllib.request.Request(
                f"{base}/store", data=b"not dicom", method="POST"), timeout=30)
            raise AssertionError("a non-DICOM body was accepted")
        except urllib.error.HTTPError as error:
            assert error.code == 400
    finally:
        app.stop()
        storescp.stop()
    assert echoed == {"status": 0}
    assert stored == {"status": 0,
                      "sop_instance_uid": pydicom.dcmread(source).SOPInstanceUID}
    files = list(received.iterdir())
    assert len(files) == 1
    assert dataset_bytes(files[0])[1] == dataset_bytes(source)[1]


@pytest.mark.interop
def test_store_scp_decoding_handler_with_storescu(tmp_path: Path) -> None:
    port = free_port()
    scp = start_process(_example("store_scp.py", str(tmp_path), "--port", str(port)), port)
    source = get_testdata_file("CT_small.dcm")
    try:
        done = run([dcmtk_binary("storescu"), "-aec", "STORESCP", "127.0.0.1", str(port),
                    source])
    finally:
        scp.stop()
    assert done.returncode == 0, done.output
    original = pydicom.dcmread(source)
    assert f"of patient {original.PatientName}" in scp.output
    stored = pydicom.dcmread(tmp_path / f"{original.SOPInstanceUID}.dcm")
    assert stored.PatientName == original.PatientName
    assert stored.pixel_array.tolist() == original.pixel_array.tolist()


def test_store_scp_sink_keeps_the_bytes_as_sent(tmp_path: Path) -> None:
    port = free_port()
    scp = start_process(_example("store_scp.py", str(tmp_path), "--port", str(port),
                                 "--sink"), port)
    sources = [get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")]
    try:
        done = run(dicomnet_command("store", "-aec", "STORESCP", "127.0.0.1", str(port),
                                    *sources))
    finally:
        scp.stop()
    assert done.returncode == 0, done.output
    assert scp.output.count("(not decoded)") == 2
    for source in sources:
        header, data = dataset_bytes(source)
        assert dataset_bytes(tmp_path / f"{header.sop_instance_uid}.dcm")[1] == data
    assert not list(tmp_path.glob("*.part"))


def test_client_tour_against_dicomnet_serve(tmp_path: Path) -> None:
    port, destination_port = free_port(), free_port()
    destination = start_process(dicomnet_command(
        "serve", "--port", str(destination_port), "--aet", "DEST",
        "--data", str(tmp_path / "dest")), destination_port)
    archive = start_process(dicomnet_command(
        "serve", "--port", str(port), "--any-aet", "--data", str(tmp_path / "archive"),
        "--peer", f"DEST=127.0.0.1:{destination_port}"), port)
    files = [get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")]
    try:
        done = run(_example("client_tour.py", "127.0.0.1", str(port), *files,
                            "--dest", "DEST"))
    finally:
        archive.stop()
        destination.stop()
    assert done.returncode == 0, done.output
    ct = pydicom.dcmread(files[0])
    for line in ["echo: 0x0000", "store: ['0x0000', '0x0000']",
                 "store with a window: 2 statuses, 2 successes",
                 "store edited dataset: 0x0000",
                 f"find: 1 studies of patient {ct.PatientID}",
                 # the CT's study now holds the CT and its edited copy
                 "get: status 0x0000, 2 completed, 0 failed; 2 files received",
                 "move to DEST: status 0x0000, 2 completed, 0 failed"]:
        assert line in done.output, done.output
    assert "first study found: 1." in done.output
    assert len(list((tmp_path / "dest").rglob("*.dcm"))) == 2


def test_pool_sender_shares_associations(tmp_path: Path) -> None:
    """Four files, two associations at most: the pool reuses them."""
    port = free_port()
    server = start_process(dicomnet_command("serve", "--port", str(port), "--any-aet",
                                            "--data", str(tmp_path)), port)
    files = [get_testdata_file(name) for name in
             ("CT_small.dcm", "MR_small.dcm", "waveform_ecg.dcm", "JPEG2000.dcm")]
    try:
        done = run(_example("pool_sender.py", "127.0.0.1", str(port), *files,
                            "--max-size", "2"))
    finally:
        server.stop()
    assert done.returncode == 0, done.output
    for path in files:
        assert f"{path}: 0x0000" in done.output, done.output
    opened = int(done.output.split(" files over ")[1].split()[0])
    assert 1 <= opened <= 2, done.output
    assert len(list(tmp_path.rglob("*.dcm"))) == 4


def test_examples_type_check() -> None:
    """The examples are code people copy: mypy --strict holds them to the library's
    standard (ruff checks them in tests/test_quality.py)."""
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict",
                           *sorted(str(p) for p in EXAMPLES.glob("*.py"))],
                          cwd=EXAMPLES.parent, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.interop
def test_tls_server_knows_its_callers(tmp_path: Path) -> None:
    """The example creates its PKI, demands client certificates, and prints the caller's
    subject for DCMTK's echoscu and for `dicomnet store`."""
    pki = tmp_path / "pki"
    port = free_port()
    server = start_process(_example("tls_server.py", str(pki), "--port", str(port)), port)
    try:
        echo = run([dcmtk_binary("echoscu"), "+tls", str(pki / "client.key"),
                    str(pki / "client.pem"), "+cf", str(pki / "ca.pem"), "-aec", "TLSSCP",
                    "127.0.0.1", str(port)])
        plain = run([dcmtk_binary("echoscu"), "-aec", "TLSSCP", "127.0.0.1", str(port)])
        store = run(dicomnet_command(
            "store", "--tls-ca", str(pki / "ca.pem"), "--tls-cert", str(pki / "client.pem"),
            "--tls-key", str(pki / "client.key"), "-aec", "TLSSCP", "localhost", str(port),
            get_testdata_file("CT_small.dcm")))
    finally:
        server.stop()
    assert echo.returncode == 0, echo.output
    assert plain.returncode != 0  # plain TCP on the TLS port is refused
    assert store.returncode == 0, store.output
    subject = "CN=dicomnet-client,O=dicomnet test PKI"
    assert f"C-ECHO from {subject}" in server.output, server.output
    assert f"C-STORE {pydicom.dcmread(get_testdata_file('CT_small.dcm')).SOPInstanceUID} " \
           f"from {subject}" in server.output, server.output


def test_otel_metrics_prints_the_spans_and_metrics_of_one_echo() -> None:
    """The server's events, through dicomnet.otel, as the SDK records them."""
    done = run([sys.executable, str(EXAMPLES / "otel_metrics.py")])
    assert done.returncode == 0, done.output
    for line in ["C-ECHO status 0x0000",
                 "span C-ECHO: status UNSET",
                 "span DICOM association: status UNSET",
                 "metric dicom.associations {'dicom.association.role': 'acceptor', "
                 "'dicom.association.outcome': 'released'}: 1",
                 "metric dicom.associations.active {'dicom.association.role': 'acceptor'}: 0"]:
        assert line in done.output, done.output
    assert "metric dicom.requests {'dicom.service': 'C-ECHO', 'dicom.status_category': " \
        "'Success', 'dicom.request.direction': 'received'}: 1" in done.output, done.output


def test_the_testing_tutorial_runs_with_the_plugin(tmp_path: Path) -> None:
    """docs/testing.md's example is a pytest file using the installed plugin's fixtures:
    run it as a user would, outside this suite's configuration."""
    (tmp_path / "none.ini").write_text("[pytest]\n")
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--rootdir", str(tmp_path), "-c", str(tmp_path / "none.ini"),
                str(EXAMPLES / "test_my_scp.py")], timeout=300)
    assert done.returncode == 0, done.output
    assert " passed" in done.output and "failed" not in done.output, done.output
