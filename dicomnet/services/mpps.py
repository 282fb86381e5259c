"""Modality Performed Procedure Step (PS3.4 Annex F): N-CREATE and N-SET in both roles.

A modality creates a step IN PROGRESS (N-CREATE) and later sets it COMPLETED or
DISCONTINUED (N-SET). The SCP keeps the steps in an :class:`MPPSStore` and enforces the
state rules of PS3.4 F.7.2 / Table F.7.2-1: a step is created IN PROGRESS, may move from
IN PROGRESS to COMPLETED or DISCONTINUED, and may not change at all after that (N-SET
status 0110, Error ID A710, with the standard's error comment, F.7.2.2.4).
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Protocol

from dicomnet.dimse import Status
from dicomnet.services.normalized import NFailure, NormalizedRequest, NResult, n_create, n_set

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.association import AssociationDriver
    from dicomnet.server import Server

__all__ = [
    "COMPLETED",
    "DISCONTINUED",
    "IN_PROGRESS",
    "MPPS",
    "MPPSSCP",
    "NO_LONGER_UPDATABLE",
    "MPPSStore",
    "MemoryMPPSStore",
    "create",
    "update",
]

log = logging.getLogger("dicomnet.mpps")

#: PS3.4 F.7.3 / PS3.6 Annex A: Modality Performed Procedure Step SOP Class.
MPPS = "1.2.840.10008.3.1.2.3.3"

#: Performed Procedure Step Status (0040,0252) values, PS3.3 C.4.14: the step's state
#: from its N-CREATE on.
IN_PROGRESS = "IN PROGRESS"
#: The step ended as planned; no N-SET may change it afterwards (PS3.4 F.7.2.2).
COMPLETED = "COMPLETED"
#: The step was stopped; no N-SET may change it afterwards (PS3.4 F.7.2.2).
DISCONTINUED = "DISCONTINUED"
_STATES = (IN_PROGRESS, COMPLETED, DISCONTINUED)
_FINAL = (COMPLETED, DISCONTINUED)
_STATUS_TAG = 0x00400252

#: PS3.4 F.7.2.2.4 (Table F.7.2-2): the N-SET failure for a step already COMPLETED or
#: DISCONTINUED: status 0110 with this Error Comment and Error ID A710.
NO_LONGER_UPDATABLE = "Performed Procedure Step Object may no longer be updated"
NO_LONGER_UPDATABLE_ID = 0xA710

#: Attributes an N-SET may not change (PS3.4 F.7.2.2: the instance's identity).
_FIXED = frozenset({0x00080016, 0x00080018})


# -- SCU -----------------------------------------------------------------------------


async def create(association: AssociationDriver, attributes: Dataset,
                 sop_instance_uid: str | None = None) -> NResult:
    """N-CREATE a step (PS3.4 F.7.2.1); its Performed Procedure Step Status must be
    IN PROGRESS. Without ``sop_instance_uid`` the SCP chooses it
    (``result.sop_instance_uid``)."""
    return await n_create(association, MPPS, sop_instance_uid, attributes)


async def update(association: AssociationDriver, sop_instance_uid: str,
                 modifications: Dataset) -> NResult:
    """N-SET a step (PS3.4 F.7.2.2): new values, or the final state with
    Performed Procedure Step Status COMPLETED or DISCONTINUED."""
    return await n_set(association, MPPS, sop_instance_uid, modifications)


# -- SCP -----------------------------------------------------------------------------


class MPPSStore(Protocol):
    """Where an SCP keeps its steps."""

    def get(self, sop_instance_uid: str) -> Dataset | None:
        """The step's attributes, or None when there is no such step."""

    def put(self, sop_instance_uid: str, dataset: Dataset) -> None:
        """Record the step's attributes (new or updated)."""


class MemoryMPPSStore:
    """Steps kept in memory (tests, examples, short-lived SCPs)."""

    def __init__(self) -> None:
        self.steps: dict[str, Dataset] = {}

    def get(self, sop_instance_uid: str) -> Dataset | None:
        return self.steps.get(sop_instance_uid)

    def put(self, sop_instance_uid: str, dataset: Dataset) -> None:
        self.steps[sop_instance_uid] = dataset


def _status_of(dataset: Dataset) -> str | None:
    element = dataset.get(_STATUS_TAG)
    if element is None:
        return None
    return str(element.value or "").strip()


class MPPSSCP:
    """Answers N-CREATE and N-SET of the MPPS SOP class with the state rules."""

    def __init__(self, store: MPPSStore | None = None) -> None:
        self.store: MPPSStore = store if store is not None else MemoryMPPSStore()

    def install(self, server: Server) -> None:
        server.on_normalized(MPPS, "N-CREATE")(self.on_create)
        server.on_normalized(MPPS, "N-SET")(self.on_set)

    async def on_create(self, request: NormalizedRequest) -> int:
        """PS3.4 F.7.2.1.2: create the step, which must be IN PROGRESS."""
        uid = request.sop_instance_uid
        attributes = request.dataset
        if attributes is None:
            raise NFailure(Status.MISSING_ATTRIBUTE, "no attribute list",
                           offending=[_STATUS_TAG])
        if self.store.get(uid) is not None:
            raise NFailure(Status.DUPLICATE_SOP_INSTANCE,
                           "a step with this SOP Instance UID exists")
        state = _status_of(attributes)
        if not state:
            raise NFailure(Status.MISSING_ATTRIBUTE_VALUE if state == "" else
                           Status.MISSING_ATTRIBUTE,
                           "Performed Procedure Step Status is required",
                           offending=[_STATUS_TAG])
        if state != IN_PROGRESS:
            # Table F.7.2-1: N-CREATE "shall be IN PROGRESS".
            raise NFailure(Status.INVALID_ATTRIBUTE_VALUE,
                           f"a new step is IN PROGRESS, not {state}",
                           offending=[_STATUS_TAG])
        step = copy.deepcopy(attributes)
        step.SOPClassUID = MPPS
        step.SOPInstanceUID = uid
        self.store.put(uid, step)
        log.info("MPPS %s created (%s) by %s", uid, state,
                 request.association.calling_ae_title)
        return Status.SUCCESS

    async def on_set(self, request: NormalizedRequest) -> int:
        """PS3.4 F.7.2.2.2: update a step still IN PROGRESS; a step COMPLETED or
        DISCONTINUED may no longer be updated."""
        uid = request.sop_instance_uid
        step = self.store.get(uid)
        if step is None:
            raise NFailure(Status.NO_SUCH_SOP_INSTANCE, "no such Performed Procedure Step")
        current = _status_of(step) or IN_PROGRESS
        if current in _FINAL:
            raise NFailure(Status.PROCESSING_FAILURE, NO_LONGER_UPDATABLE,
                           error_id=NO_LONGER_UPDATABLE_ID)
        modifications = request.dataset
        if modifications is None:
            raise NFailure(Status.MISSING_ATTRIBUTE, "no modification list")
        if _STATUS_TAG in modifications:
            state = _status_of(modifications)
            if state not in _STATES:
                raise NFailure(Status.INVALID_ATTRIBUTE_VALUE,
                               f"{state!r} is not a Performed Procedure Step Status",
                               offending=[_STATUS_TAG])
        updated = copy.deepcopy(step)
        for element in modifications:
            if int(element.tag) in _FIXED:
                continue
            updated[element.tag] = copy.deepcopy(element)
        self.store.put(uid, updated)
        log.info("MPPS %s set (%s -> %s) by %s", uid, current,
                 _status_of(updated), request.association.calling_ae_title)
        return Status.SUCCESS
