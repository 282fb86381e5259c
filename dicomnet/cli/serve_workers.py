"""``dicomnet serve --workers N``: N processes serving one port, each with its own loop.

One Python process runs one event loop on one core. To use more, the parent process
binds the port and forks N workers that accept on the socket they inherit (pre-fork),
rather than each worker binding its own socket with ``SO_REUSEPORT``:

- Start-up fails once, the way a single process does: a port in use, an address that
  does not resolve, a bad option or an unusable archive folder are reported by the
  parent before any worker exists, and the "listening" line comes only once every
  worker listens.
- One accept queue: a connection waits for whichever worker is free to take it. With
  ``SO_REUSEPORT`` the kernel hashes each connection to one worker's socket whatever
  that worker is doing, and the connections queued on a worker that dies are reset.
- The parent binds exactly as a single process does (port 0, IPv6, every address of a
  host name); TLS is done by each worker on its connections; a privileged port is
  bound once.

The price of one queue is that a connection wakes every idle worker and one of them
takes it: a few processes, nothing to measure at this scale.

The workers are forked rather than started afresh, so they begin at once with
everything imported; the parent forks with no other thread and no event loop running.
It opens the archive once before forking (removing what interrupted transfers left
and creating or upgrading the index), then closes it: each worker opens its own, and
when a worker dies the parent removes the files it was receiving (named by its pid). With
SQLite, the workers share ``DATA/index.sqlite`` as separate processes could always
share it: WAL mode, ``BEGIN IMMEDIATE`` so that one writer at a time holds the lock,
a busy timeout, and every wait in the archive's worker threads, never on the loop
(:mod:`dicomnet.archive.index`, :mod:`dicomnet.archive.worker`). A filing holds the
lock for the rename and one row's writes, so the workers rarely wait on each other;
a separate index process would cost a round trip between processes for every
instance to save a lock wait that is short already.

The parent supervises without an event loop: it waits for signals. A worker that
dies unexpectedly is logged and replaced (at most ``MAX_RESTARTS`` in
``RESTART_WINDOW`` seconds, beyond which the server stops, exit status 1: a worker
that dies at once would otherwise be restarted for ever). SIGTERM or SIGINT is passed
on to every worker as SIGTERM, and each drains its associations within the grace
period as a single process does; the parent exits when all have. A second signal is
passed on as :data:`STOP_NOW`, which stops them at once. Workers ignore SIGINT
itself, and a SIGTERM after the first: Ctrl-C in a terminal, or a service manager
stopping the service, reaches every process of the group, and then the parent's
signals are the ones that count.

Admission across workers: ``--max-associations`` and
``--max-associations-per-address`` are counted in shared memory for the whole server
(:mod:`dicomnet.worker_books`); a dead worker's share is given back by the parent.
The pending-connection bounds are shared out instead (each worker gets its part of
``--max-pending`` and ``--max-pending-per-address``): making room cuts a worker's
own oldest pending connection, and a worker cannot cut another's, so the sum of the
parts is the bound. The login throttle (``--users``) counts failures for the whole
server too (:mod:`dicomnet.shared_throttle`).

Every worker logs to the same stderr, each line tagged ``[worker N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from dicomnet.archive import Archive
    from dicomnet.server import Server
    from dicomnet.shared_throttle import SharedLoginThrottle
    from dicomnet.worker_books import SharedBooks

log = logging.getLogger("dicomnet.cli")

#: Restarts of dead workers allowed within RESTART_WINDOW seconds.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
#: After the grace period, how long the parent waits for the workers' own aborts
#: before it kills them.
_KILL_AFTER = 10.0
#: How long the workers may take to listen after the fork.
_START_TIMEOUT = 60.0
_MAX_WORKERS = 256
_SUPERVISED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
#: What the parent sends its workers for a second signal: stop at once. Not SIGTERM
#: again: a worker may get SIGTERM both from the parent and from whoever signalled
#: the whole process group (a service manager does), which must not count as two.
STOP_NOW = signal.SIGUSR1


def worker_count(text: str) -> int:
    """``--workers``: a number of processes, or ``auto`` for the usable cores."""
    if text == "auto":
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            return os.cpu_count() or 1
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor 'auto'"
                                         ) from None
    if not 1 <= count <= _MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be 1 to {_MAX_WORKERS}, or 'auto'")
    return count


def add_workers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=worker_count, default=1, metavar="N|auto",
        help="serve with N processes, each with its own event loop, to use N cores; "
             "'auto': one per core this process may use (default 1: one process). "
             "The first process binds the port once and supervises: a worker that "
             "dies is logged and replaced, and Ctrl-C or SIGTERM drains every worker. "
             "--max-associations, --max-associations-per-address and the --users "
             "login throttle count for the whole server; the --max-pending bounds "
             "are shared out among the workers. The workers share the archive "
             "folder and its SQLite index (one writer at a time); log lines are "
             "tagged with the worker's number")


@dataclass(frozen=True)
class Serving:
    """What the workers need of :mod:`dicomnet.cli.serve`, handed in (that module
    imports this one)."""

    #: The server, archive and TLS context for the arguments, or an exit status.
    build: Callable[..., tuple[Server, Archive | None, ssl.SSLContext | None] | int]
    #: Serve until a signal: ``serve(server, args, ssl_context, announce, sockets=,
    #: signals=, stop_now=)``.
    serve: Callable[..., Awaitable[None]]
    #: The line printed once every worker listens.
    listening_line: Callable[..., str]
    #: Report a port that cannot be bound; the exit status.
    cannot_listen: Callable[[argparse.Namespace, OSError], int]


def run_workers(args: argparse.Namespace, serving: Serving) -> int:
    """``dicomnet serve`` with ``args.workers`` processes (see the module text)."""
    # Every error a single process would report, reported once, here; and the
    # archive's start-up work (sweeping, creating the index) done once.
    built = serving.build(args)
    if isinstance(built, int):
        return built
    _server, archive, ssl_context = built
    if archive is not None:
        archive.close()
    try:
        sockets = _bind(args.host, args.port)
    except (OSError, BaseExceptionGroup) as exc:
        error = _only_os_error(exc)
        if error is None:
            raise
        return serving.cannot_listen(args, error)
    port = sockets[0].getsockname()[1]
    books = None
    if args.max_associations is not None or args.max_associations_per_address is not None:
        from dicomnet.worker_books import SharedBooks

        books = SharedBooks(args.workers)
    throttle = None
    if args.users:
        from dicomnet.shared_throttle import SharedLoginThrottle

        throttle = SharedLoginThrottle()
    supervisor = _Supervisor(args, serving, sockets, books=books,
                             incoming=None if archive is None else archive.incoming,
                             throttle=throttle)
    try:
        code = supervisor.start()
        if code is not None:
            return code
        print(serving.listening_line(args, port, archive, ssl_context,
                             f", {args.workers} workers"), flush=True)
        return supervisor.supervise()
    finally:
        supervisor.close()
        for sock in sockets:
            sock.close()
        if books is not None:
            books.close()
        if throttle is not None:
            throttle.close()


def _bind(host: str, port: int) -> list[socket.socket]:
    """Bind and listen as a single ``serve`` does (anyio's listener: every address of
    ``host``, one port for all), and keep copies of the sockets for the workers."""
    import anyio
    from anyio.abc import SocketAttribute

    async def bind() -> list[socket.socket]:
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        try:
            return [one.extra(SocketAttribute.raw_socket).dup()
                    for one in listener.listeners]
        finally:
            await listener.aclose()

    return anyio.run(bind)


class _Supervisor:
    """The parent's side: forks the workers, passes signals on, replaces the dead."""

    def __init__(self, args: argparse.Namespace, serving: Serving,
                 sockets: list[socket.socket], *, books: SharedBooks | None,
                 incoming: Path | None, throttle: SharedLoginThrottle | None) -> None:
        self.args = args
        self.throttle = throttle
        self.incoming = incoming  # the archive's folder of data sets being received
        self.serving = serving
        self.sockets = sockets
        self.books = books
        self.pids: dict[int, int] = {}  # worker number -> pid
        self.restarts: deque[float] = deque()
        self.stopping_since: float | None = None
        self.failed = False
        self._ready_read, self._ready_write = os.pipe()
        os.set_blocking(self._ready_read, False)
        self._parent = os.getpid()

    def close(self) -> None:
        for pid in self.pids.values():  # only if the parent itself failed
            _signal(pid, signal.SIGKILL)
        os.close(self._ready_read)
        os.close(self._ready_write)
        # A signal that came after the last worker stopped has nothing left to stop:
        # taken here, it does not kill the parent (and change its exit status) when
        # unblocked.
        while signal.sigtimedwait(_SUPERVISED, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SUPERVISED)

    def start(self) -> int | None:
        """Fork every worker and wait until each listens; the exit status if one
        could not start (the others are stopped)."""
        # Blocked, the signals wait for sigtimedwait(); the workers unblock them.
        signal.pthread_sigmask(signal.SIG_BLOCK, _SUPERVISED)
        if threading.active_count() > 1:  # pragma: no cover - a bug of ours
            log.warning("forking workers with %d threads running",
                        threading.active_count())
        for number in range(1, self.args.workers + 1):
            self._fork(number)
        ready: set[int] = set()
        deadline = time.monotonic() + _START_TIMEOUT
        while len(ready) < self.args.workers:
            if time.monotonic() > deadline:
                log.error("the workers did not start within %g s", _START_TIMEOUT)
                return self._stop_all(1)
            select.select([self._ready_read], [], [], 0.1)
            ready.update(self._ready())
            for number, _pid, status in self._reap():
                log.error("worker %d could not start (%s)", number, _how(status))
                code = os.waitstatus_to_exitcode(status)
                return self._stop_all(code if code > 0 else 1)
        return None

    def _stop_all(self, code: int) -> int:
        for pid in self.pids.values():
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.args.grace + _KILL_AFTER
        while self.pids and time.monotonic() < deadline:
            time.sleep(0.05)
            self._reap()
        return code

    def supervise(self) -> int:
        """Until every worker has stopped after a signal."""
        while self.pids:
            info = signal.sigtimedwait(_SUPERVISED, 0.5)
            if info is not None and info.si_signo != signal.SIGCHLD:
                self._pass_on(signal.Signals(info.si_signo))
            for number, pid, status in self._reap():
                self._after_death(number, pid, status)
            for number in self._ready():
                log.info("worker %d listening (pid %d)", number, self.pids.get(number, 0))
            if self.stopping_since is not None and self.pids and time.monotonic() \
                    > self.stopping_since + self.args.grace + _KILL_AFTER:
                log.error("killing %d worker(s) that did not stop", len(self.pids))
                for pid in self.pids.values():
                    _signal(pid, signal.SIGKILL)
                self.stopping_since = time.monotonic()  # then wait for them
        return 1 if self.failed else 0

    def _pass_on(self, signum: signal.Signals) -> None:
        passed = signal.SIGTERM
        if self.stopping_since is None:
            log.warning("%s received: stopping %d worker(s) (grace %g s)", signum.name,
                        len(self.pids), self.args.grace)
            self.stopping_since = time.monotonic()
            # Our copies too: once the workers close theirs, new connections are
            # refused at once instead of waiting in a queue nobody takes from.
            for sock in self.sockets:
                sock.close()
        else:
            log.warning("second signal: stopping the workers now")
            passed = STOP_NOW
        for pid in self.pids.values():
            _signal(pid, passed)

    def _after_death(self, number: int, pid: int, status: int) -> None:
        if self.stopping_since is not None:
            log.info("worker %d (pid %d) stopped (%s)", number, pid, _how(status))
            return
        now = time.monotonic()
        while self.restarts and self.restarts[0] < now - RESTART_WINDOW:
            self.restarts.popleft()
        if len(self.restarts) >= MAX_RESTARTS:
            log.error("worker %d (pid %d) %s; %d restarts within %g s already: "
                      "stopping the server", number, pid, _how(status), MAX_RESTARTS,
                      RESTART_WINDOW)
            self.failed = True
            self._pass_on(signal.SIGTERM)
            return
        self.restarts.append(now)
        log.warning("worker %d (pid %d) %s; starting another", number, pid, _how(status))
        self._fork(number)

    def _reap(self) -> list[tuple[int, int, int]]:
        """The workers that have exited: (number, pid, wait status); their shares of
        the association counts are given back."""
        gone = []
        while self.pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            number = next((n for n, p in self.pids.items() if p == pid), None)
            if number is None:
                continue
            del self.pids[number]
            self._sweep(pid)
            if self.books is not None:
                held = self.books.reset(number)
                if held:
                    log.info("worker %d held %d association(s); given back", number, held)
            gone.append((number, pid, status))
        return gone

    def _sweep(self, pid: int) -> None:
        """Remove what a worker that has exited was receiving (a worker that stops
        cleanly leaves nothing; a killed one leaves its files, named by its pid)."""
        if self.incoming is None:
            return
        left = list(self.incoming.glob(f"{pid}-*.part"))
        for path in left:
            path.unlink(missing_ok=True)
        if left:
            log.warning("removed %d file(s) worker process %d was receiving", len(left), pid)

    def _ready(self) -> list[int]:
        """Worker numbers that have said they listen, since the last call."""
        try:
            return list(os.read(self._ready_read, 4096))
        except BlockingIOError:
            return []

    def _fork(self, number: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            code = 1
            try:
                code = _worker(self, number)
            except BaseException:
                log.exception("worker %d failed", number)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.pids[number] = pid
        log.info("worker %d started (pid %d)", number, pid)


def _worker(supervisor: _Supervisor, number: int) -> int:
    """One worker process: its own server, archive and event loop on the inherited
    sockets, until SIGTERM."""
    import anyio

    from dicomnet.cli.common import setup_logging

    args = supervisor.args
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent passes Ctrl-C on
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    _die_with(supervisor._parent)
    os.close(supervisor._ready_read)
    setup_logging(args, tag=f"[worker {number}]")
    built = supervisor.serving.build(args, sweep=False)
    if isinstance(built, int):
        return built
    server, archive, ssl_context = built
    books = server.admission
    # Each worker's part of the pending bounds (see the module text).
    books.max_pending = max(1, args.max_pending // args.workers)
    books.max_pending_per_address = max(1, args.max_pending_per_address // args.workers)
    if supervisor.books is not None:
        books.shared = supervisor.books.for_worker(
            number, args.max_associations, args.max_associations_per_address)
        books.max_associations = books.max_associations_per_address = None
    if supervisor.throttle is not None:
        from dicomnet.user_identity import PasscodeFile

        if isinstance(server.authenticate, PasscodeFile):
            server.authenticate.throttle = supervisor.throttle

    def announce(_port: int) -> None:
        os.write(supervisor._ready_write, bytes([number % 256]))

    try:
        anyio.run(partial(supervisor.serving.serve, server, args, ssl_context, announce,
                          sockets=supervisor.sockets, signals=(signal.SIGTERM,),
                          stop_now=(STOP_NOW,)))
    finally:
        if archive is not None:
            archive.close()
    return 0


def _only_os_error(exc: BaseException) -> OSError | None:
    """The OSError ``exc`` is, or the one a group of exceptions holds alone."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, OSError) else None


def _die_with(parent: int) -> None:
    """Have the kernel send this worker SIGTERM if the parent dies (Linux), so that no
    worker goes on serving without its supervisor."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # it died before the prctl
        os.kill(os.getpid(), signal.SIGTERM)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _how(status: int) -> str:
    """How a worker ended, from its wait status."""
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
