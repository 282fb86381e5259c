"""Query/Retrieve (PS3.4 Annex C) and Modality Worklist (PS3.4 Annex K): C-FIND, C-GET
and C-MOVE in both roles.

SCU: :func:`find`, :func:`get` and :func:`move` are async iterators of responses. If
the caller stops early (breaks out, or is cancelled), the association sends C-CANCEL
and waits for the final response (see :meth:`AssociationDriver.request`); use
``contextlib.aclosing`` for the C-CANCEL to go out at the ``break`` itself rather than
when the iterator is collected.

SCP: a find handler is an async iterator of identifiers; dicomnet sends each as a
pending response, stops with "Cancel" when the peer sends C-CANCEL, and ends with
success. Get and move handlers yield the instances to send (data sets or paths);
dicomnet sends them as C-STORE sub-operations (on the same association for C-GET, on a
new one to the destination for C-MOVE) with the pending counts of PS3.4 C.4.2.1.5 and
C.4.3.1.4.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread

from dicomnet.dimse import (
    CFindRQ,
    CFindRSP,
    CGetRQ,
    CGetRSP,
    CMoveRQ,
    CMoveRSP,
    Priority,
    Status,
    StatusCategory,
    category,
    encode_command,
)
from dicomnet.dimse.comment import error_comment, exception_comment
from dicomnet.dimse.dataset import encode_dataset
from dicomnet.errors import DicomNetError, DIMSEError, NegotiationError
from dicomnet.logtext import peer_text
from dicomnet.response_batch import ResponseBatch, batched_writes
from dicomnet.services import storage
from dicomnet.services.failure import ServiceFailure

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.association import AssociationDriver, IncomingRequest, Response
    from dicomnet.services.connector import Connect

__all__ = [
    "FIND_MODELS",
    "GET_MODELS",
    "MOVE_MODELS",
    "PATIENT_ROOT_FIND",
    "PATIENT_ROOT_GET",
    "PATIENT_ROOT_MOVE",
    "STUDY_ROOT_FIND",
    "STUDY_ROOT_GET",
    "STUDY_ROOT_MOVE",
    "WORKLIST_FIND",
    "FindHandler",
    "IdentifierError",
    "InstanceFile",
    "RetrieveHandler",
    "answer_find",
    "answer_get",
    "answer_move",
    "find",
    "get",
    "move",
]

log = logging.getLogger("dicomnet.query_retrieve")

# PS3.4 Annex C.6 (Q/R information models) and K.6 (Modality Worklist), PS3.6 Annex A.
#: Patient Root Query/Retrieve Information Model - FIND.
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
#: Patient Root Query/Retrieve Information Model - MOVE.
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
#: Patient Root Query/Retrieve Information Model - GET.
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
#: Study Root Query/Retrieve Information Model - FIND.
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
#: Study Root Query/Retrieve Information Model - MOVE.
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
#: Study Root Query/Retrieve Information Model - GET.
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
#: Modality Worklist Information Model - FIND.
WORKLIST_FIND = "1.2.840.10008.5.1.4.31"

#: ``model=`` of :func:`find` -> the SOP class it queries.
FIND_MODELS = {"patient": PATIENT_ROOT_FIND, "study": STUDY_ROOT_FIND,
               "worklist": WORKLIST_FIND}
#: ``model=`` of :func:`get` -> the SOP class it retrieves with.
GET_MODELS = {"patient": PATIENT_ROOT_GET, "study": STUDY_ROOT_GET}
#: ``model=`` of :func:`move` -> the SOP class it retrieves with.
MOVE_MODELS = {"patient": PATIENT_ROOT_MOVE, "study": STUDY_ROOT_MOVE}

#: Yields matching identifiers for a C-FIND request: data sets, identifiers already
#: encoded in the request's transfer syntax (bytes), or lists of them, which go out
#: together in as few socket writes as they fit.
FindHandler = Callable[["IncomingRequest"],
                       AsyncIterator["Dataset | bytes | list[Dataset | bytes]"]]
#: Yields the instances (data sets or Part 10 paths) a C-GET or C-MOVE should send.
RetrieveHandler = Callable[["IncomingRequest"], AsyncIterator["Dataset | str | os.PathLike[str]"]]
#: Finds a move destination: AE title -> (host, port), or None if unknown.
DestinationLookup = Callable[[str], "tuple[str, int] | None"]


class IdentifierError(ValueError):
    """Raised by a find, get or move handler for an identifier it cannot use: the
    request fails with A900 "Identifier does not match SOP Class", this message as
    its Error Comment and ``offending`` (tags) as its Offending Element (PS3.4 Tables
    C.4-1 to C.4-3). A plain ValueError does the same without the element."""

    def __init__(self, message: str, *, offending: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.offending = tuple(int(tag) for tag in offending) or None


def _sop_class(model: str, table: dict[str, str]) -> str:
    if model in table:
        return table[model]
    if model in table.values():
        return model
    raise ValueError(f"unknown information model {model!r}; use one of {sorted(table)}")


def _context(association: AssociationDriver, sop_class: str) -> Any:
    context = association.negotiated.find_context(sop_class)
    if context is None:
        raise NegotiationError(f"the peer did not accept {sop_class} for this association; "
                               "propose it in contexts=")
    return context


# -- SCU ---------------------------------------------------------------------------------


async def find(association: AssociationDriver, query: Dataset | bytes, *, model: str = "study",
               priority: int = Priority.MEDIUM) -> AsyncGenerator[Response, None]:
    """C-FIND: yield every response, the pending ones carrying a matching identifier
    (``response.dataset``) and the last one the final status. ``query`` may be the
    identifier already encoded in the context's transfer syntax."""
    sop_class = _sop_class(model, FIND_MODELS)
    request = CFindRQ(affected_sop_class_uid=sop_class, priority=priority)
    # Closing the inner generator at once, not when it is collected, is what sends
    # the C-CANCEL at the caller's break (AssociationDriver.request's finally).
    async with aclosing(association.request(_context(association, sop_class), request,
                                            query)) as responses:
        async for response in responses:
            yield response


