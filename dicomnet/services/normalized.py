"""The DIMSE-N operations (PS3.7 §10) in both roles: one general mechanism that the
normalized services (storage commitment, MPPS, ...) are built on.

SCU: :func:`n_get`, :func:`n_set`, :func:`n_action`, :func:`n_create`, :func:`n_delete`
and :func:`n_event_report` send one request and return an :class:`NResult`, which
unpacks as ``status, dataset`` and also keeps the whole response (the SOP Instance UID
an N-CREATE SCP chose, the error comment of a failure).

SCP: :class:`NormalizedHandlers` maps (SOP class, operation) to a handler. A handler
receives a :class:`NormalizedRequest` (the request with its SOP class and instance
named the same way whatever the operation calls them) and returns a status, or a
``(status, dataset)`` pair; a failure with more to say (Error Comment, Error ID,
Offending Element, PS3.7 §10.1) is raised as :class:`NFailure`. The registry is
itself a request hook: it serves a :class:`~dicomnet.Server` (``server.on_normalized``)
and, given as ``on_request`` to :func:`dicomnet.connect`, requests the peer sends on
an association we opened (an N-EVENT-REPORT on the association that asked for
storage commitment, PS3.4 J.3.3).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from dicomnet.dimse import (
    CommandField,
    DIMSEMessage,
    NActionRQ,
    NActionRSP,
    NCreateRQ,
    NCreateRSP,
    NDeleteRQ,
    NDeleteRSP,
    NEventReportRQ,
    NEventReportRSP,
    NGetRQ,
    NGetRSP,
    NSetRQ,
    NSetRSP,
    Status,
)
from dicomnet.dimse.comment import error_comment, exception_comment
from dicomnet.errors import DicomNetError, NegotiationError
from dicomnet.services.context_check import context_mismatch
from dicomnet.services.failure import ServiceFailure

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.acse import AcceptedContext
    from dicomnet.association import AssociationDriver, IncomingRequest, Response

__all__ = [
    "OPERATIONS",
    "NFailure",
    "NHandler",
    "NOperation",
    "NResult",
    "NormalizedHandlers",
    "NormalizedRequest",
    "answer",
    "n_action",
    "n_create",
    "n_delete",
    "n_event_report",
    "n_get",
    "n_set",
    "select_attributes",
]

log = logging.getLogger("dicomnet.normalized")

#: The name of a DIMSE-N operation, as handlers are registered and requests report it.
NOperation = Literal["N-EVENT-REPORT", "N-GET", "N-SET", "N-ACTION", "N-CREATE",
                     "N-DELETE"]

#: Operation name -> Command Field of its request (PS3.7 Annex E).
OPERATIONS: dict[NOperation, int] = {
    "N-EVENT-REPORT": CommandField.N_EVENT_REPORT_RQ,
    "N-GET": CommandField.N_GET_RQ,
    "N-SET": CommandField.N_SET_RQ,
    "N-ACTION": CommandField.N_ACTION_RQ,
    "N-CREATE": CommandField.N_CREATE_RQ,
    "N-DELETE": CommandField.N_DELETE_RQ,
}
_NAMES: dict[int, NOperation] = {field: name for name, field in OPERATIONS.items()}

NRequestMessage = (NEventReportRQ | NGetRQ | NSetRQ | NActionRQ | NCreateRQ | NDeleteRQ)
_REQUEST_CLASSES = (NEventReportRQ, NGetRQ, NSetRQ, NActionRQ, NCreateRQ, NDeleteRQ)


# -- SCU ---------------------------------------------------------------------------------


class NResult(tuple[int, "Dataset | None"]):
    """The outcome of one DIMSE-N request: unpacks as ``(status, dataset)``.

    ``response`` is the whole response; :attr:`sop_instance_uid` is its Affected SOP
    Instance UID (for an N-CREATE whose SCP chose the UID, PS3.7 §10.1.5.1.3).
    """

    response: Response

    def __new__(cls, response: Response) -> NResult:
        result = super().__new__(cls, (response.status, response.dataset))
        result.response = response
        return result

    @property
    def status(self) -> int:
        return self[0]

    @property
    def dataset(self) -> Dataset | None:
        return self[1]

    @property
    def sop_instance_uid(self) -> str | None:
        uid = getattr(self.response.message, "affected_sop_instance_uid", None)
        return None if uid is None else str(uid)

    @property
    def error_comment(self) -> str | None:
        comment = getattr(self.response.message, "error_comment", None)
        return None if comment is None else str(comment)

    @property
    def error_id(self) -> int | None:
        value = getattr(self.response.message, "error_id", None)
        return None if value is None else int(value)


def _context(association: AssociationDriver, sop_class: str, *, as_scp: bool) -> AcceptedContext:
    """The accepted context for ``sop_class`` on which we may act in the role that
    invokes the operation: N-EVENT-REPORT is invoked by the SOP class's SCP, every
    other N-operation by its SCU (PS3.7 §10.1; roles negotiated per PS3.7 D.3.3.4)."""
    context = association.negotiated.find_context(sop_class, as_scp=as_scp)
    if context is None:
        role = "SCP" if as_scp else "SCU"
        raise NegotiationError(
            f"no accepted presentation context for {sop_class} on which we are {role}; "
            "propose it in contexts= (and the SCP role in roles= to send event reports "
            "as the association requestor)")
    return context


async def _send(association: AssociationDriver, message: DIMSEMessage,
                dataset: Dataset | None, sop_class: str, *, as_scp: bool = False
                ) -> NResult:
    context = _context(association, sop_class, as_scp=as_scp)
    return NResult(await association.request_one(context, message, dataset))


async def n_get(association: AssociationDriver, sop_class: str, sop_instance: str,
                attributes: Iterable[int] | None = None) -> NResult:
    """N-GET (PS3.7 §10.1.2): the attributes (tags) asked for, all when None or empty;
    the dataset of the result is the Attribute List."""
    tags = tuple(int(tag) for tag in attributes) if attributes is not None else ()
    message = NGetRQ(requested_sop_class_uid=sop_class,
                     requested_sop_instance_uid=sop_instance,
                     attribute_identifier_list=tags or None)
    return await _send(association, message, None, sop_class)


async def n_set(association: AssociationDriver, sop_class: str, sop_instance: str,
                modifications: Dataset) -> NResult:
    """N-SET (PS3.7 §10.1.3): the Modification List is the data set; the result's
    dataset is the Attribute List the SCP may return."""
    message = NSetRQ(requested_sop_class_uid=sop_class,
                     requested_sop_instance_uid=sop_instance)
    return await _send(association, message, modifications, sop_class)


async def n_action(association: AssociationDriver, sop_class: str, sop_instance: str,
                   action_type: int, information: Dataset | None = None) -> NResult:
    """N-ACTION (PS3.7 §10.1.4) of ``action_type`` with the Action Information; the
    result's dataset is the Action Reply."""
    message = NActionRQ(requested_sop_class_uid=sop_class,
                        requested_sop_instance_uid=sop_instance,
                        action_type_id=action_type)
    return await _send(association, message, information, sop_class)


