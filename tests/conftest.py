"""Fixtures shared by the whole suite.

Integration tests are marked ``@pytest.mark.anyio`` and run once on asyncio and once on
trio through the ``anyio_backend`` fixture: dicomnet must work on both.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from ssl import SSLContext

import anyio
import pytest

from dicomnet.server import Server
from dicomnet.tls import TestPKI, create_test_pki


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def _serving(server: Server, host: str = "127.0.0.1", *,
                   ssl: SSLContext | None = None) -> AsyncIterator[int]:
    """Run ``server`` on a free port for the duration of the block; yield the port."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(server.serve, host, 0, ssl=ssl))
        try:
            yield port
        finally:
            server.shutdown(grace=2)
            with anyio.fail_after(10):
                await server.wait_stopped()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """A test CA with server (localhost, 127.0.0.1, ::1) and client key pairs."""
    return create_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def rogue_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """Another CA and key pairs, which nobody trusts."""
    return create_test_pki(tmp_path_factory.mktemp("rogue-pki"), client_name="rogue")


@pytest.fixture
def serving() -> Callable[..., AbstractAsyncContextManager[int]]:
    return _serving


@pytest.fixture(autouse=True)
def _dicomnet_debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    """Keep dicomnet's debug log for failing tests (pytest shows it on failure)."""
    caplog.set_level(logging.DEBUG, logger="dicomnet")
