"""`dicomnet store` draws a progress bar when stderr is a terminal, and only then."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pydicom
from peers import dicomnet_command, free_port, start_process
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


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
    command = dicomnet_command("store", "127.0.0.1", str(port), str(images))
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
