"""Shared pieces of the upper layer tests: canned PDUs, one way to fire each event, and
paths of real transitions from Sta1 to every state (found by BFS over the machine)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from dicomnet.errors import ProtocolStateError
from dicomnet.pdu.constants import AbortReason, AbortSource
from dicomnet.pdu.items import PresentationContextRQ
from dicomnet.pdu.pdus import (
    PDU,
    PDV,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
)
from dicomnet.ul import Event, Output, SendPDU, State, UpperLayer

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"

RQ = AAssociateRQ(
    called_ae_title="ANY-SCP",
    calling_ae_title="ECHOSCU",
    presentation_contexts=(PresentationContextRQ(1, VERIFICATION, (IMPLICIT_LE,)),),
)
RQ_VERSION_0 = AAssociateRQ(called_ae_title="ANY-SCP", calling_ae_title="ECHOSCU",
                            protocol_version=0)
AC = AAssociateAC(called_ae_title="ANY-SCP", calling_ae_title="ECHOSCU")
RJ = AAssociateRJ(result=1, source=1, reason=7)
DATA = PDataTF((PDV(context_id=1, is_command=True, is_last=True, data=b"\x00\x00"),))
OTHER_DATA = PDataTF((PDV(context_id=1, is_command=False, is_last=True, data=b"\x01"),))
USER_ABORT = AAbort(source=AbortSource.SERVICE_USER, reason=0)
PROVIDER_ABORT = AAbort(source=AbortSource.SERVICE_PROVIDER,
                        reason=AbortReason.INVALID_PDU_PARAMETER_VALUE)

#: The PDU (or primitive argument) each event is fired with in the table-driven tests.
PDU_FOR_EVENT: dict[Event, PDU | None] = {
    Event.EVT1: RQ,
    Event.EVT3: AC,
    Event.EVT4: RJ,
    Event.EVT6: RQ,
    Event.EVT7: AC,
    Event.EVT8: RJ,
    Event.EVT9: DATA,
    Event.EVT10: DATA,
    Event.EVT12: AReleaseRQ(),
    Event.EVT13: AReleaseRP(),
    Event.EVT15: None,  # abort_request() with its default A-ABORT
    Event.EVT16: PROVIDER_ABORT,
}

#: Reason given with Evt19 in the table-driven tests.
INVALID_REASON = AbortReason.UNRECOGNIZED_PDU_PARAMETER

#: One public method per event, the way the I/O layer fires it.
FIRE: dict[Event, Callable[[UpperLayer], list[Output]]] = {
    Event.EVT1: lambda m: m.associate_request(RQ),
    Event.EVT2: lambda m: m.transport_connected(),
    Event.EVT3: lambda m: m.pdu_received(AC),
    Event.EVT4: lambda m: m.pdu_received(RJ),
    Event.EVT5: lambda m: m.transport_accepted(),
    Event.EVT6: lambda m: m.pdu_received(RQ),
    Event.EVT7: lambda m: m.associate_accept(AC),
    Event.EVT8: lambda m: m.associate_reject(RJ),
    Event.EVT9: lambda m: m.send_data(DATA),
    Event.EVT10: lambda m: m.pdu_received(DATA),
    Event.EVT11: lambda m: m.release_request(),
    Event.EVT12: lambda m: m.pdu_received(AReleaseRQ()),
    Event.EVT13: lambda m: m.pdu_received(AReleaseRP()),
    Event.EVT14: lambda m: m.release_response(),
    Event.EVT15: lambda m: m.abort_request(),
    Event.EVT16: lambda m: m.pdu_received(PROVIDER_ABORT),
    Event.EVT17: lambda m: m.transport_closed(),
    Event.EVT18: lambda m: m.artim_expired(),
    Event.EVT19: lambda m: m.invalid_pdu_received(INVALID_REASON),
}

#: A machine's situation as far as Table 9-10 cares: its state and its role (AR-8).
Node = tuple[State, bool | None]


def node_of(machine: UpperLayer) -> Node:
    return machine.state, machine.is_requestor


def drive(path: list[Event]) -> UpperLayer:
    """A fresh machine taken along ``path`` by real transitions."""
    machine = UpperLayer()
    for event in path:
        FIRE[event](machine)
    return machine


def find_paths() -> dict[Node, list[Event]]:
    """Shortest event path from a fresh machine to every reachable (state, role).

    Breadth first over the machine itself, trying the events in number order: the
    paths found are the standard's happy paths (e.g. Sta6 as requestor is Evt1, Evt2,
    Evt3), and release collisions reach Sta9-Sta12.
    """
    paths: dict[Node, list[Event]] = {node_of(UpperLayer()): []}
    queue: deque[list[Event]] = deque([[]])
    while queue:
        path = queue.popleft()
        for event in Event:
            machine = drive(path)
            try:
                FIRE[event](machine)
            except ProtocolStateError:
                continue
            node = node_of(machine)
            if node not in paths:
                paths[node] = [*path, event]
                queue.append(paths[node])
    return paths


PATHS = find_paths()


def paths_to(state: State) -> dict[bool | None, list[Event]]:
    """Every role in which ``state`` is reachable, with the path to it."""
    return {role: path for (s, role), path in PATHS.items() if s is state}


@dataclass
class Wire:
    """Two machines joined by a perfect transport: what one sends, the other receives.

    Only the UL is simulated; the test plays the local users. ``log`` keeps every
    (side, outputs) pair so tests can look at what each side saw.
    """

    requestor: UpperLayer = field(default_factory=UpperLayer)
    acceptor: UpperLayer = field(default_factory=UpperLayer)
    log: list[tuple[str, list[Output]]] = field(default_factory=list)

    def peer(self, machine: UpperLayer) -> UpperLayer:
        return self.acceptor if machine is self.requestor else self.requestor

    def name(self, machine: UpperLayer) -> str:
        return "requestor" if machine is self.requestor else "acceptor"

    def record(self, machine: UpperLayer, outputs: list[Output]) -> list[Output]:
        self.log.append((self.name(machine), outputs))
        return outputs

    def deliver(self, sender: UpperLayer, outputs: list[Output]) -> list[Output]:
        """Deliver what ``sender`` sent to its peer; return the peer's outputs."""
        received: list[Output] = []
        peer = self.peer(sender)
        for output in outputs:
            if isinstance(output, SendPDU):
                received += self.record(peer, peer.pdu_received(output.pdu))
        return received

    def associate(self) -> None:
        """Evt1 .. AE-7 .. AE-3: both sides end in Sta6."""
        self.record(self.requestor, self.requestor.associate_request(RQ))
        self.record(self.acceptor, self.acceptor.transport_accepted())
        sent = self.record(self.requestor, self.requestor.transport_connected())
        self.deliver(self.requestor, sent)
        sent = self.record(self.acceptor, self.acceptor.associate_accept(AC))
        self.deliver(self.acceptor, sent)
