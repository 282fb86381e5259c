"""SIGTERM to `dicomnet serve` in the middle of a C-STORE.

The issue (robustness) asks: "SIGTERM stops accepting, lets running associations finish
within a grace period, then aborts the rest; nothing received is lost." The real command
runs as a subprocess; the sender is a raw peer that sends a C-STORE a few PDUs at a time
so that the signal lands, for sure, in the middle of the data set.

- Within the grace period (``--grace 10``): new connections are refused at once, the
  running association sends the rest of its data set, gets its C-STORE response (PS3.7
  §9.1.1) and releases normally (A-RELEASE-RQ/RP, PS3.8 §7.2); the server then exits 0
  long before the grace period is over, with the file whole on disk and in the index.
- Grace expired (``--grace 1``): a sender still busy with its data set is aborted
  (A-ABORT, PS3.8 §7.3), the half-received data set leaves no file and no index row, and
  what was stored before the signal is all still there.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pydicom
import pytest
from blockingpeer import (
    BlockingPeer,
    PeerClosedError,
    echo_bytes,
    request_bytes,
    response_of,
    store_command_bytes,
)
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dicomnet.dimse import pdata_pdu
from dicomnet.part10 import dataset_bytes
from dicomnet.pdu import AAbort, AAssociateAC, AReleaseRP, AReleaseRQ
from dicomnet.testing import (
    Process,
    dcmtk_binary,
    dicomnet_command,
    free_port,
    port_refuses,
    run,
    start_process,
)

pytestmark = pytest.mark.interop

FRAGMENT = 4096


def _ct(path: Path) -> str:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


def _serve(tmp_path: Path, grace: float) -> tuple[Process, Path]:
    data = tmp_path / "archive"
    port = free_port()
    server = start_process(dicomnet_command("serve", "--port", str(port), "--data", str(data),
                                            "--grace", str(grace), "-v"), port, cwd=tmp_path)
    return server, data


def _store_before(server: Process, path: Path) -> None:
    """A store finished before the signal: must survive whatever follows."""
    sent = run([dcmtk_binary("storescu"), "-aec", "DICOMNET", "127.0.0.1", str(server.port),
                str(path)])
    assert sent.returncode == 0 and "E:" not in sent.output, sent.output


def _start_store(port: int, sop_instance_uid: str, data: bytes, fragments: int
                 ) -> BlockingPeer:
    peer = BlockingPeer(port)
    peer.send(request_bytes("DICOMNET"))
    assert isinstance(peer.receive_pdu(), AAssociateAC)
    peer.send(store_command_bytes(1, sop_instance_uid))
    for start in range(0, fragments * FRAGMENT, FRAGMENT):
        peer.send(pdata_pdu(3, False, False, data[start:start + FRAGMENT]))
    return peer




def _rows(data: Path) -> set[str]:
    with sqlite3.connect(data / "index.sqlite") as db:
        return {uid for (uid,) in db.execute("SELECT sop_instance_uid FROM instance")}


def test_sigterm_lets_a_running_store_finish(tmp_path: Path) -> None:
    before_uid = _ct(tmp_path / "before.dcm")
    running = tmp_path / "running.dcm"
    running_uid = _ct(running)
    _header, data = dataset_bytes(running)
    server, archive = _serve(tmp_path, grace=10)
    try:
        _store_before(server, tmp_path / "before.dcm")
        peer = _start_store(server.port, running_uid, data, fragments=3)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert port_refuses(server.port, within=5.0), "still accepting connections after SIGTERM"
        assert server.process.poll() is None, "exited before its association ended"
        # The association goes on: the rest of the data set, a few PDUs at a time.
        rest = range(3 * FRAGMENT, len(data), FRAGMENT)
        for start in rest:
            time.sleep(0.05)
            last = start + FRAGMENT >= len(data)
            peer.send(pdata_pdu(3, False, last, data[start:start + FRAGMENT]))
        response = response_of(peer.receive_pdu())
        assert response.status == 0x0000  # type: ignore[union-attr]
        # ...and more requests on it are still answered until it releases.
        peer.send(echo_bytes(2, context_id=1))
        assert response_of(peer.receive_pdu()).status == 0x0000  # type: ignore[union-attr]
        peer.send(AReleaseRQ())
        assert isinstance(peer.receive_pdu(), AReleaseRP)
        peer.close()
        code = server.process.wait(timeout=8)
        assert time.monotonic() - signalled < 8, "waited out the grace period"
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert "SIGTERM received" in server.output, server.output
    assert _rows(archive) == {before_uid, running_uid}
    stored = list(archive.rglob(f"{running_uid}.dcm"))
    assert len(stored) == 1
    assert dataset_bytes(stored[0])[1] == data  # whole, byte for byte
    assert not list((archive / ".incoming").iterdir())


def test_sigterm_aborts_what_outlasts_the_grace_period(tmp_path: Path) -> None:
    before_uid = _ct(tmp_path / "before.dcm")
    slow = tmp_path / "slow.dcm"
    slow_uid = _ct(slow)
    _header, data = dataset_bytes(slow)
    grace = 1.0
    server, archive = _serve(tmp_path, grace=grace)
    try:
        _store_before(server, tmp_path / "before.dcm")
        peer = _start_store(server.port, slow_uid, data, fragments=2)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # The peer stays busy but never finishes: one more fragment every 0.2 s, never
        # the last (a data set this size would be done long before the grace ends).
        received = []
        start = 2 * FRAGMENT
        while time.monotonic() - signalled < grace + 5:
            try:
                peer.send(pdata_pdu(3, False, False, data[start:start + 16]))
                pdu = peer.receive_pdu(timeout=0.2)
            except PeerClosedError:
                break
            except TimeoutError:
                continue
            if pdu is None:
                break
            received.append(pdu)
        aborted_after = time.monotonic() - signalled
        received += peer.wait_closed() if not peer.closed_by_server else []
        peer.close()
        assert [type(pdu) for pdu in received] == [AAbort], received
        assert grace - 0.2 < aborted_after < grace + 3, aborted_after
        code = server.process.wait(timeout=5)
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert "aborting" in server.output, server.output
    assert _rows(archive) == {before_uid}  # nothing received is lost, nothing half kept
    assert not list(archive.rglob(f"{slow_uid}.dcm"))
    assert not list((archive / ".incoming").iterdir())
