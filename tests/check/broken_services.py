"""Servers for the services group of ``dicomnet check``: a worklist, storage
commitment and MPPS SCP built from dicomnet's own service classes, with one flag per
broken rule (a Server with no flag set breaks none)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydicom import Dataset
from pydicom.uid import generate_uid

from dicomnet import IncomingRequest, Server
from dicomnet.archive.matching import identifier_matches, return_identifier
from dicomnet.association import AssociationDriver
from dicomnet.check.sop_classes import WORKLIST_FIND
from dicomnet.services.commitment import NO_SUCH_OBJECT_INSTANCE, CommitmentSCP, Reference
from dicomnet.services.mpps import MPPSSCP
from dicomnet.services.normalized import NormalizedRequest


def worklist_items() -> list[Dataset]:
    """Five items, three CT and two MR steps, so matching on MR shows a peer that
    ignored the key."""
    items = []
    for number, modality in enumerate(["CT", "MR", "CT", "CT", "MR"]):
        step = Dataset()
        step.Modality = modality
        step.ScheduledStationAETitle = "SCANNER"
        step.ScheduledProcedureStepStartDate = "20260101"
        step.ScheduledProcedureStepStartTime = "0900"
        step.ScheduledProcedureStepID = f"SPS{number}"
        step.ScheduledProcedureStepDescription = "exam"
        item = Dataset()
        item.PatientName = f"DOE^P{number}"
        item.PatientID = f"P{number}"
        item.AccessionNumber = f"A{number}"
        item.RequestedProcedureID = f"RP{number}"
        item.StudyInstanceUID = generate_uid()
        item.ScheduledProcedureStepSequence = [step]
        items.append(item)
    return items


class _ModifiableMPPS(MPPSSCP):
    """Forgets that a step was COMPLETED before each N-SET (PS3.4 F.7.2.2 broken)."""

    async def on_set(self, request: NormalizedRequest) -> int:
        step = self.store.get(request.sop_instance_uid)
        if step is not None:
            step.PerformedProcedureStepStatus = "IN PROGRESS"
        return await super().on_set(request)


class _ReportingElsewhere(CommitmentSCP):
    """Reports only on a new association (as Orthanc does, PS3.4 J.3.3 allows it),
    with another Transaction UID than the request's when ``wrong_transaction``."""

    def __init__(self, *args: Any, wrong_transaction: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wrong_transaction = wrong_transaction

    async def _decide(self, transaction: str, refs: Sequence[Reference]
                      ) -> tuple[int, Dataset]:
        event_type, information = await super()._decide(transaction, refs)
        if self.wrong_transaction:
            information.TransactionUID = generate_uid()
        return event_type, information

    async def _on_same(self, association: AssociationDriver, event_type: int,
                       information: Dataset) -> bool:
        return False


def services_server(*, ignore_modality: bool = False, commit_unknown: bool = False,
                    modifiable_mpps: bool = False, report_to: tuple[str, int] | None = None,
                    wrong_transaction: bool = False) -> Server:
    """Storage, worklist, commitment and MPPS SCP. ``ignore_modality``: worklist
    matching drops the Modality key inside the step sequence; ``commit_unknown``: the
    commitment report lists instances it never received as committed;
    ``modifiable_mpps``: a COMPLETED step still takes N-SETs. ``report_to``: the
    commitment report goes on a new association to this address (whatever AE title
    asked), never on the requesting one; ``wrong_transaction``: it names a Transaction
    UID other than the one asked."""
    server = Server("BROKEN")
    stored: set[str] = set()
    items = worklist_items()

    @server.on_store()
    async def store(request: IncomingRequest) -> int:
        assert request.dataset is not None
        stored.add(str(request.dataset.SOPInstanceUID))
        return 0

    @server.on_find(sop_classes=[WORKLIST_FIND])
    async def find(request: IncomingRequest) -> AsyncIterator[Dataset]:
        query = request.dataset
        assert query is not None
        if ignore_modality:
            for step in query.get("ScheduledProcedureStepSequence") or []:
                step.Modality = ""
        for item in items:
            if identifier_matches(query, item):
                yield return_identifier(query, item)

    async def decide(ref: Reference) -> int | None:
        if commit_unknown or ref.sop_instance_uid in stored:
            return None
        return NO_SUCH_OBJECT_INSTANCE

    if report_to is None:
        CommitmentSCP(decide, ae_title="BROKEN", destinations=lambda _ae: None,
                      report_delay=0.1).install(server)
    else:
        _ReportingElsewhere(decide, ae_title="BROKEN", destinations=lambda _ae: report_to,
                            report_delay=0, wrong_transaction=wrong_transaction
                            ).install(server)
    (_ModifiableMPPS() if modifiable_mpps else MPPSSCP()).install(server)
    return server


__all__ = ["services_server", "worklist_items"]
