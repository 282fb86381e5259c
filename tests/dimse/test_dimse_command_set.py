"""The group 0000 codec (PS3.7 §6.3.1, §9.3, §10.3, Annex E): round trips for every
message type, the wire form, known answers against pydicom and pynetdicom, and errors."""

from __future__ import annotations

import io
import logging
import struct
import warnings
from typing import Any

import pytest
from dimse_strategies import MESSAGE_STRATEGIES, any_message
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from dicomnet.dimse import (
    MESSAGE_TYPES,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    CCancelRQ,
    CEchoRQ,
    CEchoRSP,
    CFindRQ,
    CFindRSP,
    CGetRSP,
    CMoveRQ,
    CommandField,
    CStoreRQ,
    CStoreRSP,
    DIMSEMessage,
    NActionRQ,
    NGetRQ,
    NSetRSP,
    Priority,
    StatusCategory,
    decode_command,
    encode_command,
)
from dicomnet.dimse.messages import FIELDS, message_fields
from dicomnet.errors import DIMSEError

VERIFICATION = "1.2.840.10008.1.1"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"


# -- helpers -----------------------------------------------------------------------------


def _element(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def _us(value: int) -> bytes:
    return struct.pack("<H", value)


def _command(*elements: tuple[int, bytes], group_length: bool = True) -> bytes:
    """A command set built by hand from (tag, value) pairs, in the order given."""
    body = b"".join(_element(tag, value) for tag, value in elements)
    return (_element(0, struct.pack("<I", len(body))) if group_length else b"") + body


def _split(data: bytes) -> list[tuple[int, int, bytes]]:
    """(group, element, value) of each element of an Implicit VR LE byte string."""
    out = []
    offset = 0
    while offset < len(data):
        group, element, length = struct.unpack_from("<HHI", data, offset)
        offset += 8
        out.append((group, element, data[offset:offset + length]))
        offset += length
    assert offset == len(data)
    return out


def _pydicom_read(data: bytes) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about made-up UIDs
        ds = read_dataset(io.BytesIO(data), True, True)
        for _ in ds:  # convert every value now, under the filter
            pass
    return ds


def _normalised(vr: str, value: Any) -> Any:
    """A pydicom element value in the form dicomnet's fields use."""
    if vr == "AT":
        if value is None or value in ("", []):
            return ()
        if isinstance(value, int):
            return (int(value),)
        return tuple(int(v) for v in value)
    if vr in ("UI", "AE", "LO"):
        return "" if value is None else str(value)
    return value


def _pydicom_write(message: DIMSEMessage, *, dataset_type: int | None = None) -> bytes:
    """``message`` as pydicom writes a group 0000 data set in Implicit VR LE."""
    ds = Dataset()
    ds.CommandField = message.command_field
    ds.CommandDataSetType = (dataset_type if dataset_type is not None
                             else 0x0001 if message.has_dataset else 0x0101)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, tag, vr, _required in message_fields(type(message)):
            value = getattr(message, name)
            if value is not None:
                ds.add_new(tag, vr, list(value) if vr == "AT" else value)

        def write(dataset: Dataset) -> bytes:
            fp = DicomBytesIO()
            fp.is_little_endian = True
            fp.is_implicit_VR = True
            write_dataset(fp, dataset)
            return fp.getvalue()

        ds.CommandGroupLength = len(write(ds))
        return write(ds)


# -- the message classes ----------------------------------------------------------------


def test_message_types_cover_table_e1_1() -> None:
    """Every Command Field of PS3.7 Table E.1-1 has a class, and the class knows it."""
    assert set(MESSAGE_TYPES) == {int(f) for f in CommandField}
    for field, cls in MESSAGE_TYPES.items():
        assert cls.command_field == field
    assert set(REQUEST_TYPES) | set(RESPONSE_TYPES) == set(MESSAGE_TYPES)
    assert not set(REQUEST_TYPES) & set(RESPONSE_TYPES)
    for field in RESPONSE_TYPES:
        assert field & 0x8000, hex(field)  # responses set bit 15 (Table E.1-1)
    for field in REQUEST_TYPES:
        assert not field & 0x8000, hex(field)
    assert CCancelRQ.command_field == 0x0FFF


def test_field_dictionary_agrees_with_pydicom() -> None:
    """Tags and VRs of FIELDS are those of the PS3.6/PS3.7 dictionary (pydicom's copy)."""
    for name, (tag, vr) in FIELDS.items():
        assert tag >> 16 == 0, name
        assert dictionary_VR(tag) == vr, name
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in keyword_for_tag(tag))
        # The names are the standard's, e.g. MessageIDBeingRespondedTo.
        assert snake.replace("_", "") == name.replace("_", "").replace("aetitle",
                                                                        "applicationentitytitle")


