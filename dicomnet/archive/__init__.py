"""``dicomnet serve --data``: a storage SCP that files what it receives.

:class:`~dicomnet.archive.store.Archive` owns the folder and its SQLite index;
:func:`install` makes a :class:`~dicomnet.Server` file every C-STORE into it,
streaming each data set to disk as it arrives, answer queries and retrievals from the
index, commit storage (PS3.4 Annex J), record Modality Performed Procedure Steps
(Annex F) and, given a folder of items, answer Modality Worklist queries (Annex K).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from dicomnet.archive.index import ArchiveIndex, InstanceRecord
from dicomnet.archive.query import QueryError, matching_identifiers, matching_instances
from dicomnet.archive.steps import IndexMPPSStore
from dicomnet.archive.store import Archive, ArchiveError, IncomingFile
from dicomnet.archive.worklist import Worklist
from dicomnet.dimse import CStoreRQ, Status
from dicomnet.services.commitment import (
    CLASS_INSTANCE_CONFLICT,
    NO_SUCH_OBJECT_INSTANCE,
    PROCESSING_FAILURE,
    CommitmentSCP,
    Reference,
)
from dicomnet.services.failure import ServiceFailure
from dicomnet.services.mpps import MPPSSCP
from dicomnet.services.query_retrieve import (
    FIND_MODELS,
    GET_MODELS,
    MOVE_MODELS,
    InstanceFile,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.acse import AcceptedContext
    from dicomnet.association import Association, IncomingRequest
    from dicomnet.dimse import DIMSEMessage
    from dicomnet.server import Server

__all__ = ["Archive", "ArchiveError", "ArchiveIndex", "IncomingFile", "InstanceRecord",
           "Worklist", "install"]

log = logging.getLogger("dicomnet.archive")

#: PS3.4 Table B.2-1: "Refused: Out of Resources" (A7xx) and "Error: Cannot
#: understand" (Cxxx) are the Storage statuses for a data set we could not keep.
_OUT_OF_RESOURCES = 0xA700
_CANNOT_UNDERSTAND = 0xC000


def install(server: Server, archive: Archive,
            destinations: Callable[[str], tuple[str, int] | None] | None = None, *,
            worklist: str | os.PathLike[str] | Worklist | None = None) -> None:
    """Accept every storage SOP class on ``server`` and file instances in ``archive``;
    answer C-FIND, C-GET and C-MOVE (Patient and Study Root) from its index, moving to
    the AE titles ``destinations`` knows; commit storage of the instances the index
    holds, reporting to those AE titles when the requesting association has gone;
    record MPPS in the index; answer Modality Worklist C-FIND from the items of the
    ``worklist`` folder, when there is one."""
    destinations = destinations or (lambda _title: None)
    items = worklist if isinstance(worklist, Worklist) or worklist is None \
        else Worklist(worklist)

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
            raise ServiceFailure(_OUT_OF_RESOURCES, "could not write the data set: "
                                 + type(request.sink_error).__name__)
        incoming = request.sink
        assert isinstance(incoming, IncomingFile)
        try:
            path = archive.file(incoming)
        except ArchiveError as exc:
            log.error("%r: %s", request.association, exc)
            # "cannot index <path>" names the patient's folder: not for the peer.
            why = str(exc)
            raise ServiceFailure(_CANNOT_UNDERSTAND, "cannot index the instance"
                                 if why.startswith("cannot index") else why) from exc
        if log.isEnabledFor(logging.INFO):
            log.info("stored %s (%d bytes) from %s", path.relative_to(archive.folder),
                     incoming.size, incoming.source_ae_title)
        # The next data set's file is made once the answer is out, while its sender
        # reads the answer and prepares the next request.
        request.after_answer(archive.prepare_spare)
        return int(Status.SUCCESS)

    # The handler never waits on its association (it files and answers), so it runs
    # in the association's reader task: see Server.on_store.
    server.on_store(handler, sink=sink, inline=True)

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
        model = model_of(request)
        if model == "worklist" and items is not None:
            for identifier in items.matches(query_of(request)):
                yield identifier
            return
        for identifier in matching_identifiers(archive, query_of(request), model):
            yield identifier

    async def retrieve(request: IncomingRequest) -> AsyncIterator[InstanceFile]:
        # With the UID the index holds: a file gone missing is still reported by it.
        for path, uid in matching_instances(archive, query_of(request), model_of(request)):
            yield InstanceFile(path, uid)

    find_models = [FIND_MODELS["patient"], FIND_MODELS["study"]]
    if items is not None:
        find_models.append(FIND_MODELS["worklist"])
    server.on_find(find, sop_classes=find_models)
    server.on_get(retrieve)
    server.on_move(retrieve, destinations)

    async def committed(reference: Reference) -> int | None:
        """PS3.4 J.3.3.1.1: an instance is committed when the index holds it, as that
        SOP class, and its file is in place."""
        rows = archive.index.execute(
            "SELECT sop_class_uid, path FROM instance WHERE sop_instance_uid = ?",
            (reference.sop_instance_uid,))
        if not rows:
            return NO_SUCH_OBJECT_INSTANCE
        sop_class, path = rows[0]
        if str(sop_class) != reference.sop_class_uid:
            return CLASS_INSTANCE_CONFLICT
        if not (archive.folder / str(path)).is_file():
            return PROCESSING_FAILURE
        return None

    CommitmentSCP(committed, ae_title=server.ae_title, destinations=destinations,
                  retrieve_ae_title=server.ae_title, timeouts=server.timeouts
                  ).install(server)
    MPPSSCP(IndexMPPSStore(archive.index)).install(server)
