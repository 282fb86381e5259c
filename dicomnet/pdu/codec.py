"""Bytes to PDUs and back: the wire format of PS3.8 §9.3 and PS3.7 Annex D.3.3.

Both directions live in this one module so that the byte layout of every PDU, item and
sub-item is written down once and the two halves can be read against each other and
against the standard's tables. The dataclasses' ``encode()`` methods delegate here.

The two directions are deliberately asymmetric:

* **Encoding** checks only what the wire cannot represent (an AE title longer than 16
  characters, a non-ASCII UID, a value too big for its field) and raises
  :class:`~dicomnet.errors.PDUError` for it. It does not enforce the standard's semantic
  rules (odd context IDs, at least one transfer syntax...), so that tests can send a
  peer the malformed-but-representable PDUs they need.
* **Decoding** reads bytes from the network, which may be hostile. Every length is
  checked against the bytes actually present before it is used, so no announced length
  allocates memory, and the only exception that leaves :func:`decode_pdu` is
  :class:`~dicomnet.errors.PDUError`, whose ``field`` names what was wrong. The upper
  layer turns it into an A-ABORT (PS3.8 §9.3.8) instead of crashing. Reserved fields are
  not tested (PS3.8 §9.3.1).

P-DATA-TF is the hot path: its PDVs are decoded with ``struct.unpack_from`` over a
memoryview, and each PDV's data is a slice of the input, not a copy (DESIGN.md,
"Performance principles").
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from dicomnet.errors import PDUError
from dicomnet.pdu.constants import ContextResult, ItemType, PDUType
from dicomnet.pdu.items import (
    ApplicationContextItem,
    AsyncOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
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

__all__ = [
    "Item",
    "decode_item",
    "decode_pdu",
    "decode_user_sub_item",
]

#: An item that can stand directly in an A-ASSOCIATE-RQ/AC variable field.
Item = ApplicationContextItem | PresentationContextRQ | PresentationContextAC | UserInformationItem

# PS3.8 §9.3.1: PDU-type(1) reserved(1) PDU-length(4), big endian like every field.
_PDU_HEADER = struct.Struct(">BBL")
# PS3.8 §9.3.2, Table 9-11: item-type(1) reserved(1) item-length(2).
_ITEM_HEADER = struct.Struct(">BBH")
# PS3.8 §9.3.2, Table 9-11: protocol-version(2) reserved(2) called-AE(16) calling-AE(16)
# reserved(32); the items follow at offset 68 of the variable field.
_ASSOCIATE_FIXED = struct.Struct(">HH16s16s32s")
# PS3.8 §9.3.5.1, Table 9-23 and Annex E.2: item-length(4) context-ID(1) control-header(1).
_PDV_HEADER = struct.Struct(">LBB")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">L")
_U16_PAIR = struct.Struct(">HH")

_PDU_HEADER_LENGTH = 6
_ITEM_HEADER_LENGTH = 4
_AE_TITLE_LENGTH = 16
_MAX_U8 = 0xFF
_MAX_U16 = 0xFFFF
_MAX_U32 = 0xFFFFFFFF

# Names used in ``PDUError.field``: the standard's names, hyphenated as PS3.8 writes them.
_RQ = "A-ASSOCIATE-RQ"
_AC = "A-ASSOCIATE-AC"
_APP_CONTEXT = "application-context"
_PC_RQ = "presentation-context-RQ"
_PC_AC = "presentation-context-AC"
_USER_INFO = "user-information"
_PDV = "PDV-item"


def _sub_item_field(item_type: int) -> str:
    return f"{_USER_INFO}.sub-item 0x{item_type:02X}"


# ======================================================================================
# Encoding
# ======================================================================================


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
    if len(body) > _MAX_U16:
        raise PDUError(f"{len(body)} bytes do not fit in an item (at most {_MAX_U16})",
                       field=field)
    return _ITEM_HEADER.pack(item_type, reserved, len(body)) + body


def _prefixed(data: bytes, field: str) -> bytes:
    """``data`` after its 2-byte length, the form of the fields of PS3.7 Tables D.3-9 to
    D.3-15."""
    if len(data) > _MAX_U16:
        raise PDUError(f"{len(data)} bytes do not fit a 2-byte length", field=field)
    return _U16.pack(len(data)) + data


def _ae_title(title: str, field: str) -> bytes:
    """PS3.8 §9.3.2: 16 ASCII characters, space padded (PS3.5 AE value representation)."""
    raw = _ascii(title, field)
    if len(raw) > _AE_TITLE_LENGTH:
        raise PDUError(f"{title!r} is longer than {_AE_TITLE_LENGTH} characters", field=field)
    return raw.ljust(_AE_TITLE_LENGTH, b" ")


def _pdu(pdu_type: int, body: bytes) -> bytes:
    if len(body) > _MAX_U32:
        raise PDUError(f"{len(body)} bytes do not fit in a PDU", field="PDU-length")
    return _PDU_HEADER.pack(pdu_type, 0, len(body)) + body


# -- items (PS3.8 §9.3.2-9.3.3) --------------------------------------------------------


def encode_application_context_item(item: ApplicationContextItem) -> bytes:
    """PS3.8 §9.3.2.1, Table 9-12: item 10H carrying the name as it is (no padding)."""
    return _item(ItemType.APPLICATION_CONTEXT,
                 _ascii(item.name, f"{_APP_CONTEXT}.name"), _APP_CONTEXT)


def encode_presentation_context_rq(item: PresentationContextRQ) -> bytes:
    """PS3.8 §9.3.2.2, Table 9-13: ID(1) reserved(3), abstract syntax 30H, then one
    transfer syntax 40H per proposal. UIDs are sent without padding (PS3.8 §9.3.2.2.1)."""
    context_id = _unsigned(item.context_id, _MAX_U8, f"{_PC_RQ}.context-ID")
    parts = [bytes((context_id, 0, 0, 0)),
             _item(ItemType.ABSTRACT_SYNTAX,
                   _ascii(item.abstract_syntax, f"{_PC_RQ}.abstract-syntax"),
                   f"{_PC_RQ}.abstract-syntax")]
    for name in item.transfer_syntaxes:
        parts.append(_item(ItemType.TRANSFER_SYNTAX,
                           _ascii(name, f"{_PC_RQ}.transfer-syntax"),
                           f"{_PC_RQ}.transfer-syntax"))
    return _item(ItemType.PRESENTATION_CONTEXT_RQ, b"".join(parts), _PC_RQ)


def encode_presentation_context_ac(item: PresentationContextAC) -> bytes:
    """PS3.8 §9.3.3.2, Table 9-18: ID(1) reserved(1) result(1) reserved(1) and one
    transfer syntax sub-item, zero-length when ``transfer_syntax`` is ``""`` (its value is
    not significant unless the context is accepted)."""
    context_id = _unsigned(item.context_id, _MAX_U8, f"{_PC_AC}.context-ID")
    result = _unsigned(item.result, _MAX_U8, f"{_PC_AC}.result")
    body = bytes((context_id, 0, result, 0)) + _item(
        ItemType.TRANSFER_SYNTAX, _ascii(item.transfer_syntax, f"{_PC_AC}.transfer-syntax"),
        f"{_PC_AC}.transfer-syntax")
    return _item(ItemType.PRESENTATION_CONTEXT_AC, body, _PC_AC)


def encode_user_information_item(item: UserInformationItem) -> bytes:
    """PS3.8 §9.3.2.3, Table 9-16: item 50H holding the sub-items in the given order."""
    return _item(ItemType.USER_INFORMATION,
                 b"".join(sub.encode() for sub in item.sub_items), _USER_INFO)


# -- user information sub-items (PS3.8 Annex D.1, PS3.7 Annex D.3.3) ---------------------


def encode_maximum_length(sub: MaximumLengthSubItem) -> bytes:
    """PS3.8 Annex D.1, Table D.1-1: sub-item 51H, a 4-byte maximum length."""
    field = _sub_item_field(ItemType.MAXIMUM_LENGTH)
    value = _unsigned(sub.maximum_length, _MAX_U32, field)
    return _item(ItemType.MAXIMUM_LENGTH, _U32.pack(value), field)


def encode_implementation_class_uid(sub: ImplementationClassUIDSubItem) -> bytes:
    """PS3.7 D.3.3.2.1, Table D.3-1: sub-item 52H, the UID without padding."""
    field = _sub_item_field(ItemType.IMPLEMENTATION_CLASS_UID)
    return _item(ItemType.IMPLEMENTATION_CLASS_UID, _ascii(sub.uid, field), field)


def encode_async_operations_window(sub: AsyncOperationsWindowSubItem) -> bytes:
    """PS3.7 D.3.3.3.1, Table D.3-7: sub-item 53H, invoked(2) then performed(2)."""
    field = _sub_item_field(ItemType.ASYNC_OPERATIONS_WINDOW)
    invoked = _unsigned(sub.max_operations_invoked, _MAX_U16, field)
    performed = _unsigned(sub.max_operations_performed, _MAX_U16, field)
    return _item(ItemType.ASYNC_OPERATIONS_WINDOW, _U16_PAIR.pack(invoked, performed), field)


def encode_role_selection(sub: RoleSelectionSubItem) -> bytes:
    """PS3.7 D.3.3.4.1, Table D.3-9: sub-item 54H, UID-length(2) UID SCU-role(1)
    SCP-role(1)."""
    field = _sub_item_field(ItemType.ROLE_SELECTION)
    body = _prefixed(_ascii(sub.sop_class_uid, field), field) + bytes(
        (1 if sub.scu_role else 0, 1 if sub.scp_role else 0))
    return _item(ItemType.ROLE_SELECTION, body, field)


def encode_implementation_version_name(sub: ImplementationVersionNameSubItem) -> bytes:
    """PS3.7 D.3.3.2.3, Table D.3-3: sub-item 55H, the name without padding."""
    field = _sub_item_field(ItemType.IMPLEMENTATION_VERSION_NAME)
    return _item(ItemType.IMPLEMENTATION_VERSION_NAME, _ascii(sub.name, field), field)


def encode_sop_class_extended_negotiation(sub: SOPClassExtendedNegotiationSubItem) -> bytes:
    """PS3.7 D.3.3.5.1, Table D.3-11: sub-item 56H, UID-length(2) UID, then the service
    class application information up to the end of the sub-item."""
    field = _sub_item_field(ItemType.SOP_CLASS_EXTENDED_NEGOTIATION)
    body = _prefixed(_ascii(sub.sop_class_uid, field), field) + bytes(
        sub.service_class_application_information)
    return _item(ItemType.SOP_CLASS_EXTENDED_NEGOTIATION, body, field)


def encode_sop_class_common_extended_negotiation(
    sub: SOPClassCommonExtendedNegotiationSubItem,
) -> bytes:
    """PS3.7 D.3.3.6.1, Table D.3-12: sub-item 57H whose second header byte is the
    sub-item version; SOP class UID and service class UID, each after a 2-byte length,
    then the related general SOP class identification: a 2-byte length of the list and
    each UID after its own 2-byte length (Table D.3-13)."""
    field = _sub_item_field(ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION)
    version = _unsigned(sub.version, _MAX_U8, field)
    related = b"".join(_prefixed(_ascii(uid, field), field)
                       for uid in sub.related_general_sop_class_uids)
    body = (_prefixed(_ascii(sub.sop_class_uid, field), field)
            + _prefixed(_ascii(sub.service_class_uid, field), field)
            + _prefixed(related, field))
    return _item(ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION, body, field, version)


def encode_user_identity_rq(sub: UserIdentityRQSubItem) -> bytes:
    """PS3.7 D.3.3.7.1, Table D.3-14: sub-item 58H, type(1) positive-response(1), then
    primary and secondary fields each after a 2-byte length."""
    field = _sub_item_field(ItemType.USER_IDENTITY_RQ)
    identity_type = _unsigned(sub.identity_type, _MAX_U8, field)
    body = (bytes((identity_type, 1 if sub.positive_response_requested else 0))
            + _prefixed(bytes(sub.primary_field), field)
            + _prefixed(bytes(sub.secondary_field), field))
    return _item(ItemType.USER_IDENTITY_RQ, body, field)


def encode_user_identity_ac(sub: UserIdentityACSubItem) -> bytes:
    """PS3.7 D.3.3.7.2, Table D.3-15: sub-item 59H, the server response after its
    2-byte length."""
    field = _sub_item_field(ItemType.USER_IDENTITY_AC)
    return _item(ItemType.USER_IDENTITY_AC,
                 _prefixed(bytes(sub.server_response), field), field)


def encode_unknown_sub_item(sub: UnknownSubItem) -> bytes:
    """A sub-item kept verbatim, reserved byte included, so that it goes out as it came."""
    field = _sub_item_field(sub.item_type)
    item_type = _unsigned(sub.item_type, _MAX_U8, field)
    reserved = _unsigned(sub.reserved, _MAX_U8, field)
    return _item(item_type, bytes(sub.data), field, reserved)


# -- PDUs (PS3.8 §9.3) -----------------------------------------------------------------


def _encode_associate(pdu: AAssociateRQ | AAssociateAC, name: str,
                      contexts: Iterator[bytes]) -> bytes:
    version = _unsigned(pdu.protocol_version, _MAX_U16, f"{name}.protocol-version")
    fixed = _ASSOCIATE_FIXED.pack(
        version, 0,
        _ae_title(pdu.called_ae_title, f"{name}.called-AE-title"),
        _ae_title(pdu.calling_ae_title, f"{name}.calling-AE-title"),
        b"")
    parts = [fixed,
             encode_application_context_item(ApplicationContextItem(pdu.application_context)),
             *contexts,
             encode_user_information_item(pdu.user_information)]
    return b"".join(parts)


def encode_associate_rq(pdu: AAssociateRQ) -> bytes:
    """PS3.8 §9.3.2, Table 9-11: the fixed fields, then items 10H, 20H..., 50H. The user
    information item is always sent, even empty: PS3.8 makes it mandatory."""
    contexts = (encode_presentation_context_rq(pc) for pc in pdu.presentation_contexts)
    return _pdu(PDUType.A_ASSOCIATE_RQ, _encode_associate(pdu, _RQ, contexts))


def encode_associate_ac(pdu: AAssociateAC) -> bytes:
    """PS3.8 §9.3.3, Table 9-17: the fixed fields, then items 10H, 21H..., 50H."""
    contexts = (encode_presentation_context_ac(pc) for pc in pdu.presentation_contexts)
    return _pdu(PDUType.A_ASSOCIATE_AC, _encode_associate(pdu, _AC, contexts))


def encode_associate_rj(pdu: AAssociateRJ) -> bytes:
    """PS3.8 §9.3.4, Table 9-21: reserved(1) result(1) source(1) reason/diag.(1)."""
    body = bytes((0,
                  _unsigned(pdu.result, _MAX_U8, "A-ASSOCIATE-RJ.result"),
                  _unsigned(pdu.source, _MAX_U8, "A-ASSOCIATE-RJ.source"),
                  _unsigned(pdu.reason, _MAX_U8, "A-ASSOCIATE-RJ.reason")))
    return _pdu(PDUType.A_ASSOCIATE_RJ, body)


def encode_pdv(pdv: PDV) -> bytes:
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
        if not 0 <= pdv.context_id <= _MAX_U8:
            raise PDUError(f"{pdv.context_id} is outside 0..255", field=f"{_PDV}.context-ID")
        if size > _MAX_U32 - 2:
            raise PDUError(f"{size} bytes do not fit in a PDV", field=f"{_PDV}.length")
        parts.append(pack(size + 2, pdv.context_id, pdv.control_header))
        parts.append(data)
        total += size + 6
    return parts, total


def encode_p_data_tf(pdu: PDataTF) -> bytes:
    """PS3.8 §9.3.5, Table 9-22: the PDVs one after the other, each with its 6-byte
    header (Table 9-23). One ``b"".join`` copies each PDV's data exactly once."""
    parts, total = _encode_p_data_parts(pdu.pdvs)
    if total > _MAX_U32:
        raise PDUError(f"{total} bytes do not fit in a PDU", field="PDU-length")
    parts[0] = _PDU_HEADER.pack(PDUType.P_DATA_TF, 0, total)
    return b"".join(parts)


