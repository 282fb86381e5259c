"""Storage Commitment Push Model (PS3.4 Annex J) in both roles.

The SCU asks with an N-ACTION (Action Type 1, "Request Storage Commitment") naming a
Transaction UID and the instances (PS3.4 J.3.2); the SCP answers at once and reports
later with an N-EVENT-REPORT (Event Type 1: all committed; 2: failures exist) carrying
the committed and failed lists (J.3.3). The report goes on the same association if it
is still open; otherwise the SCP opens an association to the SCU's AE title,
proposing the SCP role for the SOP class (J.3.3, PS3.7 D.3.3.4), and the SCU answers
there as the event report receiver.

SCU: :func:`request_commitment` sends the request; a :class:`CommitmentResults`
receives the reports, on the association it is given to as ``on_request`` and on a
:class:`~dicomnet.Server` it is installed on, and :meth:`CommitmentResults.wait` waits
for one transaction's result.

SCP: :class:`CommitmentSCP` answers the request with a ``check`` function deciding
each instance, and delivers the report.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import anyio

from dicomnet.dimse import Status, StatusCategory, category
from dicomnet.errors import DicomNetError
from dicomnet.records import record
from dicomnet.services.normalized import (
    NFailure,
    NormalizedHandlers,
    NormalizedRequest,
    n_action,
    n_event_report,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.association import AssociationDriver
    from dicomnet.config import Timeouts
    from dicomnet.server import Server
    from dicomnet.services.connector import Connect

__all__ = [
    "EVENT_ALL_COMMITTED",
    "EVENT_FAILURES",
    "REQUEST_COMMITMENT",
    "STORAGE_COMMITMENT_INSTANCE",
    "STORAGE_COMMITMENT_PUSH",
    "CommitmentError",
    "CommitmentResult",
    "CommitmentResults",
    "CommitmentSCP",
    "Failed",
    "Reference",
    "references",
    "request_commitment",
]

log = logging.getLogger("dicomnet.commitment")

#: PS3.4 J.3 / PS3.6 Annex A: the Storage Commitment Push Model SOP class.
STORAGE_COMMITMENT_PUSH = "1.2.840.10008.1.20.1"
#: PS3.4 J.3 / PS3.6 Annex A: its well-known SOP instance, the one every request names.
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
#: PS3.4 Table J.3-1: Action Type ID of "Request Storage Commitment".
REQUEST_COMMITMENT = 1
#: PS3.4 Table J.3-2: Event Type ID of a report where every instance was committed.
EVENT_ALL_COMMITTED = 1
#: PS3.4 Table J.3-2: Event Type ID of a report that lists failures.
EVENT_FAILURES = 2

# PS3.4 J.3.3.1.1: Failure Reason (0008,1197) values.
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119
PROCESSING_FAILURE = 0x0110


class CommitmentError(DicomNetError):
    """The SCP refused the storage commitment request, or could not deliver its
    report."""


@record()
class Reference:
    """One instance of a commitment request: Referenced SOP Class / Instance UID."""

    sop_class_uid: str
    sop_instance_uid: str


@record()
class Failed:
    """An instance the SCP did not commit, with its Failure Reason (PS3.4 J.3.3.1.1)."""

    sop_class_uid: str
    sop_instance_uid: str
    reason: int


@record()
class CommitmentResult:
    """One transaction's report (PS3.4 J.3.3): what was committed and what failed."""

    transaction_uid: str
    committed: tuple[Reference, ...]
    failed: tuple[Failed, ...]
    retrieve_ae_title: str | None = None

    @property
    def all_committed(self) -> bool:
        return not self.failed


def references(items: Iterable[Reference | tuple[str, str] | Dataset | str
                                | os.PathLike[str]]) -> list[Reference]:
    """References from (SOP class, SOP instance) pairs, data sets or Part 10 files."""
    result: list[Reference] = []
    for item in items:
        if isinstance(item, Reference):
            result.append(item)
        elif isinstance(item, tuple):
            result.append(Reference(str(item[0]), str(item[1])))
        elif isinstance(item, str | os.PathLike):
            from dicomnet.part10 import read_header

            with open(item, "rb") as fp:
                header = read_header(fp)
            result.append(Reference(header.sop_class_uid, header.sop_instance_uid))
        else:
            result.append(Reference(str(item.SOPClassUID), str(item.SOPInstanceUID)))
    return result


