"""The DICOM JSON model (PS3.18 §F.2) of a received data set, straight from its bytes.

:func:`dataset_json` gives, character for character, what pydicom's
``Dataset.to_json()`` gives for the same bytes, without building the Dataset: printing
thousands of C-FIND matches spent most of its time in pydicom. The light reader of
:mod:`dicomnet.dimse.elements` splits the elements; the values are converted here by
pydicom's rules (trailing padding, value splitting, the Specific Character Set of
text VRs, numbers as JSON numbers). Whatever this path does not cover (ISO 2022 code
extensions, UN, values pydicom would warn about or fail on, big endian...) goes to
pydicom itself: the output is never different, only faster where it can be.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any

from dicomnet.dimse.dictionary import entry
from dicomnet.dimse.elements import Element, elements

__all__ = [
    "UnsupportedValueError",
    "charset_codec",
    "dataset_json",
    "dictionary_vr",
    "element_values",
]


class UnsupportedValueError(Exception):
    """A value the fast path leaves to pydicom."""


#: Specific Character Sets (PS3.3 C.12.1.1.2) decoded here, as pydicom decodes them
#: (no value: its default, ISO 8859-1).
_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1",
             "ISO_IR 192": "utf-8"}
#: Text VRs whose value is in the Specific Character Set (PS3.5 §6.1.2.3); the others
#: pydicom decodes as ISO 8859-1.
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_SPLIT_STRIPPED = frozenset({"AS", "CS", "DA", "DT", "TM"})  # padding off the whole
_SPLIT_EACH = frozenset({"LO", "SH", "UC"})  # padding off each value
_SINGLE = frozenset({"LT", "ST", "UT"})  # one value, backslashes and all
_BINARY = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d",
            "SV": "q", "UV": "Q"}
_IS = re.compile(r" *[+-]?[0-9]+ *")
_DS = re.compile(r" *[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *")
_CHARSET_TAG = 0x00080005

_vr_cache: dict[int, str | None] = {}
#: VRs the dictionary may name for an implicit VR element that this path reads.
_KNOWN_VRS = frozenset({*_SPLIT_STRIPPED, "UI", *_SPLIT_EACH, *_SINGLE, *_BINARY, *_NUMBERS,
                        "AE", "AT", "DS", "IS", "PN", "SQ", "UR"})


def dictionary_vr(tag: int) -> str | None:
    """The VR of a public element from pydicom's dictionary (PS3.6), None when private,
    unknown or ambiguous ("US or SS"): an implicit VR element pydicom must read."""
    try:
        return _vr_cache[tag]
    except KeyError:
        pass
    vr: str | None = None
    if not (tag >> 16) & 1 and tag & 0xFFFF:  # pydicom has rules of its own for both
        found = entry(tag)
        if found is not None and found[0] in _KNOWN_VRS:
            vr = found[0]
    _vr_cache[tag] = vr
    return vr


def charset_codec(found: list[Element]) -> str:
    """The Python codec of a data set's Specific Character Set; raises
    :class:`UnsupportedValueError` for the ones left to pydicom."""
    for element in found:
        if element.tag == _CHARSET_TAG:
            value = element.value
            if not isinstance(value, bytes):
                raise UnsupportedValueError
            codec = _CHARSETS.get(value.decode("latin-1").rstrip(" \x00"))
            if codec is None:
                raise UnsupportedValueError
            return codec
    return "latin-1"


def element_values(element: Element, codec: str) -> list[Any] | None:
    """The element's values as pydicom's JSON model has them (strings, numbers, PN
    groups), None when it has none (JSON without "Value"). Not for SQ."""
    vr = element.vr
    raw = element.value
    assert isinstance(raw, bytes)
    if not raw:
        return None
    try:
        if vr in _SPLIT_STRIPPED:
            text = raw.decode("latin-1").rstrip(" \x00")
            return _many(text.split("\\"))
        if vr in _SPLIT_EACH:
            return _many([value.rstrip("\x00 ")
                          for value in raw.decode(codec).split("\\")])
        if vr in _SINGLE:
            text = raw.decode(codec).rstrip("\x00 ")
            return [text] if text else None
        if vr == "PN":
            return _person_names(raw.rstrip(b"\x00 ").decode(codec))
        if vr == "UI":  # pydicom's UID strips every value of white space
            text = raw.decode("latin-1").rstrip(" \x00")
            return _many([value.strip() for value in text.split("\\")])
        if vr == "AE":
            return _many([value.strip() for value in raw.decode("latin-1").split("\\")])
        if vr == "UR":
            text = raw.decode("latin-1").rstrip()
            return [text] if text else None
        if vr in ("IS", "DS"):
            return _decimal_strings(raw.decode("latin-1").rstrip(" \x00"), vr)
    except UnicodeDecodeError:
        raise UnsupportedValueError from None
    code = _NUMBERS.get(vr)
    if code is not None:
        size = struct.calcsize("<" + code)
        if len(raw) % size:
            raise UnsupportedValueError
        return list(struct.unpack(f"<{len(raw) // size}{code}", raw))
    if vr == "AT":
        if len(raw) % 4:
            raise UnsupportedValueError
        words = struct.unpack(f"<{len(raw) // 2}H", raw)
        return [f"{words[i]:04X}{words[i + 1]:04X}" for i in range(0, len(words), 2)]
    raise UnsupportedValueError  # UN and anything else


def _many(values: list[str]) -> list[str] | None:
    """pydicom's value multiplicity: one empty value is no value."""
    if len(values) == 1 and not values[0]:
        return None
    return values