_RELEASE_RQ_BYTES = _PDU_HEADER.pack(PDUType.A_RELEASE_RQ, 0, 4) + bytes(4)
_RELEASE_RP_BYTES = _PDU_HEADER.pack(PDUType.A_RELEASE_RP, 0, 4) + bytes(4)


def encode_release_rq(pdu: AReleaseRQ) -> bytes:
    """PS3.8 §9.3.6, Table 9-24: four reserved bytes."""
    return _RELEASE_RQ_BYTES


def encode_release_rp(pdu: AReleaseRP) -> bytes:
    """PS3.8 §9.3.7, Table 9-25: four reserved bytes."""
    return _RELEASE_RP_BYTES


def encode_abort(pdu: AAbort) -> bytes:
    """PS3.8 §9.3.8, Table 9-26: reserved(2) source(1) reason/diag.(1)."""
    body = bytes((0, 0,
                  _unsigned(pdu.source, _MAX_U8, "A-ABORT.source"),
                  _unsigned(pdu.reason, _MAX_U8, "A-ABORT.reason")))
    return _pdu(PDUType.A_ABORT, body)


# ======================================================================================
# Decoding
# ======================================================================================


class _Cursor:
    """Reads the fields of one item body in order, checking each length first.

    Every failure names ``field``: within a sub-item the standard's sub-fields are too
    small to be worth naming one by one, and the message says which one it was.
    """

    __slots__ = ("field", "pos", "view")

    def __init__(self, view: memoryview, field: str) -> None:
        self.view = view
        self.field = field
        self.pos = 0

    def _need(self, count: int, what: str) -> int:
        start = self.pos
        if len(self.view) - start < count:
            raise PDUError(f"{what} needs {count} bytes but only {len(self.view) - start} "
                           "remain", field=self.field)
        self.pos = start + count
        return start

    def u8(self, what: str) -> int:
        return self.view[self._need(1, what)]

    def u16(self, what: str) -> int:
        value: int = _U16.unpack_from(self.view, self._need(2, what))[0]
        return value

    def take(self, count: int, what: str) -> memoryview:
        start = self._need(count, what)
        return self.view[start:start + count]

    def prefixed(self, what: str) -> memoryview:
        """A field preceded by its 2-byte length (PS3.7 Tables D.3-9 to D.3-15)."""
        return self.take(self.u16(f"{what} length"), what)

    def rest(self) -> memoryview:
        start, self.pos = self.pos, len(self.view)
        return self.view[start:]

    def done(self) -> None:
        """Refuse leftover bytes: a length that disagrees with the content is an error."""
        left = len(self.view) - self.pos
        if left:
            raise PDUError(f"{left} unexpected bytes after the last field", field=self.field)


