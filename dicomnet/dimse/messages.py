"""One frozen dataclass per DIMSE message (PS3.7 §9.3 DIMSE-C, §10.3 DIMSE-N).

Field names are the standard's attribute names in snake_case; every field maps to one
group 0000 element through :data:`FIELDS`, so the command set codec is one general
loop rather than a codec per message. Fields the standard marks M are required
arguments; U and C fields default to None (absent).

``has_dataset`` is Command Data Set Type (0000,0800): whether a data set follows the
command. Each class defaults it to what the message usually carries; the association
sets it from the data set actually sent.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from enum import IntEnum
from typing import Any, ClassVar, cast

from dicomnet.dimse.status import StatusCategory, category
from dicomnet.records import record

__all__ = [
    "FIELDS",
    "MESSAGE_TYPES",
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "CCancelRQ",
    "CEchoRQ",
    "CEchoRSP",
    "CFindRQ",
    "CFindRSP",
    "CGetRQ",
    "CGetRSP",
    "CMoveRQ",
    "CMoveRSP",
    "CStoreRQ",
    "CStoreRSP",
    "CommandField",
    "DIMSEMessage",
    "NActionRQ",
    "NActionRSP",
    "NCreateRQ",
    "NCreateRSP",
    "NDeleteRQ",
    "NDeleteRSP",
    "NEventReportRQ",
    "NEventReportRSP",
    "NGetRQ",
    "NGetRSP",
    "NSetRQ",
    "NSetRSP",
    "Priority",
    "describe_message",
    "is_final_response",
    "message_fields",
    "response_to",
]


class CommandField(IntEnum):
    """Command Field (0000,0100) values, PS3.7 Annex E Table E.1-1."""

    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    C_GET_RQ = 0x0010
    C_GET_RSP = 0x8010
    C_FIND_RQ = 0x0020
    C_FIND_RSP = 0x8020
    C_MOVE_RQ = 0x0021
    C_MOVE_RSP = 0x8021
    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030
    N_EVENT_REPORT_RQ = 0x0100
    N_EVENT_REPORT_RSP = 0x8100
    N_GET_RQ = 0x0110
    N_GET_RSP = 0x8110
    N_SET_RQ = 0x0120
    N_SET_RSP = 0x8120
    N_ACTION_RQ = 0x0130
    N_ACTION_RSP = 0x8130
    N_CREATE_RQ = 0x0140
    N_CREATE_RSP = 0x8140
    N_DELETE_RQ = 0x0150
    N_DELETE_RSP = 0x8150
    C_CANCEL_RQ = 0x0FFF


class Priority(IntEnum):
    """Priority (0000,0700), PS3.7 §9.1.1.1.4."""

    MEDIUM = 0x0000
    HIGH = 0x0001
    LOW = 0x0002


#: field name -> (tag, VR): the command dictionary of PS3.7 Annex E, Table E.1-1.
FIELDS: dict[str, tuple[int, str]] = {
    "affected_sop_class_uid": (0x00000002, "UI"),
    "requested_sop_class_uid": (0x00000003, "UI"),
    "message_id": (0x00000110, "US"),
    "message_id_being_responded_to": (0x00000120, "US"),
    "move_destination": (0x00000600, "AE"),
    "priority": (0x00000700, "US"),
    "status": (0x00000900, "US"),
    "offending_element": (0x00000901, "AT"),
    "error_comment": (0x00000902, "LO"),
    "error_id": (0x00000903, "US"),
    "affected_sop_instance_uid": (0x00001000, "UI"),
    "requested_sop_instance_uid": (0x00001001, "UI"),
    "event_type_id": (0x00001002, "US"),
    "attribute_identifier_list": (0x00001005, "AT"),
    "action_type_id": (0x00001008, "US"),
    "number_of_remaining_suboperations": (0x00001020, "US"),
    "number_of_completed_suboperations": (0x00001021, "US"),
    "number_of_failed_suboperations": (0x00001022, "US"),
    "number_of_warning_suboperations": (0x00001023, "US"),
    "move_originator_ae_title": (0x00001030, "AE"),
    "move_originator_message_id": (0x00001031, "US"),
}


class _Message:
    """What all messages share."""

    __slots__ = ()
    command_field: ClassVar[int]
    is_request: ClassVar[bool]
    has_dataset: bool

    @property
    def is_response(self) -> bool:
        return not self.is_request


class _Request(_Message):
    __slots__ = ()
    is_request: ClassVar[bool] = True


class _Response(_Message):
    __slots__ = ()
    is_request: ClassVar[bool] = False
    status: int

    @property
    def status_category(self) -> StatusCategory:
        return category(self.status)


# Common U fields of responses (PS3.7 §9.3 and §10.3: Offending Element, Error Comment,
# Error ID) come last in each class so that required fields can stay positional.

# -- DIMSE-C (PS3.7 §9.3) --------------------------------------------------------------


@record(kw_only=True)
class CEchoRQ(_Request):
    """PS3.7 Table 9.3-12."""

    command_field: ClassVar[int] = CommandField.C_ECHO_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    affected_sop_class_uid: str
    has_dataset: bool = False


@record(kw_only=True)
class CEchoRSP(_Response):
    """PS3.7 Table 9.3-13."""

    command_field: ClassVar[int] = CommandField.C_ECHO_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


@record(kw_only=True)
class CStoreRQ(_Request):
    """PS3.7 Table 9.3-1."""

    command_field: ClassVar[int] = CommandField.C_STORE_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    affected_sop_class_uid: str
    affected_sop_instance_uid: str
    priority: int = Priority.MEDIUM
    move_originator_ae_title: str | None = None
    move_originator_message_id: int | None = None
    has_dataset: bool = True


@record(kw_only=True)
class CStoreRSP(_Response):
    """PS3.7 Table 9.3-2."""

    command_field: ClassVar[int] = CommandField.C_STORE_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


@record(kw_only=True)
class CFindRQ(_Request):
    """PS3.7 Table 9.3-3; the identifier is the data set."""

    command_field: ClassVar[int] = CommandField.C_FIND_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    affected_sop_class_uid: str
    priority: int = Priority.MEDIUM
    has_dataset: bool = True


@record(kw_only=True)
class CFindRSP(_Response):
    """PS3.7 Table 9.3-4; pending responses carry a matching identifier."""

    command_field: ClassVar[int] = CommandField.C_FIND_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


@record(kw_only=True)
class CGetRQ(_Request):
    """PS3.7 Table 9.3-5."""

    command_field: ClassVar[int] = CommandField.C_GET_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    affected_sop_class_uid: str
    priority: int = Priority.MEDIUM
    has_dataset: bool = True


@record(kw_only=True)
class CGetRSP(_Response):
    """PS3.7 Table 9.3-6."""

    command_field: ClassVar[int] = CommandField.C_GET_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    number_of_remaining_suboperations: int | None = None
    number_of_completed_suboperations: int | None = None
    number_of_failed_suboperations: int | None = None
    number_of_warning_suboperations: int | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


@record(kw_only=True)
class CMoveRQ(_Request):
    """PS3.7 Table 9.3-7."""

    command_field: ClassVar[int] = CommandField.C_MOVE_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    affected_sop_class_uid: str
    move_destination: str
    priority: int = Priority.MEDIUM
    has_dataset: bool = True


@record(kw_only=True)
class CMoveRSP(_Response):
    """PS3.7 Table 9.3-8."""

    command_field: ClassVar[int] = CommandField.C_MOVE_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    number_of_remaining_suboperations: int | None = None
    number_of_completed_suboperations: int | None = None
    number_of_failed_suboperations: int | None = None
    number_of_warning_suboperations: int | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


@record(kw_only=True)
class CCancelRQ(_Request):
    """PS3.7 Table 9.3-11 (C-FIND/C-GET/C-MOVE-CANCEL-RQ)."""

    command_field: ClassVar[int] = CommandField.C_CANCEL_RQ
    message_id_being_responded_to: int
    has_dataset: bool = False


# -- DIMSE-N (PS3.7 §10.3) ------------------------------------------------------------


@record(kw_only=True)
class NEventReportRQ(_Request):
    """PS3.7 Table 10.3-1."""

    command_field: ClassVar[int] = CommandField.N_EVENT_REPORT_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    affected_sop_class_uid: str
    affected_sop_instance_uid: str
    event_type_id: int
    has_dataset: bool = False


@record(kw_only=True)
class NEventReportRSP(_Response):
    """PS3.7 Table 10.3-2."""

    command_field: ClassVar[int] = CommandField.N_EVENT_REPORT_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    event_type_id: int | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


@record(kw_only=True)
class NGetRQ(_Request):
    """PS3.7 Table 10.3-3."""

    command_field: ClassVar[int] = CommandField.N_GET_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    requested_sop_class_uid: str
    requested_sop_instance_uid: str
    attribute_identifier_list: tuple[int, ...] | None = None
    has_dataset: bool = False


@record(kw_only=True)
class NGetRSP(_Response):
    """PS3.7 Table 10.3-4."""

    command_field: ClassVar[int] = CommandField.N_GET_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


@record(kw_only=True)
class NSetRQ(_Request):
    """PS3.7 Table 10.3-5; the modification list is the data set."""

    command_field: ClassVar[int] = CommandField.N_SET_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    requested_sop_class_uid: str
    requested_sop_instance_uid: str
    has_dataset: bool = True


@record(kw_only=True)
class NSetRSP(_Response):
    """PS3.7 Table 10.3-6."""

    command_field: ClassVar[int] = CommandField.N_SET_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    attribute_identifier_list: tuple[int, ...] | None = None
    has_dataset: bool = False


@record(kw_only=True)
class NActionRQ(_Request):
    """PS3.7 Table 10.3-7."""

    command_field: ClassVar[int] = CommandField.N_ACTION_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    requested_sop_class_uid: str
    requested_sop_instance_uid: str
    action_type_id: int
    has_dataset: bool = False


@record(kw_only=True)
class NActionRSP(_Response):
    """PS3.7 Table 10.3-8."""

    command_field: ClassVar[int] = CommandField.N_ACTION_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    action_type_id: int | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


@record(kw_only=True)
class NCreateRQ(_Request):
    """PS3.7 Table 10.3-9."""

    command_field: ClassVar[int] = CommandField.N_CREATE_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    affected_sop_class_uid: str
    affected_sop_instance_uid: str | None = None
    has_dataset: bool = False


@record(kw_only=True)
class NCreateRSP(_Response):
    """PS3.7 Table 10.3-10."""

    command_field: ClassVar[int] = CommandField.N_CREATE_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


@record(kw_only=True)
class NDeleteRQ(_Request):
    """PS3.7 Table 10.3-11."""

    command_field: ClassVar[int] = CommandField.N_DELETE_RQ
    message_id: int = 0  # 0: allocated by the association when sent
    requested_sop_class_uid: str
    requested_sop_instance_uid: str
    has_dataset: bool = False


@record(kw_only=True)
class NDeleteRSP(_Response):
    """PS3.7 Table 10.3-12."""

    command_field: ClassVar[int] = CommandField.N_DELETE_RSP
    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None
    has_dataset: bool = False


DIMSEMessage = (CEchoRQ | CEchoRSP | CStoreRQ | CStoreRSP | CFindRQ | CFindRSP | CGetRQ
                | CGetRSP | CMoveRQ | CMoveRSP | CCancelRQ | NEventReportRQ
                | NEventReportRSP | NGetRQ | NGetRSP | NSetRQ | NSetRSP | NActionRQ
                | NActionRSP | NCreateRQ | NCreateRSP | NDeleteRQ | NDeleteRSP)
"""Any DIMSE message: one of the 23 classes of this module. Signatures name this alias
rather than spelling out the union.

