"""Random interleavings of requests, responses, C-CANCELs and give-ups across an
in-memory pair (hypothesis stateful testing), with the bytes between the two
delivered in random cuts, against invariants that hold whatever the order:

- a response reaches our request while its Message ID is outstanding, and is a
  StrayResponse otherwise (PS3.7 §9.1.1.1.1: Message ID Being Responded To names it);
- our outstanding requests never share a Message ID (PS3.7 §9.3.1.1), and never
  exceed the negotiated window; the peer's never are performed past it (PS3.7
  D.3.3.3), and the requests it holds start in the order they came;
- a C-CANCEL-RQ arrives only for a request being performed (PS3.7 §9.3.2.3);
- nothing in a well-formed exchange aborts the association.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from pair import FIND, IDENTIFIER, VERIFICATION, Pair, message_id

from dicomnet.connection import CANCELLABLE, WindowFullError
from dicomnet.connection_events import (
    CancelArrived,
    ConnectionEvent,
    RequestArrived,
    ResponseArrived,
    StrayResponse,
)
from dicomnet.dimse import CEchoRQ, CEchoRSP, CFindRQ, DIMSEMessage, Status
from dicomnet.ul import State

#: A Message ID our side never allocates in a run this short: responses to it are
#: strays by construction.
STRAY_ID = 60000


class Interleavings(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pair = Pair()
        self.window = 1
        self.to_acceptor = b""
        self.to_requestor = b""
        self.ours: dict[int, DIMSEMessage] = {}  # requestor: outstanding, by Message ID
        self.performing: list[DIMSEMessage] = []  # acceptor: started, not done
        self.sent_order: list[int] = []  # request Message IDs in the order sent
        self.started_order: list[int] = []  # ...and in the order the acceptor started them

    @initialize(window=st.sampled_from([0, 1, 2, 3]))
    def associate(self, window: int) -> None:
        self.window = window
        self.pair = Pair.established(invoked=window, performed=window)

    # -- the requestor ---------------------------------------------------------------------

    @rule(find=st.booleans())
    def send_request(self, find: bool) -> None:
        requestor = self.pair.requestor
        message: DIMSEMessage = CFindRQ(affected_sop_class_uid=FIND) if find \
            else CEchoRQ(affected_sop_class_uid=VERIFICATION)
        if not requestor.can_invoke:
            with pytest.raises(WindowFullError):
                requestor.start_request(message)
            return
        sent, data = self.pair.request(message, IDENTIFIER if find else None)
        assert message_id(sent) not in self.ours
        self.ours[message_id(sent)] = sent
        self.sent_order.append(message_id(sent))
        self.to_acceptor += data

    @precondition(lambda self: any(m.command_field in CANCELLABLE
                                   for m in self.ours.values()))
    @rule(pick=st.integers(0, 1000))
    def cancel(self, pick: int) -> None:
        cancellable = [i for i, m in self.ours.items() if m.command_field in CANCELLABLE]
        target = cancellable[pick % len(cancellable)]
        cancel = self.pair.requestor.cancel(target)
        self.pair.requestor.message_sent()
        self.to_acceptor += self.pair.encode(cancel, context=self.pair.context(FIND))

    @precondition(lambda self: bool(self.ours))
    @rule(pick=st.integers(0, 1000))
    def give_up(self, pick: int) -> None:
        """The requester stops waiting (a timeout, a cancelled task): end_request."""
        target = sorted(self.ours)[pick % len(self.ours)]
        self.pair.requestor.end_request(target)
        del self.ours[target]

    @precondition(lambda self: bool(self.to_requestor))
    @rule(cut=st.floats(0, 1))
    def deliver_to_requestor(self, cut: float) -> None:
        size = max(1, int(len(self.to_requestor) * cut))
        data, self.to_requestor = self.to_requestor[:size], self.to_requestor[size:]
        for event in self.pair.requestor.receive_data(data):
            self.on_requestor_event(event)

    def on_requestor_event(self, event: ConnectionEvent) -> None:
        if isinstance(event, ResponseArrived):
            names = int(event.response.message.message_id_being_responded_to)  # type: ignore[union-attr]
            assert event.request_id == names
            assert names in self.ours, "a response routed to no outstanding request"
            if not event.response.is_pending:
                self.pair.requestor.end_request(names)
                del self.ours[names]
        elif isinstance(event, StrayResponse):
            names = int(event.message.message_id_being_responded_to)  # type: ignore[union-attr]
            assert names not in self.ours, "a response to an outstanding request was lost"
        else:
            raise AssertionError(f"unexpected event on the requestor: {event!r}")

    # -- the acceptor ----------------------------------------------------------------------

    @precondition(lambda self: bool(self.to_acceptor))
    @rule(cut=st.floats(0, 1))
    def deliver_to_acceptor(self, cut: float) -> None:
        size = max(1, int(len(self.to_acceptor) * cut))
        data, self.to_acceptor = self.to_acceptor[:size], self.to_acceptor[size:]
        self.acceptor_read(data)

    def acceptor_read(self, data: bytes) -> None:
        """What the driver's read loop does: read, start what the window lets start,
        go on parsing once nothing is held."""
        acceptor = self.pair.acceptor
        events = acceptor.receive_data(data)
        while True:
            for event in events:
                self.on_acceptor_event(event)
            if acceptor.holding:
                events = acceptor.release_held()
                if not events:
                    return  # waits for a request to be done
                continue
            if not acceptor.paused:
                return
            events = acceptor.receive_data(b"")

    def on_acceptor_event(self, event: ConnectionEvent) -> None:
        if isinstance(event, RequestArrived):
            self.performing.append(event.message)
            self.started_order.append(message_id(event.message))
        elif isinstance(event, CancelArrived):
            assert event.request_id in {message_id(m) for m in self.performing}, \
                "a C-CANCEL reached a request not being performed"
        else:
            raise AssertionError(f"unexpected event on the acceptor: {event!r}")

    @precondition(lambda self: bool(self.performing))
    @rule(pick=st.integers(0, 1000), final=st.booleans())
    def respond(self, pick: int, final: bool) -> None:
        request = self.performing[pick % len(self.performing)]
        if not final and request.command_field in CANCELLABLE:
            self.to_requestor += self.pair.respond(request, Status.PENDING, IDENTIFIER)
            return
        self.to_requestor += self.pair.respond(request, Status.SUCCESS)
        self.performing.remove(request)
        self.pair.acceptor.request_done(message_id(request))
        self.acceptor_read(b"")

    @rule()
    def respond_to_nothing(self) -> None:
        self.pair.acceptor.message_sent()
        self.to_requestor += self.pair.encode(CEchoRSP(
            message_id_being_responded_to=STRAY_ID, status=Status.SUCCESS,
            affected_sop_class_uid=VERIFICATION))

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def our_requests_agree_with_the_model(self) -> None:
        requestor = self.pair.requestor
        assert requestor.outstanding == len(self.ours)
        assert requestor.message_ids_in_use == len(self.ours)
        for request_id, message in self.ours.items():
            assert requestor.request_for(request_id) == message
        if self.window:
            assert requestor.outstanding <= self.window

    @invariant()
    def the_peers_requests_stay_within_the_window(self) -> None:
        acceptor = self.pair.acceptor
        assert acceptor.performing == len(self.performing)
        if self.window:
            assert acceptor.performing <= self.window
        else:
            assert not acceptor.holding

    @invariant()
    def requests_start_in_the_order_sent(self) -> None:
        assert self.started_order == self.sent_order[:len(self.started_order)]

    @invariant()
    def the_association_stays_up(self) -> None:
        for conn in (self.pair.requestor, self.pair.acceptor):
            assert conn.state is State.STA6 and not conn.wants_close and conn.error is None


Interleavings.TestCase.settings = settings(max_examples=100, stateful_step_count=40,
                                           deadline=None)
TestInterleavings = Interleavings.TestCase
