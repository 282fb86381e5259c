"""Every example runs, as a program, against a real peer."""

from __future__ import annotations

import sys
from pathlib import Path

import pydicom
import pytest
from peers import dicomnet_command, free_port, run, start_process
from pydicom.data import get_testdata_file

from dicomnet.part10 import dataset_bytes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_echo_client_against_dicomnet_serve(tmp_path: Path) -> None:
    port = free_port()
    server = start_process(dicomnet_command("serve", "--port", str(port), "--any-aet",
                                            "--data", str(tmp_path)), port)
    try:
        done = run([sys.executable, str(EXAMPLES / "echo_client.py"), "127.0.0.1",
                    str(port), "DICOMNET"])
    finally:
        server.stop()
    assert done.returncode == 0, done.output
    assert "C-ECHO status 0x0000" in done.output


@pytest.mark.interop
def test_forwarding_scp_forwards_to_storescp(tmp_path: Path) -> None:
    destination_port, port = free_port(), free_port()
    received = tmp_path / "storescp"
    received.mkdir()
    storescp = start_process(["storescp", "+B", "-od", str(received),
                              str(destination_port)], destination_port)
    forwarder = start_process([sys.executable, str(EXAMPLES / "forwarding_scp.py"),
                               str(port), "127.0.0.1", str(destination_port), "STORESCP"],
                              port)
    try:
        source = get_testdata_file("CT_small.dcm")
        done = run(dicomnet_command("store", "127.0.0.1", str(port), source))
        assert done.returncode == 0, done.output
    finally:
        forwarder.stop()
        storescp.stop()
    files = list(received.iterdir())
    assert len(files) == 1
    # Decoded and re-encoded by pydicom on the way: the elements survive.
    assert pydicom.dcmread(files[0]) == pydicom.dcmread(source)
    assert dataset_bytes(files[0])[0].sop_instance_uid == \
        pydicom.dcmread(source).SOPInstanceUID
