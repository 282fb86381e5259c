"""Two tasks aborting one association at once (PS3.8 §7.3 A-ABORT) both return.

Found by the random client interleavings of test_association_stateful.py (a step of
two concurrent aborts, on trio): the first abort sent its A-ABORT and then asked, as
AA-1 says, for ARTIM; meanwhile the second had closed the connection and the reader's
task group had finished, so starting the timer raised "Nursery is closed to new
arrivals" out of abort(). Once the connection is closed there is nothing for ARTIM to
time, and nothing may fail.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest

import dicomnet
from dicomnet.server import Server

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


async def test_two_concurrent_aborts(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        for _ in range(20):  # the race needs a few tries to show
            with anyio.fail_after(5):
                async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(assoc.abort)
                        tg.start_soon(assoc.abort)
                assert assoc.is_closed
                assert assoc.outcome == "aborted"
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
            assert await assoc.echo() == 0
