"""A data set larger than memory should be, through `dicomnet serve`, in constant memory.

    .venv/bin/python benchmarks/big_dataset.py [--gib 1.0]

Writes a Part 10 file whose pixel data is ``--gib`` GiB (streamed to disk, never held in
memory), sends it with ``dicomnet store`` to ``dicomnet serve --data`` on 127.0.0.1, and
prints the peak resident memory (VmHWM) of both processes, the throughput, and whether
the stored data set is byte for byte the one sent. Exits 1 if the server's peak RSS is
over ``--limit-mib`` (150 by default, the issue's bound) or the bytes differ.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import free_port, memory_kib, wait_for
from pydicom.uid import generate_uid

from dicomnet.part10 import file_meta_bytes, read_header

RAW_DATA_STORAGE = "1.2.840.10008.5.1.4.1.1.66"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
CHUNK = 1 << 22


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr == b"UI" else b" "
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def write_big_file(path: Path, size: int) -> tuple[str, str]:
    """A Raw Data instance with ``size`` bytes of OB pixel data; returns (UID, sha256 of
    the data set)."""
    uid = generate_uid()
    head = b"".join([
        _element(0x0008, 0x0016, b"UI", RAW_DATA_STORAGE.encode()),
        _element(0x0008, 0x0018, b"UI", uid.encode()),
        _element(0x0010, 0x0020, b"LO", b"BIG"),
        _element(0x0020, 0x000D, b"UI", generate_uid().encode()),
        _element(0x0020, 0x000E, b"UI", generate_uid().encode()),
        struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, size),
    ])
    digest = hashlib.sha256(head)
    block = os.urandom(CHUNK)
    with open(path, "wb") as fp:
        fp.write(file_meta_bytes(sop_class_uid=RAW_DATA_STORAGE, sop_instance_uid=uid,
                                 transfer_syntax=EXPLICIT_LE))
        fp.write(head)
        remaining = size
        while remaining:
            piece = block[:min(CHUNK, remaining)]
            fp.write(piece)
            digest.update(piece)
            remaining -= len(piece)
    return uid, digest.hexdigest()


def dataset_digest(path: Path) -> str:
    with open(path, "rb") as fp:
        header = read_header(fp)
        fp.seek(header.dataset_offset)
        digest = hashlib.sha256()
        while chunk := fp.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--limit-mib", type=float, default=150.0)
    args = parser.parse_args()
    size = int(args.gib * (1 << 30)) & ~1
    with tempfile.TemporaryDirectory(prefix="dicomnet-big-") as tmp:
        work = Path(tmp)
        source = work / "big.dcm"
        _uid, digest = write_big_file(source, size)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "dicomnet", "serve", "--port", str(port), "--any-aet",
             "--data", str(work / "archive"), "-q"])
        try:
            wait_for(port, server)
            started = time.perf_counter()
            client = subprocess.run(
                [sys.executable, "-m", "dicomnet", "store", "-q", "127.0.0.1", str(port),
                 str(source)], timeout=900, check=False)
            elapsed = time.perf_counter() - started
            server_peak = memory_kib(server.pid, "VmHWM") / 1024
        finally:
            server.terminate()
            server.wait(timeout=60)
        client_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        stored = [p for p in (work / "archive").rglob("*.dcm")]
        same = len(stored) == 1 and dataset_digest(stored[0]) == digest
        print(f"data set: {size / (1 << 30):.2f} GiB, sent in {elapsed:.1f} s "
              f"({size / elapsed / 1e6:.0f} MB/s)")
        print(f"peak RSS: dicomnet serve {server_peak:.1f} MiB, "
              f"largest child (store) {client_peak:.1f} MiB")
        print(f"stored byte for byte: {same}; client exit {client.returncode}")
        ok = same and client.returncode == 0 and server_peak < args.limit_mib
        print("OK" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
