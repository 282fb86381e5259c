"""``dicomnet store`` sends what DCMTK's storescp takes, where it used to fail: a
deflated file whose deflated stream has an odd length (storescp refused it, "Odd
Fragment Length", and the batch waited for its timeout), files whose File Meta names
another SOP Instance than their data set (storescp answered 0xA900), and a truncated
file among good ones (refused here, before sending, and the batch goes on)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomnet.part10 import dataset_bytes
from dicomnet.testing import Process, dicomnet_command, run

pytestmark = pytest.mark.interop

DEFLATED = str(get_testdata_file("image_dfl.dcm"))
RT_PLAN = str(get_testdata_file("rtplan.dcm"))
RT_DOSE = str(get_testdata_file("rtdose.dcm"))
CT = str(get_testdata_file("CT_small.dcm"))


def _received(folder: Path) -> dict[str, pydicom.Dataset]:
    return {str(ds.SOPInstanceUID): ds
            for ds in (pydicom.dcmread(path) for path in folder.iterdir() if path.is_file())}


def test_dicomnet_store_sends_an_odd_deflated_file_to_storescp(
        storescp: Callable[..., Process], tmp_path: Path) -> None:
    header, data = dataset_bytes(DEFLATED)
    assert len(data) % 2 == 1
    server = storescp("+xa")
    done = run(dicomnet_command("store", "-aec", "STORESCP", "127.0.0.1", str(server.port),
                                DEFLATED), timeout=60)
    assert done.returncode == 0, done.output
    assert "1 of 1 instances stored" in done.output, done.output
    received = _received(tmp_path / f"storescp-{server.port}")
    copy = received[header.sop_instance_uid]
    assert copy.file_meta.TransferSyntaxUID == header.transfer_syntax
    assert copy.pixel_array.tolist() == pydicom.dcmread(DEFLATED).pixel_array.tolist()


def test_dicomnet_store_names_the_data_sets_instance_to_storescp(
        storescp: Callable[..., Process], tmp_path: Path) -> None:
    server = storescp()
    done = run(dicomnet_command("store", "-aec", "STORESCP", "127.0.0.1", str(server.port),
                                RT_PLAN, RT_DOSE), timeout=60)
    assert done.returncode == 0, done.output
    assert "2 of 2 instances stored" in done.output, done.output
    received = _received(tmp_path / f"storescp-{server.port}")
    for path in (RT_PLAN, RT_DOSE):
        header, _ = dataset_bytes(path)
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        assert uid != header.sop_instance_uid
        assert uid in received
        assert header.sop_instance_uid in done.output and uid in done.output  # the warning


def test_dicomnet_store_refuses_a_truncated_file_and_sends_the_rest_to_storescp(
        storescp: Callable[..., Process], tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(Path(CT).read_bytes()[:-5000])
    server = storescp()
    done = run(dicomnet_command("store", "-aec", "STORESCP", "127.0.0.1", str(server.port),
                                str(truncated), RT_PLAN), timeout=60)
    assert done.returncode == 1, done.output
    assert "1 of 2 instances stored, 1 failed" in done.output, done.output
    assert f"E: {truncated}: damaged, not sent: the value of (7FE0,0010) is cut short" \
        in done.output
    received = _received(tmp_path / f"storescp-{server.port}")
    assert list(received) == [str(pydicom.dcmread(RT_PLAN).SOPInstanceUID)]
