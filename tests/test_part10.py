"""Part 10 headers: where the data set starts, and the file meta we write (PS3.10 §7.1)."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomnet.part10 import Part10Error, dataset_bytes, file_meta_bytes, read_header

FILES = ["CT_small.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm", "JPEG2000.dcm",
         "SC_rgb_rle.dcm", "SC_rgb_rle_2frame.dcm", "rtdose.dcm"]


@pytest.mark.parametrize("name", FILES)
def test_header_agrees_with_pydicom(name: str) -> None:
    path = get_testdata_file(name)
    header, data = dataset_bytes(path)
    ds = pydicom.dcmread(path)
    assert header.sop_class_uid == ds.file_meta.MediaStorageSOPClassUID
    assert header.sop_instance_uid == ds.file_meta.MediaStorageSOPInstanceUID
    assert header.transfer_syntax == ds.file_meta.TransferSyntaxUID
    assert len(data) == header.dataset_length
    # What follows the header is the data set: rebuilt with our meta, pydicom reads it.
    rebuilt = file_meta_bytes(sop_class_uid=header.sop_class_uid,
                              sop_instance_uid=header.sop_instance_uid,
                              transfer_syntax=header.transfer_syntax,
                              source_ae_title="ME") + data
    again = pydicom.dcmread(io.BytesIO(rebuilt))
    assert again.SOPInstanceUID == ds.SOPInstanceUID
    assert again.file_meta.SourceApplicationEntityTitle == "ME"
    assert again.file_meta.ImplementationClassUID.startswith("2.25.")


def test_a_file_without_meta_is_refused() -> None:
    with open(get_testdata_file("no_meta.dcm"), "rb") as fp, pytest.raises(Part10Error):
        read_header(fp)


@pytest.mark.parametrize("junk", [
    b"", b"x" * 200, b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff"])
def test_junk_is_refused(junk: bytes) -> None:
    with pytest.raises(Part10Error):
        read_header(io.BytesIO(junk))
