"""`dicomnet serve --workers N`: several processes on one port (issue 21 item 1).

The real command runs as a subprocess with ``-v``; its log says which worker (and
which process) serves what: the parent logs ``worker N started (pid P)``, each
worker's lines are tagged ``[worker N]`` and name the peer's address and port. To
place associations on chosen workers, a test stops one worker's process (SIGSTOP):
the connections that come meanwhile can only be taken by the other, from the
accept queue they share.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pydicom
import pytest
from blockingpeer import (
    BlockingPeer,
    echo_bytes,
    request_bytes,
    response_of,
    store_command_bytes,
)
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dicomnet.acse import REJECT_LOCAL_LIMIT_EXCEEDED
from dicomnet.dimse import pdata_pdu
from dicomnet.part10 import dataset_bytes
from dicomnet.pdu import AAssociateAC, AReleaseRP, AReleaseRQ
from dicomnet.testing import (
    PEER_ENV,
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


def _serve(tmp_path: Path, *extra: str) -> tuple[Process, Path]:
    data = tmp_path / "archive"
    port = free_port()
    server = start_process(dicomnet_command("serve", "--port", str(port), "--data", str(data),
                                            "--workers", "2", "-v", *extra), port,
                           cwd=tmp_path)
    _wait_for(server, r"listening on 127\.0\.0\.1:\d+.*, 2 workers")
    return server, data


def _wait_for(server: Process, pattern: str, within: float = 20.0) -> re.Match[str]:
    """The first match of ``pattern`` in the server's output, once it is there."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = re.search(pattern, server.output_so_far())
        if found is not None:
            return found
        assert server.process.poll() is None, server.output_so_far()
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in the output:\n{server.output_so_far()}")


def _pids(server: Process) -> dict[int, int]:
    """Worker number -> the pid of its latest process."""
    return {int(number): int(pid) for number, pid in
            re.findall(r"worker (\d+) started \(pid (\d+)\)", server.output_so_far())}


def _associate(port: int) -> BlockingPeer:
    peer = BlockingPeer(port)
    peer.send(request_bytes("DICOMNET"))
    assert isinstance(peer.receive_pdu(timeout=10), AAssociateAC)
    return peer


def _worker_of(server: Process, peer: BlockingPeer) -> int:
    """The worker that accepted ``peer``'s association, from its log line."""
    port = peer.sock.getsockname()[1]
    found = _wait_for(server, rf"\[worker (\d+)\] [^\n]*\[127\.0\.0\.1:{port}\]: "
                              "association accepted")
    return int(found.group(1))


def _echo(peer: BlockingPeer, message_id: int) -> None:
    peer.send(echo_bytes(message_id, context_id=1))
    assert response_of(peer.receive_pdu(timeout=10)).status == 0x0000  # type: ignore[union-attr]


def _release(peer: BlockingPeer) -> None:
    peer.send(AReleaseRQ())
    assert isinstance(peer.receive_pdu(timeout=10), AReleaseRP)
    peer.close()


