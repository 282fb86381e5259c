"""The peer's connection breaks exactly when the server answers one of its PDUs.

Found by conformance/test_fuzz_captures.py: a peer that sent A-RELEASE-RQ and hung up
made the write of the A-RELEASE-RP fail (EPIPE); the error went up through the reader
task and out of ``Association.serve()``, and the server logged "connection from ...
failed" with a traceback. PS3.8 Table 9-10 has an answer for a vanished transport
(Evt17: the association is simply over, AA-4/AR-5): whatever the server was about to
send when it found out, the association must end quietly, as any other close does.

A scripted byte stream makes the timing exact: it hands the server the peer's PDUs, and
its ``send()`` breaks at the chosen answer.
"""

from __future__ import annotations

import logging

import anyio
import pytest
from blockingpeer import echo_bytes, request_bytes

from dicomnet import Association
from dicomnet.pdu import AReleaseRQ, encode_pdu
from dicomnet.server import Server

pytestmark = pytest.mark.anyio


class BreakingStream(anyio.abc.ByteStream):
    """Gives the server ``incoming`` (one chunk per receive, then waits); the send
    number ``break_at`` (1 = the first answer) and every later one fail as a reset
    connection does."""

    def __init__(self, incoming: list[bytes], break_at: int) -> None:
        self.incoming = list(incoming)
        self.break_at = break_at
        self.sent = 0
        self.closed = anyio.Event()

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self.incoming:
            return self.incoming.pop(0)
        await self.closed.wait()
        raise anyio.ClosedResourceError

    async def send(self, item: bytes) -> None:
        self.sent += 1
        if self.sent >= self.break_at:
            raise anyio.BrokenResourceError("connection reset by peer")

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        self.closed.set()


GARBAGE = b"\x09\x00\x00\x00\x00\x02\x00\x00"  # unknown PDU type: AA-8, A-ABORT

CASES = {
    # the failing answer: (what the peer sent, which send fails)
    "A-ASSOCIATE-AC": ([request_bytes()], 1),
    "A-ASSOCIATE-RJ": ([request_bytes(called="SOMEONE-ELSE")], 1),
    "A-ABORT in Sta2": ([encode_pdu(AReleaseRQ())], 1),
    "A-RELEASE-RP": ([request_bytes(), encode_pdu(AReleaseRQ())], 2),
    "A-ABORT in Sta6": ([request_bytes(), GARBAGE], 2),
    "C-ECHO-RSP": ([request_bytes(), echo_bytes(1)], 2),
}


@pytest.mark.parametrize("answer", list(CASES))
async def test_a_broken_connection_while_answering_ends_quietly(
        caplog: pytest.LogCaptureFixture, answer: str) -> None:
    incoming, break_at = CASES[answer]
    stream = BreakingStream(incoming, break_at)
    server = Server("SCP")
    with anyio.fail_after(5):
        await server._connection(stream, None)
    assert stream.sent == break_at, "the failing answer was never sent"
    assert stream.closed.is_set()
    failures = [f"{r.name}: {r.getMessage()}" for r in caplog.records
                if r.exc_info is not None
                or (r.name == "dicomnet.server" and r.levelno >= logging.ERROR)]
    assert not failures, failures


async def test_association_serve_returns_when_the_answer_cannot_be_sent() -> None:
    """The same at the Association level: serve() returns, it does not raise."""
    stream = BreakingStream([request_bytes(), encode_pdu(AReleaseRQ())], 2)
    server = Server("SCP")
    association = Association(stream=stream, timeouts=server.timeouts,
                              max_pdu_length=server.max_pdu_length,
                              on_associate=server._on_associate,
                              on_request=server._on_request)
    with anyio.fail_after(5):
        await association.serve()
    assert association.is_closed
