"""dicomnet.turn_lock: one holder at a time, waiters in order, cancellation safe."""

from __future__ import annotations

import anyio
import pytest

from dicomnet.turn_lock import TurnLock

pytestmark = pytest.mark.anyio


async def test_one_holder_at_a_time_and_waiters_served_in_order(anyio_backend: str) -> None:
    lock = TurnLock()
    order: list[int] = []
    inside = 0

    async def take(number: int) -> None:
        nonlocal inside
        async with lock:
            inside += 1
            assert inside == 1
            order.append(number)
            await anyio.sleep(0.01)
            inside -= 1

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for number in range(5):
                tg.start_soon(take, number)
                await anyio.sleep(0.001)  # they queue in this order
    assert order == [0, 1, 2, 3, 4]
    assert not lock.locked()


async def test_a_free_lock_is_taken_without_an_event_loop_round(anyio_backend: str) -> None:
    lock = TurnLock()
    others_ran = False

    async def other() -> None:
        nonlocal others_ran
        others_ran = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        await lock.acquire()
        assert not others_ran and lock.locked()
        lock.release()


async def test_a_waiter_cancelled_before_or_after_its_turn_does_not_keep_the_lock(
        anyio_backend: str) -> None:
    lock = TurnLock()
    await lock.acquire()
    with anyio.move_on_after(0.01):  # cancelled while waiting
        await lock.acquire()
    assert lock.locked()

    async def waiter(scope_holder: list[anyio.CancelScope]) -> None:
        with anyio.CancelScope() as scope:
            scope_holder.append(scope)
            async with lock:
                await anyio.sleep(10)  # pragma: no cover - cancelled

    holder: list[anyio.CancelScope] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter, holder)
            await anyio.sleep(0.01)
            lock.release()  # the turn goes to the waiter...
            holder[0].cancel()  # ...cancelled before it runs: it ends up free again
        assert not lock.locked()
        await lock.acquire()
        lock.release()