async def get(association: AssociationDriver, query: Dataset, *, model: str = "study",
              priority: int = Priority.MEDIUM) -> AsyncGenerator[Response, None]:
    """C-GET: yield the C-GET responses (sub-operation counts). The instances arrive as
    C-STORE requests on this association, handled by the ``on_request`` given to
    :func:`dicomnet.connect` (which must also propose the SCP role for their storage
    SOP classes, PS3.4 C.4.3)."""
    sop_class = _sop_class(model, GET_MODELS)
    request = CGetRQ(affected_sop_class_uid=sop_class, priority=priority)
    # Closing the inner generator at once, not when it is collected, is what sends
    # the C-CANCEL at the caller's break (AssociationDriver.request's finally).
    async with aclosing(association.request(_context(association, sop_class), request,
                                            query)) as responses:
        async for response in responses:
            yield response


async def move(association: AssociationDriver, query: Dataset, *, destination: str,
               model: str = "study", priority: int = Priority.MEDIUM
               ) -> AsyncGenerator[Response, None]:
    """C-MOVE: ask the peer to send the matching instances to ``destination`` (an AE
    title it knows); yield the responses with their sub-operation counts."""
    sop_class = _sop_class(model, MOVE_MODELS)
    request = CMoveRQ(affected_sop_class_uid=sop_class, move_destination=destination,
                      priority=priority)
    # Closing the inner generator at once, not when it is collected, is what sends
    # the C-CANCEL at the caller's break (AssociationDriver.request's finally).
    async with aclosing(association.request(_context(association, sop_class), request,
                                            query)) as responses:
        async for response in responses:
            yield response


# -- SCP ---------------------------------------------------------------------------------


async def answer_find(request: IncomingRequest, handler: FindHandler) -> None:
    """Answer a C-FIND-RQ: one pending response per identifier, then the final one
    (PS3.4 C.4.1.2.2). A C-CANCEL-RQ ends the matching with status FE00."""
    message = request.message
    assert isinstance(message, CFindRQ)

    def response(status: int, comment: str | None = None,
                 offending: tuple[int, ...] | None = None) -> CFindRSP:
        return CFindRSP(message_id_being_responded_to=message.message_id,
                        affected_sop_class_uid=message.affected_sop_class_uid,
                        status=status, error_comment=comment, offending_element=offending)

    problem = _unusable_identifier(request)
    if problem is not None:
        log.warning("%r: C-FIND identifier refused: %s", request.association, problem)
        await request.respond(response(_IDENTIFIER_DOES_NOT_MATCH, problem))
        return
    matches = handler(request)
    try:
        async for identifier in matches:
            if request.cancelled.is_set():
                break
            if isinstance(identifier, list):
                await _send_pending(request, response(Status.PENDING), identifier)
            else:
                await request.respond(response(Status.PENDING), identifier)
            if request.cancelled.is_set():
                break
    except ValueError as exc:  # the handler found the identifier unusable
        log.warning("%r: C-FIND identifier refused: %s", request.association, exc)
        # Identifier does not match SOP Class
        await request.respond(response(0xA900, str(exc), _offending(exc)))
        return
    except ServiceFailure as failure:  # a refusal with its reason (the handler logs it)
        await request.respond(response(failure.status, failure.comment, failure.offending))
        return
    except DIMSEError as exc:
        # A match that cannot be encoded (a value its VR cannot hold): nothing of that
        # response was sent (send_message encodes first), so a final status still can.
        log.warning("%r: C-FIND match not sent: %s", request.association, exc)
        # Unable to process (PS3.4 C.4.1.1.4)
        await request.respond(response(0xC000, "a match could not be encoded"))
        return
    except DicomNetError:
        raise
    except Exception as exc:
        log.exception("%r: C-FIND handler failed", request.association)
        # Unable to process (PS3.4 C.4.1.1.4)
        await request.respond(response(0xC000, exception_comment(exc)))
        return
    finally:
        await _close(matches)
    if request.cancelled.is_set():
        log.info("%r: C-FIND cancelled by the peer", request.association)
        await request.respond(response(Status.CANCEL))
    else:
        await request.respond(response(Status.SUCCESS))


