"""Fixtures shared by the whole suite.

Integration tests are marked ``@pytest.mark.anyio`` and run once on asyncio and once on
trio through the ``anyio_backend`` fixture: dicomnet must work on both.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import pytest

from dicomnet.server import Server


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def _serving(server: Server, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Run ``server`` on a free port for the duration of the block; yield the port."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve, host, 0)
        try:
            yield port
        finally:
            server.shutdown(grace=2)
            with anyio.fail_after(10):
                await server.wait_stopped()


@pytest.fixture
def serving() -> Callable[..., AbstractAsyncContextManager[int]]:
    return _serving


@pytest.fixture(autouse=True)
def _dicomnet_debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    """Keep dicomnet's debug log for failing tests (pytest shows it on failure)."""
    caplog.set_level(logging.DEBUG, logger="dicomnet")
