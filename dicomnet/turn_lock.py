"""A first-come lock for the writers of one association, cheap when nobody waits.

anyio's ``Lock`` notes its owner task on every acquire and checks it on release: two
look-ups of the current task, which cost about as much as writing a small message
(a C-ECHO or C-STORE response) to a socket that takes it at once. The writers of one
association need no owner: the code that takes the lock releases it in the same
function. :class:`TurnLock` is a flag while uncontended, and hands the lock to its
waiters in the order they came.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

import anyio

__all__ = ["TurnLock"]


class TurnLock:
    """A lock without owner tracking; waiters are served first come, first served."""

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: deque[anyio.Event] = deque()

    def locked(self) -> bool:
        return self._held

    async def acquire(self) -> None:
        """Take the lock; without an event loop round when it is free."""
        if not self._held:
            self._held = True
            return
        turn = anyio.Event()
        self._waiters.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():  # handed over just as the wait was cancelled: pass it on
                self.release()
            else:
                self._waiters.remove(turn)
            raise

    def release(self) -> None:
        """Give the lock to the first waiter, or free it."""
        if self._waiters:
            self._waiters.popleft().set()  # the lock stays held: it is theirs now
        else:
            self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self.release()