async def n_create(association: AssociationDriver, sop_class: str,
                   sop_instance: str | None = None,
                   attributes: Dataset | None = None) -> NResult:
    """N-CREATE (PS3.7 §10.1.5): without ``sop_instance`` the SCP chooses the UID and
    returns it (``result.sop_instance_uid``)."""
    message = NCreateRQ(affected_sop_class_uid=sop_class,
                        affected_sop_instance_uid=sop_instance)
    return await _send(association, message, attributes, sop_class)


async def n_delete(association: AssociationDriver, sop_class: str, sop_instance: str
                   ) -> NResult:
    """N-DELETE (PS3.7 §10.1.6)."""
    message = NDeleteRQ(requested_sop_class_uid=sop_class,
                        requested_sop_instance_uid=sop_instance)
    return await _send(association, message, None, sop_class)


async def n_event_report(association: AssociationDriver, sop_class: str, sop_instance: str,
                         event_type: int, information: Dataset | None = None) -> NResult:
    """N-EVENT-REPORT (PS3.7 §10.1.1), sent by the SOP class's SCP: on a context where
    we are SCP (as acceptor by default; as requestor only with the SCP role
    negotiated, PS3.7 D.3.3.4). The result's dataset is the Event Reply."""
    message = NEventReportRQ(affected_sop_class_uid=sop_class,
                             affected_sop_instance_uid=sop_instance,
                             event_type_id=event_type)
    return await _send(association, message, information, sop_class, as_scp=True)