def _text(raw: memoryview | bytes, field: str) -> str:
    """An ASCII UID or name with any NUL/space padding removed.

    PS3.8 §9.3.2.2.1 says UIDs go without padding, but some peers pad them to an even
    length with a NUL, as PS3.5 does inside data sets, or with spaces.
    """
    try:
        text = bytes(raw).decode("ascii")
    except UnicodeDecodeError:
        raise PDUError("is not ASCII", field=field) from None
    return text.strip(" \x00")


def _ae_title_text(raw: bytes, field: str) -> str:
    """PS3.8 §9.3.2: leading and trailing spaces are not significant; trailing NULs are
    tolerated because some implementations write C strings into the field."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise PDUError("is not ASCII", field=field) from None
    return text.rstrip(" \x00").lstrip(" ")


def _context_id(value: int, field: str) -> int:
    """PS3.8 §9.3.2.2: presentation context IDs are odd integers between 1 and 255."""
    if not value & 1:
        raise PDUError(f"{value} is not an odd integer between 1 and 255", field=field)
    return value


def _items(view: memoryview, start: int, owner: str,
           name_of: Callable[[int], str]) -> Iterator[tuple[int, int, memoryview]]:
    """Yield ``(type, reserved byte, body)`` for each item in ``view[start:]``
    (PS3.8 Table 9-11 header: type(1) reserved(1) length(2))."""
    end = len(view)
    pos = start
    while pos < end:
        if end - pos < _ITEM_HEADER_LENGTH:
            raise PDUError(f"{end - pos} stray bytes are too few for an item header",
                           field=f"{owner}.items")
        item_type, reserved, length = _ITEM_HEADER.unpack_from(view, pos)
        body = pos + _ITEM_HEADER_LENGTH
        if length > end - body:
            raise PDUError(f"item 0x{item_type:02X} announces {length} bytes but only "
                           f"{end - body} remain", field=f"{name_of(item_type)}.length")
        pos = body + length
        yield item_type, reserved, view[body:pos]


# -- items -----------------------------------------------------------------------------


def _decode_application_context(body: memoryview) -> ApplicationContextItem:
    return ApplicationContextItem(_text(body, f"{_APP_CONTEXT}.name"))


def _pc_rq_sub_name(item_type: int) -> str:
    if item_type == ItemType.ABSTRACT_SYNTAX:
        return f"{_PC_RQ}.abstract-syntax"
    if item_type == ItemType.TRANSFER_SYNTAX:
        return f"{_PC_RQ}.transfer-syntax"
    return f"{_PC_RQ}.sub-item 0x{item_type:02X}"


def _decode_presentation_context_rq(body: memoryview) -> PresentationContextRQ:
    """PS3.8 §9.3.2.2: exactly one abstract syntax and at least one transfer syntax."""
    if len(body) < 4:
        raise PDUError(f"{len(body)} bytes are too few (at least 4)", field=f"{_PC_RQ}.length")
    context_id = _context_id(body[0], f"{_PC_RQ}.context-ID")
    abstract: str | None = None
    transfers: list[str] = []
    for item_type, _, sub in _items(body, 4, _PC_RQ, _pc_rq_sub_name):
        field = _pc_rq_sub_name(item_type)
        if item_type == ItemType.ABSTRACT_SYNTAX:
            if abstract is not None:
                raise PDUError("more than one abstract syntax sub-item", field=field)
            abstract = _text(sub, field)
        elif item_type == ItemType.TRANSFER_SYNTAX:
            transfers.append(_text(sub, field))
        else:
            raise PDUError(f"unexpected sub-item type 0x{item_type:02X}", field=field)
    if abstract is None:
        raise PDUError("no abstract syntax sub-item", field=f"{_PC_RQ}.abstract-syntax")
    if not transfers:
        raise PDUError("no transfer syntax sub-item", field=f"{_PC_RQ}.transfer-syntax")
    return PresentationContextRQ(context_id, abstract, tuple(transfers))


def _pc_ac_sub_name(item_type: int) -> str:
    if item_type == ItemType.TRANSFER_SYNTAX:
        return f"{_PC_AC}.transfer-syntax"
    return f"{_PC_AC}.sub-item 0x{item_type:02X}"


def _decode_presentation_context_ac(body: memoryview) -> PresentationContextAC:
    """PS3.8 §9.3.3.2: at most one transfer syntax sub-item; it may be missing or empty
    unless the context is accepted, when it says which transfer syntax to use."""
    if len(body) < 4:
        raise PDUError(f"{len(body)} bytes are too few (at least 4)", field=f"{_PC_AC}.length")
    context_id = _context_id(body[0], f"{_PC_AC}.context-ID")
    result = body[2]
    transfer: str | None = None
    for item_type, _, sub in _items(body, 4, _PC_AC, _pc_ac_sub_name):
        field = _pc_ac_sub_name(item_type)
        if item_type != ItemType.TRANSFER_SYNTAX:
            raise PDUError(f"unexpected sub-item type 0x{item_type:02X}", field=field)
        if transfer is not None:
            raise PDUError("more than one transfer syntax sub-item", field=field)
        transfer = _text(sub, field)
    if result == ContextResult.ACCEPTANCE and not transfer:
        raise PDUError("an accepted context names no transfer syntax",
                       field=f"{_PC_AC}.transfer-syntax")
    return PresentationContextAC(context_id, result, transfer or "")


def _decode_user_information(body: memoryview) -> UserInformationItem:
    """PS3.8 §9.3.2.3: sub-items in the order received, unknown ones kept verbatim."""
    subs = [_decode_sub_item(item_type, reserved, sub)
            for item_type, reserved, sub in _items(body, 0, _USER_INFO, _sub_item_field)]
    return UserInformationItem(tuple(subs))


# -- user information sub-items ----------------------------------------------------------


def _decode_maximum_length(cursor: _Cursor, reserved: int) -> UserSubItem:
    value: int = _U32.unpack_from(cursor.take(4, "maximum length"))[0]
    return MaximumLengthSubItem(value)


def _decode_implementation_class_uid(cursor: _Cursor, reserved: int) -> UserSubItem:
    return ImplementationClassUIDSubItem(_text(cursor.rest(), cursor.field))


def _decode_async_operations_window(cursor: _Cursor, reserved: int) -> UserSubItem:
    invoked = cursor.u16("maximum number operations invoked")
    performed = cursor.u16("maximum number operations performed")
    return AsyncOperationsWindowSubItem(invoked, performed)


def _flag(value: int, what: str, field: str) -> bool:
    if value > 1:
        raise PDUError(f"{what} is {value}, not 0 or 1", field=field)
    return value == 1


def _decode_role_selection(cursor: _Cursor, reserved: int) -> UserSubItem:
    """PS3.7 D.3.3.4.1: the role bytes are 0 (not supported) or 1 (supported)."""
    uid = _text(cursor.prefixed("SOP class UID"), cursor.field)
    scu = _flag(cursor.u8("SCU role"), "SCU role", cursor.field)
    scp = _flag(cursor.u8("SCP role"), "SCP role", cursor.field)
    return RoleSelectionSubItem(uid, scu, scp)


def _decode_implementation_version_name(cursor: _Cursor, reserved: int) -> UserSubItem:
    return ImplementationVersionNameSubItem(_text(cursor.rest(), cursor.field))


def _decode_sop_class_extended(cursor: _Cursor, reserved: int) -> UserSubItem:
    uid = _text(cursor.prefixed("SOP class UID"), cursor.field)
    return SOPClassExtendedNegotiationSubItem(uid, bytes(cursor.rest()))


def _decode_sop_class_common_extended(cursor: _Cursor, reserved: int) -> UserSubItem:
    """PS3.7 D.3.3.6.1: the related general SOP class list has its own length, which
    must be filled exactly by the UIDs it announces (Table D.3-13)."""
    sop_class = _text(cursor.prefixed("SOP class UID"), cursor.field)
    service_class = _text(cursor.prefixed("service class UID"), cursor.field)
    related = _Cursor(cursor.prefixed("related general SOP class identification"),
                      cursor.field)
    uids: list[str] = []
    while related.pos < len(related.view):
        uids.append(_text(related.prefixed("related general SOP class UID"), cursor.field))
    return SOPClassCommonExtendedNegotiationSubItem(sop_class, service_class, tuple(uids),
                                                    version=reserved)


def _decode_user_identity_rq(cursor: _Cursor, reserved: int) -> UserSubItem:
    """PS3.7 D.3.3.7.1: positive-response-requested is 0 or 1. The fields are bytes,
    never decoded or quoted in an error: they are credentials."""
    identity_type = cursor.u8("user identity type")
    positive = _flag(cursor.u8("positive response requested"),
                     "positive response requested", cursor.field)
    primary = bytes(cursor.prefixed("primary field"))
    secondary = bytes(cursor.prefixed("secondary field"))
    return UserIdentityRQSubItem(identity_type, positive, primary, secondary)


def _decode_user_identity_ac(cursor: _Cursor, reserved: int) -> UserSubItem:
    return UserIdentityACSubItem(bytes(cursor.prefixed("server response")))


_SUB_ITEM_DECODERS: dict[int, Callable[[_Cursor, int], UserSubItem]] = {
    ItemType.MAXIMUM_LENGTH: _decode_maximum_length,
    ItemType.IMPLEMENTATION_CLASS_UID: _decode_implementation_class_uid,
    ItemType.ASYNC_OPERATIONS_WINDOW: _decode_async_operations_window,
    ItemType.ROLE_SELECTION: _decode_role_selection,
    ItemType.IMPLEMENTATION_VERSION_NAME: _decode_implementation_version_name,
    ItemType.SOP_CLASS_EXTENDED_NEGOTIATION: _decode_sop_class_extended,
    ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION: _decode_sop_class_common_extended,
    ItemType.USER_IDENTITY_RQ: _decode_user_identity_rq,
    ItemType.USER_IDENTITY_AC: _decode_user_identity_ac,
}


def _decode_sub_item(item_type: int, reserved: int, body: memoryview) -> UserSubItem:
    decoder = _SUB_ITEM_DECODERS.get(item_type)
    if decoder is None:
        return UnknownSubItem(item_type, bytes(body), reserved)
    cursor = _Cursor(body, _sub_item_field(item_type))
    sub = decoder(cursor, reserved)
    cursor.done()
    return sub


# -- PDUs --------------------------------------------------------------------------------


_ASSOCIATE_ITEM_NAMES: dict[int, str] = {
    ItemType.APPLICATION_CONTEXT: _APP_CONTEXT,
    ItemType.PRESENTATION_CONTEXT_RQ: _PC_RQ,
    ItemType.PRESENTATION_CONTEXT_AC: _PC_AC,
    ItemType.USER_INFORMATION: _USER_INFO,
}


def _decode_associate(body: memoryview, name: str, context_type: int,
                      ) -> tuple[int, str, str, str, list[memoryview], UserInformationItem]:
    """The parts A-ASSOCIATE-RQ and -AC share (PS3.8 Tables 9-11 and 9-17): fixed
    fields, then items in any order, each kind checked for how often it may appear."""
    if len(body) < _ASSOCIATE_FIXED.size:
        raise PDUError(f"{len(body)} bytes are too few for the fixed fields "
                       f"({_ASSOCIATE_FIXED.size})", field=f"{name}.length")
    version, _, called_raw, calling_raw, _ = _ASSOCIATE_FIXED.unpack_from(body, 0)
    called = _ae_title_text(called_raw, f"{name}.called-AE-title")
    calling = _ae_title_text(calling_raw, f"{name}.calling-AE-title")

    def name_of(item_type: int) -> str:
        known = _ASSOCIATE_ITEM_NAMES.get(item_type)
        return known if known is not None else f"{name}.item 0x{item_type:02X}"

    application_context: str | None = None
    contexts: list[memoryview] = []
    user_information: UserInformationItem | None = None
    for item_type, _, item in _items(body, _ASSOCIATE_FIXED.size, name, name_of):
        if item_type == ItemType.APPLICATION_CONTEXT:
            if application_context is not None:
                raise PDUError("more than one application context item",
                               field=f"{name}.application-context")
            application_context = _decode_application_context(item).name
        elif item_type == context_type:
            contexts.append(item)
        elif item_type == ItemType.USER_INFORMATION:
            if user_information is not None:
                raise PDUError("more than one user information item",
                               field=f"{name}.user-information")
            user_information = _decode_user_information(item)
        else:
            raise PDUError(f"unexpected item type 0x{item_type:02X}",
                           field=f"{name}.item 0x{item_type:02X}")
    if application_context is None:
        raise PDUError("no application context item", field=f"{name}.application-context")
    # PS3.8 requires the user information item, but a missing one costs nothing to
    # tolerate: it reads as "no sub-items", which negotiation handles with defaults.
    return (version, called, calling, application_context, contexts,
            user_information if user_information is not None else UserInformationItem())


def _decode_associate_rq(body: memoryview) -> AAssociateRQ:
    version, called, calling, app, items, user = _decode_associate(
        body, _RQ, ItemType.PRESENTATION_CONTEXT_RQ)
    contexts = tuple(_decode_presentation_context_rq(item) for item in items)
    return AAssociateRQ(called, calling, contexts, user, app, version)


def _decode_associate_ac(body: memoryview) -> AAssociateAC:
    version, called, calling, app, items, user = _decode_associate(
        body, _AC, ItemType.PRESENTATION_CONTEXT_AC)
    contexts = tuple(_decode_presentation_context_ac(item) for item in items)
    return AAssociateAC(called, calling, contexts, user, app, version)


def _fixed_body(body: memoryview, name: str) -> memoryview:
    """PS3.8 §9.3.4, §9.3.6-9.3.8: these PDUs have exactly four bytes after the header."""
    if len(body) != 4:
        raise PDUError(f"{len(body)} bytes where the PDU has exactly 4",
                       field=f"{name}.length")
    return body


def _decode_associate_rj(body: memoryview) -> AAssociateRJ:
    fixed = _fixed_body(body, "A-ASSOCIATE-RJ")
    return AAssociateRJ(result=fixed[1], source=fixed[2], reason=fixed[3])


_RELEASE_RQ = AReleaseRQ()
_RELEASE_RP = AReleaseRP()


def _decode_release_rq(body: memoryview) -> AReleaseRQ:
    _fixed_body(body, "A-RELEASE-RQ")
    return _RELEASE_RQ


def _decode_release_rp(body: memoryview) -> AReleaseRP:
    _fixed_body(body, "A-RELEASE-RP")
    return _RELEASE_RP


def _decode_abort(body: memoryview) -> AAbort:
    fixed = _fixed_body(body, "A-ABORT")
    return AAbort(source=fixed[2], reason=fixed[3])


def _decode_p_data_tf(body: memoryview) -> PDataTF:
    """PS3.8 §9.3.5 and Annex E.2: one or more PDVs; each one's data is a slice of
    ``body`` (no copy). Bits 2-7 of the message control header must be 0."""
    pdvs: list[PDV] = []
    append = pdvs.append
    unpack = _PDV_HEADER.unpack_from
    end = len(body)
    pos = 0
    while pos < end:
        left = end - pos
        if left < 6:
            raise PDUError(f"{left} stray bytes are too few for a PDV item header",
                           field=f"{_PDV}.length")
        length, context_id, control = unpack(body, pos)
        if length < 2:
            raise PDUError(f"item length {length} is less than 2", field=f"{_PDV}.length")
        if length > left - 4:
            raise PDUError(f"item length {length} runs past the end of the PDU "
                           f"({left - 4} bytes remain)", field=f"{_PDV}.length")
        if not context_id & 1:
            raise PDUError(f"{context_id} is not an odd integer between 1 and 255",
                           field=f"{_PDV}.context-ID")
        if control & 0xFC:
            raise PDUError(f"0x{control:02X} sets reserved bits 2-7",
                           field=f"{_PDV}.message-control-header")
        stop = pos + 4 + length
        append(PDV(context_id, bool(control & 1), bool(control & 2), body[pos + 6:stop]))
        pos = stop
    if not pdvs:
        raise PDUError("a P-DATA-TF PDU carries no PDV item", field="P-DATA-TF.PDVs")
    return PDataTF(tuple(pdvs))


_PDU_DECODERS: dict[int, Callable[[memoryview], PDU]] = {
    PDUType.A_ASSOCIATE_RQ: _decode_associate_rq,
    PDUType.A_ASSOCIATE_AC: _decode_associate_ac,
    PDUType.A_ASSOCIATE_RJ: _decode_associate_rj,
    PDUType.P_DATA_TF: _decode_p_data_tf,
    PDUType.A_RELEASE_RQ: _decode_release_rq,
    PDUType.A_RELEASE_RP: _decode_release_rp,
    PDUType.A_ABORT: _decode_abort,
}


def _byte_view(data: Bytes) -> memoryview:
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def decode_pdu(data: Bytes) -> PDU:
    """Decode one whole PDU, 6-byte header included (PS3.8 §9.3.1).

    ``data`` must hold exactly the PDU: the header's length field has to match. The PDVs
    of a P-DATA-TF hold memoryview slices of ``data``, which therefore stays alive (and,
    for a bytearray, cannot be resized) while they do. Any malformation raises
    :class:`~dicomnet.errors.PDUError` and nothing else.
    """
    view = _byte_view(data)
    size = len(view)
    if size and view[0] not in _PDU_DECODERS:
        raise PDUError(f"unknown PDU type 0x{view[0]:02X}", field="PDU-type")
    if size < _PDU_HEADER_LENGTH:
        raise PDUError(f"{size} bytes are too few for a PDU header ({_PDU_HEADER_LENGTH})",
                       field="PDU-length")
    pdu_type, _, length = _PDU_HEADER.unpack_from(view, 0)
    if length != size - _PDU_HEADER_LENGTH:
        raise PDUError(f"the header announces {length} bytes but {size - _PDU_HEADER_LENGTH}"
                       " follow it", field="PDU-length")
    return _PDU_DECODERS[pdu_type](view[_PDU_HEADER_LENGTH:])


def _one_item(data: Bytes, owner: str) -> tuple[int, int, memoryview]:
    view = _byte_view(data)
    found = list(_items(view, 0, owner, lambda item_type: f"{owner} 0x{item_type:02X}"))
    if len(found) != 1:
        raise PDUError(f"expected exactly one item, found {len(found)}", field=owner)
    return found[0]


def decode_item(data: Bytes) -> Item:
    """Decode one whole item of an A-ASSOCIATE PDU (10H, 20H, 21H or 50H), 4-byte header
    included; mostly useful to tests and tools that look at items alone."""
    item_type, _, body = _one_item(data, "item")
    if item_type == ItemType.APPLICATION_CONTEXT:
        return _decode_application_context(body)
    if item_type == ItemType.PRESENTATION_CONTEXT_RQ:
        return _decode_presentation_context_rq(body)
    if item_type == ItemType.PRESENTATION_CONTEXT_AC:
        return _decode_presentation_context_ac(body)
    if item_type == ItemType.USER_INFORMATION:
        return _decode_user_information(body)
    raise PDUError(f"unknown item type 0x{item_type:02X}", field=f"item 0x{item_type:02X}")


def decode_user_sub_item(data: Bytes) -> UserSubItem:
    """Decode one whole user information sub-item (PS3.7 Annex D.3.3), header included."""
    item_type, reserved, body = _one_item(data, f"{_USER_INFO}.sub-item")
    return _decode_sub_item(item_type, reserved, body)
