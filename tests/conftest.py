"""Fixtures shared by the whole suite.

Integration tests are marked ``@pytest.mark.anyio`` and run once on asyncio and once on
trio through the ``anyio_backend`` fixture: dicomnet must work on both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from dicomnet import testing
from dicomnet.tls import TestPKI, create_test_pki


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


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
    """The plugin's ``dicomnet_serving`` under the short name this suite uses."""
    return testing.serving


@pytest.fixture(autouse=True)
def _dicomnet_debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    """Keep dicomnet's debug log for failing tests (pytest shows it on failure)."""
    caplog.set_level(logging.DEBUG, logger="dicomnet")