# -- SCP ---------------------------------------------------------------------------------


class NFailure(ServiceFailure):
    """Raised by a handler to answer with a failure (or warning) ``status`` and the
    optional Error Comment (at most 64 characters, LO), Error ID and Offending Element
    of PS3.7 §10.1 (C.4)."""


@dataclass(eq=False)
class NormalizedRequest:
    """A DIMSE-N request as a handler sees it.

    ``sop_class_uid`` and ``sop_instance_uid`` are the Affected or Requested ones,
    whichever the operation carries; for an N-CREATE without an instance UID it is a
    new UID chosen here, which the response returns (PS3.7 §10.1.5.1.3: the SCP
    "shall provide" it).
    """

    request: IncomingRequest
    operation: NOperation
    sop_class_uid: str
    sop_instance_uid: str
    _after: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    def after_response(self, function: Callable[[], Awaitable[None]]) -> None:
        """Run ``function()`` once the response has been sent, as a task of the
        association beside its handlers: work the service does after answering, such
        as the N-EVENT-REPORT that follows a storage commitment request (PS3.4 J.3.3).
        It is cancelled when the association ends unless it shields itself."""
        self._after.append(function)

    @property
    def message(self) -> NRequestMessage:
        return cast(NRequestMessage, self.request.message)

    @property
    def association(self) -> AssociationDriver:
        return self.request.association

    @property
    def dataset(self) -> Dataset | None:
        """Event Information, Modification List, Action Information or Attribute List
        (decoded on first use); None when the request has none."""
        return self.request.dataset

    @property
    def event_type_id(self) -> int | None:
        return getattr(self.message, "event_type_id", None)

    @property
    def action_type_id(self) -> int | None:
        return getattr(self.message, "action_type_id", None)

    @property
    def attribute_identifier_list(self) -> tuple[int, ...]:
        """N-GET: the tags asked for; empty means all (PS3.7 §10.1.2.1.4)."""
        return tuple(getattr(self.message, "attribute_identifier_list", None) or ())


#: A DIMSE-N handler: the status, or (status, data set) to answer with.
NHandler = Callable[[NormalizedRequest],
                    Awaitable["int | tuple[int, Dataset | None]"]]


def select_attributes(dataset: Dataset, tags: Iterable[int]) -> Dataset:
    """The N-GET Attribute List: the attributes of ``dataset`` named by ``tags`` (all of
    them when there are none, PS3.7 §10.1.2.1.4); an attribute asked for that the
    instance lacks is returned empty (zero length)."""
    import copy

    from pydicom.datadict import dictionary_VR
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

    wanted = [int(tag) for tag in tags]
    if not wanted:
        return copy.deepcopy(dataset)
    result = Dataset()
    for tag in wanted:
        if tag in dataset:
            result.add(copy.deepcopy(dataset[tag]))
        else:
            try:
                vr = dictionary_VR(tag).split(" or ")[0]
            except KeyError:
                vr = "UN"
            result.add(DataElement(tag, vr, [] if vr == "SQ" else None))
    return result


class NormalizedHandlers:
    """Handlers by (SOP class, operation), answering DIMSE-N requests.

    Call the registry with an :class:`~dicomnet.association.IncomingRequest` to answer
    it (PS3.7 C.4): a request naming another SOP class than its presentation
    context's gets 0122 (SOP Class not supported), an operation the SOP class has no
    handler for 0211 (Unrecognized operation), a handler that fails 0110 (Processing
    failure).
    """

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, int], NHandler] = {}

    def add(self, sop_class: str, operation: NOperation, handler: NHandler) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown DIMSE-N operation {operation!r}; use one of "
                             f"{sorted(OPERATIONS)}")
        self._handlers[(sop_class, OPERATIONS[operation])] = handler

    @property
    def sop_classes(self) -> frozenset[str]:
        return frozenset(sop_class for sop_class, _field in self._handlers)

    async def __call__(self, request: IncomingRequest) -> None:
        await answer(request, self)

    def handler_for(self, sop_class: str, command_field: int) -> NHandler | None:
        return self._handlers.get((sop_class, command_field))


