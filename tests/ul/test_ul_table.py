"""Table 9-10 as data (:mod:`dicomnet.ul.table`), checked against the standard's grid
(``ul_standard_table.py``) and against the standard's words."""

from __future__ import annotations

import pytest
from ul_standard_table import STANDARD_CELLS

from dicomnet.ul import NEXT_STATE, TABLE, Action, Event, State


def test_the_standard_table_has_123_actions_and_124_blank_cells() -> None:
    assert len(STANDARD_CELLS) == 123
    assert len(State) * len(Event) - len(STANDARD_CELLS) == 124


def test_table_is_exactly_table_9_10() -> None:
    assert {cell: action for cell, (action, _) in STANDARD_CELLS.items()} == dict(TABLE)


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TABLE[(State.STA1, Event.EVT2)] = Action.AE_2  # type: ignore[index]
    with pytest.raises(TypeError):
        NEXT_STATE[Action.AE_1] = State.STA1  # type: ignore[index]


@pytest.mark.parametrize(
    ("cell", "expected"), sorted(STANDARD_CELLS.items()),
    ids=[f"{s.label}-{e.label}" for s, e in sorted(STANDARD_CELLS)])
def test_next_state_agrees_with_every_cell(
        cell: tuple[State, Event], expected: tuple[Action, tuple[State, ...]]) -> None:
    action, nexts = expected
    if len(nexts) == 1:
        assert NEXT_STATE[action] is nexts[0]
    else:
        # "Sta3 or 13" (AE-6), "Sta9 or 10" (AR-8): the action decides.
        assert NEXT_STATE[action] is None


def test_next_state_covers_every_action_and_only_ae6_ar8_decide() -> None:
    assert set(NEXT_STATE) == set(Action)
    assert {a for a, s in NEXT_STATE.items() if s is None} == {Action.AE_6, Action.AR_8}


def test_every_action_is_used_by_the_table() -> None:
    assert set(TABLE.values()) == set(Action)


def test_enumerations_have_the_standards_sizes_and_numbers() -> None:
    assert [s.value for s in State] == list(range(1, 14))
    assert [e.value for e in Event] == list(range(1, 20))
    assert len(Action) == 8 + 2 + 10 + 8  # Tables 9-6, 9-7, 9-8, 9-9
    assert Action("AR-10") is Action.AR_10
    assert State.STA12.label == "Sta12"
    assert Event.EVT19.label == "Evt19"


@pytest.mark.parametrize(
    ("member", "text"),
    [
        (State.STA1, "Idle"),
        (State.STA6, "Association established and ready for data transfer"),
        (State.STA9, "Release collision requestor side; awaiting A-RELEASE response "
                     "(from local user)"),
        (State.STA13, "Awaiting Transport Connection Close Indication (Association no "
                      "longer exists)"),
        (Event.EVT2, "Transport Conn. Confirm (local transport service)"),
        (Event.EVT18, "ARTIM timer expired (Association reject/release timer)"),
        (Event.EVT19, "Unrecognized or invalid PDU received"),
        (Action.AA_2, "Stop ARTIM timer if running. Close transport connection. "
                      "Next state is Sta1"),
        (Action.AR_8, "Issue A-RELEASE indication (release collision): if "
                      "association-requestor, next state is Sta9; if not, next state is "
                      "Sta10"),
    ],
)
def test_members_carry_the_standards_words(member: State | Event | Action,
                                           text: str) -> None:
    assert member.definition == text
    assert member.__doc__ == text


def test_every_member_has_a_definition_naming_its_next_state() -> None:
    for state in State:
        assert state.definition and state.__doc__ == state.definition
    for event in Event:
        assert event.definition and event.__doc__ == event.definition
    for action in Action:
        nxt = NEXT_STATE[action]
        assert action.__doc__ == action.definition
        if nxt is not None:
            assert action.definition.lower().endswith(f"next state is sta{nxt.value}")
