"""The archive's index work, done off the event loop.

Every index call can block: on the write lock while another process holds it (up to the
index's busy timeout), on the network with PostgreSQL, and a query over a large index
scans and matches row after row. On the event loop any of them would stop every
association of the server, so the :class:`IndexWorker` runs them in threads:

* Writes (filing an instance, recording a step) run one at a time, in the order they
  come, on the index's own connection: the index has one writer anyway, and one thread at
  a time keeps that connection's state (the rows it wrote last) its own. They go
  through ``anyio.to_thread.run_sync`` with a limiter of one rather than a thread of
  their own fed by a queue: both cost one hand-over to a thread and one wake-up of the
  loop per job, but anyio's idle worker threads are already there, and a cancelled
  caller still waits for its job to end (no file half filed).
* Reads (queries, commitment look-ups) run in at most ``readers`` threads at once, each
  on a read connection of its own taken from a small pool: they read beside
  the writer, so a long query never delays the filing of another association's data.
* A query's results come back in slices (:meth:`IndexWorker.scan`): a thread matches
  rows for at most a slice of time or a batch of results and hands them over; between
  slices the loop sends responses, the reader threads serve other callers, and a
  C-CANCEL stops the scan.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from dicomnet.archive.database import IndexConnection
    from dicomnet.archive.index import ArchiveIndex

__all__ = ["READERS", "IndexWorker"]

T = TypeVar("T")

#: Reader threads at once: enough for queries, commitment look-ups and counts to go on
#: beside each other, few enough that a burst of queries cannot take every thread of
#: the process (filing has a limiter of its own).
READERS = 4
#: A scan hands its results over after this many seconds of matching...
_SLICE = 0.02
#: ... or this many results, whichever comes first: the first responses of a large
#: query go out while the rest is still being matched.
_BATCH = 64
#: SQLite virtual machine steps between two looks at a scan's stop flag.
_PROGRESS_STEPS = 10_000


class IndexWorker:
    """Runs the index's writes in one thread at a time and its reads in a few."""

    def __init__(self, index: ArchiveIndex, *, readers: int = READERS) -> None:
        self.index = index
        self._writing = anyio.CapacityLimiter(1)
        self.reading = anyio.CapacityLimiter(readers)
        self._idle: list[IndexConnection] = []  # read connections not in use
        self._lock = threading.Lock()
        self._closed = False

    async def write(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in the writer's thread, after the writes before it."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self._writing)

    def write_now(self, function: Callable[..., T | None], *args: object) -> T | None:
        """``function(*args)`` on the calling thread (the event loop's) when no write
        is under way, else None. Only for a function that never waits: it returns None
        rather than block (see :meth:`Archive.file_in_writer`)."""
        try:
            self._writing.acquire_nowait()
        except anyio.WouldBlock:
            return None
        try:
            return function(*args)
        finally:
            self._writing.release()

    async def read(self, function: Callable[[IndexConnection], T]) -> T:
        """``function(connection)`` in a reader thread, on a read connection."""
        return await anyio.to_thread.run_sync(self._read_with, function,
                                              limiter=self.reading)

    def _read_with(self, function: Callable[[IndexConnection], T]) -> T:
        connection = self._take()
        try:
            return function(connection)
        finally:
            self._give_back(connection)

    async def scan(self, rows: Callable[[IndexConnection], Iterator[T | None]], *,
                   stop: anyio.Event | None = None) -> AsyncGenerator[T, None]:
        """The items of ``rows(connection)``, one by one: :meth:`scan_batches`."""
        async with aclosing(self.scan_batches(rows, stop=stop)) as batches:
            async for batch in batches:
                for item in batch:
                    yield item

    async def scan_batches(self, rows: Callable[[IndexConnection], Iterator[T | None]],
                           *, stop: anyio.Event | None = None, size: int = _BATCH
                           ) -> AsyncGenerator[list[T], None]:
        """The items of ``rows(connection)``, produced in reader threads a slice at a
        time and handed over as lists of at most ``size``; ends early once ``stop``
        is set: checked between slices, and inside SQLite while a statement runs
        (a progress handler interrupts it), so a stop is seen within one slice of
        matching even when SQLite skips many rows between two matches. ``rows``
        yields ``None`` for each row it looked at in vain: the slice's clock is read
        there too."""
        connection: IndexConnection | None = None
        items: Iterator[T | None] | None = None

        def stopped() -> int:
            return 1 if stop is not None and stop.is_set() else 0

        def next_slice() -> tuple[list[T], bool]:
            nonlocal connection, items
            if items is None:
                connection = self._take()
                connection.set_progress_handler(stopped, _PROGRESS_STEPS)
                items = rows(connection)
            batch: list[T] = []
            deadline = time.monotonic() + _SLICE
            try:
                for item in items:
                    if item is not None:
                        batch.append(item)
                    if len(batch) >= size or time.monotonic() >= deadline:
                        return batch, False
            except sqlite3.OperationalError:
                if not stopped():
                    raise
            return batch, True

        try:
            while stop is None or not stop.is_set():
                batch, done = await anyio.to_thread.run_sync(next_slice,
                                                             limiter=self.reading)
                if batch:
                    yield batch
                if done:
                    return
        finally:
            # No thread runs the iterator now: each slice was awaited to its end.
            close = getattr(items, "close", None)
            if close is not None:
                close()
            if connection is not None:
                connection.set_progress_handler(None, 0)
                self._give_back(connection)

    def _take(self) -> IndexConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self.index.reader()

    def _give_back(self, connection: IndexConnection) -> None:
        with self._lock:
            if not self._closed and not connection.in_transaction and \
                    not getattr(connection, "broken", False):
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close the idle read connections (those in use close when given back)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
