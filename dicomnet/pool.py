"""Long-lived associations to one peer: :class:`AssociationPool`.

A program that sends to a PACS all day (a router, a modality emulator, a web
application) should not pay for an association per request, nor keep one open
forever that the peer may have dropped. The pool keeps up to ``max_size``
associations, hands each to one holder at a time, releases those left idle, and
replaces those the peer closed or aborted.

Each association lives in a task of the pool's own (a *keeper*) that holds the
:func:`dicomnet.connect` block open: a cancel scope must be left in the task that
entered it, and a holder's task comes and goes. The keeper releases the association
(A-RELEASE, PS3.8 §7.2) when told to close it, and aborts it (A-ABORT, PS3.8 §7.3)
when the holder left it in an unknown state.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup, TaskStatus

from dicomnet.client import connect
from dicomnet.errors import (
    AssociationAbortedError,
    AssociationError,
    AssociationReleasedError,
    DicomNetError,
    DicomTimeoutError,
    NegotiationError,
)
from dicomnet.logtext import peer_text
from dicomnet.service_methods import Association

__all__ = ["AssociationPool", "PoolClosedError"]

log = logging.getLogger("dicomnet.pool")

_T = TypeVar("_T")


class PoolClosedError(AssociationError):
    """:meth:`AssociationPool.acquire` was called on a pool that is closed."""


class _State(Enum):
    IN_USE = "in use"
    IDLE = "idle"
    CLOSING = "closing"


@dataclass(eq=False)
class _Slot:
    """One pooled association and what its keeper task waits for."""

    state: _State = _State.IN_USE
    association: Association | None = None
    abort: bool = False  # close with A-ABORT instead of A-RELEASE
    idle_since: float = 0.0
    changed: anyio.Event = field(default_factory=anyio.Event)

    def notify(self) -> None:
        """Wake the keeper: the state changed (or the association ended)."""
        self.changed.set()
        self.changed = anyio.Event()

    @property
    def usable(self) -> bool:
        association = self.association
        return association is not None and association.is_established \
            and not association.is_closed


class AssociationPool:
    """Up to ``max_size`` associations to ``host:port``, each exclusive to one holder::

        async with dicomnet.AssociationPool("pacs", 104, called_ae="PACS",
                                            calling_ae="ME", contexts=[...],
                                            max_size=4, idle_timeout=30) as pool:
            async with pool.acquire() as assoc:
                await assoc.echo()

    Every other keyword argument goes to :func:`dicomnet.connect` as it is (``ssl``,
    ``tls_hostname``, ``timeouts``, ``max_pdu_length``, ``user_identity``, ...).

    - :meth:`acquire` hands out an idle association, or opens one while fewer than
      ``max_size`` exist, or waits for one to come back; it waits at most
      ``acquire_timeout`` seconds (``None``: forever) and then raises
      :class:`~dicomnet.errors.DicomTimeoutError`. Opening an association is bounded
      by the connect timeouts (``timeouts``), not by ``acquire_timeout``.
    - An association idle for ``idle_timeout`` seconds (``None``: never) is released:
      the peer's resources are not held for nothing.
    - An idle association the peer closed or aborted (a restart, its own idle timer)
      is dropped when found, and a new one opened in its place.
    - An association whose holder was cancelled, or raised a dicomnet error (other
      than :class:`~dicomnet.errors.NegotiationError`, which leaves it intact), is
      aborted rather than reused: a request may still be outstanding on it.
    - Leaving the ``async with`` block releases every association, after waiting for
      those still held to come back.
    """

    def __init__(self, host: str, port: int, *, max_size: int = 4,
                 idle_timeout: float | None = 30.0, acquire_timeout: float | None = 30.0,
                 **connect_options: Any) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be positive or None, not {idle_timeout}")
        # A misspelt option fails here, not at the first acquire() minutes later.
        inspect.signature(connect).bind(host, port, **connect_options)
        self.host = host
        self.port = port
        self.max_size = max_size
        self.idle_timeout = idle_timeout
        self.acquire_timeout = acquire_timeout
        self._options = connect_options
        # Holders: at most max_size at a time, the rest wait here.
        self._holders = anyio.Semaphore(max_size)
        # Live associations, counted until their keeper is done closing them, so that
        # one being released and its replacement never exceed max_size together (a
        # peer may limit the associations it accepts from us).
        self._live = anyio.Semaphore(max_size)
        self._idle: list[_Slot] = []  # most recently returned last
        self._slots: set[_Slot] = set()
        self._tasks: TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._closed = False
        #: Associations opened so far (for monitoring; each is one A-ASSOCIATE-RQ).
        self.opened = 0

    # -- the pool's life -----------------------------------------------------------------

    async def __aenter__(self) -> AssociationPool:
        if self._exit_stack is not None or self._closed:
            raise RuntimeError("an AssociationPool can be entered once")
        stack = AsyncExitStack()
        self._tasks = await stack.enter_async_context(anyio.create_task_group())
        self._exit_stack = stack
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> bool | None:
        self.close()
        assert self._exit_stack is not None
        try:
            # The keepers release what is idle now, and what is held once it comes back.
            return await self._exit_stack.__aexit__(exc_type, exc, tb)
        finally:
            self._tasks = None

    def close(self) -> None:
        """Stop handing out associations and close the idle ones; held ones are closed
        when they come back. Leaving the ``async with`` block does this and waits."""
        self._closed = True
        while self._idle:
            self._close_slot(self._idle.pop())

    @property
    def size(self) -> int:
        """Associations open or opening now, held or idle."""
        return sum(1 for slot in self._slots if slot.state is not _State.CLOSING)

    @property
    def idle(self) -> int:
        """Associations waiting in the pool for a holder."""
        return len(self._idle)

    # -- holding an association ----------------------------------------------------------

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Association]:
        """An established association, exclusive to the caller until the block ends.

        Raises :class:`~dicomnet.errors.DicomTimeoutError` when none is free within
        ``acquire_timeout``, :class:`PoolClosedError` once the pool is closed, and what
        :func:`dicomnet.connect` raises when a new association cannot be opened.
        """
        slot = await self._take()
        try:
            yield _association(slot)
        except BaseException as exc:
            self._give_back(slot, keep=_still_usable(exc))
            raise
        else:
            self._give_back(slot, keep=True)

    async def run(self, function: Callable[[Association], Awaitable[_T]], *,
                  retry: int = 0, idempotent: bool = False) -> _T:
        """``await function(assoc)`` on an association from :meth:`acquire`.

        With ``retry=1`` (or more), a failure because the association had ended
        (:class:`~dicomnet.errors.AssociationAbortedError` or
        :class:`~dicomnet.errors.AssociationReleasedError`) *before any DIMSE message
        of ours was written to it* runs ``function`` again on a fresh association. That
        is always safe: the peer cannot have seen the request. It is the common case
        of a pooled association the peer dropped (restart, idle timer) an instant
        before we used it.

        Once a request has been written, the peer may have acted on it even if no
        response came back, so by default it is not retried: an N-CREATE of an MPPS
        instance or an N-ACTION of a storage commitment request sent twice is two
        requests. ``idempotent=True`` retries those failures too; pass it only when
        doing the work twice is harmless, as for C-STORE of the same SOP Instance (a
        PACS keeps one instance per SOP Instance UID) or C-ECHO. ``function`` must
        then redo all its work from the start, since it runs again whole.

        Timeouts (:class:`~dicomnet.errors.DicomTimeoutError`) are never retried: the
        peer is slow, not gone, and the request is still in its hands.
        """
        if retry < 0:
            raise ValueError(f"retry must not be negative, not {retry}")
        attempt = 0
        while True:
            used: Association | None = None
            before = 0
            try:
                async with self.acquire() as association:
                    used, before = association, association.messages_written
                    return await function(association)
            except (AssociationAbortedError, AssociationReleasedError) as exc:
                sent = used is not None and used.messages_written != before
                if attempt >= retry or (sent and not idempotent):
                    raise
                attempt += 1
                log.info("pooled association to %s:%d ended %s (%s); retrying on a "
                         "new one", self.host, self.port,
                         "after our request went out" if sent else "before our request",
                         peer_text(exc, 200))

    async def _take(self) -> _Slot:
        if self._closed or self._tasks is None:
            raise PoolClosedError("the association pool is closed" if self._closed
                                  else "the association pool is not open (async with)")
        deadline = math.inf if self.acquire_timeout is None \
            else anyio.current_time() + self.acquire_timeout
        await self._wait("for a free association", self._holders, deadline)
        try:
            if self._closed:
                raise PoolClosedError("the association pool is closed")
            while self._idle:
                slot = self._idle.pop()
                if slot.usable:
                    slot.state = _State.IN_USE
                    slot.notify()
                    return slot
                log.info("pooled association to %s:%d ended while idle (%s); dropping it",
                         self.host, self.port, _association(slot).outcome or "closed")
                self._close_slot(slot)
            # A released association's keeper gives its place back shortly.
            await self._wait("for a pooled association to close", self._live, deadline)
            return await self._open()
        except BaseException:
            self._holders.release()
            raise

    async def _wait(self, what: str, semaphore: anyio.Semaphore, deadline: float) -> None:
        with anyio.CancelScope(deadline=deadline) as scope:
            await semaphore.acquire()
            return
        if scope.cancelled_caught:
            assert self.acquire_timeout is not None
            raise DicomTimeoutError(
                f"waiting {what} in the pool to {self.host}:{self.port} "
                f"(max_size={self.max_size})", self.acquire_timeout)

    async def _open(self) -> _Slot:
        """Open a new association in a keeper task (which owns one ``_live`` place)."""
        assert self._tasks is not None
        slot = _Slot()
        self._slots.add(slot)
        try:
            await self._tasks.start(self._keep, slot)
        except BaseException:
            self._slots.discard(slot)
            raise
        self.opened += 1
        return slot

    def _give_back(self, slot: _Slot, *, keep: bool) -> None:
        self._holders.release()
        if keep and slot.usable and not self._closed:
            slot.state = _State.IDLE
            slot.idle_since = anyio.current_time()
            self._idle.append(slot)
            slot.notify()
        else:
            if not keep:
                slot.abort = True
            self._close_slot(slot)

    def _close_slot(self, slot: _Slot) -> None:
        if slot in self._idle:
            self._idle.remove(slot)
        slot.state = _State.CLOSING
        slot.notify()

    # -- the keeper of one association ---------------------------------------------------

    async def _keep(self, slot: _Slot, *, task_status: TaskStatus[None]) -> None:
        """Hold one association open until the pool closes it; what it raises before it
        is established goes to :meth:`acquire` (``TaskGroup.start``)."""
        try:
            async with connect(self.host, self.port, **self._options) as association:
                slot.association = association
                log.info("pooled association to %s:%d opened (%d in the pool)",
                         self.host, self.port, self.size)
                task_status.started()
                async with anyio.create_task_group() as watch:
                    watch.start_soon(_notice_end, slot)
                    await self._wait_until_closing(slot)
                    watch.cancel_scope.cancel()
                if slot.abort and not association.is_closed:
                    raise _DiscardedError
        except _DiscardedError:
            log.info("pooled association to %s:%d aborted: its holder left it in an "
                     "unknown state", self.host, self.port)
        except Exception as exc:
            if slot.association is None:
                raise  # to the acquire() that opens it
            # Ending an association that was already used: a failed A-RELEASE, say.
            log.info("pooled association to %s:%d ended with %s", self.host, self.port,
                     peer_text(exc, 200))
        finally:
            self._slots.discard(slot)
            if slot in self._idle:
                self._idle.remove(slot)
            self._live.release()

    async def _wait_until_closing(self, slot: _Slot) -> None:
        association = _association(slot)
        while slot.state is not _State.CLOSING:
            if slot.state is _State.IDLE and association.is_closed:
                self._close_slot(slot)  # the peer went away while it was idle
                break
            if slot.state is _State.IDLE and self.idle_timeout is not None:
                with anyio.CancelScope(deadline=slot.idle_since + self.idle_timeout):
                    await slot.changed.wait()
                    continue
                if slot.state is _State.IDLE:  # still idle at the deadline
                    log.info("releasing pooled association to %s:%d, idle for %g s",
                             self.host, self.port, self.idle_timeout)
                    self._close_slot(slot)
            else:
                await slot.changed.wait()


class _DiscardedError(Exception):
    """Raised inside the connect block so that it aborts instead of releasing."""


async def _notice_end(slot: _Slot) -> None:
    """Wake the keeper when its association ends on its own (peer release or abort)."""
    await _association(slot).wait_closed()
    slot.notify()


def _association(slot: _Slot) -> Association:
    assert slot.association is not None
    return slot.association


def _still_usable(exc: BaseException) -> bool:
    """Whether an association may be reused after its holder raised ``exc``.

    A cancelled holder may have left a request outstanding, and a dicomnet error means
    the association itself went wrong; an error of the caller's own (or a context not
    negotiated) leaves it as it was.
    """
    if not isinstance(exc, Exception):
        return False
    if isinstance(exc, NegotiationError):
        return True
    return not isinstance(exc, DicomNetError)