@contextmanager
def _stopped(pid: int) -> Iterator[None]:
    """Worker process ``pid`` frozen (SIGSTOP) for the block: it takes no connection."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _on_two_workers(server: Process) -> tuple[BlockingPeer, BlockingPeer, dict[int, int]]:
    """Two associations, each on another worker (the first's worker is frozen while
    the second connects); and the pids of the workers."""
    pids = _pids(server)
    first = _associate(server.port)
    first_worker = _worker_of(server, first)
    with _stopped(pids[first_worker]):
        second = _associate(server.port)
        assert _worker_of(server, second) != first_worker
    return first, second, pids


def _ct(path: Path) -> str:
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


def _rows(data: Path) -> list[str]:
    with sqlite3.connect(data / "index.sqlite") as db:
        return [uid for (uid,) in db.execute("SELECT sop_instance_uid FROM instance")]


def _files(data: Path) -> list[Path]:
    return [path for path in data.rglob("*.dcm") if ".incoming" not in path.parts]


def test_two_workers_serve_at_the_same_time(tmp_path: Path) -> None:
    server, _data = _serve(tmp_path)
    try:
        pids = _pids(server)
        assert len(set(pids.values())) == 2, server.output_so_far()
        first = _associate(server.port)
        first_worker = _worker_of(server, first)
        with _stopped(pids[first_worker]):
            # With one process frozen, the other one takes the connection and answers.
            second = _associate(server.port)
            assert _worker_of(server, second) != first_worker
            _echo(second, 1)
        _echo(first, 1)
        _echo(second, 2)
        _release(first)
        _release(second)
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert server.output.count("listening on") == 3  # each worker's log, the line once
    assert len(re.findall(r"^dicomnet serve: .*listening on", server.output, re.M)) == 1


def test_association_limit_counts_across_workers(tmp_path: Path) -> None:
    server, _data = _serve(tmp_path, "--max-associations", "2")
    try:
        first, second, pids = _on_two_workers(server)
        workers = {_worker_of(server, first): first, _worker_of(server, second): second}
        for busy, frozen in ((1, 2), (2, 1)):
            # Each worker holds one association; whichever takes the third refuses it.
            with _stopped(pids[frozen]):
                third = BlockingPeer(server.port)
                third.send(request_bytes("DICOMNET"))
                answer = third.receive_pdu(timeout=10)
                third.close()
                assert answer == REJECT_LOCAL_LIMIT_EXCEEDED, (busy, answer)
        assert server.output_so_far().count("rejected (association limit)") == 2
        # A worker killed with an association is replaced, and its count given back.
        os.kill(pids[1], signal.SIGKILL)
        _wait_for(server, r"worker 1 \(pid \d+\) was killed by SIGKILL; starting another")
        _wait_for(server, r"worker 1 listening")
        again = _associate(server.port)
        _echo(again, 1)
        _echo(workers[2], 1)
        _release(again)
        _release(workers[2])
    finally:
        code = server.stop()
    assert code == 0, server.output


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(tmp_path: Path) -> None:
    uid = _ct(tmp_path / "one.dcm")
    _header, data = dataset_bytes(tmp_path / "one.dcm")
    server, archive = _serve(tmp_path)
    try:
        before = _pids(server)
        # The victim is in the middle of receiving a data set.
        sender = _associate(server.port)
        victim = _worker_of(server, sender)
        _begin_store(sender, uid, data)
        receiving = f"{before[victim]}-*.part"
        deadline = time.monotonic() + 10
        while not [path for path in (archive / ".incoming").glob(receiving)
                   if path.stat().st_size > 0]:
            assert time.monotonic() < deadline, list((archive / ".incoming").iterdir())
            time.sleep(0.05)
        os.kill(before[victim], signal.SIGKILL)
        _wait_for(server, rf"worker {victim} \(pid {before[victim]}\) was killed by "
                          "SIGKILL; starting another")
        _wait_for(server, rf"worker {victim} listening")
        sender.close()
        after = _pids(server)
        assert after[3 - victim] == before[3 - victim]
        assert after[victim] != before[victim]
        # What it was receiving is gone with it.
        assert not list((archive / ".incoming").glob(receiving))
        for _attempt in range(10):
            echoed = run([dcmtk_binary("echoscu"), "-aec", "DICOMNET", "127.0.0.1",
                          str(server.port)], timeout=30)
            assert echoed.returncode == 0, echoed.output
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert not _rows(archive)


def _begin_store(peer: BlockingPeer, uid: str, data: bytes) -> None:
    peer.send(store_command_bytes(1, uid))
    for start in range(0, 2 * FRAGMENT, FRAGMENT):
        peer.send(pdata_pdu(3, False, False, data[start:start + FRAGMENT]))


def _end_store(peer: BlockingPeer, data: bytes) -> None:
    for start in range(2 * FRAGMENT, len(data), FRAGMENT):
        peer.send(pdata_pdu(3, False, start + FRAGMENT >= len(data),
                            data[start:start + FRAGMENT]))
    assert response_of(peer.receive_pdu(timeout=10)).status == 0x0000  # type: ignore[union-attr]




def test_sigterm_drains_every_worker(tmp_path: Path) -> None:
    uids, data = [], []
    for name in ("a.dcm", "b.dcm"):
        uids.append(_ct(tmp_path / name))
        data.append(dataset_bytes(tmp_path / name)[1])
    server, archive = _serve(tmp_path, "--grace", "20")
    try:
        first, second, _ = _on_two_workers(server)
        _begin_store(first, uids[0], data[0])
        _begin_store(second, uids[1], data[1])
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        _wait_for(server, r"\[worker 1\] SIGTERM received")
        _wait_for(server, r"\[worker 2\] SIGTERM received")
        assert port_refuses(server.port, within=10.0), "still accepting connections after SIGTERM"
        assert server.process.poll() is None, "exited before its associations ended"
        # Both associations go on to the end of their data sets, and release.
        _end_store(first, data[0])
        _end_store(second, data[1])
        _release(first)
        _release(second)
        code = server.process.wait(timeout=15)
        assert time.monotonic() - signalled < 15, "waited out the grace period"
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert "aborting" not in server.output, server.output
    assert sorted(_rows(archive)) == sorted(uids)
    assert len(_files(archive)) == 2
    assert not list((archive / ".incoming").iterdir())


def test_many_senders_into_two_workers_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    folders = []
    for number in range(4):
        folder = tmp_path / f"sender{number}"
        folder.mkdir()
        for image in range(10):
            _ct(folder / f"{image}.dcm")
        folders.append(folder)
    # Two more senders send the first sender's instances again, at the same time.
    folders += [folders[0], folders[0]]
    expected = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
                for folder in folders for path in folder.glob("*.dcm")}
    server, archive = _serve(tmp_path)
    try:
        senders = [subprocess.Popen(
            [dcmtk_binary("storescu"), "-aec", "DICOMNET", "+sd", "127.0.0.1",
             str(server.port), str(folder)], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=PEER_ENV) for folder in folders]
        for sender in senders:
            output, _ = sender.communicate(timeout=120)
            assert sender.returncode == 0 and "E:" not in output, output
    finally:
        code = server.stop()
    assert code == 0, server.output
    rows = _rows(archive)
    assert len(rows) == len(expected) == 40 and set(rows) == expected
    files = _files(archive)
    assert len(files) == 40, sorted(str(path.relative_to(archive)) for path in files)
    assert not list((archive / ".incoming").iterdir())
    accepted = re.findall(r"\[worker (\d)\] [^\n]*association accepted", server.output)
    assert len(accepted) == len(folders)


def test_a_busy_port_fails_once_before_any_worker(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(dicomnet_command("serve", "--port", str(port), "--data",
                                    str(tmp_path / "archive"), "--workers", "2", "-v"))
    assert done.returncode == 2, done.output
    assert done.output.count(f"E: cannot listen on 127.0.0.1:{port}") == 1, done.output
    assert "worker" not in done.output and "listening" not in done.output, done.output


def test_what_one_worker_stored_another_finds_and_retrieves(tmp_path: Path) -> None:
    uid = _ct(tmp_path / "one.dcm")
    study = str(pydicom.dcmread(tmp_path / "one.dcm", stop_before_pixels=True)
                .StudyInstanceUID)
    _header, data = dataset_bytes(tmp_path / "one.dcm")
    received = tmp_path / "received"
    received.mkdir()
    server, _archive = _serve(tmp_path)
    try:
        pids = _pids(server)
        sender = _associate(server.port)
        stored_by = _worker_of(server, sender)
        _begin_store(sender, uid, data)
        _end_store(sender, data)
        _release(sender)
        with _stopped(pids[stored_by]):  # only the other worker can answer
            got = run([dcmtk_binary("getscu"), "-S", "-aec", "DICOMNET", "-od",
                       str(received), "-k", "QueryRetrieveLevel=STUDY", "-k",
                       f"StudyInstanceUID={study}", "127.0.0.1", str(server.port)],
                      timeout=30)
        assert got.returncode == 0 and "E:" not in got.output, got.output
    finally:
        code = server.stop()
    assert code == 0, server.output
    retrieving = re.findall(r"\[worker (\d)\] [^\n]*GETSCU->DICOMNET[^\n]*association "
                            "accepted", server.output)
    assert retrieving == [str(3 - stored_by)], server.output
    assert [path.name for path in received.iterdir()] == [f"CT.{uid}"]


def test_login_failures_on_one_worker_slow_down_the_other(tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    subprocess.run(dicomnet_command("user", "add", "--passcode-stdin", str(users), "alice"),
                   input="s3cret\n", text=True, check=True, capture_output=True, timeout=60)
    server, _data = _serve(tmp_path, "--no-store", "--users", str(users))

    def wrong_passcode() -> None:
        done = run(dicomnet_command("echo", "-aec", "DICOMNET", "--user", "alice",
                                    "--passcode", "nope", "127.0.0.1", str(server.port)))
        assert done.returncode == 1, done.output

    try:
        pids = _pids(server)
        with _stopped(pids[2]):
            for _attempt in range(3):  # waits 0, 0.25, 0.5 s: all on worker 1
                wrong_passcode()
        with _stopped(pids[1]):
            wrong_passcode()  # worker 2's first: after worker 1's three
    finally:
        code = server.stop()
    assert code == 0, server.output
    refusals = re.findall(r"\[worker (\d)\] [^\n]*user alice refused", server.output)
    assert refusals == ["1", "1", "1", "2"], server.output
    last = re.findall(r"\[worker 2\] [^\n]*user alice refused[^\n]*", server.output)
    assert len(last) == 1 and "answered after 1 s" in last[0], last
