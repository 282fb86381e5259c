"""How an association ends on the sans-IO connection: A-RELEASE both ways and in
collision (PS3.8 §7.2, §9.2.3), A-ABORT both ways (PS3.8 §7.3), the transport closing
under it, and what the peer sends that cannot be accepted (PS3.8 §9.3.8)."""

from __future__ import annotations

import pytest
from pair import VERIFICATION, Pair, pdus

from dicomnet.connection_events import (
    Aborted,
    ConnectionEvent,
    Outcome,
    Released,
    ReleaseRequested,
)
from dicomnet.dimse import CEchoRQ
from dicomnet.errors import (
    AssociationAbortedError,
    AssociationReleasedError,
)
from dicomnet.pdu import (
    PDV,
    AAbort,
    AbortReason,
    AbortSource,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    encode_pdu,
)
from dicomnet.ul import State

ECHO = CEchoRQ(affected_sop_class_uid=VERIFICATION)


def kinds(events: list[ConnectionEvent]) -> list[type]:
    return [type(e) for e in events]


# -- release -----------------------------------------------------------------------------


def test_the_requestor_releases() -> None:
    pair = Pair.established()
    assert pair.requestor.release()
    data = pair.requestor.data_to_send()
    assert pdus(data) == [AReleaseRQ()]
    events = pair.acceptor.receive_data(data)
    assert events == [ReleaseRequested(collision=False), Released()]
    assert pair.acceptor.outcome is Outcome.RELEASED
    # AR-4: the acceptor answers and waits (ARTIM) for the requestor to close.
    assert pair.acceptor.state is State.STA13 and pair.acceptor.artim_running
    assert not pair.acceptor.wants_close
    answer = pair.acceptor.data_to_send()
    assert pdus(answer) == [AReleaseRP()]
    assert pair.requestor.receive_data(answer) == [Released()]
    assert pair.requestor.outcome is Outcome.RELEASED
    assert pair.requestor.wants_close  # AR-3: the requestor closes
    assert pair.requestor.transport_closed() == []
    assert pair.acceptor.transport_closed() == []
    assert isinstance(pair.requestor.ended_error(), AssociationReleasedError)


def test_the_acceptor_releases() -> None:
    # PS3.8 §7.2: either side may ask.
    pair = Pair.established()
    assert pair.acceptor.release()
    events = pair.to_requestor()
    assert events == [ReleaseRequested(collision=False), Released()]
    assert pair.to_acceptor() == [Released()]
    assert pair.acceptor.wants_close
    assert pair.requestor.outcome is pair.acceptor.outcome is Outcome.RELEASED


@pytest.mark.parametrize("first", ["requestor", "acceptor"])
def test_a_release_collision_ends_released_on_both_sides(first: str) -> None:
    # PS3.8 §9.2.3: both send A-RELEASE-RQ; the requestor answers first (AR-8, Sta9 ->
    # AR-9 Sta11), the acceptor answers once it has the requestor's A-RELEASE-RP
    # (AR-8, Sta10 -> AR-10 Sta12 -> AR-4). Whichever RQ is read first, both end
    # RELEASED, each with one Released event.
    pair = Pair.established()
    assert pair.requestor.release() and pair.acceptor.release()
    to_acceptor, to_requestor = pair.requestor.data_to_send(), pair.acceptor.data_to_send()
    events: dict[str, list[ConnectionEvent]] = {"requestor": [], "acceptor": []}
    if first == "requestor":
        events["requestor"] += pair.requestor.receive_data(to_requestor)
        events["acceptor"] += pair.acceptor.receive_data(to_acceptor)
    else:
        events["acceptor"] += pair.acceptor.receive_data(to_acceptor)
        events["requestor"] += pair.requestor.receive_data(to_requestor)
    for _ in range(4):  # a few rounds: each side answers what it read
        events["acceptor"] += pair.to_acceptor()
        events["requestor"] += pair.to_requestor()
    for side in ("requestor", "acceptor"):
        assert ReleaseRequested(collision=True) in events[side], side
        assert events[side].count(Released()) == 1, side
        assert not any(isinstance(e, Aborted) for e in events[side]), side
    assert pair.requestor.outcome is pair.acceptor.outcome is Outcome.RELEASED
    # The requestor's transport closes (AR-3), the acceptor waits in Sta13 for it.
    assert pair.requestor.wants_close
    assert pair.acceptor.state is State.STA13


