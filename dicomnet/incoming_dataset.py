"""The data set of a received command, kept while its fragments arrive (PS3.7 §6.3.1).

Fragments go to a sink when the application gave one (a store SCP writing to disk),
else they are kept as views into their PDUs and joined once at the end. A C-STORE
data set is checked as it comes (:mod:`dicomnet.dimse.integrity`), so nothing has to
be kept for the check. Past the size limit, or once the sink fails, the rest is
dropped and the request arrives with the reason: the peer gets a failure status, and
nothing half-received stays behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomnet.dimse.integrity import Damage, StructureChecker
from dicomnet.errors import DicomNetError

if TYPE_CHECKING:
    from dicomnet.dataset_io import DatasetSink
    from dicomnet.dimse import DIMSEMessage

__all__ = ["DatasetTooLargeError", "IncomingDataset"]


class DatasetTooLargeError(DicomNetError):
    """A received data set went past the configured maximum size."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the data set is larger than the {limit}-byte limit")
        self.limit = limit


class IncomingDataset:
    """A command whose data set fragments are still arriving."""

    __slots__ = ("checker", "chunks", "context_id", "limit", "message", "sink",
                 "sink_error", "size")

    def __init__(self, context_id: int, message: DIMSEMessage, *, limit: int | None,
                 sink: DatasetSink | None = None, sink_error: Exception | None = None,
                 checker: StructureChecker | None = None) -> None:
        self.context_id = context_id
        self.message = message
        self.limit = limit
        self.sink = sink
        self.sink_error = sink_error
        self.checker = checker
        self.chunks: list[bytes | bytearray | memoryview] = []
        self.size = 0

    def add(self, data: bytes | bytearray | memoryview) -> None:
        """Keep a fragment: in the sink if there is one (a failing sink is discarded
        and the rest of the data set dropped), else in memory. Past ``limit`` bytes
        the data set is dropped the same way."""
        if self.sink_error is not None:
            return
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            self.sink_error = DatasetTooLargeError(self.limit)
            self.chunks.clear()
            if self.sink is not None:
                self.sink.discard()
            return
        if self.checker is not None:
            self.checker.feed(data)
        if self.sink is None:
            self.chunks.append(data)  # a view into its PDU: joined once at the end
            return
        try:
            self.sink.write(data)
        except Exception as exc:
            self.sink_error = exc
            self.sink.discard()

    def finish(self) -> tuple[bytes | None, Damage | None]:
        """The last fragment came: the data set (None when it went to a sink or was
        dropped) and what the structure check found (None for whole, or unchecked)."""
        # A data set dropped on the way (too large, sink failed) was not all checked.
        damage = self.checker.finish() \
            if self.checker is not None and self.sink_error is None else None
        if self.sink is not None or self.sink_error is not None:
            if self.sink is not None and self.sink_error is None:
                try:
                    self.sink.close()
                except Exception as exc:
                    self.sink_error = exc
                    self.sink.discard()
            return None, damage
        chunks = self.chunks
        return (bytes(chunks[0]) if len(chunks) == 1 else b"".join(chunks)), damage

    def discard(self) -> None:
        """The data set will never be whole: nothing half-received may stay."""
        if self.sink is not None and self.sink_error is None:
            self.sink.discard()
