"""PDU and item records to bytes (PS3.8 §9.3, PS3.7 Annex D.3.3), looked up by table.

The records in :mod:`dicomnet.pdu.pdus` and :mod:`dicomnet.pdu.items` are plain data
and know nothing of their wire form: :func:`encode_pdu` and :func:`encode_item` find
the writer for a record in a table keyed by its type, so the dependency runs one way
(codec -> records) and the byte layout of each kind is a plain function beside its
PS3.8 table. A record type without a writer fails at import time, not on the wire.

Encoding checks only what the wire cannot represent (see :mod:`dicomnet.pdu.codec`)
and raises :class:`~dicomnet.errors.PDUError` for it; an object that is no PDU or item
record raises :class:`TypeError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar, get_args

from dicomnet.errors import PDUError
from dicomnet.pdu.constants import ItemType, PDUType
from dicomnet.pdu.items import (
    ApplicationContextItem,
    AsyncOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    Item,
    MaximumLengthSubItem,
    PresentationContextAC,
    PresentationContextRQ,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    UnknownSubItem,
    UserIdentityACSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
    UserSubItem,
)
from dicomnet.pdu.layout import (
    AC_NAME,
    AE_TITLE_LENGTH,
    APP_CONTEXT_NAME,
    ASSOCIATE_FIXED,
    ITEM_HEADER,
    MAX_U8,
    MAX_U16,
    MAX_U32,
    PC_AC_NAME,
    PC_RQ_NAME,
    PDU_HEADER,
    PDV_HEADER,
    PDV_NAME,
    RQ_NAME,
    U16,
    U16_PAIR,
    U32,
    USER_INFO_NAME,
    sub_item_field,
)
from dicomnet.pdu.pdus import (
    PDU,
    PDV,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    Bytes,
    PDataTF,
)

__all__ = ["ITEM_ENCODERS", "PDU_ENCODERS", "EncodableItem", "encode_item", "encode_pdu"]

# The structs are bound here rather than imported by name: CPython 3.11 compiles
# ``name.method()`` on an imported name as an attribute load and a call (no
# LOAD_METHOD), which made every pack/unpack of the codec measurably slower.
_ASSOCIATE_FIXED = ASSOCIATE_FIXED
_ITEM_HEADER = ITEM_HEADER
_PDU_HEADER = PDU_HEADER
_PDV_HEADER = PDV_HEADER
_U16 = U16
_U16_PAIR = U16_PAIR
_U32 = U32

#: What :func:`encode_item` takes: an item of an A-ASSOCIATE PDU, a user information
#: sub-item, or a PDV item of a P-DATA-TF (PS3.8 Table 9-23).
EncodableItem = Item | UserSubItem | PDV

_R = TypeVar("_R")
_Writer = Callable[[Any], bytes]


def _unsigned(value: int, maximum: int, field: str) -> int:
    if not 0 <= value <= maximum:
        raise PDUError(f"{value} is outside 0..{maximum}", field=field)
    return value


def _ascii(text: str, field: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise PDUError(f"{text!r} is not ASCII", field=field) from None


def _item(item_type: int, body: bytes, field: str, reserved: int = 0) -> bytes:
    """An item or sub-item: the 4-byte header of PS3.8 Table 9-11 and then ``body``."""
    if len(body) > MAX_U16:
        raise PDUError(f"{len(body)} bytes do not fit in an item (at most {MAX_U16})",
                       field=field)
    return _ITEM_HEADER.pack(item_type, reserved, len(body)) + body


def _prefixed(data: bytes, field: str) -> bytes:
    """``data`` after its 2-byte length, the form of the fields of PS3.7 Tables D.3-9 to
    D.3-15."""
    if len(data) > MAX_U16:
        raise PDUError(f"{len(data)} bytes do not fit a 2-byte length", field=field)
    return _U16.pack(len(data)) + data


def _ae_title(title: str, field: str) -> bytes:
    """PS3.8 §9.3.2: 16 ASCII characters, space padded (PS3.5 AE value representation)."""
    raw = _ascii(title, field)
    if len(raw) > AE_TITLE_LENGTH:
        raise PDUError(f"{title!r} is longer than {AE_TITLE_LENGTH} characters", field=field)
    return raw.ljust(AE_TITLE_LENGTH, b" ")


def _pdu(pdu_type: int, body: bytes) -> bytes:
    if len(body) > MAX_U32:
        raise PDUError(f"{len(body)} bytes do not fit in a PDU", field="PDU-length")
    return _PDU_HEADER.pack(pdu_type, 0, len(body)) + body


# -- items (PS3.8 §9.3.2-9.3.3) --------------------------------------------------------


def _encode_application_context_item(item: ApplicationContextItem) -> bytes:
    """PS3.8 §9.3.2.1, Table 9-12: item 10H carrying the name as it is (no padding)."""
    return _item(ItemType.APPLICATION_CONTEXT,
                 _ascii(item.name, f"{APP_CONTEXT_NAME}.name"), APP_CONTEXT_NAME)


def _encode_presentation_context_rq(item: PresentationContextRQ) -> bytes:
    """PS3.8 §9.3.2.2, Table 9-13: ID(1) reserved(3), abstract syntax 30H, then one
    transfer syntax 40H per proposal. UIDs are sent without padding (PS3.8 §9.3.2.2.1)."""
    context_id = _unsigned(item.context_id, MAX_U8, f"{PC_RQ_NAME}.context-ID")
    parts = [bytes((context_id, 0, 0, 0)),
             _item(ItemType.ABSTRACT_SYNTAX,
                   _ascii(item.abstract_syntax, f"{PC_RQ_NAME}.abstract-syntax"),
                   f"{PC_RQ_NAME}.abstract-syntax")]
    for name in item.transfer_syntaxes:
        parts.append(_item(ItemType.TRANSFER_SYNTAX,
                           _ascii(name, f"{PC_RQ_NAME}.transfer-syntax"),
                           f"{PC_RQ_NAME}.transfer-syntax"))
    return _item(ItemType.PRESENTATION_CONTEXT_RQ, b"".join(parts), PC_RQ_NAME)


def _encode_presentation_context_ac(item: PresentationContextAC) -> bytes:
    """PS3.8 §9.3.3.2, Table 9-18: ID(1) reserved(1) result(1) reserved(1) and one
    transfer syntax sub-item, zero-length when ``transfer_syntax`` is ``""`` (its value is
    not significant unless the context is accepted)."""
    context_id = _unsigned(item.context_id, MAX_U8, f"{PC_AC_NAME}.context-ID")
    result = _unsigned(item.result, MAX_U8, f"{PC_AC_NAME}.result")
    body = bytes((context_id, 0, result, 0)) + _item(
        ItemType.TRANSFER_SYNTAX, _ascii(item.transfer_syntax, f"{PC_AC_NAME}.transfer-syntax"),
        f"{PC_AC_NAME}.transfer-syntax")
    return _item(ItemType.PRESENTATION_CONTEXT_AC, body, PC_AC_NAME)


def _encode_user_information_item(item: UserInformationItem) -> bytes:
    """PS3.8 §9.3.2.3, Table 9-16: item 50H holding the sub-items in the given order."""
    return _item(ItemType.USER_INFORMATION,
                 b"".join([encode_item(sub) for sub in item.sub_items]), USER_INFO_NAME)


# -- user information sub-items (PS3.8 Annex D.1, PS3.7 Annex D.3.3) ---------------------


def _encode_maximum_length(sub: MaximumLengthSubItem) -> bytes:
    """PS3.8 Annex D.1, Table D.1-1: sub-item 51H, a 4-byte maximum length."""
    field = sub_item_field(ItemType.MAXIMUM_LENGTH)
    value = _unsigned(sub.maximum_length, MAX_U32, field)
    return _item(ItemType.MAXIMUM_LENGTH, _U32.pack(value), field)


def _encode_implementation_class_uid(sub: ImplementationClassUIDSubItem) -> bytes:
    """PS3.7 D.3.3.2.1, Table D.3-1: sub-item 52H, the UID without padding."""
    field = sub_item_field(ItemType.IMPLEMENTATION_CLASS_UID)
    return _item(ItemType.IMPLEMENTATION_CLASS_UID, _ascii(sub.uid, field), field)


def _encode_async_operations_window(sub: AsyncOperationsWindowSubItem) -> bytes:
    """PS3.7 D.3.3.3.1, Table D.3-7: sub-item 53H, invoked(2) then performed(2)."""
    field = sub_item_field(ItemType.ASYNC_OPERATIONS_WINDOW)
    invoked = _unsigned(sub.max_operations_invoked, MAX_U16, field)
    performed = _unsigned(sub.max_operations_performed, MAX_U16, field)
    return _item(ItemType.ASYNC_OPERATIONS_WINDOW, _U16_PAIR.pack(invoked, performed), field)


def _encode_role_selection(sub: RoleSelectionSubItem) -> bytes:
    """PS3.7 D.3.3.4.1, Table D.3-9: sub-item 54H, UID-length(2) UID SCU-role(1)
    SCP-role(1)."""
    field = sub_item_field(ItemType.ROLE_SELECTION)
    body = _prefixed(_ascii(sub.sop_class_uid, field), field) + bytes(
        (1 if sub.scu_role else 0, 1 if sub.scp_role else 0))
    return _item(ItemType.ROLE_SELECTION, body, field)


def _encode_implementation_version_name(sub: ImplementationVersionNameSubItem) -> bytes:
    """PS3.7 D.3.3.2.3, Table D.3-3: sub-item 55H, the name without padding."""
    field = sub_item_field(ItemType.IMPLEMENTATION_VERSION_NAME)
    return _item(ItemType.IMPLEMENTATION_VERSION_NAME, _ascii(sub.name, field), field)


def _encode_sop_class_extended_negotiation(sub: SOPClassExtendedNegotiationSubItem) -> bytes:
    """PS3.7 D.3.3.5.1, Table D.3-11: sub-item 56H, UID-length(2) UID, then the service
    class application information up to the end of the sub-item."""
    field = sub_item_field(ItemType.SOP_CLASS_EXTENDED_NEGOTIATION)
    body = _prefixed(_ascii(sub.sop_class_uid, field), field) + bytes(
        sub.service_class_application_information)
    return _item(ItemType.SOP_CLASS_EXTENDED_NEGOTIATION, body, field)


def _encode_sop_class_common_extended_negotiation(
    sub: SOPClassCommonExtendedNegotiationSubItem,
) -> bytes:
    """PS3.7 D.3.3.6.1, Table D.3-12: sub-item 57H whose second header byte is the
    sub-item version; SOP class UID and service class UID, each after a 2-byte length,
    then the related general SOP class identification: a 2-byte length of the list and
    each UID after its own 2-byte length (Table D.3-13)."""
    field = sub_item_field(ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION)
    version = _unsigned(sub.version, MAX_U8, field)
    related = b"".join(_prefixed(_ascii(uid, field), field)
                       for uid in sub.related_general_sop_class_uids)
    body = (_prefixed(_ascii(sub.sop_class_uid, field), field)
            + _prefixed(_ascii(sub.service_class_uid, field), field)
            + _prefixed(related, field))
    return _item(ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION, body, field, version)


def _encode_user_identity_rq(sub: UserIdentityRQSubItem) -> bytes:
    """PS3.7 D.3.3.7.1, Table D.3-14: sub-item 58H, type(1) positive-response(1), then
    primary and secondary fields each after a 2-byte length."""
    field = sub_item_field(ItemType.USER_IDENTITY_RQ)
    identity_type = _unsigned(sub.identity_type, MAX_U8, field)
    body = (bytes((identity_type, 1 if sub.positive_response_requested else 0))
            + _prefixed(bytes(sub.primary_field), field)
            + _prefixed(bytes(sub.secondary_field), field))
    return _item(ItemType.USER_IDENTITY_RQ, body, field)


def _encode_user_identity_ac(sub: UserIdentityACSubItem) -> bytes:
    """PS3.7 D.3.3.7.2, Table D.3-15: sub-item 59H, the server response after its
    2-byte length."""
    field = sub_item_field(ItemType.USER_IDENTITY_AC)
    return _item(ItemType.USER_IDENTITY_AC,
                 _prefixed(bytes(sub.server_response), field), field)


def _encode_unknown_sub_item(sub: UnknownSubItem) -> bytes:
    """A sub-item kept verbatim, reserved byte included, so that it goes out as it came."""
    field = sub_item_field(sub.item_type)
    item_type = _unsigned(sub.item_type, MAX_U8, field)
    reserved = _unsigned(sub.reserved, MAX_U8, field)
    return _item(item_type, bytes(sub.data), field, reserved)


# -- PDUs (PS3.8 §9.3) -----------------------------------------------------------------


def _encode_associate(pdu: AAssociateRQ | AAssociateAC, name: str,
                      contexts: Iterator[bytes]) -> bytes:
    version = _unsigned(pdu.protocol_version, MAX_U16, f"{name}.protocol-version")
    fixed = _ASSOCIATE_FIXED.pack(
        version, 0,
        _ae_title(pdu.called_ae_title, f"{name}.called-AE-title"),
        _ae_title(pdu.calling_ae_title, f"{name}.calling-AE-title"),
        b"")
    parts = [fixed,
             _encode_application_context_item(ApplicationContextItem(pdu.application_context)),
             *contexts,
             _encode_user_information_item(pdu.user_information)]
    return b"".join(parts)


def _encode_associate_rq(pdu: AAssociateRQ) -> bytes:
    """PS3.8 §9.3.2, Table 9-11: the fixed fields, then items 10H, 20H..., 50H. The user
    information item is always sent, even empty: PS3.8 makes it mandatory."""
    contexts = (_encode_presentation_context_rq(pc) for pc in pdu.presentation_contexts)
    return _pdu(PDUType.A_ASSOCIATE_RQ, _encode_associate(pdu, RQ_NAME, contexts))


def _encode_associate_ac(pdu: AAssociateAC) -> bytes:
    """PS3.8 §9.3.3, Table 9-17: the fixed fields, then items 10H, 21H..., 50H."""
    contexts = (_encode_presentation_context_ac(pc) for pc in pdu.presentation_contexts)
    return _pdu(PDUType.A_ASSOCIATE_AC, _encode_associate(pdu, AC_NAME, contexts))


def _encode_associate_rj(pdu: AAssociateRJ) -> bytes:
    """PS3.8 §9.3.4, Table 9-21: reserved(1) result(1) source(1) reason/diag.(1)."""
    body = bytes((0,
                  _unsigned(pdu.result, MAX_U8, "A-ASSOCIATE-RJ.result"),
                  _unsigned(pdu.source, MAX_U8, "A-ASSOCIATE-RJ.source"),
                  _unsigned(pdu.reason, MAX_U8, "A-ASSOCIATE-RJ.reason")))
    return _pdu(PDUType.A_ASSOCIATE_RJ, body)


def _encode_pdv(pdv: PDV) -> bytes:
    """PS3.8 §9.3.5.1, Table 9-23: item-length(4) context-ID(1) control-header(1) data."""
    return b"".join(_encode_p_data_parts((pdv,))[0][1:])


def _encode_p_data_parts(pdvs: tuple[PDV, ...]) -> tuple[list[Bytes], int]:
    """A slot for the PDU header, then header and data of each PDV; and their length."""
    parts: list[Bytes] = [b""]
    total = 0
    pack = _PDV_HEADER.pack
    for pdv in pdvs:
        data = pdv.data
        size = len(data)
        if not 0 <= pdv.context_id <= MAX_U8:
            raise PDUError(f"{pdv.context_id} is outside 0..255", field=f"{PDV_NAME}.context-ID")
        if size > MAX_U32 - 2:
            raise PDUError(f"{size} bytes do not fit in a PDV", field=f"{PDV_NAME}.length")
        parts.append(pack(size + 2, pdv.context_id, pdv.control_header))
        parts.append(data)
        total += size + 6
    return parts, total


def _encode_p_data_tf(pdu: PDataTF) -> bytes:
    """PS3.8 §9.3.5, Table 9-22: the PDVs one after the other, each with its 6-byte
    header (Table 9-23). One ``b"".join`` copies each PDV's data exactly once."""
    parts, total = _encode_p_data_parts(pdu.pdvs)
    if total > MAX_U32:
        raise PDUError(f"{total} bytes do not fit in a PDU", field="PDU-length")
    parts[0] = _PDU_HEADER.pack(PDUType.P_DATA_TF, 0, total)
    return b"".join(parts)