def _decimal_strings(text: str, vr: str) -> list[Any] | None:
    values = text.split("\\")
    if len(values) == 1 and not values[0]:
        return None
    pattern, number = (_IS, int) if vr == "IS" else (_DS, float)
    out: list[Any] = []
    for value in values:
        if pattern.fullmatch(value) is None:
            raise UnsupportedValueError  # empty among several, or a value pydicom warns about
        out.append(number(value))
    return out


def _person_names(text: str) -> list[dict[str, str]] | None:
    """PN values as component groups (PS3.18 §F.2.2): Alphabetic, Ideographic,
    Phonetic; trailing empty groups dropped, as pydicom does."""
    if not text:
        return None
    out = []
    for value in text.split("\\"):
        groups = value.split("=")
        while groups and not groups[-1]:
            groups.pop()
        if not groups or len(groups) > 3:
            raise UnsupportedValueError
        name = {"Alphabetic": groups[0]}
        if len(groups) > 1:
            name["Ideographic"] = groups[1]
        if len(groups) > 2:
            name["Phonetic"] = groups[2]
        out.append(name)
    return out


def _model(found: list[Element], codec: str) -> dict[str, Any]:
    model: dict[str, Any] = {}
    for element in found:
        entry: dict[str, Any] = {"vr": element.vr}
        value = element.value
        if element.vr == "SQ":
            assert isinstance(value, list)
            items = []
            for item in value:
                if any(inner.tag == _CHARSET_TAG for inner in item):
                    raise UnsupportedValueError  # an item with a character set of its own
                items.append(_model(item, codec))
            entry["Value"] = items
        elif element.vr in _BINARY:
            assert isinstance(value, bytes)
            if value:
                entry["InlineBinary"] = base64.b64encode(value).decode("ascii")
        else:
            values = element_values(element, codec)
            if values is not None:
                entry["Value"] = values
        model[f"{element.tag:08X}"] = entry
    return model


def dataset_json(data: bytes, transfer_syntax: str) -> str:
    """The data set's DICOM JSON, one line, as pydicom's ``to_json()`` writes it."""
    found = elements(data, transfer_syntax, dictionary_vr)
    if found is not None:
        try:
            return json.dumps(_model(found, charset_codec(found)), sort_keys=True)
        except UnsupportedValueError:
            pass
    from dicomnet.dimse.dataset import decode_dataset

    return decode_dataset(data, transfer_syntax).to_json()
