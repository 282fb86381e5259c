"""Odd value lengths in a data set as the peer encoded it (PS3.5 7.1.1: a Value Length
is even; values are padded to make it so, PS3.5 6.2).

pydicom reads an odd-length value without complaint, so a check that looks only at
decoded data sets cannot see this fault; this walks the element headers of the bytes
that came, little endian only (the syntaxes the checks propose), looking into sequences
and items, and never reads values.
"""

from __future__ import annotations

import struct

from pydicom.datadict import dictionary_VR

__all__ = ["odd_lengths"]

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
#: Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF


def _is_sequence(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def odd_lengths(data: bytes, transfer_syntax: str, *, most: int = 5) -> list[str]:
    """Up to ``most`` elements (or items) of ``data`` with an odd defined length, as
    "(gggg,eeee) of N bytes"; [] for another syntax or bytes that end mid-header."""
    if transfer_syntax not in (_IMPLICIT_LE, _EXPLICIT_LE):
        return []
    explicit = transfer_syntax == _EXPLICIT_LE
    found: list[str] = []
    position, end = 0, len(data)
    # A flat walk: a sequence's or item's header is stepped over and its content read
    # as the elements that follow; delimiters are headers without content.
    while position + 8 <= end and len(found) < most:
        group, element = struct.unpack_from("<HH", data, position)
        tag = group << 16 | element
        if tag in (_ITEM, _ITEM_END, _SEQUENCE_END):
            (length,) = struct.unpack_from("<I", data, position + 4)
            position += 8
            if tag == _ITEM and length not in (_UNDEFINED,) and length % 2:
                found.append(f"an item of {length} bytes")
            continue
        vr = data[position + 4:position + 6] if explicit else b""
        if explicit and vr in _LONG_VRS:
            if position + 12 > end:
                break
            (length,) = struct.unpack_from("<I", data, position + 8)
            header = 12
        elif explicit:
            (length,) = struct.unpack_from("<H", data, position + 6)
            header = 8
        else:
            (length,) = struct.unpack_from("<I", data, position + 4)
            header = 8
        position += header
        sequence = vr == b"SQ" if explicit else _is_sequence(tag)
        if length == _UNDEFINED or sequence:
            continue  # its items follow
        if length % 2:
            found.append(f"({group:04X},{element:04X}) of {length} bytes")
        position += length
    return found