_RELEASE_RQ_BYTES = _PDU_HEADER.pack(PDUType.A_RELEASE_RQ, 0, 4) + bytes(4)
_RELEASE_RP_BYTES = _PDU_HEADER.pack(PDUType.A_RELEASE_RP, 0, 4) + bytes(4)


def _encode_release_rq(pdu: AReleaseRQ) -> bytes:
    """PS3.8 §9.3.6, Table 9-24: four reserved bytes."""
    return _RELEASE_RQ_BYTES


def _encode_release_rp(pdu: AReleaseRP) -> bytes:
    """PS3.8 §9.3.7, Table 9-25: four reserved bytes."""
    return _RELEASE_RP_BYTES


def _encode_abort(pdu: AAbort) -> bytes:
    """PS3.8 §9.3.8, Table 9-26: reserved(2) source(1) reason/diag.(1)."""
    body = bytes((0, 0,
                  _unsigned(pdu.source, MAX_U8, "A-ABORT.source"),
                  _unsigned(pdu.reason, MAX_U8, "A-ABORT.reason")))
    return _pdu(PDUType.A_ABORT, body)


# -- the tables (h11's writer-table shape) ---------------------------------------------


def _writer(kind: type[_R], write: Callable[[_R], bytes]) -> tuple[type[Any], _Writer]:
    """One table row; typed so that mypy checks that ``write`` takes a ``kind``."""
    return kind, write


