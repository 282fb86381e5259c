"""The standard logging subscriber: each event as one log record.

:func:`log_event` is what the server and :func:`~dicomnet.client.connect` subscribe to
their :class:`~dicomnet.events.EventHub`, so the log says what an application
watching the events sees, no more, no less. One logger per layer, so that each can be
turned up or down on its own:

- ``dicomnet.association``: associations requested, accepted, released (INFO),
  rejected, aborted (WARNING); connections opened and closed (DEBUG);
- ``dicomnet.dimse``: every DIMSE request and response, sent or received (DEBUG);
- ``dicomnet.pdu``: every PDU, type and length (DEBUG).

Each record carries the event's flat fields as attributes named ``dicomnet_<field>``
(``record.dicomnet_association_id``, ``record.dicomnet_status``, ...; the prefix keeps
them from clashing with :class:`logging.LogRecord`'s own), for a JSON formatter or a
filter. The message names the association as ``CALLING->CALLED [address:port]``.
Peer-supplied text (AE titles, reasons, error comments) is escaped and cut with
:func:`~dicomnet.logtext.peer_text`, in the message and in the fields alike, so a
newline from the peer cannot forge a second record. Data set contents and SOP Instance
UIDs are never logged: at WARNING and ERROR no line names a patient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dicomnet.dimse.status import category
from dicomnet.events import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    AssociationReleased,
    AssociationRequested,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    PDUReceived,
    PDUSent,
    RequestAnswered,
    RequestReceived,
    RequestSent,
    ResponseReceived,
    command_name,
)
from dicomnet.logtext import peer_text

__all__ = ["FIELD_PREFIX", "log_event", "logger_and_level"]

#: What the event's flat fields are called on a log record: ``dicomnet_status``, ...
FIELD_PREFIX = "dicomnet_"

_association_log = logging.getLogger("dicomnet.association")
_dimse_log = logging.getLogger("dicomnet.dimse")
_pdu_log = logging.getLogger("dicomnet.pdu")

_PDU_NAMES = {0x01: "A-ASSOCIATE-RQ", 0x02: "A-ASSOCIATE-AC", 0x03: "A-ASSOCIATE-RJ",
              0x04: "P-DATA-TF", 0x05: "A-RELEASE-RQ", 0x06: "A-RELEASE-RP",
              0x07: "A-ABORT"}  # PS3.8 Table 9-11


def _seconds(duration: float) -> str:
    return f"{duration * 1000:.1f} ms" if duration < 1 else f"{duration:.2f} s"


def _size(size: int | None) -> str:
    return "" if size is None else f", {size} B of data set"


def _comment(text: object) -> str:
    return "" if text is None else f": {peer_text(text, 200)}"


def _opened(event: ConnectionOpened) -> str:
    where = f"{peer_text(event.peer_address or '?')}:{event.peer_port}"
    return f"connection from {where}" if event.role == "acceptor" \
        else f"connected to {where}"


def _closed(event: ConnectionClosed) -> str:
    return f"{event.association.label()}: connection closed after {_seconds(event.duration)}"


def _requested(event: AssociationRequested) -> str:
    count = len(event.request.presentation_contexts)
    return f"{event.association.label()}: association requested ({count} contexts)"


def _accepted(event: AssociationAccepted) -> str:
    negotiated = event.negotiated
    proposed = len(negotiated.accepted) + len(negotiated.rejected)
    return f"{event.association.label()}: association accepted " \
        f"({len(negotiated.accepted)} of {proposed} contexts, {_seconds(event.duration)})"


def _rejected(event: AssociationRejected) -> str:
    return f"{event.association.label()}: association rejected{_comment(event.text)}"


def _released(event: AssociationReleased) -> str:
    return f"{event.association.label()}: association released after " \
        f"{_seconds(event.duration)}"


def _aborted(event: AssociationAborted) -> str:
    by = "by us" if event.local else "by the peer"
    return f"{event.association.label()}: association aborted {by}{_comment(event.text)}"


def _request_received(event: RequestReceived) -> str:
    return f"{event.association.label()}: received {command_name(event.message)} " \
        f"#{getattr(event.message, 'message_id', '?')} on context {event.context_id}" \
        f"{_size(event.dataset_size)}"


def _status(status: int) -> str:
    return f"0x{status:04X} {category(status).value}"


def _request_answered(event: RequestAnswered) -> str:
    pending = f", after {event.pending_responses} pending" if event.pending_responses \
        else ""
    return f"{event.association.label()}: answered {command_name(event.request)} " \
        f"#{getattr(event.request, 'message_id', '?')}: {_status(event.status)}" \
        f"{pending} ({_seconds(event.duration)})" \
        f"{_comment(getattr(event.response, 'error_comment', None))}"


def _request_sent(event: RequestSent) -> str:
    return f"{event.association.label()}: sent {command_name(event.message)} " \
        f"#{getattr(event.message, 'message_id', '?')} on context {event.context_id}" \
        f"{_size(event.dataset_size)}"


def _response_received(event: ResponseReceived) -> str:
    to = getattr(event.response, "message_id_being_responded_to", "?")
    return f"{event.association.label()}: received {command_name(event.response)} " \
        f"(to #{to}, {_status(event.status)}) after {_seconds(event.duration)}" \
        f"{_comment(getattr(event.response, 'error_comment', None))}"


def _pdu(event: PDUSent | PDUReceived) -> str:
    verb = "sent" if isinstance(event, PDUSent) else "received"
    name = _PDU_NAMES.get(event.pdu_type, f"PDU type 0x{event.pdu_type:02X}")
    return f"{event.association.label()}: {verb} {name} ({event.length} B)"


# PS3.8 / PS3.7 events by layer: event type -> (logger, level, message).
_ROUTES: dict[type, tuple[logging.Logger, int, Callable[..., str]]] = {
    ConnectionOpened: (_association_log, logging.DEBUG, _opened),
    ConnectionClosed: (_association_log, logging.DEBUG, _closed),
    AssociationRequested: (_association_log, logging.INFO, _requested),
    AssociationAccepted: (_association_log, logging.INFO, _accepted),
    AssociationRejected: (_association_log, logging.WARNING, _rejected),
    AssociationReleased: (_association_log, logging.INFO, _released),
    AssociationAborted: (_association_log, logging.WARNING, _aborted),
    RequestReceived: (_dimse_log, logging.DEBUG, _request_received),
    RequestAnswered: (_dimse_log, logging.DEBUG, _request_answered),
    RequestSent: (_dimse_log, logging.DEBUG, _request_sent),
    ResponseReceived: (_dimse_log, logging.DEBUG, _response_received),
    PDUSent: (_pdu_log, logging.DEBUG, _pdu),
    PDUReceived: (_pdu_log, logging.DEBUG, _pdu),
}


def logger_and_level(event: Event) -> tuple[logging.Logger, int]:
    """The logger and level :func:`log_event` gives ``event``."""
    logger, level, _message = _ROUTES[type(event)]
    return logger, level


def log_event(event: Event) -> None:
    """Log ``event`` as one record on its layer's logger (see the module's doc). The
    message and fields are built only when that logger is enabled for the level, so
    the PDU and DIMSE events cost a dictionary look-up while DEBUG is off."""
    logger, level, message = _ROUTES[type(event)]
    if not logger.isEnabledFor(level):
        return
    extra = {FIELD_PREFIX + key: value for key, value in event.attributes().items()}
    logger.log(level, message(event), extra=extra)
