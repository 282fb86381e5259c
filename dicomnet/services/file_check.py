"""A Part 10 file looked at before it is sent: is its data set whole, and which SOP
Class and Instance does the data set itself name.

A file whose pixel data is shorter than its header says would go out as it is, and the
peer would refuse it (or worse, file it). :func:`check_file` walks the data set's
structure with :class:`~dicomnet.dimse.integrity.StructureChecker` reading only what
the walk looks at: element headers are read, values are skipped by their length, so a
500 MB image costs a few small reads, not a second pass over it. A deflated data set
must be inflated to be walked; the check runs where the sender prepares the next
request, on the event loop, so it reads at most :data:`CHECK_LIMIT` bytes of a file and
sends a larger deflated one unchecked (the receiver checks what arrives).

The File Meta Information repeats the data set's SOP Class and Instance UIDs (PS3.10
§7.1, Media Storage SOP Class/Instance UID), and some files carry stale copies there.
The C-STORE request must name the instance the data set is (PS3.4 B.2.3, PS3.7
§9.1.1.1: the peer checks the two against each other), so the UIDs are read from the
start of the data set too.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from dicomnet.dataset_io import FileRegion
from dicomnet.dimse.dataset import DEFLATED_SYNTAXES, encoding_of
from dicomnet.dimse.integrity import Damage, StructureChecker
from dicomnet.part10 import LONG_LENGTH_VRS, descriptor_of

__all__ = ["DamagedFileError", "FileCheck", "check_file"]

#: Bytes of the data set's start in which its SOP Class and Instance UIDs are looked
#: for: group 0008 comes first, and (0008,0018) is among its first elements.
_HEAD = 1 << 14
#: Bytes read at once while walking: small after a skipped value (the next header is
#: usually followed by a few short elements), larger while elements follow each other.
_SMALL_READ = 1 << 12
_LARGE_READ = 1 << 16
#: Bytes of a file the check reads at most (values it can skip are not read).
CHECK_LIMIT = 8 << 20
_SOP_CLASS = 0x00080016
_SOP_INSTANCE = 0x00080018


class DamagedFileError(ValueError):
    """A file whose data set is not whole: it is not sent (the reason says why)."""

    def __init__(self, damage: Damage) -> None:
        self.damage = damage
        super().__init__(f"damaged, not sent: {damage}")


@dataclass(frozen=True)
class FileCheck:
    """What :func:`check_file` found: the UIDs the data set names (None when they are
    not found near its start), and what is wrong with its structure (None if whole)."""

    sop_class_uid: str | None
    sop_instance_uid: str | None
    damage: Damage | None


def check_file(region: FileRegion, transfer_syntax: str) -> FileCheck:
    """Check the data set ``region`` holds, in ``transfer_syntax``."""
    read = _reader(region)
    checker = StructureChecker(transfer_syntax)
    total = region.length
    position = read_so_far = 0
    head = b""
    step = _LARGE_READ
    while position < total:
        if read_so_far >= CHECK_LIMIT:  # bounded work: the rest goes unchecked
            sop_class, sop_instance = _uids(head, transfer_syntax)
            return FileCheck(sop_class, sop_instance, None)
        needed = checker.needed_from
        if needed > position:
            skipped = min(needed, total) - position
            checker.skip(skipped)
            position += skipped
            step = _SMALL_READ
            continue
        chunk = read(position, min(step, total - position, CHECK_LIMIT - read_so_far))
        if not chunk:  # the file got shorter since its size was taken
            break
        if len(head) < _HEAD:
            head += chunk[:_HEAD - len(head)]
        checker.feed(chunk)
        position += len(chunk)
        read_so_far += len(chunk)
        step = _LARGE_READ
        if checker.damage is not None:
            break
    damage = checker.finish()
    sop_class, sop_instance = _uids(head, transfer_syntax)
    return FileCheck(sop_class, sop_instance, damage)


def _reader(region: FileRegion) -> Callable[[int, int], bytes]:
    """``read(position, length)``: bytes of the region, with ``pread`` when the file
    has a descriptor (its position untouched), else by seeking."""
    file = region.file
    descriptor = descriptor_of(file)
    if descriptor >= 0 and hasattr(os, "pread"):
        return lambda position, length: os.pread(descriptor, length,
                                                 region.offset + position)

    def read(position: int, length: int) -> bytes:
        file.seek(region.offset + position)
        return file.read(length)

    return read


def _uids(head: bytes, transfer_syntax: str) -> tuple[str | None, str | None]:
    """(0008,0016) and (0008,0018) from the first elements of a data set, or None
    for those not found before a larger tag, a value of undefined length or the end
    of ``head`` (PS3.5 §7.1 element encoding)."""
    if transfer_syntax in DEFLATED_SYNTAXES:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            head = inflater.decompress(head, _HEAD)
        except zlib.error:
            return None, None
    implicit, little = encoding_of(transfer_syntax)
    order = "<" if little else ">"
    tag_format = struct.Struct(order + "HH")
    u16 = struct.Struct(order + "H")
    u32 = struct.Struct(order + "I")
    found: dict[int, str] = {}
    offset = 0
    while offset + 8 <= len(head):
        group, number = tag_format.unpack_from(head, offset)
        tag = (group << 16) | number
        if tag > _SOP_INSTANCE:
            break
        if implicit:
            (length,) = u32.unpack_from(head, offset + 4)
            start = offset + 8
        elif head[offset + 4:offset + 6] in LONG_LENGTH_VRS:
            if offset + 12 > len(head):
                break
            (length,) = u32.unpack_from(head, offset + 8)
            start = offset + 12
        else:
            (length,) = u16.unpack_from(head, offset + 6)
            start = offset + 8
        if length == 0xFFFFFFFF or start + length > len(head):
            break
        if tag in (_SOP_CLASS, _SOP_INSTANCE):
            found[tag] = head[start:start + length].rstrip(b"\x00 ").decode(
                "ascii", errors="replace")
        offset = start + length
    return found.get(_SOP_CLASS) or None, found.get(_SOP_INSTANCE) or None
