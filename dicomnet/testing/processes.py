"""Ports and processes for tests on 127.0.0.1: a free port, a server process started
and waited for, a peer tool run to completion, the ``dicomnet`` command.

Every port is chosen at run time, below the kernel's ephemeral range (see
:func:`free_port`). Processes get ``TCP_NODELAY=1`` (:data:`PEER_ENV`) so DCMTK runs at its
best: without it DCMTK leaves Nagle on and each response waits for a delayed ACK.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["PEER_ENV", "Completed", "Process", "dicomnet_command", "free_port",
           "partial_files", "port_refuses", "run", "start_process", "wait_for_port"]

#: The environment of the processes a test starts: TCP_NODELAY=1 for DCMTK.
PEER_ENV = {**os.environ, "TCP_NODELAY": "1"}


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1, chosen BELOW the kernel's
    ephemeral range.

    A port the kernel hands out for ``bind(0)`` is an ephemeral one: between our choice and
    the peer's bind, any outgoing connection on the machine (the previous test's client, the
    peer's own) may be given the same port, and the peer then fails with "already in use".
    Ports under the ephemeral range are only ever taken by an explicit bind.
    """
    low, _ = _ephemeral_range()
    first = max(1024, low - 12000)
    for _ in range(200):
        port = random.randrange(first, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # everything below the range taken: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any] | None = None,
                  timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def port_refuses(port: int, within: float = 10.0) -> bool:
    """True once a new connection to ``port`` of 127.0.0.1 is refused (its listener is
    closed) within ``within`` seconds; False if it is still accepted then."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except ConnectionRefusedError:
            return True
        time.sleep(0.05)
    return False


@dataclass
class Completed:
    returncode: int
    output: str


def run(args: list[str], timeout: float = 60.0, env: dict[str, str] | None = None) -> Completed:
    """Run a peer tool to completion; stdout and stderr together, as a person sees them."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          env=env or PEER_ENV, check=False)
    return Completed(done.returncode, done.stdout + done.stderr)


def partial_files(archive: Path) -> list[Path]:
    """Files in a running ``dicomnet serve --data`` archive's ``.incoming`` folder other
    than the one empty spare it keeps ready for the next data set: data sets being
    received, or left behind by one that failed. (A stopped server leaves no spare.)"""
    files = list((archive / ".incoming").iterdir())
    empty = [path for path in files if path.stat().st_size == 0]
    assert len(empty) <= 1, f"more than one empty incoming file: {empty}"
    return [path for path in files if path not in empty]


def dicomnet_command(*args: str) -> list[str]:
    """The ``dicomnet`` command of this Python (the checkout or environment under test,
    not whichever ``dicomnet`` is first on PATH)."""
    return [sys.executable, "-m", "dicomnet", *args]


@dataclass
class Process:
    """A server process on a port; ``stop()`` sends SIGTERM and returns the exit code,
    its output is then in ``output``.

    The output goes to a temporary file, not a pipe: a verbose server writing more
    than a pipe holds while nobody reads it would block on its own logging.
    """

    process: subprocess.Popen[str]
    port: int
    log: IO[str]
    output: str = ""

    def output_so_far(self) -> str:
        """What the process has written up to now (it keeps running)."""
        self.log.flush()
        position = self.log.tell()
        self.log.seek(0)
        text = self.log.read()
        self.log.seek(position)
        return self.output + text

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait (then SIGKILL), keep the output; a second call just returns
        the exit code (a test may stop what its fixture stops again)."""
        if self.log.closed:
            return self.process.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.seek(0)
        self.output += self.log.read()
        self.log.close()
        return self.process.returncode


def start_process(args: list[str], port: int, cwd: Path | None = None) -> Process:
    log = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True,
                               env=PEER_ENV, cwd=cwd)
    try:
        wait_for_port(port, process)
    except Exception:
        process.kill()
        log.seek(0)
        raise RuntimeError(f"{args[0]} did not start: {log.read()[-2000:]}") from None
    return Process(process, port, log)
