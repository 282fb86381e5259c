"""`dicomnet serve` as a real process, for tests that read its resident memory from
/proc: an in-process server would share the test's own memory."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def rss(pid: int) -> int:
    """The resident memory of process ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@contextmanager
def serve_process(*options: str) -> Iterator[tuple[int, int]]:
    """`dicomnet serve --port 0 OPTIONS...` until the block ends: (pid, port)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dicomnet", "serve", "--port", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    drain: subprocess.Popen[bytes] | None = None
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"listening on [^ ]+:(\d+)", line)
            if found:
                port = int(found.group(1))
        assert port is not None, "dicomnet serve did not start"
        # Drain the output so the server never blocks on a full pipe.
        drain = subprocess.Popen(["cat"], stdin=process.stdout, stdout=subprocess.DEVNULL)
        yield process.pid, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if drain is not None:
            drain.wait(timeout=10)
