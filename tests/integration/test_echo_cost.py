"""The per-message work of a server answering C-ECHO in one association: what the
benchmarks measure as time is checked here as counts that do not depend on the
machine's load (tasks spawned, event loop rounds)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager

import anyio
import pytest
from pydicom import Dataset

import dicomnet
import dicomnet.association
from dicomnet import events as ev
from dicomnet.acse import build_request
from dicomnet.answer_at_once import answer_at_once
from dicomnet.association import AssociationDriver, IncomingRequest
from dicomnet.connection_events import ConnectionEvent
from dicomnet.dimse import (
    CEchoRQ,
    CEchoRSP,
    CStoreRQ,
    CStoreRSP,
    Status,
    decode_command,
    encode_command,
    pdata_pdu,
)
from dicomnet.dimse.dataset import encode_dataset
from dicomnet.pdu import AAssociateAC, PDataTF
from dicomnet.server import Server
from dicomnet.testing.rawpeer import RawPeer
from dicomnet.uids import IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

ECHOES = 50
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


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
                             caplog: pytest.LogCaptureFixture) -> Iterator[Counter[str]]:
    """Count what the transport's callback did with the bytes it was offered
    (associations made meanwhile): "answered", "declined" (left as bytes), "reader"
    (fed to the connection, its events left to the reader). With the DIMSE log quiet
    as in a server's normal run: the suite's debug log would make every message an
    event to build, which only the reader does."""
    caplog.set_level(logging.INFO, logger="dicomnet")
    counts: Counter[str] = Counter()

    def counting(driver: AssociationDriver, data: bytes
                 ) -> list[ConnectionEvent] | tuple[()] | None:
        left = answer_at_once(driver, data)
        counts["declined" if left is None else "reader" if isinstance(left, list)
               else "answered"] += 1
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
    assert counts["answered"] == ECHOES


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
    assert counts["answered"] == 0
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
    assert counts["answered"] == 2  # the first and the last; the three together by the reader


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_command_whose_data_set_follows_is_left_to_the_reader_whole(
        serving: Serving, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # A C-STORE-RQ command alone in its read is taken in the callback (one whole
    # command), but nothing answers it there: the connection waits for its data set,
    # which the reader receives; the handler gets all of it and the peer its answer.
    server = Server("STORESCP")
    stored: list[str] = []

    @server.on_store(sop_classes=[CT_IMAGE_STORAGE])
    async def store(request: IncomingRequest) -> int:
        assert request.dataset is not None
        stored.append(str(request.dataset.SOPInstanceUID))
        return Status.SUCCESS

    dataset = Dataset()
    dataset.SOPClassUID = CT_IMAGE_STORAGE
    dataset.SOPInstanceUID = "1.2.3.4.5"
    dataset.PatientID = "P1"
    data = encode_dataset(dataset, IMPLICIT_VR_LITTLE_ENDIAN)
    with counting_answers_at_once(monkeypatch, caplog) as counts:
        async with serving(server) as port, RawPeer("127.0.0.1", port) as peer:
            await peer.send(build_request(
                calling_ae_title="RAW", called_ae_title="STORESCP",
                contexts=[(CT_IMAGE_STORAGE, [IMPLICIT_VR_LITTLE_ENDIAN])],
                max_pdu_length=16384))
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(pdata_pdu(1, True, True, encode_command(CStoreRQ(
                message_id=7, affected_sop_class_uid=CT_IMAGE_STORAGE,
                affected_sop_instance_uid="1.2.3.4.5", has_dataset=True))))
            await anyio.sleep(0.1)  # the command arrives alone
            await peer.send(pdata_pdu(1, False, True, data))
            pdu = await peer.receive_pdu()
            assert isinstance(pdu, PDataTF)
            response = decode_command(pdu.pdvs[0].data)
            assert isinstance(response, CStoreRSP) and response.status == Status.SUCCESS
            assert response.message_id_being_responded_to == 7
    assert stored == ["1.2.3.4.5"]
    assert counts["answered"] == 0
    assert counts["reader"] == 1  # the command, taken; its data set came to the reader
