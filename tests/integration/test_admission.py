"""Connections that never become associations cannot lock real peers out.

Silent sockets, peers that drip their A-ASSOCIATE-RQ a byte at a time, TLS clients that
stall before or after the handshake: each costs the server a socket and a task, but none
counts as an association before its A-ASSOCIATE-RQ is whole; they have their own bound
(the oldest goes first) and a short deadline. Attackers connect from other loopback
addresses (127.0.0.2 and up) so the per-address bound does not hide the global one.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import anyio
import pytest
from anyio.abc import ByteStream

import dicomnet
from dicomnet.acse import build_request
from dicomnet.errors import AssociationRejectedError
from dicomnet.pdu import AAssociateAC, AAssociateRJ, PDUFramer, encode_pdu
from dicomnet.server import Server
from dicomnet.tls import TestPKI, client_context, server_context
from dicomnet.uids import VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

REQUEST = encode_pdu(build_request(calling_ae_title="DRIP", called_ae_title="DICOMNET",
                        contexts=[(VERIFICATION, ["1.2.840.10008.1.2"])],
                        max_pdu_length=16384))


@dataclass
class Attack:
    """Sockets held open against a server, and when the server closed each."""

    opened: int = 0
    closed: dict[int, float] = field(default_factory=dict)  # index -> seconds after open
    streams: list[ByteStream] = field(default_factory=list)


async def _hold(port: int, index: int, attack: Attack, source: str, *,
                drip: float | None = None, payload: bytes = REQUEST,
                tls: ssl.SSLContext | None = None, opened: anyio.Event | None = None
                ) -> None:
    """One attacking connection: silent, or dripping ``payload`` one byte every
    ``drip`` seconds; records when the server closes it."""
    stream: ByteStream = await anyio.connect_tcp("127.0.0.1", port, local_host=source,
                                                 ssl_context=tls, tls=tls is not None,
                                                 tls_standard_compatible=False)
    start = anyio.current_time()
    attack.opened += 1
    attack.streams.append(stream)
    if opened is not None:
        opened.set()
    async with anyio.create_task_group() as tg:
        if drip is not None:
            async def dribble() -> None:
                for offset in range(len(payload)):
                    await stream.send(payload[offset:offset + 1])
                    await anyio.sleep(drip)
            tg.start_soon(dribble)
        try:
            while await stream.receive():
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError,
                OSError, ssl.SSLError):
            pass
        attack.closed[index] = anyio.current_time() - start
        tg.cancel_scope.cancel()
    await anyio.aclose_forcefully(stream)


@asynccontextmanager
async def _attack(port: int, *, silent: int = 0, dribblers: int = 0, sources: int = 10,
                  handshaken: int = 0, tls: ssl.SSLContext | None = None,
                  drip: float = 0.1) -> AsyncIterator[Attack]:
    """Open the attacking connections (spread over ``sources`` loopback addresses) and
    hold them for the block."""
    attack = Attack()
    total = silent + dribblers + handshaken
    async with anyio.create_task_group() as tg:
        for index in range(total):
            source = f"127.0.0.{2 + index % sources}"
            if index < silent:
                tg.start_soon(_hold, port, index, attack, source)
            elif index < silent + dribblers:
                tg.start_soon(partial_hold(port, index, attack, source, drip=drip))
            else:
                tg.start_soon(partial_hold(port, index, attack, source, tls=tls))
        with anyio.fail_after(20):
            while attack.opened < total:
                await anyio.sleep(0.02)
        yield attack
        tg.cancel_scope.cancel()


def partial_hold(port: int, index: int, attack: Attack, source: str, **kwargs: object
                 ) -> Callable[[], object]:
    async def run() -> None:
        await _hold(port, index, attack, source, **kwargs)  # type: ignore[arg-type]
    return run


async def _wait_accepted(server: Server, count: int) -> None:
    """Until the server has taken ``count`` connections off its listen queue."""
    with anyio.fail_after(20):
        while len(server.associations) < count:
            await anyio.sleep(0.02)


async def _timed_echo(port: int, *, tls: ssl.SSLContext | None = None,
                      called_ae: str = "DICOMNET") -> float:
    start = anyio.current_time()
    with anyio.fail_after(10):
        async with dicomnet.connect("127.0.0.1", port, called_ae=called_ae,
                                    ssl=tls) as assoc:
            assert await assoc.echo() == 0
    return anyio.current_time() - start


# -- (a) a flood of silent and dripping connections -----------------------------------------


async def test_real_peer_gets_in_past_silent_sockets_and_dribblers(serving: Serving) -> None:
    server = Server("DICOMNET")  # the defaults are what is under test
    async with serving(server) as port:
        async with _attack(port, silent=200, dribblers=50) as attack:
            await _wait_accepted(server, 250)
            elapsed = await _timed_echo(port)
            assert elapsed < 2.0, f"echo took {elapsed:.2f} s under the flood"
            # ...while the flood is held, not because it was dropped.
            assert len(attack.closed) == 0, attack.closed


# -- (b) TLS: stalled before and after the handshake -------------------------------------------


async def test_real_tls_peer_gets_in_past_stalled_tls_clients(
        serving: Serving, pki: TestPKI) -> None:
    server = Server("DICOMNET")
    client = client_context(cafile=pki.ca_cert, certfile=pki.client_cert,
                            keyfile=pki.client_key)
    tls = server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    async with serving(server, ssl=tls) as port:
        # 80 finish the handshake and go silent (more than max_associations), 100
        # connect to the TLS port and never start it.
        async with _attack(port, silent=100, handshaken=80, tls=client) as attack:
            await _wait_accepted(server, 80)
            elapsed = await _timed_echo(port, tls=client)
            assert elapsed < 2.0, f"TLS echo took {elapsed:.2f} s under the flood"
            assert len(attack.closed) == 0, attack.closed


# -- (c) a rolling attacker beyond the pending bound ---------------------------------------------


@pytest.mark.parametrize("bound", ["global", "per-address"])
async def test_rolling_attacker_cannot_starve_real_peers(
        serving: Serving, bound: str, caplog: pytest.LogCaptureFixture) -> None:
    if bound == "global":
        server = Server("DICOMNET", max_pending=16, max_pending_per_address=None)
        sources, held = 4, 16
    else:
        server = Server("DICOMNET", max_pending=256, max_pending_per_address=8)
        sources, held = 1, 8
    attack = Attack()
    echoes: list[float] = []
    async with serving(server) as port, anyio.create_task_group() as tg:
        async def attacker() -> None:
            for index in range(200):  # bounded: 200 connections, a few a millisecond
                opened = anyio.Event()
                tg.start_soon(partial_hold(port, index, attack, f"127.0.0.{2 + index % sources}",
                                           opened=opened))
                with anyio.fail_after(10):
                    await opened.wait()
                await anyio.sleep(0.002)

        tg.start_soon(attacker)
        with anyio.fail_after(30):
            while attack.opened < 50:
                await anyio.sleep(0.01)
            for _ in range(5):  # real peers, while new attackers keep arriving
                echoes.append(await _timed_echo(port))
            while attack.opened < 200 or len(attack.closed) < 200 - held:
                await anyio.sleep(0.02)
        await anyio.sleep(0.2)
        # The oldest went to make room; the newest are still held (connections
        # accepted in one go may be booked in either order, hence the margin).
        still_open = set(range(200)) - set(attack.closed)
        assert len(still_open) == held == server.admission.pending
        assert still_open <= set(range(200 - 2 * held, 200)), sorted(still_open)
        tg.cancel_scope.cancel()
    assert max(echoes) < 2.0, echoes
    # 184+ drops: INFO each, but only a warning or two.
    server_warnings = [r for r in caplog.records
                       if r.name == "dicomnet.server" and r.levelno == logging.WARNING]
    assert 1 <= len(server_warnings) <= 3, [r.getMessage() for r in server_warnings]


# -- (d) one short deadline from accept to the whole A-ASSOCIATE-RQ -------------------------------


async def test_deadline_cuts_dribblers_and_silent_sockets(serving: Serving) -> None:
    server = Server("DICOMNET", associate_deadline=1.0)
    async with serving(server) as port:
        async with _attack(port, silent=3, dribblers=3, drip=0.05) as attack:
            with anyio.fail_after(8):  # ARTIM would be 30 s
                while len(attack.closed) < 6:
                    await anyio.sleep(0.05)
        # Each byte of the dribblers does not renew the deadline: all go at ~1 s.
        assert all(0.8 <= seconds < 4.0 for seconds in attack.closed.values()), attack.closed
        await _timed_echo(port)


async def test_deadline_cuts_stalled_tls_handshakes(serving: Serving, pki: TestPKI) -> None:
    server = Server("DICOMNET", associate_deadline=3.0, handshake_timeout=0.5)
    client = client_context(cafile=pki.ca_cert, certfile=pki.client_cert,
                            keyfile=pki.client_key)
    tls = server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    async with serving(server, ssl=tls) as port:
        async with _attack(port, silent=2, handshaken=2, tls=client) as attack:
            with anyio.fail_after(10):
                while len(attack.closed) < 4:
                    await anyio.sleep(0.05)
        never_started = [attack.closed[i] for i in (0, 1)]
        silent_after = [attack.closed[i] for i in (2, 3)]
        assert all(0.4 <= s < 2.5 for s in never_started), attack.closed
        assert all(2.5 <= s < 6.0 for s in silent_after), attack.closed
        await _timed_echo(port, tls=client)


async def test_a_whole_request_lifts_the_deadline(serving: Serving) -> None:
    """A slow but complete A-ASSOCIATE-RQ is an association: it outlives the deadline."""
    server = Server("DICOMNET", associate_deadline=1.0)
    async with serving(server) as port:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        try:
            for offset in range(0, len(REQUEST), 16):  # about 0.3 s in all
                await stream.send(REQUEST[offset:offset + 16])
                await anyio.sleep(0.02)
            framer = PDUFramer(max_pdata_length=1 << 20)
            with anyio.fail_after(5):
                while (pdu := framer.next_pdu()) is None:
                    framer.feed(await stream.receive())
            assert isinstance(pdu, AAssociateAC)
            await anyio.sleep(1.5)  # past the deadline, idle but associated
            assert len(server.associations) == 1
            assert server.admission.associated == 1
        finally:
            await anyio.aclose_forcefully(stream)


async def test_rejected_then_silent_is_cut_at_the_deadline(serving: Serving) -> None:
    """A-ASSOCIATE-RJ, then the peer never closes: gone at the deadline, not ARTIM's."""
    server = Server("DICOMNET", associate_deadline=1.0)
    wrong = encode_pdu(build_request(calling_ae_title="X", called_ae_title="NOBODY",
                          contexts=[(VERIFICATION, ["1.2.840.10008.1.2"])],
                          max_pdu_length=16384))
    async with serving(server) as port:
        start = anyio.current_time()
        stream = await anyio.connect_tcp("127.0.0.1", port)
        try:
            await stream.send(wrong)
            framer = PDUFramer(max_pdata_length=1 << 20)
            with anyio.fail_after(8):
                pdus = []
                try:
                    while True:
                        framer.feed(await stream.receive())
                        while (pdu := framer.next_pdu()) is not None:
                            pdus.append(pdu)
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
        finally:
            await anyio.aclose_forcefully(stream)
        assert [type(p) for p in pdus] == [AAssociateRJ]
        assert anyio.current_time() - start < 4.0
        assert server.admission.pending == 0


# -- (e) max_associations counts associations only ----------------------------------------------


async def test_max_associations_counts_only_associations(serving: Serving) -> None:
    server = Server("DICOMNET", max_associations=2)
    async with serving(server) as port:
        async with _attack(port, silent=20):
            await _wait_accepted(server, 20)
            async with dicomnet.connect("127.0.0.1", port, called_ae="DICOMNET") as one, \
                    dicomnet.connect("127.0.0.1", port, called_ae="DICOMNET") as two:
                assert await one.echo() == 0 and await two.echo() == 0
                # The limit still holds for associations.
                with pytest.raises(AssociationRejectedError) as rejected:
                    await _timed_echo(port)
                assert (rejected.value.source, rejected.value.reason) == (3, 2)
            await _timed_echo(port)
