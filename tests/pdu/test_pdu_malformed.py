"""Hostile and broken input: decode_pdu raises PDUError, naming the field, and nothing else.

The fuzz tests feed arbitrary bytes and mutated valid encodings; whatever decodes must
also be canonical (re-encodes and decodes to itself). The table tests pin the field each
kind of malformation reports, which the upper layer logs and turns into an A-ABORT.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pdu_strategies import any_pdu

from dicomnet.errors import PDUError
from dicomnet.pdu import (
    PDU,
    AAssociateAC,
    AAssociateRQ,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    UserInformationItem,
    decode_pdu,
    encode_pdu,
)

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"


def _decode_or_pdu_error(data: bytes) -> PDU | None:
    """Decode, letting only PDUError through (as None); any other exception fails the
    test. What does decode must be canonical, so the upper layer can re-send it."""
    try:
        pdu = decode_pdu(data)
    except PDUError as exc:
        assert str(exc)
        return None
    assert decode_pdu(encode_pdu(pdu)) == pdu
    return pdu


# -- fuzzing -------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
@example(b"")
@example(b"\x04")
@example(b"\x04\x00\xff\xff\xff\xff")
def test_arbitrary_bytes_raise_only_pdu_error(data: bytes) -> None:
    _decode_or_pdu_error(data)


@settings(max_examples=500, deadline=None)
@given(pdu_type=st.integers(1, 7), body=st.binary(max_size=300))
def test_random_bodies_behind_a_valid_header_raise_only_pdu_error(
    pdu_type: int, body: bytes,
) -> None:
    _decode_or_pdu_error(struct.pack(">BBL", pdu_type, 0, len(body)) + body)


_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(1, 255)),
    st.tuples(st.just("set"), st.integers(0, 1 << 16), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.integers(1, 8)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 16), st.just(0)),
    # A random 2- or 4-byte length written anywhere: length fields are the usual target.
    st.tuples(st.just("length16"), st.integers(0, 1 << 16), st.integers(0, 0xFFFF)),
    st.tuples(st.just("length32"), st.integers(0, 1 << 16), st.integers(0, 0xFFFFFFFF)),
)


def _mutate(data: bytearray, op: str, where: int, value: int) -> None:
    if not data:
        return
    i = where % len(data)
    if op == "flip":
        data[i] ^= value
    elif op == "set":
        data[i] = value
    elif op == "insert":
        data.insert(i, value)
    elif op == "delete":
        del data[i:i + value]
    elif op == "truncate":
        del data[i:]
    elif op == "length16":
        data[i:i + 2] = value.to_bytes(2, "big")
    else:
        data[i:i + 4] = value.to_bytes(4, "big")


@settings(max_examples=500, deadline=None)
@given(pdu=any_pdu, mutations=st.lists(_mutation, min_size=1, max_size=4),
       fix_header=st.booleans())
def test_mutated_encodings_raise_only_pdu_error(
    pdu: PDU, mutations: list[tuple[str, int, int]], fix_header: bool,
) -> None:
    data = bytearray(encode_pdu(pdu))
    for op, where, value in mutations:
        _mutate(data, op, where, value)
    if fix_header and len(data) >= 6:
        # Keep the PDU length consistent so the mutation reaches the body's decoder.
        data[2:6] = (len(data) - 6).to_bytes(4, "big")
    _decode_or_pdu_error(bytes(data))


# -- field names for each kind of malformation -------------------------------------------


def _item(item_type: int, body: bytes, reserved: int = 0) -> bytes:
    return struct.pack(">BBH", item_type, reserved, len(body)) + body


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBL", pdu_type, 0, len(body)) + body


def _associate(items: bytes, pdu_type: int = 1, called: bytes = b"CALLED".ljust(16),
               calling: bytes = b"CALLING".ljust(16)) -> bytes:
    return _pdu(pdu_type, struct.pack(">HH16s16s32s", 1, 0, called, calling, b"") + items)


APP = _item(0x10, APP_CONTEXT.encode())
TS = _item(0x40, IMPLICIT_LE.encode())
AS = _item(0x30, VERIFICATION.encode())
USER = _item(0x50, _item(0x51, struct.pack(">L", 16384)))


def _pc_rq(body_after_id: bytes, context_id: int = 1) -> bytes:
    return _item(0x20, bytes((context_id, 0, 0, 0)) + body_after_id)


def _pc_ac(result: int, subs: bytes, context_id: int = 1) -> bytes:
    return _item(0x21, bytes((context_id, 0, result, 0)) + subs)


def _rq_with_user(*subs: bytes) -> bytes:
    return _associate(APP + _pc_rq(AS + TS) + _item(0x50, b"".join(subs)))


def _pdv(length: int, context_id: int, control: int, data: bytes) -> bytes:
    return struct.pack(">LBB", length, context_id, control) + data


CASES: list[tuple[str, bytes, str]] = [
    ("unknown PDU type", _pdu(0x08, bytes(4)), "PDU-type"),
    ("PDU type 0", b"\x00", "PDU-type"),
    ("header cut short", b"\x01\x00\x00", "PDU-length"),
    ("length longer than data", _pdu(5, bytes(4))[:-1], "PDU-length"),
    ("length shorter than data", _pdu(5, bytes(4)) + b"\x00", "PDU-length"),
    ("A-RELEASE-RQ with 5 bytes", _pdu(5, bytes(5)), "A-RELEASE-RQ.length"),
    ("A-RELEASE-RP with 3 bytes", _pdu(6, bytes(3)), "A-RELEASE-RP.length"),
    ("A-ABORT with 0 bytes", _pdu(7, b""), "A-ABORT.length"),
    ("A-ASSOCIATE-RJ with 6 bytes", _pdu(3, bytes(6)), "A-ASSOCIATE-RJ.length"),
    ("A-ASSOCIATE-RQ cut in its fixed fields", _pdu(1, bytes(67)), "A-ASSOCIATE-RQ.length"),
    ("non-ASCII called AE title", _associate(APP + USER, called=b"\xc3\xa9".ljust(16)),
     "A-ASSOCIATE-RQ.called-AE-title"),
    ("non-ASCII calling AE title", _associate(APP + USER, pdu_type=2,
                                              calling=b"\xff".ljust(16)),
     "A-ASSOCIATE-AC.calling-AE-title"),
    ("no application context", _associate(_pc_rq(AS + TS) + USER),
     "A-ASSOCIATE-RQ.application-context"),
    ("two application contexts", _associate(APP + APP + USER),
     "A-ASSOCIATE-RQ.application-context"),
    ("two user information items", _associate(APP + USER + USER),
     "A-ASSOCIATE-RQ.user-information"),
    ("unknown item type", _associate(APP + _item(0x60, b"") + USER),
     "A-ASSOCIATE-RQ.item 0x60"),
    ("AC context in an RQ", _associate(APP + _pc_ac(0, TS) + USER),
     "A-ASSOCIATE-RQ.item 0x21"),
    ("RQ context in an AC", _associate(APP + _pc_rq(AS + TS) + USER, pdu_type=2),
     "A-ASSOCIATE-AC.item 0x20"),
    ("stray bytes after the items", _associate(APP + USER + b"\x50\x00"),
     "A-ASSOCIATE-RQ.items"),
    ("item length past the end", _associate(APP + b"\x20\x00\x00\x40" + bytes(8)),
     "presentation-context-RQ.length"),
    ("application context not ASCII", _associate(_item(0x10, b"1.2\x80") + USER),
     "application-context.name"),
    ("context ID 0 (RQ)", _associate(APP + _pc_rq(AS + TS, context_id=0) + USER),
     "presentation-context-RQ.context-ID"),
    ("context ID 0", _associate(APP + _pc_ac(0, TS, context_id=0) + USER, pdu_type=2),
     "presentation-context-AC.context-ID"),
    ("context item too short", _associate(APP + _item(0x20, b"\x01\x00") + USER),
     "presentation-context-RQ.length"),
    ("no abstract syntax", _associate(APP + _pc_rq(TS) + USER),
     "presentation-context-RQ.abstract-syntax"),
    ("two abstract syntaxes", _associate(APP + _pc_rq(AS + AS + TS) + USER),
     "presentation-context-RQ.abstract-syntax"),
    ("no transfer syntax", _associate(APP + _pc_rq(AS) + USER),
     "presentation-context-RQ.transfer-syntax"),
    ("unexpected sub-item in an RQ context",
     _associate(APP + _pc_rq(AS + TS + _item(0x51, bytes(4))) + USER),
     "presentation-context-RQ.sub-item 0x51"),
    ("accepted context without transfer syntax",
     _associate(APP + _pc_ac(0, b"") + USER, pdu_type=2),
     "presentation-context-AC.transfer-syntax"),
    ("accepted context with an empty transfer syntax",
     _associate(APP + _pc_ac(0, _item(0x40, b"")) + USER, pdu_type=2),
     "presentation-context-AC.transfer-syntax"),
    ("two transfer syntaxes in an AC context",
     _associate(APP + _pc_ac(0, TS + TS) + USER, pdu_type=2),
     "presentation-context-AC.transfer-syntax"),
    ("abstract syntax in an AC context",
     _associate(APP + _pc_ac(0, AS) + USER, pdu_type=2),
     "presentation-context-AC.sub-item 0x30"),
    ("maximum length of 3 bytes", _rq_with_user(_item(0x51, bytes(3))),
     "user-information.sub-item 0x51"),
    ("maximum length of 5 bytes", _rq_with_user(_item(0x51, bytes(5))),
     "user-information.sub-item 0x51"),
    ("async window of 2 bytes", _rq_with_user(_item(0x53, bytes(2))),
     "user-information.sub-item 0x53"),
    ("implementation class UID not ASCII", _rq_with_user(_item(0x52, b"1.2\xff")),
     "user-information.sub-item 0x52"),
    ("role selection SCU role 2",
     _rq_with_user(_item(0x54, b"\x00\x031.2" + b"\x02\x00")),
     "user-information.sub-item 0x54"),
    ("role selection SCP role 255",
     _rq_with_user(_item(0x54, b"\x00\x031.2" + b"\x01\xff")),
     "user-information.sub-item 0x54"),
    ("role selection UID length past the end",
     _rq_with_user(_item(0x54, b"\x00\x091.2" + b"\x01\x01")),
     "user-information.sub-item 0x54"),
    ("role selection with a stray byte",
     _rq_with_user(_item(0x54, b"\x00\x031.2" + b"\x01\x01\x00")),
     "user-information.sub-item 0x54"),
    ("extended negotiation UID past the end", _rq_with_user(_item(0x56, b"\x00\x10")),
     "user-information.sub-item 0x56"),
    ("common extended negotiation: related list past the end",
     _rq_with_user(_item(0x57, b"\x00\x011\x00\x012\x00\x10\x00\x013")),
     "user-information.sub-item 0x57"),
    ("common extended negotiation: UID overruns the related list",
     _rq_with_user(_item(0x57, b"\x00\x011\x00\x012\x00\x03\x00\x0512345")),
     "user-information.sub-item 0x57"),
    ("common extended negotiation: bytes after the related list",
     _rq_with_user(_item(0x57, b"\x00\x011\x00\x012\x00\x00\x00")),
     "user-information.sub-item 0x57"),
    ("user identity positive response 2",
     _rq_with_user(_item(0x58, b"\x01\x02\x00\x01u\x00\x00")),
     "user-information.sub-item 0x58"),
    ("user identity without secondary length",
     _rq_with_user(_item(0x58, b"\x01\x00\x00\x01u")),
     "user-information.sub-item 0x58"),
    ("user identity AC response past the end", _rq_with_user(_item(0x59, b"\x00\x05ab")),
     "user-information.sub-item 0x59"),
    ("sub-item length past the end", _rq_with_user(b"\x52\x00\x00\x20" + b"1.2"),
     "user-information.sub-item 0x52.length"),
    ("P-DATA-TF without PDV", _pdu(4, b""), "P-DATA-TF.PDVs"),
    ("PDV item length 0", _pdu(4, _pdv(0, 1, 0, b"")), "PDV-item.length"),
    ("PDV item length 1", _pdu(4, _pdv(1, 1, 0, b"")), "PDV-item.length"),
    ("PDV item header cut short", _pdu(4, _pdv(2, 1, 0, b"")[:5]), "PDV-item.length"),
    ("PDV item length past the end", _pdu(4, _pdv(10, 1, 3, b"abc")), "PDV-item.length"),
    ("PDV length 0xFFFFFFFF", _pdu(4, _pdv(0xFFFFFFFF, 1, 3, b"abc")), "PDV-item.length"),
    ("stray bytes after the last PDV", _pdu(4, _pdv(3, 1, 3, b"a") + b"\x00\x00"),
     "PDV-item.length"),
    ("PDV context ID 0", _pdu(4, _pdv(3, 0, 3, b"a")), "PDV-item.context-ID"),
    ("PDV reserved control bits", _pdu(4, _pdv(3, 1, 0x04, b"a")),
     "PDV-item.message-control-header"),
    ("PDV control header 0xFF", _pdu(4, _pdv(3, 1, 0xFF, b"a")),
     "PDV-item.message-control-header"),
]


@pytest.mark.parametrize(("data", "field"), [(d, f) for _, d, f in CASES],
                         ids=[name for name, _, _ in CASES])
def test_malformation_names_its_field(data: bytes, field: str) -> None:
    with pytest.raises(PDUError) as caught:
        decode_pdu(data)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_error_messages_never_quote_user_identity_fields() -> None:
    secret = b"hunter2-passcode"
    data = _rq_with_user(_item(0x58, b"\x02\x01" + struct.pack(">H", len(secret)) + secret
                               + b"\x00\x20" + b"x"))
    with pytest.raises(PDUError) as caught:
        decode_pdu(data)
    assert "hunter2" not in str(caught.value)


# -- what decodes leniently -----------------------------------------------------------------


def test_missing_user_information_reads_as_empty() -> None:
    pdu = decode_pdu(_associate(APP + _pc_rq(AS + TS)))
    assert isinstance(pdu, AAssociateRQ)
    assert pdu.user_information == UserInformationItem()
    assert pdu.presentation_contexts == (
        PresentationContextRQ(1, VERIFICATION, (IMPLICIT_LE,)),)


def test_even_context_ids_are_read() -> None:
    """PS3.8 §9.3.2.2 wants odd IDs, but older dicom-rs builds send 2, 4, ... and DCMTK
    accepts them; the codec reads them and leaves the decision to negotiation."""
    pdu = decode_pdu(_associate(APP + _pc_rq(AS + TS, context_id=2) + USER))
    assert isinstance(pdu, AAssociateRQ)
    assert [pc.context_id for pc in pdu.presentation_contexts] == [2]
    data = decode_pdu(_pdu(4, _pdv(3, 2, 3, b"a")))
    assert isinstance(data, PDataTF)
    assert data.pdvs[0].context_id == 2


def test_items_in_any_order_are_accepted() -> None:
    pdu = decode_pdu(_associate(USER + _pc_rq(TS + AS) + APP))
    assert isinstance(pdu, AAssociateRQ)
    assert pdu.application_context == APP_CONTEXT
    assert pdu.presentation_contexts[0].abstract_syntax == VERIFICATION
    assert pdu.user_information.maximum_length == 16384


def test_padding_is_stripped_from_uids_and_ae_titles() -> None:
    padded_as = _item(0x30, VERIFICATION.encode() + b"\x00")
    padded_ts = _item(0x40, b"1.2.840.10008.1.2.1\x00")
    spaced_ts = _item(0x40, IMPLICIT_LE.encode() + b" ")
    data = _associate(_item(0x10, APP_CONTEXT.encode() + b"\x00") + _pc_rq(
        padded_as + padded_ts + spaced_ts) + _item(0x50, _item(0x52, b"1.2.3\x00")),
        called=b"  PACS\x00\x00".ljust(16, b"\x00"), calling=b"ME".ljust(16))
    pdu = decode_pdu(data)
    assert pdu == AAssociateRQ(
        "PACS", "ME",
        (PresentationContextRQ(1, VERIFICATION, ("1.2.840.10008.1.2.1", IMPLICIT_LE)),),
        UserInformationItem((pdu.user_information.sub_items[0],)))
    assert isinstance(pdu, AAssociateRQ)
    assert pdu.user_information.implementation_class_uid == "1.2.3"


@pytest.mark.parametrize("result", [1, 2, 3, 4])
def test_rejected_context_may_omit_or_empty_its_transfer_syntax(result: int) -> None:
    for subs in (b"", _item(0x40, b"")):
        pdu = decode_pdu(_associate(APP + _pc_ac(result, subs, context_id=3) + USER,
                                    pdu_type=2))
        assert isinstance(pdu, AAssociateAC)
        assert pdu.presentation_contexts == (PresentationContextAC(3, result, ""),)


def test_reserved_bytes_are_not_tested() -> None:
    # PS3.8 §9.3.1: reserved fields are sent as 00H but not tested on receipt.
    assert encode_pdu(decode_pdu(b"\x05\xff\x00\x00\x00\x04\xff\xff\xff\xff")) == \
        b"\x05\x00\x00\x00\x00\x04" + bytes(4)
    abort = decode_pdu(b"\x07\x00\x00\x00\x00\x04\xaa\xbb\x02\x06")
    assert encode_pdu(abort) == b"\x07\x00\x00\x00\x00\x04\x00\x00\x02\x06"
    data = bytearray(_associate(APP + _pc_rq(AS + TS) + USER))
    data[8:10] = b"\xff\xff"       # reserved after the protocol version
    data[42:74] = b"\xee" * 32    # the 32 reserved bytes
    data[75] = 0x99               # reserved byte of the application context item
    assert isinstance(decode_pdu(bytes(data)), AAssociateRQ)


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = _pdu(4, _pdv(4, 1, 2, b"ab"))
    for form in (bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:]):
        pdu = decode_pdu(form)
        assert encode_pdu(pdu) == data