def test_release_when_not_established_sends_nothing() -> None:
    pair = Pair()
    assert not pair.requestor.release()
    pair.open()
    assert not pair.acceptor.release()  # deciding (Sta3)
    assert pair.acceptor.data_to_send() == b""
    pair.accept()
    assert pair.requestor.release()
    assert not pair.requestor.release()  # already asked (Sta7)
    assert pdus(pair.requestor.data_to_send()) == [AReleaseRQ()]


# -- abort ---------------------------------------------------------------------------------


def test_a_local_abort_in_sta2_sends_nothing_and_closes() -> None:
    # PS3.8 Table 9-10 has no A-ABORT request in Sta2: there is no association yet.
    pair = Pair()
    pair.acceptor.transport_accepted()
    pair.acceptor.abort()
    assert pair.acceptor.data_to_send() == b""
    assert pair.acceptor.wants_close and pair.acceptor.outcome is Outcome.ABORTED


def test_a_local_abort_when_established_sends_a_abort_and_closes() -> None:
    pair = Pair.established()
    pair.requestor.abort(AbortSource.SERVICE_USER, AbortReason.NOT_SPECIFIED)
    data = pair.requestor.data_to_send()
    assert pdus(data) == [AAbort(source=AbortSource.SERVICE_USER,
                                 reason=AbortReason.NOT_SPECIFIED)]
    assert pair.requestor.wants_close and pair.requestor.outcome is Outcome.ABORTED
    with pytest.raises(AssociationAbortedError):
        pair.requestor.check_sendable()


def test_an_a_abort_from_the_peer_ends_the_association() -> None:
    pair = Pair.established()
    pair.requestor.abort()
    events = pair.to_acceptor()
    assert len(events) == 1 and isinstance(events[0], Aborted)
    assert not events[0].local
    assert events[0].source == AbortSource.SERVICE_USER
    assert pair.acceptor.outcome is Outcome.ABORTED
    assert isinstance(pair.acceptor.error, AssociationAbortedError)
    assert pair.acceptor.wants_close  # AA-3
    with pytest.raises(AssociationAbortedError):
        pair.acceptor.check_sendable()


def test_an_abort_while_the_peer_releases_ends_aborted_on_both_sides() -> None:
    # The acceptor aborts before reading the requestor's A-RELEASE-RQ.
    pair = Pair.established()
    assert pair.requestor.release()
    pair.acceptor.abort()
    events = pair.to_requestor()  # the A-ABORT, in Sta7
    assert kinds(events) == [Aborted] and not events[0].local  # type: ignore[union-attr]
    assert pair.requestor.outcome is Outcome.ABORTED
    # The A-RELEASE-RQ reaches an acceptor that aborted (Sta13): ignored, closed.
    assert pair.to_acceptor() == []
    assert pair.acceptor.outcome is Outcome.ABORTED and pair.acceptor.wants_close
    assert pair.acceptor.data_to_send() == b""  # no A-RELEASE-RP


def test_the_transport_closing_under_an_association_aborts_it() -> None:
    pair = Pair.established()
    events = pair.acceptor.transport_closed()
    assert len(events) == 1 and isinstance(events[0], Aborted)
    assert "closed without A-RELEASE" in events[0].text and not events[0].local
    assert events[0].source is None and events[0].reason is None
    assert pair.acceptor.outcome is Outcome.ABORTED
    assert isinstance(pair.acceptor.error, AssociationAbortedError)
    assert pair.acceptor.state is State.STA1
    assert pair.acceptor.transport_closed() == []  # once


