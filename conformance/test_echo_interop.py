"""C-ECHO against real peers: DCMTK's echoscu and storescp, and pynetdicom, both roles."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from dicomnet.testing import Process, dicomnet_command, free_port, run

pytestmark = pytest.mark.interop


def test_echoscu_against_dicomnet_serve(dcmtk: Callable[[str], str],
                                        dicomnet_serve: Callable[..., Process]) -> None:
    server = dicomnet_serve("--aet", "DICOMNET")
    done = run([dcmtk("echoscu"), "-v", "-aec", "DICOMNET", "-aet", "ECHOSCU",
                "127.0.0.1", str(server.port)])
    assert done.returncode == 0, done.output
    assert "Received Echo Response (Success)" in done.output


def test_echoscu_repeated_on_one_association(dcmtk: Callable[[str], str],
                                             dicomnet_serve: Callable[..., Process]) -> None:
    server = dicomnet_serve()
    done = run([dcmtk("echoscu"), "-v", "--repeat", "5", "-aec", "DICOMNET", "127.0.0.1",
                str(server.port)])
    assert done.returncode == 0, done.output
    assert done.output.count("Received Echo Response (Success)") == 5


def test_echoscu_wrong_called_ae_is_rejected(dcmtk: Callable[[str], str],
                                             dicomnet_serve: Callable[..., Process]) -> None:
    server = dicomnet_serve("--aet", "DICOMNET")
    done = run([dcmtk("echoscu"), "-aec", "SOMEONE", "127.0.0.1", str(server.port)])
    assert done.returncode != 0
    assert "Called AE Title Not Recognized" in done.output, done.output
    # ...and the right title still works afterwards.
    again = run([dcmtk("echoscu"), "-aec", "DICOMNET", "127.0.0.1", str(server.port)])
    assert again.returncode == 0, again.output


def test_echoscu_abort_then_serve_goes_on(dcmtk: Callable[[str], str],
                                          dicomnet_serve: Callable[..., Process]) -> None:
    server = dicomnet_serve()
    aborted = run([dcmtk("echoscu"), "--abort", "-aec", "DICOMNET", "127.0.0.1",
                   str(server.port)])
    assert aborted.returncode == 0, aborted.output
    again = run([dcmtk("echoscu"), "-aec", "DICOMNET", "127.0.0.1", str(server.port)])
    assert again.returncode == 0, again.output


def test_dicomnet_serve_survives_hostile_bytes(dcmtk: Callable[[str], str],
                                               dicomnet_serve: Callable[..., Process]) -> None:
    """Garbage, a truncated PDU and a 4 GiB length, then DCMTK still gets its echo."""
    server = dicomnet_serve()
    for payload in (b"\x00garbage\xff" * 10,
                    b"\x01\x00\x00\x00\x01\x00\x00\x01",  # truncated A-ASSOCIATE-RQ
                    struct.pack(">BBI", 0x01, 0, 0xFFFFFFFF) + b"\x00" * 64):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
    done = run([dcmtk("echoscu"), "-aec", "DICOMNET", "127.0.0.1", str(server.port)])
    assert done.returncode == 0, done.output


def test_dicomnet_echo_against_storescp(storescp: Callable[..., Process]) -> None:
    peer = storescp()
    done = run(dicomnet_command("echo", "-aec", "STORESCP", "127.0.0.1", str(peer.port),
                                "--repeat", "3", "-v"))
    assert done.returncode == 0, done.output
    assert "success" in done.output


def test_dicomnet_echo_reports_refusal() -> None:
    done = run(dicomnet_command("echo", "127.0.0.1", str(free_port())))
    assert done.returncode == 1
    assert "cannot connect" in done.output


def test_dicomnet_echo_reports_rejection(dicomnet_serve: Callable[..., Process]) -> None:
    server = dicomnet_serve("--aet", "DICOMNET")
    done = run(dicomnet_command("echo", "-aec", "NOBODY", "127.0.0.1", str(server.port)))
    assert done.returncode == 1
    assert "called AE title not recognized" in done.output, done.output


# -- pynetdicom, both roles ------------------------------------------------------------


def test_pynetdicom_echoes_dicomnet(dicomnet_serve: Callable[..., Process]) -> None:
    from pynetdicom import AE

    server = dicomnet_serve("--aet", "DICOMNET")
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", server.port, ae_title="DICOMNET")
    assert assoc.is_established
    status = assoc.send_c_echo()
    assert status.Status == 0x0000
    assoc.release()
    assert assoc.is_released


@pytest.fixture
def pynetdicom_echo_scp() -> Iterator[int]:
    from pynetdicom import AE

    ae = AE(ae_title="PYNETSCP")
    ae.add_supported_context("1.2.840.10008.1.1")
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    try:
        yield port
    finally:
        server.shutdown()


def test_dicomnet_echoes_pynetdicom(pynetdicom_echo_scp: int) -> None:
    done = run(dicomnet_command("echo", "-aec", "PYNETSCP", "127.0.0.1",
                                str(pynetdicom_echo_scp), "--repeat", "2"))
    assert done.returncode == 0, done.output


def test_dicomnet_library_echoes_pynetdicom(pynetdicom_echo_scp: int) -> None:
    import anyio

    import dicomnet

    async def main() -> int:
        async with dicomnet.connect("127.0.0.1", pynetdicom_echo_scp,
                                    called_ae="PYNETSCP") as assoc:
            return await assoc.echo()

    for backend in ("asyncio", "trio"):
        assert anyio.run(main, backend=backend) == 0


def test_many_dcmtk_echoes_in_parallel(dcmtk: Callable[[str], str],
                                       dicomnet_serve: Callable[..., Process]) -> None:
    server = dicomnet_serve()
    results: list[int] = []

    def one() -> None:
        results.append(run([dcmtk("echoscu"), "-aec", "DICOMNET", "127.0.0.1",
                            str(server.port)]).returncode)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [0] * 10
