"""One connection's stream as the association driver uses it: reads, and whole writes
one at a time, without an event loop round where the socket takes them at once.

:class:`StreamLink` writes what the driver gives it (one or several whole PDUs) under a
lock, shielded from cancellation and bounded by the network timeout, so a cancelled
task never leaves half a PDU on the wire.

On asyncio's plain TCP streams it reads and writes through a
:class:`dicomnet.transport_link.TransportLink` (why: that module): a write the socket
takes at once needs neither the shield nor the lock, and no event loop round; the
driver keeps the checkpoint where it matters (between the pending responses of one
request). Any other stream (TLS, trio, a memory stream) is read and written through
its own ``receive`` and ``send``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

import anyio
from anyio.abc import ByteStream

from dicomnet.clocks import deadline
from dicomnet.network_watch import NetworkWatch
from dicomnet.transport_link import take_over
from dicomnet.turn_lock import TurnLock

__all__ = ["StreamLink"]


class StreamLink:
    """Reads from and writes to one stream: each write whole, one at a time."""

    __slots__ = ("_direct", "_lock", "receive", "stream", "timeout")

    def __init__(self, stream: ByteStream, timeout: float | None) -> None:
        self.stream = stream
        self.timeout = timeout  # Timeouts.network, when no watcher keeps it
        self._direct = take_over(stream)
        #: ``await receive(max_bytes)``: the next bytes (or what an :meth:`at_once`
        #: left), or anyio's end-of-stream errors.
        self.receive: Callable[[int], Awaitable[bytes | list[Any]]] = \
            stream.receive if self._direct is None else self._direct.receive
        self._lock = TurnLock()

    def at_once(self, function: Callable[[bytes], object]) -> None:
        """Offer bytes that come while the reader waits to ``function`` first
        (:mod:`dicomnet.answer_at_once`); only where the transport is ours."""
        if self._direct is not None:
            self._direct.at_once = function

    def idle(self) -> bool:
        """Whether :meth:`write_now` may write: nothing is being written, and the
        transport holds nothing back."""
        return self._direct is not None and not self._lock.locked() and self._direct.ready()

    def write_now(self, data: bytes) -> None:
        """Write ``data`` without waiting (only when :meth:`idle`); what the socket
        does not take at once the transport sends on, ahead of any later write."""
        assert self._direct is not None
        self._direct.write(data)

    async def write(self, data: bytes | bytearray, watch: NetworkWatch | None) -> None:
        """Write ``data`` whole; ``watch`` keeps the network timeout (a deadline scope
        does without one). Raises what the stream raises, or DicomTimeoutError."""
        direct = self._direct
        send: Callable[[], Awaitable[None]]
        if direct is not None:
            if not self._lock.locked() and direct.ready():
                if direct.write(data):
                    return  # nothing waited: nothing to shield, nobody to exclude
                send = direct.drained  # the rest waits in the transport
            else:
                send = partial(direct.send, data)
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
