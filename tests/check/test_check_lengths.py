"""dicomnet.check.lengths: odd value lengths found in the bytes as encoded."""

from __future__ import annotations

import pytest
from pydicom import Dataset

from dicomnet.check.lengths import odd_lengths
from dicomnet.dimse import encode_dataset

IMPLICIT, EXPLICIT = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"


def identifier() -> Dataset:
    ds = Dataset()
    ds.PatientID = "PAT1"  # odd values: pydicom pads them
    ds.StudyID = "1"
    item = Dataset()
    item.CodeValue = "ABC"
    item.CodingSchemeDesignator = "99X"
    ds.ProcedureCodeSequence = [item]
    ds.StudyInstanceUID = "1.2.3"
    return ds


@pytest.mark.parametrize("syntax", [IMPLICIT, EXPLICIT])
def test_a_well_encoded_data_set_has_none(syntax: str) -> None:
    assert odd_lengths(bytes(encode_dataset(identifier(), syntax)), syntax) == []


@pytest.mark.parametrize("syntax", [IMPLICIT, EXPLICIT])
def test_an_unpadded_value_is_found_inside_a_sequence_and_after_it(syntax: str) -> None:
    data = bytearray(encode_dataset(identifier(), syntax))
    # Code Value "ABC " -> "ABC": the length field says 3, the pad byte is gone
    value = data.index(b"ABC ")
    length_at = value - (2 if syntax == EXPLICIT else 4)
    data[length_at] = 3
    del data[value + 3]
    # (the walk steps into the sequence and item by their headers, so their stale
    # lengths do not matter to it)
    assert odd_lengths(bytes(data), syntax) == ["(0008,0100) of 3 bytes"]


def test_other_syntaxes_are_not_walked() -> None:
    assert odd_lengths(b"\x00" * 16, "1.2.840.10008.1.2.2") == []
