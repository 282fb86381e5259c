"""A light reader of little endian data sets: tags, VRs and raw values, no pydicom.

A C-FIND answer is thousands of small identifiers; building a pydicom Dataset for each,
to print it, costs more than everything else the client does for it. :func:`elements`
splits a data set into its elements (PS3.5 §7.1) with sequences split into items
(§7.5), and leaves the values as bytes: the caller converts what it shows.

It reads Explicit and Implicit VR Little Endian only, and answers None for anything it
does not handle (big endian, deflate, an implicit VR element the dictionary does not
name unambiguously, undefined length outside a sequence, a malformed structure): the
caller then goes through pydicom, which decodes, or reports the damage, as before.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import NamedTuple, Union

from dicomnet.part10 import LONG_LENGTH_VRS, SHORT_LENGTH_VRS

__all__ = ["MAX_DEPTH", "Element", "Items", "elements"]

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"
#: Every VR of PS3.5 §6.2, as bytes: an explicit VR outside it is damage.
_VRS = LONG_LENGTH_VRS | SHORT_LENGTH_VRS
_UNDEFINED = 0xFFFFFFFF
#: Sequences nested deeper than this are left to pydicom: a peer nesting them thousands
#: deep must not exhaust the interpreter's stack in this reader.
MAX_DEPTH = 32
# PS3.5 §7.5: Item, Item Delimitation and Sequence Delimitation tags.
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_TAG = struct.Struct("<HH")
_SHORT = struct.Struct("<HH2sH")
_LONG = struct.Struct("<I")
_IMPLICIT = struct.Struct("<HHI")

#: The items of a sequence, each a list of elements.
Items = list[list["Element"]]


class Element(NamedTuple):
    """One element: its tag, VR and value (bytes as received; for SQ, its items)."""

    tag: int
    vr: str
    value: Union[bytes, Items]  # noqa: UP007 - NamedTuple fields evaluate at runtime


class _UnsupportedError(Exception):
    """Something the light reader leaves to pydicom."""


def elements(data: bytes, transfer_syntax: str,
             vr_of: Callable[[int], str | None] | None = None) -> list[Element] | None:
    """The elements of a data set in ``transfer_syntax``, or None when pydicom must
    read it instead.

    ``vr_of`` gives an implicit VR element's VR from the dictionary (PS3.6), None
    when unknown or ambiguous; without it implicit VR data sets are left to pydicom.
    """
    if transfer_syntax == _EXPLICIT_LE:
        implicit = False
    elif transfer_syntax == _IMPLICIT_LE and vr_of is not None:
        implicit = True
    else:
        return None
    try:
        found, end = _read(data, 0, len(data), implicit, vr_of, in_item=False, depth=0)
    except (_UnsupportedError, struct.error):
        return None
    return found if end == len(data) else None


def _read(data: bytes, position: int, end: int, implicit: bool,
          vr_of: Callable[[int], str | None] | None, *, in_item: bool, depth: int
          ) -> tuple[list[Element], int]:
    """Elements from ``position`` up to ``end`` or, in an item of undefined length, up
    to its Item Delimitation Item; returns them and where reading stopped."""
    found: list[Element] = []
    while position < end:
        if end - position < 8:
            raise _UnsupportedError  # a partial header
        group, number = _TAG.unpack_from(data, position)
        tag = group << 16 | number
        if group == 0xFFFE:
            if tag == _ITEM_END and in_item:
                return found, position + 8
            raise _UnsupportedError  # a delimiter where an element should be
        if implicit:
            _g, _n, length = _IMPLICIT.unpack_from(data, position)
            position += 8
            vr = vr_of(tag) if vr_of is not None else None
            if vr is None:
                raise _UnsupportedError
        else:
            _g, _n, raw_vr, length = _SHORT.unpack_from(data, position)
            if raw_vr in LONG_LENGTH_VRS:
                if end - position < 12:
                    raise _UnsupportedError
                (length,) = _LONG.unpack_from(data, position + 8)
                position += 12
            elif raw_vr in _VRS:
                position += 8
            else:
                raise _UnsupportedError  # not a VR of PS3.5 §6.2
            vr = raw_vr.decode("ascii")
        if vr == "SQ":
            if depth >= MAX_DEPTH:
                raise _UnsupportedError
            items, position = _sequence(data, position, length, end, implicit, vr_of,
                                        depth + 1)
            found.append(Element(tag, vr, items))
            continue
        if length == _UNDEFINED or position + length > end:
            raise _UnsupportedError  # encapsulated pixel data, UN sequences, truncation
        found.append(Element(tag, vr, data[position:position + length]))
        position += length
    if in_item:
        raise _UnsupportedError  # an undefined length item that never ends
    return found, position


def _sequence(data: bytes, position: int, length: int, end: int, implicit: bool,  # noqa: PLR0917
              vr_of: Callable[[int], str | None] | None, depth: int) -> tuple[Items, int]:
    """The items of a sequence whose value starts at ``position`` (PS3.5 §7.5.1)."""
    if length != _UNDEFINED:
        stop = position + length
        if stop > end:
            raise _UnsupportedError
    else:
        stop = end
    items: Items = []
    while position < stop:
        if stop - position < 8:
            raise _UnsupportedError
        tag_group, tag_number, item_length = _IMPLICIT.unpack_from(data, position)
        tag = tag_group << 16 | tag_number
        position += 8
        if tag == _SEQUENCE_END and length == _UNDEFINED:
            return items, position
        if tag != _ITEM:
            raise _UnsupportedError
        if item_length == _UNDEFINED:
            item, position = _read(data, position, stop, implicit, vr_of, in_item=True,
                                   depth=depth)
        else:
            if position + item_length > stop:
                raise _UnsupportedError
            item, after = _read(data, position, position + item_length, implicit, vr_of,
                                in_item=False, depth=depth)
            position = after
        items.append(item)
    if length == _UNDEFINED:
        raise _UnsupportedError  # no Sequence Delimitation Item
    return items, position
