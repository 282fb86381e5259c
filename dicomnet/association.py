"""The async Association: where the sans-IO core meets a byte stream.

One :class:`Association` drives the upper layer state machine (:mod:`dicomnet.ul`) over an
anyio byte stream: a reader task turns bytes into PDUs (:class:`~dicomnet.pdu.PDUFramer`),
feeds them to the machine, and performs the outputs it returns (send a PDU, start ARTIM,
close the transport, deliver an indication). P-DATA indications go through the DIMSE
reassembler into messages: responses are routed to the request that is waiting for them
(by Message ID Being Responded To, PS3.7 §9.3), requests go to the handler that the
client or server installed, each in its own task.

Three rules keep the wire clean:

- each PDU is written whole (the write is shielded from cancellation and bounded by the
  network timeout), so a cancelled task never leaves half a PDU behind;
- the PDUs of one DIMSE message are sent under a message lock, so two messages never
  interleave (PS3.7 §6.3.1 / PS3.8 §9.3.5);
- a message whose sending stops half way (cancelled, timed out) aborts the association,
  because the peer could not make sense of what follows.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from contextlib import aclosing, contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar, cast

import anyio
import anyio.lowlevel
from anyio.abc import ByteStream, SocketAttribute, TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from dicomnet.acse import AcceptedContext, Negotiated
from dicomnet.config import MAX_ASSOCIATION_PDU_LENGTH, SEND_CAP_WHEN_UNLIMITED, Timeouts
from dicomnet.dataset_io import DatasetSink, FileRegion, SinkFactory
from dicomnet.dimse import (
    CCancelRQ,
    CommandField,
    CommandReceived,
    CStoreRQ,
    DatasetFragment,
    DIMSEMessage,
    MessageIDs,
    Reassembler,
    Status,
    StatusCategory,
    decode_dataset,
    response_to,
)
from dicomnet.dimse.comment import exception_comment, with_error_comment
from dicomnet.dimse.dicom_json import dictionary_vr
from dicomnet.dimse.elements import Element, elements
from dicomnet.dimse.integrity import Damage, StructureChecker
from dicomnet.errors import (
    AssociationAbortedError,
    AssociationError,
    AssociationRejectedError,
    AssociationReleasedError,
    DicomNetError,
    DicomTimeoutError,
    DIMSEError,
    PDUError,
    ProtocolStateError,
)
from dicomnet.logtext import peer_text
from dicomnet.network_watch import NetworkWatch
from dicomnet.outgoing import OutgoingMessage
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
from dicomnet.pdu.constants import (
    AbortReason,
    AbortSource,
    PDUType,
    describe_abort,
    describe_reject,
)
from dicomnet.response_batch import ResponseBatch
from dicomnet.services import verification
from dicomnet.ul import (
    AbortIndication,
    AssociateAccepted,
    AssociateIndication,
    AssociateRejected,
    CloseTransport,
    ConnectTransport,
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

if TYPE_CHECKING:
    from cryptography.x509 import Name
    from pydicom import Dataset

    from dicomnet.services.storage import Storable

log = logging.getLogger("dicomnet.association")
pdu_log = logging.getLogger("dicomnet.pdu")

#: How many bytes one read asks the transport for.
_READ_SIZE = 1 << 18

#: Requests a C-CANCEL-RQ can stop (PS3.7 §9.3.2.3).
_CANCELLABLE = frozenset({CommandField.C_FIND_RQ, CommandField.C_GET_RQ,
                          CommandField.C_MOVE_RQ})

_R = TypeVar("_R")

#: Responses buffered per outstanding request before the reader waits for the consumer.
_RESPONSE_BUFFER = 32

#: Accept-side hook: given the A-ASSOCIATE-RQ, return the AC (and the negotiated view) or
#: an RJ. The server implements it with :mod:`dicomnet.acse`.
AcceptHook = Callable[["Association", AAssociateRQ],
                      Awaitable[tuple[AAssociateAC, Negotiated] | AAssociateRJ]]

#: Handler for DIMSE requests arriving from the peer.
RequestHook = Callable[["IncomingRequest"], Awaitable[None]]


@dataclass(eq=False)
class Response:
    """A DIMSE response to one of our requests, with its data set still encoded."""

    message: DIMSEMessage
    context: AcceptedContext
    raw_dataset: bytes | None = None

    @property
    def status(self) -> int:
        return int(getattr(self.message, "status", 0))

    @property
    def status_category(self) -> StatusCategory:
        return _category(self.message)

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


@dataclass(eq=False)
class IncomingRequest:
    """A DIMSE request from the peer, handed to a handler.

    The data set stays as received (``raw_dataset``) until someone reads ``dataset``:
    a store handler that only writes bytes to disk never pays for decoding.
    """

    association: Association
    context: AcceptedContext
    message: DIMSEMessage
    raw_dataset: bytes | None = None
    sink: DatasetSink | None = None
    sink_error: Exception | None = None
    #: For a C-STORE-RQ: what is wrong with the structure of its data set (truncated,
    #: malformed, undecodable), None when it is whole (see dicomnet.dimse.integrity).
    damage: Damage | None = None
    cancelled: anyio.Event = field(default_factory=anyio.Event)
    #: A final (not pending) response has been sent.
    answered: bool = False
    _after_answer: list[Callable[[], object]] | None = field(default=None, init=False,
                                                             repr=False)

    @cached_property
    def dataset(self) -> Dataset | None:
        if self.raw_dataset is None:
            return None
        return decode_dataset(self.raw_dataset, self.context.transfer_syntax)

    async def respond(self, message: DIMSEMessage,
                      dataset: Dataset | bytes | None = None) -> None:
        """Send a response on the context the request came on; a failure always with
        an Error Comment (PS3.7 C), made safe to encode."""
        message = with_error_comment(message)
        await self.association.send_message(self.context, message, dataset)
        if _category(message) != StatusCategory.PENDING:
            self.answered = True
            for function in self._after_answer or ():
                function()

    def after_answer(self, function: Callable[[], object]) -> None:
        """Call ``function()`` right after the final response has been sent, in the
        handler's task: quick work that should not delay the answer (the archive makes
        the next data set's file there, while the peer reads the answer and prepares
        its next request). A task of its own (:meth:`Association.start_task`) costs
        more than such work. Runs after whichever final response goes out (the
        failure the association sends when a handler raises, too), and never if none
        does (the association ended first)."""
        if self._after_answer is None:
            self._after_answer = []
        self._after_answer.append(function)

    async def refuse(self, status: int, comment: str | None = None) -> None:
        """Answer with a response of the right type carrying ``status`` (a failure,
        usually) and nothing else."""
        await self.respond(response_to(self.message, status, error_comment=comment))


class _Outstanding:
    """What a request holds from before it is sent until it is answered (or given
    up): a slot of the negotiated asynchronous operations window (PS3.7 D.3.3.3), its
    place among the requests the reader routes responses to, and its Message ID
    (PS3.7 §9.3.1.1), all given back on exit."""

    __slots__ = ("association", "message_id", "receiver", "slot")

    def __init__(self, association: Association, message_id: int,
                 receiver: MemoryObjectSendStream[Response] | _OneResponse) -> None:
        self.association = association
        self.message_id = message_id
        self.receiver = receiver
        self.slot = False

    async def __aenter__(self) -> None:
        slots = self.association._invoke_slots
        try:
            if slots is not None:
                await slots.acquire()
                self.slot = True
        except BaseException:
            self.association._message_ids.release(self.message_id)
            raise
        self.association._pending[self.message_id] = self.receiver

    async def __aexit__(self, *_exc: object) -> None:
        association = self.association
        if self.slot:
            assert association._invoke_slots is not None
            association._invoke_slots.release()
        association._pending.pop(self.message_id, None)
        association._message_ids.release(self.message_id)


class _OneResponse:
    """Where the reader puts the response to a :meth:`Association.request_one`: the
    part of a memory object stream that it uses, for one response."""

    __slots__ = ("arrived", "response")

    def __init__(self) -> None:
        self.arrived = anyio.Event()
        self.response: Response | None = None

    def send_nowait(self, response: Response) -> None:
        if self.response is None and not self.arrived.is_set():
            self.response = response
            self.arrived.set()

    async def send(self, response: Response) -> None:  # never blocks
        self.send_nowait(response)

    def close(self) -> None:
        """The association ended: wake the requester with no response."""
        self.arrived.set()


@dataclass(eq=False)
class _PendingDataset:
    """A command whose data set fragments are still arriving."""

    context_id: int
    message: DIMSEMessage
    chunks: list[bytes | bytearray | memoryview] = field(default_factory=list)
    sink: DatasetSink | None = None
    sink_error: Exception | None = None
    limit: int | None = None
    size: int = 0
    checker: StructureChecker | None = None

    def add(self, data: bytes | bytearray | memoryview) -> None:
        """Keep a fragment: in the sink if there is one (a failing sink is discarded
        and the rest of the data set dropped), else in memory. Past ``limit`` bytes
        the data set is dropped the same way: the peer gets a failure status."""
        if self.sink_error is not None:
            return
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            self.sink_error = DatasetTooLargeError(self.limit)
            self.chunks.clear()
            if self.sink is not None:
                self.sink.discard()
            return
        if self.checker is not None:
            self.checker.feed(data)
        if self.sink is None:
            self.chunks.append(data)  # a view into its PDU: joined once at the end
            return
        try:
            self.sink.write(data)
        except Exception as exc:
            self.sink_error = exc
            self.sink.discard()

    def discard(self) -> None:
        if self.sink is not None and self.sink_error is None:
            self.sink.discard()


class DatasetTooLargeError(DicomNetError):
    """A received data set went past the configured maximum size."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the data set is larger than the {limit}-byte limit")
        self.limit = limit


