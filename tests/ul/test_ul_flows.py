"""Hand-written walks through the main flows of PS3.8 §9.2, independent of the
table-driven cell tests: one machine at a time, and two machines wired together."""

# mypy narrows ul.state after each assert; the next transition changes it.
# mypy: disable-error-code="comparison-overlap"

from __future__ import annotations

import pytest
from ul_helpers import AC, DATA, OTHER_DATA, RJ, RQ, RQ_VERSION_0, USER_ABORT, Wire

from dicomnet.errors import ProtocolStateError
from dicomnet.pdu.constants import AbortReason, AbortSource
from dicomnet.pdu.pdus import AAbort, AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ
from dicomnet.ul import (
    AbortIndication,
    AssociateAccepted,
    AssociateIndication,
    AssociateRejected,
    CloseTransport,
    ConnectTransport,
    DataIndication,
    Event,
    ReleaseConfirmed,
    ReleaseIndication,
    SendPDU,
    StartARTIM,
    State,
    StopARTIM,
    UpperLayer,
    event_for_pdu,
    protocol_version_check,
)


def requestor_in_sta6() -> UpperLayer:
    ul = UpperLayer()
    ul.associate_request(RQ)
    ul.transport_connected()
    ul.pdu_received(AC)
    assert ul.state is State.STA6
    return ul


def acceptor_in_sta6() -> UpperLayer:
    ul = UpperLayer()
    ul.transport_accepted()
    ul.pdu_received(RQ)
    ul.associate_accept(AC)
    assert ul.state is State.STA6
    return ul


# -- requestor ------------------------------------------------------------------------


def test_requestor_associates_exchanges_data_and_releases() -> None:
    ul = UpperLayer()
    assert (ul.state, ul.is_requestor, ul.closed, ul.established) == (
        State.STA1, None, False, False)

    assert ul.associate_request(RQ) == [ConnectTransport()]
    assert (ul.state, ul.is_requestor) == (State.STA4, True)
    assert ul.transport_connected() == [SendPDU(RQ)]
    assert ul.state is State.STA5
    assert ul.pdu_received(AC) == [AssociateAccepted(AC)]
    assert ul.state is State.STA6 and ul.established

    assert ul.send_data(DATA) == [SendPDU(DATA)]
    assert ul.pdu_received(OTHER_DATA) == [DataIndication(OTHER_DATA)]
    assert ul.state is State.STA6

    assert ul.release_request() == [SendPDU(AReleaseRQ())]
    assert ul.state is State.STA7 and not ul.established
    # AR-6: the peer may still send data it had under way.
    assert ul.pdu_received(DATA) == [DataIndication(DATA)]
    assert ul.state is State.STA7
    # ...but we may not (blank cell Sta7-Evt9).
    with pytest.raises(ProtocolStateError):
        ul.send_data(DATA)
    assert ul.pdu_received(AReleaseRP()) == [ReleaseConfirmed(), CloseTransport()]
    assert ul.state is State.STA1 and ul.closed


def test_requestor_is_rejected() -> None:
    ul = UpperLayer()
    ul.associate_request(RQ)
    ul.transport_connected()
    rj = AAssociateRJ(result=2, source=3, reason=1)
    # AE-4: the confirmation first, then close.
    assert ul.pdu_received(rj) == [AssociateRejected(rj), CloseTransport()]
    assert ul.state is State.STA1 and ul.closed


def test_requestor_aborts_while_connecting_sends_nothing() -> None:
    ul = UpperLayer()
    ul.associate_request(RQ)
    # AA-2 in Sta4: no connection yet, so no A-ABORT PDU, just close.
    assert ul.abort_request() == [StopARTIM(), CloseTransport()]
    assert ul.state is State.STA1


def test_connection_fails_while_connecting() -> None:
    ul = UpperLayer()
    ul.associate_request(RQ)
    assert ul.transport_closed() == [AbortIndication(None, provider=True)]
    assert ul.state is State.STA1


# -- acceptor -------------------------------------------------------------------------


