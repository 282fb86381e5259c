"""The thin anyio driver of one :class:`~dicomnet.connection.DicomConnection`.

Everything an association decides lives in the sans-IO connection; this module does
what needs a transport, a clock or a task: the read loop (bytes in, connection events
out), the writes (whole PDUs, whole messages), the timers (ARTIM, the DIMSE and ACSE
waits, the network timeout), the waiters of our requests and the tasks of the peer's.

Three rules keep the wire clean:

- each PDU is written whole (the write is shielded from cancellation and bounded by the
  network timeout), so a cancelled task never leaves half a PDU behind;
- the PDUs of one DIMSE message are sent under a message lock, so two messages never
  interleave (PS3.7 §6.3.1 / PS3.8 §9.3.5);
- a message whose sending stops half way (cancelled, timed out) aborts the association,
  because the peer could not make sense of what follows.

The driver knows no service: :mod:`dicomnet.services` build on it, and
:class:`dicomnet.Association` adds one method per service on top.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing, suppress
from functools import partial
from inspect import isawaitable
from typing import TYPE_CHECKING, TypeVar, cast

import anyio
import anyio.lowlevel
from anyio.abc import ByteStream, TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from dicomnet import events as ev
from dicomnet.acse import AcceptedContext, Negotiated
from dicomnet.answer_at_once import answer_at_once
from dicomnet.association_events import AssociationEvents
from dicomnet.clocks import ArtimTimer, deadline
from dicomnet.config import MAX_IDENTIFIER_SIZE, SEND_CAP_WHEN_UNLIMITED, Timeouts
from dicomnet.connection import CANCELLABLE, DicomConnection
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
    RequestArrived,
    Response,
    ResponseArrived,
    SinkFailed,
    StrayResponse,
)
from dicomnet.dataset_io import FileRegion, SinkFactory
from dicomnet.dimse import CommandField, DIMSEMessage, Status, describe_message, is_final_response
from dicomnet.dimse.comment import exception_comment
from dicomnet.errors import (
    AssociationAbortedError,
    AssociationError,
    DicomNetError,
    DicomTimeoutError,
    DIMSEError,
)
from dicomnet.incoming_dataset import DatasetTooLargeError
from dicomnet.incoming_request import IncomingRequest
from dicomnet.network_watch import NetworkWatch
from dicomnet.outgoing import OutgoingMessage
from dicomnet.pdu import AAssociateAC, AAssociateRJ, AAssociateRQ
from dicomnet.pdu.constants import AbortReason, AbortSource, describe_reject
from dicomnet.response_batch import ResponseBatch
from dicomnet.response_waiter import OneResponse
from dicomnet.stream_link import StreamLink
from dicomnet.tcp import tune_connection
from dicomnet.turn_lock import TurnLock

if TYPE_CHECKING:
    from cryptography.x509 import Name
    from pydicom import Dataset

    from dicomnet.service_methods import Association

__all__ = ["AcceptHook", "AssociationDriver", "DatasetTooLargeError", "IncomingRequest",
           "RequestHook", "Response"]

log = logging.getLogger("dicomnet.association")

#: How many bytes one read asks the transport for.
_READ_SIZE = 1 << 18

#: Responses buffered per outstanding request before the reader waits for the consumer.
_RESPONSE_BUFFER = 32

_R = TypeVar("_R")

#: Accept-side hook: given the A-ASSOCIATE-RQ, return the AC (and the negotiated view) or
#: an RJ. The server implements it with :mod:`dicomnet.acse`.
AcceptHook = Callable[["AssociationDriver", AAssociateRQ],
                      Awaitable[tuple[AAssociateAC, Negotiated] | AAssociateRJ]]

#: Handler for DIMSE requests arriving from the peer.
RequestHook = Callable[[IncomingRequest], Awaitable[None]]


class AssociationDriver:
    """One DICOM association, requestor or acceptor side, over an anyio byte stream.

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
        answer_now: Callable[[AcceptedContext, DIMSEMessage], DIMSEMessage | None] | None = None,
        sink_factory: SinkFactory | None = None,
        max_dataset_size: int | None = None,
        max_identifier_size: int | None = MAX_IDENTIFIER_SIZE,
        peer: tuple[str, int] | None = None,
        accept_damaged: bool = False,
        events: ev.EventHub | None = None,
    ) -> None:
        self._stream = stream
        self._owns_stream = False  # True once open() made the connection itself
        self.timeouts = timeouts
        self._link = None if stream is None else StreamLink(stream, timeouts.network)
        self.peer = peer
        #: With TLS: the peer's certificate subject (RFC 4514), None without one.
        self.peer_certificate_subject: str | None = None
        #: The same subject parsed, what access rules compare (never the string).
        self.peer_certificate_name: Name | None = None
        factory = sink_factory
        self._conn = DicomConnection(
            max_pdu_length=max_pdu_length, max_dataset_size=max_dataset_size,
            max_identifier_size=max_identifier_size, sink_for=None if factory is None
            else (lambda context, message: factory(self._public(), context, message)))
        self._on_associate = on_associate
        self._on_request = on_request
        # Requests whose handler runs in the reader's task (see _start_handler), and
        # the answers to send before it wakes (dicomnet.answer_at_once).
        self._inline, self._answer_now = inline, answer_now
        if answer_now is not None and self._link is not None:
            self._link.at_once(partial(answer_at_once, self))
        #: Whether a C-STORE data set found truncated or malformed still reaches the
        #: store handler (see :func:`dicomnet.services.storage.answer_store`).
        self.accept_damaged = accept_damaged
        self._waiters: dict[int, MemoryObjectSendStream[Response] | OneResponse] = {}
        self._incoming: dict[int, IncomingRequest] = {}
        self._message_lock = TurnLock()
        # Set and replaced when a slot of the window comes back, if someone waits;
        # the same for the peer's requests.
        self._window_freed, self._window_wanted = anyio.Event(), False
        self._performed, self._perform_wanted = anyio.Event(), False
        self._negotiation_done = anyio.Event()
        self._closed = anyio.Event()
        self._artim = ArtimTimer(timeouts.artim, self._artim_expired)
        self._tasks: TaskGroup | None = None
        self._background: set[anyio.CancelScope] = set()  # start_task's tasks
        # Keeps Timeouts.network while the reader runs (before and after it, each
        # write has its own timer); see dicomnet.network_watch.
        self._watch: NetworkWatch | None = None
        self._reading = False  # the reader waits in a read
        self._idle_read = False  # ...with no deadline (an idle requestor)
        self._write_timed_out = False
        #: DIMSE messages of ours whose writing began (a retry is safe only while it
        #: has not changed: the peer cannot have seen the request).
        self.messages_written = 0
        #: What happens here, for the log and the application (dicomnet.events).
        self.events = AssociationEvents(
            events, "acceptor" if on_associate is not None else "requestor", peer)
        #: Why the accept hook rejects, in words, for the event (default: PS3.8 Table
        #: 9-21's text), and whether the hook has logged it already (a server's
        #: admission limits summarise floods of refusals themselves).
        self.rejection_text: str | None = None
        self.rejection_logged = False

    # -- public view ----------------------------------------------------------------

    @property
    def negotiated(self) -> Negotiated:
        """What was agreed: contexts, roles, PDU sizes, windows (raises before then)."""
        if self._conn.negotiated is None:
            raise AssociationError("the association is not established yet")
        return self._conn.negotiated

    @property
    def associate_request(self) -> AAssociateRQ:
        """The A-ASSOCIATE-RQ that opened this association."""
        if self._conn.request is None:
            raise AssociationError("no A-ASSOCIATE-RQ yet")
        return self._conn.request

    @property
    def calling_ae_title(self) -> str:
        return self.associate_request.calling_ae_title

    @property
    def called_ae_title(self) -> str:
        return self.associate_request.called_ae_title

    @property
    def is_established(self) -> bool:
        return self._conn.established

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    @property
    def outcome(self) -> Outcome:
        """How the association ended or stands: accepted, rejected, released, aborted."""
        return self._conn.outcome

    @property
    def connection(self) -> DicomConnection:
        """The sans-IO state of this association (read it; the driver drives it)."""
        return self._conn

    def __repr__(self) -> str:
        return f"<Association {self._who()} {self._conn.state.name} {self._conn.outcome}>"

    async def wait_closed(self) -> None:
        """Wait until the transport connection is closed (release, abort or rejection)."""
        await self._closed.wait()

    def start_task(self, function: Callable[[], Awaitable[object]]) -> None:
        """Run ``function()`` as a task beside this association's request handlers,
        holding no slot of the operations window: work a service does after it has
        answered (the report that follows a storage commitment request, PS3.4 J.3.3).

        The task outlives the end of the association (the report may have to go on a
        new one), so the association is not over, for :meth:`serve`, until the task
        ends or :meth:`cancel_tasks` stops it, as a server does when its shutdown grace
        period is over. What it raises ends the association: it handles its errors."""
        if self._tasks is None:
            raise self._conn.ended_error()

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
        conn = self._conn
        conn.associate(request, interpret)  # AE-1
        with deadline("TCP connect", self.timeouts.connect):
            self._stream = await connect()
        self._owns_stream = True
        self._link = StreamLink(self._stream, self.timeouts.network)
        tune_connection(self._stream)
        self.events.opened()
        self.events.name(request)
        conn.transport_connected()  # AE-2: the A-ASSOCIATE-RQ
        await self._flush()
        self.events.requested(request)
        await task_group.start(self._run)
        try:
            with deadline("waiting for A-ASSOCIATE-AC", self.timeouts.acse):
                await self._negotiation_done.wait()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.abort()
            raise
        if conn.outcome is not Outcome.ACCEPTED:
            raise conn.error or AssociationAbortedError(
                "the association ended during negotiation")

    # -- acceptor -------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the acceptor side until the transport is closed. Never raises for
        anything the peer does; the outcome is logged and kept in :attr:`outcome`."""
        tune_connection(self._stream)
        self.events.opened()
        async with anyio.create_task_group() as tg:
            self._conn.transport_accepted()  # AE-5: ARTIM
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
            if not self._conn.release():  # AR-1
                return
            await self._flush()
        try:
            with deadline("waiting for A-RELEASE-RP", self.timeouts.acse):
                await self._closed.wait()
        except DicomTimeoutError:
            await self.abort(why=f"no A-RELEASE-RP within {self.timeouts.acse} s")
            raise
        except BaseException:  # cancelled: tell the peer (PS3.8 7.3), not leave it waiting
            await self.abort(why="the release was cancelled before the A-RELEASE-RP")
            raise

    async def abort(self, source: int = AbortSource.SERVICE_USER,
                    reason: int = AbortReason.NOT_SPECIFIED, *,
                    why: str = "aborted by the application") -> None:
        """Abort the association (A-ABORT, PS3.8 §7.3) and close the connection;
        ``why`` is what the event (and so the log) says."""
        if self._closed.is_set():
            return
        with anyio.CancelScope(shield=True):
            if self._conn.outcome in (Outcome.NEGOTIATING, Outcome.ACCEPTED):
                self.events.aborted(source, reason, why, local=True)
            self._conn.abort(source, reason)
            try:
                await self._flush()
            except (AssociationError, OSError) as exc:
                # The A-ABORT could not be written (peer gone, or not reading):
                # closing the connection is all that is left to do.
                log.info("%s: A-ABORT not sent: %s", self._who(), exc)
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
        the peer is busy. A request gets its Message ID here (PS3.7 §9.3.1.1). Send it
        with :meth:`request_prepared`, or give it up with :meth:`discard`."""
        if message.is_request and message.command_field != CommandField.C_CANCEL_RQ:
            message = self._conn.with_message_id(message)
        return OutgoingMessage(context, message, dataset, self.send_capacity())

    def discard(self, outgoing: OutgoingMessage) -> None:
        """A prepared request that will not be sent: its Message ID comes back."""
        self._conn.end_request(int(outgoing.message.message_id))  # type: ignore[union-attr]

    async def send_message(self, context: AcceptedContext, message: DIMSEMessage,
                           dataset: Dataset | bytes | memoryview | FileRegion | None = None
                           ) -> None:
        """Send one DIMSE message: its command, then its data set, never interleaved
        with another message. A send stopped half way aborts the association.

        A :class:`FileRegion` is streamed from its file one fragment at a time.
        """
        await self._write_message(OutgoingMessage(context, message, dataset,
                                                  self.send_capacity()))

    async def send_batch(self, batch: ResponseBatch) -> None:
        """Write whole messages encoded together (:mod:`dicomnet.response_batch`)."""
        await self._write_message(batch)

    async def _write_message(self, outgoing: OutgoingMessage | ResponseBatch, *,
                             answer_awaited: bool = False) -> None:
        """Write a message whole (see send_message), then let other tasks in (a C-CANCEL
        between pending responses), unless a final response or a request whose answer
        is ``answer_awaited`` next: the wait that follows lets them in anyway."""
        await self._message_lock.acquire()
        sent = 0
        try:
            self._conn.message_sent()  # P-DATA request is valid in this state
            self.messages_written += 1
            pdus = self.events.pdus
            for batch in outgoing.writes():
                if sent:
                    # Writes are shielded; let a cancellation in between them, and the
                    # other associations (a socket that takes every write never waits).
                    await anyio.lowlevel.checkpoint()
                await self._send_bytes(batch)
                sent += 1
                if pdus:
                    self.events.pdata_written(len(batch))
        except BaseException:
            if sent:
                with anyio.CancelScope(shield=True):
                    await self.abort(AbortSource.SERVICE_USER, why=(
                        f"sending {describe_message(outgoing.message)} stopped half way"))
            raise
        finally:
            self._message_lock.release()
        if not answer_awaited and not is_final_response(outgoing.message):
            await anyio.lowlevel.checkpoint()

    async def _start_request(self, message: DIMSEMessage,
                             waiter: MemoryObjectSendStream[Response] | OneResponse
                             ) -> int:
        """Wait for a slot of the window, then route responses to ``waiter``."""
        conn = self._conn
        while not conn.can_invoke:
            conn.check_sendable()
            self._window_wanted = True
            await self._window_freed.wait()
        message_id = int(conn.start_request(message).message_id)  # type: ignore[union-attr]
        self._waiters[message_id] = waiter
        if self._idle_read and self._watch is not None:
            self._idle_read = False
            self._watch.reading()  # an answer is due now: the network timeout applies
        return message_id

    def _end_request(self, message_id: int) -> None:
        self._waiters.pop(message_id, None)
        self.events.request_ended(message_id)
        self._conn.end_request(message_id)
        if self._reading and not self._idle_read and self._watch is not None \
                and not self._conn.awaits_peer:
            # The reader began its read while this answer was due; nothing is now.
            self._watch.read_done()
            self._idle_read = True
        if self._window_wanted:
            self._window_wanted = False
            self._window_freed.set()
            self._window_freed = anyio.Event()

    async def request(self, context: AcceptedContext, message: DIMSEMessage,
                      dataset: Dataset | bytes | memoryview | FileRegion | None = None,
                      *, while_waiting: Callable[[], object] | None = None
                      ) -> AsyncGenerator[Response, None]:
        """Send a request and yield its responses until a final (non-pending) one.

        The Message ID is ours to give (leave it 0). Holds one slot of the negotiated
        asynchronous operations window while outstanding. ``while_waiting`` is called
        once the request is sent, before waiting for the first response: work for the
        time the peer is busy (preparing the next request), awaited if it returns an
        awaitable (the reader keeps the response meanwhile). Stopping early (break,
        cancellation) sends a C-CANCEL-RQ when the request is one it can stop.
        """
        outgoing = self.prepare(context, message, dataset)
        message = outgoing.message
        send, receive = anyio.create_memory_object_stream[Response](_RESPONSE_BUFFER)
        sent = final = False
        try:
            message_id = await self._start_request(message, send)
        except BaseException:
            self.discard(outgoing)
            send.close()
            receive.close()
            raise
        try:
            await self._write_message(outgoing, answer_awaited=True)
            sent = True
            if self.events.messages:
                self.events.request_sent(outgoing.context, outgoing.message,
                                         outgoing.dataset_size)
            if while_waiting is not None and isawaitable(work := while_waiting()):
                await work
            while True:
                try:
                    # One already here needs no wait: no event loop round per response
                    # while the reader is ahead (C-FIND matches).
                    response = receive.receive_nowait()
                except anyio.WouldBlock:
                    try:
                        response = await self._answer(message, receive.receive())
                    except anyio.EndOfStream:
                        raise self._conn.ended_error() from None
                except anyio.EndOfStream:
                    raise self._conn.ended_error() from None
                final = not response.is_pending
                yield response
                if final:
                    return
        finally:
            if sent and not final and message.command_field in CANCELLABLE \
                    and not self._closed.is_set():
                # The caller stopped listening (break, cancellation): tell the peer and
                # wait for its final response (PS3.7 §9.1.2.1.3 / §9.3.2.3).
                with anyio.CancelScope(shield=True):
                    await self._cancel(context, message_id, receive)
            self._end_request(message_id)
            send.close()
            receive.close()

    async def request_one(self, context: AcceptedContext, message: DIMSEMessage,
                          dataset: Dataset | bytes | memoryview | FileRegion | None = None,
                          *, while_waiting: Callable[[], object] | None = None
                          ) -> Response:
        """Send a request that has one response (C-ECHO, C-STORE, the DIMSE-N
        operations) and return it (the first one, should a peer send a pending one).

        :meth:`request` without its generator and response stream. Requests a C-CANCEL
        can stop (C-FIND, C-GET, C-MOVE) go through :meth:`request`, which knows how
        to cancel them."""
        if message.command_field in CANCELLABLE:
            async with aclosing(self.request(context, message, dataset,
                                             while_waiting=while_waiting)) as responses:
                async for response in responses:
                    return response
            raise DIMSEError(f"no response to {describe_message(message)}")  # pragma: no cover
        return await self.request_prepared(self.prepare(context, message, dataset),
                                           while_waiting=while_waiting)

    async def request_prepared(self, outgoing: OutgoingMessage, *,
                               while_waiting: Callable[[], object] | None = None
                               ) -> Response:
        """:meth:`request_one` for a request made ready with :meth:`prepare`: what is
        left between a response and the next request is the writing. Not for requests
        a C-CANCEL can stop: those go through :meth:`request`."""
        message = outgoing.message
        if message.command_field in CANCELLABLE:
            raise ValueError(f"{describe_message(message)} can be cancelled: use request()")
        waiter = OneResponse()
        try:
            message_id = await self._start_request(message, waiter)
        except BaseException:
            self.discard(outgoing)
            raise
        try:
            await self._write_message(outgoing, answer_awaited=True)
            if self.events.messages:
                self.events.request_sent(outgoing.context, outgoing.message,
                                         outgoing.dataset_size)
            if while_waiting is not None and isawaitable(work := while_waiting()):
                await work
            await self._answer(message, waiter.arrived.wait())
        finally:
            self._end_request(message_id)
        if waiter.response is None:
            raise self._conn.ended_error()
        return waiter.response

    async def _answer(self, message: DIMSEMessage, waiting: Awaitable[_R]) -> _R:
        """``await waiting``, the wait for a response to our ``message``, within the
        DIMSE timeout; one that expires aborts the association, since the peer may
        still answer a request we have given up on."""
        try:
            with deadline(lambda: f"waiting for the response to {describe_message(message)}",
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
            await self.send_message(context, self._conn.cancel(message_id))
            with deadline("waiting for the final response after C-CANCEL",
                          self.timeouts.dimse or self.timeouts.acse):
                async for response in responses:
                    if not response.is_pending:
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
                try:
                    self._sync_artim()  # AE-5 asked for ARTIM before the group existed
                    if self.timeouts.network is not None:
                        self._watch = NetworkWatch(self.timeouts.network)
                        tasks.start_soon(self._watch_network, self._watch)
                    task_status.started()
                    await self._read_loop()
                finally:  # closed to new tasks from here (an abort may still come)
                    self._tasks = None
                tasks.cancel_scope.cancel()
        finally:
            self._watch = None
            if self._owns_stream:  # (a server closes its own, after its bookkeeping)
                await self._close_transport()  # however reading ended: cancelled too
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
            waited = "a PDU still incomplete" if self._conn.buffered else "no data from the peer"
            why = f"{waited} for {watch.seconds} s"
            self._conn.error = self._conn.error or DicomTimeoutError("network",
                                                                     watch.seconds)
            assert self._tasks is not None
            self._tasks.start_soon(partial(self.abort, why=why))

    async def _read_loop(self) -> None:
        assert self._link is not None
        receive, conn = self._link.receive, self._conn
        partial_since: float | None = None  # when the incomplete PDU began to arrive
        while not self._closed.is_set():
            # It bounds a whole PDU, not each read: a peer that drips a byte at a time
            # cannot hold the association forever.
            watch = self._watch if self._conn.awaits_peer else None
            if watch is not None:
                watch.reading(partial_since)
            else:
                self._idle_read = conn.established
            self._reading = True
            try:
                data = await receive(_READ_SIZE)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError,
                    OSError) as exc:
                if not self._closed.is_set():
                    log.debug("%s: connection closed by the peer (%s)", self._who(),
                              type(exc).__name__)
                    await self._close_transport()
                return
            finally:
                self._reading = self._idle_read = False
                if self._watch is not None:
                    self._watch.read_done()
            self.events.refresh()
            conn.report_pdus = self.events.pdus
            events = data if isinstance(data, list) else conn.receive_data(data)
            while True:
                try:
                    for event in events:
                        await self._on_event(event)
                    await self._flush()
                except DicomNetError:
                    if not self._closed.is_set():
                        raise
                    # An answer (AC, RJ, RP, A-ABORT) could not be sent: the peer is
                    # gone and _send_bytes closed the connection (Evt17, PS3.8 Table
                    # 9-10): the association is over, quietly, as for any close.
                    return
                if conn.wants_close:
                    await self._close_transport()
                    return
                if conn.holding and not await self._start_held():
                    return
                if not conn.paused:
                    break
                events = conn.receive_data(b"")  # what waited in the framer
            if conn.buffered == 0:
                partial_since = None
            elif partial_since is None:
                partial_since = NetworkWatch.now()

    async def _on_event(self, event: ConnectionEvent) -> None:
        if isinstance(event, ResponseArrived):
            await self._route_response(event)
        elif isinstance(event, RequestArrived):
            await self._start_handler(event)
        elif isinstance(event, CancelArrived):
            target = self._incoming.get(event.request_id)
            if target is not None:
                target.cancelled.set()
        elif isinstance(event, PDUReceived):
            if isinstance(event.pdu, AAssociateRQ):
                self.events.name(event.pdu)
            self.events.pdu_received(event.pdu)
        elif isinstance(event, AssociateRequested):
            self.events.requested(event.request)
            await self._decide(event.request)
        elif isinstance(event, Aborted):
            self._negotiation_done.set()
            self.events.aborted(event.source, event.reason, event.text, local=event.local)
        elif isinstance(event, Released):
            self.events.released()
        elif isinstance(event, Established):
            self._negotiation_done.set()
            self.events.accepted(event.negotiated)
        elif isinstance(event, Rejected):
            self._negotiation_done.set()
            rj = event.rejection
            self.events.rejected(rj, describe_reject(rj.result, rj.source, rj.reason))
        elif isinstance(event, StrayResponse):
            log.warning("%s: response to unknown Message ID %d ignored", self._who(),
                        getattr(event.message, "message_id_being_responded_to", 0))
        elif isinstance(event, SinkFailed):
            log.error("%s: cannot receive the data set of %s: %s", self._who(),
                      describe_message(event.message), event.error)
        # ReleaseRequested: answered by the connection; Released follows.

    async def _route_response(self, event: ResponseArrived) -> None:
        response = event.response
        if self.events.messages:
            self.events.response_received(self._conn.request_for(event.request_id),
                                          event.request_id, response)
        waiter = self._waiters.get(event.request_id)
        if waiter is None:
            return  # the requester has just given up
        # If the requester went away, its response no longer matters.
        with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            try:
                waiter.send_nowait(response)  # no extra event loop round when room
            except anyio.WouldBlock:
                await waiter.send(response)
            else:
                # The requester, woken now, runs before this reader reads on: the peer
                # waits for its next request (not after a C-FIND match: none follows).
                if not response.is_pending:
                    await anyio.lowlevel.checkpoint()

    async def _decide(self, request: AAssociateRQ) -> None:
        """AE-6: the A-ASSOCIATE-RQ is whole; the accept hook decides (PS3.8 §7.1)."""
        assert self._on_associate is not None, "acceptor without an accept hook"
        try:
            with deadline("deciding on A-ASSOCIATE-RQ", self.timeouts.acse):
                decision = await self._on_associate(self, request)
        except Exception:
            log.exception("%s: the association handler failed; rejecting", self._who())
            decision = AAssociateRJ(result=1, source=1, reason=1)
        if isinstance(decision, AAssociateRJ):
            self._conn.reject(decision)  # AE-8
            await self._flush()
            self.events.rejected(decision, self.rejection_text or describe_reject(
                decision.result, decision.source, decision.reason),
                log=not self.rejection_logged)
        else:
            self._conn.accept(*decision)  # AE-7
            await self._flush()
            self.events.accepted(decision[1])
        self._negotiation_done.set()

    async def _start_handler(self, event: RequestArrived) -> None:
        message = event.message
        if self.events.messages:
            self.events.request_received(event.context, message, event.dataset)
        incoming = IncomingRequest(self._public(), event)
        request_id = int(message.message_id)  # type: ignore[union-attr]
        self._incoming[request_id] = incoming
        if self._inline is not None and self._inline(message):
            # A handler that never waits on this association (Server.on_store's
            # inline): no task of its own, nor a loop round; nothing is read meanwhile.
            await self._run_handler(incoming, request_id)
        else:
            assert self._tasks is not None
            self._tasks.start_soon(self._run_handler, incoming, request_id)

    async def _start_held(self) -> bool:
        """Start the requests the window held back (PS3.7 D.3.3.3) as places free,
        reading nothing from the peer meanwhile; False if the association ended."""
        while self._conn.holding:
            events = self._conn.release_held()
            if not events:
                if self._closed.is_set():
                    return False
                self._perform_wanted = True
                await self._performed.wait()
            for event in events:
                await self._on_event(event)
        return True

    async def _run_handler(self, incoming: IncomingRequest, request_id: int) -> None:
        """Run the handler; a request it leaves unanswered, because it failed or
        forgot, still gets a final response so the peer is not left waiting."""
        status = Status.PROCESSING_FAILURE  # PS3.7 C.4: failure of unspecified cause
        comment = None
        try:
            if self._on_request is None:
                log.warning("%s: no handler for %s", self._who(),
                            describe_message(incoming.message))
                status = Status.UNRECOGNIZED_OPERATION
            else:
                await self._on_request(incoming)
                if not incoming.answered:
                    log.error("%s: the handler for %s sent no final response",
                              self._who(), describe_message(incoming.message))
        except AssociationError as exc:
            log.info("%s: handler stopped: %s", self._who(), exc)
            return
        except Exception as exc:
            log.exception("%s: handler for %s failed", self._who(),
                          describe_message(incoming.message))
            comment = exception_comment(exc)
        finally:
            if not incoming.answered:
                with anyio.CancelScope(shield=True), suppress(DicomNetError):
                    await incoming.refuse(status, comment)
            if self._incoming.get(request_id) is incoming:
                del self._incoming[request_id]
            self._conn.request_done(request_id)
            if self._perform_wanted:
                self._perform_wanted = False
                self._performed.set()
                self._performed = anyio.Event()

    async def _flush(self) -> None:
        """Write the association PDUs the connection queued; follow it on ARTIM."""
        conn = self._conn
        if conn.sent_pdus:
            pdus = list(conn.sent_pdus) if self.events.pdus else []
            conn.sent_pdus.clear()
            data = conn.data_to_send()
            if data:
                await self._send_bytes(data)
            for pdu in pdus:
                self.events.pdu_sent(pdu)
        if conn.artim_running or self._artim.running:
            self._sync_artim()

    async def _send_bytes(self, data: bytes | bytearray) -> None:
        """Write one whole PDU (or several), never half of one (dicomnet.stream_link)."""
        if self._link is None or self._closed.is_set():
            raise self._conn.ended_error()
        try:
            await self._link.write(data, self._watch)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError,
                DicomTimeoutError) as exc:
            error: Exception = DicomTimeoutError("sending a PDU", self.timeouts.network or 0) \
                if self._write_timed_out else exc  # the watcher closed the connection
            log.info("%s: cannot send: %s", self._who(), error)
            await self._close_transport()
            raise AssociationAbortedError(f"connection lost while sending: {error}") from error

    async def _close_transport(self) -> None:
        if self._stream is not None and not self._closed.is_set():
            self._closed.set()
            self._artim.stop()
            # Tell the connection the transport is gone (Evt17) before the close is
            # awaited: whoever finds the association closed meanwhile reads its end.
            events = self._conn.transport_closed()
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(self._stream)
            for event in events:
                if isinstance(event, Aborted):
                    await self._on_event(event)
        self._closed.set()

    def _finish(self) -> None:
        """The connection is gone: wake everybody who waits on it."""
        self.events.closed()
        self._closed.set()
        self._negotiation_done.set()
        self._artim.stop()
        for waiter in self._waiters.values():
            waiter.close()
        for incoming in self._incoming.values():
            incoming.cancelled.set()
        self._window_freed.set()
        self._performed.set()
        self._conn.transport_closed()  # a data set half received is discarded

    def _sync_artim(self) -> None:
        """Start, restart or stop ARTIM as the connection asks; before the reader's
        task group exists, _run starts it."""
        self._artim.follow(self._conn.artim_running, self._conn.artim_starts,
                           None if self._closed.is_set() else self._tasks)

    async def _artim_expired(self) -> None:
        state = self._conn.state
        if not self._conn.artim_expired():
            return  # stopped, or the state moved on in the instant it expired
        log.info("%s: ARTIM expired in %s", self._who(), state.name)
        with suppress(DicomNetError):
            await self._flush()
        await self._close_transport()

    def _public(self) -> Association:
        """This association as handlers see it: a :class:`dicomnet.Association`."""
        return cast("Association", self)

    def _who(self) -> str:
        """How log lines name this association (the peer's text escaped)."""
        return self.events.info.label()

