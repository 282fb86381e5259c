"""dicomnet.dimse.dicom_json against pydicom: the same DICOM JSON for the same bytes.

The data sets are built byte by byte (PS3.5 §7.1) from values full of what the
conversion rules care about (padding, backslashes, '=' and '^' in names, numbers,
non-ASCII text under several character sets), so that the fast path meets every rule
pydicom applies; where pydicom fails, the fast path must fail the same way.
"""

from __future__ import annotations

import struct
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomnet.dimse.dataset import decode_dataset
from dicomnet.dimse.dicom_json import dataset_json
from dicomnet.dimse.elements import MAX_DEPTH, elements
from dicomnet.errors import DIMSEError

EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
LONG = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}

#: (tag, VR) pairs of public elements, one or more per VR the fast path converts.
ELEMENTS = [
    (0x00080018, "UI"), (0x00080020, "DA"), (0x00080030, "TM"), (0x0008002A, "DT"),
    (0x00080050, "SH"), (0x00080052, "CS"), (0x00080054, "AE"), (0x00080060, "CS"),
    (0x00081030, "LO"), (0x00100010, "PN"), (0x00100020, "LO"), (0x00101010, "AS"),
    (0x00101020, "DS"), (0x00200013, "IS"), (0x00280010, "US"), (0x00180088, "DS"),
    (0x00204000, "LT"), (0x00081090, "LO"), (0x00321060, "LO"), (0x00400254, "LO"),
    (0x00080081, "ST"), (0x00409224, "FD"), (0x00189219, "SS"), (0x00181063, "DS"),
    (0x00540081, "US"), (0x0040A30A, "DS"), (0x00082112, "SQ"), (0x00209165, "AT"),
    (0x00281052, "DS"), (0x0018605A, "FL"), (0x00080119, "UC"), (0x00080120, "UR"),
    (0x00287FE0, "UR"), (0x00700021, "UL"), (0x00189344, "SL"), (0x00091010, "LO"),
    (0x00204000, "UT"), (0x00282000, "OB"),
]
ALPHABET = st.sampled_from([" ", "\\", "\x00", "=", "^", "0", "1", "7", ".", "e", "-",
                            "+", "A", "b", "é", "中", "\t", "E"])
CHARSETS = [None, "", "ISO_IR 100", "ISO_IR 192", "ISO_IR 6", "ISO_IR 144", "ISO 2022 IR 6"]


def _header(tag: int, vr: str, length: int, implicit: bool) -> bytes:
    if implicit:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, length)
    if vr in LONG:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode(), 0, length)
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), length)


@st.composite
def values(draw: st.DrawFn, vr: str, codec: str) -> bytes:
    if vr in ("US", "SS", "UL", "SL", "FL", "FD"):
        return draw(st.binary(max_size=12))
    if vr == "OB":
        return draw(st.binary(max_size=6))
    if vr == "AT":
        return draw(st.binary(max_size=9))
    text = draw(st.text(ALPHABET, max_size=12))
    return text.encode(codec, errors="replace")


@st.composite
def datasets(draw: st.DrawFn, implicit: bool, depth: int = 0) -> bytes:
    charset = draw(st.sampled_from(CHARSETS)) if depth == 0 else None
    codec = "utf-8" if charset == "ISO_IR 192" else "latin-1"
    chosen = draw(st.lists(st.sampled_from(ELEMENTS), max_size=6, unique_by=lambda e: e[0]))
    parts = []
    if charset is not None:
        value = charset.encode() + (b" " if len(charset) % 2 else b"")
        parts.append((0x00080005, _header(0x00080005, "CS", len(value), implicit) + value))
    for tag, vr in chosen:
        if vr == "SQ":
            if depth > 1:
                continue
            items = draw(st.lists(datasets(implicit, depth + 1), max_size=2))
            undefined = draw(st.booleans())
            body = b""
            for item in items:
                if undefined:
                    body += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + item \
                        + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
                else:
                    body += struct.pack("<HHI", 0xFFFE, 0xE000, len(item)) + item
            if undefined:
                body += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
                parts.append((tag, _header(tag, vr, 0xFFFFFFFF, implicit) + body))
            else:
                parts.append((tag, _header(tag, vr, len(body), implicit) + body))
            continue
        value = draw(values(vr, codec))
        if draw(st.booleans()) and len(value) % 2:
            value += b"\x00" if vr == "UI" else b" "
        parts.append((tag, _header(tag, vr, len(value), implicit) + value))
    parts.sort(key=lambda part: part[0])
    return b"".join(data for _tag, data in parts)