def test_acceptor_accepts_answers_data_and_the_peer_releases() -> None:
    ul = UpperLayer()
    assert ul.transport_accepted() == [StartARTIM()]
    assert (ul.state, ul.is_requestor) == (State.STA2, False)
    assert ul.pdu_received(RQ) == [StopARTIM(), AssociateIndication(RQ)]
    assert ul.state is State.STA3
    assert ul.associate_accept(AC) == [SendPDU(AC)]
    assert ul.established

    assert ul.pdu_received(AReleaseRQ()) == [ReleaseIndication(collision=False)]
    assert ul.state is State.STA8
    # AR-7: we may still send what we owe.
    assert ul.send_data(DATA) == [SendPDU(DATA)]
    assert ul.state is State.STA8
    # AR-4: the peer closes the connection; ARTIM bounds the wait.
    assert ul.release_response() == [SendPDU(AReleaseRP()), StartARTIM()]
    assert ul.state is State.STA13
    assert ul.transport_closed() == [StopARTIM()]  # AR-5
    assert ul.state is State.STA1 and ul.closed


def test_acceptor_user_rejects() -> None:
    ul = UpperLayer()
    ul.transport_accepted()
    ul.pdu_received(RQ)
    assert ul.associate_reject(RJ) == [SendPDU(RJ), StartARTIM()]  # AE-8
    assert ul.state is State.STA13
    assert ul.transport_closed() == [StopARTIM()]
    assert ul.state is State.STA1


def test_protocol_version_0_is_rejected_by_the_provider() -> None:
    ul = UpperLayer()
    ul.transport_accepted()
    expected_rj = AAssociateRJ(result=1, source=2, reason=2)
    # AE-6, otherwise-branch: stop ARTIM, A-ASSOCIATE-RJ, start ARTIM; no indication.
    assert ul.pdu_received(RQ_VERSION_0) == [StopARTIM(), SendPDU(expected_rj), StartARTIM()]
    assert ul.state is State.STA13
    # The peer does not close: ARTIM runs out and we close (AA-2).
    assert ul.artim_expired() == [StopARTIM(), CloseTransport()]
    assert ul.state is State.STA1 and ul.closed


@pytest.mark.parametrize(("version", "accepted"), [(0x0001, True), (0x0003, True),
                                                   (0x0000, False), (0x0002, False),
                                                   (0xFFFE, False), (0xFFFF, True)])
def test_default_check_tests_only_bit_0(version: int, accepted: bool) -> None:
    rq = AAssociateRQ(called_ae_title="A", calling_ae_title="B", protocol_version=version)
    assert (protocol_version_check(rq) is None) is accepted


def test_custom_accept_check_sees_the_request_and_its_answer_is_sent() -> None:
    seen: list[AAssociateRQ] = []
    busy = AAssociateRJ(result=2, source=3, reason=1)

    def check(rq: AAssociateRQ) -> AAssociateRJ | None:
        seen.append(rq)
        return busy if rq.calling_ae_title == "ECHOSCU" else None

    ul = UpperLayer(accept_check=check)
    ul.transport_accepted()
    assert ul.pdu_received(RQ) == [StopARTIM(), SendPDU(busy), StartARTIM()]
    assert seen == [RQ]

    other = AAssociateRQ(called_ae_title="X", calling_ae_title="Y", protocol_version=0)
    ul2 = UpperLayer(accept_check=check)  # the custom check replaces the default
    ul2.transport_accepted()
    assert ul2.pdu_received(other) == [StopARTIM(), AssociateIndication(other)]


def test_accept_check_that_raises_leaves_the_machine_unchanged() -> None:
    def broken(rq: AAssociateRQ) -> AAssociateRJ | None:
        raise RuntimeError("boom")

    ul = UpperLayer(accept_check=broken)
    ul.transport_accepted()
    with pytest.raises(RuntimeError):
        ul.pdu_received(RQ)
    assert ul.state is State.STA2
    assert ul.artim_expired() == [StopARTIM(), CloseTransport()]


# -- ARTIM ----------------------------------------------------------------------------


def test_artim_expires_before_any_request() -> None:
    ul = UpperLayer()
    ul.transport_accepted()
    assert ul.artim_expired() == [StopARTIM(), CloseTransport()]
    assert ul.state is State.STA1


def test_artim_expires_after_release_response() -> None:
    ul = acceptor_in_sta6()
    ul.pdu_received(AReleaseRQ())
    ul.release_response()
    assert ul.state is State.STA13
    assert ul.artim_expired() == [StopARTIM(), CloseTransport()]
    assert ul.state is State.STA1