@pytest.mark.parametrize(("junk", "reason"), [
    # PDU type 0x99 does not exist: unrecognized PDU.
    (b"\x99\x00\x00\x00\x00\x00", AbortReason.UNRECOGNIZED_PDU),
    # A P-DATA-TF whose PDV item claims more bytes than the PDU holds.
    (b"\x04\x00\x00\x00\x00\x06" + b"\x00\x00\x00\x10\x01\x03",
     AbortReason.INVALID_PDU_PARAMETER_VALUE),
], ids=["unknown type", "bad PDV length"])
def test_an_invalid_pdu_is_answered_with_a_abort_giving_the_reason(
        junk: bytes, reason: AbortReason) -> None:
    # PS3.8 §9.3.8 (A-ABORT reason) and Table 9-10 Evt19: AA-8, A-ABORT and close.
    pair = Pair.established()
    events = pair.acceptor.receive_data(junk)
    assert len(events) == 1 and isinstance(events[0], Aborted)
    assert events[0].local and events[0].source == AbortSource.SERVICE_PROVIDER
    assert events[0].reason == reason
    assert pdus(pair.acceptor.data_to_send()) == [
        AAbort(source=AbortSource.SERVICE_PROVIDER, reason=reason)]
    assert pair.acceptor.wants_close and pair.acceptor.outcome is Outcome.ABORTED
    assert "invalid PDU" in str(pair.acceptor.error)


def test_a_data_set_fragment_without_its_command_aborts_the_association() -> None:
    # PS3.7 §6.3.1: a message is its command, then its data set. A data set PDV with
    # no command before it is an unexpected PDU parameter (PS3.8 §9.3.8, source 2).
    pair = Pair.established()
    stray = PDataTF((PDV(context_id=1, is_command=False, is_last=True, data=b"\x00" * 8),))
    events = pair.acceptor.receive_data(encode_pdu(stray))
    assert len(events) == 1 and isinstance(events[0], Aborted)
    assert events[0].local and "bad DIMSE message" in events[0].text
    assert pdus(pair.acceptor.data_to_send()) == [
        AAbort(source=AbortSource.SERVICE_PROVIDER,
               reason=AbortReason.UNEXPECTED_PDU_PARAMETER)]
    assert pair.acceptor.wants_close and pair.acceptor.outcome is Outcome.ABORTED


def test_nothing_more_is_read_after_an_abort_in_the_same_chunk() -> None:
    pair = Pair.established()
    stray = PDataTF((PDV(context_id=1, is_command=False, is_last=True, data=b"\x00" * 8),))
    echo = pair.encode(CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION))
    events = pair.acceptor.receive_data(encode_pdu(stray) + echo)
    assert kinds(events) == [Aborted]


def test_after_an_abort_no_message_may_be_sent() -> None:
    pair = Pair.established()
    pair.acceptor.abort()
    with pytest.raises(AssociationAbortedError):
        pair.acceptor.check_sendable()
    with pytest.raises(AssociationAbortedError):
        pair.acceptor.message_sent()
    with pytest.raises(AssociationAbortedError):
        pair.acceptor.start_request(CEchoRQ(affected_sop_class_uid=VERIFICATION))


def test_after_release_no_message_may_be_sent() -> None:
    pair = Pair.established()
    pair.requestor.release()
    pair.to_acceptor()
    pair.to_requestor()
    with pytest.raises(AssociationReleasedError):
        pair.requestor.check_sendable()


def test_before_the_association_is_accepted_no_message_may_be_sent() -> None:
    # P-DATA requests exist in Sta6 and Sta8 only (PS3.8 Table 9-10, DT-1/AR-7).
    pair = Pair()
    pair.open()
    with pytest.raises(AssociationAbortedError):
        pair.acceptor.check_sendable()
    with pytest.raises(AssociationAbortedError):
        pair.acceptor.message_sent()
    with pytest.raises(AssociationAbortedError):
        pair.requestor.start_request(ECHO)
