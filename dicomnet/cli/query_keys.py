"""``-k`` query keys encoded without pydicom, for ``dicomnet find``.

Importing pydicom (numpy and its pixel handlers with it) was most of the start-up of a
query; a C-FIND identifier made of text keys needs only the dictionary. Keys are parsed
as :func:`dicomnet.cli.query_dataset.build_query` parses them and encoded as pydicom would
encode them (PS3.5 §7.1, padding of §6.2); a key this path does not encode (a
sequence, a number, a non-ASCII value, a tag the dictionary lacks) sends the whole
query through ``build_query`` and pydicom instead.
"""

from __future__ import annotations

import re
import struct
from typing import NamedTuple

from dicomnet.dimse.dictionary import entry, tag_for_keyword

__all__ = ["QueryKeys", "encode_keys", "parse_keys"]

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"
#: Text VRs whose value pydicom writes as given.
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM",
                       "UC", "UI", "UR", "UT"})
#: IS and DS values pydicom also writes as given: plain numbers (PS3.5 Table 6.2-1);
#: anything else it checks, converts or refuses, so it goes there.
_NUMBERS = {"IS": re.compile(r"[+-]?[0-9]{1,11}"),
            "DS": re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")}
_LONG_TEXT_VRS = frozenset({"UC", "UR", "UT"})  # 4-byte length in explicit VR (§7.1.2)
_QUERY_RETRIEVE_LEVEL = 0x00080052
_HEX = frozenset("0123456789abcdefABCDEF")


class QueryKeys(NamedTuple):
    """The identifier's elements: tag -> (VR, value)."""

    elements: dict[int, tuple[str, str]]


def parse_keys(keys: list[str], level: str | None, model: str) -> QueryKeys | None:
    """The ``-k`` keys (and the level) as elements; None when one needs pydicom.

    Raises ValueError for an unknown keyword, with build_query's message."""
    found: dict[int, tuple[str, str]] = {}
    if model != "worklist":
        found[_QUERY_RETRIEVE_LEVEL] = ("CS", level or "STUDY")
    for key in keys:
        name, _sep, value = key.partition("=")
        name = name.strip()
        if "." in name or "[" in name:
            return None  # a path through sequences: pydicom's Dataset holds those
        if "," in name or (len(name) == 8 and set(name) <= _HEX):
            digits = name.replace(",", "").replace("(", "").replace(")", "")
            if len(digits) != 8 or not set(digits) <= _HEX:
                return None  # pydicom's parser says what is wrong
            tag = int(digits, 16)
        else:
            number = tag_for_keyword(name)
            if number is None:
                raise ValueError(f"unknown attribute keyword {name!r} in -k {key!r}")
            tag = number
        known = entry(tag)
        if known is None or not value.isascii():
            return None
        pattern = _NUMBERS.get(known[0])
        if pattern is not None:
            if value and (len(value) > 16 or pattern.fullmatch(value) is None):
                return None
        elif known[0] not in _TEXT_VRS:
            return None
        found[tag] = (known[0], value)
    return QueryKeys(found)


def encode_keys(keys: QueryKeys, transfer_syntax: str) -> bytes | None:
    """The identifier in Explicit or Implicit VR Little Endian; None for other
    syntaxes."""
    if transfer_syntax not in (_EXPLICIT_LE, _IMPLICIT_LE):
        return None
    implicit = transfer_syntax == _IMPLICIT_LE
    parts = []
    for tag in sorted(keys.elements):
        vr, value = keys.elements[tag]
        data = value.encode("ascii")
        if len(data) % 2:
            data += b"\x00" if vr == "UI" else b" "
        group, number = tag >> 16, tag & 0xFFFF
        if implicit:
            parts.append(struct.pack("<HHI", group, number, len(data)))
        elif vr in _LONG_TEXT_VRS:
            parts.append(struct.pack("<HH2sHI", group, number, vr.encode(), 0, len(data)))
        elif len(data) <= 0xFFFF:
            parts.append(struct.pack("<HH2sH", group, number, vr.encode(), len(data)))
        else:
            return None
        parts.append(data)
    return b"".join(parts)
