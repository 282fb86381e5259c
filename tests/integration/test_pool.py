"""AssociationPool against a real Server on 127.0.0.1, on asyncio and trio: reuse, the
bound on concurrent holders, idle release, replacing associations the peer dropped,
the acquire timeout, and which failures run() retries."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any

import anyio
import pytest

import dicomnet
from dicomnet import Association
from dicomnet.association import IncomingRequest
from dicomnet.dimse import Status
from dicomnet.errors import AssociationAbortedError, DicomTimeoutError
from dicomnet.pool import PoolClosedError
from dicomnet.server import Server

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


class EchoServer:
    """A Server that notes, for each C-ECHO, the association it came on."""

    def __init__(self) -> None:
        self.server = Server("PACS")
        self.seen: list[Association] = []
        self.server.on_echo()(self.echo)

    async def echo(self, request: IncomingRequest) -> int:
        self.seen.append(request.association)
        return Status.SUCCESS

    @property
    def associations(self) -> int:
        """Distinct associations that carried a C-ECHO."""
        return len(set(self.seen))


def pool_to(port: int, **options: Any) -> dicomnet.AssociationPool:
    return dicomnet.AssociationPool("127.0.0.1", port, called_ae="PACS", calling_ae="ME",
                                    **options)


async def wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.01)


async def test_sequential_acquires_share_one_association(serving: Serving) -> None:
    peer = EchoServer()
    async with serving(peer.server) as port, pool_to(port, max_size=4) as pool:
        for _ in range(3):
            async with pool.acquire() as assoc:
                assert await assoc.echo() == Status.SUCCESS
        assert peer.associations == 1
        assert pool.opened == 1
        assert pool.idle == 1
        assert peer.seen[0].calling_ae_title == "ME"  # connect's options passed on


async def test_holders_are_bounded_and_the_next_one_waits(serving: Serving) -> None:
    peer = EchoServer()
    holding = 0
    let_go = anyio.Event()
    third_got: list[Association] = []

    async def hold(pool: dicomnet.AssociationPool, got: list[Association]) -> None:
        nonlocal holding
        async with pool.acquire() as assoc:
            got.append(assoc)
            holding += 1
            await assoc.echo()
            await let_go.wait()
            holding -= 1

    async with serving(peer.server) as port, pool_to(port, max_size=2) as pool:
        with anyio.fail_after(20):
            first: list[Association] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(hold, pool, first)
                tg.start_soon(hold, pool, first)
                await wait_until(lambda: holding == 2 and peer.associations == 2)
                tg.start_soon(hold, pool, third_got)
                await anyio.sleep(0.3)  # time enough to open a third, were it allowed
                assert third_got == []
                assert pool.size == 2
                let_go.set()
            assert len(third_got) == 1 and third_got[0] in first
            assert len(set(map(id, first))) == 2  # exclusive: two holders, two associations
            assert peer.associations == 2


async def test_acquire_timeout(serving: Serving) -> None:
    peer = EchoServer()
    async with serving(peer.server) as port, \
            pool_to(port, max_size=1, acquire_timeout=0.2) as pool:
        async with pool.acquire():
            started = anyio.current_time()
            with pytest.raises(DicomTimeoutError, match="free association") as info:
                async with pool.acquire():
                    pytest.fail("a second association was handed out")
            waited = anyio.current_time() - started
        assert info.value.seconds == 0.2
        assert 0.15 <= waited < 10
        async with pool.acquire() as assoc:  # free again
            assert await assoc.echo() == Status.SUCCESS
        assert pool.opened == 1


async def test_idle_association_is_released(serving: Serving) -> None:
    peer = EchoServer()
    async with serving(peer.server) as port, pool_to(port, idle_timeout=0.2) as pool:
        async with pool.acquire() as assoc:
            await assoc.echo()
        served = peer.seen[0]
        await wait_until(lambda: served.is_closed)
        assert served.outcome == "released"  # an A-RELEASE, not an abort
        assert assoc.outcome == "released"
        await wait_until(lambda: pool.size == 0)
        async with pool.acquire() as again:
            assert again is not assoc
            assert await again.echo() == Status.SUCCESS
        assert pool.opened == 2


async def test_closing_the_pool_releases_every_association(serving: Serving) -> None:
    peer = EchoServer()
    async with serving(peer.server) as port:
        async with pool_to(port, max_size=2) as pool:
            async with pool.acquire() as one, pool.acquire() as two:
                await one.echo()
                await two.echo()
            assert pool.idle == 2
        assert pool.size == 0
        assert [a.outcome for a in peer.seen] == ["released", "released"]
        with pytest.raises(PoolClosedError):
            async with pool.acquire():
                pytest.fail("a closed pool handed out an association")


async def test_association_is_replaced_after_a_peer_restart(
        anyio_backend: str) -> None:
    first, second = EchoServer(), EchoServer()
    async with anyio.create_task_group() as tg, \
            pool_to(0, idle_timeout=None) as pool:
        pool.port = await tg.start(partial(first.server.serve, "127.0.0.1", 0))
        async with pool.acquire() as old:
            assert await old.echo() == Status.SUCCESS
        first.server.shutdown(grace=0)  # aborts the idle association: a restart
        with anyio.fail_after(10):
            await first.server.wait_stopped()
            await old.wait_closed()
        await tg.start(partial(second.server.serve, "127.0.0.1", pool.port))
        async with pool.acquire() as new:
            assert new is not old
            assert await new.echo() == Status.SUCCESS
        assert second.associations == 1
        assert pool.opened == 2
        second.server.shutdown(grace=2)


async def test_aborted_association_is_not_reused(serving: Serving) -> None:
    peer = EchoServer()

    @peer.server.on_echo()
    async def abort_the_first(request: IncomingRequest) -> int:
        peer.seen.append(request.association)
        if len(peer.seen) == 1:
            await request.association.abort()
        return Status.SUCCESS

    async with serving(peer.server) as port, pool_to(port) as pool:
        with pytest.raises(AssociationAbortedError):
            async with pool.acquire() as assoc:
                await assoc.echo()
        assert pool.idle == 0
        async with pool.acquire() as fresh:
            assert fresh is not assoc
            assert await fresh.echo() == Status.SUCCESS
        assert peer.associations == 2


async def test_holder_errors_keep_or_discard(serving: Serving) -> None:
    peer = EchoServer()
    async with serving(peer.server) as port, pool_to(port) as pool:
        with pytest.raises(ValueError, match="mine"):
            async with pool.acquire() as assoc:
                await assoc.echo()
                raise ValueError("mine")  # the caller's own error: the association is fine
        async with pool.acquire() as same:
            assert same is assoc
        with anyio.move_on_after(0.05):
            async with pool.acquire() as cancelled:
                await anyio.sleep_forever()  # cancelled mid-use: state unknown
        await wait_until(lambda: cancelled.is_closed)
        assert cancelled.outcome == "aborted"
        await wait_until(lambda: peer.seen[0].is_closed)
        assert peer.seen[0].outcome == "aborted"
        assert pool.idle == 0


async def test_run_retries_when_the_association_died_before_the_request(
        serving: Serving) -> None:
    peer = EchoServer()
    attempts: list[Association] = []

    async def echo(assoc: Association) -> int:
        attempts.append(assoc)
        if len(attempts) == 1:
            # The peer drops the association just before we use it.
            await next(iter(peer.server.associations)).abort()
            with anyio.fail_after(10):
                await assoc.wait_closed()
        return await assoc.echo()

    async with serving(peer.server) as port, pool_to(port) as pool:
        async with pool.acquire() as warm:
            await warm.echo()
        peer.seen.clear()
        assert await pool.run(echo, retry=1) == Status.SUCCESS
        assert len(attempts) == 2 and attempts[0] is not attempts[1]
        assert peer.associations == 1  # the first echo never reached the peer
        attempts.clear()
        with pytest.raises(AssociationAbortedError):
            await pool.run(echo)  # retry=0: the failure is the caller's
        assert len(attempts) == 1


async def test_run_does_not_retry_a_request_that_went_out(serving: Serving) -> None:
    peer = EchoServer()

    @peer.server.on_echo()
    async def abort_the_first(request: IncomingRequest) -> int:
        peer.seen.append(request.association)
        if len(peer.seen) == 1:
            await request.association.abort()  # got the request, then went away
        return Status.SUCCESS

    async def echo(assoc: Association) -> int:
        return await assoc.echo()

    async with serving(peer.server) as port, pool_to(port) as pool:
        with pytest.raises(AssociationAbortedError):
            await pool.run(echo, retry=1)
        assert len(peer.seen) == 1  # the peer saw it: not sent twice
        # C-ECHO is idempotent: the caller may say so, and then it is retried.
        assert await pool.run(echo, retry=1, idempotent=True) == Status.SUCCESS
        assert len(peer.seen) == 2


async def test_pool_replaces_an_association_the_network_timeout_ended(
        serving: Serving) -> None:
    """Whatever ends an idle association (today the client's own Timeouts.network,
    or the peer's idle timer), the next acquire gets a working one."""
    peer = EchoServer()
    async with serving(peer.server) as port, \
            pool_to(port, idle_timeout=None,
                    timeouts=dicomnet.Timeouts(network=0.3)) as pool:
        async with pool.acquire() as assoc:
            await assoc.echo()
        await anyio.sleep(0.6)
        async with pool.acquire() as again:
            assert await again.echo() == Status.SUCCESS
        assert peer.associations in (1, 2)  # 1 once an idle requestor no longer times out


async def test_options_are_checked_when_the_pool_is_made() -> None:
    with pytest.raises(TypeError, match="calling_aet"):
        dicomnet.AssociationPool("127.0.0.1", 104, calling_aet="ME")
    with pytest.raises(ValueError, match="max_size"):
        dicomnet.AssociationPool("127.0.0.1", 104, max_size=0)