def test_message_fields_are_in_tag_order_and_mark_mandatory_fields() -> None:
    fields = message_fields(CStoreRQ)
    assert [tag for _, tag, _, _ in fields] == sorted(tag for _, tag, _, _ in fields)
    required = {name for name, _, _, req in fields if req}
    assert required == {"message_id", "affected_sop_class_uid", "affected_sop_instance_uid"}
    assert {name for name, _, _, req in message_fields(CMoveRQ) if req} == {
        "message_id", "affected_sop_class_uid", "move_destination"}
    assert {name for name, _, _, req in message_fields(CCancelRQ) if req} == {
        "message_id_being_responded_to"}


def test_requests_and_responses() -> None:
    rq = CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION)
    rsp = CEchoRSP(message_id_being_responded_to=1, status=0xFF00)
    assert rq.is_request and not rq.is_response
    assert rsp.is_response and not rsp.is_request
    assert rsp.status_category is StatusCategory.PENDING
    assert CStoreRSP(message_id_being_responded_to=1, status=0xA700).status_category \
        is StatusCategory.FAILURE
    assert CStoreRQ(message_id=1, affected_sop_class_uid=CT_STORAGE,
                    affected_sop_instance_uid="1.2").has_dataset
    assert not rq.has_dataset
    with pytest.raises(TypeError):
        CEchoRQ(message_id=1)  # type: ignore[call-arg]  # mandatory field missing


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MESSAGE_STRATEGIES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_message_type_round_trips(name: str, data: st.DataObject) -> None:
    message = data.draw(MESSAGE_STRATEGIES[name])
    encoded = encode_command(message)
    decoded = decode_command(encoded)
    assert decoded == message
    assert type(decoded) is type(message)
    # Canonical: the decoded message encodes to the same bytes.
    assert encode_command(decoded) == encoded
    # Any bytes-like object will do.
    assert decode_command(bytearray(encoded)) == message
    assert decode_command(memoryview(encoded)) == message


@settings(max_examples=300, deadline=None)
@given(message=any_message)
def test_wire_form(message: DIMSEMessage) -> None:
    """PS3.7 §6.3.1: Implicit VR LE, group 0000 only, Command Group Length first with the
    length of what follows it, elements in ascending order, even lengths (PS3.5 §7.1),
    UI padded with NUL and text with a space (PS3.5 §6.2)."""
    data = encode_command(message)
    elements = _split(data)
    assert all(group == 0 for group, _, _ in elements)
    first_group, first_element, first_value = elements[0]
    assert (first_group, first_element) == (0, 0)
    assert len(first_value) == 4
    assert struct.unpack("<I", first_value)[0] == len(data) - 12
    tags = [element for _, element, _ in elements]
    assert tags == sorted(tags)
    assert len(set(tags)) == len(tags)
    assert len(data) % 2 == 0
    by_tag = {element: value for _, element, value in elements}
    assert by_tag[0x0100] == _us(message.command_field)
    assert by_tag[0x0800] == _us(0x0001 if message.has_dataset else 0x0101)
    for name, tag, vr, _required in message_fields(type(message)):
        value = getattr(message, name)
        if value is None:
            assert tag not in by_tag, name
            continue
        raw = by_tag[tag]
        assert len(raw) % 2 == 0, name
        if vr == "US":
            assert raw == _us(value)
        elif vr == "AT":
            assert raw == b"".join(struct.pack("<HH", t >> 16, t & 0xFFFF) for t in value)
        else:
            text = value.encode("ascii")
            pad = b"\x00" if vr == "UI" else b" "
            assert raw == text + pad * (len(text) % 2), name
    # Exactly the fields that are set, plus group length, command field, data set type.
    expected = {0x0000, 0x0100, 0x0800} | {
        tag for name, tag, _, _ in message_fields(type(message))
        if getattr(message, name) is not None}
    assert set(by_tag) == expected


# -- known answers ---------------------------------------------------------------------------


