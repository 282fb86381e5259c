"""What every benchmark script needs: a free port, a server that is listening, the
resident memory of a process, and DCMTK's tools (not pynetdicom's namesakes).

The scripts run as ``python benchmarks/NAME.py``, so this module is importable as
``common`` beside them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

# One lookup of DCMTK's tools for the conformance suite and the benchmarks.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "conformance"))
from peers import find_dcmtk


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (chosen by the kernel)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    """Return once ``process`` accepts connections on ``port``; raise if it exits first
    or does not listen within ``seconds`` (a benchmark must never hang)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no server on port {port} after {seconds} s")


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """A process's memory in KiB from /proc (Linux): ``VmRSS`` now, ``VmHWM`` its peak;
    0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def dcmtk(name: str) -> str:
    """DCMTK's ``name``, or exit saying how to install it."""
    path = find_dcmtk(name)
    if path is None:
        raise SystemExit(f"DCMTK's {name} not found: apt-get install -y dcmtk")
    return path
