"""``dicomnet serve --data``: a storage SCP that files what it receives.

:class:`~dicomnet.archive.store.Archive` owns the folder and its SQLite index;
:func:`install` makes a :class:`~dicomnet.Server` file every C-STORE into it,
streaming each data set to disk as it arrives.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dicomnet.archive.index import ArchiveIndex, InstanceRecord
from dicomnet.archive.query import QueryError, matching_identifiers, matching_paths
from dicomnet.archive.store import Archive, ArchiveError, IncomingFile
from dicomnet.dimse import CStoreRQ, Status
from dicomnet.services.query_retrieve import FIND_MODELS, GET_MODELS, MOVE_MODELS

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

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


def install(server: Server, archive: Archive,
            destinations: Callable[[str], tuple[str, int] | None] | None = None) -> None:
    """Accept every storage SOP class on ``server`` and file instances in ``archive``;
    answer C-FIND, C-GET and C-MOVE (Patient and Study Root) from its index, moving to
    the AE titles ``destinations`` knows."""

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

    def model_of(request: IncomingRequest) -> str:
        sop_class = str(getattr(request.message, "affected_sop_class_uid", ""))
        for models in (FIND_MODELS, GET_MODELS, MOVE_MODELS):
            for name, uid in models.items():
                if uid == sop_class:
                    return name
        raise QueryError(f"{sop_class} is not a query/retrieve model this archive has")

    def query_of(request: IncomingRequest) -> Dataset:
        if request.dataset is None:
            raise QueryError("the request has no identifier")
        return request.dataset

    async def find(request: IncomingRequest) -> AsyncIterator[Dataset]:
        for identifier in matching_identifiers(archive, query_of(request),
                                               model_of(request)):
            yield identifier

    async def retrieve(request: IncomingRequest) -> AsyncIterator[Path]:
        for path in matching_paths(archive, query_of(request), model_of(request)):
            yield path

    server.on_find(find, sop_classes=[FIND_MODELS["patient"], FIND_MODELS["study"]])
    server.on_get(retrieve)
    server.on_move(retrieve, destinations or (lambda _title: None))
