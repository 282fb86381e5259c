"""The DICOM upper layer protocol machine (PS3.8 §9.2), sans-IO.

:class:`UpperLayer` is fed events (Evt1-Evt19: local primitives, received PDUs,
transport and timer happenings) and returns the outputs the I/O layer must perform,
in order. Which action an event triggers is never decided here but looked up in
:data:`dicomnet.ul.table.TABLE`, so that the code cannot drift from Table 9-10; this
module only says what each action of §9.2.2 *means* as outputs.

One machine serves one transport connection at a time. It is reusable: Sta1 accepts a
new Evt1 or Evt5 after an association ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from dicomnet.errors import ProtocolStateError
from dicomnet.pdu.constants import (
    AbortReason,
    AbortSource,
    ACSERejectReason,
    RejectResult,
    RejectSource,
)
from dicomnet.pdu.pdus import (
    PDU,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
)
from dicomnet.ul.outputs import (
    AbortIndication,
    AssociateAccepted,
    AssociateIndication,
    AssociateRejected,
    CloseTransport,
    ConnectTransport,
    DataIndication,
    Output,
    ReleaseConfirmed,
    ReleaseIndication,
    SendPDU,
    StartARTIM,
    StopARTIM,
)
from dicomnet.ul.table import NEXT_STATE, TABLE, Action, Event, State

__all__ = ["AcceptCheck", "UpperLayer", "event_for_pdu", "protocol_version_check"]

_Result = tuple[list[Output], State]
"""What an action does: its outputs, in order, and the state it leads to."""

AcceptCheck = Callable[[AAssociateRQ], AAssociateRJ | None]
"""AE-6's test "A-ASSOCIATE-RQ acceptable by service-provider": ``None`` if the request
is acceptable, else the A-ASSOCIATE-RJ to answer it with."""

#: The event each received PDU is (PS3.8 Table 9-10 rows).
_EVENT_FOR_PDU: Final[dict[type[PDU], Event]] = {
    AAssociateAC: Event.EVT3,
    AAssociateRJ: Event.EVT4,
    AAssociateRQ: Event.EVT6,
    PDataTF: Event.EVT10,
    AReleaseRQ: Event.EVT12,
    AReleaseRP: Event.EVT13,
    AAbort: Event.EVT16,
}

#: What ``pdu`` argument each event takes: (PDU class, whether it is required).
#: Events not listed take none. A-RELEASE-RQ/RP carry nothing the actions read, so they
#: may be left out; Evt9 without a PDU is :meth:`UpperLayer.data_request`; Evt15 without
#: one aborts with AAbort(source=0, reason=0).
_ARGUMENT: Final[dict[Event, tuple[type[PDU], bool]]] = {
    Event.EVT1: (AAssociateRQ, True),
    Event.EVT3: (AAssociateAC, True),
    Event.EVT4: (AAssociateRJ, True),
    Event.EVT6: (AAssociateRQ, True),
    Event.EVT7: (AAssociateAC, True),
    Event.EVT8: (AAssociateRJ, True),
    Event.EVT9: (PDataTF, False),
    Event.EVT10: (PDataTF, True),
    Event.EVT12: (AReleaseRQ, False),
    Event.EVT13: (AReleaseRP, False),
    Event.EVT15: (AAbort, False),
    Event.EVT16: (AAbort, True),
}


def event_for_pdu(pdu: PDU) -> Event:
    """The Table 9-10 event that receiving ``pdu`` is (Evt3/4/6/10/12/13/16)."""
    try:
        return _EVENT_FOR_PDU[type(pdu)]
    except KeyError:
        raise TypeError(f"not a PDU: {type(pdu).__name__}") from None


def protocol_version_check(request: AAssociateRQ) -> AAssociateRJ | None:
    """The default AE-6 test: reject a request whose protocol version lacks bit 0.

    PS3.8 §9.3.2, Table 9-11, Protocol-version: "This is Version 1 and shall be
    identified with bit 0 set. A receiver of this PDU implementing only this version of
    the DICOM UL protocol shall only test that bit 0 is set." The reject is the one
    Table 9-21 provides for it: rejected-permanent, DICOM UL service-provider (ACSE
    related function), protocol-version-not-supported.
    """
    if request.protocol_version & 0x0001:
        return None
    return AAssociateRJ(
        result=RejectResult.REJECTED_PERMANENT,
        source=RejectSource.SERVICE_PROVIDER_ACSE,
        reason=ACSERejectReason.PROTOCOL_VERSION_NOT_SUPPORTED,
    )


class UpperLayer:
    """PS3.8 §9.2 upper layer protocol machine for one transport connection.

    Every method fires one event and returns the outputs of the action Table 9-10
    gives for (current state, event), in the order they must be performed. An event
    in a blank cell raises :class:`~dicomnet.errors.ProtocolStateError` and leaves the
    machine as it was: for a local primitive that is a misuse of the API; for a network
    or transport event it means the I/O layer reported something that cannot happen
    (e.g. a PDU before the connection was open).
    """

    def __init__(self, *, accept_check: AcceptCheck | None = None) -> None:
        self._accept_check: AcceptCheck = accept_check or protocol_version_check
        self._state = State.STA1
        self._is_requestor: bool | None = None
        self._request: AAssociateRQ | None = None
        self._used = False

    # -- what the I/O layer reads -------------------------------------------------------

    @property
    def state(self) -> State:
        """The current state (Sta1-Sta13)."""
        return self._state

    @property
    def is_requestor(self) -> bool | None:
        """True after Evt1 (we asked for the association), False after Evt5 (the peer
        connected to us), None before either. AR-8 reads it."""
        return self._is_requestor

    @property
    def established(self) -> bool:
        """Sta6: "Association established and ready for data transfer"."""
        return self._state is State.STA6

    @property
    def closed(self) -> bool:
        """Back in Sta1 ("Idle") after having left it: the connection is gone."""
        return self._used and self._state is State.STA1

    def __repr__(self) -> str:
        role = {True: "requestor", False: "acceptor", None: "unused"}[self._is_requestor]
        return f"<UpperLayer {self._state.label} {role}>"

    # -- the generic entry ------------------------------------------------------------

    def handle(self, event: Event, pdu: PDU | None = None, *,
               abort_reason: int = AbortReason.NOT_SPECIFIED) -> list[Output]:
        """Fire ``event`` and return the outputs of its action.

        ``pdu`` is the PDU the event carries (received, or given by the local user);
        ``abort_reason`` is the A-ABORT reason/diag. for Evt19 (PS3.8 Table 9-26), the
        only event whose reason cannot be told from the event itself.
        """
        _check_argument(event, pdu)
        action = TABLE.get((self._state, event))
        if action is None:
            raise ProtocolStateError(
                f"{event.label} ({event.definition}) cannot happen in {self._state.label} "
                f"({self._state.definition}): PS3.8 Table 9-10 has no action for it")
        outputs, next_state = _ACTIONS[action](self, event, pdu, abort_reason)
        expected = NEXT_STATE[action]
        assert expected is None or expected is next_state, (action, next_state)
        self._state = next_state
        self._used = True
        return outputs

    # -- one method per event ---------------------------------------------------------

    def associate_request(self, rq: AAssociateRQ) -> list[Output]:
        """Evt1, A-ASSOCIATE request from the local user: connect (AE-1). The request
        is kept and sent once the transport is up (Evt2, AE-2)."""
        return self.handle(Event.EVT1, rq)

    def transport_connected(self) -> list[Output]:
        """Evt2, the transport connection we asked for is open: send A-ASSOCIATE-RQ."""
        return self.handle(Event.EVT2)

    def pdu_received(self, pdu: PDU) -> list[Output]:
        """Evt3/4/6/10/12/13/16: a whole, valid PDU came from the peer."""
        return self.handle(event_for_pdu(pdu), pdu)

    def transport_accepted(self) -> list[Output]:
        """Evt5, a peer connected to us: start ARTIM and await its A-ASSOCIATE-RQ."""
        return self.handle(Event.EVT5)

    def associate_accept(self, ac: AAssociateAC) -> list[Output]:
        """Evt7, the local user accepts the association (AE-7)."""
        return self.handle(Event.EVT7, ac)

    def associate_reject(self, rj: AAssociateRJ) -> list[Output]:
        """Evt8, the local user rejects the association (AE-8)."""
        return self.handle(Event.EVT8, rj)

    def send_data(self, pdu: PDataTF) -> list[Output]:
        """Evt9, P-DATA request: send ``pdu`` (DT-1 in Sta6, AR-7 in Sta8)."""
        return self.handle(Event.EVT9, pdu)

    def data_request(self) -> list[Output]:
        """Evt9 for a P-DATA-TF the caller has already encoded and sends itself.

        Fragmenting a message straight into bytes avoids building PDU objects on the
        hot path, but the state machine must still say whether data may be sent now
        (DT-1 in Sta6, AR-7 in Sta8, else :class:`ProtocolStateError`). Returns no
        outputs: the caller writes its bytes.
        """
        return self.handle(Event.EVT9)

    def release_request(self) -> list[Output]:
        """Evt11, A-RELEASE request from the local user (AR-1)."""
        return self.handle(Event.EVT11)

    def release_response(self) -> list[Output]:
        """Evt14, A-RELEASE response from the local user (AR-4, or AR-9 in a
        collision on the requestor side)."""
        return self.handle(Event.EVT14)

    def abort_request(self, abort: AAbort | None = None) -> list[Output]:
        """Evt15, A-ABORT request from the local user.

        ``abort`` is the A-ABORT PDU to send (AA-1); by default source 0 (service-user)
        and reason 0, as AA-1 says "service-user source". A caller that aborts because
        it found the peer's protocol broken may pass source 2 with a Table 9-26 reason.
        In Sta4 nothing is sent: the connection is not open yet (AA-2).
        """
        return self.handle(Event.EVT15, abort)

    def transport_closed(self) -> list[Output]:
        """Evt17, the transport connection closed (by the peer, or under us)."""
        return self.handle(Event.EVT17)

    def artim_expired(self) -> list[Output]:
        """Evt18, the ARTIM timer started by an earlier output ran out."""
        return self.handle(Event.EVT18)

    def invalid_pdu_received(
            self, reason: int = AbortReason.UNRECOGNIZED_PDU) -> list[Output]:
        """Evt19, bytes that are not a valid PDU came (``reason`` per Table 9-26).

        In an association this is AA-8: A-ABORT with source 2 (service-provider) and
        ``reason``, an A-P-ABORT indication, and ARTIM.
        """
        return self.handle(Event.EVT19, abort_reason=reason)

    # -- the actions of PS3.8 §9.2.2 --------------------------------------------------
    #
    # Each takes (event, pdu, abort_reason) and returns (outputs, next state). The
    # argument checks of _check_argument make the casts below safe.

    def _ae_1(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AE-1: Issue TRANSPORT CONNECT request primitive to local transport service."""
        assert isinstance(pdu, AAssociateRQ)
        self._request = pdu
        self._is_requestor = True
        return [ConnectTransport()], State.STA4

    def _ae_2(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AE-2: Send A-ASSOCIATE-RQ-PDU (the one given at Evt1)."""
        assert self._request is not None
        return [SendPDU(self._request)], State.STA5

    def _ae_3(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AE-3: Issue A-ASSOCIATE confirmation (accept) primitive."""
        assert isinstance(pdu, AAssociateAC)
        return [AssociateAccepted(pdu)], State.STA6

    def _ae_4(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AE-4: Issue A-ASSOCIATE confirmation (reject) primitive and close transport
        connection."""
        assert isinstance(pdu, AAssociateRJ)
        return [AssociateRejected(pdu), CloseTransport()], State.STA1

    def _ae_5(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AE-5: Issue Transport connection response primitive; start ARTIM timer.

        The I/O layer has already accepted the connection when it reports Evt5, so the
        "response primitive" has no output of its own.
        """
        self._is_requestor = False
        self._request = None
        return [StartARTIM()], State.STA2

    def _ae_6(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AE-6: Stop ARTIM timer and if A-ASSOCIATE-RQ acceptable by service-provider
        issue A-ASSOCIATE indication primitive (Sta3), otherwise issue
        A-ASSOCIATE-RJ-PDU and start ARTIM timer (Sta13)."""
        assert isinstance(pdu, AAssociateRQ)
        rejection = self._accept_check(pdu)
        if rejection is None:
            self._request = pdu
            return [StopARTIM(), AssociateIndication(pdu)], State.STA3
        return [StopARTIM(), SendPDU(rejection), StartARTIM()], State.STA13

    def _ae_7(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AE-7: Send A-ASSOCIATE-AC PDU."""
        assert isinstance(pdu, AAssociateAC)
        return [SendPDU(pdu)], State.STA6

    def _ae_8(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AE-8: Send A-ASSOCIATE-RJ PDU and start ARTIM timer."""
        assert isinstance(pdu, AAssociateRJ)
        return [SendPDU(pdu), StartARTIM()], State.STA13

    def _dt_1(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """DT-1: Send P-DATA-TF PDU (none to send for :meth:`data_request`)."""
        return _send_data(pdu), State.STA6

    def _dt_2(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """DT-2: Send P-DATA indication primitive."""
        assert isinstance(pdu, PDataTF)
        return [DataIndication(pdu)], State.STA6

    def _ar_1(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-1: Send A-RELEASE-RQ PDU."""
        return [SendPDU(AReleaseRQ())], State.STA7

    def _ar_2(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-2: Issue A-RELEASE indication primitive."""
        return [ReleaseIndication(collision=False)], State.STA8

    def _ar_3(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-3: Issue A-RELEASE confirmation primitive, and close transport
        connection."""
        return [ReleaseConfirmed(), CloseTransport()], State.STA1

    def _ar_4(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-4: Issue A-RELEASE-RP PDU and start ARTIM timer (the peer closes the
        connection; ARTIM bounds how long we wait for it)."""
        return [SendPDU(AReleaseRP()), StartARTIM()], State.STA13

    def _ar_5(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-5: Stop ARTIM timer."""
        return [StopARTIM()], State.STA1

    def _ar_6(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-6: Issue P-DATA indication (data the peer sent before it saw our
        A-RELEASE-RQ)."""
        assert isinstance(pdu, PDataTF)
        return [DataIndication(pdu)], State.STA7

    def _ar_7(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-7: Issue P-DATA-TF PDU (we may still answer after the peer asked to
        release)."""
        return _send_data(pdu), State.STA8

    def _ar_8(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-8: Issue A-RELEASE indication (release collision): if
        association-requestor, next state is Sta9, if not, next state is Sta10."""
        return [ReleaseIndication(collision=True)], (
            State.STA9 if self._is_requestor else State.STA10)

    def _ar_9(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-9: Send A-RELEASE-RP PDU."""
        return [SendPDU(AReleaseRP())], State.STA11

    def _ar_10(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AR-10: Issue A-RELEASE confirmation primitive."""
        return [ReleaseConfirmed()], State.STA12

    def _aa_1(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AA-1: Send A-ABORT PDU (service-user source) and start (or restart if
        already started) ARTIM timer.

        For Evt15 the A-ABORT is the local user's. AA-1 is also the action for a PDU
        received in Sta2, before any A-ASSOCIATE-RQ. There the standard says
        "service-user source" although it is the provider that found the PDU
        unexpected; we follow its text: source 0, and then, by Table 9-26, the reason
        "shall be sent with a value 00H". (Some implementations send source 0 with
        reason 2, which Table 9-26 does not allow, or source 2.)
        """
        if event is Event.EVT15:
            abort = pdu if isinstance(pdu, AAbort) else AAbort(
                source=AbortSource.SERVICE_USER, reason=AbortReason.NOT_SPECIFIED)
        else:
            abort = AAbort(source=AbortSource.SERVICE_USER,
                           reason=AbortReason.NOT_SPECIFIED)
        return [SendPDU(abort), StartARTIM()], State.STA13

    def _aa_2(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AA-2: Stop ARTIM timer if running. Close transport connection.

        StopARTIM is always emitted; the I/O layer's stop is a no-op when the timer is
        not running (as in Sta4).
        """
        return [StopARTIM(), CloseTransport()], State.STA1

    def _aa_3(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AA-3: If (service-user inititated abort): issue A-ABORT indication and close
        transport connection; otherwise (service-provider inititated abort): issue
        A-P-ABORT indication and close transport connection."""
        assert isinstance(pdu, AAbort)
        provider = pdu.source == AbortSource.SERVICE_PROVIDER
        return [AbortIndication(pdu, provider=provider), CloseTransport()], State.STA1

    def _aa_4(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AA-4: Issue A-P-ABORT indication primitive (the transport is already
        closed: AA-4 is the action of Evt17 only)."""
        return [AbortIndication(None, provider=True)], State.STA1

    def _aa_5(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AA-5: Stop ARTIM timer (the peer closed before sending A-ASSOCIATE-RQ)."""
        return [StopARTIM()], State.STA1

    def _aa_6(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AA-6: Ignore PDU (the association no longer exists; ARTIM keeps running)."""
        return [], State.STA13

    def _aa_7(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AA-7: Send A-ABORT PDU (Sta13, for Evt6 and Evt19).

        The standard names no source or reason here. The association is gone and the
        protocol machine, not the user, answers, so we send source 2 (service-provider)
        with unexpected-PDU for an A-ASSOCIATE-RQ, or the given reason for Evt19.
        ARTIM is not restarted: AA-7 does not say so.
        """
        return [SendPDU(_provider_abort(event, reason))], State.STA13

    def _aa_8(self, event: Event, pdu: PDU | None, reason: int) -> _Result:
        """AA-8: Send A-ABORT PDU (service-provider source), issue an A-P-ABORT
        indication, and start ARTIM timer.

        Reason (Table 9-26): unexpected-PDU (2) for a valid PDU in the wrong state, or
        the reason given with Evt19 (by default unrecognized-PDU, 1).
        """
        abort = _provider_abort(event, reason)
        return [SendPDU(abort), AbortIndication(abort, provider=True),
                StartARTIM()], State.STA13


_Handler = Callable[[UpperLayer, Event, PDU | None, int], _Result]

# PS3.8 §9.2.2: Action -> its meaning. Built by name, so that a missing method fails at
# import rather than at the first use of the action.
_ACTIONS: Final[dict[Action, _Handler]] = {
    action: getattr(UpperLayer, "_" + action.name.lower()) for action in Action
}


def _provider_abort(event: Event, reason: int) -> AAbort:
    """The service-provider A-ABORT of AA-7/AA-8 (PS3.8 Table 9-26)."""
    if event is not Event.EVT19:
        reason = AbortReason.UNEXPECTED_PDU
    return AAbort(source=AbortSource.SERVICE_PROVIDER, reason=reason)


def _send_data(pdu: PDU | None) -> list[Output]:
    return [] if pdu is None else [SendPDU(pdu)]


def _check_argument(event: Event, pdu: PDU | None) -> None:
    """Refuse a ``pdu`` that does not belong to ``event`` (a caller's bug)."""
    if not isinstance(event, Event):
        raise TypeError(f"not an Event: {event!r}")
    expected, required = _ARGUMENT.get(event, (None, False))
    if pdu is None:
        if required:
            assert expected is not None
            raise TypeError(f"{event.label} needs an {expected.__name__}")
        return
    if expected is None:
        raise TypeError(f"{event.label} takes no PDU, got {type(pdu).__name__}")
    if not isinstance(pdu, expected):
        raise TypeError(
            f"{event.label} takes an {expected.__name__}, got {type(pdu).__name__}")