async def _send_pending(request: IncomingRequest, pending: CFindRSP,
                        identifiers: list[Dataset | bytes]) -> None:
    """Pending responses for a batch of identifiers, in few socket writes
    (:mod:`dicomnet.response_batch`); a C-CANCEL is seen between two writes."""
    association, context = request.association, request.context
    syntax = context.transfer_syntax
    encoded: list[bytes] = []
    failure: DIMSEError | None = None
    for identifier in identifiers:
        if isinstance(identifier, bytes):
            encoded.append(identifier)
            continue
        try:
            encoded.append(encode_dataset(identifier, syntax))
        except DIMSEError as exc:  # send those before it, then fail the request
            failure = exc
            break
    pending = replace(pending, has_dataset=True)
    for data, count in batched_writes(context.context_id, encode_command(pending), encoded,
                                       association.send_capacity()):
        if request.cancelled.is_set():
            return
        await association.send_batch(ResponseBatch(pending, data, count))
        request.pending_sent += count
    if failure is not None:
        raise failure


#: PS3.4 Tables C.4-1, C.4-2, C.4-3: Failure, "Identifier does not match SOP Class".
_IDENTIFIER_DOES_NOT_MATCH = 0xA900


def _unusable_identifier(request: IncomingRequest) -> str | None:
    """Why the request's identifier cannot be used, or None: it is missing, or it is
    not a data set we can decode. Decoding here, before any handler runs, makes a
    peer's malformed identifier a refusal (A900) rather than a handler failure."""
    try:
        dataset = request.dataset
    except DIMSEError as exc:
        return str(exc)
    return "the request has no identifier" if dataset is None else None


def _offending(exc: Exception) -> tuple[int, ...] | None:
    return getattr(exc, "offending", None)


@dataclass
class _Unusable:
    """Why an identifier was refused: the Error Comment and Offending Element."""

    comment: str
    offending: tuple[int, ...] | None = None
    #: The status: the identifier's refusal, or a handler's (ServiceFailure, logged
    #: by the handler).
    status: int = _IDENTIFIER_DOES_NOT_MATCH


async def _collect_identified(request: IncomingRequest, handler: RetrieveHandler,
                              service: str) -> list[Any] | _Unusable:
    """The instances the handler yields, or why (logged) the identifier is unusable:
    undecodable, or refused by the handler with ValueError (as for C-FIND)."""
    problem = _unusable_identifier(request)
    unusable = _Unusable(problem) if problem is not None else None
    if unusable is None:
        try:
            return await _collect(request, handler)
        except ValueError as exc:
            unusable = _Unusable(str(exc), _offending(exc))
        except ServiceFailure as failure:
            return _Unusable(failure.comment or "", failure.offending, failure.status)
    log.warning("%r: %s identifier refused: %s", request.association, service,
                unusable.comment)
    return unusable


