"""A DIMSE message made ready to send: its P-DATA-TF PDUs, joined into socket writes.

A message goes out as its command's PDVs, then its data set's (PS3.7 §6.3.1, PS3.8
§9.3.5). :class:`OutgoingMessage` does everything but the writing: the data set
converted to the context's transfer syntax, the command encoded, and the first socket
write built (a file's first bytes read into it). A client can so prepare its next
request while the peer still works on the current one (``store_each`` does), and
the time between an answer and the next request is only the writing.

No network here: :class:`~dicomnet.association.AssociationDriver` writes what this module
builds, under its message lock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import chain
from typing import TYPE_CHECKING

from dicomnet.dataset_io import FileRegion
from dicomnet.dimse import (
    DIMSEMessage,
    encode_command,
    encode_dataset,
    fragment_pieces,
    max_fragment_size,
    pdata_header,
    pdata_pdu,
)
from dicomnet.dimse.dataset import DEFLATED_SYNTAXES
from dicomnet.part10 import descriptor_of

if TYPE_CHECKING:
    from pydicom import Dataset

    from dicomnet.acse import AcceptedContext

__all__ = ["OutgoingMessage"]

#: Buffers per preadv call: Linux's IOV_MAX.
_IOV_MAX = 1024
#: Bytes of PDUs joined into one socket write when sending a message...
_WRITE_BATCH = 1 << 19
#: ...except its first write, kept small so the peer can start on the message while we
#: read and send the rest (the peer reading is usually the slower side).
_FIRST_WRITE = 1 << 16
#: P-DATA-TF header (6) + PDV item header (4) + context ID + control header (PS3.8 §9.3.5).
_PDU_HEADER = 12


def _message_writes(context_id: int, command: bytes,
                    dataset: bytes | bytearray | memoryview | FileRegion | None,
                    capacity: int, pad: int = 0) -> Iterator[bytes | bytearray]:
    """The P-DATA-TF PDUs of one message (PS3.7 §6.3.1, PS3.8 §9.3.5), joined into
    socket writes of about :data:`_WRITE_BATCH` bytes (the first one smaller).

    Joining matters: a peer with a 16 KiB maximum PDU would otherwise cost one socket
    write and one event loop round per 16 KiB. In-memory data is copied once, into the
    write; a file is read straight into the write buffer, between the PDU headers.
    ``pad`` NUL bytes follow a file's data set (see :class:`OutgoingMessage`).
    """
    size = max_fragment_size(capacity)
    if dataset is None and 0 < len(command) <= size:
        # The usual response (C-ECHO, C-STORE): one PDU, built without the generators.
        yield pdata_pdu(context_id, True, True, command)
        return
    in_memory = fragment_pieces(context_id, command, True, size)
    if isinstance(dataset, FileRegion):
        # The command goes in the first write with the data set's start; see _file_writes.
        yield from _file_writes(context_id, dataset, size, b"".join(in_memory), pad)
    elif dataset is None:
        yield from _batched(in_memory)
    else:
        yield from _batched(chain(in_memory,
                                  fragment_pieces(context_id, dataset, False, size)))


def _file_writes(context_id: int, region: FileRegion, size: int,
                 prefix: bytes = b"", pad: int = 0) -> Iterator[bytes | bytearray]:
    """Data set PDUs read from a file into write buffers (after ``prefix``, already
    encoded PDUs), one copy of the data, followed by ``pad`` NUL bytes (the buffers
    start zeroed: the pad is the part of the last fragment that is not read into).

    The first write is the command with about :data:`_FIRST_WRITE` bytes of the data
    set, the PDU cut short if the peer's maximum is larger (a PDV may be any length up
    to the maximum, PS3.8 §9.3.5), so the peer has work while we read the rest; then
    full batches. The command does not go alone: each write costs a system call and an
    event loop round, and storescp, done with the command in less time than that,
    waited for the data on every instance (seen in a trace of its reads; with one
    write it does not wait). Reading that first write is :class:`OutgoingMessage`'s work, done by
    ``store_each`` while the peer is still busy with the previous instance.
    """
    scatter = _scatter_reader(region)
    remaining = region.length + pad
    unread = region.length
    if remaining == 0:
        yield prefix + pdata_header(context_id, False, True, 0)
        return
    budget = _FIRST_WRITE - len(prefix)
    while remaining > 0:
        piece = min(size, max(2, budget - _PDU_HEADER))
        piece -= piece % 2  # fragments of even length (PS3.8 Annex E.1)
        fragments = min(max(1, budget // (piece + _PDU_HEADER)), -(-remaining // piece))
        data_length = min(remaining, fragments * piece)
        buffer = bytearray(len(prefix) + data_length + fragments * _PDU_HEADER)
        view = memoryview(buffer)
        view[:len(prefix)] = prefix
        position = len(prefix)
        prefix = b""
        targets = []
        for _ in range(fragments):
            length = min(piece, remaining)
            remaining -= length
            view[position:position + _PDU_HEADER] = pdata_header(
                context_id, False, remaining == 0, length)
            position += _PDU_HEADER
            from_file = min(length, unread)
            unread -= from_file
            if from_file:
                targets.append(view[position:position + from_file])
            position += length
        scatter(targets)
        yield buffer
        budget = _WRITE_BATCH


def _scatter_reader(region: FileRegion) -> Callable[[list[memoryview]], None]:
    """A function filling a list of buffers with the region's next bytes, in order.

    An OS file is read with one ``preadv`` per list (a 16 KiB peer PDU otherwise costs
    one read system call per fragment); other file objects with ``readinto`` or
    ``read``. A file that ends early raises OSError: half a data set must not go out
    as a whole one.
    """
    file = region.file
    descriptor = descriptor_of(file)
    if descriptor >= 0 and hasattr(os, "preadv"):
        offset = region.offset

        def preadv(targets: list[memoryview]) -> None:
            nonlocal offset
            while targets:
                chunk = targets[:_IOV_MAX]
                wanted = sum(len(t) for t in chunk)
                got = os.preadv(descriptor, chunk, offset)
                offset += got
                if got != wanted:
                    if got == 0:
                        raise OSError("the file got shorter while it was being sent")
                    targets = _after(chunk, got) + targets[len(chunk):]
                else:
                    targets = targets[len(chunk):]

        return preadv
    file.seek(region.offset)
    readinto: Callable[[memoryview], int | None] | None = getattr(file, "readinto", None)

    def sequential(targets: list[memoryview]) -> None:
        for target in targets:
            if readinto is not None:
                got = readinto(target) or 0
            else:  # a file object without readinto: one more copy
                data = file.read(len(target))
                target[:len(data)] = data
                got = len(data)
            if got != len(target):
                raise OSError("the file got shorter while it was being sent")

    return sequential


def _after(targets: list[memoryview], consumed: int) -> list[memoryview]:
    """The parts of ``targets`` not yet filled once ``consumed`` bytes went in."""
    for index, target in enumerate(targets):
        if consumed < len(target):
            return [target[consumed:], *targets[index + 1:]]
        consumed -= len(target)
    return []


def _batched(pieces: Iterator[bytes | memoryview]) -> Iterator[bytes]:
    """Join consecutive pieces into writes of about :data:`_WRITE_BATCH` bytes (the
    first about :data:`_FIRST_WRITE`), with one copy of the data.

    A peer with a 16 KiB maximum PDU would otherwise cost one socket write (and one
    event loop round) per 16 KiB; PDU boundaries are unaffected.
    """
    batch: list[bytes | memoryview] = []
    size = 0
    limit = _FIRST_WRITE
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= limit:
            yield b"".join(batch)
            batch, size, limit = [], 0, _WRITE_BATCH
    if batch:
        yield b"".join(batch)


class OutgoingMessage:
    """One DIMSE message on one presentation context, encoded and ready to write.

    ``capacity`` is the largest PDU the peer takes (PS3.8 D.1). The data set may be a
    pydicom Dataset (encoded here in the context's transfer syntax), bytes, or a
    :class:`FileRegion` (read one write at a time, the first one now). Command Data Set
    Type is set to say whether a data set follows (PS3.7 E.1-1). The writes can be
    taken once.
    """

    __slots__ = ("_first", "_rest", "context", "dataset_size", "message")

    def __init__(self, context: AcceptedContext, message: DIMSEMessage,
                 dataset: Dataset | bytes | bytearray | memoryview | FileRegion | None,
                 capacity: int) -> None:
        if dataset is not None and \
                not isinstance(dataset, bytes | bytearray | memoryview | FileRegion):
            dataset = encode_dataset(dataset, context.transfer_syntax)
        pad = 0
        if context.transfer_syntax in DEFLATED_SYNTAXES and dataset is not None:
            # PS3.5 A.5: a deflated stream of odd length takes one trailing NUL byte, as
            # every value and fragment is of even length (PS3.8 Annex E.1); DCMTK
            # refuses an odd one ("Odd Fragment Length"). A file deflated by another
            # program may lack it: it is added as the file is sent.
            if isinstance(dataset, FileRegion):
                pad = dataset.length % 2
            elif len(dataset) % 2:
                dataset = b"".join((dataset, b"\x00"))
        if message.has_dataset != (dataset is not None):
            message = replace(message, has_dataset=dataset is not None)
        self.context = context
        self.message = message
        #: Bytes of the data set, for the log; None without one.
        self.dataset_size = dataset.length + pad if isinstance(dataset, FileRegion) else \
            None if dataset is None else len(dataset)
        self._rest = _message_writes(context.context_id, encode_command(message), dataset,
                                     capacity, pad)
        self._first: bytes | bytearray | None = next(self._rest)  # there is always one

    def writes(self) -> Iterator[bytes | bytearray]:
        """The socket writes, in order: the first was built in the constructor, the
        rest are built (a file read) as they are asked for."""
        first, self._first = self._first, None
        if first is None:
            raise RuntimeError("the writes of an OutgoingMessage can be taken once")
        yield first
        yield from self._rest