def test_c_echo_rq_known_bytes() -> None:
    message = CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION)
    expected = b"".join([
        bytes.fromhex("0000 0000 04000000 38000000"),   # Command Group Length: 56
        bytes.fromhex("0000 0200 12000000"), b"1.2.840.10008.1.1\x00",
        bytes.fromhex("0000 0001 02000000 3000"),       # Command Field: C-ECHO-RQ
        bytes.fromhex("0000 1001 02000000 0100"),       # Message ID: 1
        bytes.fromhex("0000 0008 02000000 0101"),       # Command Data Set Type: none
    ])
    assert encode_command(message) == expected
    assert decode_command(expected) == message


def test_c_echo_rq_against_pydicom() -> None:
    data = encode_command(CEchoRQ(message_id=7, affected_sop_class_uid=VERIFICATION))
    ds = _pydicom_read(data)
    assert [int(e.tag) for e in ds] == [0x0, 0x2, 0x100, 0x110, 0x800]
    assert ds.CommandGroupLength == len(data) - 12
    assert ds.AffectedSOPClassUID == VERIFICATION
    assert ds.CommandField == 0x0030
    assert ds.MessageID == 7
    assert ds.CommandDataSetType == 0x0101


def test_c_store_rq_against_pydicom() -> None:
    message = CStoreRQ(message_id=0xFFFF, affected_sop_class_uid=CT_STORAGE,
                       affected_sop_instance_uid="1.2.826.0.1.3680043.2.1125.1",
                       priority=Priority.HIGH, move_originator_ae_title="MOVE_SCU",
                       move_originator_message_id=12)
    data = encode_command(message)
    ds = _pydicom_read(data)
    assert ds.CommandGroupLength == len(data) - 12
    assert ds.CommandField == 0x0001
    assert ds.MessageID == 0xFFFF
    assert ds.AffectedSOPClassUID == CT_STORAGE
    assert ds.AffectedSOPInstanceUID == "1.2.826.0.1.3680043.2.1125.1"
    assert ds.Priority == 1
    assert ds.MoveOriginatorApplicationEntityTitle == "MOVE_SCU"
    assert ds.MoveOriginatorMessageID == 12
    assert ds.CommandDataSetType != 0x0101
    # Odd-length UID: padded with one NUL (PS3.5 §9.1), which pydicom strips.
    raw = dict((e, v) for _, e, v in _split(data))
    assert raw[0x1000] == b"1.2.826.0.1.3680043.2.1125.1"  # 28: even, no padding
    assert raw[0x0002] == CT_STORAGE.encode() + b"\x00"
    assert raw[0x1030] == b"MOVE_SCU"


def test_c_find_rsp_against_pydicom() -> None:
    message = CFindRSP(message_id_being_responded_to=3, status=0xFF00,
                       affected_sop_class_uid=STUDY_ROOT_FIND, has_dataset=True)
    ds = _pydicom_read(encode_command(message))
    assert ds.CommandField == 0x8020
    assert ds.MessageIDBeingRespondedTo == 3
    assert ds.Status == 0xFF00
    assert ds.AffectedSOPClassUID == STUDY_ROOT_FIND
    assert ds.CommandDataSetType == 0x0001
    assert "MessageID" not in ds


def test_failure_response_fields_against_pydicom() -> None:
    message = CStoreRSP(message_id_being_responded_to=9, status=0xA900,
                        affected_sop_class_uid=CT_STORAGE, affected_sop_instance_uid="1.2.3",
                        error_comment="Bad SOP Class", offending_element=(0x00080016,
                                                                          0x7FE00010),
                        error_id=0x0123)
    data = encode_command(message)
    ds = _pydicom_read(data)
    assert ds.ErrorComment == "Bad SOP Class"
    assert [int(t) for t in ds.OffendingElement] == [0x00080016, 0x7FE00010]
    assert ds.ErrorID == 0x0123
    raw = dict((e, v) for _, e, v in _split(data))
    assert raw[0x0902] == b"Bad SOP Class "  # LO pads with a space
    assert raw[0x0901] == bytes.fromhex("08001600" "E07F1000")
    assert raw[0x1000] == b"1.2.3\x00"


def test_n_get_rq_attribute_list_against_pydicom() -> None:
    message = NGetRQ(message_id=2, requested_sop_class_uid="1.2.840.10008.5.1.1.16",
                     requested_sop_instance_uid="1.2.840.10008.5.1.1.17",
                     attribute_identifier_list=(0x21100010,))
    ds = _pydicom_read(encode_command(message))
    assert int(ds.AttributeIdentifierList) == 0x21100010
    assert ds.RequestedSOPClassUID == "1.2.840.10008.5.1.1.16"
    assert ds.RequestedSOPInstanceUID == "1.2.840.10008.5.1.1.17"