def _sequence(refs: Iterable[Reference | Failed]) -> list[Dataset]:
    from pydicom.dataset import Dataset

    items = []
    for ref in refs:
        item = Dataset()
        item.ReferencedSOPClassUID = ref.sop_class_uid
        item.ReferencedSOPInstanceUID = ref.sop_instance_uid
        if isinstance(ref, Failed):
            item.FailureReason = ref.reason
        items.append(item)
    return items


def _read_references(dataset: Dataset, keyword: str) -> list[Dataset]:
    return list(getattr(dataset, keyword, None) or [])


# -- SCU -----------------------------------------------------------------------------


async def request_commitment(association: AssociationDriver,
                             instances: Iterable[Reference | tuple[str, str] | Dataset
                                                 | str | os.PathLike[str]],
                             *, transaction_uid: str | None = None) -> str:
    """Ask the peer to commit ``instances`` (PS3.4 J.3.2); returns the Transaction UID
    the report will carry. Raises :class:`CommitmentError` if the SCP refuses."""
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    transaction = transaction_uid or str(generate_uid())
    information = Dataset()
    information.TransactionUID = transaction
    information.ReferencedSOPSequence = _sequence(references(instances))
    result = await n_action(association, STORAGE_COMMITMENT_PUSH,
                            STORAGE_COMMITMENT_INSTANCE, REQUEST_COMMITMENT, information)
    if category(result.status) not in (StatusCategory.SUCCESS, StatusCategory.WARNING):
        raise CommitmentError(f"storage commitment request refused: status "
                              f"0x{result.status:04X}"
                              + (f" ({result.error_comment})" if result.error_comment
                                 else ""))
    return transaction


class CommitmentResults:
    """The SCU's side of the report: keeps every result by Transaction UID.

    Give :attr:`on_request` to :func:`dicomnet.connect` to receive reports on the
    association that asked, and :meth:`install` it on a server (listening as the AE
    title the SCP knows us by) to receive reports the SCP sends on a new association.
    """

    def __init__(self) -> None:
        self._results: dict[str, CommitmentResult] = {}
        self._arrived: dict[str, anyio.Event] = {}
        self.on_request = NormalizedHandlers()
        self.on_request.add(STORAGE_COMMITMENT_PUSH, "N-EVENT-REPORT", self.on_event_report)

    def install(self, server: Server) -> None:
        """Receive reports on ``server`` (which then accepts the SOP class with the
        SCP role for the requestor, PS3.4 J.3.3)."""
        server.on_normalized(STORAGE_COMMITMENT_PUSH, "N-EVENT-REPORT")(
            self.on_event_report)

    def _event(self, transaction_uid: str) -> anyio.Event:
        event = self._arrived.get(transaction_uid)
        if event is None:
            event = self._arrived[transaction_uid] = anyio.Event()
        return event

    def get(self, transaction_uid: str) -> CommitmentResult | None:
        return self._results.get(transaction_uid)

    async def wait(self, transaction_uid: str) -> CommitmentResult:
        """The result of ``transaction_uid``, waiting for its report as long as it
        takes: bound the wait with ``anyio.fail_after``."""
        await self._event(transaction_uid).wait()
        return self._results[transaction_uid]

    async def on_event_report(self, request: NormalizedRequest) -> int:
        """Answer an N-EVENT-REPORT of the SOP class (PS3.4 J.3.3.2)."""
        if request.event_type_id not in (EVENT_ALL_COMMITTED, EVENT_FAILURES):
            raise NFailure(Status.NO_SUCH_EVENT_TYPE,
                           f"event type {request.event_type_id} is not 1 or 2 (PS3.4 J.3.3)")
        dataset = request.dataset
        transaction = str(getattr(dataset, "TransactionUID", "") or "") if dataset else ""
        if dataset is None or not transaction:
            raise NFailure(Status.MISSING_ATTRIBUTE, "no Transaction UID",
                           offending=[0x00081195])
        committed = tuple(Reference(str(item.get("ReferencedSOPClassUID", "")),
                                    str(item.get("ReferencedSOPInstanceUID", "")))
                          for item in _read_references(dataset, "ReferencedSOPSequence"))
        failed = tuple(Failed(str(item.get("ReferencedSOPClassUID", "")),
                              str(item.get("ReferencedSOPInstanceUID", "")),
                              int(item.get("FailureReason", PROCESSING_FAILURE)))
                       for item in _read_references(dataset, "FailedSOPSequence"))
        retrieve = getattr(dataset, "RetrieveAETitle", None)
        self._results[transaction] = CommitmentResult(
            transaction, committed, failed, str(retrieve) if retrieve else None)
        log.info("storage commitment %s: %d committed, %d failed (from %s)", transaction,
                 len(committed), len(failed), request.association.calling_ae_title)
        self._event(transaction).set()
        return Status.SUCCESS


