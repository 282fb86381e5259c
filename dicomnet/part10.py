"""DICOM Part 10 files without loading them: where the data set starts, what it is,
and the file meta header we write in front of a received one (PS3.10 §7.1).

Sending a file streams it from disk: we read only the 128-byte preamble, the "DICM"
prefix and the File Meta Information group (always Explicit VR Little Endian, PS3.10
§7.1), note the offset where the data set begins, and let the sender copy the rest in
fragments. Receiving does the reverse: the header is built from the C-STORE command
(SOP Class/Instance UID, transfer syntax, sender's AE title) before the first data set
byte arrives, so the data set can be appended to the file as it comes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import IO

from dicomnet.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from dicomnet.records import record

__all__ = [
    "Part10Error",
    "Part10Header",
    "dataset_bytes",
    "descriptor_of",
    "file_meta_bytes",
    "read_header",
    "read_header_at",
]

_PREAMBLE = 128
_PREFIX = b"DICM"
#: VRs whose Explicit VR header has 2 reserved bytes and a 4-byte length (PS3.5 §7.1.2).
LONG_LENGTH_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC",
                       b"UN", b"UR", b"UT", b"UV"})
#: The other VRs of PS3.5 §6.2: a 2-byte length in Explicit VR (PS3.5 §7.1.2).
SHORT_LENGTH_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD",
                              b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM",
                              b"UI", b"UL", b"US"})
#: A File Meta group this large is not a real file (guards against hostile lengths).
_MAX_META = 1 << 20
#: Bytes read at once from a file's start: preamble, prefix and a usual File Meta group
#: (a few hundred bytes) in one system call.
_HEAD = 4096
_GROUP_ELEMENT = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


class Part10Error(ValueError):
    """The file is not a readable DICOM Part 10 file."""


@record()
class Part10Header:
    """What a sender needs to know about a Part 10 file before streaming its data set."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    dataset_offset: int
    dataset_length: int


def descriptor_of(fp: object) -> int:
    """The OS file descriptor behind ``fp``, or -1 when it has none (a BytesIO, a
    closed file): who has one reads with ``pread``, leaving the position alone."""
    try:
        return int(fp.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: an OSError
        return -1


def read_header(fp: IO[bytes]) -> Part10Header:
    """Read the preamble and File Meta Information from an open binary file.

    Leaves the position undefined; callers seek to ``dataset_offset``. Raises
    :class:`Part10Error` if there is no "DICM" prefix or the meta group is malformed.
    A file with a descriptor is read with ``pread`` (its position untouched), usually
    in one call: element by element through the buffered file took many reads and
    seeks, paid for every file before ``dicomnet store`` can connect.
    """
    descriptor = descriptor_of(fp)
    if descriptor >= 0:
        return _header_of_descriptor(descriptor)
    size = fp.seek(0, os.SEEK_END)

    def read(length: int) -> bytes:
        fp.seek(0)
        return fp.read(length)

    return _parse_header(read, size)


def read_header_at(path: str | os.PathLike[str]) -> Part10Header:
    """:func:`read_header` of the file at ``path``, opened and closed here (without
    the buffered file object that ``open`` makes: a stat and a terminal check fewer)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return _header_of_descriptor(descriptor)
    finally:
        os.close(descriptor)


def _header_of_descriptor(descriptor: int) -> Part10Header:
    return _parse_header(lambda length: os.pread(descriptor, length, 0),
                         os.fstat(descriptor).st_size)


def _parse_header(read: Callable[[int], bytes], size: int) -> Part10Header:
    """The header of a file of ``size`` bytes whose first bytes ``read(n)`` returns."""
    head = read(min(size, _HEAD))

    def ensure(needed: int) -> None:
        """Re-read the head if it ends before ``needed`` and the file does not."""
        nonlocal head
        if len(head) < needed and len(head) < size:
            head = read(min(size, max(needed, 2 * len(head))))

    if len(head) < _PREAMBLE + 4 or head[_PREAMBLE:_PREAMBLE + 4] != _PREFIX:
        raise Part10Error("no DICM prefix after the 128-byte preamble (PS3.10 §7.1)")
    values: dict[int, bytes] = {}
    offset = _PREAMBLE + 4
    while True:
        if offset + 12 > len(head):  # checked here first: a call per element costs
            ensure(offset + 12)
            if len(head) < offset + 8:
                break  # a file of file meta only: no data set
        group, element = _GROUP_ELEMENT.unpack_from(head, offset)
        if group != 0x0002:
            break
        vr = head[offset + 4:offset + 6]
        if vr in LONG_LENGTH_VRS:
            if len(head) < offset + 12:
                raise Part10Error("file meta element header truncated")
            (length,) = _U32.unpack_from(head, offset + 8)
            header_length = 12
        else:
            (length,) = _U16.unpack_from(head, offset + 6)
            header_length = 8
        end = offset + header_length + length
        if length > _MAX_META or end > size:
            raise Part10Error(f"file meta element (0002,{element:04X}) has a bad length")
        if end + 12 > len(head):
            ensure(end + 12)
        values[element] = head[offset + header_length:end]
        offset = end
    try:
        sop_class = _text(values[0x0002])
        sop_instance = _text(values[0x0003])
        transfer_syntax = _text(values[0x0010])
    except KeyError as exc:
        raise Part10Error(f"file meta lacks (0002,{exc.args[0]:04X})") from None
    return Part10Header(sop_class, sop_instance, transfer_syntax, offset, size - offset)


def _text(value: bytes) -> str:
    return value.rstrip(b"\x00 ").decode("ascii", errors="replace")


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr == b"UI" else b" "  # PS3.5 §6.2 padding
    if vr in LONG_LENGTH_VRS:
        return struct.pack("<HH2sHI", 0x0002, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def file_meta_bytes(*, sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str,
                    source_ae_title: str | None = None) -> bytes:
    """Preamble, "DICM" and the File Meta Information group for a received data set.

    Encoded here rather than through pydicom because it is written once per received
    instance, on the hot path of the archive. The Implementation Class UID and Version
    Name are ours (we write the file); the Source Application Entity Title (0002,0016)
    is the peer that sent it (PS3.10 §7.1, Table 7.1-1).
    """
    elements = [
        _meta_element(0x0001, b"OB", b"\x00\x01"),  # File Meta Information Version
        _meta_element(0x0002, b"UI", sop_class_uid.encode("ascii")),
        _meta_element(0x0003, b"UI", sop_instance_uid.encode("ascii")),
        _meta_element(0x0010, b"UI", transfer_syntax.encode("ascii")),
        _meta_element(0x0012, b"UI", IMPLEMENTATION_CLASS_UID.encode("ascii")),
        _meta_element(0x0013, b"SH", IMPLEMENTATION_VERSION_NAME.encode("ascii")),
    ]
    if source_ae_title:
        elements.append(_meta_element(0x0016, b"AE",
                                      source_ae_title.encode("ascii", "replace")))
    body = b"".join(elements)
    group_length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(body))
    return b"\x00" * _PREAMBLE + _PREFIX + group_length + body


def dataset_bytes(path: str | os.PathLike[str]) -> tuple[Part10Header, bytes]:
    """The header and the whole encoded data set of a (small) Part 10 file."""
    with open(path, "rb") as fp:
        header = read_header(fp)
        fp.seek(header.dataset_offset)
        return header, fp.read()

