"""The DICOM upper layer state machine of PS3.8 §9.2, as data.

Why data and not code: Table 9-10 is the contract, and a table can be checked cell by
cell against the standard (and is, in ``tests/ul``), while the same rules spread over
``if`` statements cannot. :mod:`dicomnet.ul.machine` only *runs* what is written here.

Everything below is transcribed from PS3.8 (2024 edition, unchanged in substance since
the 1993 text):

- the 13 states, Tables 9-1 to 9-5 (§9.2.1),
- the 26 actions, Tables 9-6 to 9-9 (§9.2.2),
- the 19 events, the rows of Table 9-10 (§9.2.3),
- the 123 non-blank cells of Table 9-10 (§9.2.3). A blank cell means the event cannot
  happen in that state; the machine treats it as a programming error of its caller.

The standard's wording is kept verbatim in the ``definition`` of every member (also its
``__doc__``), including its typos ("inititated"), so that a reader can search the PDF
for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, IntEnum
from types import MappingProxyType
from typing import Final

__all__ = ["NEXT_STATE", "TABLE", "Action", "Event", "State"]


class State(IntEnum):
    """PS3.8 §9.2.1, Tables 9-1 to 9-5: the states of the DICOM UL protocol machine.

    ``State.STA6.definition`` (and ``__doc__``) is the standard's text for the state.
    """

    STA1 = 1
    STA2 = 2
    STA3 = 3
    STA4 = 4
    STA5 = 5
    STA6 = 6
    STA7 = 7
    STA8 = 8
    STA9 = 9
    STA10 = 10
    STA11 = 11
    STA12 = 12
    STA13 = 13

    @property
    def definition(self) -> str:
        """The standard's definition of this state (Tables 9-1 to 9-5)."""
        return _STATE_DEFINITIONS[self]

    @property
    def label(self) -> str:
        """The standard's short name, e.g. ``"Sta6"``."""
        return f"Sta{self.value}"


class Event(IntEnum):
    """PS3.8 §9.2.3, the rows of Table 9-10: what can happen to the protocol machine.

    ``Event.EVT12.definition`` (and ``__doc__``) is the standard's text for the event.
    """

    EVT1 = 1
    EVT2 = 2
    EVT3 = 3
    EVT4 = 4
    EVT5 = 5
    EVT6 = 6
    EVT7 = 7
    EVT8 = 8
    EVT9 = 9
    EVT10 = 10
    EVT11 = 11
    EVT12 = 12
    EVT13 = 13
    EVT14 = 14
    EVT15 = 15
    EVT16 = 16
    EVT17 = 17
    EVT18 = 18
    EVT19 = 19

    @property
    def definition(self) -> str:
        """The standard's text for this event (row heading of Table 9-10)."""
        return _EVENT_DEFINITIONS[self]

    @property
    def label(self) -> str:
        """The standard's short name, e.g. ``"Evt12"``."""
        return f"Evt{self.value}"


class Action(Enum):
    """PS3.8 §9.2.2, Tables 9-6 to 9-9: what the protocol machine does.

    The value is the standard's name (``Action("AR-8") is Action.AR_8``);
    ``definition`` (and ``__doc__``) is the standard's text, next state included.
    """

    AE_1 = "AE-1"
    AE_2 = "AE-2"
    AE_3 = "AE-3"
    AE_4 = "AE-4"
    AE_5 = "AE-5"
    AE_6 = "AE-6"
    AE_7 = "AE-7"
    AE_8 = "AE-8"
    DT_1 = "DT-1"
    DT_2 = "DT-2"
    AR_1 = "AR-1"
    AR_2 = "AR-2"
    AR_3 = "AR-3"
    AR_4 = "AR-4"
    AR_5 = "AR-5"
    AR_6 = "AR-6"
    AR_7 = "AR-7"
    AR_8 = "AR-8"
    AR_9 = "AR-9"
    AR_10 = "AR-10"
    AA_1 = "AA-1"
    AA_2 = "AA-2"
    AA_3 = "AA-3"
    AA_4 = "AA-4"
    AA_5 = "AA-5"
    AA_6 = "AA-6"
    AA_7 = "AA-7"
    AA_8 = "AA-8"

    @property
    def definition(self) -> str:
        """The standard's definition of this action (Tables 9-6 to 9-9)."""
        return _ACTION_DEFINITIONS[self]


