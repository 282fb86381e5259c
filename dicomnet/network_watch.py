"""The network timeout of one connection, kept without a timer per read and write.

``Timeouts.network`` bounds every wait for the peer's bytes (a whole PDU, once part of
it has come, so a peer cannot drip it byte by byte) and every write of a PDU (a peer
that stops reading cannot hold a sender forever). Wrapping each read and each write in
``anyio.fail_after`` does that, but arms and cancels a timer and enters and leaves a
cancel scope every time: for a server receiving C-STORE data sets that is several
reads per instance, and the timers were a large share of all its Python work
(the performance page of the documentation has the measurement).

Here a read or a write only notes its deadline, a float; one watcher task per
connection sleeps until the earliest deadline (waking at least once a period to pick
up new ones), checks whether it has really passed, and reports which one did. The
association decides what expiry means (an A-ABORT for a read, closing the connection
for a write that cannot complete).

Deadlines use :func:`time.monotonic`, and the watcher sleeps for relative intervals,
so the clock of the async backend (trio's is offset on purpose) never mixes in.
"""

from __future__ import annotations

import math
import time

import anyio

__all__ = ["NetworkWatch"]

_NEVER = math.inf


class NetworkWatch:
    """Read and write deadlines of one connection, and the wait for one to pass."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._read = _NEVER
        self._write = _NEVER
        self._wake_at = _NEVER  # when the watcher wakes next
        self._sleep: anyio.CancelScope | None = None  # the watcher's sleep

    @staticmethod
    def now() -> float:
        """The clock the deadlines are on."""
        return time.monotonic()

    def reading(self, since: float | None = None) -> None:
        """A read starts: bytes must come within the period, or, when part of a PDU
        came at ``since``, the rest of it within the period from then."""
        self._read = (time.monotonic() if since is None else since) + self.seconds
        if self._read < self._wake_at:
            self._wake()

    def read_done(self) -> None:
        self._read = _NEVER

    def writing(self) -> None:
        """A write starts: it must be done within the period."""
        self._write = time.monotonic() + self.seconds
        if self._write < self._wake_at:
            self._wake()

    def write_done(self) -> None:
        self._write = _NEVER

    def _wake(self) -> None:
        """A deadline earlier than the watcher's next look: wake it to look again. Only
        a read of a PDU that began before the watcher went to sleep does that; any
        other deadline is at least a period after the watcher's last look."""
        if self._sleep is not None:
            self._sleep.cancel()

    async def expired(self) -> str:
        """Wait until a deadline has passed; returns ``"write"`` or ``"read"`` and
        forgets that deadline (so the caller can watch on while it acts)."""
        while True:
            now = time.monotonic()
            if self._write <= now:
                self._write = _NEVER
                return "write"
            if self._read <= now:
                self._read = _NEVER
                return "read"
            self._wake_at = min(self._read, self._write, now + self.seconds)
            with anyio.CancelScope() as self._sleep:
                await anyio.sleep(self._wake_at - now)
            self._sleep = None
