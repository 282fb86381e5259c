"""Mutated real PDU sequences against a live server: many cases, bounded in time; the
server answers or aborts each one, logs no crash, and keeps serving (issue: robustness)."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest

import dicomnet
from dicomnet.acse import build_request
from dicomnet.config import Timeouts
from dicomnet.dimse import CEchoRQ, encode_command, pdata_pdu
from dicomnet.pdu import AReleaseRQ, encode_pdu
from dicomnet.server import Server
from dicomnet.uids import VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

CASES = 500
BUDGET = 60.0  # seconds for all cases


def _session() -> list[bytes]:
    """What a well-behaved C-ECHO association sends, PDU by PDU."""
    request = encode_pdu(build_request(calling_ae_title="FUZZ", called_ae_title="SCP",
                            contexts=[(VERIFICATION, ["1.2.840.10008.1.2"])],
                            max_pdu_length=16384))
    echo = pdata_pdu(1, True, True, encode_command(
        CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION)))
    return [request, echo, encode_pdu(AReleaseRQ())]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(4)
        position = rng.randrange(len(buffer)) if buffer else 0
        if kind == 0 and buffer:  # flip a byte
            buffer[position] ^= 1 << rng.randrange(8)
        elif kind == 1:  # insert bytes
            buffer[position:position] = rng.randbytes(rng.randint(1, 8))
        elif kind == 2 and buffer:  # delete bytes
            del buffer[position:position + rng.randint(1, 8)]
        else:  # truncate
            del buffer[position:]
    return bytes(buffer)


@pytest.mark.parametrize("log_level", [logging.DEBUG, logging.INFO], ids=["debug", "info"])
async def test_mutated_sessions_never_crash_the_server(
        serving: Serving, caplog: pytest.LogCaptureFixture, log_level: int) -> None:
    # At INFO (a server's usual log), nobody watches DIMSE messages: then a whole
    # C-ECHO is answered from the transport's callback (dicomnet.answer_at_once),
    # without the reader; at DEBUG every message goes through the reader.
    caplog.set_level(log_level, logger="dicomnet")
    rng = random.Random(20261125)
    server = Server("SCP", timeouts=Timeouts(artim=0.5, network=0.5, acse=0.5))
    session = _session()
    ran = 0
    async with serving(server) as port:
        with anyio.fail_after(BUDGET):
            for _case in range(CASES):
                pdus = [_mutate(pdu, rng) if rng.random() < 0.5 else pdu for pdu in session]
                pdus[rng.randrange(len(pdus))] = _mutate(pdus[0], rng)
                stream = await anyio.connect_tcp("127.0.0.1", port)
                async with stream:
                    try:
                        for pdu in pdus:
                            await stream.send(pdu)
                        with anyio.move_on_after(0.02):
                            while await stream.receive():
                                pass
                    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                        pass
                ran += 1
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
            assert await assoc.echo() == 0
    assert ran == CASES
    crashes = [r for r in caplog.records
               if r.levelno >= logging.ERROR and r.exc_info is not None]
    assert not crashes, crashes[0].getMessage()
