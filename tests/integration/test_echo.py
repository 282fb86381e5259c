"""C-ECHO end to end between dicomnet's client and server over 127.0.0.1, on asyncio and
trio: negotiation, rejection, release and abort both ways, and the timeouts."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest

import dicomnet
from dicomnet.config import Timeouts
from dicomnet.dimse import Status
from dicomnet.errors import (
    AssociationAbortedError,
    AssociationRejectedError,
    DicomTimeoutError,
    NegotiationError,
)
from dicomnet.server import Server

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


async def test_echo_succeeds_and_releases(serving: Serving) -> None:
    server = Server("ECHOSCP")
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP",
                                    calling_ae="ME") as assoc:
            assert assoc.is_established
            assert await assoc.echo() == Status.SUCCESS
            assert await assoc.echo() == Status.SUCCESS
            served = next(iter(server.associations))
            assert served.calling_ae_title == "ME"
        assert assoc.outcome == "released"
        assert assoc.is_closed
        with anyio.fail_after(5):
            while server.associations:
                await anyio.sleep(0.01)
        assert served.outcome == "released"


async def test_custom_echo_status(serving: Serving) -> None:
    server = Server("ECHOSCP")

    @server.on_echo()
    async def busy(request: object) -> int:
        return 0x0110  # processing failure

    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
        assert await assoc.echo() == 0x0110


@pytest.mark.parametrize(
    ("called", "calling", "allowed", "reason"),
    [
        ("WRONG", "ME", None, 7),    # called AE title not recognised
        ("ECHOSCP", "STRANGER", {"FRIEND"}, 3),  # calling AE title not recognised
    ],
)
async def test_rejections(serving: Serving, called: str, calling: str,
                          allowed: set[str] | None, reason: int) -> None:
    server = Server("ECHOSCP", allowed_calling_ae_titles=allowed)
    async with serving(server) as port:
        with pytest.raises(AssociationRejectedError) as info:
            async with dicomnet.connect("127.0.0.1", port, called_ae=called,
                                        calling_ae=calling):
                pytest.fail("association should have been rejected")
        assert (info.value.result, info.value.source, info.value.reason) == (1, 1, reason)
        # ...and the server still answers a well-behaved peer.
        async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP",
                                    calling_ae="FRIEND") as assoc:
            assert await assoc.echo() == 0


async def test_any_called_ae_title(serving: Serving) -> None:
    server = Server("ECHOSCP", require_called_ae_title=False)
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="WHATEVER") as assoc:
        assert await assoc.echo() == 0


async def test_local_limit_exceeded_is_transient_rejection(serving: Serving) -> None:
    server = Server("ECHOSCP", max_associations=1)
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as first:
        with pytest.raises(AssociationRejectedError) as info:
            async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP"):
                pass
        assert (info.value.result, info.value.source, info.value.reason) == (2, 3, 2)
        assert await first.echo() == 0


async def test_no_verification_context_is_a_clear_error(serving: Serving) -> None:
    server = Server("ECHOSCP")
    ct_storage = "1.2.840.10008.5.1.4.1.1.2"
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP",
                             contexts=[ct_storage]) as assoc:
        assert not assoc.negotiated.accepted
        with pytest.raises(NegotiationError, match="Verification"):
            await assoc.echo()


async def test_client_abort_leaves_server_serving(serving: Serving) -> None:
    server = Server("ECHOSCP")
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
            served = next(iter(server.associations))
            await assoc.abort()
            assert assoc.outcome == "aborted"
        with anyio.fail_after(5):
            await served.wait_closed()
        assert served.outcome == "aborted"
        async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as again:
            assert await again.echo() == 0


async def test_exception_in_block_aborts(serving: Serving) -> None:
    server = Server("ECHOSCP")
    async with serving(server) as port:
        with pytest.raises(ZeroDivisionError):
            async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
                served = next(iter(server.associations))
                _ = 1 / 0
        assert assoc.outcome == "aborted"
        with anyio.fail_after(5):
            await served.wait_closed()
        assert served.outcome == "aborted"


async def test_server_abort_reaches_client(serving: Serving) -> None:
    server = Server("ECHOSCP")
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
            served = next(iter(server.associations))
            await served.abort()
            with anyio.fail_after(5):
                await assoc.wait_closed()
            assert assoc.outcome == "aborted"
            with pytest.raises(AssociationAbortedError):
                await assoc.echo()


async def test_an_abort_wakes_a_request_waiting_for_its_response(serving: Serving) -> None:
    """request_one's waiter is woken by the end of the association, not left waiting."""
    server = Server("ECHOSCP")
    started = anyio.Event()

    @server.on_echo()
    async def stalls(request: object) -> int:
        started.set()
        await anyio.sleep(3600)
        return 0

    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
            served = next(iter(server.associations))

            async def abort_once_waiting() -> None:
                await started.wait()
                await served.abort()

            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(abort_once_waiting)
                    with pytest.raises(AssociationAbortedError):
                        await assoc.echo()
            assert assoc.outcome == "aborted"