def test_artim_may_not_expire_in_sta6() -> None:
    ul = requestor_in_sta6()
    with pytest.raises(ProtocolStateError, match="Evt18"):
        ul.artim_expired()
    assert ul.state is State.STA6


def test_peer_closes_before_sending_a_request() -> None:
    ul = UpperLayer()
    ul.transport_accepted()
    assert ul.transport_closed() == [StopARTIM()]  # AA-5
    assert ul.state is State.STA1


# -- release collision, one side at a time --------------------------------------------


def test_release_collision_as_requestor() -> None:
    ul = requestor_in_sta6()
    assert ul.release_request() == [SendPDU(AReleaseRQ())]
    assert ul.pdu_received(AReleaseRQ()) == [ReleaseIndication(collision=True)]
    assert ul.state is State.STA9  # AR-8, association-requestor
    assert ul.release_response() == [SendPDU(AReleaseRP())]  # AR-9
    assert ul.state is State.STA11
    assert ul.pdu_received(AReleaseRP()) == [ReleaseConfirmed(), CloseTransport()]
    assert ul.state is State.STA1


def test_release_collision_as_acceptor() -> None:
    ul = acceptor_in_sta6()
    ul.release_request()
    assert ul.pdu_received(AReleaseRQ()) == [ReleaseIndication(collision=True)]
    assert ul.state is State.STA10  # AR-8, not the requestor
    # The acceptor side must not answer before the peer's A-RELEASE-RP.
    with pytest.raises(ProtocolStateError):
        ul.release_response()
    assert ul.pdu_received(AReleaseRP()) == [ReleaseConfirmed()]  # AR-10
    assert ul.state is State.STA12
    assert ul.release_response() == [SendPDU(AReleaseRP()), StartARTIM()]  # AR-4
    assert ul.state is State.STA13
    assert ul.transport_closed() == [StopARTIM()]
    assert ul.state is State.STA1


# -- two machines on one wire -----------------------------------------------------------


def test_wired_association_and_release() -> None:
    wire = Wire()
    wire.associate()
    req, acc = wire.requestor, wire.acceptor
    assert req.established and acc.established

    sent = req.send_data(DATA)
    assert wire.deliver(req, sent) == [DataIndication(DATA)]
    sent = req.release_request()
    assert wire.deliver(req, sent) == [ReleaseIndication(collision=False)]
    sent = acc.release_response()
    assert wire.deliver(acc, sent) == [ReleaseConfirmed(), CloseTransport()]
    # The requestor closed the connection; the acceptor sees it close.
    assert acc.transport_closed() == [StopARTIM()]
    assert req.closed and acc.closed


def test_wired_release_collision() -> None:
    wire = Wire()
    wire.associate()
    req, acc = wire.requestor, wire.acceptor
    # Both ask to release at once: each A-RELEASE-RQ crosses the other on the wire.
    req_sent = req.release_request()
    acc_sent = acc.release_request()
    assert wire.deliver(acc, acc_sent) == [ReleaseIndication(collision=True)]
    assert wire.deliver(req, req_sent) == [ReleaseIndication(collision=True)]
    assert (req.state, acc.state) == (State.STA9, State.STA10)

    # PS3.8 §9.2 collision: the requestor answers first...
    sent = req.release_response()
    assert req.state is State.STA11
    assert wire.deliver(req, sent) == [ReleaseConfirmed()]
    assert acc.state is State.STA12
    # ...then the acceptor, whose A-RELEASE-RP completes the requestor's release.
    sent = acc.release_response()
    assert acc.state is State.STA13
    assert wire.deliver(acc, sent) == [ReleaseConfirmed(), CloseTransport()]
    assert req.state is State.STA1
    assert acc.transport_closed() == [StopARTIM()]
    assert acc.state is State.STA1


def test_wired_abort_by_requestor() -> None:
    wire = Wire()
    wire.associate()
    req, acc = wire.requestor, wire.acceptor
    sent = req.abort_request()
    assert sent == [SendPDU(USER_ABORT), StartARTIM()]  # AA-1
    assert req.state is State.STA13
    assert wire.deliver(req, sent) == [AbortIndication(USER_ABORT, provider=False),
                                      CloseTransport()]  # AA-3
    assert acc.state is State.STA1
    assert req.transport_closed() == [StopARTIM()]
    assert req.state is State.STA1


