"""The acceptor side: :class:`Server` listens, negotiates and dispatches requests.

Requests go to the service registered for their Command Field (one table, filled by
the ``on_*`` registrations), after the check that their SOP class is the one of their
presentation context and has that operation (:mod:`dicomnet.services.context_check`).

Each accepted connection runs as its own task in the server's task group; whatever a peer
does (garbage, aborts, disconnects, timeouts) ends that association with a log line and
never the server. Shutdown stops accepting, gives running associations a grace period,
then aborts the rest.
"""

from __future__ import annotations

import logging
import math
import socket
import ssl as _ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import TypeVar

import anyio
from anyio.abc import ByteStream, SocketAttribute, SocketListener, TaskGroup, TaskStatus
from anyio.streams.stapled import MultiListener
from anyio.streams.tls import TLSAttribute, TLSStream

from dicomnet import access_rules
from dicomnet.acse import (
    REJECT_LOCAL_LIMIT_EXCEEDED,
    REJECT_NO_REASON,
    REJECT_USER_IDENTITY,
    AcceptedContext,
    AcceptorPolicy,
    Negotiated,
    check_request,
    even_context_ids,
    negotiate,
)
from dicomnet.admission import DEADLINE, EVICTED, HANDSHAKE, Admission, DropLog, Ticket
from dicomnet.association import IncomingRequest
from dicomnet.client import connect
from dicomnet.config import DEFAULT_MAX_PDU_LENGTH, MAX_IDENTIFIER_SIZE, Timeouts
from dicomnet.dataset_io import SinkFactory
from dicomnet.dimse import CEchoRQ, CommandField, CStoreRQ, DIMSEMessage, Status, response_to
from dicomnet.dimse.comment import error_comment
from dicomnet.events import EventCallback, EventHub, as_hub
from dicomnet.logtext import peer_text
from dicomnet.pdu import AAssociateAC, AAssociateRJ, AAssociateRQ
from dicomnet.registration import factory_only
from dicomnet.service_methods import Association
from dicomnet.services import normalized, query_retrieve, storage, verification
from dicomnet.services.connector import Connect
from dicomnet.services.context_check import checked_sink_factory, refusal
from dicomnet.services.normalized import OPERATIONS, NHandler, NOperation
from dicomnet.services.query_retrieve import (
    FIND_MODELS,
    GET_MODELS,
    MOVE_MODELS,
    DestinationLookup,
    FindHandler,
    RetrieveHandler,
)
from dicomnet.services.storage import StoreHandler
from dicomnet.services.verification import EchoHandler
from dicomnet.tls import certificate_name
from dicomnet.uids import (
    DEFAULT_TRANSFER_SYNTAXES,
    VERIFICATION,
    archive_transfer_syntaxes,
    storage_sop_classes,
    uid_name,
)
from dicomnet.user_identity import Authenticator

log = logging.getLogger("dicomnet.server")

SHUTTING_DOWN = "cut at shutdown (not associated yet)"

#: Answers one request of a command: a service's answer_* with the handler bound.
Answer = Callable[[IncomingRequest], Awaitable[None]]

# What each on_* decorates; the decorators give the very function back.
_Echo = TypeVar("_Echo", bound=EchoHandler)
_Store = TypeVar("_Store", bound=StoreHandler)
_Find = TypeVar("_Find", bound=FindHandler)
_Retrieve = TypeVar("_Retrieve", bound=RetrieveHandler)
_Normalized = TypeVar("_Normalized", bound=NHandler)


