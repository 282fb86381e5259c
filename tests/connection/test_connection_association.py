"""Opening an association on the sans-IO connection: A-ASSOCIATE-RQ, -AC, -RJ and
ARTIM (PS3.8 §7.1, §9.2, Table 9-10), two connections wired in memory."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pair import VERIFICATION, Pair, arrived, pdus

from dicomnet.acse import reject
from dicomnet.connection_events import (
    Aborted,
    AssociateRequested,
    Established,
    Outcome,
    Rejected,
    RequestArrived,
)
from dicomnet.dimse import CEchoRQ
from dicomnet.errors import (
    AssociationAbortedError,
    AssociationRejectedError,
    ProtocolStateError,
)
from dicomnet.pdu import (
    AAbort,
    AAssociateAC,
    AbortReason,
    AbortSource,
    PresentationContextAC,
    encode_pdu,
)
from dicomnet.ul import State

ECHO = CEchoRQ(affected_sop_class_uid=VERIFICATION)


def test_accept_establishes_both_sides_and_puts_the_ac_on_the_wire() -> None:
    pair = Pair()
    requested = pair.open()
    assert requested == [AssociateRequested(pair.rq)]
    before = pair.acceptor.outcome
    assert pair.acceptor.deciding and before is Outcome.NEGOTIATING
    accept, negotiated = pair.answer()
    pair.acceptor.accept(accept, negotiated)
    assert pair.acceptor.established and pair.acceptor.outcome is Outcome.ACCEPTED
    assert pair.acceptor.negotiated == negotiated
    data = pair.acceptor.data_to_send()
    assert [type(p) for p in pdus(data)] == [AAssociateAC]
    events = pair.requestor.receive_data(data)
    assert [type(e) for e in events] == [Established]
    assert pair.requestor.established and pair.requestor.outcome is Outcome.ACCEPTED
    assert pair.requestor.negotiated is not None
    assert set(pair.requestor.negotiated.accepted) == set(negotiated.accepted)
    assert pair.requestor.error is None and pair.acceptor.error is None


def test_reject_ends_both_sides_rejected_and_the_requestor_closes() -> None:
    pair = Pair()
    pair.open()
    rejection = reject(1, 1, 7)  # permanent, service user, called AE title not recognised
    pair.acceptor.reject(rejection)
    assert pair.acceptor.outcome is Outcome.REJECTED
    # AE-8: the A-ASSOCIATE-RJ goes, ARTIM waits for the requestor to close (Sta13).
    assert pair.acceptor.state is State.STA13 and pair.acceptor.artim_running
    data = pair.acceptor.data_to_send()
    assert pdus(data) == [rejection]
    events = pair.requestor.receive_data(data)
    assert events == [Rejected(rejection)]
    assert pair.requestor.outcome is Outcome.REJECTED
    assert pair.requestor.rejection == rejection
    assert isinstance(pair.requestor.error, AssociationRejectedError)
    assert pair.requestor.wants_close  # AE-4: the requestor closes the transport
    assert pair.acceptor.transport_closed() == []  # Sta13 + Evt17: quietly over
    assert pair.acceptor.outcome is Outcome.REJECTED


def test_a_request_behind_the_rq_in_one_chunk_waits_for_the_decision() -> None:
    # PS3.8 §9.2 AE-6: the A-ASSOCIATE-RQ is handed to the user, whose answer decides
    # the state the next PDU is read in; a P-DATA read in Sta3 would be Evt10 there,
    # an abort (AA-8).
    pair = Pair()
    pair.requestor.associate(pair.rq)
    pair.requestor.transport_connected()
    pair.acceptor.transport_accepted()
    echo = Pair.established().encode(CEchoRQ(message_id=1,
                                             affected_sop_class_uid=VERIFICATION))
    events = pair.to_acceptor(extra=echo)
    assert [type(e) for e in events] == [AssociateRequested]
    assert pair.acceptor.deciding and pair.acceptor.paused
    assert pair.acceptor.buffered == len(echo)
    assert pair.acceptor.receive_data(b"") == []  # still undecided: still waiting
    accept, negotiated = pair.answer()
    pair.acceptor.accept(accept, negotiated)
    events = pair.acceptor.receive_data(b"")
    assert not pair.acceptor.paused
    assert [e.message for e in arrived(events)] == [
        CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION)]


def test_a_request_behind_a_rejected_rq_is_never_delivered() -> None:
    pair = Pair()
    pair.requestor.associate(pair.rq)
    pair.requestor.transport_connected()
    pair.acceptor.transport_accepted()
    echo = Pair.established().encode(CEchoRQ(message_id=1,
                                             affected_sop_class_uid=VERIFICATION))
    pair.to_acceptor(extra=echo)
    pair.acceptor.reject(reject(1, 1, 1))
    events = pair.acceptor.receive_data(b"")
    assert not any(isinstance(e, RequestArrived) for e in events)
    assert pair.acceptor.outcome is Outcome.REJECTED


def test_an_unusable_ac_is_answered_with_a_abort_then_close() -> None:
    # PS3.8 Table 9-10: a requestor that cannot use the A-ASSOCIATE-AC aborts (AA-1),
    # it does not just drop the connection.
    pair = Pair()
    pair.open()
    accept, _negotiated = pair.answer()
    bogus = replace(accept, presentation_contexts=(
        *accept.presentation_contexts, PresentationContextAC(99, 0, "1.2.840.10008.1.2")))
    events = pair.requestor.receive_data(encode_pdu(bogus))
    assert len(events) == 1 and isinstance(events[0], Aborted)
    assert events[0].local and "unusable A-ASSOCIATE-AC" in events[0].text
    assert pdus(pair.requestor.data_to_send()) == [
        AAbort(source=AbortSource.SERVICE_USER, reason=AbortReason.NOT_SPECIFIED)]
    assert pair.requestor.wants_close
    assert pair.requestor.outcome is Outcome.ABORTED
    assert isinstance(pair.requestor.error, AssociationAbortedError)
    assert not pair.requestor.established


def test_artim_runs_from_transport_accepted_until_the_rq() -> None:
    # PS3.8 §9.2 AE-5 starts ARTIM, AE-6 stops it.
    pair = Pair()
    assert not pair.acceptor.artim_running
    pair.acceptor.transport_accepted()
    assert pair.acceptor.artim_running and pair.acceptor.artim_starts == 1
    pair.requestor.associate(pair.rq)
    pair.requestor.transport_connected()
    assert not pair.requestor.artim_running  # a requestor has the ACSE timeout instead
    pair.to_acceptor()
    assert not pair.acceptor.artim_running and pair.acceptor.deciding


def test_artim_expiring_in_sta2_closes_without_a_pdu() -> None:
    # PS3.8 Table 9-10, Sta2 + Evt18: AA-2, close; nothing to abort yet.
    pair = Pair()
    pair.acceptor.transport_accepted()
    assert pair.acceptor.artim_expired()
    assert pair.acceptor.wants_close and pair.acceptor.data_to_send() == b""
    assert pair.acceptor.outcome is Outcome.ABORTED
    assert not pair.acceptor.artim_running


def test_artim_expiring_in_sta13_closes_and_keeps_the_outcome() -> None:
    pair = Pair()
    pair.open()
    pair.acceptor.reject(reject(1, 1, 1))
    pair.acceptor.data_to_send()
    starts = pair.acceptor.artim_starts
    assert pair.acceptor.state is State.STA13 and starts == 2  # AE-5, then AE-8
    assert pair.acceptor.artim_expired()
    assert pair.acceptor.wants_close and pair.acceptor.data_to_send() == b""
    assert pair.acceptor.outcome is Outcome.REJECTED


@pytest.mark.parametrize("where", ["never started", "deciding", "established",
                                   "transport closed"])
def test_artim_expired_does_nothing_outside_sta2_and_sta13(where: str) -> None:
    # Evt18 exists in Sta2 and Sta13 only (PS3.8 Table 9-10): a timer that fires just
    # as the state moves on must change nothing.
    pair = Pair()
    if where == "deciding":
        pair.open()
    elif where == "established":
        pair = Pair.established()
    elif where == "transport closed":
        pair.acceptor.transport_accepted()
        pair.acceptor.transport_closed()
    state, outcome = pair.acceptor.state, pair.acceptor.outcome
    assert not pair.acceptor.artim_expired()
    assert pair.acceptor.state is state and pair.acceptor.outcome is outcome
    assert not pair.acceptor.wants_close
    assert pair.acceptor.data_to_send() == b""


def test_artim_expired_after_a_stop_in_sta2_is_ignored() -> None:
    # The driver's timer may fire after the connection stopped it: artim_running says.
    pair = Pair()
    pair.acceptor.transport_accepted()
    pair.acceptor.artim_running = False
    assert not pair.acceptor.artim_expired()
    assert pair.acceptor.state is State.STA2 and not pair.acceptor.wants_close


@pytest.mark.parametrize("decision", ["accept", "reject"])
def test_a_decision_after_the_association_ended_changes_no_outcome(decision: str) -> None:
    # The accept hook may answer after the association was aborted and closed (a
    # server shutting down meanwhile): Evt7/Evt8 have no action in Sta1 (PS3.8 Table
    # 9-10), and an association that ended stays ended (Outcome: "for good").
    pair = Pair()
    pair.open()
    pair.acceptor.abort()
    pair.acceptor.transport_closed()
    with pytest.raises(ProtocolStateError):
        if decision == "accept":
            pair.acceptor.accept(*pair.answer())
        else:
            pair.acceptor.reject(reject(1, 1, 1))
    assert pair.acceptor.outcome is Outcome.ABORTED
    assert pair.acceptor.negotiated is None and pair.acceptor.rejection is None
    assert pair.acceptor.data_to_send() == b""
