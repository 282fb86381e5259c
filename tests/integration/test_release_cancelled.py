"""A client whose release is cancelled (a timeout around its block, the task that owns
it cancelled) does not leave the connection open: the peer gets an A-ABORT and the
connection closes (PS3.8 7.3). Found by ``dicomnet check``'s release collision: serve's
C-MOVE sub-operation association stayed open when the move's own association ended
first and cancelled the sub-operations' release."""

from __future__ import annotations

import anyio
import pytest
from anyio.abc import SocketStream

import dicomnet
from dicomnet.pdu import (
    AAbort,
    AAssociateAC,
    AAssociateRQ,
    AReleaseRQ,
    ImplementationClassUIDSubItem,
    MaximumLengthSubItem,
    PDUFramer,
    PresentationContextAC,
    UserInformationItem,
    encode_pdu,
)

pytestmark = pytest.mark.anyio


async def accept_and_never_release(stream: SocketStream, seen: list[str]) -> None:
    """Accept the association, then read without ever answering A-RELEASE-RQ; note
    each PDU type and the end of the connection in ``seen``."""
    framer = PDUFramer(1 << 20)
    with anyio.fail_after(10):
        while True:
            try:
                data = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                seen.append("closed")
                return
            framer.feed(data)
            while (pdu := framer.next_pdu()) is not None:
                seen.append(type(pdu).__name__)
                if isinstance(pdu, AAssociateRQ):
                    await stream.send(encode_pdu(AAssociateAC(
                        pdu.called_ae_title, pdu.calling_ae_title,
                        tuple(PresentationContextAC(pc.context_id, 0, "1.2.840.10008.1.2")
                              for pc in pdu.presentation_contexts),
                        UserInformationItem((MaximumLengthSubItem(16384),
                                             ImplementationClassUIDSubItem("1.2.3.4"))))))


async def test_a_release_cancelled_aborts_and_closes_the_connection() -> None:
    seen: list[str] = []
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener, \
            anyio.create_task_group() as tg:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.start_soon(listener.serve, lambda s: accept_and_never_release(s, seen))
        with anyio.move_on_after(1) as scope:
            async with dicomnet.connect("127.0.0.1", port, called_ae="NEVER") as assoc:
                pass  # released on the way out; the peer never answers
        assert scope.cancelled_caught
        assert assoc.outcome == "aborted"
        with anyio.fail_after(5):
            while "closed" not in seen:
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    assert seen == [AAssociateRQ.__name__, AReleaseRQ.__name__, AAbort.__name__, "closed"]
