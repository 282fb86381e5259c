"""Splitting a DIMSE message into P-DATA-TF PDUs (PS3.7 §6.3.1, PS3.8 §9.3.5, Annex E).

This is the send hot path: each PDU is built with one ``b"".join`` of a 12-byte header
and a memoryview slice of the data set, never copying the data set as a whole.
Command and data set fragments never share a PDU (some SCPs refuse that), and every
PDU respects the peer's maximum length, which bounds the PDU's variable field (PS3.8
Annex D.1).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["PDV_OVERHEAD", "fragment_message", "fragment_pieces", "max_fragment_size",
           "pdata_header", "pdata_pdu"]

#: PDV item length (4) + presentation context ID (1) + message control header (1).
PDV_OVERHEAD = 6
#: PDU type 04H, reserved, PDU length; PDV item length, context ID, control header.
_HEADER = struct.Struct(">BBIIBB")
#: Message control header bits (PS3.8 Annex E.2): bit 0 command, bit 1 last fragment.
_COMMAND = 0x01
_LAST = 0x02


def max_fragment_size(peer_max_pdu_length: int, *, cap: int = 4 * 1024 * 1024) -> int:
    """Largest fragment that fits one PDV in one PDU the peer accepts, an even number
    of bytes.

    0 means the peer set no limit (PS3.8 D.1); ``cap`` bounds our PDUs then. Even,
    because every fragment of a message shall hold an even number of bytes (PS3.8
    Annex E.1): a peer whose maximum is odd (4097) gets 4090-byte fragments, not 4091,
    and a data set of even length never ends in a 1-byte fragment. Only a peer whose
    maximum leaves room for less than 2 bytes (7 or less) gets 1-byte fragments: the
    maximum is the harder rule, a PDU over it is refused.
    """
    size = cap if peer_max_pdu_length <= 0 else min(cap, peer_max_pdu_length - PDV_OVERHEAD)
    return size - size % 2 if size >= 2 else 1


def pdata_header(context_id: int, is_command: bool, is_last: bool, size: int) -> bytes:
    """The 12 bytes before a ``size``-byte fragment in a one-PDV P-DATA-TF PDU."""
    control = (_COMMAND if is_command else 0) | (_LAST if is_last else 0)
    return _HEADER.pack(0x04, 0, size + PDV_OVERHEAD, size + 2, context_id, control)


def pdata_pdu(context_id: int, is_command: bool, is_last: bool,
              fragment: bytes | bytearray | memoryview) -> bytes:
    """One encoded P-DATA-TF PDU holding one PDV."""
    return b"".join((pdata_header(context_id, is_command, is_last, len(fragment)),
                     fragment))


def fragment_pieces(context_id: int, data: bytes | bytearray | memoryview,
                    is_command: bool, size: int) -> Iterator[bytes | memoryview]:
    """PDUs of one command or data set as (header, fragment) pieces, not yet joined:
    a sender can join many into one write with a single copy of the data."""
    view = memoryview(data)
    total = len(view)
    if total == 0:
        yield pdata_header(context_id, is_command, True, 0)
        return
    for start in range(0, total, size):
        end = min(start + size, total)
        yield pdata_header(context_id, is_command, end == total, end - start)
        yield view[start:end]


def fragment_message(context_id: int, command: bytes,
                     dataset: bytes | bytearray | memoryview | None,
                     peer_max_pdu_length: int) -> Iterator[bytes]:
    """The encoded PDUs of one message: command fragments (the last one flagged), then,
    if there is a data set, its fragments (the last one flagged)."""
    size = max_fragment_size(peer_max_pdu_length)
    parts = [(command, True)] if dataset is None else [(command, True), (dataset, False)]
    for data, is_command in parts:
        pieces = fragment_pieces(context_id, data, is_command, size)
        for header in pieces:
            if len(data) == 0:
                yield bytes(header)
                continue
            yield b"".join((header, next(pieces)))
