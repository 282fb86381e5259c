"""A message whose sending stops half way aborts the association (PS3.8 §9.3.5: the
peer could not tell where the next message starts), whether the send is cancelled or
times out; a send cancelled before its first PDU leaves the association usable."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest

import dicomnet
from dicomnet.acse import AcceptorPolicy, negotiate
from dicomnet.config import Timeouts
from dicomnet.dataset_io import FileRegion
from dicomnet.dimse import CStoreRQ
from dicomnet.errors import AssociationAbortedError, DicomNetError
from dicomnet.pdu import PDUFramer, encode_pdu
from dicomnet.server import Server
from dicomnet.uids import EXPLICIT_VR_LITTLE_ENDIAN

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


class _CancellingFile(io.BytesIO):
    """A file that cancels the sender's scope after its first block was read."""

    def __init__(self, data: bytes, scope: anyio.CancelScope) -> None:
        super().__init__(data)
        self.scope = scope
        self.reads = 0

    def readinto(self, buffer: object) -> int:
        self.reads += 1
        if self.reads == 2:
            self.scope.cancel()
        return super().readinto(buffer)  # type: ignore[arg-type]


async def test_cancelled_half_way_aborts(serving: Serving) -> None:
    server = Server("SCP")
    received: list[object] = []
    server.on_store(sop_classes=[CT_STORAGE])(lambda request: _record(received, request))
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[CT_STORAGE]) as assoc:
            context = assoc.negotiated.find_context(CT_STORAGE)
            assert context is not None
            data = b"\x00" * (8 << 20)
            with anyio.CancelScope() as scope:
                region = FileRegion(_CancellingFile(data, scope), 0, len(data))
                message = CStoreRQ(affected_sop_class_uid=CT_STORAGE,
                                   affected_sop_instance_uid="1.2.3")
                async for _response in assoc.request(context, message, region):
                    pass
            assert scope.cancelled_caught
            assert assoc.outcome == "aborted"
            with pytest.raises(DicomNetError):
                await assoc.echo()
    assert received == []  # the half message never reached a handler


async def _record(received: list[object], request: object) -> int:
    received.append(request)
    return 0


async def test_cancelled_before_sending_keeps_the_association(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await assoc.echo()
            assert assoc.is_established
            assert await assoc.echo() == 0


async def test_send_timing_out_half_way_aborts() -> None:
    """A peer that accepts the association and then stops reading: the send blocks
    once the socket buffers are full, the network timeout fires, the association is
    aborted instead of left with half a message on the wire."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
    policy = AcceptorPolicy(ae_title="SCP",
                            contexts={CT_STORAGE: [EXPLICIT_VR_LITTLE_ENDIAN]})

    async def stop_reading(stream: anyio.abc.SocketStream) -> None:
        framer = PDUFramer(1 << 20)
        while (request := framer.next_pdu()) is None:
            framer.feed(await stream.receive())
        accept, _negotiated = negotiate(request, policy)  # type: ignore[arg-type]
        await stream.send(encode_pdu(accept))
        await anyio.sleep(30)  # never read again

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, stop_reading)
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[(CT_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])],
                                    timeouts=Timeouts(network=1.0)) as assoc:
            context = assoc.negotiated.find_context(CT_STORAGE)
            assert context is not None
            message = CStoreRQ(affected_sop_class_uid=CT_STORAGE,
                               affected_sop_instance_uid="1.2.3")
            with anyio.fail_after(10), pytest.raises(AssociationAbortedError):
                async for _response in assoc.request(context, message, b"\x00" * (64 << 20)):
                    pass
            assert assoc.outcome == "aborted"
        tg.cancel_scope.cancel()