# -- the standard's words -----------------------------------------------------------

_S = State
_E = Event
_A = Action

_STATE_DEFINITIONS: Final[Mapping[State, str]] = MappingProxyType({
    # Table 9-1. No Association
    _S.STA1: "Idle",
    # Table 9-2. Association Establishment
    _S.STA2: "Transport connection open (Awaiting A-ASSOCIATE-RQ PDU)",
    _S.STA3: "Awaiting local A-ASSOCIATE response primitive (from local user)",
    _S.STA4: "Awaiting transport connection opening to complete (from local transport "
             "service)",
    _S.STA5: "Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU",
    # Table 9-3. Data Transfer
    _S.STA6: "Association established and ready for data transfer",
    # Table 9-4. Association Release
    _S.STA7: "Awaiting A-RELEASE-RP PDU",
    _S.STA8: "Awaiting local A-RELEASE response primitive (from local user)",
    _S.STA9: "Release collision requestor side; awaiting A-RELEASE response (from local "
             "user)",
    _S.STA10: "Release collision acceptor side; awaiting A-RELEASE-RP PDU",
    _S.STA11: "Release collision requestor side; awaiting A-RELEASE-RP PDU",
    _S.STA12: "Release collision acceptor side; awaiting A-RELEASE response primitive "
              "(from local user)",
    # Table 9-5. Waiting for Transport Connection Close
    _S.STA13: "Awaiting Transport Connection Close Indication (Association no longer "
              "exists)",
})

_EVENT_DEFINITIONS: Final[Mapping[Event, str]] = MappingProxyType({
    _E.EVT1: "A-ASSOCIATE Request (local user)",
    _E.EVT2: "Transport Conn. Confirm (local transport service)",
    _E.EVT3: "A-ASSOCIATE-AC PDU (received on transport connection)",
    _E.EVT4: "A-ASSOCIATE-RJ PDU (received on transport connection)",
    _E.EVT5: "Transport Connection Indication (local transport service)",
    _E.EVT6: "A-ASSOCIATE-RQ PDU (received on transport connection)",
    _E.EVT7: "A-ASSOCIATE response primitive (accept)",
    _E.EVT8: "A-ASSOCIATE response primitive (reject)",
    _E.EVT9: "P-DATA request primitive",
    _E.EVT10: "P-DATA-TF PDU",
    _E.EVT11: "A-RELEASE Request primitive",
    _E.EVT12: "A-RELEASE-RQ PDU (received on open transport connection)",
    _E.EVT13: "A-RELEASE-RP PDU (received on transport connection)",
    _E.EVT14: "A-RELEASE Response primitive",
    _E.EVT15: "A-ABORT Request primitive",
    _E.EVT16: "A-ABORT PDU (received on open transport connection)",
    _E.EVT17: "Transport connection closed indication (local transport service)",
    _E.EVT18: "ARTIM timer expired (Association reject/release timer)",
    _E.EVT19: "Unrecognized or invalid PDU received",
})

