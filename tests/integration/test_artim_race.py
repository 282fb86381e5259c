"""ARTIM expiring in the same instant as the connection closes is not a crash.

Found by conformance/test_fuzz_captures.py (a mutated getscu session): the ARTIM timer's
sleep ended, and before its task ran again the reader saw the connection close (Evt17,
Sta13 or Sta2 -> Sta1) and stopped the timer. A cancellation only lands at the next
checkpoint, so the timer task went on and fed Evt18 to the machine in Sta1, where PS3.8
Table 9-10 has no action for it (Evt18 only exists in Sta2 and Sta13, AA-2): a
ProtocolStateError escaped Association.serve() and the server logged "connection from
... failed" with a traceback. A timer that was stopped, or that outlived the states
it guards, must do nothing.
"""

from __future__ import annotations

import time

import anyio
import anyio.lowlevel
import pytest

from dicomnet.association import AssociationDriver
from dicomnet.config import Timeouts
from dicomnet.ul import State

pytestmark = pytest.mark.anyio


async def test_artim_expiring_after_the_connection_closed_does_nothing() -> None:
    association = AssociationDriver(stream=None, timeouts=Timeouts(artim=0), max_pdu_length=16384)
    assert association.connection.state == State.STA1  # the connection is already gone
    with anyio.fail_after(2):
        await association._artim.run(anyio.CancelScope())
    assert not association.connection.artim_expired()
    assert association.outcome == ""  # nothing happened: no abort, no close


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the schedule below is asyncio's
async def test_the_race_itself_on_asyncio(anyio_backend: str) -> None:
    """The real sequence, made exact: the loop is busy past the expiry, the timer
    resolves ARTIM's sleep, and in the next loop iteration, before ARTIM's task
    resumes, the connection closes (Evt17 in Sta2, AA-5: Sta1) and the timer is
    stopped. anyio cannot deliver that cancellation to a task whose sleep already
    ended, so the task resumes; it must notice and do nothing."""
    association = AssociationDriver(stream=None, timeouts=Timeouts(artim=0.05),
                              max_pdu_length=16384)
    association.connection.transport_accepted()  # Sta2, as after AE-5
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            association._tasks = tg
            association._sync_artim()  # the connection asks for ARTIM: a task starts
            await anyio.lowlevel.checkpoint()  # ARTIM's task starts its sleep
            time.sleep(0.1)  # noqa: ASYNC251 - the loop must be busy past the expiry
            await anyio.lowlevel.checkpoint()  # we run first; then the timer ends ARTIM's sleep
            await anyio.lowlevel.checkpoint()  # we run again before ARTIM's task resumes
            association.connection.transport_closed()  # the reader saw the close...
            association._artim.stop()  # ...and stopped the timer
    assert association.connection.state == State.STA1
    assert association.outcome == ""