class Server:
    """A DICOM server (association acceptor) answering the services it has handlers for.

    Verification (C-ECHO) is always answered. ``max_associations`` bounds concurrent
    associations; beyond it requests are rejected "local limit exceeded" (transient,
    PS3.8 Table 9-21). ``max_dataset_size`` bounds one received data set (beyond it
    C-STORE gets A700). ``max_identifier_size`` bounds the data set of any other request
    (a query identifier, N-SET, N-ACTION or N-EVENT-REPORT information), which is held
    in memory whole: beyond it the request is refused "out of resources" (C-FIND A700,
    C-GET and C-MOVE A701, others 0213) and the rest of its bytes dropped as they come.
    ``max_operations`` is the asynchronous operations window offered (PS3.7 D.3.3.3).

    Every received C-STORE data set is checked for structural damage as it arrives
    (:mod:`dicomnet.dimse.integrity`); a truncated or malformed one is refused with a
    Cxxx "cannot understand" status before the store handler runs, unless
    ``accept_damaged=True``. Refusing is the default because a handler that answers
    Success for a cut-off image tells the sender it need not send it again: the
    damage would be found only when someone opens the image. ``accept_damaged`` is
    for keeping whatever arrives (a salvage archive); the handler then finds the
    verdict in ``request.damage``.

    Who may associate: the called AE title must be ours unless
    ``require_called_ae_title=False``; ``allowed_calling_ae_titles``,
    ``allowed_addresses`` (IP networks such as ``"10.0.0.0/8"``) and
    ``allowed_certificate_subjects`` (with TLS: a client certificate subject in RFC 4514
    form, ``"CN=modality1,O=Hospital"``, or one of its parts, ``"CN=modality1"``) narrow
    it further when given; ``authenticate`` checks User Identity Negotiation (see
    :mod:`dicomnet.user_identity`). Refusals are A-ASSOCIATE-RJ with the PS3.8 Table
    9-21 reason, and a log line.

    The rules compare parsed values, so that a peer's spelling cannot pass for someone
    else: AE titles without their padding but case-sensitively
    (:func:`dicomnet.acse.titles.ae_title_key`); addresses as IP addresses, an
    IPv4-mapped IPv6 peer as its IPv4 address; subjects as X.509 names, a certificate
    passing when every attribute (type and exact value) of an allowed subject is an
    attribute of its subject, so a common name ``evil,CN=modality1`` is not
    ``CN=modality1`` (:mod:`dicomnet.access_rules`). Rules that do not parse raise
    ValueError here.

    Admission (see :mod:`dicomnet.admission`): a connection counts against
    ``max_associations`` (and ``max_associations_per_address``, no bound by default,
    since one gateway may rightly hold many) only once its A-ASSOCIATE-RQ is whole, so
    connections that send nothing cannot lock real peers out. Until then it is
    *pending*: it must complete its TLS handshake within ``handshake_timeout`` and its
    whole A-ASSOCIATE-RQ within ``associate_deadline`` of the accept (one deadline for
    the lot, not per read, so dripping a byte at a time buys nothing). A real peer
    needs a few round trips for that, so a few seconds leave room for slow links and
    slow TLS while a stalled connection is gone well before the 30 s of ARTIM. At most
    ``max_pending`` connections are pending (more than ``max_associations``, so a burst
    of peers reconnecting at once fits, few enough to stay far below a process's file
    descriptor limit), at most ``max_pending_per_address`` from one address (an IPv6
    /64 counts as one), so a single host can take only a part of them; at either
    bound the oldest pending connection is cut to make room for the new one, which a
    peer opening connections without end therefore cannot starve. Drops and refusals
    are logged at INFO each, with one WARNING when they start and one summary per
    ``drop_log_interval`` seconds while they go on.

    ``on_event`` (a function, or an :class:`~dicomnet.events.EventHub`) receives the
    typed events of every association (:mod:`dicomnet.events`): the log is made of the
    same events.
    """

    def __init__(
        self,
        ae_title: str = "DICOMNET",
        *,
        require_called_ae_title: bool = True,
        allowed_calling_ae_titles: Iterable[str] | None = None,
        transfer_syntaxes: Sequence[str] = DEFAULT_TRANSFER_SYNTAXES,
        max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
        timeouts: Timeouts | None = None,
        max_associations: int = 64,
        max_operations: int = 1,
        prefer_requestor_order: bool = False,
        max_dataset_size: int | None = None,
        max_identifier_size: int | None = MAX_IDENTIFIER_SIZE,
        allowed_addresses: Iterable[str] | None = None,
        allowed_certificate_subjects: Iterable[str] | None = None,
        authenticate: Authenticator | None = None,
        accept_damaged: bool = False,
        max_associations_per_address: int | None = None,
        max_pending: int = 256,
        max_pending_per_address: int | None = 32,
        associate_deadline: float = 10.0,
        handshake_timeout: float = 5.0,
        drop_log_interval: float = 10.0,
        on_event: EventHub | EventCallback | None = None,
    ) -> None:
        if max_pending < 1 or (max_pending_per_address is not None
                               and max_pending_per_address < 1):
            raise ValueError("the pending connection bounds must be at least 1")
        self.ae_title = ae_title
        self.timeouts = timeouts or Timeouts()
        self._admission = Admission(max_pending, max_pending_per_address, max_associations,
                                    max_associations_per_address)
        self._drops = DropLog(drop_log_interval)
        self._cutters: dict[Ticket, anyio.CancelScope] = {}
        self._connections: TaskGroup | None = None
        self._summaries: anyio.CancelScope | None = None  # of _summarise_drops
        self.associate_deadline = associate_deadline
        self.handshake_timeout = handshake_timeout
        self.max_pdu_length = max_pdu_length
        self.max_dataset_size = max_dataset_size
        self.max_identifier_size = max_identifier_size
        # Parsed once, here: rules compare addresses and X.509 names, never text
        # (dicomnet.access_rules says how).
        self.allowed_addresses = None if allowed_addresses is None \
            else access_rules.parse_networks(allowed_addresses)
        self.allowed_certificate_subjects = None if allowed_certificate_subjects is None \
            else access_rules.parse_subjects(allowed_certificate_subjects)
        self.authenticate = authenticate
        self.accept_damaged = accept_damaged
        #: The events of every association (None: only the log sees them).
        self.events = as_hub(on_event)
        self._policy = AcceptorPolicy(
            ae_title=ae_title,
            require_called_ae_title=require_called_ae_title,
            allowed_calling_ae_titles=(None if allowed_calling_ae_titles is None
                                       else access_rules.ae_titles(allowed_calling_ae_titles)),
            contexts={VERIFICATION: tuple(transfer_syntaxes)},
            max_pdu_length=max_pdu_length,
            max_operations_invoked=max_operations,
            max_operations_performed=max_operations,
            prefer_requestor_order=prefer_requestor_order,
        )
        #: Opens the associations the server starts itself: C-MOVE sub-operations
        #: (PS3.4 C.4.2) and, for a storage commitment SCP installed here, reports to
        #: an SCU that has gone (J.3.3). Replace it to bind TLS or other options.
        self.connect: Connect = connect
        # The services, by the Command Field of their request (PS3.7 E.1): the on_*
        # registrations fill it; a request of another command is not served (0211).
        self._answers: dict[int, Answer] = {
            CommandField.C_ECHO_RQ: partial(verification.answer_echo, handler=None)}
        # Command Fields whose handlers run in the association's reader (on_store): the
        # built-in C-ECHO answer never waits on its association, and a task of its own
        # would cost more than the answer.
        self._inline: set[int] = {CommandField.C_ECHO_RQ}
        self._sink_factory: SinkFactory | None = None
        self._normalized = normalized.NormalizedHandlers()
        # Command Field of a DIMSE-C request -> the SOP classes served with it; a
        # request naming another is refused before dispatch (services.context_check).
        self._operations: dict[int, frozenset[str]] = {
            CommandField.C_ECHO_RQ: frozenset({VERIFICATION})}
        self._live: set[Association] = set()
        self._drained = anyio.Event()  # set whenever the last association ends
        self._accepting: anyio.CancelScope | None = None
        self._grace: float = 10.0
        self._stopped = anyio.Event()
        self.port: int | None = None
        self.associations_served = 0

    # -- configuration --------------------------------------------------------------

    @property
    def max_associations(self) -> int | None:
        """Concurrent associations (whole A-ASSOCIATE-RQ received) before "local limit
        exceeded"."""
        return self._admission.max_associations

    @max_associations.setter
    def max_associations(self, value: int | None) -> None:
        self._admission.max_associations = value

    @property
    def admission(self) -> Admission:
        """The books of pending connections and associations (read them, e.g. in a
        health check; the server keeps them)."""
        return self._admission

    @property
    def policy(self) -> AcceptorPolicy:
        """The presentation context and role policy used to answer A-ASSOCIATE-RQ."""
        return self._policy

    def add_context(self, abstract_syntax: str,
                    transfer_syntaxes: Sequence[str] = DEFAULT_TRANSFER_SYNTAXES) -> None:
        """Accept ``abstract_syntax`` with the given transfer syntaxes (our preference
        order)."""
        self._add_contexts([abstract_syntax], transfer_syntaxes)

    def _add_contexts(self, abstract_syntaxes: Iterable[str],
                      transfer_syntaxes: Sequence[str], *, keep_existing: bool = False
                      ) -> None:
        """Accept several abstract syntaxes at once: one new (validated, frozen) policy
        rather than one per SOP class, which adds up for 200 storage classes."""
        contexts = dict(self._policy.contexts)
        for abstract_syntax in abstract_syntaxes:
            if not (keep_existing and abstract_syntax in contexts):
                contexts[abstract_syntax] = tuple(transfer_syntaxes)
        self._policy = replace(self._policy, contexts=contexts)

    # Every on_* is a decorator factory (dicomnet.registration says why): the options
    # here, the handler to what it returns; the registration happens then.

    @factory_only("@server.on_echo()")
    def on_echo(self) -> Callable[[_Echo], _Echo]:
        """Decorator: answer C-ECHO (PS3.4 A.4) with ``await handler(request)`` as the
        status, instead of Success."""

        def register(handler: _Echo) -> _Echo:
            self._answers[CommandField.C_ECHO_RQ] = partial(verification.answer_echo,
                                                            handler=handler)
            self._inline.discard(CommandField.C_ECHO_RQ)  # it may wait on anything
            return handler

        return register

    @factory_only("@server.on_store()")
    def on_store(self, *, sink: SinkFactory | None = None,
                 sop_classes: Sequence[str] | None = None,
                 transfer_syntaxes: Sequence[str] | None = None, inline: bool = False
                 ) -> Callable[[_Store], _Store]:
        """Decorator: accept C-STORE (PS3.4 Annex B) for ``sop_classes`` (default: every
        storage SOP class, with every transfer syntax pydicom knows) and answer with
        ``await handler(request)`` as the status.

        By default the handler reads ``request.dataset`` (decoded on first use); with
        ``sink`` the data set's bytes go to the sink it returns as they arrive, and the
        handler finds it in ``request.sink`` (``request.sink_error`` if writing failed).

        ``inline=True`` runs the handler in the association's reader task instead of a
        task of its own, which saves a task and an event loop round per instance. Only
        for a handler that never waits on its own association: the association reads
        nothing from the peer until the handler returns, so a handler that sent a
        request on it and waited for the answer would wait forever. With an
        asynchronous operations window, inline handlers run one after another.
        """
        syntaxes = archive_transfer_syntaxes() if transfer_syntaxes is None \
            else transfer_syntaxes
        classes = storage_sop_classes() if sop_classes is None else sop_classes

        def register(handler: _Store) -> _Store:
            self._add_contexts(classes, syntaxes)
            self._operations[CommandField.C_STORE_RQ] = frozenset(classes)
            # A data set sent on the wrong context is dropped as it arrives: see
            # _on_request and dicomnet.services.context_check.
            self._sink_factory = None if sink is None \
                else checked_sink_factory(sink, self._operations)
            if inline:
                self._inline.add(CommandField.C_STORE_RQ)
            else:
                self._inline.discard(CommandField.C_STORE_RQ)
            self._answers[CommandField.C_STORE_RQ] = partial(storage.answer_store,
                                                             handler=handler)
            return handler

        return register

    @factory_only("@server.on_find()")
    def on_find(self, *, sop_classes: Sequence[str] = tuple(FIND_MODELS.values())
                ) -> Callable[[_Find], _Find]:
        """Decorator: answer C-FIND (PS3.4 C.4.1, K.4) for ``sop_classes`` with the
        identifiers ``handler(request)`` yields (an async generator);
        ``request.dataset`` is the query and ``request.cancelled`` is set by a
        C-CANCEL."""

        def register(handler: _Find) -> _Find:
            self._add_contexts(sop_classes, DEFAULT_TRANSFER_SYNTAXES)
            self._operations[CommandField.C_FIND_RQ] = frozenset(sop_classes)
            self._answers[CommandField.C_FIND_RQ] = partial(query_retrieve.answer_find,
                                                            handler=handler)
            return handler

        return register

    @factory_only("@server.on_get()")
    def on_get(self, *, sop_classes: Sequence[str] = tuple(GET_MODELS.values())
               ) -> Callable[[_Retrieve], _Retrieve]:
        """Decorator: answer C-GET (PS3.4 C.4.3): ``handler(request)`` yields the
        instances (data sets or Part 10 paths) to send back as C-STORE sub-operations.
        Storage contexts are accepted with the SCP role for the requestor (PS3.7
        D.3.3.4), as C-GET needs."""

        def register(handler: _Retrieve) -> _Retrieve:
            self._add_contexts(sop_classes, DEFAULT_TRANSFER_SYNTAXES)
            self._operations[CommandField.C_GET_RQ] = frozenset(sop_classes)
            self._add_contexts(storage_sop_classes(), archive_transfer_syntaxes(),
                               keep_existing=True)
            roles = dict(self._policy.roles)
            roles.update((sop_class, (True, True)) for sop_class in storage_sop_classes())
            self._policy = replace(self._policy, roles=roles)
            self._answers[CommandField.C_GET_RQ] = partial(query_retrieve.answer_get,
                                                           handler=handler)
            return handler

        return register

    @factory_only("@server.on_move(destinations=lookup)")
    def on_move(self, *, destinations: DestinationLookup,
                sop_classes: Sequence[str] = tuple(MOVE_MODELS.values())
                ) -> Callable[[_Retrieve], _Retrieve]:
        """Decorator: answer C-MOVE (PS3.4 C.4.2): ``handler(request)`` yields the
        instances to send; ``destinations(ae_title)`` gives the (host, port) of a move
        destination, or None for "Move Destination unknown" (A801). The sub-operations
        go on an association opened with :attr:`connect`."""

        def register(handler: _Retrieve) -> _Retrieve:
            self._add_contexts(sop_classes, DEFAULT_TRANSFER_SYNTAXES)
            self._operations[CommandField.C_MOVE_RQ] = frozenset(sop_classes)

            async def answer(request: IncomingRequest) -> None:
                await query_retrieve.answer_move(
                    request, handler, destinations, calling_ae_title=self.ae_title,
                    connect=self.connect)

            self._answers[CommandField.C_MOVE_RQ] = answer
            return handler

        return register

    @factory_only('@server.on_normalized(sop_class, "N-SET")', positional=2)
    def on_normalized(self, sop_class: str, operation: NOperation
                      ) -> Callable[[_Normalized], _Normalized]:
        """Decorator: answer the DIMSE-N ``operation`` ("N-GET", "N-SET", "N-ACTION",
        "N-CREATE", "N-DELETE" or "N-EVENT-REPORT", PS3.7 §10) for ``sop_class`` with
        ``await handler(request)``: a status or (status, data set); raise
        :class:`~dicomnet.services.normalized.NFailure` for a failure with an error
        comment.

        Receiving N-EVENT-REPORT makes us the SOP class's SCU while the requestor is
        its SCP, so the requestor may then take the SCP role (PS3.7 D.3.3.4), as a
        storage commitment SCP reporting on a new association does (PS3.4 J.3.3).
        """
        if operation not in OPERATIONS:  # here, not when the handler comes
            raise ValueError(f"unknown DIMSE-N operation {operation!r}; use one of "
                             f"{sorted(OPERATIONS)}")

        def register(handler: _Normalized) -> _Normalized:
            self._add_contexts([sop_class], DEFAULT_TRANSFER_SYNTAXES, keep_existing=True)
            if operation == "N-EVENT-REPORT":
                roles = dict(self._policy.roles)
                roles[sop_class] = (True, True)
                self._policy = replace(self._policy, roles=roles)
            self._normalized.add(sop_class, operation, handler)
            # The registry of DIMSE-N handlers answers every DIMSE-N request from now
            # on, an operation it lacks for a SOP class with 0211 and a comment naming
            # them (PS3.7 C.4.2), in a response that names the instance.
            for field in OPERATIONS.values():
                self._answers[field] = self._normalized
            return handler

        return register

    @property
    def associations(self) -> frozenset[Association]:
        """The associations being served right now."""
        return frozenset(self._live)

    # -- running ---------------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 11112, *,
                    ssl: _ssl.SSLContext | None = None,
                    sockets: Sequence[socket.socket] = (),
                    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen on ``host:port`` until :meth:`shutdown` (or cancellation).

        With ``port=0`` the system picks a free port; ``task_status.started()`` receives
        the bound port, so ``port = await task_group.start(server.serve, host, 0)``.
        Given ``sockets`` (bound and listening, e.g. inherited from the process that
        forked this one, as ``dicomnet serve --workers`` does), it accepts on those
        instead of binding ``host:port``.
        """
        if sockets:
            for sock in sockets:  # shared by every process that has it: none may block
                sock.setblocking(False)
            listener = MultiListener([await SocketListener.from_socket(sock)
                                      for sock in sockets])
        else:
            listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        self.port = listener.listeners[0].extra(SocketAttribute.local_port)
        log.info("%s listening on %s:%d%s", self.ae_title, host, self.port,
                 " (TLS)" if ssl else "")
        try:
            async with anyio.create_task_group() as connections:
                self._connections = connections
                try:
                    with anyio.CancelScope() as accepting:
                        self._accepting = accepting
                        task_status.started(self.port)

                        async def handle(stream: ByteStream) -> None:
                            await self._connection(stream, ssl)

                        await listener.serve(handle, task_group=connections)
                finally:
                    # Refuse new connections at once, not after the grace period.
                    with anyio.CancelScope(shield=True):
                        await listener.aclose()
                # Connections that are not associations yet have nothing to finish.
                for ticket in self._admission.oldest_pending():
                    self._cut(ticket, SHUTTING_DOWN)
                if self._summaries is not None:
                    self._summaries.cancel()
                # Shutdown: no new connections; let running associations finish.
                if self._live:
                    log.info("shutting down: waiting up to %g s for %d association(s)",
                             self._grace, len(self._live))
                    with anyio.move_on_after(self._grace):
                        await self._drained.wait()
                    for association in list(self._live):
                        log.warning("aborting %r at shutdown", association)
                        association.cancel_tasks()  # e.g. a report still undelivered
                        await association.abort()
        finally:
            self._connections = None
            summary = self._drops.summary()
            if summary is not None:
                log.warning("admission: %s", summary)
            self._stopped.set()
            log.info("%s stopped after %d association(s)", self.ae_title,
                     self.associations_served)

    def shutdown(self, grace: float = 10.0) -> None:
        """Stop accepting connections; running associations get ``grace`` seconds."""
        self._grace = grace
        if self._accepting is not None:
            self._accepting.cancel()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    # -- one connection -----------------------------------------------------------------

    async def _connection(self, stream: ByteStream, ssl: _ssl.SSLContext | None) -> None:
        try:
            address = stream.extra(SocketAttribute.remote_address)
            peer = (str(address[0]), int(address[1]))
        except Exception:  # pragma: no cover - non-IP transports
            peer = ("?", 0)
        now = anyio.current_time()
        ticket, eviction = self._admission.arrive(peer[0], now)
        if eviction is not None:
            self._cut(*eviction)
        # One deadline from the accept to the whole A-ASSOCIATE-RQ (lifted by _admit).
        pending = anyio.CancelScope(deadline=now + self.associate_deadline)
        self._cutters[ticket] = pending
        try:
            with pending:
                await self._serve_connection(stream, ssl, peer, ticket, pending)
        except Exception:
            # Nothing a peer does may take the server down (issue: robustness).
            log.exception("connection from %s:%d failed", *peer)
            await anyio.aclose_forcefully(stream)
        finally:
            del self._cutters[ticket]
            self._admission.leave(ticket)
        if pending.cancelled_caught:
            reason = ticket.cut_reason or DEADLINE
            if reason == SHUTTING_DOWN:
                log.info("%s:%d: %s", *peer, reason)
            else:
                self._note_drop(reason, peer, f"{peer[0]}:{peer[1]}: {reason}" + (
                    f" ({self.associate_deadline:g} s)" if reason == DEADLINE else ""))
            await anyio.aclose_forcefully(stream)

    async def _serve_connection(self, stream: ByteStream, ssl: _ssl.SSLContext | None,
                                peer: tuple[str, int], ticket: Ticket,
                                pending: anyio.CancelScope) -> None:
        subject, name = None, None
        if ssl is not None:
            try:
                with anyio.fail_after(self.handshake_timeout):
                    stream = await TLSStream.wrap(stream, server_side=True, ssl_context=ssl)
            except Exception as exc:
                self._note_drop(HANDSHAKE, peer, f"TLS handshake with {peer[0]}:{peer[1]} "
                                f"failed: {_handshake_failure(exc)}")
                await anyio.aclose_forcefully(stream)
                return
            name = certificate_name(stream.extra(TLSAttribute.peer_certificate_binary, None))
            subject = None if name is None else name.rfc4514_string()
            log.info("TLS from %s:%d: %s, client certificate %s", *peer,
                     stream.extra(TLSAttribute.tls_version, "?"),
                     "none" if subject is None else peer_text(subject, 200))
        association = Association(
            stream=stream, timeouts=self.timeouts, max_pdu_length=self.max_pdu_length,
            on_associate=partial(self._admit, ticket, pending),
            on_request=self._on_request, inline=self._runs_inline,
            answer_now=self._answer_now,
            sink_factory=self._sink_factory, max_dataset_size=self.max_dataset_size,
            max_identifier_size=self.max_identifier_size, peer=peer,
            accept_damaged=self.accept_damaged, events=self.events)
        association.peer_certificate_subject = subject
        association.peer_certificate_name = name
        self._live.add(association)
        if self._drained.is_set():
            self._drained = anyio.Event()
        try:
            await association.serve()
        finally:
            self._live.discard(association)
            if not self._live:
                self._drained.set()
            if not pending.cancel_called:  # else _connection logs why it was cut
                self.associations_served += 1

    async def _admit(self, ticket: Ticket, pending: anyio.CancelScope,
                     association: Association, request: AAssociateRQ
                     ) -> tuple[AAssociateAC, Negotiated] | AAssociateRJ:
        """The A-ASSOCIATE-RQ is whole (PS3.8 Sta2 -> Sta3): from now on the connection
        counts as an association, unless a limit refuses it; a refused one is pending
        again, with its first deadline, until it closes."""
        refusal = self._admission.request_complete(ticket)
        if refusal is not None:
            if refusal != EVICTED:  # a connection cut meanwhile was logged already
                peer = association.peer or ("?", 0)
                self._note_drop(refusal, peer, f"{peer[0]}:{peer[1]}: {refusal}: "
                                f"{peer_text(request.calling_ae_title)} -> "
                                f"{peer_text(request.called_ae_title)}")
            association.rejection_text = refusal
            association.rejection_logged = True  # rate-limited by _note_drop
            return REJECT_LOCAL_LIMIT_EXCEEDED
        pending.deadline = math.inf
        decision: tuple[AAssociateAC, Negotiated] | AAssociateRJ | None = None
        try:
            decision = await self._on_associate(association, request)
        finally:
            if not isinstance(decision, tuple):
                eviction = self._admission.rejected(ticket)
                if eviction is not None:
                    self._cut(*eviction)
                pending.deadline = ticket.accepted_at + self.associate_deadline
        return decision

    def _cut(self, ticket: Ticket, reason: str) -> None:
        """Cut a pending connection (its task logs it and closes the socket)."""
        ticket.cut_reason = ticket.cut_reason or reason
        scope = self._cutters.get(ticket)
        if scope is not None:
            scope.cancel()

    def _note_drop(self, reason: str, peer: tuple[str, int], message: str) -> None:
        """One log line per dropped or refused connection: INFO, but a WARNING for the
        first after a quiet spell, and then a WARNING summary per interval while they
        go on, so that a flood of connections is not also a flood of log lines."""
        if not self._drops.note(reason, peer[0]):
            log.info("%s", message)
            return
        log.warning("%s (any more are summarised every %g s)", message,
                    self._drops.interval)
        if self._connections is not None and self._accepting is not None \
                and not self._accepting.cancel_called:
            self._summaries = anyio.CancelScope()
            self._connections.start_soon(self._summarise_drops, self._summaries)

    async def _summarise_drops(self, scope: anyio.CancelScope) -> None:
        """Every interval, a WARNING summary of the drops since the last one, until an
        interval without any (serve() writes the last one at shutdown)."""
        with scope:
            while True:
                await anyio.sleep(self._drops.interval)
                summary = self._drops.summary()
                if summary is None:
                    return
                log.warning("admission: %s", summary)

    async def _on_associate(self, association: Association, request: AAssociateRQ
                            ) -> tuple[AAssociateAC, Negotiated] | AAssociateRJ:
        # A rejection is logged as its event (dicomnet.event_log), with the reason.
        rejection = check_request(request, self._policy)
        if rejection is not None:
            return rejection
        refusal = self._refusal(association, request)
        if refusal is not None:
            association.rejection_text, rejection = refusal
            return rejection
        response = None
        if self.authenticate is not None:
            identity = request.user_information.user_identity_rq
            verdict = await self.authenticate(identity, association)
            if verdict is False or verdict is None:
                association.rejection_text = "user identity not accepted"
                return REJECT_USER_IDENTITY
            if isinstance(verdict, bytes):
                response = verdict
        even = even_context_ids(request)
        if even:
            # PS3.8 §9.3.2.2 wants odd IDs; accepted all the same, as DCMTK does.
            log.warning("%r: the requestor numbers presentation contexts with even IDs "
                        "(%s); PS3.8 §9.3.2.2 wants odd ones, accepted all the same",
                        association, ", ".join(map(str, even[:8])) +
                        (", ..." if len(even) > 8 else ""))
        accept, negotiated = negotiate(request, self._policy, user_identity_response=response)
        if log.isEnabledFor(logging.DEBUG):  # the acceptance is its event's log line
            for ctx in request.presentation_contexts:
                got = negotiated.accepted.get(ctx.context_id)
                log.debug("  context %d %s: %s", ctx.context_id, uid_name(ctx.abstract_syntax),
                          uid_name(got.transfer_syntax) if got else "rejected")
        return accept, negotiated

    def _refusal(self, association: Association, request: AAssociateRQ
                 ) -> tuple[str, AAssociateRJ] | None:
        """Address and certificate rules: who may associate besides the AE titles.

        PS3.8 Table 9-21 has no reason for "your address" or "your certificate", so
        these are "rejected-permanent, service-user, no reason given".
        """
        if self.allowed_addresses is not None:
            host = (association.peer or ("?", 0))[0]
            if not access_rules.address_allowed(host, self.allowed_addresses):
                # Raw text: the event escapes it where it is shown (dicomnet.event_log).
                return f"address {host} is not allowed", REJECT_NO_REASON
        if self.allowed_certificate_subjects is not None:
            name = association.peer_certificate_name
            if name is None:
                return "no client certificate (one is required)", REJECT_NO_REASON
            if not access_rules.subject_allowed(name, self.allowed_certificate_subjects):
                return (f"client certificate {name.rfc4514_string()} is "
                        "not allowed"), REJECT_NO_REASON
        return None

    def _runs_inline(self, message: DIMSEMessage) -> bool:
        """Whether the association runs the handler of ``message`` in its reader."""
        return message.command_field in self._inline

    def _answer_now(self, context: AcceptedContext, message: DIMSEMessage
                    ) -> DIMSEMessage | None:
        """The answer to send at once (:mod:`dicomnet.answer_at_once`) when ``message``
        needs no waiting: a C-ECHO-RQ answered by the built-in Success (no
        ``on_echo`` handler) on a context that has it; None for anything else."""
        if type(message) is not CEchoRQ or CommandField.C_ECHO_RQ not in self._inline \
                or refusal(context.abstract_syntax, message, self._operations) is not None:
            return None
        return response_to(message, Status.SUCCESS)

    async def _on_request(self, request: IncomingRequest) -> None:
        message = request.message
        # PS3.7 §9.1 / §10.1, C.5: not the SOP class of its presentation context, or an
        # operation that SOP class does not have; or a data set that was not kept.
        refused = refusal(request.context.abstract_syntax, message, self._operations) \
            or _not_kept(request)
        if refused is not None:
            status, why = refused
            log.warning("%r: %s refused (0x%04X): %s", request.association,
                        type(message).__name__, status, why)
            if request.sink is not None:
                request.sink.discard()
            await request.refuse(status, why)
            return
        answer = self._answers.get(message.command_field)
        if answer is not None:
            await answer(request)
            return
        # PS3.7 C.4.2: a request the SOP class does not define on this context.
        log.warning("%r: no service for %s; answering 'unrecognized operation'",
                    request.association, type(message).__name__)
        if request.sink is not None:
            request.sink.discard()
        await request.refuse(Status.UNRECOGNIZED_OPERATION, error_comment(
            f"{_operation_name(message)} is not served here"))


#: "Out of resources" for a request whose data set was not kept: PS3.4 Table C.4-1
#: (C-FIND), Tables C.4-2 and C.4-3 (C-MOVE, C-GET); PS3.7 C.5 "Resource limitation"
#: for the others.
_OUT_OF_RESOURCES: dict[int, int] = {CommandField.C_FIND_RQ: Status.OUT_OF_RESOURCES,
                                     CommandField.C_GET_RQ: Status.UNABLE_TO_CALCULATE_MATCHES,
                                     CommandField.C_MOVE_RQ: Status.UNABLE_TO_CALCULATE_MATCHES}


def _not_kept(request: IncomingRequest) -> tuple[int, str] | None:
    """The refusal of a request other than a C-STORE whose data set was dropped on
    the way (past ``max_identifier_size``): its service would see no data set. A
    C-STORE's is refused by the storage service, which also handles a failed sink."""
    error = request.sink_error
    if error is None or request.sink is not None or type(request.message) is CStoreRQ:
        return None
    return (_OUT_OF_RESOURCES.get(request.message.command_field, Status.RESOURCE_LIMITATION),
            error_comment(str(error)))


def _operation_name(message: DIMSEMessage) -> str:
    """``C-FIND`` for a C-FIND-RQ: the name PS3.7 gives the operation."""
    try:
        name = CommandField(message.command_field).name
    except ValueError:
        return f"command 0x{message.command_field:04X}"
    return name.removesuffix("_RQ").replace("_", "-")


def _handshake_failure(exc: BaseException) -> str:
    """The reason a TLS handshake failed, readable: OpenSSL's reason when there is one
    (``CERTIFICATE_VERIFY_FAILED``, ``WRONG_VERSION_NUMBER`` for plain TCP...)."""
    if isinstance(exc, _ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, _ssl.SSLError):
        return str(exc.reason or exc)
    if isinstance(exc, TimeoutError):
        return "no handshake within the handshake timeout"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
