"""Part 10 headers: where the data set starts, and the file meta we write (PS3.10 §7.1)."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from dicomnet.part10 import (
    Part10Error,
    Part10Header,
    dataset_bytes,
    file_meta_bytes,
    read_header,
    read_header_at,
)

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


@settings(max_examples=80, deadline=None)
@given(extra=st.integers(0, 12_000), data=st.binary(max_size=300),
       cut=st.one_of(st.none(), st.integers(0, 13_000)))
def test_every_way_of_reading_a_header_agrees(tmp_path_factory: pytest.TempPathFactory,
                                              extra: int, data: bytes,
                                              cut: int | None) -> None:
    # A File Meta group longer than the first read (a Private Information element of
    # up to 12 kB) makes the descriptor path read again; a file cut anywhere gives
    # the same answer, header or Part10Error, from a descriptor, a path and BytesIO.
    meta = file_meta_bytes(sop_class_uid="1.2.3", sop_instance_uid="4.5.6",
                           transfer_syntax="1.2.840.10008.1.2.1")
    private = struct.pack("<HH2sHI", 0x0002, 0x0102, b"OB", 0, extra) + b"\x01" * extra
    content = (meta + private + b"\x08\x00\x18\x00UI" + data)[:cut]
    path = tmp_path_factory.mktemp("part10") / "file.dcm"
    path.write_bytes(content)

    def outcome(read: Callable[[], Part10Header]) -> Part10Header | str:
        try:
            return read()
        except Part10Error:
            return "refused"

    with path.open("rb") as handle:
        from_descriptor = outcome(lambda: read_header(handle))
    from_path = outcome(lambda: read_header_at(path))
    from_memory = outcome(lambda: read_header(io.BytesIO(content)))
    assert from_descriptor == from_path == from_memory
    if cut is None:
        assert from_path == Part10Header("1.2.3", "4.5.6", "1.2.840.10008.1.2.1",
                                         len(meta + private), len(data) + 6)