async def _close(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


_RetrieveRSP = TypeVar("_RetrieveRSP", CGetRSP, CMoveRSP)


@dataclass
class _Counts:
    """Sub-operation bookkeeping for C-GET and C-MOVE (PS3.4 C.4.2.1.5, C.4.3.1.4)."""

    remaining: int
    completed: int = 0
    failed: int = 0
    warning: int = 0

    def record(self, status: int) -> None:
        self.remaining -= 1
        kind = category(status)
        if kind == StatusCategory.SUCCESS:
            self.completed += 1
        elif kind == StatusCategory.WARNING:
            self.warning += 1
        else:
            self.failed += 1

    def response(self, cls: type[_RetrieveRSP], request: CGetRQ | CMoveRQ, status: int,
                 *, final: bool, comment: str | None = None,
                 offending: tuple[int, ...] | None = None) -> _RetrieveRSP:
        """A C-GET/C-MOVE response with these counts; a final response leaves out
        Number of Remaining Sub-operations (PS3.4 C.4.2.1.5, C.4.3.1.4)."""
        return cls(message_id_being_responded_to=request.message_id,
                   affected_sop_class_uid=request.affected_sop_class_uid, status=status,
                   number_of_remaining_suboperations=None if final else self.remaining,
                   number_of_completed_suboperations=self.completed,
                   number_of_failed_suboperations=self.failed,
                   number_of_warning_suboperations=self.warning,
                   error_comment=comment, offending_element=offending)

    def final_status(self, cancelled: bool) -> int:
        if cancelled:
            return Status.CANCEL
        if self.failed or self.warning:
            return 0xB000  # sub-operations complete, one or more failures or warnings
        return Status.SUCCESS


def _failed_identifier(failed: Sequence[str]) -> Dataset | None:
    """The identifier of a final response after failures: Failed SOP Instance UID List
    (0008,0058), PS3.4 C.4.2.3.1."""
    if not failed:
        return None
    from pydicom.dataset import Dataset

    identifier = Dataset()
    identifier.FailedSOPInstanceUIDList = list(failed)
    return identifier


async def _collect(request: IncomingRequest, handler: RetrieveHandler) -> list[Any]:
    items: list[Any] = []
    matches = handler(request)
    try:
        async for item in matches:
            items.append(item)
    finally:
        await _close(matches)
    return items


@dataclass(frozen=True)
class InstanceFile(os.PathLike[str]):
    """A Part 10 file a retrieve handler yields, with the SOP Instance UID it holds.

    It is a path (:func:`os.fspath` gives ``path``), so it is sent like any other; the
    UID is what a failed sub-operation reports (Failed SOP Instance UID List, PS3.4
    C.4.2.3.1) and logs when the file is missing or unreadable, rather than the path
    (which names the patient in most archives)."""

    path: str | os.PathLike[str]
    sop_instance_uid: str

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def _instance_uid(item: Any) -> str | None:
    """The SOP Instance UID of an item to send, None if it cannot be known: the one
    an :class:`InstanceFile` carries, a data set's, else read from the file's header
    (which may be what is missing)."""
    known = getattr(item, "sop_instance_uid", None)
    if known:
        return str(known)
    if isinstance(item, str | os.PathLike):
        from dicomnet.part10 import read_header

        try:
            with open(item, "rb") as fp:
                return read_header(fp).sop_instance_uid or None
        except (OSError, ValueError):  # Part10Error is a ValueError
            return None
    uid = getattr(item, "SOPInstanceUID", None)
    return str(uid) if uid else None


def _failure_reason(exc: Exception, item: Any) -> str:
    """Why an item was not sent, without its path: the system's reason for an OSError
    (its file name left out), the error's text with the path cut out otherwise."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
        if isinstance(item, str | os.PathLike):
            text = text.replace(os.fspath(item), "<file>")
    return error_comment(f"{type(exc).__name__}: {text}")


async def _retrieve(request: IncomingRequest, items: list[Any],
                    send: Callable[[Any], Awaitable[int]],
                    respond: Callable[[int, _Counts, bool, Dataset | None], Awaitable[None]]
                    ) -> None:
    """Send every instance with ``send``, reporting progress after each."""
    counts = _Counts(remaining=len(items))
    failed: list[str] = []
    for item in items:
        if request.cancelled.is_set():
            break
        try:
            status = await send(item)
        except (DicomNetError, OSError, ValueError) as exc:
            # One instance that cannot be sent (missing, unreadable, in a transfer
            # syntax the peer did not accept) fails its sub-operation only; the rest
            # still go (PS3.4 C.4.2.3.1, C.4.3.3.1). Logged by UID: paths name patients.
            log.warning("%r: sub-operation for %s failed: %s", request.association,
                        _instance_uid(item) or "an instance of unknown UID",
                        _failure_reason(exc, item))
            status = 0xA702  # PS3.4 C.4.2.1.5: unable to perform sub-operations
        counts.record(status)
        if category(status) not in (StatusCategory.SUCCESS, StatusCategory.WARNING):
            uid = _instance_uid(item)
            if uid is not None:
                failed.append(uid)
        if counts.remaining:
            await respond(Status.PENDING, counts, False, None)
    cancelled = request.cancelled.is_set()
    # After a cancel the remaining count is still reported (PS3.4 C.4.2.1.5).
    await respond(counts.final_status(cancelled), counts, not cancelled,
                  _failed_identifier(failed))


async def answer_get(request: IncomingRequest, handler: RetrieveHandler) -> None:
    """Answer a C-GET-RQ: C-STORE each instance back on this association."""
    message = request.message
    assert isinstance(message, CGetRQ)
    association = request.association

    async def send(item: Any) -> int:
        return await storage.store(association, item)

    async def respond(status: int, counts: _Counts, final: bool,
                      identifier: Dataset | None) -> None:
        await request.respond(counts.response(CGetRSP, message, status, final=final),
                              identifier)

    items = await _collect_identified(request, handler, "C-GET")
    if isinstance(items, _Unusable):
        await request.respond(_Counts(0).response(
            CGetRSP, message, items.status, final=True,
            comment=items.comment, offending=items.offending))
        return
    await _retrieve(request, items, send, respond)


async def answer_move(request: IncomingRequest, handler: RetrieveHandler,
                      destinations: DestinationLookup, *, calling_ae_title: str,
                      connect: Connect) -> None:
    """Answer a C-MOVE-RQ: open an association to the destination AE with ``connect``
    (:func:`dicomnet.connect`, handed in by the server: a service does not reach up to
    the client) and C-STORE each instance there, as a sub-operation of this move
    (PS3.4 C.4.2)."""
    from dicomnet.services.storage import contexts_for

    message = request.message
    assert isinstance(message, CMoveRQ)
    destination = message.move_destination.strip()

    last: tuple[CMoveRSP, Dataset | None] | None = None

    async def respond(status: int, counts: _Counts, final: bool,
                      identifier: Dataset | None) -> None:
        nonlocal last
        response = counts.response(CMoveRSP, message, status, final=final)
        if status == Status.PENDING:
            await request.respond(response, identifier)
        else:  # sent once the sub-operations' association is released (below)
            last = (response, identifier)

    address = destinations(destination)
    if address is None:
        log.warning("%r: unknown move destination %s", request.association,
                    peer_text(destination))
        await request.respond(CMoveRSP(
            message_id_being_responded_to=message.message_id,
            affected_sop_class_uid=message.affected_sop_class_uid,
            status=0xA801,  # Refused: Move Destination unknown (PS3.4 C.4.2.1.5)
            error_comment=f"move destination {destination!r} is not known here"))
        return
    items = await _collect_identified(request, handler, "C-MOVE")
    if isinstance(items, _Unusable):
        await request.respond(_Counts(0).response(
            CMoveRSP, message, items.status, final=True,
            comment=items.comment, offending=items.offending))
        return
    if not items:
        await respond(Status.SUCCESS, _Counts(0), True, None)
        return
    host, port = address
    originator = (request.association.calling_ae_title, message.message_id)
    # Reading every file's head to choose the contexts: off the event loop, as a
    # study may have thousands of files (and a cold disk).
    contexts = await anyio.to_thread.run_sync(contexts_for, items)
    try:
        async with connect(host, port, called_ae=destination, calling_ae=calling_ae_title,
                           contexts=contexts) as sub:

            async def send(item: Any) -> int:
                return await storage.store(sub, item, move_originator=originator)

            await _retrieve(request, items, send, respond)
    except (DicomNetError, OSError) as exc:
        if last is not None:  # every sub-operation was done; only the release failed
            log.info("%r: the association to %s did not end in a release: %s",
                     request.association, peer_text(destination), peer_text(exc, 200))
        elif request.answered:
            raise
        else:
            await _cannot_reach(request, items, destination, (host, port), exc)
    # The final response only after that association is over, as DCMTK does: a requestor
    # that releases on it cannot cut the sub-operations' release short.
    if last is not None:
        await request.respond(*last)


async def _cannot_reach(request: IncomingRequest, items: list[Any], destination: str,
                        address: tuple[str, int], exc: BaseException) -> None:
    """Refuse the move whose destination could not be reached (or whose association
    failed before any sub-operation was reported): every instance failed."""
    message = request.message
    assert isinstance(message, CMoveRQ)
    host, port = address
    log.warning("%r: cannot move to %s at %s:%d: %s", request.association,
                peer_text(destination), host, port, peer_text(exc, 200))
    counts = _Counts(remaining=0, failed=len(items))
    # PS3.4 C.4.2.1.5: Refused: Out of Resources - Unable to perform sub-operations.
    uids = [uid for uid in map(_instance_uid, items) if uid is not None]
    await request.respond(counts.response(
        CMoveRSP, message, 0xA702, final=True,
        comment=f"cannot reach {destination}: {type(exc).__name__}"),
        _failed_identifier(uids))
