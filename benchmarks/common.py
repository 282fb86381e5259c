"""What every benchmark script needs: a free port, a server that is listening, the
resident memory of a process, and DCMTK's tools (not pynetdicom's namesakes). All but
the memory reader build on :mod:`dicomnet.testing`.

The scripts run as ``python benchmarks/NAME.py``, so this module is importable as
``common`` beside them."""

from __future__ import annotations

import subprocess

# The test helpers serve the benchmarks too: one lookup of DCMTK's tools, one free-port
# picker, one wait for a listening server.
from dicomnet.testing import find_dcmtk, free_port, wait_for_port

__all__ = ["dcmtk", "free_port", "memory_kib", "wait_for"]


def wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    """:func:`dicomnet.testing.wait_for_port` with 30 s: a benchmark's server may start slowly on
    a loaded machine; it still raises rather than hang."""
    wait_for_port(port, process, timeout=30.0)


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
