"""How ``dicomnet find`` prints a match: DICOM JSON, or one line per element.

Both are written from the identifier's bytes (:mod:`dicomnet.dimse.dicom_json`), not
from a pydicom Dataset: with thousands of matches, building and printing Datasets was
most of the client's time. The text form looks like pydicom's listing of a data set
(without the file meta block, which a network identifier does not have); what the fast
path does not read is listed by pydicom itself.
"""

from __future__ import annotations

from dicomnet.dimse.dicom_json import (
    UnsupportedValueError,
    charset_codec,
    dataset_json,
    dictionary_vr,
    element_values,
)
from dicomnet.dimse.dictionary import entry
from dicomnet.dimse.elements import Element, elements

__all__ = ["dataset_json", "dataset_text"]

_INDENT = "   "
_names: dict[int, str] = {}


def _name(tag: int) -> str:
    name = _names.get(tag)
    if name is None:
        found = entry(tag)
        if found is not None:
            name = found[2]
        else:
            name = "Private tag data" if (tag >> 16) & 1 else "Unknown tag"
        _names[tag] = name
    return name


def _shown(element: Element, codec: str) -> str:
    vr = element.vr
    if vr in ("IS", "DS"):
        assert isinstance(element.value, bytes)
        texts = element.value.decode("latin-1").rstrip(" \x00").split("\\")
        values: list[object] = [text.strip() for text in texts]
    else:
        found = element_values(element, codec)
        if found is None:
            return "''"
        if vr == "PN":
            values = ["=".join(name.values()) for name in found]
        elif vr == "AT":
            values = [f"({text[:4]},{text[4:]})" for text in found]
        else:
            values = found
    if vr == "UI":
        return str(values[0]) if len(values) == 1 else repr(values)
    return repr(values[0]) if len(values) == 1 else repr(values)


def _lines(found: list[Element], codec: str, indent: str, out: list[str]) -> None:
    for element in found:
        tag = f"({element.tag >> 16:04X},{element.tag & 0xFFFF:04X})"
        if element.vr == "SQ":
            assert isinstance(element.value, list)
            out.append(f"{indent}{tag}  {_name(element.tag)}  "
                       f"{len(element.value)} item(s) ---- ")
            for item in element.value:
                _lines(item, codec, indent + _INDENT, out)
                out.append(f"{indent}{_INDENT}---------")
            continue
        if element.vr in ("OB", "OD", "OF", "OL", "OV", "OW", "UN"):
            raise UnsupportedValueError
        out.append(f"{indent}{tag} {_name(element.tag)[:35]:<35} {element.vr}: "
                   f"{_shown(element, codec)}")


def dataset_text(data: bytes, transfer_syntax: str) -> str:
    """The identifier as lines ``(gggg,eeee) Name  VR: value``, sequences indented."""
    found = elements(data, transfer_syntax, dictionary_vr)
    if found is not None:
        out: list[str] = []
        try:
            _lines(found, charset_codec(found), "", out)
        except UnsupportedValueError:
            pass
        else:
            return "\n".join(out)
    from dicomnet.dimse.dataset import decode_dataset

    ds = decode_dataset(data, transfer_syntax)
    del ds.file_meta  # nothing the peer sent: no block for it
    return str(ds)
