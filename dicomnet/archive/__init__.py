"""``dicomnet serve --data``: a storage SCP that files what it receives.

:class:`~dicomnet.archive.store.Archive` owns the folder and its index (SQLite in the
folder, or PostgreSQL shared by several servers);
:func:`install` makes a :class:`~dicomnet.Server` file every C-STORE into it,
streaming each data set to disk as it arrives, answer queries and retrievals from the
index, commit storage (PS3.4 Annex J), record Modality Performed Procedure Steps
(Annex F) and, given a folder of items, answer Modality Worklist queries (Annex K).

Nothing here blocks the event loop: filing, index look-ups and query matching run in
the archive's worker threads (:mod:`~dicomnet.archive.worker`), so one association's
slow store, long query or locked index never delays another's answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING

import anyio.to_thread

from dicomnet.archive.database import DATABASE_ERRORS, IndexConnection
from dicomnet.archive.index import ArchiveIndex, InstanceRecord
from dicomnet.archive.query import QueryError, matching_identifiers, matching_instances
from dicomnet.archive.steps import IndexMPPSSCP
from dicomnet.archive.store import (
    DUPLICATE_POLICIES,
    Archive,
    ArchiveError,
    DuplicateInstanceError,
    IncomingFile,
    IndexUnavailableError,
)
from dicomnet.archive.worklist import Worklist
from dicomnet.dimse import CStoreRQ, Status
from dicomnet.logtext import peer_text
from dicomnet.services.commitment import (
    CLASS_INSTANCE_CONFLICT,
    NO_SUCH_OBJECT_INSTANCE,
    PROCESSING_FAILURE,
    CommitmentSCP,
    Reference,
)
from dicomnet.services.failure import ServiceFailure
from dicomnet.services.query_retrieve import (
    FIND_MODELS,
    GET_MODELS,
    MOVE_MODELS,
    InstanceFile,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.acse import AcceptedContext
    from dicomnet.association import IncomingRequest
    from dicomnet.dimse import DIMSEMessage
    from dicomnet.server import Server
    from dicomnet.service_methods import Association

__all__ = ["DUPLICATE_POLICIES", "Archive", "ArchiveError", "ArchiveIndex",
           "DuplicateInstanceError", "IncomingFile", "IndexUnavailableError",
           "InstanceRecord", "Worklist", "install"]

log = logging.getLogger("dicomnet.archive")

#: PS3.4 Table B.2-1: "Refused: Out of Resources" (A7xx) and "Error: Cannot
#: understand" (Cxxx) are the Storage statuses for a data set we could not keep.
_OUT_OF_RESOURCES = 0xA700
_CANNOT_UNDERSTAND = 0xC000
#: PS3.4 C.4.2.1.5 / C.4.3.1.4: a C-GET or C-MOVE whose matches cannot be counted.
_UNABLE_TO_COUNT = 0xA701
_INDEX_UNAVAILABLE = "the index is unavailable: try again later"
#: PS3.7 Annex C (C.5.8): "Duplicate SOP Instance", the general failure status for a
#: SOP Instance UID already registered; the Storage statuses of PS3.4 B.2.3 have none
#: of their own, and any SCU treats an unknown failure code as a failure (PS3.7 C.1).
_DUPLICATE = int(Status.DUPLICATE_SOP_INSTANCE)
#: Matches a reader thread hands over at once (within a slice of time): a batch goes
#: out in a few socket writes.
_FIND_BATCH = 512


def install(server: Server, archive: Archive,
            destinations: Callable[[str], tuple[str, int] | None] | None = None, *,
            worklist: str | os.PathLike[str] | Worklist | None = None,
            strict_hierarchy: bool = False) -> None:
    """Accept every storage SOP class on ``server`` and file instances in ``archive``;
    answer C-FIND, C-GET and C-MOVE (Patient and Study Root) from its index, moving to
    the AE titles ``destinations`` knows; commit storage of the instances the index
    holds, reporting to those AE titles when the requesting association has gone;
    record MPPS in the index; answer Modality Worklist C-FIND from the items of the
    ``worklist`` folder, when there is one. With ``strict_hierarchy``, an IMAGE
    query that names its study but not its series is refused (A900) rather than
    answered, as PS3.4 C.4.1.2.1 asks of hierarchical queries."""
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
            path = await archive.file_in_writer(incoming)
        except DuplicateInstanceError as exc:
            log.warning("%r: not stored, instance %s is held already (duplicates=reject)",
                        request.association, peer_text(incoming.sop_instance_uid))
            raise ServiceFailure(_DUPLICATE, "SOP Instance UID already stored; the first "
                                 "copy is kept") from exc
        except IndexUnavailableError as exc:
            # The data set was not kept: the sender may try again later (PS3.4 B.2.3).
            log.error("%r: not stored, the index is unavailable: %s", request.association,
                      exc)
            raise ServiceFailure(_OUT_OF_RESOURCES,
                                 "the index is busy or unavailable: send again later") from exc
        except ArchiveError as exc:
            # Its text names UIDs and reasons, never a path (see Archive._filing_error).
            log.error("%r: %s", request.association, exc)
            raise ServiceFailure(_CANNOT_UNDERSTAND, str(exc)) from exc
        if incoming.kept_earlier:
            # Success all the same (PS3.4 B.2.3): what the sender asked for, the archive
            # holding the instance, is true.
            log.info("kept the copy already stored of %s (from %s)",
                     peer_text(incoming.sop_instance_uid), peer_text(incoming.source_ae_title))
        elif log.isEnabledFor(logging.INFO):
            log.info("stored %s (%d bytes) from %s", path.relative_to(archive.folder),
                     incoming.size, incoming.source_ae_title)
        # The next data set's file is made once the answer is out, while its sender
        # reads the answer and prepares the next request.
        request.after_answer(archive.prepare_spare)
        return int(Status.SUCCESS)

    # The handler never waits on its association (it files and answers), so it runs
    # in the association's reader task: see Server.on_store.
    server.on_store(sink=sink, inline=True)(handler)

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

    async def find(request: IncomingRequest
                   ) -> AsyncIterator[Dataset | bytes | list[Dataset | bytes]]:
        model = model_of(request)
        query = query_of(request)
        if model == "worklist" and items is not None:
            # Reading the folder and matching: in a reader thread too.
            found = await anyio.to_thread.run_sync(
                lambda: list(items.matches(query)), limiter=archive.worker.reading)
            for identifier in found:
                yield identifier
            return
        # Matched and encoded in a reader thread, in the request's transfer syntax,
        # and handed over in batches, which go out in few socket writes. Closed with
        # this generator (a C-CANCEL, a peer gone), not when collected: the scan's
        # read connection goes back to the pool at once.
        syntax = request.context.transfer_syntax

        def identifiers(db: IndexConnection) -> Iterator[Dataset | bytes | None]:
            return matching_identifiers(db, query, model, transfer_syntax=syntax,
                                        strict=strict_hierarchy)

        scan: AsyncGenerator[list[Dataset | bytes], None] = archive.worker.scan_batches(
            identifiers, stop=request.cancelled, size=_FIND_BATCH)
        try:
            async with aclosing(scan) as batches:
                async for batch in batches:
                    yield batch
        except DATABASE_ERRORS as exc:
            log.error("%r: C-FIND not answered, the index is unavailable: %s",
                      request.association, exc)
            # PS3.4 C.4.1.1.4: Refused: Out of Resources
            raise ServiceFailure(_OUT_OF_RESOURCES, _INDEX_UNAVAILABLE) from exc

    async def retrieve(request: IncomingRequest) -> AsyncIterator[InstanceFile]:
        query, model = query_of(request), model_of(request)
        # With the UID the index holds: a file gone missing is still reported by it.
        try:
            found = await archive.worker.read(
                partial(matching_instances, folder=archive.folder, query=query,
                        model=model))
        except DATABASE_ERRORS as exc:
            log.error("%r: retrieval not done, the index is unavailable: %s",
                      request.association, exc)
            # PS3.4 C.4.2.1.5, C.4.3.1.4: Refused: Out of Resources - Unable to
            # calculate number of matches
            raise ServiceFailure(_UNABLE_TO_COUNT, _INDEX_UNAVAILABLE) from exc
        for path, uid in found:
            yield InstanceFile(path, uid)

    find_models = [FIND_MODELS["patient"], FIND_MODELS["study"]]
    if items is not None:
        find_models.append(FIND_MODELS["worklist"])
    server.on_find(sop_classes=find_models)(find)
    server.on_get()(retrieve)
    server.on_move(destinations=destinations)(retrieve)

    def committed_in(reference: Reference, db: IndexConnection) -> int | None:
        """PS3.4 J.3.3.1.1: an instance is committed when the index holds it, as that
        SOP class, and its file is in place."""
        row = db.execute(
            "SELECT sop_class_uid, path FROM instance WHERE sop_instance_uid = ?",
            (reference.sop_instance_uid,)).fetchone()
        if row is None:
            return NO_SUCH_OBJECT_INSTANCE
        sop_class, path = row
        if str(sop_class) != reference.sop_class_uid:
            return CLASS_INSTANCE_CONFLICT
        if not (archive.folder / str(path)).is_file():
            return PROCESSING_FAILURE
        return None

    async def committed(reference: Reference) -> int | None:
        try:
            return await archive.worker.read(partial(committed_in, reference))
        except DATABASE_ERRORS as exc:
            log.error("storage commitment: the index cannot be read: %s", exc)
            return PROCESSING_FAILURE

    CommitmentSCP(committed, ae_title=server.ae_title, destinations=destinations,
                  retrieve_ae_title=server.ae_title, timeouts=server.timeouts
                  ).install(server)
    IndexMPPSSCP(archive.worker).install(server)
