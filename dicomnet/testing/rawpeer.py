"""A scripted peer that speaks raw bytes, for tests of what a hostile or odd peer does.

It uses dicomnet's own codec to build and read PDUs, but sends whatever the test says:
garbage, truncated PDUs, absurd lengths, out-of-order PDUs.
"""

from __future__ import annotations

from types import TracebackType

import anyio
from anyio.abc import SocketStream

from dicomnet.pdu import PDU, PDUFramer, encode_pdu


class RawPeer:
    """A connection to ``host:port`` (``async with RawPeer(host, port) as peer``) that
    sends what it is given and reads PDUs back with dicomnet's framer."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.stream: SocketStream | None = None
        self.framer = PDUFramer(max_pdata_length=1 << 24)

    @classmethod
    def on(cls, stream: SocketStream) -> RawPeer:
        """The same peer on a connection already open (a raw acceptor's end)."""
        peer = cls("", 0)
        peer.stream = stream
        return peer

    async def __aenter__(self) -> RawPeer:
        self.stream = await anyio.connect_tcp(self.host, self.port)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.stream is not None:
            await anyio.aclose_forcefully(self.stream)

    async def send(self, data: bytes | PDU) -> None:
        """Send raw bytes as they are, or a PDU encoded by dicomnet's codec."""
        assert self.stream is not None
        if not isinstance(data, bytes | bytearray):
            data = encode_pdu(data)
        await self.stream.send(bytes(data))

    async def receive_pdu(self, timeout: float = 5.0) -> PDU | None:  # noqa: ASYNC109
        """The next PDU, or None when the server closed the connection; a test's read
        is always bounded (``timeout`` seconds, then TimeoutError)."""
        assert self.stream is not None
        with anyio.fail_after(timeout):
            while True:
                pdu = self.framer.next_pdu()
                if pdu is not None:
                    return pdu
                try:
                    data = await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return None
                self.framer.feed(data)

    async def wait_closed(self, timeout: float = 5.0) -> list[PDU]:  # noqa: ASYNC109
        """Read until the server closes the connection; return what came before."""
        received: list[PDU] = []
        while (pdu := await self.receive_pdu(timeout)) is not None:
            received.append(pdu)
        return received
