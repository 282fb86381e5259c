"""An idle requestor must not time out (issue 19).

``Timeouts.network`` protects a *server* from peers that connect and go silent. A
client association that waits for nothing (held in an :class:`dicomnet.AssociationPool`
between two sends, say) is not waiting for the peer at all, so it must survive being
idle for longer than ``Timeouts.network`` and work afterwards. (It used to abort
itself after ``Timeouts.network``.)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest

import dicomnet
from dicomnet.dimse import Status
from dicomnet.server import Server

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


async def test_idle_client_association_outlives_the_network_timeout(
        serving: Serving) -> None:
    server = Server("PACS")
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="PACS",
                             timeouts=dicomnet.Timeouts(network=0.2)) as assoc:
        assert await assoc.echo() == Status.SUCCESS
        await anyio.sleep(0.8)  # four network timeouts of doing nothing
        assert not assoc.is_closed, f"the idle association ended: {assoc.outcome}"
        assert await assoc.echo() == Status.SUCCESS