def _complete(table: dict[type[Any], _Writer], union: Any, what: str) -> dict[type[Any], _Writer]:
    """``table`` itself, once it has a writer for every member of ``union``: a record
    type added without one fails here, at import time."""
    missing = [kind.__name__ for kind in get_args(union) if kind not in table]
    if missing:
        raise TypeError(f"no {what} encoder for {', '.join(missing)}")
    return table


#: PDU record type -> the function writing the whole PDU, 6-byte header included.
PDU_ENCODERS: dict[type[Any], _Writer] = _complete(dict([
    _writer(AAssociateRQ, _encode_associate_rq),
    _writer(AAssociateAC, _encode_associate_ac),
    _writer(AAssociateRJ, _encode_associate_rj),
    _writer(PDataTF, _encode_p_data_tf),
    _writer(AReleaseRQ, _encode_release_rq),
    _writer(AReleaseRP, _encode_release_rp),
    _writer(AAbort, _encode_abort),
]), PDU, "PDU")

#: Item record type -> the function writing the item, its header included.
ITEM_ENCODERS: dict[type[Any], _Writer] = _complete(dict([
    _writer(ApplicationContextItem, _encode_application_context_item),
    _writer(PresentationContextRQ, _encode_presentation_context_rq),
    _writer(PresentationContextAC, _encode_presentation_context_ac),
    _writer(UserInformationItem, _encode_user_information_item),
    _writer(MaximumLengthSubItem, _encode_maximum_length),
    _writer(ImplementationClassUIDSubItem, _encode_implementation_class_uid),
    _writer(ImplementationVersionNameSubItem, _encode_implementation_version_name),
    _writer(AsyncOperationsWindowSubItem, _encode_async_operations_window),
    _writer(RoleSelectionSubItem, _encode_role_selection),
    _writer(SOPClassExtendedNegotiationSubItem, _encode_sop_class_extended_negotiation),
    _writer(SOPClassCommonExtendedNegotiationSubItem,
            _encode_sop_class_common_extended_negotiation),
    _writer(UserIdentityRQSubItem, _encode_user_identity_rq),
    _writer(UserIdentityACSubItem, _encode_user_identity_ac),
    _writer(UnknownSubItem, _encode_unknown_sub_item),
    _writer(PDV, _encode_pdv),
]), EncodableItem, "item")


def encode_pdu(pdu: PDU) -> bytes:
    """The whole PDU, 6-byte header included (PS3.8 §9.3.1).

    Raises :class:`~dicomnet.errors.PDUError` for a value the wire cannot carry and
    :class:`TypeError` for an object that is not one of the seven PDU records.
    """
    try:
        write = PDU_ENCODERS[type(pdu)]
    except KeyError:
        raise TypeError(f"{type(pdu).__qualname__} is not a PDU record; "
                        "encode_pdu() takes one of dicomnet.pdu.PDU") from None
    return write(pdu)


def encode_item(item: EncodableItem) -> bytes:
    """One item, sub-item or PDV item, its header included (PS3.8 Table 9-11 / 9-23).

    Raises :class:`~dicomnet.errors.PDUError` for a value the wire cannot carry and
    :class:`TypeError` for an object that is not an item record.
    """
    try:
        write = ITEM_ENCODERS[type(item)]
    except KeyError:
        raise TypeError(f"{type(item).__qualname__} is not an item record; "
                        "encode_item() takes one of dicomnet.pdu.EncodableItem") from None
    return write(item)