@settings(max_examples=200, deadline=None)
@given(message=any_message)
def test_pydicom_reads_what_dicomnet_writes(message: DIMSEMessage) -> None:
    data = encode_command(message)
    ds = _pydicom_read(data)
    assert ds.CommandGroupLength == len(data) - 12
    assert ds.CommandField == message.command_field
    assert (ds.CommandDataSetType != 0x0101) == message.has_dataset
    seen = {0x0000, 0x0100, 0x0800}
    for name, tag, vr, _required in message_fields(type(message)):
        value = getattr(message, name)
        if value is None:
            assert tag not in ds, name
            continue
        seen.add(tag)
        assert _normalised(vr, ds[tag].value) == value, name
    assert {int(e.tag) for e in ds} == seen


@settings(max_examples=200, deadline=None)
@given(message=any_message)
def test_dicomnet_reads_what_pydicom_writes(message: DIMSEMessage) -> None:
    assert decode_command(_pydicom_write(message)) == message


@pytest.mark.parametrize("dataset_type", [0x0000, 0x0001, 0x0002, 0x0102, 0xFEFE, 0xFFFF])
def test_any_data_set_type_but_0101_means_a_data_set(dataset_type: int) -> None:
    """PS3.7 Table E.1-1: 0101H means no data set; any other value that one follows."""
    message = CFindRQ(message_id=1, affected_sop_class_uid=STUDY_ROOT_FIND)
    decoded = decode_command(_pydicom_write(message, dataset_type=dataset_type))
    assert decoded.has_dataset
    assert not decode_command(_pydicom_write(message, dataset_type=0x0101)).has_dataset


# -- against pynetdicom ------------------------------------------------------------------------


def _pynetdicom_cases() -> list[tuple[str, Any, Any, DIMSEMessage]]:
    from pynetdicom import dimse_messages as msgs
    from pynetdicom import dimse_primitives as prims

    def prim(cls: Any, **attrs: Any) -> Any:
        p = cls()
        for key, value in attrs.items():
            setattr(p, key, value)
        return p

    ident = io.BytesIO(b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY ")
    return [
        ("C-ECHO-RQ", msgs.C_ECHO_RQ,
         prim(prims.C_ECHO, MessageID=1, AffectedSOPClassUID=VERIFICATION),
         CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION)),
        ("C-ECHO-RSP", msgs.C_ECHO_RSP,
         prim(prims.C_ECHO, MessageIDBeingRespondedTo=1, AffectedSOPClassUID=VERIFICATION,
              Status=0x0000),
         CEchoRSP(message_id_being_responded_to=1, status=0,
                  affected_sop_class_uid=VERIFICATION)),
        ("C-STORE-RQ", msgs.C_STORE_RQ,
         prim(prims.C_STORE, MessageID=7, AffectedSOPClassUID=CT_STORAGE,
              AffectedSOPInstanceUID="1.2.3.4.5", Priority=2,
              MoveOriginatorApplicationEntityTitle="MOVER", MoveOriginatorMessageID=3,
              DataSet=io.BytesIO(b"\x00" * 4)),
         CStoreRQ(message_id=7, affected_sop_class_uid=CT_STORAGE,
                  affected_sop_instance_uid="1.2.3.4.5", priority=Priority.LOW,
                  move_originator_ae_title="MOVER", move_originator_message_id=3)),
        ("C-STORE-RSP", msgs.C_STORE_RSP,
         prim(prims.C_STORE, MessageIDBeingRespondedTo=7, AffectedSOPClassUID=CT_STORAGE,
              AffectedSOPInstanceUID="1.2.3.4.5", Status=0xB000),
         CStoreRSP(message_id_being_responded_to=7, status=0xB000,
                   affected_sop_class_uid=CT_STORAGE, affected_sop_instance_uid="1.2.3.4.5")),
        ("C-FIND-RQ", msgs.C_FIND_RQ,
         prim(prims.C_FIND, MessageID=5, AffectedSOPClassUID=STUDY_ROOT_FIND, Priority=0,
              Identifier=ident),
         CFindRQ(message_id=5, affected_sop_class_uid=STUDY_ROOT_FIND)),
        ("C-MOVE-RQ", msgs.C_MOVE_RQ,
         prim(prims.C_MOVE, MessageID=6, AffectedSOPClassUID=STUDY_ROOT_MOVE, Priority=0,
              MoveDestination="STORESCP", Identifier=io.BytesIO(ident.getvalue())),
         CMoveRQ(message_id=6, affected_sop_class_uid=STUDY_ROOT_MOVE,
                 move_destination="STORESCP")),
        ("C-GET-RSP", msgs.C_GET_RSP,
         prim(prims.C_GET, MessageIDBeingRespondedTo=4, AffectedSOPClassUID=STUDY_ROOT_MOVE,
              Status=0xFF00, NumberOfRemainingSuboperations=3,
              NumberOfCompletedSuboperations=1, NumberOfFailedSuboperations=0,
              NumberOfWarningSuboperations=0),
         CGetRSP(message_id_being_responded_to=4, status=0xFF00,
                 affected_sop_class_uid=STUDY_ROOT_MOVE, number_of_remaining_suboperations=3,
                 number_of_completed_suboperations=1, number_of_failed_suboperations=0,
                 number_of_warning_suboperations=0)),
        ("N-ACTION-RQ", msgs.N_ACTION_RQ,
         prim(prims.N_ACTION, MessageID=8, RequestedSOPClassUID="1.2.840.10008.1.20.1",
              RequestedSOPInstanceUID="1.2.840.10008.1.20.1.1", ActionTypeID=1,
              ActionInformation=io.BytesIO(ident.getvalue())),
         NActionRQ(message_id=8, requested_sop_class_uid="1.2.840.10008.1.20.1",
                   requested_sop_instance_uid="1.2.840.10008.1.20.1.1", action_type_id=1,
                   has_dataset=True)),
        ("N-SET-RSP", msgs.N_SET_RSP,
         prim(prims.N_SET, MessageIDBeingRespondedTo=8,
              AffectedSOPClassUID="1.2.840.10008.5.1.1.1",
              AffectedSOPInstanceUID="1.2.3", Status=0x0000),
         NSetRSP(message_id_being_responded_to=8, status=0,
                 affected_sop_class_uid="1.2.840.10008.5.1.1.1",
                 affected_sop_instance_uid="1.2.3")),
    ]