def test_wired_abort_by_acceptor_with_provider_source() -> None:
    wire = Wire()
    wire.associate()
    req, acc = wire.requestor, wire.acceptor
    abort = AAbort(source=AbortSource.SERVICE_PROVIDER, reason=AbortReason.UNEXPECTED_PDU)
    sent = acc.abort_request(abort)
    assert sent == [SendPDU(abort), StartARTIM()]
    assert wire.deliver(acc, sent) == [AbortIndication(abort, provider=True),
                                      CloseTransport()]
    assert req.state is State.STA1


def test_wired_rejection_by_the_provider() -> None:
    wire = Wire()
    req, acc = wire.requestor, wire.acceptor
    req.associate_request(RQ_VERSION_0)
    acc.transport_accepted()
    sent = req.transport_connected()
    out = wire.deliver(req, sent)
    rj = AAssociateRJ(result=1, source=2, reason=2)
    assert out == [StopARTIM(), SendPDU(rj), StartARTIM()]
    assert wire.deliver(acc, out) == [AssociateRejected(rj), CloseTransport()]
    assert acc.transport_closed() == [StopARTIM()]


# -- aborts ---------------------------------------------------------------------------


def test_abort_request_defaults_to_service_user_source() -> None:
    ul = requestor_in_sta6()
    assert ul.abort_request() == [SendPDU(AAbort(source=0, reason=0)), StartARTIM()]
    # AA-6: whatever the peer still sends is ignored while we wait for the close.
    assert ul.pdu_received(DATA) == []
    assert ul.state is State.STA13
    # A second abort is a misuse: the association no longer exists.
    with pytest.raises(ProtocolStateError):
        ul.abort_request()


@pytest.mark.parametrize("source", [0, 1, 2])
def test_received_abort_in_sta6(source: int) -> None:
    ul = acceptor_in_sta6()
    abort = AAbort(source=source, reason=0 if source != 2 else 6)
    assert ul.pdu_received(abort) == [AbortIndication(abort, provider=source == 2),
                                      CloseTransport()]
    assert ul.state is State.STA1


def test_transport_closed_under_an_association_is_a_provider_abort() -> None:
    ul = requestor_in_sta6()
    assert ul.transport_closed() == [AbortIndication(None, provider=True)]  # AA-4
    assert ul.state is State.STA1 and ul.closed


@pytest.mark.parametrize("reason", [AbortReason.UNRECOGNIZED_PDU,
                                    AbortReason.INVALID_PDU_PARAMETER_VALUE])
def test_invalid_pdu_in_sta6(reason: int) -> None:
    ul = requestor_in_sta6()
    abort = AAbort(source=AbortSource.SERVICE_PROVIDER, reason=reason)
    # AA-8: A-ABORT (service-provider), A-P-ABORT indication, ARTIM, in that order.
    assert ul.invalid_pdu_received(reason) == [
        SendPDU(abort), AbortIndication(abort, provider=True), StartARTIM()]
    assert ul.state is State.STA13


def test_invalid_pdu_default_reason_is_unrecognized_pdu() -> None:
    ul = acceptor_in_sta6()
    abort = AAbort(source=2, reason=1)
    assert ul.invalid_pdu_received()[0] == SendPDU(abort)


def test_unexpected_pdu_in_sta6_aborts_with_unexpected_pdu() -> None:
    ul = acceptor_in_sta6()
    abort = AAbort(source=2, reason=2)
    assert ul.pdu_received(AC) == [SendPDU(abort), AbortIndication(abort, provider=True),
                                   StartARTIM()]
    assert ul.state is State.STA13


@pytest.mark.parametrize("pdu", [AC, RJ, DATA, AReleaseRQ(), AReleaseRP()])
def test_unexpected_pdu_before_the_request_is_aa1(pdu: object) -> None:
    ul = UpperLayer()
    ul.transport_accepted()
    # AA-1 says "service-user source", and Table 9-26 then wants reason 00H.
    assert ul.pdu_received(pdu) == [SendPDU(AAbort(0, 0)), StartARTIM()]  # type: ignore[arg-type]
    assert ul.state is State.STA13


def test_invalid_pdu_before_the_request_is_aa1_whatever_the_reason() -> None:
    ul = UpperLayer()
    ul.transport_accepted()
    assert ul.invalid_pdu_received(AbortReason.INVALID_PDU_PARAMETER_VALUE) == [
        SendPDU(AAbort(0, 0)), StartARTIM()]


