"""Whole writes to one connection's stream, one at a time, and without an event loop
round each where the socket takes them at once.

:class:`StreamWriter` writes what the association driver gives it (one or several
whole PDUs) under a lock, shielded from cancellation and bounded by the network
timeout, so a cancelled task never leaves half a PDU on the wire.

On asyncio, anyio's ``SocketStream.send`` hands the bytes to the transport, which
tries the socket at once, and then yields to the event loop even when the socket took
everything (a send is a checkpoint in anyio). For a server answering one small message
at a time (C-ECHO, C-STORE responses) that round costs about as much as the rest of
the response. A :class:`DirectWriter` writes to the same transport and waits only
when the transport really holds bytes back (the socket buffer is full): the same
order of bytes, the same back-pressure, no round when nothing waits; and a write that
never waits needs neither the shield nor the lock. The driver keeps the checkpoint
where it matters (between the pending responses of one request).

It reaches the transport of anyio's asyncio socket stream, which anyio keeps
private; :func:`direct_writer` checks that the stream is exactly that kind and
returns None for anything else (TLS, trio, a memory stream, another anyio version
whose stream looks different): those are written with ``stream.send`` as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

import anyio
from anyio.abc import ByteStream

from dicomnet.clocks import deadline
from dicomnet.network_watch import NetworkWatch

__all__ = ["DirectWriter", "StreamWriter", "acquire", "direct_writer"]


async def acquire(lock: anyio.Lock) -> None:
    """``await lock.acquire()``, without its checkpoint when the lock is free (a
    ``fast_acquire`` lock still looks for a cancellation, which costs)."""
    try:
        lock.acquire_nowait()
    except anyio.WouldBlock:
        await lock.acquire()


class DirectWriter:
    """Writes to the transport beneath one anyio asyncio socket stream."""

    __slots__ = ("_protocol", "_stream", "_transport")

    def __init__(self, stream: Any, transport: Any,
                 protocol: Any) -> None:
        self._stream = stream
        self._transport = transport
        self._protocol = protocol

    def ready(self) -> bool:
        """Whether a write may go now: the stream is open and no earlier write still
        waits in the transport (anyio pauses writing as soon as anything is
        buffered)."""
        return (self._protocol.write_event.is_set() and not self._stream._closed
                and self._protocol.exception is None and not self._transport.is_closing())

    def write(self, data: bytes | bytearray | memoryview) -> bool:
        """Hand ``data`` to the transport (only when :meth:`ready`); True when the
        socket took all of it, False when part waits in the transport: then
        :meth:`drained` must be awaited before the next write."""
        self._transport.write(data)
        return self._protocol.write_event.is_set()  # type: ignore[no-any-return]

    async def drained(self) -> None:
        """Wait until the transport has given everything to the socket; raises as
        anyio's ``send`` does when the connection is closed or broken meanwhile."""
        protocol = self._protocol
        await protocol.write_event.wait()
        if self._stream._closed:
            raise anyio.ClosedResourceError
        if protocol.exception is not None:
            raise anyio.BrokenResourceError from protocol.exception


def direct_writer(stream: object) -> DirectWriter | None:
    """A :class:`DirectWriter` for ``stream`` when it is anyio's plain TCP stream on
    asyncio (or uvloop), else None."""
    kind = type(stream)
    if kind.__name__ != "SocketStream" or kind.__module__ != "anyio._backends._asyncio":
        return None
    transport = getattr(stream, "_transport", None)
    protocol = getattr(stream, "_protocol", None)
    event = getattr(protocol, "write_event", None)
    # uvloop's transports are not asyncio.WriteTransport instances, but behave as one.
    if not all(callable(getattr(transport, name, None)) for name in ("write", "is_closing")) \
            or not isinstance(event, asyncio.Event) \
            or not hasattr(protocol, "exception") or not hasattr(stream, "_closed"):
        return None
    return DirectWriter(stream, transport, protocol)


class StreamWriter:
    """Writes to one stream: each write whole, one at a time."""

    __slots__ = ("_direct", "_lock", "stream", "timeout")

    def __init__(self, stream: ByteStream, timeout: float | None) -> None:
        self.stream = stream
        self.timeout = timeout  # Timeouts.network, when no watcher keeps it
        self._direct = direct_writer(stream)
        # fast_acquire: an uncontended lock does not yield to the event loop.
        self._lock = anyio.Lock(fast_acquire=True)

    async def write(self, data: bytes | bytearray, watch: NetworkWatch | None) -> None:
        """Write ``data`` whole; ``watch`` keeps the network timeout (a deadline scope
        does without one). Raises what the stream raises, or DicomTimeoutError."""
        direct = self._direct
        send: Callable[[], Awaitable[None]]
        if direct is not None and not self._lock.locked() and direct.ready():
            if direct.write(data):
                return  # nothing waited: nothing to shield, nobody to exclude
            send = direct.drained  # the rest waits in the transport
        else:  # anyio's streams take any bytes-like object
            send = partial(self.stream.send, cast(bytes, data))
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if watch is not None:
                    watch.writing()
                    try:
                        await send()
                    finally:
                        watch.write_done()
                else:  # no reader (yet, or any more): no watcher either
                    with deadline("sending a PDU", self.timeout):
                        await send()
