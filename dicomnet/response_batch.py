"""Many pending responses of one request, encoded and joined into few socket writes.

A C-FIND answered from an index sends thousands of pending responses whose command
sets are all the same (PS3.7 §9.3.2.2: Message ID Being Responded To, Affected SOP
Class UID, status Pending, a data set follows): the command is encoded once, and the
P-DATA-TF PDUs of many responses (command PDV, then identifier PDVs: one message's
PDVs never share a PDU with another's, PS3.8 §9.3.5) are joined into writes of at most
about :data:`WRITE_LIMIT` bytes. One write, one system call and one event loop round
for dozens of responses; each PDU still within the peer's maximum length (PS3.8 D.1).

No network here: :class:`~dicomnet.association.AssociationDriver` writes a
:class:`ResponseBatch` like an :class:`~dicomnet.outgoing.OutgoingMessage`, under its
message lock, so the batch's messages are never interleaved with another message,
and a peer that does not read holds the sender in that write (backpressure: at most
one write is built ahead).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dicomnet.dimse import DIMSEMessage, fragment_pieces, max_fragment_size

__all__ = ["WRITE_LIMIT", "ResponseBatch", "batched_writes"]

#: Bytes of PDUs joined into one write: large enough that the system call and the
#: loop round are a small part of each response, small enough that a C-CANCEL is seen
#: between two writes soon after it arrives.
WRITE_LIMIT = 1 << 17


def batched_writes(context_id: int, command: bytes, datasets: Iterable[bytes],
                   capacity: int, limit: int = WRITE_LIMIT) -> Iterator[tuple[bytes, int]]:
    """(write, number of messages in it): each data set sent after ``command``, as
    the PDUs of one message each, joined into writes of whole messages of about
    ``limit`` bytes (a message larger than that is a write of its own)."""
    size = max_fragment_size(capacity)
    command_pdus = b"".join(fragment_pieces(context_id, command, True, size))
    pieces: list[bytes | memoryview] = []
    length = messages = 0
    for data in datasets:
        pieces.append(command_pdus)
        length += len(command_pdus)
        for piece in fragment_pieces(context_id, data, False, size):
            pieces.append(piece)
            length += len(piece)
        messages += 1
        if length >= limit:
            yield b"".join(pieces), messages
            pieces, length, messages = [], 0, 0
    if pieces:
        yield b"".join(pieces), messages


class ResponseBatch:
    """Whole messages, encoded, to be written as one piece (see the module's
    docstring). ``message`` is the first one's command, for the log."""

    __slots__ = ("_data", "count", "dataset_size", "message")

    def __init__(self, message: DIMSEMessage, data: bytes, count: int) -> None:
        self.message = message
        self.count = count
        self.dataset_size: int | None = None
        self._data = data

    def writes(self) -> Iterator[bytes]:
        yield self._data
