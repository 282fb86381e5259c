"""A flood of wrong passcodes against `dicomnet serve --users` (PS3.7 D.3.3.7).

Every passcode check is an scrypt hash that needs its own large block of memory, run in
a worker thread. Unbounded, 60 concurrent wrong passcodes made 60 threads hash at once
and the server kept the memory afterwards (threads keep what they freed). The server
runs as a real process here so that its resident memory can be read from /proc; the
flood must leave it bounded, a right passcode must still get in meanwhile, and
repeated failures must be slowed down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest
from serve_process import rss, serve_process

import dicomnet
from dicomnet import user_identity
from dicomnet.dimse import Status
from dicomnet.errors import AssociationRejectedError, DicomNetError
from dicomnet.login_throttle import LoginThrottle, address_key, username_key
from dicomnet.server import Server

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

FLOOD = 60
#: Growth of the server's resident memory allowed for the whole flood. Unbounded
#: checks grew it by several hundred MiB (docs/performance.md); bounded ones by about
#: the memory of the few checks allowed at once.
RSS_GROWTH_LIMIT = 120 << 20


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users.txt"
    user_identity.add_to_passcode_file(path, "alice", "correct horse")
    user_identity.add_to_passcode_file(path, "bob", "battery staple")
    return path


@pytest.fixture
def serve(users: Path, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """`dicomnet serve --users` on a free port: (pid, port)."""
    with serve_process("--aet", "SECURE", "--no-store", "--users", str(users),
                       "--max-associations", str(FLOOD + 8),
                       "--data", str(tmp_path / "data")) as served:
        yield served


async def _login(port: int, name: str, passcode: str) -> bool:
    """Whether ``name``/``passcode`` opens an association (and C-ECHO works on it)."""
    try:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SECURE",
                                    user_identity=user_identity.username(name, passcode)
                                    ) as assoc:
            return await assoc.echo() == Status.SUCCESS
    except AssociationRejectedError:
        return False


async def test_a_passcode_flood_keeps_memory_bounded_and_lets_the_right_user_in(
        serve: tuple[int, int]) -> None:
    pid, port = serve
    assert await _login(port, "bob", "battery staple")  # one check made: the baseline
    before = rss(pid)
    peak = before
    results: list[bool] = []
    admitted: list[float] = []

    async def wrong(number: int) -> None:
        try:
            results.append(await _login(port, f"user{number}", "wrong"))
        except DicomNetError:
            results.append(False)

    async def right() -> None:
        await anyio.sleep(0.5)  # in the middle of the flood
        started = anyio.current_time()
        assert await _login(port, "alice", "correct horse")
        admitted.append(anyio.current_time() - started)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for number in range(FLOOD):
                tg.start_soon(wrong, number)
            tg.start_soon(right)
            while len(results) < FLOOD or not admitted:
                peak = max(peak, rss(pid))
                await anyio.sleep(0.05)
    after = rss(pid)
    assert results == [False] * FLOOD
    assert admitted and admitted[0] < 30, admitted
    growth = max(peak, after) - before
    print(f"RSS before {before >> 20} MiB, peak {peak >> 20} MiB, after {after >> 20} MiB; "
          f"the right passcode got in after {admitted[0]:.2f} s")
    assert growth < RSS_GROWTH_LIMIT, f"grew {growth >> 20} MiB"


async def test_repeated_failures_are_answered_later_and_later(
        serving: Serving, users: Path) -> None:
    throttle = LoginThrottle(base=0.2, cap=2.0)
    server = Server("SECURE", authenticate=user_identity.PasscodeFile(users,
                                                                     throttle=throttle))
    times: list[float] = []
    async with serving(server) as port:
        for _attempt in range(5):
            started = anyio.current_time()
            assert not await _login(port, "alice", "wrong")
            times.append(anyio.current_time() - started)
        # The delays before the 2nd..5th attempts: 0.2, 0.4, 0.8, 1.6 s.
        assert times[4] - times[0] >= 1.0, times
        assert times[4] > times[3] > times[1], times
        # The right passcode still gets in (after its wait), and clears the user's
        # count; the address's count stays.
        assert await _login(port, "alice", "correct horse")
    assert len(throttle) == 1


def test_the_throttle_table_is_bounded_and_forgets() -> None:
    throttle = LoginThrottle(base=1.0, cap=8.0, forget_after=100.0, max_keys=10)
    key = (b"user",)
    assert throttle.delay(key, 0.0) == 0.0
    for count, expected in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0)):
        throttle.failed(key, float(count))
        assert throttle.delay(key, float(count)) == expected
    assert throttle.delay(key, 105.0 + 5) == 0.0  # quiet for forget_after
    for number in range(1000):
        throttle.failed((b"k%d" % number,), 200.0)
    assert len(throttle) == 10
    assert throttle.delay((b"k999",), 200.0) == 1.0  # the most recent are kept
    assert throttle.delay((b"k0",), 200.0) == 0.0


def test_throttle_keys_are_small_and_group_what_one_peer_holds() -> None:
    assert len(username_key(b"x" * 65535)) == 17  # a 64 KiB name is not kept
    assert username_key(b"alice") != username_key(b"alice ")
    assert address_key("::ffff:10.1.2.3") == address_key("10.1.2.3")
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1%eth0")  # one /64
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("10.1.2.3") != address_key("10.1.2.4")
