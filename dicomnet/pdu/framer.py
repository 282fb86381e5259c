"""Cut a received byte stream into whole PDUs (PS3.8 §9.3.1), with a hard length limit.

TCP delivers bytes in chunks of any size: a PDU may arrive one byte at a time, and one
chunk may hold many PDUs. :class:`PDUFramer` buffers what it is fed and hands out each
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
from typing import NoReturn

from dicomnet.errors import PDUError, PDUTooLargeError
from dicomnet.pdu.codec import decode_pdu
from dicomnet.pdu.constants import PDUType
from dicomnet.pdu.pdus import PDU, Bytes

__all__ = ["PDUFramer"]

_HEADER_LENGTH = 6
_LENGTH = struct.Struct(">L")  # PS3.8 §9.3.1: PDU-length, bytes 3-6 of the header
_UNLIMITED = 0xFFFFFFFF  # the largest length the 4-byte field can announce
_FIRST_TYPE = min(PDUType)
_LAST_TYPE = max(PDUType)
# Consumed bytes are dropped from the front of the buffer once there are this many and
# they are at least half of it: each byte then moves O(1) times on average, whatever the
# chunking, instead of the whole buffer moving once per PDU.
_COMPACT_AT = 1 << 16


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
    """

    __slots__ = ("_buffer", "_error", "_max_other", "_max_pdata", "_start")

    def __init__(self, max_pdata_length: int, max_other_length: int = 1 << 20) -> None:
        if max_pdata_length < 0 or max_other_length < 0:
            raise ValueError("PDU length limits cannot be negative")
        self._max_pdata = max_pdata_length or _UNLIMITED
        self._max_other = max_other_length or _UNLIMITED
        self._buffer = bytearray()
        self._start = 0  # bytes before this offset are consumed
        self._error: PDUError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed out as a PDU."""
        return len(self._buffer) - self._start

    def feed(self, data: Bytes) -> None:
        """Append bytes received from the peer; :meth:`next_pdu` reads them."""
        if self._error is None and data:
            self._buffer += data

    def next_pdu(self) -> PDU | None:
        """The next whole PDU, or ``None`` until more bytes are fed.

        Raises :class:`PDUError` (:class:`PDUTooLargeError` for a length over the limit)
        for bytes that are not a valid PDU.
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        start = self._start
        available = len(buffer) - start
        if not available:
            return None
        pdu_type = buffer[start]
        if not _FIRST_TYPE <= pdu_type <= _LAST_TYPE:
            self._fail(PDUError(f"unknown PDU type 0x{pdu_type:02X}", field="PDU-type"))
        if available < _HEADER_LENGTH:
            return None
        (length,) = _LENGTH.unpack_from(buffer, start + 2)
        limit = self._max_pdata if pdu_type == PDUType.P_DATA_TF else self._max_other
        if length > limit:
            self._fail(PDUTooLargeError(length, limit, pdu_type=pdu_type))
        end = start + _HEADER_LENGTH + length
        if len(buffer) < end:
            return None
        # One copy out of the buffer into immutable bytes: the PDVs decoded from it are
        # memoryview slices, and slices of the buffer itself would pin it (a bytearray
        # with exported views cannot be resized) and change under the caller's feet.
        with memoryview(buffer) as view:
            data = bytes(view[start:end])
        self._consume(end)
        return decode_pdu(data)

    def _consume(self, end: int) -> None:
        buffer = self._buffer
        if end == len(buffer):
            buffer.clear()
            self._start = 0
        elif end >= _COMPACT_AT and 2 * end >= len(buffer):
            del buffer[:end]
            self._start = 0
        else:
            self._start = end

    def _fail(self, error: PDUError) -> NoReturn:
        """Framing is lost: keep the error for later calls and free the buffer."""
        self._error = error
        self._buffer = bytearray()
        self._start = 0
        raise error
