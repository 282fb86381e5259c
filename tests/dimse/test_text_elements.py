"""The row encoder of C-FIND identifiers writes the bytes pydicom writes for the same
elements (PS3.5 §7.1, §6.2 padding), implicit and explicit VR little endian."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dicomnet.dimse.text_elements import encode_text_elements, fast_syntax

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: (tag, VR) of text elements a C-FIND identifier holds, one of each VR.
_ELEMENTS = [(0x00080020, "DA"), (0x00080030, "TM"), (0x00080050, "SH"),
             (0x00080052, "CS"), (0x00080018, "UI"), (0x00100010, "PN"),
             (0x00100020, "LO"), (0x00101010, "AS"), (0x00101020, "DS"),
             (0x00200013, "IS"), (0x00081030, "LO"), (0x00324000, "LT"),
             (0x00081190, "UR"), (0x00400275, "SQ"), (0x0040A160, "UT"),
             (0x00189367, "UC"), (0x00080054, "AE"), (0x00080081, "ST"),
             (0x0008002A, "DT")]
_VALUES = {"UI": st.sampled_from(["", "1", "1.2", "1.2.840.10008.1.2.1"]),
           "IS": st.sampled_from(["", "1", "12", "-3"]),
           "DS": st.sampled_from(["", "1.5", "12", "-3.25"])}


@st.composite
def _elements(draw: st.DrawFn) -> list[tuple[int, str, str]]:
    chosen = draw(st.lists(st.sampled_from([e for e in _ELEMENTS if e[1] != "SQ"]),
                           unique=True, max_size=8))
    return [(tag, vr, draw(_VALUES.get(vr, st.text("AbZ09 ^.é-", max_size=9))))
            for tag, vr in chosen]


def _pydicom(elements: list[tuple[int, str, str]], implicit: bool, charset: bool) -> bytes:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = "ISO_IR 192"
    for tag, vr, text in elements:
        ds.add(DataElement(tag, vr, text))
    buffer = DicomBytesIO()
    buffer.is_implicit_VR = implicit
    buffer.is_little_endian = True
    write_dataset(buffer, ds)
    return buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(_elements(), st.booleans())
def test_the_bytes_are_pydicoms(elements: list[tuple[int, str, str]], implicit: bool) -> None:
    ascii_only = all(text.isascii() for _t, _v, text in elements)
    ours = list(elements)
    if not ascii_only:
        ours.append((0x00080005, "CS", "ISO_IR 192"))
    encoded = encode_text_elements(ours, implicit=implicit,
                                   codec="ascii" if ascii_only else "utf-8")
    if any(not text.isascii() and vr not in ("SH", "LO", "ST", "LT", "UC", "UT", "PN")
           for _t, vr, text in elements):
        assert encoded is None  # out of the VR's repertoire: left to pydicom
    else:
        assert encoded == _pydicom(elements, implicit, not ascii_only)


def test_what_it_does_not_write() -> None:
    assert encode_text_elements([(0x00400275, "SQ", "")], implicit=False,
                                codec="ascii") is None
    assert encode_text_elements([(0x00080018, "UI", "1.é")], implicit=False,
                                codec="utf-8") is None
    assert encode_text_elements([(0x00100010, "PN", "x" * 70_000)], implicit=False,
                                codec="ascii") is None
    assert fast_syntax("1.2.840.10008.1.2.2") is None  # big endian: pydicom's
    assert fast_syntax("1.2.840.10008.1.2.1.99") is None  # deflated: pydicom's