async def test_server_side_release(serving: Serving) -> None:
    """The acceptor may release too (PS3.8 §7.2): the requestor answers A-RELEASE-RP."""
    server = Server("ECHOSCP")
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
        served = next(iter(server.associations))
        with anyio.fail_after(5):
            await served.release()
            await assoc.wait_closed()
        assert served.outcome == "released"
        assert assoc.outcome == "released"


async def test_release_from_both_sides_at_once(serving: Serving) -> None:
    """Both sides release together: a release collision (Sta9-12) or a plain release,
    depending on timing; either way both end released, nobody hangs."""
    server = Server("ECHOSCP")
    async with serving(server) as port:
        for _ in range(5):
            async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
                served = next(iter(server.associations))
                with anyio.fail_after(10):
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(served.release)
                        tg.start_soon(assoc.release)
            assert assoc.outcome == "released"
            with anyio.fail_after(5):
                await served.wait_closed()
            assert served.outcome == "released"


async def test_dimse_timeout_aborts(serving: Serving) -> None:
    server = Server("ECHOSCP")

    @server.on_echo()
    async def never(request: object) -> int:
        await anyio.sleep(3600)
        return 0

    async with serving(server) as port, dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP",
                                timeouts=Timeouts(dimse=0.3)) as assoc:
        with anyio.fail_after(5), pytest.raises(DicomTimeoutError, match="C-ECHO"):
            await assoc.echo()
        assert assoc.outcome == "aborted"


async def test_acse_timeout_when_nobody_answers() -> None:
    """A listener that accepts TCP but never answers A-ASSOCIATE-RQ."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
    accepted: list[anyio.abc.SocketStream] = []

    async def hold(stream: anyio.abc.SocketStream) -> None:
        accepted.append(stream)
        await anyio.sleep(3600)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hold)
        with anyio.fail_after(5), pytest.raises(DicomTimeoutError, match="A-ASSOCIATE-AC"):
            async with dicomnet.connect("127.0.0.1", port, timeouts=Timeouts(acse=0.3)):
                pass
        tg.cancel_scope.cancel()


async def test_connection_refused_is_oserror() -> None:
    with anyio.fail_after(5), pytest.raises(OSError):
        async with dicomnet.connect("127.0.0.1", 1):
            pass


async def test_network_timeout_drops_silent_peer(serving: Serving) -> None:
    server = Server("ECHOSCP", timeouts=Timeouts(network=0.3))
    async with serving(server) as port, \
            dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
        with anyio.fail_after(5):
            await assoc.wait_closed()
        assert assoc.outcome == "aborted"


async def test_graceful_shutdown_lets_running_association_finish() -> None:
    server = Server("ECHOSCP")
    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve, "127.0.0.1", 0)
        async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP") as assoc:
            server.shutdown(grace=5)
            await anyio.sleep(0.1)
            # No new associations...
            with pytest.raises(OSError):
                async with dicomnet.connect("127.0.0.1", port, called_ae="ECHOSCP"):
                    pass
            # ...but the running one still works until it releases.
            assert await assoc.echo() == 0
        with anyio.fail_after(5):
            await server.wait_stopped()


async def test_echo_over_ipv6_loopback(serving: Serving) -> None:
    async with serving(Server("ECHOSCP"), host="::1") as port, \
            dicomnet.connect("::1", port, called_ae="ECHOSCP") as assoc:
        assert await assoc.echo() == 0
