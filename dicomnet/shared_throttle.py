"""The login throttle of ``serve --workers``: failures counted for the whole server.

:class:`~dicomnet.login_throttle.LoginThrottle` keeps its counts in the process; with
several worker processes a guesser whose connections the kernel spreads over them
would reach the delay cap only after that many times the failures. This one keeps
them in shared memory, created by the supervising process before it forks the
workers, under a POSIX record lock that the kernel lets go of if its holder dies
(as :mod:`dicomnet.worker_books` does).

The table has a fixed size: a key (a username's or an address's digest) hashes to a
set of a few entries, each holding the key's own 64-bit digest, so that two keys share
counts only if those digests are equal. A set that is full forgets its entry that
failed longest ago, as the process's table forgets its least recently failed key: a
flood of made-up usernames costs no memory and slows no real user down; it only
makes the table forget sooner.

The times are the event loop's clock (``anyio.current_time()``), which on asyncio is
the system's monotonic clock, the same in every process.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import tempfile

from dicomnet.login_throttle import LoginThrottle

__all__ = ["SharedLoginThrottle"]

#: Sets of WAYS entries: SETS * WAYS keys at most, the process table's default.
SETS = 1024
WAYS = 4
_ENTRIES = SETS * WAYS


class SharedLoginThrottle(LoginThrottle):
    """A :class:`LoginThrottle` whose counts every forked process shares."""

    def __init__(self, *, base: float = 0.25, cap: float = 4.0,
                 forget_after: float = 600.0) -> None:
        super().__init__(base=base, cap=cap, forget_after=forget_after, max_keys=_ENTRIES)
        self._file = tempfile.TemporaryFile(prefix="dicomnet-throttle-")  # noqa: SIM115 - lives as long as the server
        size = _ENTRIES * 24  # digest (8 bytes), count (8), last failure (8)
        os.ftruncate(self._file.fileno(), size)
        self._map = mmap.mmap(self._file.fileno(), size, flags=mmap.MAP_SHARED)
        view = memoryview(self._map)
        self._digests = view[:_ENTRIES * 8].cast("Q")
        self._counts = view[_ENTRIES * 8:_ENTRIES * 16].cast("q")
        self._lasts = view[_ENTRIES * 16:].cast("d")

    def close(self) -> None:
        for view in (self._digests, self._counts, self._lasts):
            view.release()
        self._map.close()
        self._file.close()

    def __len__(self) -> int:
        return sum(1 for digest in self._digests if digest)

    @staticmethod
    def _digest(key: bytes) -> int:
        # Never 0, which marks a free entry.
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") or 1

    def _find(self, digest: int) -> int | None:
        first = (digest % SETS) * WAYS
        for index in range(first, first + WAYS):
            if self._digests[index] == digest:
                return index
        return None

    def _lock(self) -> None:
        fcntl.lockf(self._file.fileno(), fcntl.LOCK_EX)

    def _unlock(self) -> None:
        fcntl.lockf(self._file.fileno(), fcntl.LOCK_UN)

    def delay(self, keys: tuple[bytes, ...], now: float) -> float:
        worst = 0
        self._lock()
        try:
            for key in keys:
                index = self._find(self._digest(key))
                if index is not None and now - self._lasts[index] < self.forget_after:
                    worst = max(worst, self._counts[index])
        finally:
            self._unlock()
        return self.delay_after(worst)

    def failed(self, keys: tuple[bytes, ...], now: float) -> None:
        self._lock()
        try:
            for key in keys:
                digest = self._digest(key)
                index = self._find(digest)
                if index is None:
                    # A free entry of the set, else the one that failed longest ago.
                    first = (digest % SETS) * WAYS
                    index = min(range(first, first + WAYS),
                                key=lambda i: (self._digests[i] != 0, self._lasts[i]))
                    self._digests[index] = digest
                    self._counts[index] = 0
                elif now - self._lasts[index] >= self.forget_after:
                    self._counts[index] = 0
                self._counts[index] += 1
                self._lasts[index] = now
        finally:
            self._unlock()

    def succeeded(self, key: bytes) -> None:
        self._lock()
        try:
            index = self._find(self._digest(key))
            if index is not None:
                self._digests[index] = 0
                self._counts[index] = 0
        finally:
            self._unlock()
