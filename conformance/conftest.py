"""Fixtures of the interoperability suite; the helpers live in peers.py.

Every port is chosen at run time. DCMTK must be installed (``apt-get install -y dcmtk``):
a missing binary FAILS the test, it never skips, so CI cannot pass by not testing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from peers import Process, dcmtk_binary, dicomnet_command, free_port, start_process
from postgres import postgres_server, postgres_url  # noqa: F401 - fixtures


@pytest.fixture
def dcmtk() -> Callable[[str], str]:
    return dcmtk_binary


@pytest.fixture
def dicomnet_serve(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start ``dicomnet serve`` (the real command) with extra arguments; stopped with
    SIGTERM at the end of the test, which must exit 0 (graceful shutdown)."""
    started: list[Process] = []

    def start(*extra: str) -> Process:
        port = free_port()
        proc = start_process(dicomnet_command("serve", "--port", str(port), "-v", *extra),
                             port, cwd=tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        code = proc.stop()
        assert code == 0, f"dicomnet serve exited with {code}:\n{proc.output}"


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start DCMTK's storescp on a free port, writing into a temporary folder."""
    started: list[Process] = []

    def start(*extra: str) -> Process:
        port = free_port()
        out = tmp_path / f"storescp-{port}"
        out.mkdir()
        proc = start_process([dcmtk_binary("storescp"), "-od", str(out), *extra, str(port)],
                             port)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
