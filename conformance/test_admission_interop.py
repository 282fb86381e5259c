"""DCMTK's echoscu gets its C-ECHO from `dicomnet serve` within a second while 200
silent sockets and 50 peers dripping an A-ASSOCIATE-RQ a byte at a time are held open
(docs/security.md, Admission)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest

from dicomnet.acse import build_request
from dicomnet.pdu import encode_pdu
from dicomnet.testing import Process, run
from dicomnet.uids import VERIFICATION

pytestmark = pytest.mark.interop


@contextmanager
def _flood(port: int, silent: int, dribblers: int) -> Iterator[list[socket.socket]]:
    """Open the sockets (from 127.0.0.2-11, so no one address holds more than 25) and
    drip the dribblers' A-ASSOCIATE-RQ one byte every 0.1 s until the block ends."""
    request = encode_pdu(build_request(calling_ae_title="DRIP", called_ae_title="DICOMNET",
                            contexts=[(VERIFICATION, ["1.2.840.10008.1.2"])],
                            max_pdu_length=16384))
    sockets = []
    for index in range(silent + dribblers):
        sock = socket.socket()
        sock.bind((f"127.0.0.{2 + index % 10}", 0))
        sock.connect(("127.0.0.1", port))
        sockets.append(sock)
    stop = threading.Event()

    def drip() -> None:
        for offset in range(len(request)):  # bounded: one pass over the request
            if stop.wait(0.1):
                return
            for sock in sockets[silent:]:
                with suppress(OSError):
                    sock.send(request[offset:offset + 1])

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        yield sockets
    finally:
        stop.set()
        dripper.join(timeout=5)
        for sock in sockets:
            sock.close()


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""  # data (not expected) or ...
    except BlockingIOError:
        return True  # ... nothing yet: open
    except OSError:
        return False


def test_echoscu_within_a_second_under_a_connection_flood(
        dcmtk: Callable[[str], str], dicomnet_serve: Callable[..., Process]) -> None:
    server = dicomnet_serve("--aet", "DICOMNET", "--no-store")
    echoscu = dcmtk("echoscu")
    warm = run([echoscu, "-aec", "DICOMNET", "127.0.0.1", str(server.port)])
    assert warm.returncode == 0, warm.output
    with _flood(server.port, silent=200, dribblers=50) as sockets:
        time.sleep(1.0)  # the server has taken them all off its listen queue
        start = time.monotonic()
        done = run([echoscu, "-aec", "DICOMNET", "127.0.0.1", str(server.port)])
        elapsed = time.monotonic() - start
        assert done.returncode == 0, done.output
        assert elapsed < 1.0, f"echoscu took {elapsed:.2f} s"
        assert all(_still_open(sock) for sock in sockets)  # held, not dropped