_ACTION_DEFINITIONS: Final[Mapping[Action, str]] = MappingProxyType({
    # Table 9-6. Association Establishment Related Actions
    _A.AE_1: "Issue TRANSPORT CONNECT request primitive to local transport service. "
             "Next state is Sta4",
    _A.AE_2: "Send A-ASSOCIATE-RQ-PDU. Next state is Sta5",
    _A.AE_3: "Issue A-ASSOCIATE confirmation (accept) primitive. Next state is Sta6",
    _A.AE_4: "Issue A-ASSOCIATE confirmation (reject) primitive and close transport "
             "connection. Next state is Sta1",
    _A.AE_5: "Issue Transport connection response primitive; start ARTIM timer. "
             "Next state is Sta2",
    _A.AE_6: "Stop ARTIM timer and if A-ASSOCIATE-RQ acceptable by service-provider: "
             "issue A-ASSOCIATE indication primitive, next state is Sta3; otherwise: "
             "issue A-ASSOCIATE-RJ-PDU and start ARTIM timer, next state is Sta13",
    _A.AE_7: "Send A-ASSOCIATE-AC PDU. Next state is Sta6",
    _A.AE_8: "Send A-ASSOCIATE-RJ PDU and start ARTIM timer. Next state is STA13",
    # Table 9-7. Data Transfer Related Actions
    _A.DT_1: "Send P-DATA-TF PDU. Next state is Sta6",
    _A.DT_2: "Send P-DATA indication primitive. Next state is Sta6",
    # Table 9-8. Association Release Related Actions
    _A.AR_1: "Send A-RELEASE-RQ PDU. Next state is Sta7",
    _A.AR_2: "Issue A-RELEASE indication primitive. Next state is Sta8",
    _A.AR_3: "Issue A-RELEASE confirmation primitive, and close transport connection. "
             "Next state is Sta1",
    _A.AR_4: "Issue A-RELEASE-RP PDU and start ARTIM timer. Next state is Sta13",
    _A.AR_5: "Stop ARTIM timer. Next state is Sta1",
    _A.AR_6: "Issue P-DATA indication. Next state is Sta7",
    _A.AR_7: "Issue P-DATA-TF PDU. Next state is Sta8",
    _A.AR_8: "Issue A-RELEASE indication (release collision): if association-requestor, "
             "next state is Sta9; if not, next state is Sta10",
    _A.AR_9: "Send A-RELEASE-RP PDU. Next state is Sta11",
    _A.AR_10: "Issue A-RELEASE confirmation primitive. Next state is Sta12",
    # Table 9-9. Association Abort Related Actions
    _A.AA_1: "Send A-ABORT PDU (service-user source) and start (or restart if already "
             "started) ARTIM timer. Next state is Sta13",
    _A.AA_2: "Stop ARTIM timer if running. Close transport connection. Next state is Sta1",
    _A.AA_3: "If (service-user inititated abort): issue A-ABORT indication and close "
             "transport connection; otherwise (service-provider inititated abort): issue "
             "A-P-ABORT indication and close transport connection. Next state is Sta1",
    _A.AA_4: "Issue A-P-ABORT indication primitive. Next state is Sta1",
    _A.AA_5: "Stop ARTIM timer. Next state is Sta1",
    _A.AA_6: "Ignore PDU. Next state is Sta13",
    _A.AA_7: "Send A-ABORT PDU. Next state is Sta13",
    _A.AA_8: "Send A-ABORT PDU (service-provider source-), issue an A-P-ABORT indication, "
             "and start ARTIM timer. Next state is Sta13",
})

for _member, _text in (*_STATE_DEFINITIONS.items(), *_EVENT_DEFINITIONS.items(),
                       *_ACTION_DEFINITIONS.items()):
    _member.__doc__ = _text
del _member, _text


# -- Table 9-10 ---------------------------------------------------------------------

#: PS3.8 §9.2.2: the next state each action leads to. ``None`` where the action itself
#: decides: AE-6 (Sta3 if the A-ASSOCIATE-RQ is acceptable, else Sta13) and AR-8 (Sta9
#: for the association-requestor, else Sta10).
NEXT_STATE: Final[Mapping[Action, State | None]] = MappingProxyType({
    _A.AE_1: _S.STA4,
    _A.AE_2: _S.STA5,
    _A.AE_3: _S.STA6,
    _A.AE_4: _S.STA1,
    _A.AE_5: _S.STA2,
    _A.AE_6: None,
    _A.AE_7: _S.STA6,
    _A.AE_8: _S.STA13,
    _A.DT_1: _S.STA6,
    _A.DT_2: _S.STA6,
    _A.AR_1: _S.STA7,
    _A.AR_2: _S.STA8,
    _A.AR_3: _S.STA1,
    _A.AR_4: _S.STA13,
    _A.AR_5: _S.STA1,
    _A.AR_6: _S.STA7,
    _A.AR_7: _S.STA8,
    _A.AR_8: None,
    _A.AR_9: _S.STA11,
    _A.AR_10: _S.STA12,
    _A.AA_1: _S.STA13,
    _A.AA_2: _S.STA1,
    _A.AA_3: _S.STA1,
    _A.AA_4: _S.STA1,
    _A.AA_5: _S.STA1,
    _A.AA_6: _S.STA13,
    _A.AA_7: _S.STA13,
    _A.AA_8: _S.STA13,
})


