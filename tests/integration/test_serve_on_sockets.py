"""``Server.serve(sockets=...)``: serving on sockets bound elsewhere (the parent of
``dicomnet serve --workers`` binds once and its workers serve what they inherit), on
asyncio and trio."""

from __future__ import annotations

import socket
from functools import partial

import anyio
import pytest

import dicomnet
from dicomnet.dimse import Status
from dicomnet.server import Server

pytestmark = pytest.mark.anyio


async def test_two_servers_answer_on_one_bound_socket() -> None:
    bound = socket.create_server(("127.0.0.1", 0))
    port = bound.getsockname()[1]
    first, second = Server("SHARED"), Server("SHARED")
    # Copied before either serves: socket.dup() gives the copy the original's
    # (blocking) mode, and the mode belongs to the socket all copies share.
    copies = [bound.dup(), bound.dup()]
    bound.close()
    async with anyio.create_task_group() as tg:
        for server, copy in zip((first, second), copies, strict=True):
            started = await tg.start(partial(server.serve, "127.0.0.1", 1,
                                             sockets=[copy]))
            assert started == server.port == port
        with anyio.fail_after(20):
            for _round in range(3):
                async with dicomnet.connect("127.0.0.1", port,
                                            called_ae="SHARED") as association:
                    assert await association.echo() == Status.SUCCESS
        for server in (first, second):
            server.shutdown(1)
    assert first.associations_served + second.associations_served == 3
    # Both closed their copies: nothing listens on the port any more.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
