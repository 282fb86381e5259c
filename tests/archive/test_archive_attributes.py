"""The index attributes picked from raw bytes agree with pydicom's full parse."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dicomnet.archive.attributes import NeedMoreData, pick_attributes
from dicomnet.archive.store import _INDEX_TAGS, _WANTED, _text
from dicomnet.dimse.dataset import encoding_of
from dicomnet.part10 import dataset_bytes

FILES = ["CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "reportsi.dcm",
         "rtplan.dcm", "JPEG2000.dcm", "liver_1frame.dcm", "SC_rgb_rle_2frame.dcm",
         "nested_priv_SQ.dcm", "UN_sequence.dcm", "rtdose.dcm"]


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("head", [512, 4096, 1 << 16])
def test_agrees_with_pydicom(name: str, head: int) -> None:
    path = get_testdata_file(name)
    header, data = dataset_bytes(path)
    implicit, little = encoding_of(header.transfer_syntax)
    reference = pydicom.dcmread(path)
    try:
        values = pick_attributes(data[:head], _WANTED, implicit=implicit, little=little,
                                 complete=len(data) <= head)
    except NeedMoreData:
        assert head < len(data)  # only a partial head may ask for more
        return
    assert values == {k: _text(reference.get(k)) for k in _INDEX_TAGS}


def test_other_character_sets_go_through_pydicom() -> None:
    ds = pydicom.Dataset()
    ds.SpecificCharacterSet = "ISO_IR 144"
    ds.PatientName = "Иванов^Иван"
    ds.PatientID = "X1"
    ds.StudyInstanceUID = "1.2.3"
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    values = pick_attributes(buffer.getvalue(), _WANTED, implicit=False, little=True,
                             complete=True)
    assert values["PatientName"] == "Иванов^Иван"
    assert values["PatientID"] == "X1"


def test_broken_sequences_are_errors_not_crashes() -> None:
    data = io.BytesIO()
    data.write(b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff")  # undefined-length SQ
    data.write(b"\x08\x00\x16\x00UI\x04\x001.2\x00")  # an element where an item belongs
    data.write(b"\x10\x00\x20\x00LO\x02\x00AB" * 10)
    with pytest.raises((ValueError, NeedMoreData)):
        pick_attributes(data.getvalue(), _WANTED, implicit=False, little=True,
                        complete=True)