def _row(*cells: tuple[State, Action]) -> dict[State, Action]:
    return dict(cells)


_AA8_STA3_TO_STA12 = tuple((s, _A.AA_8) for s in (
    _S.STA3, _S.STA5, _S.STA6, _S.STA7, _S.STA8, _S.STA9, _S.STA10, _S.STA11, _S.STA12))

# Table 9-10, one row per event, written the way the standard prints it: state -> action.
# States not named in a row are the table's blank cells. Sta1 and Sta4 have no transport
# connection to receive a PDU on, hence their blank cells in every "PDU received" row.
_ROWS: Final[dict[Event, dict[State, Action]]] = {
    # Evt1: A-ASSOCIATE Request (local user)
    _E.EVT1: _row((_S.STA1, _A.AE_1)),
    # Evt2: Transport Conn. Confirm (local transport service)
    _E.EVT2: _row((_S.STA4, _A.AE_2)),
    # Evt3: A-ASSOCIATE-AC PDU (received on transport connection)
    _E.EVT3: _row((_S.STA2, _A.AA_1), (_S.STA3, _A.AA_8), (_S.STA5, _A.AE_3),
                  (_S.STA6, _A.AA_8), (_S.STA7, _A.AA_8), (_S.STA8, _A.AA_8),
                  (_S.STA9, _A.AA_8), (_S.STA10, _A.AA_8), (_S.STA11, _A.AA_8),
                  (_S.STA12, _A.AA_8), (_S.STA13, _A.AA_6)),
    # Evt4: A-ASSOCIATE-RJ PDU (received on transport connection)
    _E.EVT4: _row((_S.STA2, _A.AA_1), (_S.STA3, _A.AA_8), (_S.STA5, _A.AE_4),
                  (_S.STA6, _A.AA_8), (_S.STA7, _A.AA_8), (_S.STA8, _A.AA_8),
                  (_S.STA9, _A.AA_8), (_S.STA10, _A.AA_8), (_S.STA11, _A.AA_8),
                  (_S.STA12, _A.AA_8), (_S.STA13, _A.AA_6)),
    # Evt5: Transport Connection Indication (local transport service)
    _E.EVT5: _row((_S.STA1, _A.AE_5)),
    # Evt6: A-ASSOCIATE-RQ PDU (received on transport connection)
    _E.EVT6: _row((_S.STA2, _A.AE_6), *_AA8_STA3_TO_STA12, (_S.STA13, _A.AA_7)),
    # Evt7: A-ASSOCIATE response primitive (accept)
    _E.EVT7: _row((_S.STA3, _A.AE_7)),
    # Evt8: A-ASSOCIATE response primitive (reject)
    _E.EVT8: _row((_S.STA3, _A.AE_8)),
    # Evt9: P-DATA request primitive
    _E.EVT9: _row((_S.STA6, _A.DT_1), (_S.STA8, _A.AR_7)),
    # Evt10: P-DATA-TF PDU
    _E.EVT10: _row((_S.STA2, _A.AA_1), (_S.STA3, _A.AA_8), (_S.STA5, _A.AA_8),
                   (_S.STA6, _A.DT_2), (_S.STA7, _A.AR_6), (_S.STA8, _A.AA_8),
                   (_S.STA9, _A.AA_8), (_S.STA10, _A.AA_8), (_S.STA11, _A.AA_8),
                   (_S.STA12, _A.AA_8), (_S.STA13, _A.AA_6)),
    # Evt11: A-RELEASE Request primitive
    _E.EVT11: _row((_S.STA6, _A.AR_1)),
    # Evt12: A-RELEASE-RQ PDU (received on open transport connection)
    _E.EVT12: _row((_S.STA2, _A.AA_1), (_S.STA3, _A.AA_8), (_S.STA5, _A.AA_8),
                   (_S.STA6, _A.AR_2), (_S.STA7, _A.AR_8), (_S.STA8, _A.AA_8),
                   (_S.STA9, _A.AA_8), (_S.STA10, _A.AA_8), (_S.STA11, _A.AA_8),
                   (_S.STA12, _A.AA_8), (_S.STA13, _A.AA_6)),
    # Evt13: A-RELEASE-RP PDU (received on transport connection)
    _E.EVT13: _row((_S.STA2, _A.AA_1), (_S.STA3, _A.AA_8), (_S.STA5, _A.AA_8),
                   (_S.STA6, _A.AA_8), (_S.STA7, _A.AR_3), (_S.STA8, _A.AA_8),
                   (_S.STA9, _A.AA_8), (_S.STA10, _A.AR_10), (_S.STA11, _A.AR_3),
                   (_S.STA12, _A.AA_8), (_S.STA13, _A.AA_6)),
    # Evt14: A-RELEASE Response primitive
    _E.EVT14: _row((_S.STA8, _A.AR_4), (_S.STA9, _A.AR_9), (_S.STA12, _A.AR_4)),
    # Evt15: A-ABORT Request primitive
    _E.EVT15: _row((_S.STA3, _A.AA_1), (_S.STA4, _A.AA_2), (_S.STA5, _A.AA_1),
                   (_S.STA6, _A.AA_1), (_S.STA7, _A.AA_1), (_S.STA8, _A.AA_1),
                   (_S.STA9, _A.AA_1), (_S.STA10, _A.AA_1), (_S.STA11, _A.AA_1),
                   (_S.STA12, _A.AA_1)),
    # Evt16: A-ABORT PDU (received on open transport connection)
    _E.EVT16: _row((_S.STA2, _A.AA_2), (_S.STA3, _A.AA_3), (_S.STA5, _A.AA_3),
                   (_S.STA6, _A.AA_3), (_S.STA7, _A.AA_3), (_S.STA8, _A.AA_3),
                   (_S.STA9, _A.AA_3), (_S.STA10, _A.AA_3), (_S.STA11, _A.AA_3),
                   (_S.STA12, _A.AA_3), (_S.STA13, _A.AA_2)),
    # Evt17: Transport connection closed indication (local transport service)
    _E.EVT17: _row((_S.STA2, _A.AA_5), (_S.STA3, _A.AA_4), (_S.STA4, _A.AA_4),
                   (_S.STA5, _A.AA_4), (_S.STA6, _A.AA_4), (_S.STA7, _A.AA_4),
                   (_S.STA8, _A.AA_4), (_S.STA9, _A.AA_4), (_S.STA10, _A.AA_4),
                   (_S.STA11, _A.AA_4), (_S.STA12, _A.AA_4), (_S.STA13, _A.AR_5)),
    # Evt18: ARTIM timer expired (Association reject/release timer)
    _E.EVT18: _row((_S.STA2, _A.AA_2), (_S.STA13, _A.AA_2)),
    # Evt19: Unrecognized or invalid PDU received
    _E.EVT19: _row((_S.STA2, _A.AA_1), *_AA8_STA3_TO_STA12, (_S.STA13, _A.AA_7)),
}

#: PS3.8 §9.2.3, Table 9-10: exactly its non-blank cells, keyed by (state, event).
#: A (state, event) pair that is not a key is a blank cell.
TABLE: Final[Mapping[tuple[State, Event], Action]] = MappingProxyType({
    (state, event): action
    for event, row in _ROWS.items()
    for state, action in row.items()
})
