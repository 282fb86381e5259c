"""Data sets to and from bytes in a transfer syntax, through pydicom (PS3.5 §10, Annex A).

Data sets cross the network without file meta and without a preamble: exactly the
encoding of the presentation context's transfer syntax. Encapsulated (compressed)
syntaxes use Explicit VR Little Endian for everything but the pixel data fragments,
which pydicom keeps as they are. Deflated Explicit VR Little Endian is the explicit
little endian encoding, deflated without a zlib header (PS3.5 §A.5).
"""

from __future__ import annotations

import io
import struct
import zlib
from array import array
from typing import TYPE_CHECKING

from dicomnet.errors import DIMSEError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# pydicom is imported inside the functions: importing dicomnet (and running commands
# that only stream files, like `dicomnet store`) must not pay for importing pydicom.

__all__ = ["DEFLATED_SYNTAXES", "SIMPLE_CHARSETS", "decode_dataset", "encode_dataset",
           "encoding_of"]

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
#: Syntaxes whose data set is deflated (PS3.5 §A.5; and JPIP HTJ2K Referenced Deflate).
DEFLATED_SYNTAXES = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.202"})


def encoding_of(transfer_syntax: str) -> tuple[bool, bool]:
    """(implicit VR, little endian) of a transfer syntax."""
    return transfer_syntax == _IMPLICIT_LE, transfer_syntax != _EXPLICIT_BE


def encode_dataset(ds: Dataset, transfer_syntax: str) -> bytes:
    """Encode ``ds`` (without file meta) in ``transfer_syntax``.

    Raises :class:`DIMSEError` if pydicom cannot write it in that encoding.
    """
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    implicit, little = encoding_of(transfer_syntax)
    data = _encode_text_only(ds, implicit) if little else None
    if data is None:
        if _is_little_endian(ds) != little:
            ds = _swap_words(ds)
        buffer = DicomBytesIO()
        buffer.is_implicit_VR = implicit
        buffer.is_little_endian = little
        try:
            write_dataset(buffer, ds)
        except Exception as exc:  # pydicom raises many kinds; one typed error for callers
            raise DIMSEError(f"cannot encode the data set in {transfer_syntax}: {exc}") \
                from exc
        data = buffer.getvalue()
    if transfer_syntax in DEFLATED_SYNTAXES:
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = compressor.compress(data) + compressor.flush()
        if len(data) % 2:
            # PS3.5 §A.5: a deflated stream of odd length is padded with one trailing
            # NULL byte (inflating stops at the stream's end and ignores it); peers
            # refuse odd-length data (DCMTK: "Odd Fragment Length").
            data += b"\x00"
    return data


#: Text VRs (PS3.5 §6.2) the fast path encodes; UC, UR and UT take a 4-byte length in
#: explicit VR (PS3.5 §7.1.2).
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH",
                       "ST", "TM", "UC", "UI", "UR", "UT"})
_LONG_TEXT_VRS = frozenset({"UC", "UR", "UT"})
#: Specific Character Sets (PS3.3 C.12.1.1.2) a plain Python codec handles; anything
#: else (ISO 2022 code extensions...) is left to pydicom.
SIMPLE_CHARSETS = {"": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin-1",
                    "ISO_IR 192": "utf-8"}
_IMPLICIT_HEADER = struct.Struct("<HHI")
_SHORT_HEADER = struct.Struct("<HH2sH")
_LONG_HEADER = struct.Struct("<HH2sHI")


def _encode_text_only(ds: Dataset, implicit: bool) -> bytes | None:
    """Little endian encoding of a data set made only of text elements (a C-FIND
    identifier, typically), without pydicom's writer; None if it holds anything else.

    Query/retrieve sends thousands of such identifiers, and pydicom's general writer
    costs several times the rest of the work for each (PS3.5 §7.1 element encoding,
    §6.2 padding: UI with NUL, other text with space).
    """
    from pydicom.dataelem import RawDataElement

    charset_element = ds.get(0x00080005)
    charset = charset_element.value if charset_element is not None else ""
    if not isinstance(charset, str):
        return None
    codec = SIMPLE_CHARSETS.get(charset.strip())
    if codec is None:
        return None
    parts: list[bytes] = []
    for tag in sorted(ds.keys()):
        element = ds.get_item(tag)
        if isinstance(element, RawDataElement) or element.VR not in _TEXT_VRS:
            return None
        value = element.value
        if value is None:
            text = ""
        elif isinstance(value, str):
            text = value
        elif type(value).__name__ in ("MultiValue", "list", "tuple"):
            text = "\\".join(str(item) for item in value)
        else:
            text = str(value)
        try:
            data = text.encode("ascii" if element.VR == "UI" else codec)
        except UnicodeEncodeError:
            return None
        if len(data) % 2:
            data += b"\x00" if element.VR == "UI" else b" "
        group, number = tag >> 16, tag & 0xFFFF
        if implicit:
            parts.append(_IMPLICIT_HEADER.pack(group, number, len(data)))
        elif element.VR in _LONG_TEXT_VRS:
            parts.append(_LONG_HEADER.pack(group, number, element.VR.encode(), 0, len(data)))
        elif len(data) <= 0xFFFF:
            parts.append(_SHORT_HEADER.pack(group, number, element.VR.encode(), len(data)))
        else:
            return None
        parts.append(data)
    return b"".join(parts)


