"""``dicomnet serve --data``: a storage SCP that files what it receives.

:class:`~dicomnet.archive.store.Archive` owns the folder and its SQLite index;
:func:`install` makes a :class:`~dicomnet.Server` file every C-STORE into it,
streaming each data set to disk as it arrives.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dicomnet.archive.index import ArchiveIndex, InstanceRecord
from dicomnet.archive.store import Archive, ArchiveError, IncomingFile
from dicomnet.dimse import CStoreRQ, Status

if TYPE_CHECKING:
    from dicomnet.acse import AcceptedContext
    from dicomnet.association import Association, IncomingRequest
    from dicomnet.dimse import DIMSEMessage
    from dicomnet.server import Server

__all__ = ["Archive", "ArchiveError", "ArchiveIndex", "IncomingFile", "InstanceRecord",
           "install"]

log = logging.getLogger("dicomnet.archive")

#: PS3.4 Table B.2-1: "Refused: Out of Resources" (A7xx) and "Error: Cannot
#: understand" (Cxxx) are the Storage statuses for a data set we could not keep.
_OUT_OF_RESOURCES = 0xA700
_CANNOT_UNDERSTAND = 0xC000


def install(server: Server, archive: Archive) -> None:
    """Accept every storage SOP class on ``server`` and file instances in ``archive``."""

    def sink(association: Association, context: AcceptedContext,
             message: DIMSEMessage) -> IncomingFile | None:
        if not isinstance(message, CStoreRQ):
            return None
        return archive.open_incoming(
            sop_class_uid=message.affected_sop_class_uid,
            sop_instance_uid=message.affected_sop_instance_uid,
            transfer_syntax=context.transfer_syntax,
            source_ae_title=association.calling_ae_title,
        )

    async def handler(request: IncomingRequest) -> int:
        if request.sink_error is not None:
            log.error("%r: could not write the data set: %s", request.association,
                      request.sink_error)
            return _OUT_OF_RESOURCES
        incoming = request.sink
        assert isinstance(incoming, IncomingFile)
        try:
            path = archive.file(incoming)
        except ArchiveError as exc:
            log.error("%r: %s", request.association, exc)
            return _CANNOT_UNDERSTAND
        log.info("stored %s (%d bytes) from %s", path.relative_to(archive.folder),
                 incoming.size, incoming.source_ae_title)
        return int(Status.SUCCESS)

    server.on_store(handler, sink=sink)
