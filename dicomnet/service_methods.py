"""The association as applications hold it: the driver plus one method per service.

``dicomnet.connect`` yields an :class:`Association`, and a :class:`dicomnet.Server`
hands one to each request handler (``request.association``). Every DIMSE service is
a method here, in the same shape: ``await assoc.echo()``, ``await assoc.store(ds)``,
``async for match in assoc.find(query)``, ``await assoc.n_get(...)``. The work is done
by the service modules (:mod:`dicomnet.services`), which build on the driver alone;
this class only gathers them, so the driver never imports a service.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING

from dicomnet.association import AssociationDriver, Response
from dicomnet.dimse import Priority
from dicomnet.services import commitment, mpps, normalized, query_retrieve, storage, verification

if TYPE_CHECKING:
    from pydicom import Dataset

    from dicomnet.services.commitment import Reference
    from dicomnet.services.normalized import NResult
    from dicomnet.services.storage import Storable

__all__ = ["Association"]


class Association(AssociationDriver):
    """One DICOM association (requestor or acceptor side) with every service as a
    method. Message IDs are allocated inside; responses come back as
    :class:`~dicomnet.association.Response` (status, data set decoded on demand)."""

    # -- verification, storage (PS3.4 Annexes A, B) ---------------------------------

    async def echo(self) -> int:
        """C-ECHO the peer (PS3.4 Annex A); returns the response status."""
        return await verification.echo(self)

    async def store(self, item: Storable, *, priority: int = Priority.MEDIUM,
                    move_originator: tuple[str, int] | None = None) -> int:
        """C-STORE a data set, a Part 10 file (path) or an open file (PS3.4 Annex B);
        returns the response status. Files are streamed from disk when the peer
        accepted their transfer syntax, else converted between uncompressed syntaxes."""
        return await storage.store(self, item, priority=priority,
                                   move_originator=move_originator)

    def store_each(self, items: Iterable[Storable], *, priority: int = Priority.MEDIUM
                   ) -> AsyncGenerator[tuple[Storable, int | Exception], None]:
        """C-STORE ``items`` one after another, yielding each with its status or with
        the error that kept it from being sent; while the peer handles one instance,
        the next is opened and read (:func:`~dicomnet.services.storage.store_each`)."""
        return storage.store_each(self, items, priority=priority)

    # -- query/retrieve, worklist (PS3.4 Annexes C, K) ------------------------------

    def find(self, query: Dataset | bytes, *, model: str = "study",
             priority: int = Priority.MEDIUM) -> AsyncGenerator[Response, None]:
        """C-FIND: the pending responses (``response.dataset`` is the match), then the
        final one. ``model``: "patient", "study", "worklist" (see
        :data:`~dicomnet.services.query_retrieve.FIND_MODELS`). Leaving the loop early
        sends a C-CANCEL."""
        return query_retrieve.find(self, query, model=model, priority=priority)

    def get(self, query: Dataset, *, model: str = "study",
            priority: int = Priority.MEDIUM) -> AsyncGenerator[Response, None]:
        """C-GET: the instances come as C-STORE requests on this association, to the
        ``on_request`` handler given to :func:`dicomnet.connect`; yields the responses
        (sub-operation counts)."""
        return query_retrieve.get(self, query, model=model, priority=priority)

    def move(self, query: Dataset, *, destination: str, model: str = "study",
             priority: int = Priority.MEDIUM) -> AsyncGenerator[Response, None]:
        """C-MOVE to the AE ``destination``; yields the responses (sub-operation
        counts)."""
        return query_retrieve.move(self, query, destination=destination, model=model,
                                   priority=priority)

    # -- DIMSE-N (PS3.7 §10) -------------------------------------------------------------

    async def n_get(self, sop_class: str, sop_instance: str,
                    attributes: Iterable[int] | None = None) -> NResult:
        """N-GET the ``attributes`` (tags; all when None) of an instance."""
        return await normalized.n_get(self, sop_class, sop_instance, attributes)

    async def n_set(self, sop_class: str, sop_instance: str,
                    modifications: Dataset) -> NResult:
        """N-SET ``modifications`` on an instance."""
        return await normalized.n_set(self, sop_class, sop_instance, modifications)

    async def n_action(self, sop_class: str, sop_instance: str, action_type: int,
                       information: Dataset | None = None) -> NResult:
        """N-ACTION ``action_type`` on an instance."""
        return await normalized.n_action(self, sop_class, sop_instance, action_type,
                                         information)

    async def n_create(self, sop_class: str, sop_instance: str | None = None,
                       attributes: Dataset | None = None) -> NResult:
        """N-CREATE an instance (the SCP chooses its UID when ``sop_instance`` is None)."""
        return await normalized.n_create(self, sop_class, sop_instance, attributes)

    async def n_delete(self, sop_class: str, sop_instance: str) -> NResult:
        """N-DELETE an instance."""
        return await normalized.n_delete(self, sop_class, sop_instance)

    async def n_event_report(self, sop_class: str, sop_instance: str, event_type: int,
                             information: Dataset | None = None) -> NResult:
        """N-EVENT-REPORT ``event_type`` about an instance (we are its SCP)."""
        return await normalized.n_event_report(self, sop_class, sop_instance, event_type,
                                               information)

    # -- storage commitment, MPPS (PS3.4 Annexes J, F) ------------------------------

    async def request_commitment(
            self, instances: Iterable[Reference | tuple[str, str] | Dataset | str
                                      | os.PathLike[str]],
            *, transaction_uid: str | None = None) -> str:
        """Ask the peer to commit to keeping ``instances`` (N-ACTION, PS3.4 J.3.2);
        returns the Transaction UID the report will name."""
        return await commitment.request_commitment(self, instances,
                                                   transaction_uid=transaction_uid)

    async def mpps_create(self, attributes: Dataset,
                          sop_instance_uid: str | None = None) -> NResult:
        """Start a Modality Performed Procedure Step (N-CREATE, PS3.4 F.7.2.1)."""
        return await mpps.create(self, attributes, sop_instance_uid)

    async def mpps_update(self, sop_instance_uid: str, modifications: Dataset) -> NResult:
        """Update or end a Modality Performed Procedure Step (N-SET, PS3.4 F.7.2.2)."""
        return await mpps.update(self, sop_instance_uid, modifications)