@pytest.mark.parametrize("case", range(len(_pynetdicom_cases())))
def test_same_bytes_as_pynetdicom(case: int) -> None:
    from pynetdicom.pdu_primitives import P_DATA

    _name, msg_cls, primitive, message = _pynetdicom_cases()[case]
    pyn = msg_cls()
    pyn.primitive_to_message(primitive)
    (pdata, *_rest) = list(pyn.encode_msg(1, 0))
    context_id, pdv = pdata.presentation_data_value_list[0]
    assert (context_id, pdv[0]) == (1, 0x03)  # the whole command, flagged last
    theirs = bytes(pdv[1:])
    assert encode_command(message) == theirs
    assert decode_command(theirs) == message

    # And pynetdicom decodes ours back to the same primitive values.
    received = P_DATA()
    received.presentation_data_value_list = [[1, b"\x03" + encode_command(message)]]
    back = msg_cls()
    done = back.decode_msg(received)
    assert done == (not message.has_dataset)
    assert type(back) is msg_cls
    for name, tag, _vr, _required in message_fields(type(message)):
        value = getattr(message, name)
        keyword = keyword_for_tag(tag)
        if value is not None:
            assert back.command_set[keyword].value == value, name
        else:
            assert keyword not in back.command_set, name


# -- errors -------------------------------------------------------------------------------------

_ECHO = [(0x0002, VERIFICATION.encode() + b"\x00"), (0x0100, _us(0x0030)),
         (0x0110, _us(1)), (0x0800, _us(0x0101))]


def test_hand_built_command_decodes() -> None:
    assert decode_command(_command(*_ECHO)) == CEchoRQ(message_id=1,
                                                       affected_sop_class_uid=VERIFICATION)
    # Command Group Length is optional on reading: it is not needed to decode.
    assert decode_command(_command(*_ECHO, group_length=False)).message_id == 1


