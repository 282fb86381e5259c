"""dicomnet.stream_writer: whole writes in order, without an event loop round when the
socket takes them at once (asyncio), through ``stream.send`` everywhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import SocketStream

from dicomnet.stream_writer import StreamWriter, direct_writer

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


async def test_direct_writes_are_taken_only_on_asyncios_own_tcp_streams(
        anyio_backend: str) -> None:
    async with tcp_pair() as (client, _server):
        # Reached through anyio's private attributes: this fails, rather than quietly
        # costing a loop round per message, if a new anyio changes them.
        assert (direct_writer(client) is not None) == (anyio_backend == "asyncio")
    send, receive = anyio.create_memory_object_stream[bytes](1)
    with send, receive:
        assert direct_writer(send) is None


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the direct path is asyncio's
async def test_a_write_the_socket_takes_does_not_yield_to_the_event_loop() -> None:
    async with tcp_pair() as (client, server):
        writer = StreamWriter(client, timeout=10)
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
        writer = StreamWriter(client, timeout=10)
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
        writer = StreamWriter(client, timeout=10)
        await client.aclose()
        with pytest.raises((anyio.ClosedResourceError, anyio.BrokenResourceError)):
            await writer.write(b"x", None)
