"""The DICOM upper layer protocol machine (PS3.8 §9.2), sans-IO.

:mod:`~dicomnet.ul.table` holds Table 9-10 as data, :mod:`~dicomnet.ul.machine` runs
it, and :mod:`~dicomnet.ul.outputs` names what it asks the I/O layer to do. Nothing here
touches a socket or a clock: the async :mod:`dicomnet.association` performs the outputs
and reports transport and timer events back.
"""

from dicomnet.ul.machine import AcceptCheck, UpperLayer, event_for_pdu, protocol_version_check
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

__all__ = [
    "NEXT_STATE",
    "TABLE",
    "AbortIndication",
    "AcceptCheck",
    "Action",
    "AssociateAccepted",
    "AssociateIndication",
    "AssociateRejected",
    "CloseTransport",
    "ConnectTransport",
    "DataIndication",
    "Event",
    "Output",
    "ReleaseConfirmed",
    "ReleaseIndication",
    "SendPDU",
    "StartARTIM",
    "State",
    "StopARTIM",
    "UpperLayer",
    "event_for_pdu",
    "protocol_version_check",
]