def _is_little_endian(ds: Dataset) -> bool:
    """How ``ds`` was encoded when read (new data sets count as little endian)."""
    little = ds.original_encoding[1]
    if little is None:
        meta = getattr(ds, "file_meta", None)
        syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
        return syntax != _EXPLICIT_BE
    return bool(little)


#: VRs pydicom keeps as raw bytes in the byte order they were read in, with the size of
#: their words (PS3.5 §7.3): changing endianness means swapping each word.
_WORD_SIZES = {"OW": "H", "OL": "I", "OF": "f", "OD": "d", "OV": "Q"}


def _swap_words(ds: Dataset) -> Dataset:
    """A copy of ``ds`` with the words of OW/OL/OF/OD/OV values byte-swapped.

    pydicom converts numbers it decodes (US, SS, FL...) when writing in the other byte
    order, but writes these "other" VRs as the bytes it holds; without this a big
    endian image sent as little endian would arrive with every pixel scrambled.
    """
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    out = Dataset()
    for element in ds:
        if element.VR == "SQ" and element.value is not None:
            out.add(DataElement(element.tag, "SQ",
                                Sequence([_swap_words(item) for item in element.value])))
            continue
        code = _WORD_SIZES.get(element.VR)
        if element.tag == 0x7FE00010 and element.VR == "OW":
            # Pixel Data words are pixels: 32 or 64 bit pixels swap as a whole.
            code = {32: "I", 64: "Q"}.get(int(ds.get("BitsAllocated", 16) or 16), "H")
        if code is not None and isinstance(element.value, bytes) \
                and not element.is_undefined_length:
            words = array(code)
            usable = len(element.value) - len(element.value) % words.itemsize
            words.frombytes(element.value[:usable])
            words.byteswap()
            out.add(DataElement(element.tag, element.VR,
                                words.tobytes() + element.value[usable:]))
            continue
        out.add(element)
    return out


def _check_complete(ds: Dataset, size: int) -> None:
    """Raise unless the last element pydicom read ends where the data ends.

    PS3.5 §7.1: the Value Length is the exact length of the value. pydicom takes a value
    cut short by the end of the data as it is, and drops a partial element header or an
    unterminated undefined length value, all silently: a truncated data set would pass
    for a whole one. (A truncated sequence of undefined length makes pydicom raise.)
    """
    from pydicom.dataelem import RawDataElement

    last_start = -1
    last_end: int | None = 0
    for _tag, element in ds.items():  # as read: raw elements stay unconverted
        if isinstance(element, RawDataElement):
            start = element.value_tell
            if element.length != 0xFFFFFFFF:
                end: int | None = start + element.length
            else:  # encapsulated: the value, then the 8-byte Sequence Delimitation Item
                end = start + len(element.value or b"") + 8
        else:  # a sequence of undefined length, parsed already
            start, end = element.file_tell or 0, None
        if start > last_start:
            last_start, last_end = start, end
    if last_end is not None and last_end != size:
        raise ValueError(f"the data set is {size} bytes but its elements end at byte "
                         f"{last_end} (truncated, or trailing bytes)")


def _check_vrs(ds: Dataset) -> None:
    """Every element has a VR of PS3.5 §6.2 (explicit VR data can carry garbage there),
    checked without converting values (that is done on access, and costly)."""
    from pydicom.valuerep import VR

    known = {str(vr) for vr in VR}
    for tag in ds.keys():  # noqa: SIM118 - iterating the Dataset would convert values
        element = ds.get_item(tag, keep_deferred=True)
        vr = getattr(element, "VR", None)
        if vr is not None and str(vr) not in known:
            raise ValueError(f"element {tag} has an unknown VR {vr!r}")
        value = getattr(element, "value", None)
        if vr == "SQ" and isinstance(value, list):
            for item in value:
                if hasattr(item, "keys"):
                    _check_vrs(item)


def decode_dataset(data: bytes | bytearray | memoryview, transfer_syntax: str) -> Dataset:
    """Decode a data set received in ``transfer_syntax``.

    The structure (tags, VRs, lengths, sequences) is parsed here, so malformed data
    raises :class:`DIMSEError` now; element values are converted by pydicom on access.
    """
    from pydicom.dataset import FileMetaDataset
    from pydicom.filereader import read_dataset
    from pydicom.uid import UID

    raw = bytes(data)
    if transfer_syntax in DEFLATED_SYNTAXES:
        try:
            raw = zlib.decompress(raw, -zlib.MAX_WBITS)
        except zlib.error as exc:
            raise DIMSEError(f"cannot inflate the deflated data set: {exc}") from exc
    implicit, little = encoding_of(transfer_syntax)
    try:
        # read_dataset parses the structure (sequences included); values are
        # converted on access, which is where pydicom reports a bad value.
        ds = read_dataset(io.BytesIO(raw), implicit, little)
        _check_complete(ds, len(raw))
        _check_vrs(ds)
    except Exception as exc:
        raise DIMSEError(f"cannot decode the data set ({transfer_syntax}): {exc}") from exc
    # So that pydicom knows how the pixel data is encoded (ds.pixel_array) and how to
    # write the data set back (PS3.10 file meta carries the transfer syntax).
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    return ds
