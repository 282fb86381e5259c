"""``dicomnet check`` on the command line: the exit status (0 nothing failed, 1 a check
failed, 2 nothing could be checked or the options are wrong), the table, and the JSON
and JUnit files, whose shape is what CI test reporters read."""

from __future__ import annotations

import json
import logging
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio.from_thread
import pytest
from broken_peers import ScriptedSCP

from dicomnet.cli.main import main
from dicomnet.server import Server
from dicomnet.testing import serving_in_a_thread


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() points dicomnet's log at this test's stderr; put it back, or the next
    test's server thread writes to a closed capture."""
    logger = logging.getLogger("dicomnet")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@contextmanager
def scripted_in_a_thread(scp: ScriptedSCP) -> Iterator[int]:
    with anyio.from_thread.start_blocking_portal() as portal:
        future, port = portal.start_task(scp.serve)
        try:
            yield port
        finally:
            future.cancel()


def test_a_failed_check_exits_1_and_is_a_junit_failure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    json_file, junit_file = tmp_path / "check.json", tmp_path / "check.xml"
    with scripted_in_a_thread(ScriptedSCP(echo_id_offset=1)) as port:
        code = main(["check", "-aec", "BROKEN", "127.0.0.1", str(port), "--only",
                     "association", "--only", "verification", "--store",
                     "--json", str(json_file), "--junit", str(junit_file)])
    out = capsys.readouterr().out
    assert code == 1
    assert any(line.startswith("verification.echo") and "FAIL" in line
               for line in out.splitlines()), out
    assert "checks:" in out.splitlines()[-1]

    records = json.loads(json_file.read_text())
    by_id = {r["id"]: r for r in records}
    assert by_id["verification.echo"]["result"] == "FAIL"
    assert by_id["verification.echo"]["reference"].startswith("PS3.7")
    assert all(set(r) >= {"id", "group", "title", "reference", "result", "reason",
                          "evidence"} for r in records)
    assert {r["group"] for r in records} == {"association", "verification"}

    root = ET.parse(junit_file).getroot()
    assert root.tag == "testsuites"
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == ["association", "verification"]
    for suite in suites.values():
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == len(
            [c for c in cases if c.find("failure") is not None])
        assert int(suite.get("skipped", "-1")) == len(
            [c for c in cases if c.find("skipped") is not None])
        assert all(c.get("classname") == suite.get("name") and c.get("name")
                   and float(c.get("time", "x")) >= 0 for c in cases)
    echo = suites["verification"].find("testcase[@name='verification.echo']")
    assert echo is not None
    failure = echo.find("failure")
    assert failure is not None
    assert "Message ID Being Responded To" in failure.get("message", "")
    assert failure.text and "PS3.7" in failure.text


def test_a_conformant_peer_exits_0_and_the_destructive_groups_are_skipped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit_file = tmp_path / "check.xml"
    with serving_in_a_thread(Server("GOOD")) as port:
        code = main(["check", "-aec", "GOOD", "127.0.0.1", str(port),
                     "--junit", str(junit_file)])
    assert code == 0, capsys.readouterr().out
    root = ET.parse(junit_file).getroot()
    skipped = {case.get("name"): element.get("message") or ""
               for case in root.iter("testcase")
               if (element := case.find("skipped")) is not None}
    assert "--store" in skipped["storage.ct"]
    assert "--hostile" in skipped["robustness.unknown-pdu"]
    assert root.find("testsuite[@name='verification']/testcase/failure") is None


def test_nothing_listening_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["check", "-aec", "ANY", "127.0.0.1", str(port)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("E: cannot open an association"), lines


def test_a_rejected_association_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with serving_in_a_thread(Server("RIGHT")) as port:
        code = main(["check", "-aec", "WRONG", "127.0.0.1", str(port)])
    assert code == 2
    assert "A-ASSOCIATE-RJ" in capsys.readouterr().err


def test_an_unknown_group_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "127.0.0.1", "1", "--only", "bogus"]) == 2
    assert "bogus" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--listen", "--move-dest"])
def test_a_listen_address_that_is_no_address_exits_2(
        option: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--move-dest is the older name of --listen: the same option, the same check."""
    assert main(["check", "127.0.0.1", "1", option, "CHECK-DEST=nowhere"]) == 2
    assert "--listen 'CHECK-DEST=nowhere': expected AET=HOST:PORT" \
        in capsys.readouterr().err


def test_the_junit_file_stays_xml_whatever_the_peer_sent() -> None:
    """A peer's words (its implementation version name, say) may hold control
    characters, which XML 1.0 cannot carry: they are escaped, and the file parses."""
    from dicomnet.check import Check, Result, Verdict
    from dicomnet.check.model import Outcome
    from dicomnet.check.report import to_junit

    async def never(_ctx: object) -> Result:  # pragma: no cover - not run
        raise AssertionError

    item = Check("association.accept", "association", "t", "PS3.8 9.3.3", never)
    verdict = Verdict(item, Result(Outcome.FAIL, "version \x00\x1b[31m", ("name \x07",)), 0.1)
    root = ET.fromstring(to_junit([verdict], "peer"))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert "\\x00" in failure.get("message", "")
    assert failure.text is not None and "\\x07" in failure.text


def test_a_dicomnet_server_aborts_a_request_it_cannot_answer(
        capsys: pytest.CaptureFixture[str]) -> None:
    """endurance.oversized-value against dicomnet's own Server: a C-ECHO-RQ whose
    Affected SOP Class UID is over 64 characters cannot be answered (the response echoes
    it): the server aborts the association rather than leave the peer waiting, and
    goes on serving."""
    from dicomnet.cli.main import main
    from dicomnet.server import Server
    from dicomnet.testing import serving_in_a_thread

    with serving_in_a_thread(Server("SCP")) as port:
        code = main(["check", "127.0.0.1", str(port), "-aec", "SCP", "--hostile",
                     "--only", "endurance.oversized-value"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS" in out, out
