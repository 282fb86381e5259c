"""NetworkWatch: deadlines noted per read and write, one watcher that acts on them."""

from __future__ import annotations

import anyio
import pytest

from dicomnet.network_watch import NetworkWatch

pytestmark = pytest.mark.anyio

PERIOD = 0.2


async def _expiry(watch: NetworkWatch, limit: float) -> tuple[str | None, float]:
    """What expired within ``limit`` seconds (None if nothing), and when."""
    started = anyio.current_time()
    with anyio.move_on_after(limit):
        return await watch.expired(), anyio.current_time() - started
    return None, anyio.current_time() - started


async def test_nothing_expires_without_a_read_or_write() -> None:
    assert (await _expiry(NetworkWatch(PERIOD), 4 * PERIOD))[0] is None


async def test_a_read_expires_a_period_after_it_began() -> None:
    watch = NetworkWatch(PERIOD)
    watch.reading()
    what, after = await _expiry(watch, 10 * PERIOD)
    assert what == "read"
    assert PERIOD * 0.9 <= after < 5 * PERIOD


async def test_a_write_expires_and_is_reported_before_a_read() -> None:
    watch = NetworkWatch(PERIOD)
    watch.reading()
    watch.writing()
    assert (await _expiry(watch, 10 * PERIOD))[0] == "write"
    # The reported deadline is forgotten; the other one still stands.
    assert (await _expiry(watch, 10 * PERIOD))[0] == "read"


async def test_finished_reads_and_writes_do_not_expire() -> None:
    watch = NetworkWatch(PERIOD)

    async def healthy_peer() -> None:
        for _ in range(8):  # reads and writes that each finish well within the period
            watch.reading()
            watch.writing()
            await anyio.sleep(PERIOD / 4)
            watch.write_done()
            watch.read_done()

    async with anyio.create_task_group() as tg:
        tg.start_soon(healthy_peer)
        assert (await _expiry(watch, 4 * PERIOD))[0] is None


async def test_a_pdu_begun_earlier_wakes_a_watcher_asleep_for_a_whole_period() -> None:
    """The rest of a PDU must come within the period from its first bytes: a deadline
    earlier than the watcher's next look must wake it, not wait out its sleep."""
    watch = NetworkWatch(10 * PERIOD)
    result: list[tuple[str | None, float]] = []

    async def watcher() -> None:
        result.append(await _expiry(watch, 30 * PERIOD))

    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher)
        await anyio.sleep(PERIOD)  # the watcher now sleeps until 10 periods from now
        watch.reading(since=NetworkWatch.now() - 9 * PERIOD)  # due in one period
    what, after = result[0]
    assert what == "read"
    assert after < 6 * PERIOD
