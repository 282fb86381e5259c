"""One DICOM association as a sans-IO object: bytes in, events out; calls in, bytes out.

:class:`DicomConnection` holds everything about an association that is logic rather
than waiting: the upper layer state machine (PS3.8 §9.2), the PDU framer, the DIMSE
reassembler and the data set of the command being received, our Message IDs and the
requests they are outstanding for, the asynchronous operations window both ways
(PS3.7 D.3.3.3), which of the peer's requests a C-CANCEL may still reach, and how the
association ended (:class:`~dicomnet.connection_events.Outcome`).

The shape is h11's and h2's: the driver feeds what the transport gives
(:meth:`receive_data`, :meth:`transport_closed`) and what its clock says
(:meth:`artim_expired`), calls the local primitives (:meth:`accept`, :meth:`release`,
:meth:`abort`, :meth:`start_request`...), writes what :meth:`data_to_send` returns, and
closes the transport when :attr:`wants_close` says so. It never touches a socket, a
task or a clock, so every rule here is tested with two connections wired to each
other in memory (tests/connection).

DIMSE messages themselves are written by the driver: a data set may stream from a
file, which is I/O. The connection says whether a message may be sent now, and which
Message ID a request carries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from dicomnet.acse import AcceptedContext, Negotiated
from dicomnet.config import MAX_ASSOCIATION_PDU_LENGTH, MAX_IDENTIFIER_SIZE
from dicomnet.connection_events import (
    Aborted,
    AssociateRequested,
    CancelArrived,
    ConnectionEvent,
    Established,
    Outcome,
    PDUReceived,
    Rejected,
    Released,
    ReleaseRequested,
    RequestArrived,
    Response,
    ResponseArrived,
    SinkFailed,
    StrayResponse,
)
from dicomnet.dataset_io import DatasetSink
from dicomnet.dimse import (
    CCancelRQ,
    CommandField,
    CommandReceived,
    CStoreRQ,
    DIMSEMessage,
    MessageIDs,
    Reassembler,
)
from dicomnet.dimse.integrity import Damage, StructureChecker
from dicomnet.errors import (
    AssociationAbortedError,
    AssociationError,
    AssociationRejectedError,
    AssociationReleasedError,
    DicomNetError,
    DIMSEError,
    PDUError,
    ProtocolStateError,
)
from dicomnet.incoming_dataset import IncomingDataset
from dicomnet.pdu import (
    PDU,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    PDataTF,
    PDUFramer,
    encode_pdu,
)
from dicomnet.pdu.constants import AbortReason, AbortSource, describe_abort, describe_reject
from dicomnet.ul import (
    AbortIndication,
    AssociateAccepted,
    AssociateIndication,
    AssociateRejected,
    CloseTransport,
    DataIndication,
    Output,
    ReleaseConfirmed,
    ReleaseIndication,
    SendPDU,
    StartARTIM,
    State,
    StopARTIM,
    UpperLayer,
)

__all__ = ["CANCELLABLE", "DicomConnection", "WindowFullError"]

#: Requests a C-CANCEL-RQ can stop (PS3.7 §9.3.2.3).
CANCELLABLE = frozenset({CommandField.C_FIND_RQ, CommandField.C_GET_RQ,
                         CommandField.C_MOVE_RQ})

#: Accept side's view of a request's data set destination: given the context and the
#: command, a sink for its bytes, or None to keep them in memory.
SinkFor = Callable[[AcceptedContext, DIMSEMessage], DatasetSink | None]
#: Requestor side: the A-ASSOCIATE-AC read against our request (raises AssociationError
#: when it cannot be used).
Interpret = Callable[[AAssociateRQ, AAssociateAC], Negotiated]


class WindowFullError(DicomNetError):
    """As many of our requests are outstanding as the peer agreed to perform."""


class DicomConnection:
    """The state of one association, driven by whoever owns the transport."""

    def __init__(self, *, max_pdu_length: int,
                 max_other_length: int = MAX_ASSOCIATION_PDU_LENGTH,
                 max_dataset_size: int | None = None,
                 max_identifier_size: int | None = MAX_IDENTIFIER_SIZE,
                 sink_for: SinkFor | None = None,
                 interpret: Interpret | None = None, report_pdus: bool = False) -> None:
        self._ul = UpperLayer()
        self._framer = PDUFramer(max_pdata_length=max_pdu_length,
                                 max_other_length=max_other_length)
        self._max_dataset_size = max_dataset_size
        self._max_identifier_size = max_identifier_size
        self._sink_for = sink_for
        self._interpret = interpret
        #: Report each whole PDU received as a PDUReceived event (debug logs).
        self.report_pdus = report_pdus
        #: PDUs queued for the transport since the last data_to_send (for debug logs).
        self.sent_pdus: list[PDU] = []
        self._out: list[bytes] = []
        #: The transport should be closed once data_to_send() is written.
        self.wants_close = False
        #: ARTIM (PS3.8 §9.1.5) should be running; artim_starts counts (re)starts so a
        #: driver can tell a restart from a timer left running.
        self.artim_running = False
        self.artim_starts = 0
        self.outcome = Outcome.NEGOTIATING
        #: Why the association ended, for whoever still waits on it.
        self.error: DicomNetError | None = None
        self.request: AAssociateRQ | None = None
        self.negotiated: Negotiated | None = None
        self.rejection: AAssociateRJ | None = None
        self._reassembler: Reassembler | None = None
        self._dataset: IncomingDataset | None = None
        self._ids = MessageIDs()
        self._outstanding: dict[int, DIMSEMessage] = {}
        self._performing: dict[int, int] = {}  # the peer's Message ID -> requests with it
        self._performing_count = 0
        # The peer's requests past the window we agreed to (PS3.7 D.3.3.3): held, in
        # order, until one being performed is done; nothing more is parsed meanwhile.
        self._held: deque[RequestArrived] = deque()
        # C-CANCELs that came in the same PDU as the held request they stop: they
        # reach it when it starts (PS3.7 §9.3.2.3).
        self._held_cancels: set[int] = set()
        self._max_invoke = 0
        self._max_perform = 0
        self._sent_abort = False
        #: Parsing stopped (bytes wait in the framer): after an A-ASSOCIATE-RQ until
        #: accept() or reject(), so what follows is read in the state the answer leads
        #: to; or while requests are held by the window. receive_data(b"") resumes.
        self.paused = False

    # -- what the driver reads ---------------------------------------------------------

    @property
    def state(self) -> State:
        return self._ul.state

    @property
    def is_requestor(self) -> bool | None:
        return self._ul.is_requestor

    @property
    def established(self) -> bool:
        return self._ul.state is State.STA6

    @property
    def deciding(self) -> bool:
        """Acceptor, Sta3: the A-ASSOCIATE-RQ waits for accept() or reject()."""
        return self._ul.state is State.STA3

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete PDU waiting for the rest."""
        return self._framer.buffered

    @property
    def awaits_peer(self) -> bool:
        """Whether the network timeout bounds the wait for the peer's next bytes:
        while established, unless we are a requestor with nothing asked and nothing
        half received (an idle client association waits for its application, not for
        the peer). Before it ARTIM and the ACSE timeout bound every wait, after it the
        release and abort paths do."""
        if self._ul.state is not State.STA6:
            return False
        return not self._ul.is_requestor or bool(
            self._outstanding or self._performing_count or self._framer.buffered)

    @property
    def outstanding(self) -> int:
        """Our requests not yet given up (:meth:`end_request`)."""
        return len(self._outstanding)

    @property
    def message_ids_in_use(self) -> int:
        """Message IDs of ours not given back: outstanding requests, and requests
        prepared but not sent yet."""
        return len(self._ids.outstanding)

    @property
    def can_invoke(self) -> bool:
        """Whether the window lets us send another request (PS3.7 D.3.3.3)."""
        return self._max_invoke <= 0 or len(self._outstanding) < self._max_invoke

    @property
    def performing(self) -> int:
        """The peer's requests received and not yet done."""
        return self._performing_count

    @property
    def holding(self) -> bool:
        """Requests of the peer wait for a place in the window (:meth:`release_held`)."""
        return bool(self._held)

    def release_held(self) -> list[ConnectionEvent]:
        """The held requests that the window has room for now, in order."""
        events: list[ConnectionEvent] = []
        while self._held and not self._window_full():
            arrived = self._held.popleft()
            self._start_performing(arrived)
            events.append(arrived)
            message_id = int(arrived.message.message_id)  # type: ignore[union-attr]
            if message_id in self._held_cancels:
                self._held_cancels.discard(message_id)
                events.append(CancelArrived(message_id))
        return events

    def data_to_send(self) -> bytes:
        """The association PDUs queued since the last call, in order."""
        data = b"".join(self._out) if len(self._out) != 1 else self._out[0]
        self._out.clear()
        return data

    def ended_error(self) -> DicomNetError:
        """The error for someone who wants to use an association that is over."""
        if self.error is not None:
            return self.error
        if self.outcome is Outcome.RELEASED:
            return AssociationReleasedError("the association has been released")
        if self.outcome is Outcome.REJECTED:
            return AssociationReleasedError("the association was rejected")
        return AssociationAbortedError("the association has ended")

    # -- opening -----------------------------------------------------------------------

    def associate(self, request: AAssociateRQ, interpret: Interpret | None = None) -> None:
        """Requestor, AE-1: we want ``request``; the driver opens the transport and
        then calls :meth:`transport_connected`. ``interpret`` reads the answer (given
        here or to the constructor)."""
        if interpret is not None:
            self._interpret = interpret
        self.request = request
        self._perform(self._ul.associate_request(request), [])

    def transport_connected(self) -> None:
        """Requestor, AE-2: the transport is open; the A-ASSOCIATE-RQ is queued."""
        self._perform(self._ul.transport_connected(), [])

    def transport_accepted(self) -> None:
        """Acceptor, AE-5: a peer connected; ARTIM runs until its A-ASSOCIATE-RQ."""
        self._perform(self._ul.transport_accepted(), [])

    def accept(self, accept: AAssociateAC, negotiated: Negotiated) -> None:
        """Acceptor, AE-7: answer the A-ASSOCIATE-RQ with ``accept``."""
        # The machine first: an answer that comes after the association ended (Evt7
        # has no action in Sta1, PS3.8 Table 9-10) raises and leaves the outcome be.
        outputs = self._ul.associate_accept(accept)
        self._establish(negotiated)
        self._perform(outputs, [])

    def reject(self, rejection: AAssociateRJ) -> None:
        """Acceptor, AE-8: answer the A-ASSOCIATE-RQ with ``rejection``."""
        outputs = self._ul.associate_reject(rejection)  # as accept(): the machine first
        self.rejection = rejection
        self.outcome = Outcome.REJECTED
        self._perform(outputs, [])

    # -- ending ------------------------------------------------------------------------

    def release(self) -> bool:
        """AR-1: ask to release; False when not established (nothing sent)."""
        if self._ul.state is not State.STA6:
            return False
        self._perform(self._ul.release_request(), [])
        return True

    def abort(self, source: int = AbortSource.SERVICE_USER,
              reason: int = AbortReason.NOT_SPECIFIED, *,
              error: DicomNetError | None = None) -> None:
        """A-ABORT (PS3.8 §7.3): queue it where the state has one, and close."""
        if self._ul.state not in (State.STA1, State.STA13):
            try:
                outputs = self._ul.abort_request(AAbort(source=source, reason=reason))
            except ProtocolStateError:
                # Table 9-10 leaves A-ABORT request blank in Sta2 (no association yet
                # to abort, PS3.8 §9.2): only the connection is closed.
                outputs = []
            self._set_aborted(error)
            self._perform(outputs, [])
        # Sta13 waits for the peer to close; as the side that aborted we close at
        # once, which is the ARTIM expiring early (PS3.8 §9.2.3, AA-2).
        self.wants_close = True

    def artim_expired(self) -> bool:
        """Evt18; False when it no longer applies (stopped, or the state moved on in the
        instant it expired: Evt18 exists in Sta2 and Sta13 only, PS3.8 Table 9-10)."""
        if not self.artim_running or self._ul.state not in (State.STA2, State.STA13):
            return False
        if self.outcome in (Outcome.NEGOTIATING, Outcome.ACCEPTED):
            self.outcome = Outcome.ABORTED
        self._perform(self._ul.artim_expired(), [])
        self.wants_close = True
        return True

    def transport_closed(self) -> list[ConnectionEvent]:
        """Evt17: the transport is gone (closed by the peer, or by us)."""
        events: list[ConnectionEvent] = []
        self.artim_running = False
        if self._ul.state is not State.STA1:
            try:
                outputs = self._ul.transport_closed()
            except ProtocolStateError:  # pragma: no cover - every state has Evt17
                outputs = []
            self._perform(outputs, events)
        self._out.clear()
        self.sent_pdus.clear()
        self.paused = False
        self._held_cancels.clear()
        while self._held:  # never to be performed: their data sets go
            held = self._held.popleft()
            if held.sink is not None and held.sink_error is None:
                held.sink.discard()
        if self._dataset is not None:
            self._dataset.discard()
            self._dataset = None
        return events

    # -- receiving ----------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[ConnectionEvent]:
        """Bytes from the peer: what they mean, in order."""
        events: list[ConnectionEvent] = []
        ul, framer = self._ul, self._framer
        if data:
            framer.feed(data)
        if self.deciding or self._held:  # the RQ waits for its answer, or the window
            self.paused = True  # is full: read on later (receive_data(b""))
            return events
        self.paused = False
        while not self.wants_close:
            try:
                pdu = framer.next_pdu()
            except PDUError as exc:
                text = f"invalid PDU received: {exc}"
                self.error = AssociationAbortedError(text)
                self.outcome = Outcome.ABORTED
                events.append(Aborted(text, AbortSource.SERVICE_PROVIDER,
                                      _abort_reason(exc), local=True))
                self._perform(ul.invalid_pdu_received(_abort_reason(exc)), events)
                self.wants_close = True
                break
            if pdu is None:
                break
            if self.report_pdus:
                events.append(PDUReceived(pdu))
            self._perform(ul.pdu_received(pdu), events)
            state = ul.state
            if state is State.STA13 and self._sent_abort:
                # We aborted (AA-1/AA-8): nothing more can come that matters, so close
                # now instead of waiting out ARTIM for the peer to close.
                self.wants_close = True
            if state is State.STA1:  # closed (AE-4, AR-3, AA-3...)
                break
            if state is State.STA3 or self._held:
                self.paused = True  # the local user decides first (AE-6), or the window
                break
        return events

    # -- our requests ------------------------------------------------------------------

    def check_sendable(self) -> None:
        """Raise the reason when no DIMSE message may be sent now."""
        if self.wants_close or self._ul.state not in (State.STA6, State.STA8):
            raise self.ended_error()

    def message_sent(self) -> None:
        """A P-DATA request (Evt9): a message goes out now (ProtocolStateError if the
        state has no DT-1/AR-7 for it)."""
        self.check_sendable()
        self._ul.data_request()

    def with_message_id(self, message: DIMSEMessage) -> DIMSEMessage:
        """``message`` with a Message ID of ours (PS3.7 §9.3.1.1), allocated now when it
        has none (0); one it has is kept, and must not be outstanding."""
        message_id = int(message.message_id)  # type: ignore[union-attr]
        if message_id == 0:
            return cast(DIMSEMessage, replace(cast(Any, message),
                                              message_id=self._ids.allocate()))
        if message_id in self._outstanding:
            raise ValueError(f"Message ID {message_id} is already outstanding")
        self._ids.claim(message_id)
        return message

    def start_request(self, message: DIMSEMessage) -> DIMSEMessage:
        """Our request is about to go: give it its Message ID, take a slot of the
        window, and route responses naming that ID to it from now on."""
        if self.wants_close or self._ul.state not in (State.STA6, State.STA8):
            raise self.ended_error()
        if 0 < self._max_invoke <= len(self._outstanding):
            raise WindowFullError(f"{self._max_invoke} requests are outstanding, as many "
                                  "as the peer agreed to perform")
        message = self.with_message_id(message)
        self._outstanding[int(message.message_id)] = message  # type: ignore[union-attr]
        return message

    def end_request(self, message_id: int) -> None:
        """Our request is answered or given up: its slot and Message ID come back."""
        self._outstanding.pop(message_id, None)
        self._ids.release(message_id)

    def request_for(self, message_id: int) -> DIMSEMessage | None:
        return self._outstanding.get(message_id)

    def cancel(self, message_id: int) -> CCancelRQ:
        """The C-CANCEL-RQ for our outstanding request ``message_id`` (PS3.7
        §9.3.2.3); its responses keep coming to it until the final one."""
        message = self._outstanding.get(message_id)
        if message is None or message.command_field not in CANCELLABLE:
            raise ValueError(f"no outstanding C-FIND, C-GET or C-MOVE #{message_id}")
        return CCancelRQ(message_id_being_responded_to=message_id)

    # -- the peer's requests -------------------------------------------------------------

    def request_done(self, message_id: int) -> None:
        """We are done with the peer's request ``message_id`` (answered, or given up):
        a C-CANCEL no longer reaches it and its place in the window is free."""
        count = self._performing.get(message_id, 0)
        if count == 0:
            return
        self._performing_count -= 1
        if count == 1:
            del self._performing[message_id]
        else:
            self._performing[message_id] = count - 1

    # -- performing the machine's outputs ------------------------------------------------

    def _perform(self, outputs: list[Output], events: list[ConnectionEvent]) -> None:
        for output in outputs:
            if isinstance(output, DataIndication):
                self._on_data(output.pdu, events)
            elif isinstance(output, SendPDU):
                if isinstance(output.pdu, AAbort):
                    self._sent_abort = True
                self._out.append(encode_pdu(output.pdu))
                self.sent_pdus.append(output.pdu)
            elif isinstance(output, StartARTIM):
                self.artim_running = True
                self.artim_starts += 1
            elif isinstance(output, StopARTIM):
                self.artim_running = False
            elif isinstance(output, CloseTransport):
                self.wants_close = True
            elif isinstance(output, AssociateIndication):
                self.request = output.request
                events.append(AssociateRequested(output.request))
            elif isinstance(output, AssociateAccepted):
                self._on_accepted(output.response, events)
            elif isinstance(output, AssociateRejected):
                rj = output.response
                self.rejection = rj
                self.outcome = Outcome.REJECTED
                self.error = AssociationRejectedError(
                    rj.result, rj.source, rj.reason,
                    describe_reject(rj.result, rj.source, rj.reason))
                events.append(Rejected(rj))
            elif isinstance(output, ReleaseIndication):
                events.append(ReleaseRequested(output.collision))
                if not (output.collision and self._ul.state is State.STA10):
                    self._perform(self._ul.release_response(), events)
                    self._set_released(events)
                # Else the acceptor side of a collision: the peer's A-RELEASE-RP comes
                # first (Sta10 -> Sta12), then we answer (AR-10, AR-4).
            elif isinstance(output, ReleaseConfirmed):
                self._set_released(events)
                if self._ul.state is State.STA12:
                    # Acceptor side of a release collision (AR-10): now answer the
                    # peer's A-RELEASE-RQ (Evt14, AR-4).
                    self._perform(self._ul.release_response(), events)
            elif isinstance(output, AbortIndication):
                self._on_abort_indication(output, events)
            # ConnectTransport (AE-1) is the driver's to do: associate() returned.

    def _on_accepted(self, accept: AAssociateAC, events: list[ConnectionEvent]) -> None:
        assert self.request is not None and self._interpret is not None
        try:
            negotiated = self._interpret(self.request, accept)
        except AssociationError as exc:
            # PS3.8 Table 9-10: a requestor that cannot go on aborts (A-ABORT, AA-1)
            # rather than just closing the connection.
            text = f"unusable A-ASSOCIATE-AC: {exc}"
            events.append(Aborted(text, AbortSource.SERVICE_USER, AbortReason.NOT_SPECIFIED,
                                  local=True))
            self.abort(error=AssociationAbortedError(text))
            return
        self._establish(negotiated)
        events.append(Established(negotiated))

    def _establish(self, negotiated: Negotiated) -> None:
        self.negotiated = negotiated
        self.outcome = Outcome.ACCEPTED
        self._reassembler = Reassembler(tuple(negotiated.accepted))
        self._max_invoke = negotiated.max_invoke
        self._max_perform = negotiated.max_perform

    def _set_released(self, events: list[ConnectionEvent]) -> None:
        if self.outcome is not Outcome.RELEASED:
            self.outcome = Outcome.RELEASED
            events.append(Released())

    def _set_aborted(self, error: DicomNetError | None) -> None:
        self.outcome = Outcome.ABORTED
        if error is not None and self.error is None:
            self.error = error

    def _on_abort_indication(self, output: AbortIndication,
                             events: list[ConnectionEvent]) -> None:
        abort = output.abort
        text = describe_abort(abort.source, abort.reason) if abort is not None \
            else "the connection was closed without A-RELEASE or A-ABORT"
        if self.outcome in (Outcome.RELEASED, Outcome.REJECTED):
            return
        if self.error is None:
            self.error = AssociationAbortedError(
                text, source=abort.source if abort else None,
                reason=abort.reason if abort else None)
        if self.outcome is not Outcome.ABORTED:
            events.append(Aborted(text, abort.source if abort else None,
                                  abort.reason if abort else None, local=self._sent_abort))
        self.outcome = Outcome.ABORTED

    # -- DIMSE in ------------------------------------------------------------------------

    def _on_data(self, pdu: PDataTF, events: list[ConnectionEvent]) -> None:
        if self._reassembler is None:  # pragma: no cover - the UL forbids P-DATA before Sta6
            return
        try:
            parts = self._reassembler.feed(pdu)
        except DIMSEError as exc:
            self._abort_on_dimse(f"bad DIMSE message received: {exc}", events)
            return
        for part in parts:
            if isinstance(part, CommandReceived):
                if part.message.has_dataset:
                    self._dataset = self._start_dataset(part.context_id, part.message,
                                                        events)
                else:
                    self._deliver(part.context_id, part.message, None, events)
                continue
            pending = self._dataset
            assert pending is not None  # the reassembler guarantees a command first
            pending.add(part.data)
            if pending.sink_error is not None and pending.message.is_response:
                # No failure status answers a response: past the bound, the
                # association ends rather than hold more than asked for.
                self._dataset = None
                self._abort_on_dimse(f"{type(pending.message).__name__} received: "
                                     f"{pending.sink_error}", events)
                return
            if part.is_last:
                self._dataset = None
                data, damage = pending.finish()
                self._deliver(pending.context_id, pending.message, data, events,
                              sink=pending.sink, sink_error=pending.sink_error, damage=damage)

    def _abort_on_dimse(self, text: str, events: list[ConnectionEvent]) -> None:
        events.append(Aborted(text, AbortSource.SERVICE_PROVIDER,
                              AbortReason.UNEXPECTED_PDU_PARAMETER, local=True))
        self.abort(AbortSource.SERVICE_PROVIDER, AbortReason.UNEXPECTED_PDU_PARAMETER,
                   error=AssociationAbortedError(text))

    def _start_dataset(self, context_id: int, message: DIMSEMessage,
                       events: list[ConnectionEvent]) -> IncomingDataset:
        """A command announced a data set: decide where its bytes go."""
        assert self.negotiated is not None
        # Only a C-STORE's data set may go to a sink: any other, a response's too, is
        # held whole in memory, and has a bound of its own.
        limit = self._max_dataset_size if message.is_request else None
        is_store = isinstance(message, CStoreRQ)
        if not is_store and self._max_identifier_size is not None:
            limit = min(limit or self._max_identifier_size, self._max_identifier_size)
        context = self.negotiated.accepted[context_id]
        checker = StructureChecker(context.transfer_syntax, max_inflated=limit) \
            if is_store else None  # checked as it arrives
        sink: DatasetSink | None = None
        sink_error: Exception | None = None
        if self._sink_for is not None and message.is_request:
            try:
                sink = self._sink_for(context, message)
            except Exception as exc:
                sink_error = exc
                events.append(SinkFailed(message, exc))
        return IncomingDataset(context_id, message, limit=limit, sink=sink,
                               sink_error=sink_error, checker=checker)

    def _deliver(self, context_id: int, message: DIMSEMessage, dataset: bytes | None,
                 events: list[ConnectionEvent], *, sink: DatasetSink | None = None,
                 sink_error: Exception | None = None, damage: Damage | None = None
                 ) -> None:
        assert self.negotiated is not None
        context = self.negotiated.accepted[context_id]
        if message.is_response:
            request_id = int(message.message_id_being_responded_to)  # type: ignore[union-attr]
            if request_id in self._outstanding:
                events.append(ResponseArrived(request_id, Response(message, context, dataset)))
            else:
                events.append(StrayResponse(message))
            return
        if message.command_field == CommandField.C_CANCEL_RQ:
            target = int(message.message_id_being_responded_to)  # type: ignore[union-attr]
            if target in self._performing:
                events.append(CancelArrived(target))
            elif any(held.message.message_id == target  # type: ignore[union-attr]
                     for held in self._held):
                # Several messages in one P-DATA-TF (PS3.8 §9.3.5): the request is
                # held by the window; the cancel waits for it to start.
                self._held_cancels.add(target)
            return
        arrived = RequestArrived(context, message, dataset, sink, sink_error, damage)
        if self._held or self._window_full():
            self._held.append(arrived)  # a C-CANCEL does not reach it until it starts
            return
        self._start_performing(arrived)
        events.append(arrived)

    def _window_full(self) -> bool:
        return 0 < self._max_perform <= self._performing_count

    def _start_performing(self, arrived: RequestArrived) -> None:
        message_id = int(arrived.message.message_id)  # type: ignore[union-attr]
        self._performing[message_id] = self._performing.get(message_id, 0) + 1
        self._performing_count += 1

    def __repr__(self) -> str:
        request = self.request
        who = f"{request.calling_ae_title!r}->{request.called_ae_title!r}" if request else "?"
        return f"<DicomConnection {who} {self._ul.state.name} {self.outcome.name}>"


def _abort_reason(exc: PDUError) -> int:
    """PS3.8 §9.3.8: tell the peer what was wrong with its PDU."""
    if exc.field == "PDU-type":
        return AbortReason.UNRECOGNIZED_PDU
    return AbortReason.INVALID_PDU_PARAMETER_VALUE
