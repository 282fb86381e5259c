"""dicomnet.stream_link and dicomnet.transport_link: whole writes in order, without an
event loop round when the socket takes them at once, and reads that keep the transport
reading (asyncio); through the stream's own ``send`` and ``receive`` everywhere else."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import SocketStream

from dicomnet.stream_link import StreamLink
from dicomnet.transport_link import take_over

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def tcp_pair() -> AsyncIterator[tuple[SocketStream, SocketStream]]:
    """Two ends of a TCP connection on 127.0.0.1 (a free port chosen now)."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        client = await anyio.connect_tcp("127.0.0.1", port)
        server = await listener.listeners[0].accept()  # type: ignore[attr-defined]
        async with client, server:
            yield client, server


async def read_exactly(stream: SocketStream, size: int) -> bytes:
    data = bytearray()
    with anyio.fail_after(10):
        while len(data) < size:
            data += await stream.receive()
    return bytes(data)


async def test_the_transport_is_taken_over_only_on_asyncios_own_tcp_streams(
        anyio_backend: str) -> None:
    async with tcp_pair() as (client, _server):
        # Reached through anyio's private attributes: this fails, rather than quietly
        # costing a loop round per message, if a new anyio changes them.
        assert (take_over(client) is not None) == (anyio_backend == "asyncio")
    send, receive = anyio.create_memory_object_stream[bytes](1)
    with send, receive:
        assert take_over(send) is None


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the direct path is asyncio's
async def test_a_write_the_socket_takes_does_not_yield_to_the_event_loop() -> None:
    async with tcp_pair() as (client, server):
        writer = StreamLink(client, timeout=10)
        others_ran = False

        async def other() -> None:
            nonlocal others_ran
            others_ran = True

        async with anyio.create_task_group() as tg:
            tg.start_soon(other)  # runs at the next event loop round
            await writer.write(b"\x04" * 100, None)
            assert not others_ran
        assert others_ran
        assert await read_exactly(server, 100) == b"\x04" * 100


async def test_writes_larger_than_the_socket_buffer_wait_and_arrive_whole_in_order(
        anyio_backend: str) -> None:
    chunks = [bytes([n]) * (1 << 20) for n in range(1, 9)]  # 8 MiB: more than buffers
    async with tcp_pair() as (client, server):
        writer = StreamLink(client, timeout=10)
        received = b""

        async def read_all() -> None:
            nonlocal received
            received = await read_exactly(server, sum(map(len, chunks)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(read_all)

            async def write_half(part: list[bytes]) -> None:
                for chunk in part:
                    await writer.write(chunk, None)

            # Two writers at once: each write still arrives whole.
            tg.start_soon(write_half, chunks[::2])
            tg.start_soon(write_half, chunks[1::2])
        pieces = [received[i:i + (1 << 20)] for i in range(0, len(received), 1 << 20)]
        assert sorted(pieces) == sorted(chunks)
        assert all(len(set(piece)) == 1 for piece in pieces)


async def test_a_write_to_a_closed_stream_raises_as_anyio_does(anyio_backend: str) -> None:
    async with tcp_pair() as (client, _server):
        writer = StreamLink(client, timeout=10)
        await client.aclose()
        with pytest.raises((anyio.ClosedResourceError, anyio.BrokenResourceError)):
            await writer.write(b"x", None)


async def read_link(link: StreamLink, size: int) -> bytes:
    data = bytearray()
    with anyio.fail_after(10):
        while len(data) < size:
            data += await link.receive(1 << 18)
    return bytes(data)


async def test_reads_return_every_byte_in_order_then_end_of_stream(anyio_backend: str) -> None:
    async with tcp_pair() as (client, server):
        await client.send(b"early")  # may sit in anyio's own queue before the link
        await anyio.sleep(0.05)
        link = StreamLink(server, timeout=10)
        chunks = [bytes([n]) * 3000 for n in range(1, 30)]
        for chunk in chunks:
            await client.send(chunk)
        assert await read_link(link, 5 + 3000 * 29) == b"early" + b"".join(chunks)
        await client.aclose()
        with anyio.fail_after(10), pytest.raises(anyio.EndOfStream):
            await link.receive(100)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the transport is asyncio's
async def test_reading_stays_on_between_reads_and_pauses_only_past_the_bound() -> None:
    async with tcp_pair() as (client, server):
        link = StreamLink(server, timeout=10)
        transport = server._transport  # type: ignore[attr-defined]
        await client.send(b"\x04" * 80)
        assert await read_link(link, 80) == b"\x04" * 80
        assert transport.is_reading()  # no pause and resume around each read

        # Nobody reads: the link takes at most its bound (plus a read), then the
        # socket buffers fill and the peer cannot send more: back-pressure, not memory.
        fd = client.extra(anyio.abc.SocketAttribute.raw_socket).fileno()  # non-blocking
        sent = 0
        with anyio.fail_after(10):
            for _ in range(1000):  # bounded: 64 MiB
                try:
                    sent += os.write(fd, b"\x05" * 65536)
                except BlockingIOError:
                    if not transport.is_reading():
                        break
                    await anyio.sleep(0.01)  # the link reads on until its bound
        assert not transport.is_reading()
        assert link._direct is not None
        assert link._direct._unread <= 1 << 20
        # Reading everything resumes the transport, and nothing was lost.
        data = await read_link(link, sent)
        assert len(data) == sent and set(data) == {5}
        assert transport.is_reading()


async def test_a_cancelled_read_loses_nothing(anyio_backend: str) -> None:
    async with tcp_pair() as (client, server):
        link = StreamLink(server, timeout=10)
        with anyio.move_on_after(0.05):
            await link.receive(100)
        await client.send(b"after")
        assert await read_link(link, 5) == b"after"


async def test_a_read_after_a_local_close_raises_closed(anyio_backend: str) -> None:
    async with tcp_pair() as (_client, server):
        link = StreamLink(server, timeout=10)
        await anyio.aclose_forcefully(server)
        with anyio.fail_after(10), pytest.raises(anyio.ClosedResourceError):
            await link.receive(100)
