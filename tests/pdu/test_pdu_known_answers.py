"""Byte-exact encodings written out by hand from the layouts of PS3.8 §9.3 and PS3.7
Annex D.3.3, and what encoding refuses."""

from __future__ import annotations

import struct
from typing import get_args

import pytest

from dicomnet.errors import PDUError
from dicomnet.pdu import (
    PDU,
    PDV,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AbortReason,
    AbortSource,
    AReleaseRP,
    AReleaseRQ,
    AsyncOperationsWindowSubItem,
    ContextResult,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    RejectResult,
    RejectSource,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    UnknownSubItem,
    UserIdentityACSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
    UserRejectReason,
    decode_pdu,
    encode_item,
    encode_pdu,
)

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPL_UID = "1.2.826.0.1.3680043.9.1"


def _both_ways(pdu: PDU, expected: bytes) -> None:
    assert encode_pdu(pdu) == expected
    assert decode_pdu(expected) == pdu


def test_a_associate_rj() -> None:
    # PS3.8 Table 9-21: 03H, reserved, length 4; reserved, result, source, reason.
    pdu = AAssociateRJ(RejectResult.REJECTED_PERMANENT, RejectSource.SERVICE_USER,
                       UserRejectReason.CALLED_AE_NOT_RECOGNIZED)
    _both_ways(pdu, bytes([0x03, 0x00, 0, 0, 0, 4, 0x00, 0x01, 0x01, 0x07]))


def test_a_abort() -> None:
    # PS3.8 Table 9-26: 07H, reserved, length 4; reserved, reserved, source, reason.
    pdu = AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.INVALID_PDU_PARAMETER_VALUE)
    _both_ways(pdu, bytes([0x07, 0x00, 0, 0, 0, 4, 0x00, 0x00, 0x02, 0x06]))
    _both_ways(AAbort(), bytes([0x07, 0x00, 0, 0, 0, 4, 0, 0, 0, 0]))


def test_a_release() -> None:
    # PS3.8 Tables 9-24 and 9-25: 05H / 06H, length 4, four reserved bytes.
    _both_ways(AReleaseRQ(), bytes([0x05, 0x00, 0, 0, 0, 4, 0, 0, 0, 0]))
    _both_ways(AReleaseRP(), bytes([0x06, 0x00, 0, 0, 0, 4, 0, 0, 0, 0]))


def test_small_p_data_tf() -> None:
    # PS3.8 Table 9-22/9-23 and Annex E.2: a last command fragment of 2 bytes on context
    # 1, then a non-last data set fragment of 3 bytes on context 3.
    pdu = PDataTF((PDV(1, True, True, b"\x01\x02"), PDV(3, False, False, b"abc")))
    expected = bytes([
        0x04, 0x00, 0, 0, 0, 6 + 2 + 6 + 3,
        0, 0, 0, 4, 0x01, 0b11, 0x01, 0x02,
        0, 0, 0, 5, 0x03, 0b00, ord("a"), ord("b"), ord("c"),
    ])
    _both_ways(pdu, expected)
    assert encode_item(PDV(5, False, True, b"")) == bytes([0, 0, 0, 2, 5, 0b10])
    assert encode_item(PDV(5, True, False, b"")) == bytes([0, 0, 0, 2, 5, 0b01])


def _item(item_type: int, body: bytes, reserved: int = 0) -> bytes:
    return struct.pack(">BBH", item_type, reserved, len(body)) + body