# -- SCP -----------------------------------------------------------------------------

#: Decides one instance: None when it is committed, else the Failure Reason.
Check = Callable[[Reference], Awaitable[int | None]]


class CommitmentSCP:
    """Answers storage commitment requests and delivers the reports (PS3.4 J.3).

    ``check`` decides each referenced instance (None: committed, else the Failure
    Reason). ``destinations(ae_title)`` gives the (host, port) of an SCU whose
    association is gone by report time; ``ae_title`` is our calling AE title there, and
    ``connect`` opens that association: by default the ``connect`` of the server the
    SCP is installed on (:attr:`dicomnet.Server.connect`), as a service does not import
    the client. ``report_timeout`` bounds the whole delivery of one report.

    ``report_delay`` is a pause between the N-ACTION response and the report. An SCU
    that releases as soon as it has the response cannot answer a report that crosses
    its A-RELEASE-RQ (PS3.8 Table 9-10 has no P-DATA request in Sta7; pynetdicom's
    reactor thread dies on it): the pause lets such an SCU finish releasing, so its
    report goes on a new association, while an SCU that waits on the association
    gets it there a moment later.
    """

    def __init__(self, check: Check, *, ae_title: str,
                 destinations: Callable[[str], tuple[str, int] | None],
                 retrieve_ae_title: str | None = None, timeouts: Timeouts | None = None,
                 report_delay: float = 0.5, report_timeout: float = 120.0,
                 connect: Connect | None = None) -> None:
        self.check = check
        self.connect = connect
        self._server: Server | None = None  # the one installed on, for its connect
        self.ae_title = ae_title
        self.destinations = destinations
        self.retrieve_ae_title = retrieve_ae_title
        self.timeouts = timeouts
        self.report_delay = report_delay
        self.report_timeout = report_timeout
        #: Reports delivered, as (transaction UID, "same" or "new" association).
        self.delivered: list[tuple[str, str]] = []

    def install(self, server: Server) -> None:
        """Answer requests on ``server``; reports on a new association go through its
        ``connect`` (the one it has at report time) unless one was given here."""
        server.on_normalized(STORAGE_COMMITMENT_PUSH, "N-ACTION")(self.on_action)
        self._server = server

    async def on_action(self, request: NormalizedRequest) -> int:
        """Validate the request (PS3.4 J.3.2.2), answer, then report after the
        response has gone."""
        if request.sop_instance_uid != STORAGE_COMMITMENT_INSTANCE:
            # J.3.2: the request is addressed to the well-known SOP instance.
            raise NFailure(Status.NO_SUCH_SOP_INSTANCE,
                           "not the well-known instance 1.2.840.10008.1.20.1.1")
        if request.action_type_id != REQUEST_COMMITMENT:
            raise NFailure(Status.NO_SUCH_ACTION,
                           f"action type {request.action_type_id} is not 1 (PS3.4 J.3.2)")
        dataset = request.dataset
        transaction = str(getattr(dataset, "TransactionUID", "") or "") if dataset else ""
        if dataset is None or not transaction:
            raise NFailure(Status.MISSING_ATTRIBUTE, "no Transaction UID",
                           offending=[0x00081195])
        items = _read_references(dataset, "ReferencedSOPSequence")
        if not items:
            raise NFailure(Status.MISSING_ATTRIBUTE, "no Referenced SOP Sequence",
                           offending=[0x00081199])
        refs = [Reference(str(item.get("ReferencedSOPClassUID", "")).strip(),
                          str(item.get("ReferencedSOPInstanceUID", "")).strip())
                for item in items]
        association = request.association
        scu = association.calling_ae_title.strip()

        async def report() -> None:
            await self._report(association, scu, transaction, refs)

        request.after_response(report)
        return Status.SUCCESS

    async def _report(self, association: AssociationDriver, scu: str, transaction: str,
                      refs: Sequence[Reference]) -> None:
        """Decide, then deliver, bounded by ``report_timeout``. It runs as a task of
        the association (AssociationDriver.start_task), which outlives the association's end
        (the report must) and is cancelled at server shutdown after the grace period."""
        with anyio.move_on_after(self.report_timeout):
            try:
                event_type, information = await self._decide(transaction, refs)
                if self.report_delay > 0 and association.is_established:
                    with anyio.move_on_after(self.report_delay):
                        await association.wait_closed()
                if association.is_established and await self._on_same(
                        association, event_type, information):
                    self.delivered.append((transaction, "same"))
                    return
                await self._on_new(scu, event_type, information)
                self.delivered.append((transaction, "new"))
            except Exception:
                log.exception("storage commitment %s: the report to %s was not delivered",
                              transaction, scu)

    async def _decide(self, transaction: str, refs: Sequence[Reference]
                      ) -> tuple[int, Dataset]:
        from pydicom.dataset import Dataset

        committed: list[Reference] = []
        failed: list[Failed] = []
        for ref in refs:
            try:
                reason = await self.check(ref)
            except Exception:
                log.exception("storage commitment check of %s failed", ref.sop_instance_uid)
                reason = PROCESSING_FAILURE
            if reason is None:
                committed.append(ref)
            else:
                failed.append(Failed(ref.sop_class_uid, ref.sop_instance_uid, reason))
        information = Dataset()
        information.TransactionUID = transaction
        if self.retrieve_ae_title and committed:
            information.RetrieveAETitle = self.retrieve_ae_title
        if committed:
            information.ReferencedSOPSequence = _sequence(committed)
        if failed:
            # PS3.4 Table J.3-2: Event Type 2 carries the Failed SOP Sequence (and the
            # committed ones, if any, in the Referenced SOP Sequence).
            information.FailedSOPSequence = _sequence(failed)
        log.info("storage commitment %s: %d committed, %d failed", transaction,
                 len(committed), len(failed))
        return (EVENT_FAILURES if failed else EVENT_ALL_COMMITTED), information

    async def _on_same(self, association: AssociationDriver, event_type: int,
                       information: Dataset) -> bool:
        """Report on the requesting association; False if it ends meanwhile or the
        SCU does not take the report there."""
        delivered = False
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await association.wait_closed()
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            try:
                result = await n_event_report(association, STORAGE_COMMITMENT_PUSH,
                                              STORAGE_COMMITMENT_INSTANCE, event_type,
                                              information)
                delivered = result.status == Status.SUCCESS
                if not delivered:
                    log.info("%r refused the commitment report on this association "
                             "(0x%04X); opening a new one", association, result.status)
            except DicomNetError as exc:
                log.info("%r: commitment report not delivered there: %s", association, exc)
            tg.cancel_scope.cancel()
        return delivered

    async def _on_new(self, scu: str, event_type: int, information: Dataset) -> None:
        """Report on a new association to the SCU, as the SOP class's SCP (J.3.3)."""
        address = self.destinations(scu)
        if address is None:
            raise CommitmentError(f"the association of {scu} has ended and its address "
                                  "is unknown (configure it as a destination)")
        connect = self.connect if self.connect is not None \
            else None if self._server is None else self._server.connect
        if connect is None:
            raise CommitmentError("no connect function to reach the SCU with: install "
                                  "the SCP on a server, or give it connect=")
        host, port = address
        async with connect(host, port, called_ae=scu, calling_ae=self.ae_title,
                           contexts=[STORAGE_COMMITMENT_PUSH], timeouts=self.timeouts,
                           roles={STORAGE_COMMITMENT_PUSH: (False, True)}) as sub:
            result = await n_event_report(sub, STORAGE_COMMITMENT_PUSH,
                                          STORAGE_COMMITMENT_INSTANCE, event_type,
                                          information)
        if result.status != Status.SUCCESS:
            raise CommitmentError(f"{scu} answered the report with 0x{result.status:04X}")
