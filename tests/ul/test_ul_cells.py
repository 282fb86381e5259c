"""Every one of the 13 x 19 = 247 cells of PS3.8 Table 9-10, fired on a real machine.

For each (state, event): a fresh machine is driven into the state through real
transitions (``ul_helpers.PATHS``, every role in which the state is reachable), the
event is fired through the public method the I/O layer uses, and

- for a non-blank cell: the outputs must be exactly those the action's text in §9.2.2
  asks for (types, contents, order) and the state the standard's cell names;
- for a blank cell: ProtocolStateError, and the machine unchanged.

The expected outputs are written here from Tables 9-6..9-9, independently of
``dicomnet.ul.machine``; the expected next states come from the standard's grid in
``ul_standard_table.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from ul_helpers import FIRE, INVALID_REASON, PDU_FOR_EVENT, RQ, drive, paths_to
from ul_standard_table import STANDARD_CELLS

from dicomnet.errors import ProtocolStateError
from dicomnet.pdu.constants import AbortReason, AbortSource
from dicomnet.pdu.pdus import PDU, AAbort, AReleaseRP, AReleaseRQ
from dicomnet.ul import (
    AbortIndication,
    Action,
    AssociateAccepted,
    AssociateIndication,
    AssociateRejected,
    CloseTransport,
    ConnectTransport,
    DataIndication,
    Event,
    Output,
    ReleaseConfirmed,
    ReleaseIndication,
    SendPDU,
    StartARTIM,
    State,
    StopARTIM,
)


@dataclass(frozen=True)
class Fired:
    """What the test knows when it fires an event."""

    state: State
    event: Event
    requestor: bool | None
    pdu: PDU | None


def _provider_abort(f: Fired) -> AAbort:
    # Table 9-26: source 2 with unexpected-PDU for a valid PDU in the wrong state, or
    # the reason the I/O layer gave with Evt19.
    reason = INVALID_REASON if f.event is Event.EVT19 else AbortReason.UNEXPECTED_PDU
    return AAbort(source=AbortSource.SERVICE_PROVIDER, reason=reason)


def _aa_1(f: Fired) -> list[Output]:
    # "Send A-ABORT PDU (service-user source) and start (or restart) ARTIM timer";
    # Table 9-26: with source 0 the reason is sent as 00H.
    return [SendPDU(AAbort(source=0, reason=0)), StartARTIM()]


def _aa_8(f: Fired) -> list[Output]:
    abort = _provider_abort(f)
    return [SendPDU(abort), AbortIndication(abort, provider=True), StartARTIM()]


def _aa_3(f: Fired) -> list[Output]:
    assert isinstance(f.pdu, AAbort)
    provider = f.pdu.source == AbortSource.SERVICE_PROVIDER
    return [AbortIndication(f.pdu, provider=provider), CloseTransport()]


#: PS3.8 Tables 9-6..9-9, each action's text as the outputs it means, in order.
EXPECTED_OUTPUTS: dict[Action, Callable[[Fired], list[Output]]] = {
    Action.AE_1: lambda f: [ConnectTransport()],
    Action.AE_2: lambda f: [SendPDU(RQ)],  # the A-ASSOCIATE-RQ given at Evt1
    Action.AE_3: lambda f: [AssociateAccepted(f.pdu)],  # type: ignore[arg-type]
    Action.AE_4: lambda f: [AssociateRejected(f.pdu), CloseTransport()],  # type: ignore[arg-type]
    Action.AE_5: lambda f: [StartARTIM()],
    # the canned A-ASSOCIATE-RQ is acceptable: stop ARTIM, indication
    Action.AE_6: lambda f: [StopARTIM(), AssociateIndication(f.pdu)],  # type: ignore[arg-type]
    Action.AE_7: lambda f: [SendPDU(f.pdu)],  # type: ignore[arg-type]
    Action.AE_8: lambda f: [SendPDU(f.pdu), StartARTIM()],  # type: ignore[arg-type]
    Action.DT_1: lambda f: [SendPDU(f.pdu)],  # type: ignore[arg-type]
    Action.DT_2: lambda f: [DataIndication(f.pdu)],  # type: ignore[arg-type]
    Action.AR_1: lambda f: [SendPDU(AReleaseRQ())],
    Action.AR_2: lambda f: [ReleaseIndication(collision=False)],
    Action.AR_3: lambda f: [ReleaseConfirmed(), CloseTransport()],
    Action.AR_4: lambda f: [SendPDU(AReleaseRP()), StartARTIM()],
    Action.AR_5: lambda f: [StopARTIM()],
    Action.AR_6: lambda f: [DataIndication(f.pdu)],  # type: ignore[arg-type]
    Action.AR_7: lambda f: [SendPDU(f.pdu)],  # type: ignore[arg-type]
    Action.AR_8: lambda f: [ReleaseIndication(collision=True)],
    Action.AR_9: lambda f: [SendPDU(AReleaseRP())],
    Action.AR_10: lambda f: [ReleaseConfirmed()],
    Action.AA_1: _aa_1,
    Action.AA_2: lambda f: [StopARTIM(), CloseTransport()],
    Action.AA_3: _aa_3,
    Action.AA_4: lambda f: [AbortIndication(None, provider=True)],
    Action.AA_5: lambda f: [StopARTIM()],
    Action.AA_6: lambda f: [],
    Action.AA_7: lambda f: [SendPDU(_provider_abort(f))],
    Action.AA_8: _aa_8,
}


def _expected_next(state: State, event: Event, requestor: bool | None) -> State:
    action, nexts = STANDARD_CELLS[(state, event)]
    if len(nexts) == 1:
        return nexts[0]
    if action is Action.AE_6:
        return State.STA3  # acceptable request
    assert action is Action.AR_8
    return State.STA9 if requestor else State.STA10


CELLS = [(state, event) for state in State for event in Event]
CELLS_TESTED: set[tuple[State, Event]] = set()


def check_cell(state: State, event: Event) -> None:
    """Fire ``event`` in ``state``, in every role that reaches the state; record it."""
    roles = paths_to(state)
    assert roles, f"{state.label} is not reachable"
    for requestor, path in roles.items():
        machine = drive(path)
        assert machine.state is state and machine.is_requestor is requestor
        if (state, event) not in STANDARD_CELLS:
            was_closed, was_established = machine.closed, machine.established
            with pytest.raises(ProtocolStateError, match=f"{event.label}.*{state.label}"):
                FIRE[event](machine)
            assert machine.state is state
            assert machine.is_requestor is requestor
            assert (machine.closed, machine.established) == (was_closed, was_established)
            continue
        action = STANDARD_CELLS[(state, event)][0]
        fired = Fired(state, event, requestor, PDU_FOR_EVENT.get(event))
        outputs = FIRE[event](machine)
        assert outputs == EXPECTED_OUTPUTS[action](fired), (action, requestor)
        assert machine.state is _expected_next(state, event, requestor), (action, requestor)
        assert machine.established is (machine.state is State.STA6)
    CELLS_TESTED.add((state, event))


@pytest.mark.parametrize(("state", "event"), CELLS,
                         ids=[f"{s.label}-{e.label}" for s, e in CELLS])
def test_cell(state: State, event: Event) -> None:
    check_cell(state, event)


def test_all_247_cells_are_tested() -> None:
    # Cells not run above (a -k selection, another order) are checked here, so the
    # count holds however the suite is run.
    for state, event in set(CELLS) - CELLS_TESTED:
        check_cell(state, event)
    assert len(CELLS) == len(set(CELLS)) == 13 * 19
    assert len(CELLS_TESTED) == 247


def test_every_state_is_reachable_in_the_roles_the_standard_implies() -> None:
    reachable = {state: set(paths_to(state)) for state in State}
    assert all(reachable.values())
    # Sta2/Sta3 exist only for the acceptor, Sta4/Sta5 only for the requestor; the
    # collision states split by role (AR-8): Sta9/Sta11 requestor, Sta10/Sta12 acceptor.
    assert reachable[State.STA2] == reachable[State.STA3] == {False}
    assert reachable[State.STA4] == reachable[State.STA5] == {True}
    assert reachable[State.STA9] == reachable[State.STA11] == {True}
    assert reachable[State.STA10] == reachable[State.STA12] == {False}
    for state in (State.STA6, State.STA7, State.STA8, State.STA13):
        assert reachable[state] == {True, False}
    assert reachable[State.STA1] == {None, True, False}


def test_happy_paths_are_the_shortest_paths() -> None:
    e = Event
    assert paths_to(State.STA6)[True] == [e.EVT1, e.EVT2, e.EVT3]
    assert paths_to(State.STA6)[False] == [e.EVT5, e.EVT6, e.EVT7]
    assert paths_to(State.STA11)[True] == [e.EVT1, e.EVT2, e.EVT3, e.EVT11, e.EVT12,
                                           e.EVT14]
    assert paths_to(State.STA12)[False] == [e.EVT5, e.EVT6, e.EVT7, e.EVT11, e.EVT12,
                                            e.EVT13]