def test_element_of_another_group_is_skipped_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    """Orthanc sends Failed SOP Instance UID List (0008,0058) in a C-GET response's
    command set; the command still means what its group 0000 says (PS3.7 §6.3.1)."""
    data = _command(*_ECHO) + _element(0x00080058, b"1.2.3\\1.2.4\x00")
    with caplog.at_level(logging.WARNING, logger="dicomnet.dimse"):
        assert decode_command(data) == CEchoRQ(message_id=1,
                                               affected_sop_class_uid=VERIFICATION)
    warnings = [r for r in caplog.records if r.name == "dicomnet.dimse"]
    assert len(warnings) == 1
    assert "(0008,0058)" in warnings[0].getMessage()
    assert "CEchoRQ" in warnings[0].getMessage()


def test_element_of_another_group_still_has_to_fit() -> None:
    data = _command(*_ECHO) + struct.pack("<HHI", 0x0008, 0x0058, 0xFFFFFFFF) + b"1.2\x00"
    with pytest.raises(DIMSEError, match=r"\(0008,0058\) length .* runs past"):
        decode_command(data)


@pytest.mark.parametrize("cut", [1, 2, 7, 8, 9, 17])
def test_truncated_element(cut: int) -> None:
    data = _command(*_ECHO)
    with pytest.raises(DIMSEError, match=r"truncated|runs past|without|US value"):
        decode_command(data[:-cut])


def test_truncated_value_says_so() -> None:
    data = _command(*_ECHO)
    with pytest.raises(DIMSEError, match="runs past the end"):
        decode_command(data[:-1])
    with pytest.raises(DIMSEError, match="header truncated"):
        decode_command(data + b"\x00\x00\x02")


def test_undefined_length_is_refused() -> None:
    data = _command(*_ECHO) + struct.pack("<HHI", 0, 0x0902, 0xFFFFFFFF) + b"abcd"
    with pytest.raises(DIMSEError, match="runs past"):
        decode_command(data)


def test_missing_command_field() -> None:
    elements = [e for e in _ECHO if e[0] != 0x0100]
    with pytest.raises(DIMSEError, match=r"Command Field \(0000,0100\)"):
        decode_command(_command(*elements))
    with pytest.raises(DIMSEError, match="Command Field"):
        decode_command(b"")


@pytest.mark.parametrize("field", [0x0000, 0x0002, 0x0031, 0x8000, 0x8FFF, 0xFFFF, 0x0FFE])
def test_unknown_command_field(field: int) -> None:
    elements = [(t, _us(field) if t == 0x0100 else v) for t, v in _ECHO]
    with pytest.raises(DIMSEError, match=f"unknown Command Field 0x{field:04X}"):
        decode_command(_command(*elements))


def test_missing_data_set_type() -> None:
    elements = [e for e in _ECHO if e[0] != 0x0800]
    with pytest.raises(DIMSEError, match=r"Command Data Set Type \(0000,0800\)"):
        decode_command(_command(*elements))


@pytest.mark.parametrize("message", [
    CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION),
    CStoreRQ(message_id=1, affected_sop_class_uid=CT_STORAGE, affected_sop_instance_uid="1.2"),
    CMoveRQ(message_id=1, affected_sop_class_uid=STUDY_ROOT_MOVE, move_destination="DEST"),
    CEchoRSP(message_id_being_responded_to=1, status=0),
    CCancelRQ(message_id_being_responded_to=1),
    NActionRQ(message_id=1, requested_sop_class_uid="1.2", requested_sop_instance_uid="1.3",
              action_type_id=1),
], ids=lambda m: type(m).__name__)
def test_missing_mandatory_field(message: DIMSEMessage) -> None:
    """Leaving out any one M field of the message's table (PS3.7 §9.3, §10.3) fails."""
    elements = [(e, v) for g, e, v in _split(encode_command(message)) if e != 0]
    for name, tag, _vr, required in message_fields(type(message)):
        if not required:
            continue
        rest = [(t, v) for t, v in elements if t != tag]
        with pytest.raises(DIMSEError, match=f"{type(message).__name__} without {name}"):
            decode_command(_command(*rest))


@pytest.mark.parametrize("length", [0, 1, 3, 4])
def test_wrong_us_length(length: int) -> None:
    elements = [(t, b"\x01" * length if t == 0x0110 else v) for t, v in _ECHO]
    with pytest.raises(DIMSEError, match=f"message_id: US value of {length} bytes"):
        decode_command(_command(*elements))


