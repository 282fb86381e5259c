"""A real write failure while storing: `dicomnet serve` under RLIMIT_FSIZE.

The issue (robustness) asks: "Disk full while storing gives the peer a failure status
(A700 'out of resources') and no partial file." Filling a real disk needs a mount,
which a container or an unprivileged CI runner may not allow; a file size limit does
the same to the server with no privilege at all. The server runs with RLIMIT_FSIZE set
(and SIGXFSZ ignored, as CPython does anyway), so the kernel refuses, with EFBIG, to
let any file it writes grow past the limit: the very path a full disk takes (write()
failing half way through a data set, after part of it is on disk), caused by the OS
rather than by a monkeypatch.

DCMTK's storescu sends an instance larger than the limit: the C-STORE response must be
"Refused: Out of Resources" (A700, PS3.4 Table B.2-1), the temporary file is removed,
no file and no index row appear, and the server goes on serving: a small instance sent
next is stored and indexed. The limit is far above what the SQLite index and the log
need, so only the data set write can hit it.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dicomnet.testing import dcmtk_binary, free_port, run, start_process

pytestmark = pytest.mark.interop

LIMIT = 1 << 20  # bytes any file of the server may reach


# `python -m dicomnet`, with the file size limit set first (in the child only; ignoring
# SIGXFSZ makes write() fail with EFBIG instead of killing the process).
LIMITED_DICOMNET = """
import resource, runpy, signal, sys
limit = int(sys.argv.pop(1))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv[0] = "dicomnet"
runpy.run_module("dicomnet", run_name="__main__")
"""


def _instance(path: Path, rows: int) -> str:
    """A CT instance of ``rows`` x 1024 16-bit pixels; returns its SOP Instance UID."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Rows, ds.Columns = rows, 1024
    ds.PixelData = np.arange(rows * 1024, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


def test_write_failure_gives_out_of_resources_and_leaves_nothing(tmp_path: Path) -> None:
    big, small = tmp_path / "big.dcm", tmp_path / "small.dcm"
    big_uid = _instance(big, 1024)  # 2 MiB of pixels: twice the limit
    small_uid = _instance(small, 16)  # 32 KiB
    assert big.stat().st_size > 2 * LIMIT - 4096
    data = tmp_path / "archive"
    port = free_port()
    server = start_process([sys.executable, "-c", LIMITED_DICOMNET, str(LIMIT), "serve",
                            "--port", str(port), "--data", str(data)], port, cwd=tmp_path)
    try:
        storescu = dcmtk_binary("storescu")
        sent = run([storescu, "-v", "-aec", "DICOMNET", "127.0.0.1", str(port), str(big)])
        # DCMTK names every A7xx status "Refused: OutOfResources" (PS3.4 Table B.2-1).
        assert "Received Store Response (Refused: OutOfResources)" in sent.output, \
            sent.output
        assert "Abort" not in sent.output, sent.output  # an answer, not an A-ABORT
        assert not list((data / ".incoming").iterdir()), "a partial .part file was left"
        assert not list(data.rglob("*.dcm"))
        # The server survived its failed write and still files what fits.
        sent = run([storescu, "-v", "-aec", "DICOMNET", "127.0.0.1", str(port), str(small)])
        assert sent.returncode == 0, sent.output
        assert "Success" in sent.output, sent.output
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert "File too large" in server.output, server.output  # EFBIG: the OS refused
    assert "Traceback" not in server.output, server.output  # answered, not crashed
    with sqlite3.connect(data / "index.sqlite") as db:
        rows = db.execute("SELECT sop_instance_uid FROM instance").fetchall()
    assert rows == [(small_uid,)], rows
    assert big_uid not in {path.stem for path in data.rglob("*.dcm")}
    assert len(list(data.rglob("*.dcm"))) == 1
    assert not list((data / ".incoming").iterdir())