def _u16(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def test_a_associate_rq_by_hand() -> None:
    # PS3.8 Table 9-11 and Tables 9-12 to 9-16; PS3.8 Annex D.1 and PS3.7 Annex D.3.3.
    items = (
        _item(0x10, APP_CONTEXT.encode())
        + _item(0x20, bytes([1, 0, 0, 0]) + _item(0x30, VERIFICATION.encode())
                + _item(0x40, IMPLICIT_LE.encode()) + _item(0x40, EXPLICIT_LE.encode()))
        + _item(0x20, bytes([3, 0, 0, 0]) + _item(0x30, b"1.2.3")
                + _item(0x40, IMPLICIT_LE.encode()))
        + _item(0x50, (
            _item(0x51, struct.pack(">L", 16384))
            + _item(0x52, IMPL_UID.encode())
            + _item(0x53, struct.pack(">HH", 5, 1))
            + _item(0x54, _u16(b"1.2.3") + bytes([0, 1]))
            + _item(0x55, b"DICOMNET_010")
            + _item(0x56, _u16(b"1.2.3") + b"\x01\x00\x01")
            + _item(0x57, _u16(b"1.2.3") + _u16(b"1.2.4")
                    + _u16(_u16(b"1.2.5") + _u16(b"1.2.6")), reserved=0)
            + _item(0x58, bytes([2, 1]) + _u16(b"user") + _u16(b"pass"))
            + _item(0xAB, b"\xde\xad", reserved=0x42)))
    )
    body = struct.pack(">HH16s16s32s", 1, 0, b"ANY-SCP         ", b"ECHOSCU         ",
                       bytes(32)) + items
    expected = struct.pack(">BBL", 0x01, 0, len(body)) + body
    pdu = AAssociateRQ(
        called_ae_title="ANY-SCP",
        calling_ae_title="ECHOSCU",
        presentation_contexts=(
            PresentationContextRQ(1, VERIFICATION, (IMPLICIT_LE, EXPLICIT_LE)),
            PresentationContextRQ(3, "1.2.3", (IMPLICIT_LE,)),
        ),
        user_information=UserInformationItem((
            MaximumLengthSubItem(16384),
            ImplementationClassUIDSubItem(IMPL_UID),
            AsyncOperationsWindowSubItem(5, 1),
            RoleSelectionSubItem("1.2.3", scu_role=False, scp_role=True),
            ImplementationVersionNameSubItem("DICOMNET_010"),
            SOPClassExtendedNegotiationSubItem("1.2.3", b"\x01\x00\x01"),
            SOPClassCommonExtendedNegotiationSubItem("1.2.3", "1.2.4", ("1.2.5", "1.2.6")),
            UserIdentityRQSubItem(2, True, b"user", b"pass"),
            UnknownSubItem(0xAB, b"\xde\xad", reserved=0x42),
        )),
    )
    _both_ways(pdu, expected)
    user = pdu.user_information
    assert user.maximum_length == 16384
    assert user.implementation_class_uid == IMPL_UID
    assert user.implementation_version_name == "DICOMNET_010"
    assert user.async_operations_window == AsyncOperationsWindowSubItem(5, 1)
    assert user.role_selections == (RoleSelectionSubItem("1.2.3", False, True),)


def test_a_associate_ac_by_hand() -> None:
    # PS3.8 Table 9-17 and 9-18; a rejected context carries an empty transfer syntax.
    items = (
        _item(0x10, APP_CONTEXT.encode())
        + _item(0x21, bytes([1, 0, 0, 0]) + _item(0x40, IMPLICIT_LE.encode()))
        + _item(0x21, bytes([3, 0, 3, 0]) + _item(0x40, b""))
        + _item(0x50, _item(0x51, struct.pack(">L", 0)) + _item(0x59, _u16(b"token")))
    )
    body = struct.pack(">HH16s16s32s", 1, 0, b"ANY-SCP".ljust(16), b"ECHOSCU".ljust(16),
                       bytes(32)) + items
    pdu = AAssociateAC(
        "ANY-SCP", "ECHOSCU",
        (PresentationContextAC(1, ContextResult.ACCEPTANCE, IMPLICIT_LE),
         PresentationContextAC(3, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED)),
        UserInformationItem((MaximumLengthSubItem(0), UserIdentityACSubItem(b"token"))),
    )
    _both_ways(pdu, struct.pack(">BBL", 0x02, 0, len(body)) + body)


def test_empty_user_information_is_still_sent() -> None:
    data = encode_pdu(AAssociateRQ("A", "B"))
    # 6 header + 68 fixed + application context item, then an empty 50H item.
    assert data.endswith(b"\x50\x00\x00\x00")
    assert len(data) == 6 + 68 + 4 + len(APP_CONTEXT) + 4


def test_ae_titles_are_space_padded_and_sent_as_given() -> None:
    data = encode_pdu(AAssociateRQ("A" * 16, " B"))
    assert data[10:26] == b"A" * 16
    assert data[26:42] == b" B" + b" " * 14
    assert data[42:74] == bytes(32)


# -- what encoding refuses ----------------------------------------------------------------


REFUSED: list[tuple[str, object, str]] = [
    ("17-character called AE title", AAssociateRQ("A" * 17, "B"),
     "A-ASSOCIATE-RQ.called-AE-title"),
    ("non-ASCII calling AE title", AAssociateAC("A", "é"), "A-ASSOCIATE-AC.calling-AE-title"),
    ("protocol version out of range", AAssociateRQ("A", "B", protocol_version=0x10000),
     "A-ASSOCIATE-RQ.protocol-version"),
    ("non-ASCII application context", AAssociateRQ("A", "B", application_context="1.2.é"),
     "application-context.name"),
    ("context ID 256", PresentationContextRQ(256, "1.2", ("1.2",)),
     "presentation-context-RQ.context-ID"),
    ("negative context ID", PresentationContextAC(-1, 0, "1.2"),
     "presentation-context-AC.context-ID"),
    ("result 256", PresentationContextAC(1, 256, "1.2"), "presentation-context-AC.result"),
    ("non-ASCII abstract syntax", PresentationContextRQ(1, "1.2\u00e9", ("1.2",)),
     "presentation-context-RQ.abstract-syntax"),
    ("non-ASCII transfer syntax", PresentationContextRQ(1, "1.2", ("\u2603",)),
     "presentation-context-RQ.transfer-syntax"),
    ("transfer syntax too long for an item", PresentationContextRQ(1, "1", ("1" * 65536,)),
     "presentation-context-RQ.transfer-syntax"),
    ("maximum length -1", MaximumLengthSubItem(-1), "user-information.sub-item 0x51"),
    ("maximum length 2**32", MaximumLengthSubItem(1 << 32), "user-information.sub-item 0x51"),
    ("async window 65536", AsyncOperationsWindowSubItem(65536, 0),
     "user-information.sub-item 0x53"),
    ("non-ASCII role selection UID", RoleSelectionSubItem("1.\u00e9", True, True),
     "user-information.sub-item 0x54"),
    ("user identity type 256", UserIdentityRQSubItem(256, False, b"u"),
     "user-information.sub-item 0x58"),
    ("user identity primary field of 65536 bytes",
     UserIdentityRQSubItem(1, False, bytes(65536)), "user-information.sub-item 0x58"),
    ("common extended negotiation version 256",
     SOPClassCommonExtendedNegotiationSubItem("1", "2", (), version=256),
     "user-information.sub-item 0x57"),
    ("unknown sub-item type 256", UnknownSubItem(0x100, b""),
     "user-information.sub-item 0x100"),
    ("user information over 65535 bytes",
     UserInformationItem((UnknownSubItem(0x70, bytes(65532)),)), "user-information"),
    ("A-ASSOCIATE-RJ reason 256", AAssociateRJ(1, 1, 256), "A-ASSOCIATE-RJ.reason"),
    ("A-ABORT source -1", AAbort(-1, 0), "A-ABORT.source"),
    ("PDV context ID 256", PDataTF((PDV(256, True, True, b""),)), "PDV-item.context-ID"),
    ("PDV item alone, context ID -1", PDV(-1, True, True, b""), "PDV-item.context-ID"),
]


@pytest.mark.parametrize(("obj", "field"), [(o, f) for _, o, f in REFUSED],
                         ids=[name for name, _, _ in REFUSED])
def test_encode_refuses_what_the_wire_cannot_carry(obj: object, field: str) -> None:
    encode = encode_pdu if isinstance(obj, get_args(PDU)) else encode_item
    with pytest.raises(PDUError) as caught:
        encode(obj)  # type: ignore[operator]
    assert caught.value.field == field


def test_largest_representable_values_encode() -> None:
    assert encode_item(MaximumLengthSubItem(0xFFFFFFFF)) == b"\x51\x00\x00\x04" + b"\xff" * 4
    assert encode_item(AsyncOperationsWindowSubItem(0xFFFF, 0)) == \
        b"\x53\x00\x00\x04\xff\xff\x00\x00"
    assert len(encode_item(UserInformationItem((UnknownSubItem(0x70, bytes(65531)),)))) == \
        4 + 65535
