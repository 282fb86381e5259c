"""Bytes to PDU and item records (PS3.8 §9.3, PS3.7 Annex D.3.3), for hostile input.

Every length is checked against the bytes actually present before it is used, so no
announced length allocates memory, and the only exception that leaves
:func:`decode_pdu` is :class:`~dicomnet.errors.PDUError`, whose ``field`` names what
was wrong (see :mod:`dicomnet.pdu.codec`). Decoders are looked up by the PDU type and
item type bytes, the mirror of the writer tables in :mod:`dicomnet.pdu.encode`.

P-DATA-TF is the hot path: its PDVs are decoded with ``struct.unpack_from`` over a
memoryview, and each PDV's data is a slice of the input, not a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from dicomnet.errors import PDUError
from dicomnet.pdu.constants import ContextResult, ItemType, PDUType
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
    APP_CONTEXT_NAME,
    ASSOCIATE_FIXED,
    ITEM_HEADER,
    ITEM_HEADER_LENGTH,
    PC_AC_NAME,
    PC_RQ_NAME,
    PDU_HEADER,
    PDU_HEADER_LENGTH,
    PDV_HEADER,
    PDV_NAME,
    RQ_NAME,
    U16,
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

__all__ = ["decode_item", "decode_pdu", "decode_user_sub_item"]

# The structs are bound here rather than imported by name: CPython 3.11 compiles
# ``name.method()`` on an imported name as an attribute load and a call (no
# LOAD_METHOD), which made every pack/unpack of the codec measurably slower.
_ASSOCIATE_FIXED = ASSOCIATE_FIXED
_ITEM_HEADER = ITEM_HEADER
_PDU_HEADER = PDU_HEADER
_PDV_HEADER = PDV_HEADER
_U16 = U16
_U32 = U32


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
    """PS3.8 §9.3.2.2: presentation context IDs are odd integers between 1 and 255.

    An even ID is still read: older dicom-rs builds number their contexts 2, 4, ... and
    DCMTK accepts them, as does dicomnet (with a warning, see
    :func:`dicomnet.acse.even_context_ids`). The ID only has to name a context both
    sides agree on; 0 is refused, as no reading of the rule allows it.
    """
    if value == 0:
        raise PDUError("0 is not a presentation context ID (1-255)", field=field)
    return value


def _items(view: memoryview, start: int, owner: str,
           name_of: Callable[[int], str]) -> Iterator[tuple[int, int, memoryview]]:
    """Yield ``(type, reserved byte, body)`` for each item in ``view[start:]``
    (PS3.8 Table 9-11 header: type(1) reserved(1) length(2))."""
    end = len(view)
    pos = start
    while pos < end:
        if end - pos < ITEM_HEADER_LENGTH:
            raise PDUError(f"{end - pos} stray bytes are too few for an item header",
                           field=f"{owner}.items")
        item_type, reserved, length = _ITEM_HEADER.unpack_from(view, pos)
        body = pos + ITEM_HEADER_LENGTH
        if length > end - body:
            raise PDUError(f"item 0x{item_type:02X} announces {length} bytes but only "
                           f"{end - body} remain", field=f"{name_of(item_type)}.length")
        pos = body + length
        yield item_type, reserved, view[body:pos]


# -- items -----------------------------------------------------------------------------


def _decode_application_context(body: memoryview) -> ApplicationContextItem:
    return ApplicationContextItem(_text(body, f"{APP_CONTEXT_NAME}.name"))


def _pc_rq_sub_name(item_type: int) -> str:
    if item_type == ItemType.ABSTRACT_SYNTAX:
        return f"{PC_RQ_NAME}.abstract-syntax"
    if item_type == ItemType.TRANSFER_SYNTAX:
        return f"{PC_RQ_NAME}.transfer-syntax"
    return f"{PC_RQ_NAME}.sub-item 0x{item_type:02X}"


def _decode_presentation_context_rq(body: memoryview) -> PresentationContextRQ:
    """PS3.8 §9.3.2.2: exactly one abstract syntax and at least one transfer syntax."""
    if len(body) < 4:
        raise PDUError(f"{len(body)} bytes are too few (at least 4)", field=f"{PC_RQ_NAME}.length")
    context_id = _context_id(body[0], f"{PC_RQ_NAME}.context-ID")
    abstract: str | None = None
    transfers: list[str] = []
    for item_type, _, sub in _items(body, 4, PC_RQ_NAME, _pc_rq_sub_name):
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
        raise PDUError("no abstract syntax sub-item", field=f"{PC_RQ_NAME}.abstract-syntax")
    if not transfers:
        raise PDUError("no transfer syntax sub-item", field=f"{PC_RQ_NAME}.transfer-syntax")
    return PresentationContextRQ(context_id, abstract, tuple(transfers))


def _pc_ac_sub_name(item_type: int) -> str:
    if item_type == ItemType.TRANSFER_SYNTAX:
        return f"{PC_AC_NAME}.transfer-syntax"
    return f"{PC_AC_NAME}.sub-item 0x{item_type:02X}"


def _decode_presentation_context_ac(body: memoryview) -> PresentationContextAC:
    """PS3.8 §9.3.3.2: at most one transfer syntax sub-item; it may be missing or empty
    unless the context is accepted, when it says which transfer syntax to use."""
    if len(body) < 4:
        raise PDUError(f"{len(body)} bytes are too few (at least 4)", field=f"{PC_AC_NAME}.length")
    context_id = _context_id(body[0], f"{PC_AC_NAME}.context-ID")
    result = body[2]
    transfer: str | None = None
    for item_type, _, sub in _items(body, 4, PC_AC_NAME, _pc_ac_sub_name):
        field = _pc_ac_sub_name(item_type)
        if item_type != ItemType.TRANSFER_SYNTAX:
            raise PDUError(f"unexpected sub-item type 0x{item_type:02X}", field=field)
        if transfer is not None:
            raise PDUError("more than one transfer syntax sub-item", field=field)
        transfer = _text(sub, field)
    if result == ContextResult.ACCEPTANCE and not transfer:
        raise PDUError("an accepted context names no transfer syntax",
                       field=f"{PC_AC_NAME}.transfer-syntax")
    return PresentationContextAC(context_id, result, transfer or "")


def _decode_user_information(body: memoryview) -> UserInformationItem:
    """PS3.8 §9.3.2.3: sub-items in the order received, unknown ones kept verbatim."""
    subs = [_decode_sub_item(item_type, reserved, sub)
            for item_type, reserved, sub in _items(body, 0, USER_INFO_NAME, sub_item_field)]
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
    cursor = _Cursor(body, sub_item_field(item_type))
    sub = decoder(cursor, reserved)
    cursor.done()
    return sub


# -- PDUs --------------------------------------------------------------------------------


_ASSOCIATE_ITEM_NAMES: dict[int, str] = {
    ItemType.APPLICATION_CONTEXT: APP_CONTEXT_NAME,
    ItemType.PRESENTATION_CONTEXT_RQ: PC_RQ_NAME,
    ItemType.PRESENTATION_CONTEXT_AC: PC_AC_NAME,
    ItemType.USER_INFORMATION: USER_INFO_NAME,
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
        body, RQ_NAME, ItemType.PRESENTATION_CONTEXT_RQ)
    contexts = tuple(_decode_presentation_context_rq(item) for item in items)
    return AAssociateRQ(called, calling, contexts, user, app, version)


def _decode_associate_ac(body: memoryview) -> AAssociateAC:
    version, called, calling, app, items, user = _decode_associate(
        body, AC_NAME, ItemType.PRESENTATION_CONTEXT_AC)
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
                           field=f"{PDV_NAME}.length")
        length, context_id, control = unpack(body, pos)
        if length < 2:
            raise PDUError(f"item length {length} is less than 2", field=f"{PDV_NAME}.length")
        if length > left - 4:
            raise PDUError(f"item length {length} runs past the end of the PDU "
                           f"({left - 4} bytes remain)", field=f"{PDV_NAME}.length")
        if not context_id:  # even IDs are read, see _context_id
            raise PDUError("0 is not a presentation context ID (1-255)",
                           field=f"{PDV_NAME}.context-ID")
        if control & 0xFC:
            raise PDUError(f"0x{control:02X} sets reserved bits 2-7",
                           field=f"{PDV_NAME}.message-control-header")
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
    if size < PDU_HEADER_LENGTH:
        raise PDUError(f"{size} bytes are too few for a PDU header ({PDU_HEADER_LENGTH})",
                       field="PDU-length")
    pdu_type, _, length = _PDU_HEADER.unpack_from(view, 0)
    if length != size - PDU_HEADER_LENGTH:
        raise PDUError(f"the header announces {length} bytes but {size - PDU_HEADER_LENGTH}"
                       " follow it", field="PDU-length")
    return _PDU_DECODERS[pdu_type](view[PDU_HEADER_LENGTH:])


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
    item_type, reserved, body = _one_item(data, f"{USER_INFO_NAME}.sub-item")
    return _decode_sub_item(item_type, reserved, body)
