"""The few attributes the index needs, picked from the start of an encoded data set.

Parsing a whole header with pydicom costs as much as everything else the archive does
for an instance. The index needs fewer than twenty elements,
all in groups 0008-0020 at the start of the data set, so this walks the encoded
elements (PS3.5 §7.1), skips everything else by its length (nested sequences of
undefined length included, §7.5), stops after group 0020, and hands only the wanted
elements to pydicom, which still does the value decoding (character sets, PN).
"""

from __future__ import annotations

import struct

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from dicomnet.dimse.dataset import SIMPLE_CHARSETS
from dicomnet.part10 import LONG_LENGTH_VRS

__all__ = ["NeedMoreData", "pick_attributes"]

_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_LAST_WANTED_GROUP = 0x0020FFFF
_SPECIFIC_CHARACTER_SET = 0x00080005
# Element headers (PS3.5 §7.1), by little endian or not: group, element, VR and 2-byte
# length in explicit VR; long-length VRs have a 4-byte length after them, and implicit
# VR (or an item tag) has a 4-byte length where the VR would be.
_EXPLICIT = {True: struct.Struct("<HH2sH"), False: struct.Struct(">HH2sH")}
_TAG = {True: struct.Struct("<HH"), False: struct.Struct(">HH")}
_U16 = {True: struct.Struct("<H"), False: struct.Struct(">H")}
_U32 = {True: struct.Struct("<I"), False: struct.Struct(">I")}


class NeedMoreData(Exception):  # noqa: N818 - a signal, not an error
    """The bytes end before the walk could stop; the caller reads the file instead."""


class _Walker:
    def __init__(self, data: bytes | bytearray, little: bool) -> None:
        self.data = bytes(data)
        self.tag = _TAG[little]
        self.u16 = _U16[little]
        self.u32 = _U32[little]

    def header(self, offset: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
        """(tag, VR, value length, value offset) of the element at ``offset``."""
        data = self.data
        if offset + 8 > len(data):
            raise NeedMoreData
        group, element = self.tag.unpack_from(data, offset)
        tag = (group << 16) | element
        if implicit or group == 0xFFFE:  # item tags never carry a VR (§7.5)
            return tag, None, self.u32.unpack_from(data, offset + 4)[0], offset + 8
        vr = data[offset + 4:offset + 6]
        if vr in LONG_LENGTH_VRS:
            if offset + 12 > len(data):
                raise NeedMoreData
            return tag, vr, self.u32.unpack_from(data, offset + 8)[0], offset + 12
        return tag, vr, self.u16.unpack_from(data, offset + 6)[0], offset + 8

    def skip_undefined(self, offset: int, implicit: bool) -> int:
        """Offset after a value of undefined length starting at ``offset``: a sequence
        of items (or encapsulated fragments) ending with a Sequence Delimitation."""
        while True:
            tag, _vr, length, start = self.header(offset, True)
            if tag == _SEQUENCE_END:
                return start
            if tag != _ITEM:
                raise ValueError(f"expected an item in a sequence, found {tag:08X}")
            offset = self.skip_item(start, implicit) if length == _UNDEFINED else start + length

    def skip_item(self, offset: int, implicit: bool) -> int:
        """Offset after an item of undefined length (elements until Item Delimitation)."""
        while True:
            tag, vr, length, start = self.header(offset, implicit)
            if tag == _ITEM_END:
                return start
            offset = self.skip_value(start, vr, length, implicit)

    def skip_value(self, start: int, vr: bytes | None, length: int, implicit: bool) -> int:
        if length != _UNDEFINED:
            return start + length
        # PS3.5 §6.2.2: an undefined-length UN holds implicit VR little endian data.
        return self.skip_undefined(start, implicit or vr == b"UN")


def pick_attributes(data: bytes | bytearray, wanted: dict[int, str], *, implicit: bool,
                    little: bool, complete: bool) -> dict[str, str]:
    """The text of the ``wanted`` top-level elements (tag -> keyword) found before the
    end of group 0020, by keyword ("" when absent). ``complete`` says whether ``data``
    is the whole data set or only its start. Raises :class:`NeedMoreData` when a
    partial ``data`` ends first, ValueError when the encoding is broken."""
    walker = _Walker(data, little)
    data = walker.data
    raw: dict[int, tuple[bytes | None, bytes]] = {}
    offset = 0
    end = len(data)
    stopped = False
    # The top level is walked here, one struct call per element header (a CT header
    # has well over a hundred elements before group 0021); only values of undefined
    # length go through the walker. Same rules as _Walker.header and skip_value,
    # written out here: a call per element is a measurable share of the walk.
    explicit = _EXPLICIT[little].unpack_from
    long = _U32[little].unpack_from
    vr: bytes | None
    while offset < end:
        if offset + 8 > end:
            raise NeedMoreData
        group, element, vr, length = explicit(data, offset)
        tag = (group << 16) | element
        if tag > _LAST_WANTED_GROUP:
            stopped = True
            break
        start = offset + 8
        if implicit or group == 0xFFFE:  # item tags never carry a VR (PS3.5 §7.5)
            vr = None
            length = long(data, offset + 4)[0]
        elif vr in LONG_LENGTH_VRS:
            if offset + 12 > end:
                raise NeedMoreData
            length = long(data, start)[0]
            start += 4
        if tag in wanted or tag == _SPECIFIC_CHARACTER_SET:
            if length == _UNDEFINED or start + length > end:
                raise NeedMoreData
            raw[tag] = (vr, data[start:start + length])
        offset = start + length if length != _UNDEFINED \
            else walker.skip_undefined(start, implicit or vr == b"UN")
    if offset > end or not (stopped or complete):
        raise NeedMoreData
    charset = raw.get(_SPECIFIC_CHARACTER_SET, (None, b""))[1]
    codec = SIMPLE_CHARSETS.get(charset.decode("ascii", "replace").strip(" \x00"))
    if codec is None:
        return _with_pydicom(raw, wanted, implicit, little)
    return {keyword: raw[tag][1].decode(codec, "replace").strip(" \x00") if tag in raw
            else "" for tag, keyword in wanted.items()}


def _with_pydicom(raw: dict[int, tuple[bytes | None, bytes]], wanted: dict[int, str],
                  implicit: bool, little: bool) -> dict[str, str]:
    """Decode through pydicom, which knows every character set and its extensions."""
    elements: dict[BaseTag, DataElement | RawDataElement] = {
        Tag(tag): RawDataElement(Tag(tag), vr.decode("ascii") if vr else None, len(value),
                                 value, 0, implicit, little)
        for tag, (vr, value) in raw.items()}
    ds = Dataset(elements)
    return {keyword: str(ds.get(keyword, "") or "").strip() for keyword in wanted.values()}
