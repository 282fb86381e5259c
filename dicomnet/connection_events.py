"""What a :class:`~dicomnet.connection.DicomConnection` tells its driver, as records.

Each record is one thing the peer did (or the connection decided because of it); the
driver reacts to it: wakes the requester waiting for a response, starts a handler,
logs. They are the connection's vocabulary, not the application's: applications watch
:mod:`dicomnet.events`, which the driver emits.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING

from dicomnet.acse import AcceptedContext, Negotiated
from dicomnet.dimse import DIMSEMessage, StatusCategory, category, decode_dataset
from dicomnet.dimse.dicom_json import dictionary_vr
from dicomnet.dimse.elements import Element, elements
from dicomnet.dimse.integrity import Damage
from dicomnet.pdu import PDU, AAssociateRJ, AAssociateRQ
from dicomnet.records import record

if TYPE_CHECKING:
    from pydicom import Dataset

    from dicomnet.dataset_io import DatasetSink

__all__ = [
    "Aborted",
    "AssociateRequested",
    "CancelArrived",
    "ConnectionEvent",
    "Established",
    "Outcome",
    "PDUReceived",
    "Rejected",
    "ReleaseRequested",
    "Released",
    "RequestArrived",
    "Response",
    "ResponseArrived",
    "SinkFailed",
    "StrayResponse",
]


class Outcome(StrEnum):
    """Where an association stands; its end is one of the last four, for good."""

    NEGOTIATING = ""
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RELEASED = "released"
    ABORTED = "aborted"


class Response:
    """A DIMSE response to one of our requests, with its data set still encoded.

    Kept encoded because most responses are read for their status only, and a C-FIND
    can bring thousands: decoding is paid by the caller that asks for :attr:`dataset`
    (or reads :meth:`elements`, which skips pydicom).
    """

    def __init__(self, message: DIMSEMessage, context: AcceptedContext,
                 raw_dataset: bytes | None = None) -> None:
        #: The response message (:class:`~dicomnet.dimse.messages.CFindRSP`, ...), with
        #: its status, Error Comment and the fields PS3.7 gives that response.
        self.message = message
        #: The presentation context it came on: its abstract syntax and the transfer
        #: syntax :attr:`raw_dataset` is encoded in.
        self.context = context
        #: The data set as received (identifier, attribute list...), or None when the
        #: response has none.
        self.raw_dataset = raw_dataset
        #: Whether more responses follow (status Pending: C-FIND matches, C-GET and
        #: C-MOVE progress).
        self.is_pending = category(int(getattr(message, "status", 0))) \
            == StatusCategory.PENDING

    def __repr__(self) -> str:
        return f"Response({self.message!r}, context {self.context.context_id})"

    @property
    def status(self) -> int:
        """The Status (0000,0900) of the response (see :class:`~dicomnet.dimse.Status`)."""
        return int(getattr(self.message, "status", 0))

    @property
    def status_category(self) -> StatusCategory:
        """Success, warning, failure, cancel or pending (PS3.7 Annex C)."""
        return self.message.status_category  # type: ignore[union-attr]

    @cached_property
    def dataset(self) -> Dataset | None:
        """The response's data set (identifier, attribute list...), decoded on first use."""
        if self.raw_dataset is None:
            return None
        return decode_dataset(self.raw_dataset, self.context.transfer_syntax)

    def elements(self) -> list[Element] | None:
        """The data set's elements without pydicom (values as received; see
        dicomnet.dimse.elements): None without a data set, or one only pydicom reads."""
        if self.raw_dataset is None:
            return None
        return elements(self.raw_dataset, self.context.transfer_syntax, dictionary_vr)


@record()
class AssociateRequested:
    """Acceptor: a whole A-ASSOCIATE-RQ came; answer with ``accept`` or ``reject``."""

    request: AAssociateRQ


@record()
class Established:
    """Requestor: the A-ASSOCIATE-AC came and is usable; data may flow."""

    negotiated: Negotiated


@record()
class Rejected:
    """Requestor: the peer answered A-ASSOCIATE-RJ."""

    rejection: AAssociateRJ


@record()
class ReleaseRequested:
    """The peer asked to release (answered by the connection itself: a well-behaved
    peer releases only when nothing is outstanding, PS3.7 D.3.3.3)."""

    collision: bool


@record()
class Released:
    """The association is released; the transport closes next."""


@record()
class Aborted:
    """The association ended without a release: an A-ABORT either way, a PDU or
    DIMSE message we could not accept (``local``: we sent the A-ABORT), or the
    transport closing under it."""

    text: str
    source: int | None
    reason: int | None
    local: bool


@record()
class RequestArrived:
    """A whole DIMSE request from the peer, its data set in memory or in its sink."""

    context: AcceptedContext
    message: DIMSEMessage
    dataset: bytes | None
    sink: DatasetSink | None
    sink_error: Exception | None
    damage: Damage | None


@record()
class ResponseArrived:
    """A response to our request ``request_id``."""

    request_id: int
    response: Response


@record()
class StrayResponse:
    """A response naming a Message ID we have no request for (ignored)."""

    message: DIMSEMessage


@record()
class CancelArrived:
    """A C-CANCEL-RQ for request ``request_id``, which is still being performed
    (PS3.7 §9.3.2.3)."""

    request_id: int


@record()
class SinkFailed:
    """The sink factory raised for a request's data set: it will be dropped as it comes,
    and the request arrives with ``sink_error`` set."""

    message: DIMSEMessage
    error: Exception


@record()
class PDUReceived:
    """A whole PDU came (only reported when the driver asks, for debug logs)."""

    pdu: PDU


ConnectionEvent = (AssociateRequested | Established | Rejected | ReleaseRequested | Released
                   | Aborted | RequestArrived | ResponseArrived | StrayResponse
                   | CancelArrived | SinkFailed | PDUReceived)
"""Anything :meth:`~dicomnet.connection.DicomConnection.receive_data` may return: one of
the record classes of this module.

:meta hide-value:
"""
