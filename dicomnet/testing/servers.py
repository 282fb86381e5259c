"""A :class:`~dicomnet.server.Server` running for the length of a block, on a free port
of 127.0.0.1: in the test's own event loop (:func:`serving`), or in a thread of its own
(:func:`serving_in_a_thread`) for code that runs its own loop, such as the command line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from ssl import SSLContext

import anyio
import anyio.from_thread

from dicomnet.server import Server

__all__ = ["serving", "serving_in_a_thread"]


@asynccontextmanager
async def serving(server: Server, host: str = "127.0.0.1", *,
                  ssl: SSLContext | None = None) -> AsyncIterator[int]:
    """Run ``server`` on a free port for the duration of the block; yield the port.
    At the end it shuts down gracefully (2 s) and must stop within 10 s."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(server.serve, host, 0, ssl=ssl))
        try:
            yield port
        finally:
            server.shutdown(grace=2)
            with anyio.fail_after(10):
                await server.wait_stopped()


@contextmanager
def serving_in_a_thread(server: Server, host: str = "127.0.0.1") -> Iterator[int]:
    """Run ``server`` on a free port of ``host`` in a thread with its own event loop for
    the block; yield the port."""
    with anyio.from_thread.start_blocking_portal() as portal:
        future, port = portal.start_task(server.serve, host, 0)
        try:
            yield port
        finally:
            portal.call(server.shutdown, 1)
            future.result(timeout=10)
