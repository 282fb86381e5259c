"""The asynchronous operations window both ways (PS3.7 D.3.3.3): how many of our
requests may be outstanding, and what happens to the peer's requests past the number
we agreed to perform."""

from __future__ import annotations

import pytest
from pair import VERIFICATION, Pair, arrived, message_id

from dicomnet.connection import WindowFullError
from dicomnet.dimse import CEchoRQ


def echo(message_id: int = 0) -> CEchoRQ:
    return CEchoRQ(message_id=message_id, affected_sop_class_uid=VERIFICATION)


def pipelined(pair: Pair, count: int) -> bytes:
    """``count`` C-ECHO-RQs with IDs 1..count, as a peer that ignores the window
    would send them, in one chunk."""
    return b"".join(pair.encode(echo(i)) for i in range(1, count + 1))


def test_our_requests_past_max_invoke_raise_window_full() -> None:
    pair = Pair.established(invoked=2, performed=2)
    assert pair.requestor.negotiated is not None
    assert pair.requestor.negotiated.max_invoke == 2
    pair.requestor.start_request(echo())
    pair.requestor.start_request(echo())
    assert not pair.requestor.can_invoke
    with pytest.raises(WindowFullError):
        pair.requestor.start_request(echo())
    assert pair.requestor.outstanding == 2
    assert pair.requestor.message_ids_in_use == 2  # the refused one took no ID


def test_end_request_frees_a_place_in_our_window() -> None:
    pair = Pair.established()
    first = pair.requestor.start_request(echo())
    assert not pair.requestor.can_invoke
    pair.requestor.end_request(message_id(first))
    assert pair.requestor.can_invoke
    pair.requestor.start_request(echo())


def test_a_window_of_0_is_unlimited_our_side() -> None:
    pair = Pair.established(invoked=0, performed=0)
    for _ in range(300):
        pair.requestor.start_request(echo())
    assert pair.requestor.can_invoke and pair.requestor.outstanding == 300


def test_a_window_of_0_is_unlimited_the_peers_side() -> None:
    pair = Pair.established(invoked=0, performed=0)
    events = pair.acceptor.receive_data(pipelined(pair, 50))
    assert len(arrived(events)) == 50
    assert pair.acceptor.performing == 50 and not pair.acceptor.holding


def test_the_peers_requests_past_max_perform_are_held_and_parsing_pauses() -> None:
    pair = Pair.established(invoked=2, performed=2)
    data = pipelined(pair, 5)
    events = pair.acceptor.receive_data(data)
    # Two are performed, the third is held, and nothing after it is parsed yet.
    assert [message_id(e.message) for e in arrived(events)] == [1, 2]
    assert pair.acceptor.performing == 2
    assert pair.acceptor.holding and pair.acceptor.paused
    assert pair.acceptor.buffered == len(data) * 2 // 5  # requests 4 and 5, unread
    assert pair.acceptor.release_held() == []  # no place free yet
    assert pair.acceptor.receive_data(b"") == []  # nor any reading past it


def test_held_requests_start_in_order_as_request_done_frees_places() -> None:
    pair = Pair.established(invoked=2, performed=2)
    pair.acceptor.receive_data(pipelined(pair, 5))
    started: list[int] = []
    for done in (2, 1, 3, 4, 5):
        pair.acceptor.request_done(done)
        started += [message_id(e.message) for e in arrived(pair.acceptor.release_held())]
        if not pair.acceptor.holding:
            started += [message_id(e.message)
                        for e in arrived(pair.acceptor.receive_data(b""))]
        assert pair.acceptor.performing <= 2
    assert started == [3, 4, 5]
    assert pair.acceptor.performing == 0 and not pair.acceptor.paused


def test_pipelined_requests_in_one_chunk_come_one_at_a_time_in_order() -> None:
    # The case that deadlocked the old driver: a peer sends many requests in one
    # write with a window of 1; each must start only when the one before is done.
    pair = Pair.established()
    count = 20
    events = pair.acceptor.receive_data(pipelined(pair, count))
    order = [message_id(e.message) for e in arrived(events)]
    assert order == [1]
    for done in range(1, count + 1):
        assert pair.acceptor.performing == 1
        pair.acceptor.request_done(done)
        events = pair.acceptor.release_held()
        if not pair.acceptor.holding:
            events += pair.acceptor.receive_data(b"")
        order += [message_id(e.message) for e in arrived(events)]
    assert order == list(range(1, count + 1))
    assert pair.acceptor.performing == 0 and pair.acceptor.buffered == 0


def test_request_done_for_an_unknown_request_frees_nothing() -> None:
    pair = Pair.established()
    pair.acceptor.receive_data(pipelined(pair, 2))
    pair.acceptor.request_done(99)
    assert pair.acceptor.performing == 1 and pair.acceptor.holding
    assert pair.acceptor.release_held() == []


def test_two_requests_with_one_message_id_each_take_a_place() -> None:
    # A peer reusing a Message ID (a fault of its own) must not make the window
    # forget a request being performed.
    pair = Pair.established(invoked=2, performed=2)
    twice = pair.encode(echo(7)) + pair.encode(echo(7))
    assert len(arrived(pair.acceptor.receive_data(twice))) == 2
    assert pair.acceptor.performing == 2
    pair.acceptor.request_done(7)
    assert pair.acceptor.performing == 1
    pair.acceptor.request_done(7)
    assert pair.acceptor.performing == 0