@pytest.mark.parametrize("tag", [0x0100, 0x0800])
def test_wrong_us_length_in_command_field_or_data_set_type(tag: int) -> None:
    elements = [(t, v + b"\x00\x00" if t == tag else v) for t, v in _ECHO]
    with pytest.raises(DIMSEError, match="US value of 4 bytes"):
        decode_command(_command(*elements))


@pytest.mark.parametrize("length", [1, 2, 3, 5, 6, 7])
def test_odd_at_length(length: int) -> None:
    elements = sorted([*_ECHO[:1], (0x0100, _us(0x8030)), (0x0120, _us(1)),
                       (0x0800, _us(0x0101)), (0x0900, _us(0x0106)),
                       (0x0901, b"\x10" * length)])
    with pytest.raises(DIMSEError, match="offending_element: AT value of"):
        decode_command(_command(*elements))


def test_empty_at_value_is_an_empty_list() -> None:
    elements = sorted([*_ECHO[:1], (0x0100, _us(0x8030)), (0x0120, _us(1)),
                       (0x0800, _us(0x0101)), (0x0900, _us(0x0106)), (0x0901, b"")])
    assert decode_command(_command(*elements)).offending_element == ()


def test_non_ascii_text() -> None:
    elements = [(t, b"1.2\xe9" if t == 0x0002 else v) for t, v in _ECHO]
    with pytest.raises(DIMSEError, match="affected_sop_class_uid: UI value is not ASCII"):
        decode_command(_command(*elements))


def test_implausibly_large_command() -> None:
    padding = _element(0x0902 - 1, b" " * (64 * 1024))  # an unknown element, huge
    with pytest.raises(DIMSEError, match="implausibly large"):
        decode_command(_command(*_ECHO[:1], (0x0100, _us(0x0030)), (0x0110, _us(1)),
                                (0x0800, _us(0x0101))) + padding)


def test_unknown_group_0000_elements_are_skipped() -> None:
    """Retired (PS3.7 Annex D: Length to End, Recognition Code, Initiator, Receiver,
    Number of Matches...) and unknown group 0000 elements are ignored."""
    unknown = [(0x0001, struct.pack("<I", 1234)), (0x0010, b"RC"), (0x0200, b"INIT"),
               (0x0300, b"RECV"), (0x0850, _us(2)), (0x0860, _us(1)), (0x4000, b"x "),
               (0x5010, b"AB"), (0xFFFF, b"")]
    message = CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION)
    assert decode_command(_command(*sorted([*_ECHO, *unknown]))) == message


def test_values_are_unpadded() -> None:
    """Trailing NUL/space padding of UI and AE, and leading spaces of AE, go."""
    elements = sorted([(0x0002, b"1.2.3\x00"), (0x0100, _us(0x0021)), (0x0110, _us(2)),
                       (0x0600, b"  DEST  "), (0x0700, _us(0)), (0x0800, _us(0x0001))])
    decoded = decode_command(_command(*elements))
    assert decoded == CMoveRQ(message_id=2, affected_sop_class_uid="1.2.3",
                              move_destination="DEST")


def test_out_of_range_values_refuse_to_encode() -> None:
    with pytest.raises(DIMSEError, match="message_id"):
        encode_command(CEchoRQ(message_id=0x10000, affected_sop_class_uid=VERIFICATION))
    with pytest.raises(DIMSEError, match="status"):
        encode_command(CEchoRSP(message_id_being_responded_to=1, status=-1))
    with pytest.raises(DIMSEError, match="move_destination"):
        encode_command(CMoveRQ(message_id=1, affected_sop_class_uid=STUDY_ROOT_MOVE,
                               move_destination="DÉST"))
    with pytest.raises(DIMSEError, match="offending_element"):
        encode_command(CEchoRSP(message_id_being_responded_to=1, status=0x0106,
                                offending_element=(0x1_0000_0000,)))


# -- only DIMSEError, whatever the bytes ----------------------------------------------------------


def _decode_or_dimse_error(data: bytes) -> DIMSEMessage | None:
    try:
        message = decode_command(data)
    except DIMSEError:
        return None
    assert type(message) in MESSAGE_TYPES.values()
    return message


@settings(max_examples=1000, deadline=None)
@given(data=st.binary(max_size=200))
@example(b"")
@example(b"\x00" * 8)
@example(b"\x00\x00\x00\x01\x02\x00\x00\x00\x30\x00")
def test_arbitrary_bytes_raise_only_dimse_error(data: bytes) -> None:
    _decode_or_dimse_error(data)


