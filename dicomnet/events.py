"""Typed events: what an application can watch of its associations, as frozen records.

The association driver and the server emit one record per thing that happened (a
connection opened, an association requested, accepted, rejected, released or aborted,
a DIMSE request received, answered, sent or responded to, and, for debugging, each
PDU) into an :class:`EventHub`. Whoever wants to know subscribes: a plain function
called at once (:meth:`EventHub.subscribe`), or an async iterator read at its own pace
(:meth:`EventHub.stream`). Logging (:func:`dicomnet.event_log.log_event`) and
OpenTelemetry (:func:`dicomnet.otel.instrument`) are two such subscribers, so what the
logs say and what an application sees cannot drift apart.

Records are built only when someone listens (:attr:`EventHub.active`), so an
unobserved server pays nothing for them. They carry the protocol objects themselves
(the A-ASSOCIATE-RQ, the negotiated contexts, the DIMSE command), never a data set:
an event is cheap to keep and holds no patient data beyond what a command set names.
:meth:`EventRecord.attributes` flattens one into the plain, escaped fields that a log
line's ``extra=`` or a span's attributes take.

Emitting never blocks and never fails the association: a callback that raises is
logged and the others still run; a stream whose reader falls behind drops events and
counts them rather than holding up the protocol.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import field
from time import time as _now
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Literal

from dicomnet.dimse.messages import CommandField
from dicomnet.dimse.status import category
from dicomnet.logtext import peer_text
from dicomnet.records import record

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from dicomnet.acse import Negotiated
    from dicomnet.dimse import DIMSEMessage
    from dicomnet.pdu import AAssociateRQ

__all__ = [
    "AssociationAborted",
    "AssociationAccepted",
    "AssociationInfo",
    "AssociationRejected",
    "AssociationReleased",
    "AssociationRequested",
    "ConnectionClosed",
    "ConnectionOpened",
    "Event",
    "EventCallback",
    "EventHub",
    "EventRecord",
    "EventStream",
    "PDUReceived",
    "PDUSent",
    "RequestAnswered",
    "RequestReceived",
    "RequestSent",
    "ResponseReceived",
    "as_hub",
    "command_name",
    "service_name",
]

log = logging.getLogger("dicomnet.events")

Role = Literal["requestor", "acceptor"]
#: A flat field value: what logging ``extra=`` and OpenTelemetry attributes both take.
Scalar = str | int | float | bool

#: Peer-supplied text kept in an event's flat fields (an AE title is 16 characters).
_FIELD_TEXT_LIMIT = 256


def command_name(message: DIMSEMessage) -> str:
    """The message's command in the standard's spelling, e.g. ``C-STORE-RQ``."""
    try:
        return CommandField(message.command_field).name.replace("_", "-")
    except ValueError:  # not one of ours: cannot be decoded, but say what it was
        return f"0x{message.command_field:04X}"


def service_name(message: DIMSEMessage) -> str:
    """The DIMSE service of a request or response, e.g. ``C-STORE`` (PS3.7 §9, §10)."""
    return command_name(message).removesuffix("-RQ").removesuffix("-RSP")


@record(kw_only=True)
class AssociationInfo:
    """Which association an event is about, as far as it is known when it is emitted.

    ``id`` is unique within the process and the same in every event of one
    association (connection-level events included), so that a subscriber can match
    them. The AE titles are ``None`` until the A-ASSOCIATE-RQ has been read or sent;
    they are as the peer spelled them, unescaped (escape before printing, or use
    :meth:`EventRecord.attributes`).
    """

    id: int
    role: Role
    peer_address: str | None = None
    peer_port: int | None = None
    calling_ae_title: str | None = None
    called_ae_title: str | None = None

    def attributes(self) -> dict[str, Scalar]:
        """The flat fields of this record (see :meth:`EventRecord.attributes`)."""
        values: dict[str, Scalar | None] = {
            "association_id": self.id, "role": self.role,
            "peer_address": self.peer_address, "peer_port": self.peer_port,
            "calling_ae_title": self.calling_ae_title,
            "called_ae_title": self.called_ae_title}
        return _flat(values)

    def label(self) -> str:
        """``CALLING->CALLED [address:port]``, escaped: how log lines name it."""
        who = f"{peer_text(self.calling_ae_title or '?')}->" \
            f"{peer_text(self.called_ae_title or '?')}"
        if self.peer_address is None:
            return who
        return f"{who} [{peer_text(self.peer_address)}:{self.peer_port}]"


def _flat(values: dict[str, Scalar | None]) -> dict[str, Scalar]:
    """Drop what is unknown and make text safe: escaped and cut (peer-supplied text
    goes to log files and trace backends that may print it raw)."""
    return {key: peer_text(value, _FIELD_TEXT_LIMIT) if isinstance(value, str) else value
            for key, value in values.items() if value is not None}


def _message_fields(message: DIMSEMessage) -> dict[str, Scalar | None]:
    """The fields of a DIMSE command that identify it without naming a patient: the
    command, its IDs, the SOP class (a UID of the standard), the status. SOP Instance
    UIDs and data sets are left out: an instance UID leads to a patient."""
    values: dict[str, Scalar | None] = {
        "command": command_name(message),
        "service": service_name(message),
        "message_id": getattr(message, "message_id", None),
        "sop_class_uid": getattr(message, "affected_sop_class_uid", None)
        or getattr(message, "requested_sop_class_uid", None),
    }
    if message.is_response:
        status: int = getattr(message, "status", 0)
        values.update({
            "message_id_being_responded_to":
                getattr(message, "message_id_being_responded_to", None),
            "status": status,
            "status_category": category(status).value,
            "error_comment": getattr(message, "error_comment", None),
        })
    else:
        values["move_destination"] = getattr(message, "move_destination", None)
    return values


class EventRecord:
    """What every event shares: a ``name`` (``"association.accepted"``, ...) and the
    time it was emitted (``time``, seconds since the epoch as :func:`time.time`)."""

    __slots__ = ()
    name: ClassVar[str]
    time: float

    def attributes(self) -> dict[str, Scalar]:
        """The event as flat fields (``event``, ``association_id``, ``role``,
        ``calling_ae_title``, ``command``, ``status``, ``duration``, ...): what a log
        record's ``extra=`` and an OpenTelemetry span's attributes take. Text is
        escaped and cut (:func:`dicomnet.logtext.peer_text`); unknown values are left
        out; no data set content and no SOP Instance UID ever appears."""
        values: dict[str, Scalar | None] = {"event": self.name}
        association: AssociationInfo | None = getattr(self, "association", None)
        flat = _flat(values)
        if association is not None:
            flat.update(association.attributes())
        flat.update(_flat(self._own_fields()))
        return flat

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {}


# -- connection ------------------------------------------------------------------------


@record(kw_only=True)
class ConnectionOpened(EventRecord):
    """A transport connection was opened (accepted by a server, or made by
    :func:`~dicomnet.client.connect`). ``association_id`` is the ``id`` that the
    events of the association on it will carry, when the emitter knows it."""

    name: ClassVar[str] = "connection.opened"
    peer_address: str | None
    peer_port: int | None
    role: Role
    association_id: int | None = None
    time: float = field(default_factory=_now)

    def attributes(self) -> dict[str, Scalar]:
        return _flat({"event": self.name, "association_id": self.association_id,
                      "role": self.role, "peer_address": self.peer_address,
                      "peer_port": self.peer_port})


@record(kw_only=True)
class ConnectionClosed(EventRecord):
    """The transport connection is closed, whatever ended it; ``duration`` is seconds
    since it was opened. The last event of every association."""

    name: ClassVar[str] = "connection.closed"
    association: AssociationInfo
    duration: float
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"duration": self.duration}


# -- association (ACSE, PS3.8 §7.1 - §7.3) ------------------------------------------------


@record(kw_only=True)
class AssociationRequested(EventRecord):
    """An A-ASSOCIATE-RQ was received (acceptor) or sent (requestor), before any
    answer: the presentation contexts proposed are in ``request``."""

    name: ClassVar[str] = "association.requested"
    association: AssociationInfo
    request: AAssociateRQ
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"contexts_proposed": len(self.request.presentation_contexts)}


@record(kw_only=True)
class AssociationAccepted(EventRecord):
    """The association is established (A-ASSOCIATE-AC sent or received): what was
    agreed is in ``negotiated``; ``duration`` is seconds from the connection to the
    A-ASSOCIATE-AC."""

    name: ClassVar[str] = "association.accepted"
    association: AssociationInfo
    negotiated: Negotiated
    duration: float
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"duration": self.duration,
                "contexts_accepted": len(self.negotiated.accepted),
                "contexts_rejected": len(self.negotiated.rejected),
                "peer_max_pdu_length": self.negotiated.peer_max_pdu_length}


@record(kw_only=True)
class AssociationRejected(EventRecord):
    """An A-ASSOCIATE-RJ was sent or received, with the PS3.8 Table 9-21 codes and
    ``text`` saying them in words."""

    name: ClassVar[str] = "association.rejected"
    association: AssociationInfo
    result: int
    source: int
    reason: int
    text: str
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"result": self.result, "source": self.source, "reason": self.reason,
                "text": self.text}


@record(kw_only=True)
class AssociationReleased(EventRecord):
    """The association was released in order (A-RELEASE-RQ/RP, PS3.8 §7.2), by
    either side; ``duration`` is seconds since the connection was opened."""

    name: ClassVar[str] = "association.released"
    association: AssociationInfo
    duration: float
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"duration": self.duration}


@record(kw_only=True)
class AssociationAborted(EventRecord):
    """The association ended without a release (PS3.8 §7.3-7.4): an A-ABORT sent
    (``local``) or received, or the connection lost or timed out. ``source`` and
    ``reason`` are the A-ABORT's codes (PS3.8 Table 9-26) when there was one; ``text``
    says what happened."""

    name: ClassVar[str] = "association.aborted"
    association: AssociationInfo
    source: int | None
    reason: int | None
    text: str
    local: bool
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"source": self.source, "reason": self.reason, "text": self.text,
                "local": self.local}


# -- DIMSE (PS3.7) ---------------------------------------------------------------------


@record(kw_only=True)
class RequestReceived(EventRecord):
    """A whole DIMSE request arrived from the peer (its data set, if any, too, as
    ``dataset_size`` bytes), before a handler runs."""

    name: ClassVar[str] = "request.received"
    association: AssociationInfo
    context_id: int
    abstract_syntax: str
    message: DIMSEMessage
    dataset_size: int | None
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"context_id": self.context_id, "abstract_syntax": self.abstract_syntax,
                "dataset_size": self.dataset_size, **_message_fields(self.message)}


@record(kw_only=True)
class RequestAnswered(EventRecord):
    """We sent the final (not pending) response to a request the peer made;
    ``duration`` is seconds since the request was received. Pending responses of a
    C-FIND, C-GET or C-MOVE are not events of their own: ``pending_responses`` counts
    them."""

    name: ClassVar[str] = "request.answered"
    association: AssociationInfo
    request: DIMSEMessage
    response: DIMSEMessage
    status: int
    duration: float
    dataset_size: int | None = None
    pending_responses: int = 0
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        values = _message_fields(self.request)
        values.update({"status": self.status, "status_category": category(self.status).value,
                       "error_comment": getattr(self.response, "error_comment", None),
                       "duration": self.duration, "dataset_size": self.dataset_size,
                       "pending_responses": self.pending_responses})
        return values


@record(kw_only=True)
class RequestSent(EventRecord):
    """We sent a DIMSE request to the peer (with ``dataset_size`` bytes of data set)."""

    name: ClassVar[str] = "request.sent"
    association: AssociationInfo
    context_id: int
    abstract_syntax: str
    message: DIMSEMessage
    dataset_size: int | None
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"context_id": self.context_id, "abstract_syntax": self.abstract_syntax,
                "dataset_size": self.dataset_size, **_message_fields(self.message)}


@record(kw_only=True)
class ResponseReceived(EventRecord):
    """A response to one of our requests arrived: every pending one (``pending``)
    and the final one. ``request`` is ours (None if it is no longer known);
    ``duration`` is seconds since it was sent."""

    name: ClassVar[str] = "response.received"
    association: AssociationInfo
    request: DIMSEMessage | None
    response: DIMSEMessage
    status: int
    pending: bool
    duration: float
    dataset_size: int | None = None
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        values = _message_fields(self.response)
        if self.request is not None:
            values["message_id"] = getattr(self.request, "message_id", None)
        values.update({"status": self.status, "status_category": category(self.status).value,
                       "pending": self.pending, "duration": self.duration,
                       "dataset_size": self.dataset_size})
        return values


# -- PDUs (PS3.8 §9.3), for debugging --------------------------------------------------------


@record(kw_only=True)
class PDUSent(EventRecord):
    """A PDU was written: its type (PS3.8 Table 9-11) and whole length in bytes."""

    name: ClassVar[str] = "pdu.sent"
    association: AssociationInfo
    pdu_type: int
    length: int
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"pdu_type": self.pdu_type, "length": self.length}


@record(kw_only=True)
class PDUReceived(EventRecord):
    """A PDU was read: its type (PS3.8 Table 9-11) and whole length in bytes."""

    name: ClassVar[str] = "pdu.received"
    association: AssociationInfo
    pdu_type: int
    length: int
    time: float = field(default_factory=_now)

    def _own_fields(self) -> dict[str, Scalar | None]:
        return {"pdu_type": self.pdu_type, "length": self.length}


Event = (ConnectionOpened | ConnectionClosed | AssociationRequested | AssociationAccepted
         | AssociationRejected | AssociationReleased | AssociationAborted | RequestReceived
         | RequestAnswered | RequestSent | ResponseReceived | PDUSent | PDUReceived)
"""Any event: one of the 13 event classes of this module (:data:`EVENT_TYPES`).

