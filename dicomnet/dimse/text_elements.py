"""A data set of text elements, encoded from (tag, VR, text) triples without pydicom.

A C-FIND answer from an index is a few text values per match, thousands of matches:
building a pydicom Dataset for each, only to encode it, costs more than finding the
matches. :func:`encode_text_elements` writes the bytes pydicom would write for the
same elements (PS3.5 §7.1 element encoding, §6.2 padding: UI with NUL, other text with
space; elements in ascending tag order, §7.1), in the two little endian syntaxes a
query's context uses; for anything else it returns None and the caller goes through
pydicom (:func:`~dicomnet.dimse.dataset.encode_dataset`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

__all__ = ["TEXT_VRS", "encode_text_elements", "fast_syntax"]

#: Text VRs (PS3.5 §6.2) encoded here.
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH",
                      "ST", "TM", "UC", "UI", "UR", "UT"})
#: Explicit VR text with a 4-byte length (PS3.5 §7.1.2, Table 7.1-1).
_LONG_TEXT_VRS = frozenset({"UC", "UR", "UT"})
#: VRs whose text is in the Specific Character Set (PS3.5 §6.1.2.3); the others are
#: in the default repertoire, and pydicom writes anything else in them its own way.
_CHARSET_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_HEADER = struct.Struct("<HHI")
_SHORT_HEADER = struct.Struct("<HH2sH")
_LONG_HEADER = struct.Struct("<HH2sHI")
_VR_BYTES = {vr: vr.encode("ascii") for vr in TEXT_VRS}


def fast_syntax(transfer_syntax: str) -> bool | None:
    """Whether :func:`encode_text_elements` writes ``transfer_syntax`` implicit (True)
    or explicit (False) VR; None when it does not write it at all (big endian, which
    is retired, and deflated syntaxes are left to pydicom)."""
    if transfer_syntax == _IMPLICIT_LE:
        return True
    if transfer_syntax == _EXPLICIT_LE:
        return False
    return None


def encode_text_elements(elements: Iterable[tuple[int, str, str]], *, implicit: bool,
                         codec: str) -> bytes | None:
    """The little endian encoding of ``elements`` (tag, VR, text; multiple values
    joined with a backslash), sorted by tag, the text of the VRs that take a character
    set in ``codec``; None when one of them cannot be written here (a VR that is not
    text, a value that does not fit its length field or its character repertoire)."""
    parts: list[bytes] = []
    for tag, vr, text in sorted(elements):
        if vr not in TEXT_VRS:
            return None
        try:
            data = text.encode(codec if vr in _CHARSET_VRS else "ascii")
        except UnicodeEncodeError:
            return None
        if len(data) % 2:
            data += b"\x00" if vr == "UI" else b" "
        group, number = tag >> 16, tag & 0xFFFF
        if implicit:
            if len(data) > 0xFFFFFFFE:
                return None
            parts.append(_IMPLICIT_HEADER.pack(group, number, len(data)))
        elif vr in _LONG_TEXT_VRS:
            if len(data) > 0xFFFFFFFE:
                return None
            parts.append(_LONG_HEADER.pack(group, number, _VR_BYTES[vr], 0, len(data)))
        elif len(data) <= 0xFFFF:
            parts.append(_SHORT_HEADER.pack(group, number, _VR_BYTES[vr], len(data)))
        else:
            return None
        parts.append(data)
    return b"".join(parts)