@settings(max_examples=500, deadline=None)
@given(command_field=st.sampled_from(sorted(MESSAGE_TYPES)),
       dataset_type=st.binary(min_size=2, max_size=2),
       values=st.lists(st.tuples(st.sampled_from(sorted(t for t, _ in FIELDS.values())),
                                 st.binary(max_size=12)), max_size=10))
def test_plausible_group_0000_elements_raise_only_dimse_error(
    command_field: int, dataset_type: bytes, values: list[tuple[int, bytes]],
) -> None:
    """Random values under the tags decode_command looks at, with a valid Command Field:
    gets past the structural checks, into value decoding."""
    elements = dict([(0x0100, _us(command_field)), (0x0800, dataset_type), *values])
    _decode_or_dimse_error(_command(*sorted(elements.items())))


_mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.just(0)),
)


@settings(max_examples=500, deadline=None)
@given(message=any_message, mutations=st.lists(_mutations, min_size=1, max_size=4))
def test_mutated_encodings_raise_only_dimse_error(
    message: DIMSEMessage, mutations: list[tuple[str, int, int]],
) -> None:
    data = bytearray(encode_command(message))
    for kind, position, value in mutations:
        if not data:
            break
        index = position % len(data)
        if kind == "flip":
            data[index] ^= value
        elif kind == "cut":
            del data[index:]
        elif kind == "insert":
            data.insert(index, value)
        else:
            del data[index]
    _decode_or_dimse_error(bytes(data))


@pytest.mark.parametrize(("tag", "value", "name"), [
    (0x0002, b"1.2.3", "affected_sop_class_uid"),       # UI not padded to even
    (0x0600, b"DEST1", "move_destination"),             # AE not padded to even
])
def test_odd_text_length_is_tolerated(tag: int, value: bytes, name: str) -> None:
    """PS3.5 §7.1.1 wants even Value Lengths, but a peer that forgets one pad byte is
    understood rather than aborted (robustness); we never send one (see the encoder)."""
    elements = dict([(0x0002, b"1.2.34"), (0x0100, _us(0x0021)), (0x0110, _us(2)),
                     (0x0600, b"DEST"), (0x0700, _us(0)), (0x0800, _us(0x0001))])
    elements[tag] = value
    message = decode_command(_command(*sorted(elements.items())))
    assert getattr(message, name) == value.decode()


def test_odd_length_of_an_unknown_element_is_skipped_like_its_value() -> None:
    message = CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION)
    assert decode_command(_command(*sorted([*_ECHO, (0x4000, b"abc")]))) == message


@pytest.mark.parametrize("length", [0, 2, 3, 5, 8])
def test_group_length_must_be_a_ul(length: int) -> None:
    body = _command(*_ECHO, group_length=False)
    with pytest.raises(DIMSEError, match=f"Command Group Length: UL value of {length}"):
        decode_command(_element(0x00000000, b"\x00" * length) + body)


def test_group_length_value_is_not_needed_to_decode() -> None:
    """A peer's wrong group length does not hide a well-formed command: the command's end
    is the PDV's last-fragment flag (PS3.8 Annex E.2), not this value."""
    body = _command(*_ECHO, group_length=False)
    data = _element(0x00000000, struct.pack("<I", len(body) + 100)) + body
    assert decode_command(data).message_id == 1


def test_over_long_text_values_refuse_to_encode() -> None:
    """PS3.5 Table 6.2-1: AE at most 16 characters, UI and LO at most 64."""
    ok = CMoveRQ(message_id=1, affected_sop_class_uid="1." + "2" * 62,
                 move_destination="D" * 16)
    assert decode_command(encode_command(ok)) == ok
    with pytest.raises(DIMSEError, match=r"move_destination.*17 characters, AE allows 16"):
        encode_command(CMoveRQ(message_id=1, affected_sop_class_uid=STUDY_ROOT_MOVE,
                               move_destination="D" * 17))
    with pytest.raises(DIMSEError, match=r"affected_sop_class_uid.*65 characters"):
        encode_command(CEchoRQ(message_id=1, affected_sop_class_uid="1." + "2" * 63))
    with pytest.raises(DIMSEError, match=r"error_comment.*65 characters, LO allows 64"):
        encode_command(CEchoRSP(message_id_being_responded_to=1, status=0x0110,
                                error_comment="x" * 65))
