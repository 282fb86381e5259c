"""Random event sequences (hypothesis stateful testing) against invariants that follow
from PS3.8 §9.2, whatever the path:

- the state is always a State, and blank cells raise and change nothing;
- a non-blank cell moves to the state the standard's grid names;
- the ARTIM timer, as the outputs start and stop it, runs exactly in Sta2 and Sta13
  (§9.1.5: it guards the wait for an A-ASSOCIATE-RQ and for the transport to close);
- the transport is closed only on the way to Sta1, and Sta1 is reached either with a
  CloseTransport, or, when the transport already closed (Evt17), with StopARTIM or
  an A-P-ABORT indication;
- PDUs are sent only on an open transport; indications of abort only where an
  association was being made or existed.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from ul_helpers import AC, DATA, RJ, RQ, RQ_VERSION_0
from ul_standard_table import STANDARD_CELLS

from dicomnet.errors import ProtocolStateError
from dicomnet.pdu.pdus import PDU, AAbort, AReleaseRP, AReleaseRQ
from dicomnet.ul import (
    AbortIndication,
    AssociateIndication,
    CloseTransport,
    ConnectTransport,
    Event,
    Output,
    SendPDU,
    StartARTIM,
    State,
    StopARTIM,
    UpperLayer,
    event_for_pdu,
)

ASSOCIATION_STATES = {State.STA3, State.STA4, State.STA5, State.STA6, State.STA7,
                      State.STA8, State.STA9, State.STA10, State.STA11, State.STA12}
NO_TRANSPORT = {State.STA1, State.STA4}

aborts = st.builds(AAbort, source=st.sampled_from([0, 2]),
                   reason=st.sampled_from([0, 1, 2, 4, 5, 6]))
pdus: st.SearchStrategy[PDU] = st.one_of(
    st.sampled_from([AC, RJ, RQ, RQ_VERSION_0, DATA, AReleaseRQ(), AReleaseRP()]), aborts)


class UpperLayerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ul = UpperLayer()
        self.artim_running = False
        self.connecting = False

    def fire(self, event: Event, call: Callable[[], list[Output]]) -> None:
        """Fire one event through ``call`` (a zero-argument callable) and check it."""
        before = self.ul.state
        role = self.ul.is_requestor
        cell = STANDARD_CELLS.get((before, event))
        if cell is None:
            try:
                call()
            except ProtocolStateError:
                pass
            else:
                raise AssertionError(f"blank cell {before.label}-{event.label} ran")
            assert self.ul.state is before and self.ul.is_requestor is role
            return
        outputs = call()
        after = self.ul.state
        assert after in cell[1], (before, event, after)
        self.check_outputs(event, before, after, outputs)

    def check_outputs(self, event: Event, before: State, after: State,
                      outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, StartARTIM):
                self.artim_running = True
            elif isinstance(output, StopARTIM):
                self.artim_running = False
        closes = [o for o in outputs if isinstance(o, CloseTransport)]
        if closes:
            assert after is State.STA1 and outputs[-1] == CloseTransport()
        if after is State.STA1:
            if event is Event.EVT17:
                assert not closes
                assert any(isinstance(o, StopARTIM | AbortIndication) for o in outputs)
            else:
                assert len(closes) == 1
        if any(isinstance(o, SendPDU) for o in outputs):
            assert before not in NO_TRANSPORT or event is Event.EVT2
        if any(isinstance(o, AbortIndication) for o in outputs):
            assert before in ASSOCIATION_STATES
        if any(isinstance(o, AssociateIndication) for o in outputs):
            assert after is State.STA3
        if any(isinstance(o, ConnectTransport) for o in outputs):
            assert after is State.STA4

    # -- local primitives -----------------------------------------------------------

    @rule()
    def associate_request(self) -> None:
        self.fire(Event.EVT1, lambda: self.ul.associate_request(RQ))

    @rule()
    def associate_accept(self) -> None:
        self.fire(Event.EVT7, lambda: self.ul.associate_accept(AC))

    @rule()
    def associate_reject(self) -> None:
        self.fire(Event.EVT8, lambda: self.ul.associate_reject(RJ))

    @rule()
    def send_data(self) -> None:
        self.fire(Event.EVT9, lambda: self.ul.send_data(DATA))

    @rule()
    def release_request(self) -> None:
        self.fire(Event.EVT11, self.ul.release_request)

    @rule()
    def release_response(self) -> None:
        self.fire(Event.EVT14, self.ul.release_response)

    @rule(abort=st.none() | aborts)
    def abort_request(self, abort: AAbort | None) -> None:
        self.fire(Event.EVT15, lambda: self.ul.abort_request(abort))

    # -- the transport, the timer and the peer ----------------------------------------

    @rule()
    def transport_connected(self) -> None:
        self.fire(Event.EVT2, self.ul.transport_connected)

    @rule()
    def transport_accepted(self) -> None:
        self.fire(Event.EVT5, self.ul.transport_accepted)

    @rule()
    def transport_closed(self) -> None:
        self.fire(Event.EVT17, self.ul.transport_closed)

    @rule()
    def artim_expired(self) -> None:
        self.fire(Event.EVT18, self.ul.artim_expired)

    @rule(pdu=pdus)
    def pdu_received(self, pdu: PDU) -> None:
        # event_for_pdu has its own test in test_ul_flows.py
        self.fire(event_for_pdu(pdu), lambda: self.ul.pdu_received(pdu))

    @rule(reason=st.sampled_from([0, 1, 2, 4, 5, 6]))
    def invalid_pdu(self, reason: int) -> None:
        self.fire(Event.EVT19, lambda: self.ul.invalid_pdu_received(reason))

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def state_is_a_state(self) -> None:
        assert isinstance(self.ul.state, State)

    @invariant()
    def artim_runs_exactly_in_sta2_and_sta13(self) -> None:
        assert self.artim_running is (self.ul.state in (State.STA2, State.STA13))

    @invariant()
    def predicates_agree_with_the_state(self) -> None:
        assert self.ul.established is (self.ul.state is State.STA6)
        if self.ul.closed:
            assert self.ul.state is State.STA1

    @invariant()
    def role_fits_the_state(self) -> None:
        state, role = self.ul.state, self.ul.is_requestor
        if state in (State.STA4, State.STA5, State.STA9, State.STA11):
            assert role is True
        if state in (State.STA2, State.STA3, State.STA10, State.STA12):
            assert role is False
        if state is not State.STA1:
            assert role is not None


UpperLayerMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None)
TestUpperLayerStateful = UpperLayerMachine.TestCase
