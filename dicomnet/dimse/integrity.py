"""Whether a received data set is whole: a streaming check of its structure (PS3.5 §7).

A C-STORE data set arrives in fragments and may go straight to disk, never decoded. A
sender that stops half way through an element, or writes a length its data does not
have, would have its data set filed and answered "Success" unless someone looks at
the structure. :class:`StructureChecker` is that look, sans-IO: fed the bytes as they
arrive (any chunking), it walks the element headers of the transfer syntax's encoding
(PS3.5 §7.1), skips values by their length without keeping them, follows sequences
and items of defined and undefined length (§7.5) and encapsulated pixel data
(§A.4), and at the end says whether the data set is whole or what is wrong with it.
Deflated syntaxes (§A.5) are inflated incrementally, in bounded steps, and the
inflated stream is checked the same way. Memory is constant: a header's worth of
carried bytes, the inflater, and a stack of open containers of bounded depth; time is
linear in the (inflated) size, and the bytes of a value are never looked at.

It is strict about what is clearly broken (a value or header that the data does not
hold, a delimiter that never comes, an item tag where only an element may be) and
lenient about what real files carry without harm: odd lengths, unknown VRs (two
capital letters, read with a 2-byte length), delimiters with a non-zero length, bytes
after the end of a deflate stream (which zlib and pydicom ignore too).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from dicomnet.dimse.dataset import DEFLATED_SYNTAXES, encoding_of
from dicomnet.part10 import LONG_LENGTH_VRS, SHORT_LENGTH_VRS

__all__ = ["MALFORMED", "TRUNCATED", "UNDECODABLE", "Damage", "StructureChecker"]

#: Status codes of the "Error: Cannot understand" range (Cxxx, PS3.4 Table B.2-1) for
#: a refused data set, by what is wrong with it: it ends before its structure does
#: (cut short in transit or written short)...
TRUNCATED = 0xC201
#: ...its structure is broken where it is (an item tag at the top level, a delimiter
#: with nothing to close, a value running past the end of its item)...
MALFORMED = 0xC202
#: ...or it is in a deflated syntax and does not inflate.
UNDECODABLE = 0xC203

_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
#: Containers nested deeper than this are refused: real data sets nest a few levels,
#: and the stack of open containers is the checker's only memory that grows.
MAX_DEPTH = 64
#: Inflated bytes produced per zlib call: a small deflate bomb cannot make a big
#: buffer, whatever it expands to.
_INFLATE_STEP = 1 << 20

# What the walk is inside of: the top level or an item (elements), a sequence
# (items), encapsulated pixel data (fragments: items of defined length).
_ELEMENTS, _ITEMS, _FRAGMENTS = 0, 1, 2
_KIND_NAMES = {_ELEMENTS: "item", _ITEMS: "sequence", _FRAGMENTS: "encapsulated pixel data"}

# Element headers (PS3.5 §7.1): the first 8 bytes read as explicit VR (tag, VR, 2-byte
# length) or implicit VR (tag, 4-byte length); a long-length explicit VR has its
# 4-byte length at offset 8.
_EXPLICIT = {True: struct.Struct("<HH2sH").unpack_from,
             False: struct.Struct(">HH2sH").unpack_from}
_IMPLICIT = {True: struct.Struct("<HHI").unpack_from, False: struct.Struct(">HHI").unpack_from}
_U32 = {True: struct.Struct("<I").unpack_from, False: struct.Struct(">I").unpack_from}


@dataclass(frozen=True)
class Damage:
    """What is wrong with a data set: ``reason`` (tags and byte counts only, never a
    value: it is logged and sent to the peer) and the Cxxx ``status`` to refuse it
    with."""

    reason: str
    status: int

    def __str__(self) -> str:
        return self.reason

    @property
    def comment(self) -> str:
        """The reason as an Error Comment (0000,0902): LO, at most 64 characters."""
        return self.reason if len(self.reason) <= 64 else self.reason[:61] + "..."


class _Damaged(Exception):  # noqa: N818 - internal signal carrying the verdict
    def __init__(self, reason: str, status: int = MALFORMED) -> None:
        super().__init__(reason)
        self.damage = Damage(reason, status)


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class StructureChecker:
    """Feed a data set's bytes with :meth:`feed`, then call :meth:`finish` for the
    verdict: None when the data set is whole, else a :class:`Damage`.

    ``max_inflated`` bounds the inflated size of a deflated data set (past it the data
    set counts as damaged, status A700 like any data set over the size limit).
    """

    def __init__(self, transfer_syntax: str, *, max_inflated: int | None = None) -> None:
        implicit, little = encoding_of(transfer_syntax)
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) \
            if transfer_syntax in DEFLATED_SYNTAXES else None
        self._max_inflated = max_inflated
        self.damage: Damage | None = None
        self._finished = False
        self._base = 0  # position (in the checked stream) of the next fed byte
        self._next = 0  # position of the next element header
        self._carry = b""  # the start of a header cut by the end of a fragment
        # The container the walk is in, and those around it.
        self._kind = _ELEMENTS
        self._end: int | None = None  # where a defined-length container ends
        self._owner = 0  # the tag of the element (or sequence) it belongs to
        self._implicit = implicit
        self._little = little
        self._stack: list[tuple[int, int | None, int, bool, bool]] = []
        self._last = 0  # the tag of the last element read, for the verdict

    @property
    def size(self) -> int:
        """Bytes checked so far (inflated bytes, for a deflated syntax)."""
        return self._base

    @property
    def needed_from(self) -> int:
        """Where the next byte the check looks at is: the bytes before it are inside a
        value and may be :meth:`skip`-ped rather than fed (a file checked before it is
        sent need not be read). A deflated stream must be fed whole."""
        if self._carry or self._inflater is not None:
            return self._base
        return max(self._base, self._next)

    def skip(self, count: int) -> None:
        """Count ``count`` bytes as checked without feeding them; they must all lie
        before :attr:`needed_from`."""
        if self._base + count > self.needed_from:
            raise ValueError("only bytes inside a value can be skipped")
        self._base += count

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Check the next bytes of the data set (nothing after a damage is found)."""
        if self.damage is not None:
            return
        try:
            if self._inflater is None:
                self._walk(data)
            else:
                self._inflate(data)
        except _Damaged as exc:
            self.damage = exc.damage

    def finish(self) -> Damage | None:
        """The verdict, once every byte was fed."""
        if self._finished or self.damage is not None:
            return self.damage
        self._finished = True
        try:
            if self._inflater is not None and not self._inflater.eof:
                raise _Damaged("the deflate stream is cut short",
                               UNDECODABLE)
            self._check_end()
        except _Damaged as exc:
            self.damage = exc.damage
        return self.damage

    # -- deflated syntaxes (PS3.5 §A.5) --------------------------------------------------

    def _inflate(self, data: bytes | bytearray | memoryview) -> None:
        inflater = self._inflater
        assert inflater is not None
        if inflater.eof:  # bytes after the stream: ignored, as zlib and pydicom do
            return
        pending: bytes | bytearray | memoryview = data
        while True:
            try:
                out = inflater.decompress(pending, _INFLATE_STEP)
            except zlib.error as exc:
                raise _Damaged(f"the deflate stream does not inflate ({exc})",
                               UNDECODABLE) from None
            if out:
                if self._max_inflated is not None \
                        and self._base + len(out) > self._max_inflated:
                    raise _Damaged(f"the data set inflates to over {self._max_inflated} "
                                   f"bytes", 0xA700)
                self._walk(out)
            if inflater.eof:
                return
            pending = inflater.unconsumed_tail
            # A full step may leave output inside zlib with no input left: ask again.
            if not pending and len(out) < _INFLATE_STEP:
                return

    # -- the walk ------------------------------------------------------------------------

    def _walk(self, data: bytes | bytearray | memoryview) -> None:
        """Read the element headers that start in ``data``."""
        size = len(data)
        base = self._base
        self._base = base + size
        if self._carry:
            # A header began in an earlier fragment: complete it with this one's start.
            head = self._carry + bytes(data[:12 - len(self._carry)])
            if not self._header(head, 0, len(head), self._next):
                if len(head) >= 12:  # pragma: no cover - 12 bytes always make a header
                    raise AssertionError("unparsed complete header")
                self._carry = head
                return
            self._carry = b""
        offset = self._next - base
        if offset >= size:
            return
        # Each call reads one header and moves self._next; the loop stops when the next
        # header starts past this fragment or is cut by its end (then carried).
        header = self._header
        while offset < size:
            if self._kind == _ELEMENTS and self._end is None:
                offset = self._plain_elements(data, offset, size, base)
                if offset >= size:
                    return
            if not header(data, offset, size, base + offset):
                self._carry = bytes(data[offset:])
                return
            offset = self._next - base

    def _plain_elements(self, data: bytes | bytearray | memoryview, offset: int,
                        size: int, base: int) -> int:
        """Step over the plain elements (no item tag, no sequence, no undefined length:
        nearly every element) from ``offset`` on, in an element list that only a
        delimiter ends (the top level or an undefined-length item); return where the
        first other header, or a header that ``data`` does not hold whole, starts.

        :meth:`_header` reads these too; this loop is the same rules written for speed,
        one struct call per element, as it runs for every element of every data set.
        """
        limit = size - 12  # past this, a header might be cut: left to _header
        start = offset
        group = number = 0
        little = self._little
        if self._implicit:
            implicit_header = _IMPLICIT[little]
            while offset <= limit:
                group, number, length = implicit_header(data, offset)
                if length == _UNDEFINED or group == 0xFFFE:
                    break
                start = offset
                offset += 8 + length
        else:
            explicit_header = _EXPLICIT[little]
            u32 = _U32[little]
            short_vrs = SHORT_LENGTH_VRS
            while offset <= limit:
                group, number, vr, length = explicit_header(data, offset)
                if vr in short_vrs and group != 0xFFFE:
                    start = offset
                    offset += 8 + length
                    continue
                if group == 0xFFFE or vr == b"SQ" or vr not in LONG_LENGTH_VRS:
                    break
                length = u32(data, offset + 8)[0]
                if length == _UNDEFINED:
                    break
                start = offset
                offset += 12 + length
        if offset > start:  # stepped over at least one element
            self._next = base + offset
            if offset > size:  # its value goes on in the next fragments
                self._last = (group << 16) | number
        return offset

    def _header(self, data: bytes | bytearray | memoryview, offset: int, size: int,
                position: int) -> bool:
        """Read the header at ``offset`` of ``data`` (``position`` in the stream) and
        step over it (and over its value, or into it); False if ``data`` ends first."""
        end = self._end
        while end is not None and position >= end:
            if position > end:
                raise _Damaged(f"an element runs {position - end} bytes past the end of the "
                               f"{_KIND_NAMES[self._kind]} of {_tag(self._owner)}")
            self._close()
            end = self._end
        if size - offset < 8:
            return False
        little = self._little
        if self._implicit:
            group, number, length = _IMPLICIT[little](data, offset)
            vr = b""
            start = position + 8
        else:
            group, number, vr, length = _EXPLICIT[little](data, offset)
            start = position + 8
            if group == 0xFFFE:  # item tags carry no VR in any encoding (PS3.5 §7.5)
                length = _U32[little](data, offset + 4)[0]
                vr = b""
            elif vr in LONG_LENGTH_VRS:
                if size - offset < 12:
                    return False
                length = _U32[little](data, offset + 8)[0]
                start += 4
            elif vr not in SHORT_LENGTH_VRS and not (vr.isalpha() and vr.isupper()):
                # PS3.5 §6.2: a VR is two upper case letters. These bytes are not one:
                # most often implicit VR data sent on an explicit VR context.
                raise _Damaged(f"{_tag((group << 16) | number)} has no VR (implicit VR "
                               f"data on an explicit VR context?)")
        tag = (group << 16) | number
        kind = self._kind
        if kind == _ELEMENTS:
            if group == 0xFFFE:
                if tag == _ITEM_END and self._end is None and self._stack:
                    self._close()  # its length should be 0; harmless if not
                    self._next = start
                    return True
                raise _Damaged(f"{_tag(tag)} where a data element was expected")
            self._last = tag
            if length == _UNDEFINED:
                # PS3.5 §7.5 (sequences), §A.4 (encapsulated pixel data), §6.2.2: an
                # undefined-length UN holds Implicit VR Little Endian data.
                if vr == b"UN":
                    self._open(_ITEMS, None, tag, True, True)
                elif tag == _PIXEL_DATA or (vr and vr != b"SQ"):
                    self._open(_FRAGMENTS, None, tag, self._implicit, little)
                else:
                    self._open(_ITEMS, None, tag, self._implicit, little)
            elif vr == b"SQ" and length:
                self._open(_ITEMS, start + length, tag, False, little)
            self._next = start if length == _UNDEFINED or vr == b"SQ" else start + length
            return True
        # Inside a sequence or encapsulated pixel data: items, then the delimiter.
        if tag == _ITEM:
            if length == _UNDEFINED:
                if kind == _FRAGMENTS:
                    raise _Damaged(f"a fragment of undefined length in {_tag(self._owner)}")
                self._open(_ELEMENTS, None, self._owner, self._implicit, little)
                self._next = start
            elif kind == _ITEMS and length:
                self._open(_ELEMENTS, start + length, self._owner, self._implicit, little)
                self._next = start
            else:
                self._next = start + length
            return True
        if tag == _SEQUENCE_END and self._end is None:
            self._close()
            self._next = start
            return True
        raise _Damaged(f"{_tag(tag)} where an item of {_tag(self._owner)} was expected")

    def _open(self, kind: int, end: int | None, owner: int, implicit: bool,
              little: bool) -> None:
        stack = self._stack
        if len(stack) >= MAX_DEPTH:
            raise _Damaged(f"sequences nested more than {MAX_DEPTH} deep")
        if end is not None and self._end is not None and end > self._end:
            raise _Damaged(f"{_tag(owner)} ends {end - self._end} bytes past the end of "
                           f"the {_KIND_NAMES[self._kind]} it is in")
        stack.append((self._kind, self._end, self._owner, self._implicit, self._little))
        self._kind, self._end, self._owner = kind, end, owner
        self._implicit, self._little = implicit, little

    def _close(self) -> None:
        (self._kind, self._end, self._owner, self._implicit,
         self._little) = self._stack.pop()

    def _check_end(self) -> None:
        total = self._base
        if total == 0:
            raise _Damaged("the data set is empty")
        if self._carry:
            raise _Damaged("the data set ends inside an element header", TRUNCATED)
        if self._next > total:
            raise _Damaged(f"the value of {_tag(self._last)} is cut short by "
                           f"{self._next - total} bytes", TRUNCATED)
        while self._end is not None and self._end == total:
            self._close()
        if self._stack:
            what = "defined-length" if self._end is not None else "undefined-length"
            raise _Damaged(f"data set ends inside the {what} "
                           f"{_KIND_NAMES[self._kind]} of {_tag(self._owner)}", TRUNCATED)