:meta hide-value:
"""

MESSAGE_TYPES: dict[int, type[DIMSEMessage]] = {
    cls.command_field: cls
    for cls in (CEchoRQ, CEchoRSP, CStoreRQ, CStoreRSP, CFindRQ, CFindRSP, CGetRQ, CGetRSP,
                CMoveRQ, CMoveRSP, CCancelRQ, NEventReportRQ, NEventReportRSP, NGetRQ,
                NGetRSP, NSetRQ, NSetRSP, NActionRQ, NActionRSP, NCreateRQ, NCreateRSP,
                NDeleteRQ, NDeleteRSP)
}
#: Command Field -> message class, for the 12 requests.
REQUEST_TYPES = {field: cls for field, cls in MESSAGE_TYPES.items() if cls.is_request}
#: Command Field -> message class, for the 11 responses (C-CANCEL has none).
RESPONSE_TYPES = {field: cls for field, cls in MESSAGE_TYPES.items() if not cls.is_request}


_FIELD_CACHE: dict[type, tuple[tuple[str, int, str, bool], ...]] = {}


def message_fields(cls: type[DIMSEMessage]) -> tuple[tuple[str, int, str, bool], ...]:
    """(field name, tag, VR, required) of a message class's command elements, in tag
    order (PS3.5 §7.1: elements ascend by tag)."""
    cached = _FIELD_CACHE.get(cls)
    if cached is not None:
        return cached
    result = []
    for f in fields(cls):
        if f.name == "has_dataset":
            continue
        tag, vr = FIELDS[f.name]
        # Message ID is M on the wire (PS3.7 E.1-1) though a request is made with 0,
        # for the association to allocate one.
        required = (f.default is MISSING and f.default_factory is MISSING) \
            or f.name == "message_id"
        result.append((f.name, tag, vr, required))
    _FIELD_CACHE[cls] = tuple(sorted(result, key=lambda item: item[1]))
    return _FIELD_CACHE[cls]


#: Command element names per response class, for response_to (it answers every
#: built-in C-ECHO).
_NAMES_CACHE: dict[type, frozenset[str]] = {}


def describe_message(message: DIMSEMessage) -> str:
    """A message in a few words for logs and errors: ``C-STORE-RQ #3``, ``C-FIND-RSP
    (to #3, status 0xFF00)``."""
    name = CommandField(message.command_field).name.replace("_", "-")
    if message.is_response:
        return f"{name} (to #{getattr(message, 'message_id_being_responded_to', '?')}, " \
               f"status 0x{getattr(message, 'status', 0):04X})"
    return f"{name} #{getattr(message, 'message_id', '?')}"


def is_final_response(message: DIMSEMessage) -> bool:
    """Whether ``message`` is a response that ends its request: any but Pending
    (PS3.7 C.1)."""
    return not message.is_request and \
        category(message.status) is not StatusCategory.PENDING  # type: ignore[union-attr]


def response_to(request: DIMSEMessage, status: int, *,
                error_comment: str | None = None) -> DIMSEMessage:
    """The response of the right type to ``request`` with ``status`` and the identifying
    fields copied over: what a service sends when it cannot do better (a failure, or
    an operation it does not know), PS3.7 §9.3 / §10.3."""
    if not request.is_request or request.command_field == CommandField.C_CANCEL_RQ:
        raise ValueError(f"{type(request).__name__} has no response")
    cls = RESPONSE_TYPES[request.command_field | 0x8000]
    names = _NAMES_CACHE.get(cls)
    if names is None:
        names = _NAMES_CACHE[cls] = frozenset(name for name, *_ in message_fields(cls))
    values: dict[str, object] = {
        "message_id_being_responded_to": cast(Any, request).message_id,
        "status": int(status),
    }
    sop_class = getattr(request, "affected_sop_class_uid", None) \
        or getattr(request, "requested_sop_class_uid", None)
    sop_instance = getattr(request, "affected_sop_instance_uid", None) \
        or getattr(request, "requested_sop_instance_uid", None)
    if sop_class is not None and "affected_sop_class_uid" in names:
        values["affected_sop_class_uid"] = sop_class
    if sop_instance is not None and "affected_sop_instance_uid" in names:
        values["affected_sop_instance_uid"] = sop_instance
    if error_comment is not None and "error_comment" in names:
        values["error_comment"] = error_comment[:64]  # LO: at most 64 characters
    return cls(**values)  # type: ignore[arg-type]
