"""Test your own SCP against DCMTK, in CI, with dicomnet's pytest plugin.

Run with ``pytest examples/test_my_scp.py`` (DCMTK installed: ``apt-get install dcmtk``).
The fixtures ``dicomnet_serving``, ``dcmtk`` and ``dicom_instances`` come from the
plugin that installing dicomnet registers; nothing to configure.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest

import dicomnet
from dicomnet.association import IncomingRequest
from dicomnet.pdu import AAbort
from dicomnet.testing import RawPeer, run

pytestmark = pytest.mark.anyio

Serving = Callable[[dicomnet.Server], AbstractAsyncContextManager[int]]


def my_scp(received: list[str]) -> dicomnet.Server:
    """The SCP under test: it keeps the SOP Instance UID of what it is sent."""
    server = dicomnet.Server("MYSCP")

    @server.on_store()
    async def keep(request: IncomingRequest) -> int:
        received.append(str(request.message.affected_sop_instance_uid))  # type: ignore[union-attr]
        return 0x0000

    return server


async def test_storescu_stores_into_my_scp(dicomnet_serving: Serving,
                                           dcmtk: Callable[[str], str],
                                           dicom_instances: Callable[..., list[Path]]
                                           ) -> None:
    received: list[str] = []
    files = dicom_instances(3, "CT")
    async with dicomnet_serving(my_scp(received)) as port:
        # DCMTK's storescu is a separate process: run it off the event loop, so that
        # the SCP (in this loop) can answer it.
        done = await anyio.to_thread.run_sync(run, [
            dcmtk("storescu"), "-aec", "MYSCP", "127.0.0.1", str(port), *map(str, files)])
    assert done.returncode == 0, done.output
    assert len(received) == 3


async def test_my_scp_aborts_garbage_and_keeps_serving(dicomnet_serving: Serving) -> None:
    async with dicomnet_serving(my_scp([])) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(b"\x55\x00\x00\x00\x00\x02ab")  # PDU type 0x55 does not exist
            answer = await peer.wait_closed()
        assert all(isinstance(pdu, AAbort) for pdu in answer)
        async with dicomnet.connect("127.0.0.1", port, called_ae="MYSCP") as association:
            assert await association.echo() == 0x0000
