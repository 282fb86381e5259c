"""decode(encode(x)) == x for every PDU type and, through a PDU, every sub-item."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pdu_strategies import (
    PDUS,
    SUB_ITEMS,
    ae_titles,
    presentation_contexts_ac,
    presentation_contexts_rq,
    user_information,
)

from dicomnet.pdu import (
    PDU,
    AAssociateAC,
    AAssociateRQ,
    ApplicationContextItem,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    UserInformationItem,
    decode_item,
    decode_pdu,
    decode_user_sub_item,
    encode_item,
    encode_pdu,
)


def _round_trip(pdu: PDU) -> None:
    data = encode_pdu(pdu)
    decoded = decode_pdu(data)
    assert decoded == pdu
    assert type(decoded) is type(pdu)
    # The header's length field is the length of what follows it (PS3.8 §9.3.1) ...
    assert int.from_bytes(data[2:6], "big") == len(data) - 6
    assert data[0] == pdu.pdu_type
    # ... and the encoding is canonical: what was decoded encodes to the same bytes.
    assert encode_pdu(decoded) == data


@pytest.mark.parametrize("name", sorted(PDUS))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_pdu_type_round_trips(name: str, data: st.DataObject) -> None:
    _round_trip(data.draw(PDUS[name]))


@pytest.mark.parametrize("name", sorted(SUB_ITEMS))
@settings(max_examples=150, deadline=None)
@given(data=st.data(), calling=ae_titles, other=user_information)
def test_every_sub_item_round_trips_through_a_pdu(
    name: str, data: st.DataObject, calling: str, other: UserInformationItem,
) -> None:
    sub = data.draw(SUB_ITEMS[name])
    user = UserInformationItem((*other.sub_items, sub))
    _round_trip(AAssociateRQ("CALLED", calling, user_information=user))
    _round_trip(AAssociateAC("CALLED", calling, user_information=user))
    # And alone, through the item-level decoder.
    assert decode_user_sub_item(encode_item(sub)) == sub


@settings(max_examples=200, deadline=None)
@given(rq=presentation_contexts_rq, ac=presentation_contexts_ac(), user=user_information)
def test_items_round_trip_alone(rq: PresentationContextRQ, ac: PresentationContextAC,
                                user: UserInformationItem) -> None:
    for item in (rq, ac, user, ApplicationContextItem("1.2.3")):
        assert decode_item(encode_item(item)) == item


@settings(max_examples=200, deadline=None)
@given(pdu=PDUS["P-DATA-TF"])
def test_pdv_data_is_a_slice_of_the_input_not_a_copy(pdu: PDataTF) -> None:
    data = encode_pdu(pdu)
    decoded = decode_pdu(data)
    assert isinstance(decoded, PDataTF)
    for pdv in decoded.pdvs:
        assert isinstance(pdv.data, memoryview)
        assert pdv.data.obj is data
    # The concatenation of PDV items is the PDU's variable field.
    assert b"".join(encode_item(pdv) for pdv in pdu.pdvs) == data[6:]
