"""The association driver's clocks: deadlines that say what timed out, and ARTIM.

A wait for the peer (the A-ASSOCIATE-AC, a DIMSE response, the A-RELEASE-RP) that runs
out raises :class:`~dicomnet.errors.DicomTimeoutError` naming what was awaited, so a
user reads "waiting for the response to C-FIND-RQ #3 timed out after 30 s", not a bare
TimeoutError. The ARTIM timer (PS3.8 §9.1.5) runs as a task of the association; the
sans-IO connection says when it should run, and decides what its expiry means.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import anyio
from anyio.abc import TaskGroup

from dicomnet.errors import DicomTimeoutError

__all__ = ["ArtimTimer", "deadline"]


@contextmanager
def deadline(what: str | Callable[[], str], seconds: float | None) -> Iterator[None]:
    """``anyio.fail_after`` raising :class:`DicomTimeoutError` that says what timed out.

    Only the deadline of this scope is translated; a TimeoutError raised by the body
    passes through unchanged. ``what`` may be a function that makes the text, when
    making it costs something on a path taken once per request.
    """
    if seconds is None:  # no timer, no cancel scope: nothing to pay on each request
        yield
        return
    scope = anyio.fail_after(seconds)
    try:
        with scope:
            yield
    except TimeoutError as exc:
        if isinstance(exc, DicomTimeoutError):
            raise
        raise DicomTimeoutError(what if isinstance(what, str) else what(),
                                seconds or 0) from None


class ArtimTimer:
    """ARTIM (PS3.8 §9.1.5) for one connection: started, restarted and stopped as the
    connection asks (:meth:`follow`), calling ``expired()`` when it runs out."""

    def __init__(self, seconds: float, expired: Callable[[], Awaitable[None]]) -> None:
        self.seconds = seconds
        self._expired = expired
        self._scope: anyio.CancelScope | None = None
        self._starts = 0

    def follow(self, running: bool, starts: int, tasks: TaskGroup | None) -> None:
        """Match the connection's wish: ``running``, (re)started ``starts`` times.
        Without a task group (before the reader runs, or after it), nothing starts."""
        if not running:
            self.stop()
        elif starts != self._starts and tasks is not None:
            self.stop()
            self._starts = starts
            self._scope = anyio.CancelScope()
            tasks.start_soon(self.run, self._scope)

    @property
    def running(self) -> bool:
        return self._scope is not None

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None
            self._starts = -1

    async def run(self, scope: anyio.CancelScope) -> None:
        with scope:
            await anyio.sleep(self.seconds)
            if not scope.cancel_called:  # else stopped in the instant it expired
                await self._expired()
