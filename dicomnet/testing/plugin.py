"""dicomnet's pytest plugin, registered by the ``pytest11`` entry point: installed with
dicomnet, its fixtures are there in every test suite of the environment (a project's
own fixture of the same name wins).

* ``dicomnet_serving``: ``async with dicomnet_serving(server) as port`` runs a
  :class:`~dicomnet.server.Server` in the test's event loop on a free port.
* ``dicomnet_serve``: ``dicomnet_serve(*args)`` starts the real ``dicomnet serve`` archive
  in the test's temporary folder on a free port; it must exit 0 on SIGTERM at the end.
* ``dcmtk``: ``dcmtk("storescu")`` is the path of a DCMTK tool; the test fails with the
  command that installs it when it is missing.
* ``storescp``: ``storescp(*args)`` starts DCMTK's storescp writing into a temporary
  folder; ``dcmqrscp``: ``dcmqrscp(aet)`` a DCMTK Q/R archive with its own configuration.
* ``dicom_instances``: ``dicom_instances(count, kind="CT", **attributes)`` writes valid
  instances of one new series into a temporary folder and returns their paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from dicomnet.testing.dcmtk import dcmtk_binary
from dicomnet.testing.instances import write_instances
from dicomnet.testing.processes import Process, dicomnet_command, free_port, start_process
from dicomnet.testing.servers import serving


@pytest.fixture
def dicomnet_serving() -> Callable[..., AbstractAsyncContextManager[int]]:
    """``async with dicomnet_serving(server) as port``: ``server`` on a free port of
    127.0.0.1 in the test's event loop, shut down gracefully at the end of the block."""
    return serving


@pytest.fixture
def dcmtk() -> Callable[[str], str]:
    """``dcmtk("storescu")``: the path of DCMTK's tool; the test fails (never skips)
    with the command that installs it when it is missing."""
    return dcmtk_binary


@pytest.fixture
def dicomnet_serve(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start ``dicomnet serve`` (the real command) with extra arguments; stopped with
    SIGTERM at the end of the test, which must exit 0 (graceful shutdown)."""
    started: list[Process] = []

    def start(*extra: str) -> Process:
        port = free_port()
        process = start_process(dicomnet_command("serve", "--port", str(port), "-v", *extra),
                                port, cwd=tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        code = process.stop()
        assert code == 0, f"dicomnet serve exited with {code}:\n{process.output}"


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start DCMTK's storescp on a free port, writing into a temporary folder."""
    started: list[Process] = []

    def start(*extra: str) -> Process:
        port = free_port()
        out = tmp_path / f"storescp-{port}"
        out.mkdir()
        process = start_process([dcmtk_binary("storescp"), "-od", str(out), *extra,
                                 str(port)], port)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def dcmqrscp(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start DCMTK's dcmqrscp as AE ``aet`` with one storage area in a temporary folder,
    accepting any calling AE (its configuration file written for it): it files what it
    is sent with C-STORE, then answers C-FIND, C-GET and C-MOVE from it. ``peers`` are
    its move destinations, AE title -> (host, port); ``options`` go on its command line
    (``+xw``: accept JPEG 2000 too)."""
    started: list[Process] = []

    def start(aet: str = "DCMQRSCP", *, peers: dict[str, tuple[str, int]] | None = None,
              options: tuple[str, ...] = ()) -> Process:
        port = free_port()
        folder = tmp_path / f"dcmqrscp-{port}"
        folder.mkdir()
        hosts = "".join(f"{name.lower()} = ({name}, {host}, {peer_port})\n"
                        for name, (host, peer_port) in (peers or {}).items())
        config = folder / "dcmqrscp.cfg"
        config.write_text(
            f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\n"
            f"HostTable BEGIN\n{hosts}HostTable END\n\n"
            "VendorTable BEGIN\nVendorTable END\n\n"
            f"AETable BEGIN\n{aet} {folder} RW (500, 1024mb) ANY\nAETable END\n")
        process = start_process([dcmtk_binary("dcmqrscp"), *options, "-c", str(config)],
                                port)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def dicom_instances(tmp_path: Path) -> Callable[..., list[Path]]:
    """``dicom_instances(count, kind="CT", **attributes)``: the paths of ``count`` valid
    instances of one new series, written into the test's temporary folder."""
    counter = iter(range(1 << 30))

    def make(count: int, kind: str = "CT", **attributes: str) -> list[Path]:
        return write_instances(tmp_path / f"instances-{next(counter)}", count, kind,
                               **attributes)

    return make
