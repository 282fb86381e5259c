"""TCP options of an association's connection.

Disabling Nagle's algorithm matters to DICOM: DIMSE is request and response, and with
Nagle on, a small message waits for the peer's delayed ACK before it goes out, a
round trip per message. DCMTK itself leaves Nagle on unless ``TCP_NODELAY=1`` is in its
environment.
"""

from __future__ import annotations

import socket
from contextlib import suppress

from anyio.abc import ByteStream, SocketAttribute

__all__ = ["set_nodelay"]


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