def _pydicom_json(data: bytes, syntax: str) -> str | type[Exception]:
    try:
        return decode_dataset(data, syntax).to_json()
    except Exception as exc:
        return type(exc)


def _ours(data: bytes, syntax: str) -> str | type[Exception]:
    try:
        return dataset_json(data, syntax)
    except Exception as exc:
        return type(exc)


@pytest.mark.parametrize("syntax", [EXPLICIT, IMPLICIT])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_is_pydicoms(syntax: str, data: st.DataObject) -> None:
    encoded = data.draw(datasets(syntax == IMPLICIT))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _ours(encoded, syntax) == _pydicom_json(encoded, syntax)


@pytest.mark.parametrize("value, expected", [
    (b"Doe^John", '[{"Alphabetic": "Doe^John"}]'),
    (b"Yamada^Tarou=\xe5\xb1\xb1\xe7\x94\xb0=", None),
    (b"A\\B ", '[{"Alphabetic": "A"}, {"Alphabetic": "B"}]'),
    (b"", None),
])
def test_person_names(value: bytes, expected: str | None) -> None:
    charset = b"ISO_IR 192"
    data = _header(0x00080005, "CS", len(charset), False) + charset \
        + _header(0x00100010, "PN", len(value), False) + value
    ours = dataset_json(data, EXPLICIT)
    assert ours == decode_dataset(data, EXPLICIT).to_json()
    if expected is not None:
        assert expected in ours


def test_numbers_are_json_numbers() -> None:
    data = (_header(0x00200013, "IS", 4, False) + b"12\\3"
            + _header(0x00280010, "US", 2, False) + struct.pack("<H", 512)
            + _header(0x00101020, "DS", 4, False) + b"1.50")
    assert dataset_json(data, EXPLICIT) == (
        '{"00101020": {"Value": [1.5], "vr": "DS"}, "00200013": {"Value": [12, 3], '
        '"vr": "IS"}, "00280010": {"Value": [512], "vr": "US"}}')


@pytest.mark.parametrize("data", [
    b"\x08\x00\x20\x00DA\x0a\x0020240101",  # value cut short
    b"\x08\x00\x20\x00",  # a partial header
    b"\x08\x00\x20\x00XX\x02\x00ab",  # not a VR
])
def test_damage_is_reported_as_pydicom_reports_it(data: bytes) -> None:
    assert elements(data, EXPLICIT) is None
    with pytest.raises(DIMSEError):
        dataset_json(data, EXPLICIT)


def test_big_endian_goes_to_pydicom() -> None:
    data = b"\x00\x08\x00\x52CS\x00\x06STUDY "
    assert elements(data, "1.2.840.10008.1.2.2") is None
    assert dataset_json(data, "1.2.840.10008.1.2.2") == \
        '{"00080052": {"Value": ["STUDY"], "vr": "CS"}}'


def _nested(depth: int) -> bytes:
    """``depth`` sequences, each the only element of the one item of the one above."""
    inner = _header(0x00100020, "LO", 2, False) + b"P1"
    for _level in range(depth):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
        inner = _header(0x00082112, "SQ", len(item), False) + item
    return inner


def test_deep_nesting_is_left_to_pydicom() -> None:
    shallow = _nested(MAX_DEPTH)
    assert elements(shallow, EXPLICIT) is not None
    assert dataset_json(shallow, EXPLICIT) == _pydicom_json(shallow, EXPLICIT)
    # A peer nesting sequences thousands deep: no RecursionError from the fast path,
    # pydicom's answer (here: the damage it reports) instead.
    deep = _nested(5000)
    assert elements(deep, EXPLICIT) is None
    assert _ours(deep, EXPLICIT) == _pydicom_json(deep, EXPLICIT)
