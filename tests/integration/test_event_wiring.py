"""The typed events of real associations (issue 19), on both sides, over real sockets.

``Server(on_event=)`` and ``connect(on_event=)`` receive every event of an association
in order, with one association ID per connection and the AE titles once they are
known; the log is made of the same events, with their fields on each record. On
asyncio and trio.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pydicom
import pytest

import dicomnet
from dicomnet import events as ev
from dicomnet.association import IncomingRequest
from dicomnet.dimse import Status
from dicomnet.errors import AssociationRejectedError
from dicomnet.server import Server
from dicomnet.services.query_retrieve import STUDY_ROOT_FIND

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


def _names(events: list[ev.Event]) -> list[str]:
    """The events' names, PDUs left out (a subscriber gets those too)."""
    return [event.name for event in events if not event.name.startswith("pdu.")]


async def _settled(events: list[ev.Event], last: str) -> None:
    """The server's side ends a moment after the client's: wait for its last event."""
    with anyio.fail_after(5):
        while not events or events[-1].name != last:
            await anyio.sleep(0.01)


async def test_an_echo_is_seen_from_both_sides(serving: Serving) -> None:
    served: list[ev.Event] = []
    sent: list[ev.Event] = []
    server = Server("SCP", on_event=served.append)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP", calling_ae="ME",
                                    on_event=sent.append) as assoc:
            assert await assoc.echo() == Status.SUCCESS
        await _settled(served, "connection.closed")
    assert _names(sent) == ["connection.opened", "association.requested",
                            "association.accepted", "request.sent", "response.received",
                            "association.released", "connection.closed"]
    assert _names(served) == ["connection.opened", "association.requested",
                              "association.accepted", "request.received",
                              "request.answered", "association.released",
                              "connection.closed"]
    for side, role in ((sent, "requestor"), (served, "acceptor")):
        infos = [e.association for e in side if not isinstance(e, ev.ConnectionOpened)]
        assert len({info.id for info in infos}) == 1  # one association, one ID
        assert all(info.role == role for info in infos)
        assert infos[-1].calling_ae_title == "ME" and infos[-1].called_ae_title == "SCP"
    answered = next(e for e in served if isinstance(e, ev.RequestAnswered))
    assert answered.status == Status.SUCCESS and answered.duration >= 0
    received = next(e for e in sent if isinstance(e, ev.ResponseReceived))
    assert received.status == Status.SUCCESS and not received.pending
    assert received.request is not None and received.request.command_field == 0x0030


async def test_a_rejection_carries_the_reason_on_both_sides(serving: Serving) -> None:
    served: list[ev.Event] = []
    sent: list[ev.Event] = []
    server = Server("SCP", allowed_addresses=["10.0.0.0/8"], on_event=served.append)
    async with serving(server) as port:
        with pytest.raises(AssociationRejectedError):
            async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                        on_event=sent.append):
                pass
        await _settled(served, "connection.closed")
    rejected = next(e for e in served if isinstance(e, ev.AssociationRejected))
    assert rejected.text == "address 127.0.0.1 is not allowed"
    assert (rejected.result, rejected.source) == (1, 1)
    assert "association.rejected" in _names(sent)
    assert "association.accepted" not in _names(served) + _names(sent)


async def test_an_abort_is_local_on_one_side_and_remote_on_the_other(
        serving: Serving) -> None:
    served: list[ev.Event] = []
    sent: list[ev.Event] = []
    server = Server("SCP", on_event=served.append)
    async with serving(server) as port:
        with pytest.raises(RuntimeError):
            async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                        on_event=sent.append):
                raise RuntimeError("the application gives up")
        await _settled(served, "connection.closed")
    ours = next(e for e in sent if isinstance(e, ev.AssociationAborted))
    theirs = next(e for e in served if isinstance(e, ev.AssociationAborted))
    assert ours.local and "RuntimeError" in ours.text
    assert not theirs.local and theirs.source == 0  # A-ABORT, service-user (PS3.8 9-26)
    assert "association.released" not in _names(served)


async def test_find_responses_are_counted_and_a_hub_streams_them(serving: Serving) -> None:
    hub = ev.EventHub()
    server = Server("SCP")
    matches = 7

    @server.on_find()
    async def find(request: IncomingRequest) -> AsyncIterator[pydicom.Dataset]:
        for number in range(matches):
            match = pydicom.Dataset()
            match.PatientID = f"P{number}"
            yield match

    answered: list[ev.RequestAnswered] = []
    server.events = ev.as_hub(
        lambda event: answered.append(event) if isinstance(event, ev.RequestAnswered)
        else None)
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientID = ""
    async with serving(server) as port, hub.stream(max_buffer=100) as stream:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[STUDY_ROOT_FIND], on_event=hub) as assoc:
            responses = [r async for r in assoc.find(query)]
        hub.close()
        seen = [event async for event in stream]
    assert len(responses) == matches + 1
    received = [e for e in seen if isinstance(e, ev.ResponseReceived)]
    assert [e.pending for e in received] == [True] * matches + [False]
    assert len(answered) == 1 and answered[0].pending_responses == matches


async def test_the_log_is_made_of_the_events(serving: Serving,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dicomnet")
    server = Server("SCP")
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    calling_ae="ME") as assoc:
            assert await assoc.echo() == Status.SUCCESS
    accepted = [r for r in caplog.records if r.name == "dicomnet.association"
                and "association accepted" in r.getMessage()]
    assert len(accepted) == 2  # the requestor's and the acceptor's
    assert {r.dicomnet_role for r in accepted} == {"requestor", "acceptor"}
    assert all(r.dicomnet_calling_ae_title == "ME" for r in accepted)
    dimse = [r.getMessage() for r in caplog.records if r.name == "dicomnet.dimse"]
    assert any("C-ECHO-RQ" in line for line in dimse), dimse
    pdus = [r.getMessage() for r in caplog.records if r.name == "dicomnet.pdu"]
    assert any("A-ASSOCIATE-AC" in line for line in pdus), pdus


async def test_a_failing_subscriber_does_not_break_the_association(
        serving: Serving) -> None:
    def broken(event: ev.Event) -> None:
        raise ValueError("subscriber bug")

    server = Server("SCP", on_event=broken)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    on_event=broken) as assoc:
            assert await assoc.echo() == Status.SUCCESS
