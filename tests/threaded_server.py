"""A server in a thread of its own, for tests of the command line (whose commands run
their own event loop, so the server cannot share the test's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio.from_thread

from dicomnet.server import Server


@contextmanager
def serving_in_a_thread(server: Server) -> Iterator[int]:
    """Run ``server`` on a free port of 127.0.0.1 for the block; yield the port."""
    with anyio.from_thread.start_blocking_portal() as portal:
        future, port = portal.start_task(server.serve, "127.0.0.1", 0)
        try:
            yield port
        finally:
            portal.call(server.shutdown, 1)
            future.result(timeout=10)
