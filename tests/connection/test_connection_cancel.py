"""C-CANCEL both ways (PS3.7 §9.3.2.3, §9.1.2.1.1): only C-FIND, C-GET and C-MOVE can
be cancelled, a cancel reaches only a request still being performed, and the
cancelled request keeps its responses until the final one."""

from __future__ import annotations

import pytest
from pair import FIND, GET, IDENTIFIER, MOVE, VERIFICATION, Pair, arrived, message_id

from dicomnet.connection_events import CancelArrived, RequestArrived, ResponseArrived
from dicomnet.dimse import (
    CCancelRQ,
    CEchoRQ,
    CFindRQ,
    CGetRQ,
    CMoveRQ,
    CStoreRQ,
    DIMSEMessage,
    Status,
    encode_command,
)
from dicomnet.pdu import PDV, PDataTF, encode_pdu


def send_cancel(pair: Pair, request: DIMSEMessage) -> bytes:
    """The requestor's C-CANCEL-RQ for ``request``, on its context."""
    cancel = pair.requestor.cancel(message_id(request))
    pair.requestor.message_sent()
    return pair.encode(cancel, context=pair.context(str(request.affected_sop_class_uid)))  # type: ignore[union-attr]


@pytest.mark.parametrize("request_", [
    CFindRQ(affected_sop_class_uid=FIND),
    CGetRQ(affected_sop_class_uid=GET),
    CMoveRQ(affected_sop_class_uid=MOVE, move_destination="THERE"),
], ids=["C-FIND", "C-GET", "C-MOVE"])
def test_cancel_of_an_outstanding_find_get_or_move_names_it(request_: DIMSEMessage) -> None:
    pair = Pair.established()
    sent = pair.requestor.start_request(request_)
    assert pair.requestor.cancel(message_id(sent)) == CCancelRQ(
        message_id_being_responded_to=message_id(sent))
    assert pair.requestor.outstanding == 1  # still outstanding until its final response


@pytest.mark.parametrize("request_", [
    CEchoRQ(affected_sop_class_uid=VERIFICATION),
    CStoreRQ(affected_sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
             affected_sop_instance_uid="1.2.3"),
], ids=["C-ECHO", "C-STORE"])
def test_cancel_refuses_a_request_that_cannot_be_cancelled(request_: DIMSEMessage) -> None:
    pair = Pair.established()
    sent = pair.requestor.start_request(request_)
    with pytest.raises(ValueError, match="no outstanding C-FIND"):
        pair.requestor.cancel(message_id(sent))


def test_cancel_refuses_a_request_not_outstanding() -> None:
    pair = Pair.established()
    with pytest.raises(ValueError):
        pair.requestor.cancel(1)
    sent = pair.requestor.start_request(CFindRQ(affected_sop_class_uid=FIND))
    pair.requestor.end_request(message_id(sent))
    with pytest.raises(ValueError):
        pair.requestor.cancel(message_id(sent))


def test_a_cancel_for_a_request_being_performed_arrives() -> None:
    pair = Pair.established()
    sent, data = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER)
    pair.acceptor.receive_data(data)
    events = pair.acceptor.receive_data(send_cancel(pair, sent))
    assert events == [CancelArrived(message_id(sent))]
    assert pair.acceptor.performing == 1  # a cancel frees nothing: the final answer does


def test_a_cancel_for_a_request_already_done_is_ignored() -> None:
    # The final response and the C-CANCEL-RQ cross on the wire.
    pair = Pair.established()
    sent, data = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER)
    (got,) = arrived(pair.acceptor.receive_data(data))
    final = pair.respond(got.message, Status.SUCCESS)
    pair.acceptor.request_done(message_id(got.message))
    cancel = send_cancel(pair, sent)
    assert pair.acceptor.receive_data(cancel) == []
    events = pair.requestor.receive_data(final)
    assert [type(e) for e in events] == [ResponseArrived]


def test_a_cancel_for_an_unknown_message_id_is_ignored() -> None:
    pair = Pair.established()
    pair.requestor.message_sent()
    cancel = pair.encode(CCancelRQ(message_id_being_responded_to=321),
                         context=pair.context(FIND))
    assert pair.acceptor.receive_data(cancel) == []
    assert pair.acceptor.performing == 0


def test_a_cancel_does_not_reach_a_held_request_until_it_starts() -> None:
    # Held requests are not parsed past (PS3.7 D.3.3.3 window full): the cancel behind
    # one is read once it starts, and then reaches it.
    pair = Pair.established()
    first, data1 = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER)
    pair.requestor.end_request(message_id(first))  # the requestor's side: room for two
    second, data2 = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER)
    events = pair.acceptor.receive_data(data1 + data2 + send_cancel(pair, second))
    assert [message_id(e.message) for e in arrived(events)] == [message_id(first)]
    assert not any(isinstance(e, CancelArrived) for e in events)
    pair.acceptor.request_done(message_id(first))
    started = pair.acceptor.release_held()
    assert [message_id(e.message) for e in arrived(started)] == [message_id(second)]
    assert pair.acceptor.receive_data(b"") == [CancelArrived(message_id(second))]


def test_responses_keep_going_to_a_cancelled_request_until_the_final_one() -> None:
    pair = Pair.established()
    sent, data = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER)
    (got,) = arrived(pair.acceptor.receive_data(data))
    in_flight = pair.respond(got.message, Status.PENDING, IDENTIFIER)
    pair.acceptor.receive_data(send_cancel(pair, sent))
    final = pair.respond(got.message, Status.CANCEL)
    events = pair.requestor.receive_data(in_flight + final)
    assert [(e.request_id, e.response.status) for e in events
            if isinstance(e, ResponseArrived)] == [
        (message_id(sent), Status.PENDING), (message_id(sent), Status.CANCEL)]
    assert pair.requestor.request_for(message_id(sent)) == sent


def test_a_cancel_packed_in_one_pdu_behind_a_held_request_reaches_it_when_it_starts() -> None:
    # PS3.8 §9.3.5: one P-DATA-TF may carry PDVs of several messages. A C-CANCEL-RQ
    # packed behind the request it stops, while the window holds that request, must
    # reach it as it would from a PDU of its own (PS3.7 §9.3.2.3), not be dropped.
    pair = Pair.established()
    context = pair.context(FIND).context_id

    def command(message: DIMSEMessage) -> PDV:
        return PDV(context_id=context, is_command=True, is_last=True,
                   data=encode_command(message))

    packed = PDataTF((command(CFindRQ(message_id=1, affected_sop_class_uid=FIND,
                                      has_dataset=False)),
                      command(CFindRQ(message_id=2, affected_sop_class_uid=FIND,
                                      has_dataset=False)),
                      command(CCancelRQ(message_id_being_responded_to=2))))
    events = pair.acceptor.receive_data(encode_pdu(packed))
    assert [message_id(e.message) for e in arrived(events)] == [1]
    assert not any(isinstance(e, CancelArrived) for e in events)
    pair.acceptor.request_done(1)
    started = pair.acceptor.release_held()
    assert [type(e) for e in started] == [RequestArrived, CancelArrived]
    assert started[1] == CancelArrived(2)
