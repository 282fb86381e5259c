"""How data sets move without being held whole in memory.

A received data set can go to a :class:`DatasetSink` fragment by fragment (a store
handler writing straight to disk), and a data set to send can be a :class:`FileRegion`
read one fragment at a time. Both keep memory constant whatever the data set's size.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from typing import IO, TYPE_CHECKING, Protocol

from dicomnet.records import record

if TYPE_CHECKING:
    from dicomnet.acse import AcceptedContext
    from dicomnet.dimse import DIMSEMessage
    from dicomnet.service_methods import Association

__all__ = ["DatasetSink", "FileRegion", "SinkFactory"]


class DatasetSink(Protocol):
    """Where an incoming request's data set goes when it should not be held in memory.

    The reader calls :meth:`write` for each fragment as it arrives (so a data set of any
    size takes constant memory), then :meth:`close` after the last one, or
    :meth:`discard` if the data set will never be whole (abort, disconnect, write
    error). The request is handed to its handler after :meth:`close`.
    """

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def close(self) -> None: ...

    def discard(self) -> None: ...


#: Chooses a sink for an incoming request's data set, or None to keep it in memory.
SinkFactory = Callable[["Association", "AcceptedContext", "DIMSEMessage"],
                      "DatasetSink | None"]


@record()
class FileRegion:
    """A data set to send straight from an open file: ``length`` bytes at ``offset``.

    Used to stream Part 10 files without loading them; the file is read one fragment
    at a time while sending.
    """

    file: IO[bytes]
    offset: int
    length: int

    def prefetch(self, limit: int = 4 << 20) -> None:
        """Ask the kernel to start reading the region's first ``limit`` bytes in the
        background (``posix_fadvise`` WILLNEED), so that the send which comes later
        finds them in memory rather than waiting on the disk.

        ``store_each`` calls it for the next file while the peer works on the current
        one. Files that are not in the page cache (a study stored days ago) were read
        from disk on the path of every instance, while the peer waited; with the hint
        the disk works while the peer does (the performance page of the documentation
        has the figures). A hint only: nothing happens where the call or the file
        cannot take it (no ``fileno``, not a regular file, no ``posix_fadvise`` on this
        platform).
        """
        advise = getattr(os, "posix_fadvise", None)
        if advise is None:
            return
        # io.UnsupportedOperation (no fileno) is an OSError; a closed file, ValueError.
        with suppress(OSError, ValueError, AttributeError):
            advise(self.file.fileno(), self.offset, min(self.length, limit),
                   os.POSIX_FADV_WILLNEED)