def test_request_or_garbage_after_the_association_ended_is_aa7() -> None:
    ul = acceptor_in_sta6()
    ul.pdu_received(AReleaseRQ())
    ul.release_response()
    assert ul.state is State.STA13
    assert ul.pdu_received(RQ) == [SendPDU(AAbort(2, 2))]
    assert ul.invalid_pdu_received(AbortReason.UNRECOGNIZED_PDU) == [
        SendPDU(AAbort(2, 1))]
    assert ul.state is State.STA13
    assert ul.pdu_received(AAbort(0, 0)) == [StopARTIM(), CloseTransport()]  # AA-2


# -- the API itself ---------------------------------------------------------------------


def test_machine_is_reusable_after_it_closed() -> None:
    ul = requestor_in_sta6()
    ul.transport_closed()
    assert ul.closed and ul.is_requestor is True
    assert ul.transport_accepted() == [StartARTIM()]
    assert ul.is_requestor is False and not ul.closed
    assert ul.pdu_received(RQ) == [StopARTIM(), AssociateIndication(RQ)]


def test_requestor_sends_the_request_it_was_given() -> None:
    ul = UpperLayer()
    rq = AAssociateRQ(called_ae_title="PACS", calling_ae_title="ME")
    ul.associate_request(rq)
    assert ul.transport_connected() == [SendPDU(rq)]


def test_data_request_checks_the_state_and_sends_nothing_itself() -> None:
    ul = requestor_in_sta6()
    assert ul.data_request() == []
    assert ul.state is State.STA6
    ul.release_request()
    with pytest.raises(ProtocolStateError):
        ul.data_request()
    ul2 = acceptor_in_sta6()
    ul2.pdu_received(AReleaseRQ())
    assert ul2.data_request() == []  # AR-7
    assert ul2.state is State.STA8


def test_handle_is_the_generic_entry() -> None:
    ul = UpperLayer()
    assert ul.handle(Event.EVT1, RQ) == [ConnectTransport()]
    assert ul.handle(Event.EVT2) == [SendPDU(RQ)]
    assert ul.handle(Event.EVT3, AC) == [AssociateAccepted(AC)]
    out = ul.handle(Event.EVT19, abort_reason=AbortReason.UNEXPECTED_PDU_PARAMETER)
    assert out[0] == SendPDU(AAbort(2, AbortReason.UNEXPECTED_PDU_PARAMETER))


@pytest.mark.parametrize(
    ("event", "pdu"),
    [(Event.EVT1, None), (Event.EVT1, AC), (Event.EVT2, RQ), (Event.EVT3, RJ),
     (Event.EVT16, None), (Event.EVT9, AC), (Event.EVT19, DATA), (Event.EVT15, RJ)],
)
def test_handle_refuses_a_pdu_that_does_not_belong_to_the_event(
        event: Event, pdu: object) -> None:
    ul = UpperLayer()
    with pytest.raises(TypeError):
        ul.handle(event, pdu)  # type: ignore[arg-type]
    assert ul.state is State.STA1


def test_handle_refuses_a_non_event() -> None:
    with pytest.raises(TypeError):
        UpperLayer().handle(1)  # type: ignore[arg-type]


def test_blank_cell_error_names_state_and_event() -> None:
    ul = UpperLayer()
    with pytest.raises(ProtocolStateError) as info:
        ul.release_request()
    text = str(info.value)
    assert "Evt11" in text and "Sta1" in text and "A-RELEASE Request primitive" in text
    assert ul.state is State.STA1 and not ul.closed


def test_event_for_pdu() -> None:
    assert event_for_pdu(AC) is Event.EVT3
    assert event_for_pdu(RJ) is Event.EVT4
    assert event_for_pdu(RQ) is Event.EVT6
    assert event_for_pdu(DATA) is Event.EVT10
    assert event_for_pdu(AReleaseRQ()) is Event.EVT12
    assert event_for_pdu(AReleaseRP()) is Event.EVT13
    assert event_for_pdu(USER_ABORT) is Event.EVT16
    with pytest.raises(TypeError):
        event_for_pdu("not a pdu")  # type: ignore[arg-type]


def test_repr_tells_state_and_role() -> None:
    assert repr(requestor_in_sta6()) == "<UpperLayer Sta6 requestor>"
    assert repr(UpperLayer()) == "<UpperLayer Sta1 unused>"
