"""Mistakes and failures a user meets at the command line are one ``E:`` line naming
the cause, never a traceback: a busy port, a private tag in -k, the TLS failures that
look like a dropped connection; -q leaves only errors; library warnings are one ``W:``
line without the value they quote."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from dicomnet.testing import Process, dicomnet_command, free_port, start_process
from dicomnet.tls import TestPKI


def _dicomnet(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(dicomnet_command(*argv), capture_output=True, text=True,
                          timeout=60, check=False)


def _one_error_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Error" not in done.stderr.split(":")[0]
    lines = [line for line in done.stderr.splitlines() if line.startswith("E: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_busy_port_on_serve_is_one_line_and_exit_2(tmp_path: object) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _dicomnet("serve", "--port", str(port), "--no-store")
    line = _one_error_line(done, 2)
    assert line == f"E: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "ExceptionGroup" not in done.stderr


@pytest.mark.parametrize(("key", "says"), [
    ("(0009,0010)=X", "(0009,0010) in -k '(0009,0010)=X' is a private tag"),
    ("00191001=", "(0019,1001) in -k '00191001=' is a private tag"),
    ("(0008,0002)=X", "(0008,0002) in -k '(0008,0002)=X' is not in the DICOM dictionary"),
])
def test_a_tag_without_a_vr_in_a_key_is_one_line(key: str, says: str) -> None:
    for command in ("find", "get"):
        line = _one_error_line(_dicomnet(command, "127.0.0.1", "104", "-k", key), 2)
        assert says in line


@pytest.fixture
def tls_serve(pki: TestPKI, tmp_path: object) -> Iterator[Process]:
    port = free_port()
    server = start_process(dicomnet_command(
        "serve", "--port", str(port), "--no-store", "--tls-cert", str(pki.server_cert),
        "--tls-key", str(pki.server_key), "--tls-ca", str(pki.ca_cert)), port)
    yield server
    server.stop()


@pytest.fixture
def plain_serve() -> Iterator[Process]:
    port = free_port()
    server = start_process(dicomnet_command("serve", "--port", str(port), "--no-store"),
                           port)
    yield server
    server.stop()


def test_a_server_asking_for_a_client_certificate_is_named(tls_serve: Process,
                                                           pki: TestPKI) -> None:
    """TLS 1.3: the client's handshake ends before the server refuses it, so the
    failure reads like a dropped connection unless named."""
    done = _dicomnet("echo", "-aec", "DICOMNET", "--tls-ca", str(pki.ca_cert),
                     "127.0.0.1", str(tls_serve.port))
    line = _one_error_line(done, 1)
    assert line.startswith("E: the server asked for a client certificate"), line
    refused = _dicomnet("echo", "-aec", "DICOMNET", "--tls-ca", str(pki.ca_cert),
                        "--tls-cert", str(pki.server_cert), "--tls-key",
                        str(pki.server_key), "127.0.0.1", str(tls_serve.port))
    assert _one_error_line(refused, 1) == \
        f"E: the server refused our client certificate {pki.server_cert}"
    fine = _dicomnet("echo", "-aec", "DICOMNET", "--tls-ca", str(pki.ca_cert),
                     "--tls-cert", str(pki.client_cert), "--tls-key",
                     str(pki.client_key), "127.0.0.1", str(tls_serve.port))
    assert fine.returncode == 0, fine.stderr


def test_tls_to_a_plain_port_is_named(plain_serve: Process, pki: TestPKI) -> None:
    done = _dicomnet("echo", "-aec", "DICOMNET", "--tls-ca", str(pki.ca_cert),
                     "127.0.0.1", str(plain_serve.port))
    line = _one_error_line(done, 1)
    assert line.startswith(f"E: not TLS on that port: 127.0.0.1:{plain_serve.port}"), line


def test_quiet_prints_errors_only(plain_serve: Process) -> None:
    loud = _dicomnet("echo", "-aec", "DICOMNET", "127.0.0.1", str(plain_serve.port))
    assert loud.returncode == 0 and "success" in loud.stdout  # the baseline says it
    done = _dicomnet("echo", "-q", "-aec", "DICOMNET", "127.0.0.1", str(plain_serve.port))
    assert done.returncode == 0
    assert done.stdout == "" and done.stderr == ""
    found = _dicomnet("find", "-q", "-aec", "DICOMNET", "127.0.0.1", str(plain_serve.port),
                      "-k", "PatientID=")
    assert found.returncode == 1  # --no-store: no C-FIND context
    assert found.stderr.startswith("E: ")
    failed = _dicomnet("echo", "-q", "-aec", "NOBODY", "127.0.0.1", str(plain_serve.port))
    assert failed.returncode == 1 and failed.stderr.startswith("E: ")


def test_a_pydicom_warning_is_one_line_without_the_value() -> None:
    """An invalid date in a sequence key (pydicom builds that identifier): pydicom
    warns, quoting the value."""
    port = free_port()  # nothing listens: the warning comes before the connection
    done = subprocess.run(
        [sys.executable, "-m", "dicomnet", "find", "-W", "127.0.0.1", str(port), "-k",
         "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=SECRET1"],
        capture_output=True, text=True, timeout=60, check=False)
    assert "UserWarning" not in done.stderr and "valuerep.py" not in done.stderr
    assert "W: pydicom: Invalid value for VR DA: '...'" in done.stderr, done.stderr
    assert "SECRET1" not in done.stderr
