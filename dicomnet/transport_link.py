"""Reads and writes straight on the asyncio transport beneath anyio's TCP stream.

anyio's asyncio ``SocketStream`` resumes reading before each ``receive`` and pauses it
after: two ``epoll_ctl`` system calls per read, and an event (``asyncio.Event``, a
look-up of the running loop each wait) per chunk. An association answering one small
message at a time (C-ECHO, C-STORE responses) pays that on every message, as much as
the rest of the read. Its ``send`` yields to the event loop even when the socket took
everything at once.

:class:`TransportLink` puts a protocol of its own in place of anyio's on the same
transport (``transport.set_protocol``) and keeps reading on; it pauses reading only
when what it holds unread passes a bound (back-pressure on a peer that sends faster
than the association reads), and resumes once the reader has taken it. A write goes to
the transport at once; the writer waits only when the transport really holds bytes
back (anyio set its write buffer limit to zero: anything buffered pauses writing). The
bytes, their order, the back-pressure and the errors stay what anyio's stream gives.

anyio keeps its transport private: :func:`take_over` checks that the stream is exactly
anyio's asyncio socket stream and returns None for anything else (TLS, trio, a memory
stream, an anyio whose stream looks different); those are read and written through
the stream itself. Once taken over, the stream is only closed through anyio (its
``aclose`` aborts the transport, which this protocol sees).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio

__all__ = ["TransportLink", "take_over"]

log = logging.getLogger("dicomnet.association")

#: Unread bytes held before reading pauses: a little more than one read of the
#: selector transport (256 KiB), so a peer streaming a data set keeps one read ahead.
_HIGH_WATER = 320 * 1024


class TransportLink(asyncio.Protocol):
    """The protocol on one connection's transport, and the reads and writes of it."""

    def __init__(self, stream: Any, transport: Any) -> None:
        self._stream = stream  # anyio's, for its closed flag (aclose sets it)
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        #: Bytes, and lists of what :attr:`at_once` left for the reader, in order.
        self._chunks: deque[bytes | list[Any]] = deque()
        self._unread = 0
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._eof = False
        self._lost = False
        self._error: BaseException | None = None
        #: Given bytes that came while the reader waited with nothing unread: None
        #: when it does not take them, else a list for the reader (even empty), or
        #: anything else when nothing is left for it; see dicomnet.answer_at_once.
        self.at_once: Callable[[bytes], object] | None = None

    # -- protocol callbacks (the event loop calls them) -----------------------------

    def data_received(self, data: bytes) -> None:
        waiter = self._read_waiter
        if self.at_once is not None and waiter is not None and not waiter.done() \
                and not self._chunks:
            try:
                left = self.at_once(data)
            except Exception:  # a fault of ours: never leave the peer half answered
                log.exception("answering at once failed; closing the connection")
                self._transport.abort()
                return
            if isinstance(left, list):  # the reader's, even empty
                self._chunks.append(left)
                waiter.set_result(None)
            if left is not None:
                return
        self._chunks.append(data)
        self._unread += len(data)
        if self._unread > _HIGH_WATER and self._transport.is_reading():
            self._transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake_reader()
        return True  # keep the transport open for what is still to be written

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._error = exc
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    # -- reading ----------------------------------------------------------------------

    async def receive(self, max_bytes: int) -> bytes | list[Any]:
        """The next bytes from the peer (at most ``max_bytes``), or what
        :attr:`at_once` left for the reader; raises as anyio's ``receive`` does once the
        connection has ended."""
        while not self._chunks:
            self._check_open(reading=True)
            waiter = self._read_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._read_waiter = None
        chunk = self._chunks.popleft()
        if isinstance(chunk, list):
            return chunk
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            self._chunks.appendleft(rest)
        self._unread -= len(chunk)
        if self._unread <= _HIGH_WATER and not self._lost \
                and not self._transport.is_reading() and not self._transport.is_closing():
            self._transport.resume_reading()
        return chunk

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- writing ----------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether a write may go now: the connection is open and no earlier write
        still waits in the transport."""
        return not (self._write_paused or self._lost or self._stream._closed
                    or self._transport.is_closing())

    def write(self, data: bytes | bytearray | memoryview) -> bool:
        """Hand ``data`` to the transport (only when :meth:`ready`); True when the
        socket took all of it, False when part waits: :meth:`drained` then."""
        self._transport.write(data)
        return not self._write_paused

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` once earlier writes have drained, then wait for it to drain."""
        await self.drained()
        self.write(data)
        await self.drained()

    async def drained(self) -> None:
        """Wait until the transport has given everything to the socket; raises as
        anyio's ``send`` does when the connection is closed or broken meanwhile."""
        while self._write_paused and not self._lost:
            waiter = self._write_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._write_waiter = None
        self._check_open(reading=False)

    def _wake_writer(self) -> None:
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _check_open(self, *, reading: bool) -> None:
        if self._stream._closed:
            raise anyio.ClosedResourceError
        if self._lost and self._error is not None:
            raise anyio.BrokenResourceError from self._error
        if self._lost or (reading and self._eof):
            if reading:
                raise anyio.EndOfStream
            raise anyio.BrokenResourceError
        if not reading and self._transport.is_closing():
            raise anyio.BrokenResourceError


def take_over(stream: object) -> TransportLink | None:
    """Put a :class:`TransportLink` on ``stream``'s transport when ``stream`` is anyio's
    plain TCP stream on asyncio (or uvloop), with what anyio read already; else None."""
    kind = type(stream)
    if kind.__name__ != "SocketStream" or kind.__module__ != "anyio._backends._asyncio":
        return None
    transport: Any = getattr(stream, "_transport", None)
    old: Any = getattr(stream, "_protocol", None)
    queue = getattr(old, "read_queue", None)
    # uvloop's transports are not asyncio.Transport instances, but behave as one.
    if not all(callable(getattr(transport, name, None)) for name in (
            "write", "is_closing", "set_protocol", "is_reading", "pause_reading",
            "resume_reading")) \
            or not isinstance(queue, deque) or not hasattr(stream, "_closed") \
            or not hasattr(old, "is_at_eof") or not hasattr(old, "exception"):
        return None
    link = TransportLink(stream, transport)
    for chunk in queue:
        link.data_received(chunk)
    queue.clear()
    if old.is_at_eof:
        link.eof_received()
    if old.exception is not None or transport.is_closing():
        link.connection_lost(old.exception)
    write_event = getattr(old, "write_event", None)
    link._write_paused = isinstance(write_event, asyncio.Event) and not write_event.is_set()
    transport.set_protocol(link)
    if not link._lost and not link._eof and not transport.is_reading() \
            and link._unread <= _HIGH_WATER:
        transport.resume_reading()
    return link
