"""Which request a response belongs to, and our Message IDs (PS3.7 §9.3.1.1,
§9.1.1.1.1: a response names its request by Message ID Being Responded To)."""

from __future__ import annotations

import pytest
from pair import FIND, IDENTIFIER, VERIFICATION, Pair, arrived, message_id

from dicomnet.connection_events import ResponseArrived, StrayResponse
from dicomnet.dimse import CEchoRQ, CEchoRSP, CFindRQ, Status


def echo(message_id: int = 0) -> CEchoRQ:
    return CEchoRQ(message_id=message_id, affected_sop_class_uid=VERIFICATION)


def find(message_id: int = 0) -> CFindRQ:
    return CFindRQ(message_id=message_id, affected_sop_class_uid=FIND)


def test_a_response_goes_to_the_request_it_names() -> None:
    pair = Pair.established()
    sent, data = pair.request(echo())
    (got,) = arrived(pair.acceptor.receive_data(data))
    events = pair.requestor.receive_data(pair.respond(got.message))
    assert len(events) == 1 and isinstance(events[0], ResponseArrived)
    assert events[0].request_id == message_id(sent)
    assert events[0].response.status == Status.SUCCESS
    assert pair.requestor.request_for(message_id(sent)) == sent


def test_outstanding_requests_answered_out_of_order_each_reach_their_own() -> None:
    pair = Pair.established(invoked=3, performed=3)
    sent = []
    got = []
    for _ in range(3):
        message, data = pair.request(echo())
        sent.append(message_id(message))
        got += arrived(pair.acceptor.receive_data(data))
    assert len(set(sent)) == 3
    answers = b"".join(pair.respond(got[i].message, Status.SUCCESS + i) for i in (2, 0, 1))
    events = pair.requestor.receive_data(answers)
    assert [(e.request_id, e.response.status) for e in events
            if isinstance(e, ResponseArrived)] == [(sent[2], 2), (sent[0], 0), (sent[1], 1)]


def test_pending_responses_then_the_final_one_all_reach_the_request() -> None:
    pair = Pair.established()
    sent, data = pair.request(find(), IDENTIFIER)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert got.dataset == IDENTIFIER
    answers = (pair.respond(got.message, Status.PENDING, IDENTIFIER)
               + pair.respond(got.message, Status.PENDING, IDENTIFIER)
               + pair.respond(got.message, Status.SUCCESS))
    events = pair.requestor.receive_data(answers)
    assert [(e.request_id, e.response.is_pending, e.response.raw_dataset) for e in events
            if isinstance(e, ResponseArrived)] == [
        (message_id(sent), True, IDENTIFIER), (message_id(sent), True, IDENTIFIER),
        (message_id(sent), False, None)]


def test_a_response_to_an_unknown_message_id_is_a_stray() -> None:
    pair = Pair.established()
    stray = CEchoRSP(message_id_being_responded_to=4242, status=Status.SUCCESS,
                     affected_sop_class_uid=VERIFICATION)
    pair.acceptor.message_sent()
    events = pair.requestor.receive_data(pair.encode(stray))
    assert events == [StrayResponse(stray)]
    assert pair.requestor.outstanding == 0


def test_a_response_after_end_request_is_a_stray() -> None:
    # The requester gave up (end_request): a late answer must not reach anyone.
    pair = Pair.established()
    sent, data = pair.request(echo())
    (got,) = arrived(pair.acceptor.receive_data(data))
    pair.requestor.end_request(message_id(sent))
    events = pair.requestor.receive_data(pair.respond(got.message))
    assert [type(e) for e in events] == [StrayResponse]


def test_message_id_0_is_allocated_and_ids_differ_while_outstanding() -> None:
    pair = Pair.established(invoked=0, performed=0)
    ids = [message_id(pair.requestor.start_request(echo())) for _ in range(5)]
    assert 0 not in ids and len(set(ids)) == 5
    assert pair.requestor.outstanding == 5


def test_a_message_id_given_is_kept() -> None:
    pair = Pair.established()
    assert message_id(pair.requestor.start_request(echo(777))) == 777
    assert pair.requestor.request_for(777) == echo(777)


def test_never_two_outstanding_requests_with_one_message_id() -> None:
    pair = Pair.established(invoked=0, performed=0)
    pair.requestor.start_request(echo(5))
    with pytest.raises(ValueError, match="already outstanding"):
        pair.requestor.start_request(echo(5))
    with pytest.raises(ValueError, match="already outstanding"):
        pair.requestor.with_message_id(echo(5))
    assert pair.requestor.outstanding == 1
    # An ID chosen by the caller is never handed out while it is in use.
    allocated = [message_id(pair.requestor.start_request(echo())) for _ in range(6)]
    assert 5 not in allocated


def test_end_request_gives_the_message_id_back() -> None:
    pair = Pair.established()
    first = message_id(pair.requestor.start_request(echo(1)))
    pair.requestor.end_request(first)
    assert pair.requestor.outstanding == 0 and pair.requestor.message_ids_in_use == 0
    assert message_id(pair.requestor.start_request(echo(1))) == 1  # free again


def test_prepared_requests_count_as_message_ids_in_use() -> None:
    # A request prepared ahead (with_message_id) holds its ID before it is sent, so a
    # request started meanwhile cannot take it.
    pair = Pair.established(invoked=0, performed=0)
    prepared = pair.requestor.with_message_id(echo())
    assert pair.requestor.message_ids_in_use == 1 and pair.requestor.outstanding == 0
    started = pair.requestor.start_request(echo())
    assert message_id(started) != message_id(prepared)
    assert pair.requestor.message_ids_in_use == 2
    pair.requestor.end_request(message_id(prepared))  # discarded, never sent
    assert pair.requestor.message_ids_in_use == 1
    # Sending a prepared request keeps the ID it was given.
    again = pair.requestor.with_message_id(echo())
    assert pair.requestor.start_request(again) == again
    assert pair.requestor.outstanding == 2
