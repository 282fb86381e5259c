"""TCP options of an association's connection, and the allocator its reads need.

Disabling Nagle's algorithm matters to DICOM: DIMSE is request and response, and with
Nagle on, a small message waits for the peer's delayed ACK before it goes out, a
round trip per message. DCMTK itself leaves Nagle on unless ``TCP_NODELAY=1`` is in its
environment.

Every read of CPython's selector transport asks ``recv`` for 256 KiB. glibc's malloc
serves a block that large with mmap until a block of that size has once been freed
(it then raises its mmap threshold, M_MMAP_THRESHOLD, to that size). Until then, each
read, even of an 80-byte C-ECHO-RQ, costs an mmap, an mremap shrinking the buffer to
what arrived, and an munmap when it is freed; with a thread pool in the process each
unmap also interrupts the other cores to flush their TLBs. An association that carries
data sets soon frees a full read buffer and stops paying; one that carries only small
messages (echoes, queries, commitment) never does. Freeing one such block before the
first association gives every association the cheap path from its first read.
"""

from __future__ import annotations

import functools
import socket
from contextlib import suppress

from anyio.abc import ByteStream, SocketAttribute

__all__ = ["set_nodelay", "tune_connection", "warm_read_buffers"]

#: Above the largest read of asyncio's transports (256 KiB): freeing a block this
#: size raises glibc's threshold past it.
_WARM_SIZE = 512 * 1024


def tune_connection(stream: ByteStream | None) -> None:
    """What every association's connection gets: Nagle off, cheap read buffers."""
    set_nodelay(stream)
    warm_read_buffers()


def set_nodelay(stream: ByteStream | None) -> None:
    """Disable Nagle on ``stream``'s socket, when it has a TCP one."""
    if stream is None:
        return
    try:
        sock = stream.extra(SocketAttribute.raw_socket)
    except Exception:
        return
    with suppress(OSError):  # not a TCP socket
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@functools.cache  # once per process
def warm_read_buffers() -> None:
    """Allocate and free one block larger than any read buffer, so that glibc serves
    read buffers from its heap (no effect on other allocators)."""
    block = bytearray(_WARM_SIZE)
    del block
