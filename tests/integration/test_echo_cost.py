"""The per-message work of a server answering C-ECHO in one association: what the
benchmarks measure as time is checked here as counts that do not depend on the
machine's load (tasks spawned, event loop rounds)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager

import pytest

import dicomnet
from dicomnet.dimse import Status
from dicomnet.server import Server

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