:meta hide-value:
"""

#: The event classes, in the order an association meets them.
EVENT_TYPES: tuple[type[EventRecord], ...] = (
    ConnectionOpened, ConnectionClosed, AssociationRequested, AssociationAccepted,
    AssociationRejected, AssociationReleased, AssociationAborted, RequestReceived,
    RequestAnswered, RequestSent, ResponseReceived, PDUSent, PDUReceived)

#: What ``on_event=`` and :meth:`EventHub.subscribe` take: called with each event, in
#: the association's task; what it returns is ignored.
EventCallback = Callable[[Event], object]


# -- delivery --------------------------------------------------------------------------------


class _Subscription:
    __slots__ = ("callback", "failures")

    def __init__(self, callback: EventCallback) -> None:
        self.callback = callback
        self.failures = 0


class EventHub:
    """Where events are emitted and from where subscribers get them.

    Callbacks (:meth:`subscribe`) are plain functions, called synchronously in the
    order they subscribed, in the emitter's task: they see each event as it happens,
    and must be quick (hand slow work to a task, or read a :meth:`stream`). A callback
    that raises does not break the association nor keep the event from the others:
    its first failure is logged at ERROR with the traceback, later ones of the same
    subscription at DEBUG (an error on every PDU would otherwise flood the log), and
    :attr:`callback_errors` counts them all.

    Streams (:meth:`stream`) are read with ``async for`` at the reader's pace, through
    a bounded buffer that the emitter fills without ever waiting: when it is full the
    new event is dropped and counted (:attr:`EventStream.dropped`), since holding up
    the protocol for an observer would turn slow monitoring into timeouts and aborts
    on the wire.
    """

    def __init__(self) -> None:
        self._subscriptions: tuple[_Subscription, ...] = ()
        self._streams: tuple[EventStream, ...] = ()
        self._closed = False
        self._callback_errors = 0

    @property
    def callback_errors(self) -> int:
        """How many times a callback has raised, all callbacks together."""
        return self._callback_errors

    @property
    def active(self) -> bool:
        """Whether anyone listens: emitters build event records only then."""
        return bool(self._subscriptions or self._streams)

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns the function
        that stops it (calling it twice is harmless)."""
        if inspect.iscoroutinefunction(callback):
            raise TypeError("event callbacks are called synchronously and cannot be "
                            "async functions: read an EventHub.stream() instead")
        subscription = _Subscription(callback)
        self._subscriptions = (*self._subscriptions, subscription)

        def unsubscribe() -> None:
            self._subscriptions = tuple(s for s in self._subscriptions
                                        if s is not subscription)
        return unsubscribe

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every callback and stream; never raises, never waits."""
        # The tuples are replaced, never changed, so a callback that (un)subscribes
        # while we loop neither skips nor repeats anyone.
        for subscription in self._subscriptions:
            try:
                subscription.callback(event)
            except Exception:
                self._report_failure(subscription, event)
        for stream in self._streams:
            stream._offer(event)

    def _report_failure(self, subscription: _Subscription, event: Event) -> None:
        subscription.failures += 1
        self._callback_errors += 1
        name = getattr(subscription.callback, "__qualname__", repr(subscription.callback))
        if subscription.failures == 1:
            log.error("event callback %s failed on %s (later failures of this "
                      "callback are logged at DEBUG)", peer_text(name, 200), event.name,
                      exc_info=True)
        else:
            log.debug("event callback %s failed on %s (failure %d)", peer_text(name, 200),
                      event.name, subscription.failures, exc_info=True)

    def stream(self, max_buffer: int = 1000) -> EventStream:
        """An async iterator of the events emitted from now on, to use as
        ``async with hub.stream() as events: async for event in events: ...``.
        At most ``max_buffer`` events wait to be read; beyond that new ones are
        dropped and counted in :attr:`EventStream.dropped`."""
        if max_buffer < 1:
            raise ValueError("max_buffer must be at least 1")
        return EventStream(self, max_buffer)

    def close(self) -> None:
        """No more events: open streams end once their reader has taken what they
        hold, and :meth:`stream` gives streams that end at once. Callbacks stay."""
        self._closed = True
        for stream in self._streams:
            stream._finish()
        self._streams = ()

    def _attach(self, stream: EventStream) -> None:
        if self._closed:
            stream._finish()
        else:
            self._streams = (*self._streams, stream)

    def _detach(self, stream: EventStream) -> None:
        self._streams = tuple(s for s in self._streams if s is not stream)


class EventStream:
    """The events of an :class:`EventHub`, read with ``async for`` inside
    ``async with``; made by :meth:`EventHub.stream`. It works on asyncio and trio."""

    def __init__(self, hub: EventHub, max_buffer: int) -> None:
        self._hub = hub
        self._max_buffer = max_buffer
        self._send: MemoryObjectSendStream[Event] | None = None
        self._receive: MemoryObjectReceiveStream[Event] | None = None
        #: Events dropped because the buffer was full when they were emitted.
        self.dropped = 0

    async def __aenter__(self) -> EventStream:
        import anyio  # only a reader of streams needs an event loop

        self._send, self._receive = anyio.create_memory_object_stream[Event](
            self._max_buffer)
        self._hub._attach(self)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._hub._detach(self)
        self._finish()
        if self._receive is not None:
            self._receive.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        if self._receive is None:
            raise RuntimeError("read an EventStream inside 'async with hub.stream()'")
        import anyio

        try:
            while True:
                yield await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return

    def _offer(self, event: Event) -> None:
        if self._send is None:
            return
        import anyio

        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("an event stream's reader fell behind (%d events waiting): "
                            "events are dropped until it catches up", self._max_buffer)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._hub._detach(self)

    def _finish(self) -> None:
        if self._send is not None:
            self._send.close()


def as_hub(on_event: EventHub | EventCallback | None) -> EventHub | None:
    """What ``connect(on_event=...)`` and ``Server(on_event=...)`` take, as a hub: a
    hub as it is, a callback subscribed to a new hub, None as None (nothing listens,
    no event is built)."""
    if on_event is None or isinstance(on_event, EventHub):
        return on_event
    if not callable(on_event):
        raise TypeError(f"on_event takes an EventHub or a callable, not "
                        f"{type(on_event).__name__}")
    hub = EventHub()
    hub.subscribe(on_event)
    return hub
