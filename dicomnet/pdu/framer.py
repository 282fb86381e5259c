"""Cut a received byte stream into whole PDUs (PS3.8 §9.3.1), with a hard length limit.

TCP delivers bytes in chunks of any size: a PDU may arrive one byte at a time, and one
chunk may hold many PDUs. :class:`PDUFramer` keeps what it is fed and hands out each
PDU once all its bytes are there.

It is also the first line of defence against a hostile peer: the 6-byte header says how
long the PDU is, and a peer could announce 4 GiB to make the receiver allocate and
wait for it. The framer refuses an unknown PDU type as soon as its first byte arrives
and a length above the local limit as soon as the header is complete, before buffering
the body, so the memory a connection can hold is bounded by the limit (plus the chunk
being fed).
"""

from __future__ import annotations

import struct
from collections import deque
from typing import NoReturn

from dicomnet.errors import PDUError, PDUTooLargeError
from dicomnet.pdu.constants import PDUType
from dicomnet.pdu.decode import decode_pdu
from dicomnet.pdu.pdus import PDU, Bytes

__all__ = ["PDUFramer"]

_HEADER_LENGTH = 6
_LENGTH = struct.Struct(">L")  # PS3.8 §9.3.1: PDU-length, bytes 3-6 of the header
_UNLIMITED = 0xFFFFFFFF  # the largest length the 4-byte field can announce
_FIRST_TYPE = min(PDUType)
_LAST_TYPE = max(PDUType)
# Chunks smaller than this are gathered into a bytearray of up to _GATHER_LIMIT bytes.
_SMALL = 4096
_GATHER_LIMIT = 1 << 16
# A PDU at least this large, inside one received chunk, is handed out as a view of it.
_VIEW_AT = 1 << 16


class PDUFramer:
    """Incremental PDU framing for one connection.

    ``max_pdata_length`` bounds the PDU-length field of a P-DATA-TF (type 04H): it is the
    Maximum Length the local side announces in its sub-item 51H, which PS3.8 Annex D.1
    defines as the maximum of the PDU's variable field, i.e. of the header's length
    field. ``max_other_length`` bounds every other PDU type (an A-ASSOCIATE-RQ with many
    contexts can be large, but never legitimately megabytes). A limit of 0 means "no
    limit" as in sub-item 51H; the 4-byte field then is the only bound.

    An unknown PDU type or a length over the limit means the stream can no longer be
    framed: that error is raised again by every later :meth:`next_pdu` and further input
    is dropped. A PDU that is framed but malformed inside raises :class:`PDUError` once
    and is consumed, so framing could go on; the upper layer aborts anyway (PS3.8
    §9.3.8).

    The received chunks are kept as they are, not appended to one growing buffer: a PDU
    inside one chunk is handed out as a view of it, and one spread over several chunks
    is joined once. Appending to a buffer and cutting the PDU out of it again cost three
    copies of every byte plus fresh pages for the grown buffer: for 1 MiB PDUs that was
    the largest single cost of receiving a C-STORE.
    """

    __slots__ = ("_buffered", "_chunks", "_error", "_max_other", "_max_pdata", "_offset")

    def __init__(self, max_pdata_length: int, max_other_length: int = 1 << 20) -> None:
        if max_pdata_length < 0 or max_other_length < 0:
            raise ValueError("PDU length limits cannot be negative")
        self._max_pdata = max_pdata_length or _UNLIMITED
        self._max_other = max_other_length or _UNLIMITED
        # bytes chunks as received, or bytearrays gathering small ones (see feed)
        self._chunks: deque[bytes | bytearray] = deque()
        self._offset = 0  # bytes of the first chunk already consumed
        self._buffered = 0
        self._error: PDUError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed out as a PDU."""
        return self._buffered

    def feed(self, data: Bytes) -> None:
        """Append bytes received from the peer; :meth:`next_pdu` reads them.

        The framer keeps ``data`` (or a copy, for anything but ``bytes``, whose owner
        could change it later). Small pieces are gathered into one bytearray, so a peer
        sending a byte at a time costs a byte of memory per byte, not an object each.
        """
        size = len(data)
        if self._error is not None or not size:
            return
        chunks = self._chunks
        if size < _SMALL:
            last = chunks[-1] if chunks else None
            if type(last) is bytearray and len(last) < _GATHER_LIMIT:
                last += data
            else:
                chunks.append(bytearray(data))
        else:
            chunks.append(data if type(data) is bytes else bytes(data))
        self._buffered += size

    def next_pdu(self) -> PDU | None:
        """The next whole PDU, or ``None`` until more bytes are fed.

        Raises :class:`PDUError` (:class:`PDUTooLargeError` for a length over the limit)
        for bytes that are not a valid PDU.
        """
        if self._error is not None:
            raise self._error
        available = self._buffered
        if not available:
            return None
        pdu_type = self._chunks[0][self._offset]
        if not _FIRST_TYPE <= pdu_type <= _LAST_TYPE:
            self._fail(PDUError(f"unknown PDU type 0x{pdu_type:02X}", field="PDU-type"))
        if available < _HEADER_LENGTH:
            return None
        length = self._announced_length()
        limit = self._max_pdata if pdu_type == PDUType.P_DATA_TF else self._max_other
        if length > limit:
            self._fail(PDUTooLargeError(length, limit, pdu_type=pdu_type))
        total = _HEADER_LENGTH + length
        if available < total:
            return None
        return decode_pdu(self._take(total))

    def _announced_length(self) -> int:
        """The header's PDU-length field (all six header bytes are buffered)."""
        first = self._chunks[0]
        start = self._offset
        if len(first) - start >= _HEADER_LENGTH:
            return int(_LENGTH.unpack_from(first, start + 2)[0])
        header = bytearray()
        for chunk in self._chunks:  # the header is split over chunks (rare)
            header += chunk[start:start + _HEADER_LENGTH - len(header)]
            start = 0
            if len(header) == _HEADER_LENGTH:
                break
        return int(_LENGTH.unpack_from(header, 2)[0])

    def _take(self, size: int) -> Bytes:
        """Remove the next ``size`` bytes (all buffered) and return them, immutable.

        A large PDU inside one received ``bytes`` chunk is a view of it (the PDVs
        decoded from it are views too, so the chunk lives while they do); a small one is
        copied, so a few bytes never keep a large chunk alive; a PDU over several chunks
        is joined, its only copy."""
        chunks = self._chunks
        first = chunks[0]
        start = self._offset
        end = start + size
        self._buffered -= size
        if end <= len(first):
            if end == len(first):
                chunks.popleft()
                self._offset = 0
            else:
                self._offset = end
            if type(first) is bytes and size >= _VIEW_AT:
                return first if size == len(first) else memoryview(first)[start:end]
            return bytes(first[start:end])
        pieces: list[Bytes] = []
        while size:
            chunk = chunks[0]
            part = min(size, len(chunk) - start)
            # Views of bytes cost nothing; a bytearray's slice is a small copy.
            pieces.append(memoryview(chunk)[start:start + part] if type(chunk) is bytes
                          else chunk[start:start + part])
            size -= part
            if start + part == len(chunk):
                chunks.popleft()
                start = 0
            else:
                start += part
        self._offset = start
        return b"".join(pieces)

    def _fail(self, error: PDUError) -> NoReturn:
        """Framing is lost: keep the error for later calls and free the buffer."""
        self._error = error
        self._chunks.clear()
        self._offset = 0
        self._buffered = 0
        raise error
