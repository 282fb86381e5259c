"""Two ``dicomnet serve`` nodes, one PostgreSQL index, one data folder: what one node
stores, the other finds, retrieves (C-GET) and moves (C-MOVE); both storing the same
instances at once leave one row and one file each; a database lost during a C-STORE
is a failure status with an Error Comment, and the node keeps serving.

The peers are DCMTK's tools and ``dicomnet store``; the PostgreSQL server is the
suite's own (conformance/postgres.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pydicom
import pytest
from corpus import build_corpus
from postgres import PostgresServer

from dicomnet.part10 import dataset_bytes
from dicomnet.testing import (
    PEER_ENV,
    Process,
    data_sets_by_instance,
    dcmtk_binary,
    dicomnet_command,
    free_port,
    run,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    corpus = build_corpus(tmp_path_factory.mktemp("two-nodes-corpus"), copies=2)
    return corpus["explicit-le"][:6]



def _store(port: int, files: list[Path]) -> None:
    done = run(dicomnet_command("store", "-aec", "DICOMNET", "127.0.0.1", str(port),
                                *map(str, files)), timeout=120)
    assert done.returncode == 0, done.output


def _rows(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as db:
        return [(str(uid), str(path)) for uid, path in db.execute(
            "SELECT sop_instance_uid, path FROM instance ORDER BY 1")]


def _files(data: Path) -> list[str]:
    return sorted(str(p.relative_to(data)) for p in data.rglob("*.dcm")
                  if ".incoming" not in p.parts)


def test_stored_through_one_node_found_got_and_moved_through_the_other(
        studies: list[Path], postgres_url: str, dicomnet_serve: Callable[..., Process],
        storescp: Callable[..., Process], tmp_path: Path) -> None:
    data = tmp_path / "shared"
    node_a = dicomnet_serve("--data", str(data), "--index", postgres_url)
    destination = storescp("+B")
    node_b = dicomnet_serve("--data", str(data), "--index", postgres_url, "--peer",
                            f"STORESCP=127.0.0.1:{destination.port}")
    _store(node_a.port, studies)
    target = pydicom.dcmread(studies[0])
    found = run([dcmtk_binary("findscu"), "-v", "-S", "-aec", "DICOMNET",
                 "-k", "QueryRetrieveLevel=STUDY", "-k", f"PatientID={target.PatientID}",
                 "-k", "StudyInstanceUID", "127.0.0.1", str(node_b.port)])
    assert found.returncode == 0, found.output
    assert target.StudyInstanceUID in found.output, found.output
    out = tmp_path / "got"
    out.mkdir()
    got = run([dcmtk_binary("getscu"), "-v", "-S", "+B", "-aec", "DICOMNET", "-od", str(out),
               "-k", "QueryRetrieveLevel=STUDY",
               "-k", f"StudyInstanceUID={target.StudyInstanceUID}",
               "127.0.0.1", str(node_b.port)])
    assert got.returncode == 0, got.output
    assert data_sets_by_instance(out, "*") == \
        {target.SOPInstanceUID: dataset_bytes(studies[0])[1]}
    moved = pydicom.dcmread(studies[1])
    done = run([dcmtk_binary("movescu"), "-v", "-S", "-aec", "DICOMNET", "-aem", "STORESCP",
                "-k", "QueryRetrieveLevel=STUDY",
                "-k", f"StudyInstanceUID={moved.StudyInstanceUID}",
                "127.0.0.1", str(node_b.port)])
    assert done.returncode == 0, done.output
    received = data_sets_by_instance(tmp_path / f"storescp-{destination.port}", "*")
    assert received == {moved.SOPInstanceUID: dataset_bytes(studies[1])[1]}



def test_two_nodes_storing_the_same_instances_at_once_leave_one_row_and_one_file(
        studies: list[Path], postgres_url: str, dicomnet_serve: Callable[..., Process],
        tmp_path: Path) -> None:
    data = tmp_path / "shared"
    nodes = [dicomnet_serve("--data", str(data), "--index", postgres_url) for _ in range(2)]
    rounds = 3
    senders = [subprocess.Popen(
        dicomnet_command("store", "-aec", "DICOMNET", "127.0.0.1", str(node.port),
                         *[str(path) for _ in range(rounds) for path in studies]),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=PEER_ENV)
        for node in nodes for _sender in range(2)]
    for sender in senders:
        output, _ = sender.communicate(timeout=300)
        assert sender.returncode == 0, output
    rows = _rows(postgres_url)
    expected = {pydicom.dcmread(path).SOPInstanceUID: dataset_bytes(path)[1]
                for path in studies}
    assert [uid for uid, _path in rows] == sorted(expected)
    assert _files(data) == sorted(path for _uid, path in rows)
    assert data_sets_by_instance(data) == expected


def test_a_database_lost_during_stores_fails_them_with_a_comment_and_serving_goes_on(
        studies: list[Path], dicomnet_serve: Callable[..., Process],
        tmp_path: Path) -> None:
    with PostgresServer.started() as server:
        url = server.new_database()
        node = dicomnet_serve("--data", str(tmp_path / "data"), "--index", url)
        _store(node.port, studies[:1])
        server.stop()
        lost = run(dicomnet_command("store", "-aec", "DICOMNET", "127.0.0.1", str(node.port),
                                    str(studies[1])), timeout=120)
        assert lost.returncode != 0
        assert "0xA700" in lost.output, lost.output
        assert "index is busy or unavailable" in lost.output, lost.output
        found = run(dicomnet_command("find", "-aec", "DICOMNET", "127.0.0.1", str(node.port),
                                     "-L", "STUDY", "-k", "StudyInstanceUID="))
        assert found.returncode != 0
        assert "0xA700" in found.output and "index is unavailable" in found.output, \
            found.output
        target = pydicom.dcmread(studies[0])
        got = run(dicomnet_command("get", "-aec", "DICOMNET", "127.0.0.1", str(node.port),
                                   "-L", "STUDY", "-k",
                                   f"StudyInstanceUID={target.StudyInstanceUID}",
                                   "-od", str(tmp_path / "got")))
        assert "0xA701" in got.output and "index is unavailable" in got.output, got.output
        echo = run(dicomnet_command("echo", "-aec", "DICOMNET", "127.0.0.1", str(node.port)))
        assert echo.returncode == 0, echo.output
        server.start()  # back: the next store reconnects
        _store(node.port, studies[1:2])
        assert len(_rows(url)) == 2
        log = node.output_so_far()
        # One line for each refusal (store, find, get), no traceback.
        assert log.count("the index is unavailable") == 3, log
        assert "Traceback" not in log, log


@pytest.mark.parametrize("given", ["option", "environment"])
def test_a_database_that_cannot_be_reached_ends_serve_with_one_line(
        tmp_path: Path, given: str) -> None:
    port = free_port()
    url = f"postgresql://someone:s3cret@127.0.0.1:{port}/archive"
    command = dicomnet_command("serve", "--port", str(free_port()), "--data",
                               str(tmp_path / "data"))
    if given == "option":
        done = run([*command, "--index", url], timeout=60)
    else:
        done = run(command, timeout=60, env={**PEER_ENV, "DICOMNET_INDEX": url})
    assert done.returncode == 1
    lines = done.output.strip().splitlines()
    assert len(lines) == 1, done.output
    assert lines[0].startswith("E: cannot open the index:"), done.output
    assert f"127.0.0.1:{port}/archive" in lines[0]
    assert "s3cret" not in done.output
