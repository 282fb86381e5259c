"""The per-message work of a server answering C-ECHO in one association: what the
benchmarks measure as time is checked here as counts that do not depend on the
machine's load (tasks spawned, event loop rounds)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager

import pytest

import dicomnet
import dicomnet.association
from dicomnet import events as ev
from dicomnet.acse import build_request
from dicomnet.answer_at_once import answer_at_once
from dicomnet.association import AssociationDriver
from dicomnet.connection_events import ConnectionEvent
from dicomnet.dimse import CEchoRQ, CEchoRSP, Status, decode_command, encode_command, pdata_pdu
from dicomnet.pdu import AAssociateAC, PDataTF
from dicomnet.server import Server
from dicomnet.testing.rawpeer import RawPeer
from dicomnet.uids import IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

ECHOES = 50


@contextmanager
def counting_spawns(backend: str) -> Iterator[list[int]]:
    """Count the tasks spawned meanwhile, on either backend."""
    spawned = [0]
    if backend == "asyncio":
        loop = asyncio.get_running_loop()
        previous = loop.get_task_factory()

        def factory(loop: asyncio.AbstractEventLoop, coro, **kwargs):  # type: ignore[no-untyped-def]
            spawned[0] += 1
            if previous is not None:
                return previous(loop, coro, **kwargs)
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(factory)
        try:
            yield spawned
        finally:
            loop.set_task_factory(previous)
    else:
        import trio

        class Counter(trio.abc.Instrument):
            def task_spawned(self, task: trio.lowlevel.Task) -> None:
                spawned[0] += 1

        counter = Counter()
        trio.lowlevel.add_instrument(counter)
        try:
            yield spawned
        finally:
            trio.lowlevel.remove_instrument(counter)


async def test_the_builtin_echo_answer_spawns_no_task(serving: Serving,
                                                      anyio_backend: str) -> None:
    # A task per C-ECHO was the largest single cost of an echo in serve.
    server = Server("ECHOSCP")
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
        assert await assoc.echo() == Status.SUCCESS  # the association's tasks are up
        with counting_spawns(anyio_backend) as spawned:
            for _ in range(ECHOES):
                assert await assoc.echo() == Status.SUCCESS
        assert spawned[0] < ECHOES // 10, spawned


async def test_a_custom_echo_handler_still_runs_in_a_task_of_its_own(
        serving: Serving, anyio_backend: str) -> None:
    # A handler of the application may wait on anything, its own association included:
    # in the reader it could wait forever, so it keeps its task.
    server = Server("ECHOSCP")
    answered = 0

    @server.on_echo()
    async def echo(request: object) -> int:
        nonlocal answered
        answered += 1
        return Status.SUCCESS

    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
        assert await assoc.echo() == Status.SUCCESS
        with counting_spawns(anyio_backend) as spawned:
            for _ in range(10):
                assert await assoc.echo() == Status.SUCCESS
        assert spawned[0] >= 10
    assert answered == 11


@contextmanager
def counting_answers_at_once(monkeypatch: pytest.MonkeyPatch,
                             caplog: pytest.LogCaptureFixture) -> Iterator[list[int]]:
    """Count the requests answered from the transport's callback (associations made
    meanwhile), with the DIMSE log quiet as in a server's normal run: the suite's
    debug log would make every message an event to build, which the reader does."""
    caplog.set_level(logging.INFO, logger="dicomnet")
    counts = [0, 0]  # answered at once, declined or handed to the reader

    def counting(driver: AssociationDriver, data: bytes) -> list[ConnectionEvent] | None:
        left = answer_at_once(driver, data)
        counts[left != []] += 1
        return left

    monkeypatch.setattr(dicomnet.association, "answer_at_once", counting)
    yield counts


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the transport is asyncio's
async def test_the_builtin_echo_answer_goes_out_before_the_reader_wakes(
        serving: Serving, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    server = Server("ECHOSCP")
    with counting_answers_at_once(monkeypatch, caplog) as counts:
        async with serving(server) as port, \
                dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
            # Each response names its own request's Message ID, or the client would
            # not match it (its reader routes responses by that ID).
            for _ in range(ECHOES):
                assert await assoc.echo() == Status.SUCCESS
    assert counts[0] == ECHOES


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_echoes_with_a_handler_or_listeners_are_answered_by_the_reader(
        serving: Serving, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # What only the reader does must still happen: the application's handler runs,
    # and every request is an event for those who listen.
    handled = Server("ECHOSCP")
    statuses = iter([Status.SUCCESS, 0x0110, Status.SUCCESS])

    @handled.on_echo()
    async def echo(request: object) -> int:
        return next(statuses)

    served: list[ev.Event] = []
    listened = Server("ECHOSCP", on_event=served.append)
    with counting_answers_at_once(monkeypatch, caplog) as counts:
        async with serving(handled) as port, \
                dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
            assert [await assoc.echo() for _ in range(3)] == [0, 0x0110, 0]
        async with serving(listened) as port, \
                dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
            for _ in range(3):
                assert await assoc.echo() == Status.SUCCESS
    assert counts[0] == 0
    assert sum(isinstance(event, ev.RequestReceived) for event in served) == 3
    assert sum(isinstance(event, ev.RequestAnswered) for event in served) == 3


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_requests_that_arrive_together_are_answered_in_order(
        serving: Serving, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Bytes holding more than one PDU are the reader's; the requests of one read and
    # those answered at once before and after them keep their order on the wire.
    with counting_answers_at_once(monkeypatch, caplog) as counts:
        async with serving(Server("ECHOSCP")) as port, RawPeer("127.0.0.1", port) as peer:
            await peer.send(build_request(calling_ae_title="RAW", called_ae_title="ECHOSCP",
                                          contexts=[(VERIFICATION, [IMPLICIT_VR_LITTLE_ENDIAN])],
                                          max_pdu_length=16384))
            assert isinstance(await peer.receive_pdu(), AAssociateAC)

            def echo(message_id: int) -> bytes:
                return pdata_pdu(1, True, True, encode_command(
                    CEchoRQ(message_id=message_id, affected_sop_class_uid=VERIFICATION)))

            answered: list[int] = []

            async def answers(count: int) -> None:
                for _ in range(count):
                    pdu = await peer.receive_pdu()
                    assert isinstance(pdu, PDataTF) and len(pdu.pdvs) == 1
                    response = decode_command(pdu.pdvs[0].data)
                    assert isinstance(response, CEchoRSP) and response.status == 0
                    answered.append(response.message_id_being_responded_to)

            await peer.send(echo(1))
            await answers(1)
            await peer.send(echo(2) + echo(3) + echo(4))
            await answers(3)
            await peer.send(echo(5))
            await answers(1)
            assert answered == [1, 2, 3, 4, 5]
    assert counts[0] == 2  # the first and the last; the three together by the reader
