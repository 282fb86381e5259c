"""Receiving many C-FIND matches: responses the reader has already buffered are handed
over without an event loop round each, and all arrive, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing

import anyio
import anyio.lowlevel
import pydicom
import pytest
from queries import query as _query

import dicomnet
from dicomnet.association import IncomingRequest
from dicomnet.dimse import Status
from dicomnet.server import Server
from dicomnet.services import query_retrieve as qr

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]
MATCHES = 300


async def test_buffered_matches_cost_no_loop_round_each(serving: Serving) -> None:
    server = Server("SCP")

    @server.on_find()
    async def many(request: IncomingRequest) -> AsyncIterator[pydicom.Dataset]:
        for number in range(MATCHES):
            identifier = pydicom.Dataset()
            identifier.QueryRetrieveLevel = "PATIENT"
            identifier.PatientID = f"{number:05d}"
            yield identifier

    rounds = 0
    done = False

    async def count_rounds() -> None:
        nonlocal rounds
        while not done:
            await anyio.lowlevel.checkpoint()
            rounds += 1

    ids: list[str] = []
    async with serving(server) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="SCP", contexts=[qr.PATIENT_ROOT_FIND]) as assoc:
        with anyio.fail_after(20):
            async with aclosing(qr.find(assoc, _query("PATIENT", PatientID="*"),
                                        model="patient")) as results, \
                    anyio.create_task_group() as tasks:
                consumed_rounds = 0
                async for response in results:
                    if not ids and response.status == Status.PENDING:
                        # Let the peer send everything; the reader buffers what it
                        # may, then the rest is consumed while rounds are counted.
                        await anyio.sleep(0.5)
                        tasks.start_soon(count_rounds)
                        await anyio.lowlevel.checkpoint()
                        start = rounds
                    identifier = response.dataset
                    if identifier is not None:
                        ids.append(identifier.PatientID)
                consumed_rounds = rounds - start
                done = True
    assert ids == [f"{number:05d}" for number in range(MATCHES)]
    # One round per response before; now one per read of the socket and per buffer
    # full, whatever the backend: well under one per response.
    assert consumed_rounds < MATCHES / 2, consumed_rounds
