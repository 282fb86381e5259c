"""Association counts shared by the worker processes of one server (``serve --workers``).

``max_associations`` and ``max_associations_per_address`` bound the whole server, not
each worker: a peer must not get twice the associations because the kernel handed its
connections to two processes. So every worker books its associations in one table of
shared memory that all of them see, created by the supervising process before it
forks them:

- one row per worker, so that the supervisor can give back the share of a worker that
  died without releasing what it held (:meth:`SharedBooks.reset`), plus one row of
  totals that the checks read in O(1);
- per-address counts in a fixed number of buckets, an address key hashed into one.
  Two addresses that share a bucket share their bound: the check can only get
  stricter, never looser, and the table's size is fixed whatever the peers do.

Every change happens under a POSIX record lock (``lockf``) on the table's file: the
kernel lets go of it when its holder dies, so a worker killed in the middle of a
booking cannot lock the others out. The lock is held for a few loads and stores of
the event loop's own thread, never across an ``await``: waiting for it is waiting for
another process to finish those, not for I/O.

The lock belongs to a process, not a thread: only the event loop's thread of a
worker books associations, as the server does (its admission runs on the loop).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import tempfile
import zlib

from dicomnet.admission import ASSOCIATION_ADDRESS_LIMIT, ASSOCIATION_LIMIT

__all__ = ["SharedBooks", "WorkerBooks"]

#: Per-address buckets: many more than the peers a server usually has at once, so two
#: rarely share one, and a small table (a few pages per worker).
BUCKETS = 4096
_TOTAL = 0  # column 0 of a row: associations; columns 1.. are the buckets
_COLUMNS = 1 + BUCKETS


class SharedBooks:
    """The shared table: ``workers`` rows of counts and a row of totals (row 0)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("need at least one worker")
        self.workers = workers
        # An unlinked file: shared with the children by fork, gone with the last of
        # them, and a descriptor for lockf.
        self._file = tempfile.TemporaryFile(prefix="dicomnet-books-")  # noqa: SIM115 - lives as long as the server
        size = (workers + 1) * _COLUMNS * 4
        os.ftruncate(self._file.fileno(), size)
        self._map = mmap.mmap(self._file.fileno(), size, flags=mmap.MAP_SHARED)
        self._counts = memoryview(self._map).cast("i")

    def _lock(self) -> None:
        fcntl.lockf(self._file.fileno(), fcntl.LOCK_EX)

    def _unlock(self) -> None:
        fcntl.lockf(self._file.fileno(), fcntl.LOCK_UN)

    def for_worker(self, worker: int, max_associations: int | None,
                   max_associations_per_address: int | None) -> WorkerBooks:
        """The view worker number ``worker`` (1-based) books its associations in."""
        if not 1 <= worker <= self.workers:
            raise ValueError(f"worker {worker} is not one of 1..{self.workers}")
        return WorkerBooks(self, worker, max_associations, max_associations_per_address)

    def associations(self, worker: int | None = None) -> int:
        """Associations booked by the whole server, or by one worker."""
        return self._counts[(worker or 0) * _COLUMNS + _TOTAL]

    def reset(self, worker: int) -> int:
        """Give back everything worker ``worker`` booked (it has died); returns how many
        associations it held."""
        row = worker * _COLUMNS
        counts = self._counts
        self._lock()
        try:
            held = counts[row + _TOTAL]
            for column in range(_COLUMNS):
                count = counts[row + column]
                if count:
                    counts[column] -= count
                    counts[row + column] = 0
        finally:
            self._unlock()
        return held

    def close(self) -> None:
        self._counts.release()
        self._map.close()
        self._file.close()


class WorkerBooks:
    """One worker's side of :class:`SharedBooks`: what ``Admission`` calls to count an
    association against the whole server's bounds (``None``: no bound)."""

    def __init__(self, books: SharedBooks, worker: int, max_associations: int | None,
                 max_associations_per_address: int | None) -> None:
        self._books = books
        self._row = worker * _COLUMNS
        self.max_associations = max_associations
        self.max_associations_per_address = max_associations_per_address

    @staticmethod
    def _bucket(address: str) -> int:
        # crc32, not hash(): the same in every process whatever its hash seed.
        return 1 + zlib.crc32(address.encode("utf-8", "replace")) % BUCKETS

    def take(self, address: str) -> str | None:
        """Book one association from ``address`` (an admission address key) if both
        bounds allow it, else (nothing booked) say which refuses it."""
        bucket = self._bucket(address)
        counts, row = self._books._counts, self._row
        self._books._lock()
        try:
            if self.max_associations is not None \
                    and counts[_TOTAL] >= self.max_associations:
                return ASSOCIATION_LIMIT
            if self.max_associations_per_address is not None \
                    and counts[bucket] >= self.max_associations_per_address:
                return ASSOCIATION_ADDRESS_LIMIT
            counts[_TOTAL] += 1
            counts[bucket] += 1
            counts[row + _TOTAL] += 1
            counts[row + bucket] += 1
            return None
        finally:
            self._books._unlock()

    def give_back(self, address: str) -> None:
        """An association booked by :meth:`take` has ended."""
        bucket = self._bucket(address)
        counts, row = self._books._counts, self._row
        self._books._lock()
        try:
            if counts[row + bucket] > 0:  # not reset meanwhile
                counts[_TOTAL] -= 1
                counts[bucket] -= 1
                counts[row + _TOTAL] -= 1
                counts[row + bucket] -= 1
        finally:
            self._books._unlock()
