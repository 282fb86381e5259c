"""`dicomnet store`, `get` and `move` draw a progress bar when stderr is a terminal, and
only then."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dicomnet.testing import dicomnet_command, free_port, start_process


def _three_images(folder: Path) -> Path:
    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    images = folder / "images"
    images.mkdir()
    for n in range(3):
        source.SOPInstanceUID = generate_uid()
        source.file_meta.MediaStorageSOPInstanceUID = source.SOPInstanceUID
        source.save_as(images / f"{n}.dcm")
    return images


def _store(port: int, images: Path, *, terminal: bool) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `dicomnet store`, stderr a pty or a pipe."""
    return _command(["store", "127.0.0.1", str(port), str(images)], terminal=terminal)


def _command(arguments: list[str], *, terminal: bool) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of a `dicomnet` command, stderr a pty or a pipe."""
    command = dicomnet_command(*arguments)
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                              check=False)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower,
                                   text=True)
        os.close(follower)
        stdout, _ = process.communicate(timeout=60)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the process and its terminal are gone
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    return process.returncode, stdout, drawn.decode(errors="replace")


def test_a_bar_on_a_terminal_and_none_in_a_pipe(tmp_path: Path) -> None:
    images = _three_images(tmp_path)
    port = free_port()
    server = start_process(dicomnet_command("serve", "--port", str(port), "--any-aet",
                                            "--data", str(tmp_path / "archive")), port)
    try:
        code, stdout, terminal = _store(port, images, terminal=True)
        assert code == 0, terminal
        assert "3 of 3 instances stored" in stdout
        # The bar, filled, with the bytes stored (files and bytes: a few big files
        # would move a bar of files only slowly).
        stored = sum(path.stat().st_size for path in images.iterdir())
        assert "\r[" + "#" * 30 + f"] 3/3 files, {stored / 1e3:.1f} kB" in terminal
        assert terminal.rstrip("\r\n").endswith(" kB")  # then a new line, nothing else
        code, stdout, piped = _store(port, images, terminal=False)
        assert code == 0, piped
        assert "3 of 3 instances stored" in stdout
        assert "[" not in piped  # no bar in a pipe (or a log file)
    finally:
        server.stop()


def test_get_and_move_draw_the_peers_counts_on_a_terminal(tmp_path: Path) -> None:
    images = _three_images(tmp_path)
    study = str(pydicom.dcmread(next(images.iterdir())).StudyInstanceUID)
    port, destination_port = free_port(), free_port()
    archive = start_process(dicomnet_command(
        "serve", "--port", str(port), "--any-aet", "--data", str(tmp_path / "archive"),
        "--peer", f"DEST=127.0.0.1:{destination_port}"), port)
    destination = start_process(dicomnet_command(
        "serve", "--port", str(destination_port), "--aet", "DEST",
        "--data", str(tmp_path / "destination")), destination_port)
    try:
        code, _out, drawn = _store(port, images, terminal=False)
        assert code == 0, drawn
        size = sum(len(path.read_bytes()) for path in images.iterdir())
        get = ["get", "127.0.0.1", str(port), "-L", "STUDY", "-k",
               f"StudyInstanceUID={study}"]
        code, _out, drawn = _command([*get, "-o", str(tmp_path / "got")], terminal=True)
        assert code == 0, drawn
        # Pending responses after the first and second instance: 1/3 then 2/3, with the
        # bytes of the data sets received (less than the files: no File Meta).
        assert "\r[" + "#" * 10 + "." * 20 + "] 1/3 instances, " in drawn, drawn
        assert "\r[" + "#" * 20 + "." * 10 + "] 2/3 instances, " in drawn, drawn
        assert f"{size / 1e3:.1f} kB" not in drawn
        code, _out, piped = _command([*get, "-o", str(tmp_path / "got2")], terminal=False)
        assert code == 0 and "[" not in piped, piped
        move = ["move", "127.0.0.1", str(port), "-L", "STUDY", "-aem", "DEST", "-k",
                f"StudyInstanceUID={study}"]
        code, _out, drawn = _command(move, terminal=True)
        assert code == 0, drawn
        assert "] 2/3 instances" in drawn and "kB" not in drawn, drawn
        code, _out, drawn = _command([*move, "--no-progress"], terminal=True)
        assert code == 0 and "[" not in drawn, drawn
    finally:
        destination.stop()
        archive.stop()
