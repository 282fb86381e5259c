"""The text-only fast path of encode_dataset writes exactly what pydicom writes."""

from __future__ import annotations

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dicomnet.dimse.dataset import _encode_text_only, encode_dataset

KEYWORDS = {
    "PatientName": st.text("ABCDEFGHIJ^ xyz", max_size=20),
    "PatientID": st.text("0123456789ABC-", max_size=16),
    "StudyInstanceUID": st.from_regex(r"1\.2(\.[1-9][0-9]{0,5}){0,6}", fullmatch=True),
    "StudyDate": st.sampled_from(["", "20261125", "19700101"]),
    "StudyTime": st.sampled_from(["", "0930", "101010.123"]),
    "Modality": st.sampled_from(["", "CT", "MR", "SR"]),
    "InstanceNumber": st.sampled_from(["", "1", "12", "12345"]),
    "StudyDescription": st.text("abc def", max_size=30),
    "AccessionNumber": st.text("A1", max_size=8),
    "QueryRetrieveLevel": st.sampled_from(["PATIENT", "STUDY", "SERIES", "IMAGE"]),
}


def _pydicom_bytes(ds: pydicom.Dataset, implicit: bool) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    write_dataset(buffer, ds)
    return buffer.getvalue()


@settings(max_examples=300)
@given(st.fixed_dictionaries({}, optional=KEYWORDS), st.booleans(),
       st.sampled_from([None, "ISO_IR 100", "ISO_IR 192"]))
def test_same_bytes_as_pydicom(values: dict[str, str], implicit: bool,
                               charset: str | None) -> None:
    ds = pydicom.Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    assert _encode_text_only(ds, implicit) == _pydicom_bytes(ds, implicit)


def test_multi_values_and_non_ascii_text() -> None:
    ds = pydicom.Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Иванов^Иван"
    ds.ModalitiesInStudy = ["CT", "MR"]
    for implicit in (True, False):
        assert _encode_text_only(ds, implicit) == _pydicom_bytes(ds, implicit)


# pydicom warns that "X" has no ISO 2022 IR 87 encoding: beside the point here.
@pytest.mark.filterwarnings("ignore:Failed to encode value:UserWarning")
@pytest.mark.parametrize("setup", ["binary", "sequence", "charset"])
def test_anything_else_goes_to_pydicom(setup: str) -> None:
    ds = pydicom.Dataset()
    ds.PatientID = "X"
    if setup == "binary":
        ds.Rows = 2
    elif setup == "sequence":
        ds.ReferencedStudySequence = [pydicom.Dataset()]
    else:
        ds.SpecificCharacterSet = "ISO 2022 IR 87"
    assert _encode_text_only(ds, False) is None
    assert encode_dataset(ds, "1.2.840.10008.1.2.1") == _pydicom_bytes(ds, False)
