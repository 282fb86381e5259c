"""The events of one association (:mod:`dicomnet.events`), made where they happen.

The driver calls one method per thing that happened; each builds the record and hands
it to the log (:func:`dicomnet.event_log.log_event`, the subscriber that is always
there) and to the application's :class:`~dicomnet.events.EventHub`. The association's
own events (opened, requested, accepted, rejected, released, aborted, closed) are few
and always made; those of each DIMSE message and PDU only while someone listens (the
hub, or their layer's logger at DEBUG), so a busy unobserved server does not pay for
them.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import TYPE_CHECKING, Literal

from dicomnet import events as ev
from dicomnet.event_log import log_event
from dicomnet.pdu import PDU, PDataTF, encode_pdu
from dicomnet.pdu.constants import PDUType

if TYPE_CHECKING:
    from dicomnet.acse import AcceptedContext, Negotiated
    from dicomnet.connection_events import Response
    from dicomnet.dimse import DIMSEMessage
    from dicomnet.incoming_request import IncomingRequest
    from dicomnet.pdu import AAssociateRJ, AAssociateRQ

__all__ = ["AssociationEvents"]

dimse_log = logging.getLogger("dicomnet.dimse")
pdu_log = logging.getLogger("dicomnet.pdu")

#: Association IDs in events: one per connection, unique in the process.
_association_ids = itertools.count(1)


class AssociationEvents:
    """Makes and delivers the events of one association."""

    def __init__(self, hub: ev.EventHub | None, role: Literal["requestor", "acceptor"],
                 peer: tuple[str, int] | None) -> None:
        self.hub = hub
        self.info = ev.AssociationInfo(
            id=next(_association_ids), role=role,
            peer_address=peer[0] if peer else None, peer_port=peer[1] if peer else None)
        self._opened = time.monotonic()
        self._sent_at: dict[int, float] = {}  # our requests' send times, when watched
        self._closed = False
        #: Whether anyone listens to the DIMSE message events and to the PDU events:
        #: :meth:`refresh` reads it again; the driver does at each read, and tests
        #: these flags before it calls the methods of those layers.
        self.messages = self.pdus = False
        self.refresh()

    def emit(self, event: ev.Event, *, log: bool = True) -> None:
        """One event: to the log, then to the application."""
        if log:
            log_event(event)
        if self.hub is not None:
            self.hub.emit(event)

    def watching(self, logger: logging.Logger) -> bool:
        """Whether events of ``logger``'s layer (DIMSE messages, PDUs: many per
        association) have anyone to go to; only then are they built."""
        return (self.hub is not None and self.hub.active) or logger.isEnabledFor(logging.DEBUG)

    def refresh(self) -> None:
        """Look again whether anyone listens (a subscriber, or a logger at DEBUG)."""
        self.messages = self.watching(dimse_log)
        self.pdus = self.watching(pdu_log)

    def since_opened(self) -> float:
        return time.monotonic() - self._opened

    # -- the association -------------------------------------------------------------------

    def opened(self) -> None:
        """The transport connection is there (accepted, or connected to)."""
        self._opened = time.monotonic()
        info = self.info
        self.emit(ev.ConnectionOpened(peer_address=info.peer_address,
                                      peer_port=info.peer_port, role=info.role,
                                      association_id=info.id))

    def name(self, request: AAssociateRQ) -> None:
        """From now on the events name the AE titles of ``request``."""
        info = self.info
        if info.calling_ae_title is None:
            self.info = ev.AssociationInfo(
                id=info.id, role=info.role, peer_address=info.peer_address,
                peer_port=info.peer_port, calling_ae_title=request.calling_ae_title,
                called_ae_title=request.called_ae_title)

    def requested(self, request: AAssociateRQ) -> None:
        """An A-ASSOCIATE-RQ was sent or received."""
        self.name(request)
        self.emit(ev.AssociationRequested(association=self.info, request=request))

    def accepted(self, negotiated: Negotiated) -> None:
        self.emit(ev.AssociationAccepted(association=self.info, negotiated=negotiated,
                                         duration=self.since_opened()))

    def rejected(self, rejection: AAssociateRJ, text: str, *, log: bool = True) -> None:
        self.emit(ev.AssociationRejected(association=self.info, result=rejection.result,
                                         source=rejection.source, reason=rejection.reason,
                                         text=text), log=log)

    def released(self) -> None:
        self.emit(ev.AssociationReleased(association=self.info,
                                         duration=self.since_opened()))

    def aborted(self, source: int | None, reason: int | None, text: str, *,
                local: bool) -> None:
        self.emit(ev.AssociationAborted(association=self.info, source=source,
                                        reason=reason, text=text, local=local))

    def closed(self) -> None:
        """The transport connection is gone (once, whatever closed it)."""
        if not self._closed:
            self._closed = True
            self.emit(ev.ConnectionClosed(association=self.info,
                                          duration=self.since_opened()))

    # -- DIMSE messages -------------------------------------------------------------------

    # Called only while ``messages`` is true.

    def request_received(self, context: AcceptedContext, message: DIMSEMessage,
                         dataset: bytes | None) -> None:
        self.emit(ev.RequestReceived(
            association=self.info, context_id=context.context_id,
            abstract_syntax=context.abstract_syntax, message=message,
            dataset_size=None if dataset is None else len(dataset)))

    def request_answered(self, incoming: IncomingRequest, response: DIMSEMessage,
                         dataset: object) -> None:
        """Our final response to the peer's request went out."""
        size = len(dataset) if isinstance(dataset, bytes | bytearray | memoryview) else None
        self.emit(ev.RequestAnswered(
            association=self.info, request=incoming.message, response=response,
            status=int(getattr(response, "status", 0)),
            duration=time.monotonic() - incoming.arrived_at, dataset_size=size,
            pending_responses=incoming.pending_sent))

    def request_sent(self, context: AcceptedContext, message: DIMSEMessage,
                     dataset_size: int | None) -> None:
        """Our request went out; its time is kept for the response's event."""
        self._sent_at[int(message.message_id)] = time.monotonic()  # type: ignore[union-attr]
        self.emit(ev.RequestSent(association=self.info, context_id=context.context_id,
                                 abstract_syntax=context.abstract_syntax, message=message,
                                 dataset_size=dataset_size))

    def response_received(self, request: DIMSEMessage | None, request_id: int,
                          response: Response) -> None:
        sent_at = self._sent_at.get(request_id)
        self.emit(ev.ResponseReceived(
            association=self.info, request=request, response=response.message,
            status=response.status, pending=response.is_pending,
            duration=0.0 if sent_at is None else time.monotonic() - sent_at,
            dataset_size=None if response.raw_dataset is None
            else len(response.raw_dataset)))

    def request_ended(self, message_id: int) -> None:
        if self._sent_at:
            self._sent_at.pop(message_id, None)

    # -- PDUs ------------------------------------------------------------------------------

    def pdu_sent(self, pdu: PDU) -> None:
        self.emit(ev.PDUSent(association=self.info, pdu_type=pdu.pdu_type,
                             length=_pdu_length(pdu)))

    def pdata_written(self, length: int) -> None:
        """P-DATA-TF PDUs written together (``length`` bytes: one or several PDUs)."""
        self.emit(ev.PDUSent(association=self.info, pdu_type=PDUType.P_DATA_TF,
                             length=length))

    def pdu_received(self, pdu: PDU) -> None:
        self.emit(ev.PDUReceived(association=self.info, pdu_type=pdu.pdu_type,
                                 length=_pdu_length(pdu)))


def _pdu_length(pdu: PDU) -> int:
    """A PDU's whole length on the wire (PS3.8 §9.3): header and body."""
    if isinstance(pdu, PDataTF):  # no need to encode the data again
        return 6 + sum(6 + len(pdv.data) for pdv in pdu.pdvs)
    return len(encode_pdu(pdu))