def _identify(message: NRequestMessage) -> tuple[str, str | None]:
    sop_class = getattr(message, "affected_sop_class_uid", None) \
        or getattr(message, "requested_sop_class_uid", None)
    sop_instance = getattr(message, "affected_sop_instance_uid", None) \
        or getattr(message, "requested_sop_instance_uid", None)
    return str(sop_class or "").rstrip("\x00 "), \
        None if sop_instance is None else str(sop_instance).rstrip("\x00 ")


_RESPONSE_CLASSES: dict[int, type[Any]] = {
    CommandField.N_EVENT_REPORT_RQ: NEventReportRSP,
    CommandField.N_GET_RQ: NGetRSP,
    CommandField.N_SET_RQ: NSetRSP,
    CommandField.N_ACTION_RQ: NActionRSP,
    CommandField.N_CREATE_RQ: NCreateRSP,
    CommandField.N_DELETE_RQ: NDeleteRSP,
}


def _response(message: NRequestMessage, sop_class: str, sop_instance: str, status: int,
              reply: Dataset | None = None, *, failure: NFailure | None = None
              ) -> DIMSEMessage:
    """The response to ``message``: its SOP class and instance as Affected ones, the
    event or action type when a reply follows (PS3.7 Tables 10.3-2 and 10.3-8: present
    when the Event Reply / Action Reply is), and a failure's details."""
    values: dict[str, object] = {
        "message_id_being_responded_to": message.message_id,
        "status": int(status),
        "affected_sop_class_uid": sop_class,
        "affected_sop_instance_uid": sop_instance,
    }
    if reply is not None and isinstance(message, NEventReportRQ):
        values["event_type_id"] = message.event_type_id
    if reply is not None and isinstance(message, NActionRQ):
        values["action_type_id"] = message.action_type_id
    if failure is not None:
        if failure.comment:
            values["error_comment"] = error_comment(failure.comment)  # LO
        if failure.error_id is not None:
            values["error_id"] = failure.error_id
        if failure.offending:
            values["offending_element"] = failure.offending
    cls = _RESPONSE_CLASSES[message.command_field]
    return cast(DIMSEMessage, cls(**values))


async def answer(request: IncomingRequest, handlers: NormalizedHandlers) -> None:
    """Answer one DIMSE-N request with the handler registered for it."""
    from pydicom.uid import generate_uid

    message = request.message
    if not isinstance(message, _REQUEST_CLASSES):
        await request.refuse(Status.UNRECOGNIZED_OPERATION)
        return
    sop_class, sop_instance = _identify(message)
    mismatch = context_mismatch(request.context.abstract_syntax, message)
    if mismatch is not None:
        # PS3.7 §10.1: the SOP class is the one of the presentation context it came on;
        # any other was not negotiated here, so it is not supported (C.4: 0122).
        log.warning("%r: %s refused: %s", request.association,
                    _NAMES[message.command_field], mismatch)
        await request.respond(_response(
            message, sop_class, sop_instance or "", Status.SOP_CLASS_NOT_SUPPORTED,
            failure=NFailure(Status.SOP_CLASS_NOT_SUPPORTED, mismatch)))
        return
    handler = handlers.handler_for(sop_class, message.command_field)
    if handler is None:
        why = f"{_NAMES[message.command_field]} is not served for this SOP class"
        log.warning("%r: %s", request.association, why)
        await request.respond(_response(
            message, sop_class, sop_instance or "", Status.UNRECOGNIZED_OPERATION,
            failure=NFailure(Status.UNRECOGNIZED_OPERATION, why)))
        return
    if sop_instance is None:  # N-CREATE without a UID: the SCP chooses (§10.1.5.1.3)
        sop_instance = str(generate_uid())
    normalized = NormalizedRequest(request, _NAMES[message.command_field], sop_class,
                                   sop_instance)
    failure: NFailure | None = None
    reply: Dataset | None = None
    try:
        outcome = await handler(normalized)
        if isinstance(outcome, tuple):
            status, reply = int(outcome[0]), outcome[1]
        else:
            status = int(outcome)
    except NFailure as exc:
        failure, status = exc, exc.status
    except DicomNetError:
        raise
    except Exception as exc:
        log.exception("%r: %s handler for %s failed", request.association,
                      normalized.operation, sop_class)
        status = Status.PROCESSING_FAILURE
        failure = NFailure(status, exception_comment(exc))
    await request.respond(_response(message, sop_class, sop_instance, status, reply,
                                    failure=failure), reply)
    for function in normalized._after:
        request.association.start_task(function)
