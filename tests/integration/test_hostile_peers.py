"""Peers that send garbage, truncated PDUs, absurd lengths or nothing at all get an
A-ABORT (or the connection closed) and the server keeps answering everybody else."""

from __future__ import annotations

import struct
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest

import dicomnet
from dicomnet.acse import build_request
from dicomnet.config import Timeouts
from dicomnet.pdu import PDV, AAbort, AAssociateAC, AAssociateRJ, AReleaseRQ, PDataTF, encode_pdu
from dicomnet.server import Server
from dicomnet.testing import RawPeer
from dicomnet.uids import VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


async def _still_serving(port: int) -> None:
    with anyio.fail_after(10):
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
            assert await assoc.echo() == 0


def _request(called: str = "SCP") -> bytes:
    return encode_pdu(build_request(calling_ae_title="RAW", called_ae_title=called,
                         contexts=[(VERIFICATION, ["1.2.840.10008.1.2"])],
                         max_pdu_length=16384))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http"),
        pytest.param(bytes(range(256)) * 4, id="binary-garbage"),
        pytest.param(b"\x01\x00\x00\x00\x00\x10" + b"\xff" * 16, id="rq-with-bad-body"),
        pytest.param(b"\x09\x00\x00\x00\x00\x04\x00\x00\x00\x00", id="unknown-pdu-type"),
    ],
)
async def test_garbage_gets_abort_and_server_survives(serving: Serving, payload: bytes) -> None:
    async with serving(Server("SCP")) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(payload)
            received = await peer.wait_closed()
        assert all(isinstance(p, AAbort) for p in received)
        if received:
            # Before association, PS3.8 Table 9-10 Sta2/Evt19 is AA-1: an A-ABORT with
            # service-user source (0) and reason 0 (§9.3.8).
            assert (received[0].source, received[0].reason) == (0, 0)
        await _still_serving(port)


async def test_four_gib_length_is_refused_without_allocating(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(_request())
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(struct.pack(">BBI", 0x04, 0, 0xFFFFFFFF))
            received = await peer.wait_closed()
        assert received and isinstance(received[0], AAbort)
        assert received[0].source == 2
        await _still_serving(port)


async def test_four_gib_association_request(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(struct.pack(">BBI", 0x01, 0, 0xFFFFFFFF) + b"\x00" * 100)
            received = await peer.wait_closed()
        assert all(isinstance(p, AAbort) for p in received)
        await _still_serving(port)


async def test_truncated_pdu_then_close(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(_request()[:40])
        await _still_serving(port)


async def test_truncated_pdata_mid_association(serving: Serving) -> None:
    server = Server("SCP")
    async with serving(server) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(_request())
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            pdu = encode_pdu(PDataTF((PDV(1, True, True, b"\x00" * 50),)))
            await peer.send(pdu[:20])
        with anyio.fail_after(5):
            while server.associations:
                await anyio.sleep(0.01)
        await _still_serving(port)


async def test_undecodable_command_gets_abort(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(_request())
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(PDataTF((PDV(1, True, True, b"\x01\x02\x03"),)))
            received = await peer.wait_closed()
        assert received and isinstance(received[0], AAbort)
        await _still_serving(port)


async def test_pdv_on_unaccepted_context_gets_abort(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(_request())
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(PDataTF((PDV(99, True, True, b"\x00" * 8),)))
            received = await peer.wait_closed()
        assert received and isinstance(received[0], AAbort)
        await _still_serving(port)


async def test_unexpected_pdu_before_association(serving: Serving) -> None:
    """A-RELEASE-RQ in Sta2 is an unexpected PDU: A-ABORT (PS3.8 Table 9-10, AA-1)."""
    async with serving(Server("SCP")) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(AReleaseRQ())
            received = await peer.wait_closed()
        assert received and isinstance(received[0], AAbort)
        await _still_serving(port)


async def test_protocol_version_not_supported(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            raw = bytearray(_request())
            raw[6:8] = b"\x00\x02"  # protocol version without bit 0 (PS3.8 §9.3.2)
            await peer.send(bytes(raw))
            answer = await peer.receive_pdu()
        assert isinstance(answer, AAssociateRJ)
        assert (answer.result, answer.source, answer.reason) == (1, 2, 2)
        await _still_serving(port)


async def test_silent_peer_dropped_by_artim(serving: Serving) -> None:
    """Connects and sends nothing: ARTIM (PS3.8 §9.1.5) closes the connection."""
    server = Server("SCP", timeouts=Timeouts(artim=0.3))
    async with serving(server) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            with anyio.fail_after(5):
                assert await peer.wait_closed() == []
        await _still_serving(port)


async def test_many_bad_peers_at_once(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        async def bad(n: int) -> None:
            # Send a fragment of junk and hang up, mid-PDU for most of them.
            async with RawPeer("127.0.0.1", port) as peer:
                await peer.send(bytes([n % 8]) * (n + 1))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for n in range(30):
                    tg.start_soon(bad, n)
                tg.start_soon(_still_serving, port)
        await _still_serving(port)


async def test_a_peer_dripping_a_pdu_byte_by_byte_is_dropped(serving: Serving) -> None:
    """Bytes keep coming, one at a time, but the PDU never completes: the network
    timeout bounds the whole PDU, so the association is aborted (issue: robustness)."""
    server = Server("SCP", timeouts=Timeouts(network=1.0))
    async with serving(server) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(_request())
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(b"\x04\x00\x00\x00\x00\x64")  # P-DATA-TF of 100 bytes...
            started = anyio.current_time()
            closed = False
            with anyio.move_on_after(8):
                for _ in range(40):  # ...that arrive one byte every 0.2 s
                    try:
                        await peer.send(b"\x00")
                    except (anyio.BrokenResourceError, OSError):
                        closed = True
                        break
                    await anyio.sleep(0.2)
            if not closed:
                received = await peer.wait_closed(timeout=3)
                closed = True
                assert all(isinstance(p, AAbort) for p in received)
            assert closed
            assert anyio.current_time() - started < 4.0
        await _still_serving(port)
