"""The client commands print the peer's Error Comment after a failure status, so the
user reads why (a hierarchical query lacking its study, an unknown destination)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomnet.archive import Archive, install
from dicomnet.association import IncomingRequest
from dicomnet.cli.main import main
from dicomnet.server import Server
from dicomnet.services.failure import ServiceFailure
from dicomnet.testing import serving_in_a_thread


@pytest.fixture
def archive_port(tmp_path: Path) -> Iterator[int]:
    """An archive server (with an echo that refuses) on a free port, in a thread of
    its own: the commands run their own event loop."""
    server = Server("ARCHIVE")
    install(server, Archive(tmp_path / "archive"))

    @server.on_echo()
    async def closed(request: IncomingRequest) -> int:
        raise ServiceFailure(0x0110, "closed for maintenance")

    with serving_in_a_thread(server) as port:
        yield port


def test_find_prints_why_it_failed(archive_port: int,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["find", "127.0.0.1", str(archive_port), "-aec", "ARCHIVE",
                 "-L", "SERIES", "-k", "SeriesInstanceUID="])
    assert code == 1
    err = capsys.readouterr().err
    assert "C-FIND failed: 0xA900 Failed: Identifier does not match SOP Class: a " \
           "hierarchical SERIES query needs one StudyInstanceUID" in err


def test_move_prints_why_it_failed(archive_port: int,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["move", "127.0.0.1", str(archive_port), "-aec", "ARCHIVE",
                 "--dest", "NOWHERE", "-k", "StudyInstanceUID=1.2.3"])
    assert code == 1
    err = capsys.readouterr().err
    assert "0xA801 Refused: Move Destination unknown: move destination 'NOWHERE' " \
           "is not known here" in err


def test_echo_prints_why_it_failed(archive_port: int,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["echo", "127.0.0.1", str(archive_port), "-aec", "ARCHIVE"])
    assert code == 1
    assert "C-ECHO 1: 0x0110 Failure: Processing failure: closed for maintenance" \
        in capsys.readouterr().err


def test_store_prints_why_a_file_was_refused(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from pydicom.data import get_testdata_file

    server = Server("ARCHIVE")

    @server.on_store()
    async def full(request: IncomingRequest) -> int:
        raise ServiceFailure(0xA700, "the disk is full")

    with serving_in_a_thread(server) as port:
        code = main(["store", "127.0.0.1", str(port), "-aec", "ARCHIVE",
                     str(get_testdata_file("CT_small.dcm"))])
    assert code == 1
    out = capsys.readouterr()
    assert "0xA700" in out.err and "the disk is full" in out.err


def test_store_says_why_a_damaged_file_was_not_sent(archive_port: int, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    from pydicom.data import get_testdata_file

    cut = tmp_path / "cut.dcm"
    cut.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes()[:-1000])
    code = main(["store", "127.0.0.1", str(archive_port), "-aec", "ARCHIVE", str(cut)])
    assert code == 1
    out = capsys.readouterr()
    # Refused before sending (the peer would answer 0xC201 for the same reason).
    assert "damaged, not sent" in out.err
    assert "(7FE0,0010) is cut short" in out.err