class Association:
    """One DICOM association, requestor or acceptor side.

    Create it through :func:`dicomnet.connect` (requestor) or let a
    :class:`dicomnet.Server` create it (acceptor); the constructor is internal.
    """

    def __init__(
        self,
        *,
        stream: ByteStream | None,
        timeouts: Timeouts,
        max_pdu_length: int,
        on_associate: AcceptHook | None = None,
        on_request: RequestHook | None = None,
        inline: Callable[[DIMSEMessage], bool] | None = None,
        sink_factory: SinkFactory | None = None,
        max_dataset_size: int | None = None,
        peer: tuple[str, int] | None = None,
        accept_damaged: bool = False,
    ) -> None:
        self._stream = stream
        self.timeouts = timeouts
        self.peer = peer
        #: With TLS: the peer's certificate subject (RFC 4514), None without one.
        self.peer_certificate_subject: str | None = None
        #: The same subject parsed, what access rules compare (never the string).
        self.peer_certificate_name: Name | None = None
        self._ul = UpperLayer()
        self._framer = PDUFramer(max_pdata_length=max_pdu_length,
                                 max_other_length=MAX_ASSOCIATION_PDU_LENGTH)
        self._local_max_pdu = max_pdu_length
        self._on_associate = on_associate
        self._on_request = on_request
        # Requests whose handler runs in the reader's task (see _dispatch).
        self._inline = inline
        self._sink_factory = sink_factory
        self._max_dataset_size = max_dataset_size
        #: Whether a C-STORE data set found truncated or malformed still reaches the
        #: store handler (see :func:`dicomnet.services.storage.answer_store`).
        self.accept_damaged = accept_damaged
        self._negotiated: Negotiated | None = None
        self._request: AAssociateRQ | None = None
        self._reassembler: Reassembler | None = None
        self._incoming_dataset: _PendingDataset | None = None
        self._message_ids = MessageIDs()
        self._pending: dict[int, MemoryObjectSendStream[Response] | _OneResponse] = {}
        self._incoming: dict[int, IncomingRequest] = {}
        # fast_acquire: an uncontended lock does not yield to the event loop; a store
        # takes these locks several times, and each yield is a whole loop iteration.
        self._pdu_lock = anyio.Lock(fast_acquire=True)
        self._message_lock = anyio.Lock(fast_acquire=True)
        self._invoke_slots: anyio.Semaphore | None = None
        self._perform_slots: anyio.Semaphore | None = None
        self._negotiation_done = anyio.Event()
        self._release_done = anyio.Event()
        self._closed = anyio.Event()
        self._artim_scope: anyio.CancelScope | None = None
        self._artim_pending = False
        self._interpret: Callable[[AAssociateRQ, AAssociateAC], Negotiated] | None = None
        self._tasks: TaskGroup | None = None
        self._outcome: str = ""  # "accepted", "rejected", "released", "aborted"
        self._abort_error: DicomNetError | None = None
        self._rejection: AAssociateRJ | None = None
        self._sent_abort = False
        self._background: set[anyio.CancelScope] = set()  # start_task's tasks
        # Keeps Timeouts.network while the reader runs (before and after it, each
        # write has its own timer); see dicomnet.network_watch.
        self._watch: NetworkWatch | None = None
        self._write_timed_out = False

    # -- public view ----------------------------------------------------------------

    @property
    def negotiated(self) -> Negotiated:
        """What was agreed: contexts, roles, PDU sizes, windows (raises before then)."""
        if self._negotiated is None:
            raise AssociationError("the association is not established yet")
        return self._negotiated

    @property
    def associate_request(self) -> AAssociateRQ:
        """The A-ASSOCIATE-RQ that opened this association."""
        if self._request is None:
            raise AssociationError("no A-ASSOCIATE-RQ yet")
        return self._request

    @property
    def calling_ae_title(self) -> str:
        return self.associate_request.calling_ae_title

    @property
    def called_ae_title(self) -> str:
        return self.associate_request.called_ae_title

    @property
    def is_established(self) -> bool:
        return self._ul.state == State.STA6

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    @property
    def outcome(self) -> str:
        """How the association ended or stands: accepted, rejected, released, aborted."""
        return self._outcome

    def __repr__(self) -> str:
        who = f"{peer_text(self._request.calling_ae_title)}->" \
            f"{peer_text(self._request.called_ae_title)}" if self._request else "?"
        return f"<Association {who} {self._ul.state.name} {self._outcome}>"

    async def wait_closed(self) -> None:
        """Wait until the transport connection is closed (release, abort or rejection)."""
        await self._closed.wait()

    async def echo(self) -> int:
        """C-ECHO the peer (PS3.4 Annex A); returns the response status."""
        return await verification.echo(self)

    async def store(self, item: Storable, *, priority: int = 0,
                    move_originator: tuple[str, int] | None = None) -> int:
        """C-STORE a data set, a Part 10 file (path) or an open file (PS3.4 Annex B);
        returns the response status. Files are streamed from disk when the peer
        accepted their transfer syntax, else converted between uncompressed syntaxes."""
        from dicomnet.services import storage  # storage builds on this module

        return await storage.store(self, item, priority=priority,
                                   move_originator=move_originator)

    def store_each(self, items: Iterable[Storable], *, priority: int = 0
                   ) -> AsyncGenerator[tuple[Storable, int | Exception], None]:
        """C-STORE ``items`` one after another, yielding each with its status or with
        the error that kept it from being sent; while the peer handles one instance,
        the next is opened and read. See :func:`~dicomnet.services.storage.store_each`."""
        from dicomnet.services import storage

        return storage.store_each(self, items, priority=priority)

    def new_message_id(self) -> int:
        """A Message ID not used by any of our outstanding requests (PS3.7 §9.3.1.1)."""
        return self._message_ids.allocate()

    def release_message_id(self, message_id: int) -> None:
        """Give back a Message ID from :meth:`new_message_id` whose request will not be
        sent after all (a request that is sent gives its ID back when it is answered)."""
        self._message_ids.release(message_id)

    def start_task(self, function: Callable[[], Awaitable[object]]) -> None:
        """Run ``function()`` as a task beside this association's request handlers,
        holding no slot of the operations window: work a service does after it has
        answered (the report that follows a storage commitment request, PS3.4 J.3.3).

        The task outlives the end of the association (the report may have to go on a
        new one), so the association is not over, for :meth:`serve`, until the task
        ends or :meth:`cancel_tasks` stops it, as a server does when its shutdown grace
        period is over. What it raises ends the association, so it should handle its
        own errors."""
        if self._tasks is None:
            raise self._ended_error()

        async def run() -> None:
            with anyio.CancelScope(shield=True) as scope:
                self._background.add(scope)
                try:
                    await function()
                finally:
                    self._background.discard(scope)

        self._tasks.start_soon(run)

    def cancel_tasks(self) -> None:
        """Cancel what :meth:`start_task` started and has not finished."""
        for scope in list(self._background):
            scope.cancel()

    # -- requestor ------------------------------------------------------------------

    async def open(
        self,
        task_group: TaskGroup,
        request: AAssociateRQ,
        connect: Callable[[], Awaitable[ByteStream]],
        interpret: Callable[[AAssociateRQ, AAssociateAC], Negotiated],
    ) -> None:
        """Associate as requestor: connect, send the A-ASSOCIATE-RQ, wait for the answer.

        Raises :class:`AssociationRejectedError` on A-ASSOCIATE-RJ,
        :class:`AssociationAbortedError` if the peer aborts or closes, and
        :class:`DicomTimeoutError` when no answer comes within ``timeouts.acse``.
        """
        self._request = request
        self._interpret = interpret
        for output in self._ul.associate_request(request):  # AE-1
            if isinstance(output, ConnectTransport):
                with _timeout("TCP connect", self.timeouts.connect):
                    self._stream = await connect()
                _set_nodelay(self._stream)
        await self._perform(self._ul.transport_connected())  # AE-2: send A-ASSOCIATE-RQ
        await task_group.start(self._run)
        try:
            with _timeout("waiting for A-ASSOCIATE-AC", self.timeouts.acse):
                await self._negotiation_done.wait()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.abort()
            raise
        if self._outcome == "rejected":
            assert self._rejection is not None
            rj = self._rejection
            raise AssociationRejectedError(rj.result, rj.source, rj.reason,
                                           describe_reject(rj.result, rj.source, rj.reason))
        if self._outcome != "accepted":
            raise self._abort_error or AssociationAbortedError(
                "the association ended during negotiation")

    # -- acceptor -------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the acceptor side until the transport is closed. Never raises for
        anything the peer does; the outcome is logged and kept in :attr:`outcome`."""
        _set_nodelay(self._stream)
        async with anyio.create_task_group() as tg:
            await self._perform(self._ul.transport_accepted())  # AE-5: start ARTIM
            await tg.start(self._run)
        await self._closed.wait()

    # -- release and abort --------------------------------------------------------------

    async def release(self) -> None:
        """Release the association gracefully (PS3.8 §7.2), waiting for A-RELEASE-RP.

        Waits for our own outstanding messages to be sent first. If the peer does not
        answer within ``timeouts.acse`` the association is aborted.
        """
        if self._closed.is_set():
            return
        async with self._message_lock:
            if self._ul.state != State.STA6:
                return
            await self._perform(self._ul.release_request())  # AR-1
        try:
            with _timeout("waiting for A-RELEASE-RP", self.timeouts.acse):
                await self._closed.wait()
        except DicomTimeoutError:
            log.warning("%s: no A-RELEASE-RP within %s s, aborting", self._who(),
                        self.timeouts.acse)
            await self.abort()
            raise

    async def abort(self, source: int = AbortSource.SERVICE_USER,
                    reason: int = AbortReason.NOT_SPECIFIED) -> None:
        """Abort the association (A-ABORT, PS3.8 §7.3) and close the connection."""
        if self._closed.is_set():
            return
        with anyio.CancelScope(shield=True):
            if self._ul.state not in (State.STA1, State.STA13):
                try:
                    outputs = self._ul.abort_request(AAbort(source=source, reason=reason))
                except ProtocolStateError:
                    # Table 9-10 leaves A-ABORT request blank in Sta2 (no association
                    # yet to abort, PS3.8 §9.2): only the connection is closed below.
                    outputs = []
                self._outcome = "aborted"
                try:
                    await self._perform(outputs)
                except (AssociationError, OSError) as exc:
                    # The A-ABORT could not be written (peer gone, or not reading):
                    # closing the connection is all that is left to do.
                    log.info("%s: A-ABORT not sent: %s", self._who(), exc)
            # Sta13 waits for the peer to close; as the side that aborted we close at
            # once, which is the ARTIM expiring early (PS3.8 §9.2.3, AA-2).
            await self._close_transport()

    # -- sending --------------------------------------------------------------------------

    def send_capacity(self) -> int:
        """Largest P-DATA-TF PDU length we may send (the peer's maximum, PS3.8 D.1)."""
        peer = self.negotiated.peer_max_pdu_length
        return peer if peer > 0 else SEND_CAP_WHEN_UNLIMITED

    def prepare(self, context: AcceptedContext, message: DIMSEMessage,
                dataset: Dataset | bytes | memoryview | FileRegion | None = None
                ) -> OutgoingMessage:
        """``message`` (and its data set) encoded for sending on ``context``, its first
        socket write built: all the work of a send but the writing, to be done while
        the peer is busy. Send it with :meth:`request_prepared`; a prepared request
        that will not be sent should give its Message ID back
        (:meth:`release_message_id`)."""
        return OutgoingMessage(context, message, dataset, self.send_capacity())

    async def send_message(self, context: AcceptedContext, message: DIMSEMessage,
                           dataset: Dataset | bytes | memoryview | FileRegion | None = None
                           ) -> None:
        """Send one DIMSE message: its command, then its data set, never interleaved
        with another message. A send stopped half way aborts the association.

        A :class:`FileRegion` is streamed from its file one fragment at a time.
        """
        await self._write_message(self.prepare(context, message, dataset))

    async def send_batch(self, batch: ResponseBatch) -> None:
        """Write whole messages encoded together (:mod:`dicomnet.response_batch`)."""
        await self._write_message(batch)

    async def _write_message(self, outgoing: OutgoingMessage | ResponseBatch) -> None:
        async with self._message_lock:
            self._check_sendable()
            sent = 0
            try:
                self._ul.data_request()  # P-DATA request is valid in this state
                for batch in outgoing.writes():
                    if sent:
                        # Writes are shielded; let a cancellation in between them.
                        await anyio.lowlevel.checkpoint_if_cancelled()
                    await self._send_bytes(batch)
                    sent += 1
            except BaseException:
                if sent:
                    log.error("%s: sending %s stopped half way; aborting the association",
                              self._who(), _describe(outgoing.message))
                    with anyio.CancelScope(shield=True):
                        await self.abort(AbortSource.SERVICE_USER)
                raise
        if log.isEnabledFor(logging.DEBUG):
            size = outgoing.dataset_size
            log.debug("%s: sent %s%s", self._who(), _describe(outgoing.message),
                      "" if size is None else f" + data set ({size} bytes)")

    async def request(self, context: AcceptedContext, message: DIMSEMessage,
                      dataset: Dataset | bytes | memoryview | FileRegion | None = None,
                      *, while_waiting: Callable[[], object] | None = None
                      ) -> AsyncGenerator[Response, None]:
        """Send a request and yield its responses until a final (non-pending) one.

        The message's Message ID must come from :meth:`new_message_id`. Holds one slot
        of the negotiated asynchronous operations window while outstanding.
        ``while_waiting`` is called once the request is sent, before waiting for the
        first response: work for the time the peer is busy (preparing the next request).
        """
        message_id = int(message.message_id)  # type: ignore[union-attr]
        send, receive = anyio.create_memory_object_stream[Response](_RESPONSE_BUFFER)
        sent = final = False
        try:
            async with _Outstanding(self, message_id, send):
                try:
                    await self._write_message(self.prepare(context, message, dataset))
                    sent = True
                    if while_waiting is not None:
                        while_waiting()
                    while True:
                        try:
                            # One already here needs no wait: no event loop round per
                            # response while the reader is ahead (C-FIND matches).
                            response = receive.receive_nowait()
                        except anyio.WouldBlock:
                            try:
                                response = await self._answer(message, receive.receive())
                            except anyio.EndOfStream:
                                raise self._ended_error() from None
                        except anyio.EndOfStream:
                            raise self._ended_error() from None
                        final = _category(response.message) != StatusCategory.PENDING
                        yield response
                        if final:
                            return
                finally:
                    if sent and not final and message.command_field in _CANCELLABLE \
                            and not self._closed.is_set():
                        # The caller stopped listening (break, cancellation): tell the
                        # peer and wait for its final response (PS3.7 §9.1.2.1.3 /
                        # §9.3.2.3).
                        with anyio.CancelScope(shield=True):
                            await self._cancel(context, message_id, receive)
        finally:
            send.close()
            receive.close()

    async def request_one(self, context: AcceptedContext, message: DIMSEMessage,
                          dataset: Dataset | bytes | memoryview | FileRegion | None = None,
                          *, while_waiting: Callable[[], object] | None = None
                          ) -> Response:
        """Send a request that has one response (C-ECHO, C-STORE, the DIMSE-N
        operations) and return it (the first one, should a peer send a pending one).

        :meth:`request` without its generator and response stream: for a C-STORE
        after another, both were a cost between the answer and the next request.
        Requests a C-CANCEL can stop (C-FIND, C-GET, C-MOVE) go through
        :meth:`request`, which knows how to cancel them."""
        if message.command_field in _CANCELLABLE:
            async with aclosing(self.request(context, message, dataset,
                                             while_waiting=while_waiting)) as responses:
                async for response in responses:
                    return response
            raise DIMSEError(f"no response to {_describe(message)}")  # pragma: no cover
        return await self.request_prepared(self.prepare(context, message, dataset),
                                           while_waiting=while_waiting)

    async def request_prepared(self, outgoing: OutgoingMessage, *,
                               while_waiting: Callable[[], object] | None = None
                               ) -> Response:
        """:meth:`request_one` for a request made ready with :meth:`prepare`: what is
        left between a response and the next request is the writing. Not for requests
        a C-CANCEL can stop: those go through :meth:`request`."""
        message = outgoing.message
        if message.command_field in _CANCELLABLE:
            raise ValueError(f"{_describe(message)} can be cancelled: use request()")
        waiter = _OneResponse()
        async with _Outstanding(self, int(message.message_id),  # type: ignore[union-attr]
                                waiter):
            await self._write_message(outgoing)
            if while_waiting is not None:
                while_waiting()
            await self._answer(message, waiter.arrived.wait())
        if waiter.response is None:
            raise self._ended_error()
        return waiter.response

    async def _answer(self, message: DIMSEMessage, waiting: Awaitable[_R]) -> _R:
        """``await waiting``, the wait for a response to our ``message``, within the
        DIMSE timeout; one that expires aborts the association, since the peer may
        still answer a request we have given up on."""
        try:
            with _timeout(lambda: f"waiting for the response to {_describe(message)}",
                          self.timeouts.dimse):
                return await waiting
        except DicomTimeoutError:
            await self.abort()
            raise

    async def _cancel(self, context: AcceptedContext, message_id: int,
                      responses: MemoryObjectReceiveStream[Response]) -> None:
        """C-CANCEL-RQ an outstanding request, then drain its responses up to the final
        one; a peer that does not finish within the DIMSE (or ACSE) timeout is aborted."""
        try:
            await self.send_message(context, CCancelRQ(
                message_id_being_responded_to=message_id))
            with _timeout("waiting for the final response after C-CANCEL",
                          self.timeouts.dimse or self.timeouts.acse):
                async for response in responses:
                    if _category(response.message) != StatusCategory.PENDING:
                        return
        except DicomTimeoutError:
            await self.abort()
        except DicomNetError:
            pass  # the association ended meanwhile; nothing more to wait for

    # -- the reader ------------------------------------------------------------------------

    async def _run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Read PDUs until the transport closes; handlers run in this task group."""
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                if self._artim_pending:  # AE-5 asked for ARTIM before we could run it
                    self._start_artim()
                if self.timeouts.network is not None:
                    self._watch = NetworkWatch(self.timeouts.network)
                    tasks.start_soon(self._watch_network, self._watch)
                task_status.started()
                await self._read_loop()
                tasks.cancel_scope.cancel()
        finally:
            self._watch = None
            self._tasks = None
            self._finish()

    async def _watch_network(self, watch: NetworkWatch) -> None:
        """Act on Timeouts.network: a read that waits too long aborts the association
        (in a task of its own, so this one goes on watching the A-ABORT's write); a
        write that does not complete closes the connection, which ends the write."""
        while True:
            if await watch.expired() == "write":
                self._write_timed_out = True
                await self._close_transport()
                return
            log.warning("%s: %s for %s s, aborting", self._who(),
                        "a PDU still incomplete" if self._framer.buffered
                        else "no data from the peer", watch.seconds)
            self._abort_error = DicomTimeoutError("network", watch.seconds)
            assert self._tasks is not None
            self._tasks.start_soon(self.abort)

    async def _read_loop(self) -> None:
        assert self._stream is not None
        stream = self._stream
        partial_since: float | None = None  # when the incomplete PDU began to arrive
        while not self._closed.is_set():
            # The network timeout applies while established; before that ARTIM and the
            # ACSE timeout bound every wait, and after it the release/abort paths do.
            # It bounds a whole PDU, not each read: a peer that drips a byte at a time
            # cannot hold the association forever.
            watch = self._watch if self._ul.state == State.STA6 else None
            if watch is not None:
                watch.reading(partial_since)
            try:
                data = await stream.receive(_READ_SIZE)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError,
                    OSError) as exc:
                if not self._closed.is_set():
                    if self._ul.state not in (State.STA1, State.STA13):
                        log.info("%s: connection closed by the peer (%s)", self._who(),
                                 type(exc).__name__)
                    await self._perform(self._ul.transport_closed())  # Evt17
                    await self._close_transport()
                return
            finally:
                if watch is not None:
                    watch.read_done()
            self._framer.feed(data)
            while True:
                try:
                    pdu = self._framer.next_pdu()
                except PDUError as exc:
                    log.error("%s: invalid PDU from the peer: %s; aborting", self._who(),
                              peer_text(exc, 200))
                    self._abort_error = AssociationAbortedError(f"invalid PDU received: {exc}")
                    self._outcome = "aborted"
                    # If the A-ABORT cannot be written, the peer is gone: close anyway.
                    with suppress(DicomNetError):
                        await self._perform(self._ul.invalid_pdu_received(_abort_reason(exc)))
                    await self._close_transport()
                    return
                if pdu is None:
                    if self._framer.buffered == 0:
                        partial_since = None
                    elif partial_since is None:
                        partial_since = NetworkWatch.now()
                    break
                partial_since = None
                if pdu_log.isEnabledFor(logging.DEBUG):
                    pdu_log.debug("%s: received %s", self._who(), _summarise(pdu))
                try:
                    await self._perform(self._ul.pdu_received(pdu))
                except DicomNetError:
                    if not self._closed.is_set():
                        raise
                    # The answer (AC, RJ, RP, A-ABORT) could not be sent: the peer is
                    # gone and _send_bytes closed the connection (Evt17, PS3.8 Table
                    # 9-10): the association is over, quietly, as for any close.
                    return
                if self._sent_abort and self._ul.state == State.STA13:
                    # We aborted (AA-1/AA-8): nothing more can come that matters, so
                    # close now instead of waiting out ARTIM for the peer to close.
                    await self._close_transport()
                if self._closed.is_set():
                    return

    # -- performing the state machine's outputs -----------------------------------------

    async def _perform(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, SendPDU):
                if isinstance(output.pdu, AAbort):
                    self._sent_abort = True
                if pdu_log.isEnabledFor(logging.DEBUG):
                    pdu_log.debug("%s: sending %s", self._who(), _summarise(output.pdu))
                await self._send_bytes(encode_pdu(output.pdu))
            elif isinstance(output, DataIndication):
                await self._on_data(output.pdu)
            elif isinstance(output, StartARTIM):
                self._start_artim()
            elif isinstance(output, StopARTIM):
                self._stop_artim()
            elif isinstance(output, CloseTransport):
                await self._close_transport()
            elif isinstance(output, AssociateIndication):
                await self._on_associate_indication(output.request)
            elif isinstance(output, AssociateAccepted):
                self._on_accepted(output.response)
            elif isinstance(output, AssociateRejected):
                self._rejection = output.response
                self._outcome = "rejected"
                self._negotiation_done.set()
            elif isinstance(output, ReleaseIndication):
                await self._on_release_indication(output.collision)
            elif isinstance(output, ReleaseConfirmed):
                self._outcome = "released"
                self._release_done.set()
                log.info("%s: association released", self._who())
                if self._ul.state == State.STA12:
                    # Acceptor side of a release collision (AR-10): now answer the
                    # peer's A-RELEASE-RQ (Evt14, AR-4).
                    await self._perform(self._ul.release_response())
            elif isinstance(output, AbortIndication):
                self._on_abort_indication(output)
            elif isinstance(output, ConnectTransport):  # pragma: no cover - only in open()
                raise AssociationError("unexpected transport connect request")

    async def _send_bytes(self, data: bytes | bytearray) -> None:
        """Write one whole PDU. Shielded so a cancelled caller never leaves half a PDU."""
        if self._stream is None or self._closed.is_set():
            raise self._ended_error()
        with anyio.CancelScope(shield=True):
            async with self._pdu_lock:
                watch = self._watch
                try:
                    # anyio's streams take any bytes-like object; copying the write
                    # buffer to bytes just for the annotation would cost.
                    if watch is not None:
                        watch.writing()
                        try:
                            await self._stream.send(cast(bytes, data))
                        finally:
                            watch.write_done()
                    else:  # no reader (yet, or any more): no watcher either
                        with _timeout("sending a PDU", self.timeouts.network):
                            await self._stream.send(cast(bytes, data))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError,
                        DicomTimeoutError) as exc:
                    error: Exception = exc
                    if self._write_timed_out:  # the watcher closed the connection
                        error = DicomTimeoutError("sending a PDU", self.timeouts.network or 0)
                    log.info("%s: cannot send: %s", self._who(), error)
                    await self._close_transport()
                    raise AssociationAbortedError(f"connection lost while sending: {error}") \
                        from error

    async def _close_transport(self) -> None:
        if self._stream is not None and not self._closed.is_set():
            self._stop_artim()
            self._closed.set()
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(self._stream)
            if self._ul.state != State.STA1:
                # Tell the machine the connection is gone (Evt17) so its state is final.
                try:
                    outputs = self._ul.transport_closed()
                except Exception:
                    outputs = []
                for output in outputs:
                    if isinstance(output, AbortIndication):
                        self._on_abort_indication(output)
        self._closed.set()

    def _finish(self) -> None:
        """The connection is gone: wake everybody who waits on it."""
        self._closed.set()
        self._negotiation_done.set()
        self._release_done.set()
        self._stop_artim()
        for send in self._pending.values():
            send.close()
        for incoming in self._incoming.values():
            incoming.cancelled.set()
        if self._incoming_dataset is not None:
            # The data set will never be whole: nothing half-received may stay.
            self._incoming_dataset.discard()
            self._incoming_dataset = None

    # -- ARTIM (PS3.8 §9.1.5) -----------------------------------------------------------

    def _start_artim(self) -> None:
        self._stop_artim()
        if self._closed.is_set():
            # The connection is already closed (by a concurrent abort, say), and the
            # reader's task group may be gone: there is nothing left for ARTIM to time.
            return
        if self._tasks is None:
            # AE-5 starts ARTIM before the reader's task group exists; _run starts it.
            self._artim_pending = True
            return
        scope = anyio.CancelScope()
        self._artim_scope = scope
        self._tasks.start_soon(self._artim, scope)

    def _stop_artim(self) -> None:
        self._artim_pending = False
        if self._artim_scope is not None:
            self._artim_scope.cancel()
            self._artim_scope = None

    async def _artim(self, scope: anyio.CancelScope) -> None:
        with scope:
            await anyio.sleep(self.timeouts.artim)
            if scope.cancel_called or self._ul.state not in (State.STA2, State.STA13):
                # Stopped, or the connection closed, in the instant it expired: the
                # cancellation lands only at the next checkpoint, and Evt18 exists in
                # Sta2 and Sta13 only (PS3.8 Table 9-10).
                return
            log.info("%s: ARTIM expired in %s", self._who(), self._ul.state.name)
            if self._outcome in ("", "accepted"):
                self._outcome = "aborted"
            await self._perform(self._ul.artim_expired())
            await self._close_transport()

    # -- indications ------------------------------------------------------------------------

    async def _on_associate_indication(self, request: AAssociateRQ) -> None:
        self._request = request
        assert self._on_associate is not None, "acceptor without an accept hook"
        try:
            with _timeout("deciding on A-ASSOCIATE-RQ", self.timeouts.acse):
                decision = await self._on_associate(self, request)
        except Exception:
            log.exception("%s: the association handler failed; rejecting", self._who())
            decision = AAssociateRJ(result=1, source=1, reason=1)
        if isinstance(decision, AAssociateRJ):
            self._rejection = decision
            self._outcome = "rejected"
            await self._perform(self._ul.associate_reject(decision))  # AE-8
            self._negotiation_done.set()
            return
        accept, negotiated = decision
        self._established(negotiated)
        await self._perform(self._ul.associate_accept(accept))  # AE-7
        self._negotiation_done.set()

    def _on_accepted(self, accept: AAssociateAC) -> None:
        assert self._request is not None and self._interpret is not None
        try:
            negotiated = self._interpret(self._request, accept)
        except AssociationError as exc:
            log.error("%s: unusable A-ASSOCIATE-AC: %s", self._who(), peer_text(exc, 200))
            self._abort_error = AssociationAbortedError(f"unusable A-ASSOCIATE-AC: {exc}")
            self._outcome = "aborted"
            self._negotiation_done.set()
            return
        self._established(negotiated)
        self._negotiation_done.set()

    def _established(self, negotiated: Negotiated) -> None:
        self._negotiated = negotiated
        self._outcome = "accepted"
        self._reassembler = Reassembler(tuple(negotiated.accepted))
        self._invoke_slots = _window(negotiated.max_invoke)
        self._perform_slots = _window(negotiated.max_perform)

    async def _on_release_indication(self, collision: bool) -> None:
        """The peer asked to release. We answer at once: a well-behaved peer releases
        only when it has no outstanding operations (PS3.7 §D.3.3.3)."""
        log.info("%s: peer requested release%s", self._who(),
                 " (release collision)" if collision else "")
        if collision and self._ul.state == State.STA10:
            # Acceptor side of a collision: wait for the peer's A-RELEASE-RP first
            # (Sta10 -> Sta12), then respond (AR-4). The reader delivers it.
            return
        await self._perform(self._ul.release_response())
        self._outcome = "released"

    def _on_abort_indication(self, output: AbortIndication) -> None:
        if (output.abort is not None and not output.provider) or output.abort is not None:
            text = describe_abort(output.abort.source, output.abort.reason)
        else:
            text = "the connection was closed without A-RELEASE or A-ABORT"
        if self._outcome not in ("released", "rejected"):
            if self._abort_error is None:
                self._abort_error = AssociationAbortedError(
                    text,
                    source=output.abort.source if output.abort else None,
                    reason=output.abort.reason if output.abort else None,
                )
            if self._outcome != "aborted":
                log.warning("%s: association aborted: %s", self._who(), text)
            self._outcome = "aborted"
        self._negotiation_done.set()

    # -- DIMSE in -------------------------------------------------------------------------

    async def _on_data(self, pdu: PDataTF) -> None:
        if self._reassembler is None:  # pragma: no cover - the UL forbids P-DATA before Sta6
            return
        try:
            events = self._reassembler.feed(pdu)
        except DIMSEError as exc:
            log.error("%s: bad DIMSE message from the peer: %s; aborting", self._who(),
                      peer_text(exc, 200))
            self._abort_error = AssociationAbortedError(f"bad DIMSE message received: {exc}")
            await self.abort(AbortSource.SERVICE_PROVIDER,
                             AbortReason.UNEXPECTED_PDU_PARAMETER)
            return
        for event in events:
            if isinstance(event, CommandReceived):
                if event.message.has_dataset:
                    self._incoming_dataset = self._start_dataset(event.context_id,
                                                                 event.message)
                else:
                    await self._dispatch(event.context_id, event.message)
            elif isinstance(event, DatasetFragment):
                pending = self._incoming_dataset
                assert pending is not None  # the reassembler guarantees a command first
                pending.add(event.data)
                if event.is_last:
                    self._incoming_dataset = None
                    await self._finish_dataset(pending)

    def _start_dataset(self, context_id: int, message: DIMSEMessage) -> _PendingDataset:
        """A command announced a data set: decide where its bytes go."""
        # The limit guards requests; responses are the answers we asked for.
        limit = self._max_dataset_size if message.is_request else None
        pending = _PendingDataset(context_id, message, limit=limit)
        context = self.negotiated.accepted[context_id]
        if isinstance(message, CStoreRQ):  # checked as it arrives: nothing kept for it
            pending.checker = StructureChecker(context.transfer_syntax, max_inflated=limit)
        if self._sink_factory is not None and message.is_request:
            try:
                pending.sink = self._sink_factory(self, context, message)
            except Exception as exc:
                log.error("%s: cannot receive the data set of %s: %s", self._who(),
                          _describe(message), exc)
                pending.sink_error = exc
        return pending

    async def _finish_dataset(self, pending: _PendingDataset) -> None:
        # A data set dropped on the way (too large, sink failed) was not all checked.
        damage = pending.checker.finish() \
            if pending.checker is not None and pending.sink_error is None else None
        if pending.sink is not None or pending.sink_error is not None:
            if pending.sink is not None and pending.sink_error is None:
                try:
                    pending.sink.close()
                except Exception as exc:
                    pending.sink_error = exc
                    pending.sink.discard()
            await self._dispatch(pending.context_id, pending.message, None,
                                 pending.sink, pending.sink_error, damage=damage)
            return
        chunks = pending.chunks
        data = bytes(chunks[0]) if len(chunks) == 1 else b"".join(chunks)
        await self._dispatch(pending.context_id, pending.message, data, damage=damage)

    async def _dispatch(self, context_id: int, message: DIMSEMessage,
                        dataset: bytes | None = None, sink: DatasetSink | None = None,
                        sink_error: Exception | None = None, *,
                        damage: Damage | None = None) -> None:
        if log.isEnabledFor(logging.DEBUG):  # the arguments cost, once per message
            log.debug("%s: received %s%s", self._who(), _describe(message),
                      "" if dataset is None else f" + data set ({len(dataset)} bytes)")
        context = self.negotiated.accepted[context_id]
        if message.is_response:
            responded_to = int(message.message_id_being_responded_to)  # type: ignore[union-attr]
            send = self._pending.get(responded_to)
            if send is None:
                log.warning("%s: response to unknown Message ID %d ignored", self._who(),
                            responded_to)
                return
            # If the requester went away, its response no longer matters.
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                response = Response(message, context, dataset)
                try:
                    send.send_nowait(response)  # no extra event loop round when room
                except anyio.WouldBlock:
                    await send.send(response)
                else:
                    # Let the requester, woken just now, run before this reader goes
                    # back to the socket: its next request is what the peer waits for.
                    # Not after a pending response (C-FIND matches): nothing follows
                    # it from us, and a loop round per match cost more than the rest.
                    if _category(message) != StatusCategory.PENDING:
                        await anyio.lowlevel.checkpoint()
            return
        if message.command_field == 0x0FFF:  # C-CANCEL-RQ (PS3.7 §9.3.2.3)
            target = self._incoming.get(int(message.message_id_being_responded_to))  # type: ignore[union-attr]
            if target is not None:
                target.cancelled.set()
            return
        incoming = IncomingRequest(self, context, message, dataset, sink, sink_error,
                                   damage)
        request_id = int(message.message_id)  # type: ignore[union-attr]
        self._incoming[request_id] = incoming
        assert self._tasks is not None
        if self._perform_slots is not None:
            await self._perform_slots.acquire()
        if self._inline is not None and self._inline(message):
            # A handler that never waits on this association (Server.on_store's
            # inline): no task of its own, which on a busy server cost ~40 us of the
            # ~400 between a data set's last byte and its answer, plus a loop round.
            # Nothing is read from the peer until it returns.
            await self._handle(incoming, request_id)
        else:
            self._tasks.start_soon(self._handle, incoming, request_id)

    async def _handle(self, incoming: IncomingRequest, request_id: int) -> None:
        """Run the handler; a request it leaves unanswered, because it failed or
        forgot, still gets a final response so the peer is not left waiting."""
        status = Status.PROCESSING_FAILURE  # PS3.7 C.4: failure of unspecified cause
        comment = None
        try:
            if self._on_request is None:
                log.warning("%s: no handler for %s", self._who(), _describe(incoming.message))
                status = Status.UNRECOGNIZED_OPERATION
            else:
                await self._on_request(incoming)
                if not incoming.answered and incoming.message.command_field != \
                        CommandField.C_CANCEL_RQ:
                    log.error("%s: the handler for %s sent no final response",
                              self._who(), _describe(incoming.message))
        except AssociationError as exc:
            log.info("%s: handler stopped: %s", self._who(), exc)
            return
        except Exception as exc:
            log.exception("%s: handler for %s failed", self._who(),
                          _describe(incoming.message))
            comment = exception_comment(exc)
        finally:
            if not incoming.answered \
                    and incoming.message.command_field != CommandField.C_CANCEL_RQ:
                with anyio.CancelScope(shield=True), suppress(DicomNetError):
                    await incoming.refuse(status, comment)
            self._incoming.pop(request_id, None)
            if self._perform_slots is not None:
                self._perform_slots.release()

    # -- helpers --------------------------------------------------------------------------

    def _check_sendable(self) -> None:
        if self._closed.is_set() or self._ul.state not in (State.STA6, State.STA8):
            raise self._ended_error()

    def _ended_error(self) -> DicomNetError:
        if self._abort_error is not None:
            return self._abort_error
        if self._outcome == "released":
            return AssociationReleasedError("the association has been released")
        if self._outcome == "rejected":
            return AssociationReleasedError("the association was rejected")
        return AssociationAbortedError("the association has ended")

    def _who(self) -> str:
        if self._request is not None:
            # The titles are the peer's text: escaped, so they cannot forge log lines.
            text = f"{peer_text(self._request.calling_ae_title)}->" \
                f"{peer_text(self._request.called_ae_title)}"
        else:
            text = "association"
        if self.peer is not None:
            text += f" [{self.peer[0]}:{self.peer[1]}]"
        return text


# -- module helpers --------------------------------------------------------------------------


@contextmanager
def _timeout(what: str | Callable[[], str], seconds: float | None) -> Iterator[None]:
    """``anyio.fail_after`` raising :class:`DicomTimeoutError` that says what timed out.

    Only the deadline of this scope is translated; a TimeoutError raised by the body
    passes through unchanged. ``what`` may be a function that makes the text, when
    making it costs something on a path taken once per request.
    """
    if seconds is None:  # no timer, no cancel scope: a few microseconds a request
        yield
        return
    scope = anyio.fail_after(seconds)
    try:
        with scope:
            yield
    except TimeoutError as exc:
        if isinstance(exc, DicomTimeoutError):
            raise
        raise DicomTimeoutError(what if isinstance(what, str) else what(),
                                seconds or 0) from None


def _window(size: int) -> anyio.Semaphore | None:
    """A semaphore for an asynchronous operations window; 0 means unlimited."""
    return None if size <= 0 else anyio.Semaphore(size, fast_acquire=True)


def _category(message: DIMSEMessage) -> StatusCategory:
    return message.status_category  # type: ignore[union-attr]


def _abort_reason(exc: PDUError) -> int:
    """PS3.8 §9.3.8: tell the peer what was wrong with its PDU."""
    if exc.field == "PDU-type":
        return AbortReason.UNRECOGNIZED_PDU
    if exc.field == "PDU-length":
        return AbortReason.INVALID_PDU_PARAMETER_VALUE
    return AbortReason.INVALID_PDU_PARAMETER_VALUE


def _describe(message: DIMSEMessage) -> str:
    name = CommandField(message.command_field).name.replace("_", "-")
    if message.is_response:
        return f"{name} (to #{getattr(message, 'message_id_being_responded_to', '?')}, " \
               f"status 0x{getattr(message, 'status', 0):04X})"
    return f"{name} #{getattr(message, 'message_id', '?')}"


def _summarise(pdu: PDU) -> str:
    if isinstance(pdu, PDataTF):
        sizes = ", ".join(
            f"ctx {v.context_id} {'cmd' if v.is_command else 'data'}"
            f"{' last' if v.is_last else ''} {len(v.data)} B" for v in pdu.pdvs)
        return f"P-DATA-TF [{sizes}]"
    return PDUType(pdu.pdu_type).name.replace("_", "-") if not isinstance(pdu, AAbort) \
        else f"A-ABORT (source {pdu.source}, reason {pdu.reason})"


def _set_nodelay(stream: ByteStream | None) -> None:
    """Disable Nagle: DIMSE is request/response, and a delayed ACK costs ~40 ms per
    message: DCMTK itself leaves Nagle on unless TCP_NODELAY=1 is in its environment,
    and then every response waits for the peer's delayed ACK."""
    if stream is None:
        return
    try:
        sock = stream.extra(SocketAttribute.raw_socket)
    except Exception:
        return
    with suppress(OSError):  # not a TCP socket
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
