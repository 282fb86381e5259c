"""Counts shared by the processes of ``serve --workers``: associations
(:mod:`dicomnet.worker_books`: bounds for the whole server, a dead worker's share
given back, a lock that a dead holder cannot keep) and login failures
(:mod:`dicomnet.shared_throttle`)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator

import pytest

from dicomnet.admission import ASSOCIATION_ADDRESS_LIMIT, ASSOCIATION_LIMIT, Admission
from dicomnet.login_throttle import address_key, username_key
from dicomnet.shared_throttle import SETS, WAYS, SharedLoginThrottle
from dicomnet.worker_books import SharedBooks


@pytest.fixture
def books() -> Iterator[SharedBooks]:
    shared = SharedBooks(2)
    yield shared
    shared.close()


def test_the_bound_holds_for_all_workers_together(books: SharedBooks) -> None:
    first, second = books.for_worker(1, 3, None), books.for_worker(2, 3, None)
    assert [first.take("10.0.0.1"), second.take("10.0.0.2"), second.take("10.0.0.3")] \
        == [None, None, None]
    assert first.take("10.0.0.4") == ASSOCIATION_LIMIT
    assert second.take("10.0.0.4") == ASSOCIATION_LIMIT
    assert (books.associations(), books.associations(1), books.associations(2)) == (3, 1, 2)
    second.give_back("10.0.0.2")
    assert first.take("10.0.0.4") is None
    assert books.associations() == 3


def test_the_per_address_bound_holds_for_all_workers_together(books: SharedBooks) -> None:
    first, second = books.for_worker(1, None, 2), books.for_worker(2, None, 2)
    assert first.take("10.0.0.1") is None and second.take("10.0.0.1") is None
    assert first.take("10.0.0.1") == ASSOCIATION_ADDRESS_LIMIT
    assert second.take("10.0.0.1") == ASSOCIATION_ADDRESS_LIMIT
    assert second.take("10.0.0.9") is None  # another address has its own count
    first.give_back("10.0.0.1")
    assert second.take("10.0.0.1") is None


def test_a_dead_workers_share_is_given_back(books: SharedBooks) -> None:
    first, second = books.for_worker(1, 2, 1), books.for_worker(2, 2, 1)
    assert first.take("10.0.0.1") is None and first.take("10.0.0.2") is None
    assert second.take("10.0.0.3") == ASSOCIATION_LIMIT
    assert books.reset(1) == 2
    assert books.associations() == 0
    assert second.take("10.0.0.1") is None  # its address count went too
    first.give_back("10.0.0.1")  # late, after the reset: changes nothing
    assert (books.associations(), books.associations(2)) == (1, 1)


def test_the_counts_are_shared_with_forked_processes(books: SharedBooks) -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            child = books.for_worker(2, 5, None)
            code = 0 if child.take("10.0.0.1") is None else 1
            books._lock()  # dies holding the lock
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert books.associations(2) == 1
    # The kernel let go of the dead child's lock: taking it now does not wait.
    fcntl.lockf(books._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.lockf(books._file.fileno(), fcntl.LOCK_UN)
    assert books.reset(2) == 1 and books.associations() == 0


def test_admission_counts_with_the_shared_books(books: SharedBooks) -> None:
    admission = Admission(max_associations=None)
    admission.shared = books.for_worker(1, 1, None)
    other = books.for_worker(2, 1, None)
    first, _ = admission.arrive("10.0.0.1", 0.0)
    second, _ = admission.arrive("10.0.0.2", 0.0)
    assert admission.request_complete(first) is None
    assert admission.request_complete(second) == ASSOCIATION_LIMIT
    assert other.take("10.0.0.3") == ASSOCIATION_LIMIT
    admission.leave(first)
    assert books.associations() == 0
    assert admission.request_complete(second) is None
    assert admission.rejected(second) is None  # refused after all: given back
    assert books.associations() == 0
    admission.leave(second)
    assert books.associations() == 0


def test_the_login_throttle_counts_failures_of_every_worker() -> None:
    throttle = SharedLoginThrottle()
    keys = (username_key(b"alice"), address_key("10.0.0.1"))
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child: another worker
            code = 1
            try:
                for _failure in range(3):
                    throttle.failed(keys, 100.0)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert throttle.delay(keys, 101.0) == 1.0  # 0.25 s x 2^(3-1)
        assert throttle.delay((username_key(b"bob"),), 101.0) == 0.0
        assert throttle.delay(keys, 100.0 + throttle.forget_after) == 0.0
        throttle.succeeded(keys[0])  # the address's count stays
        assert throttle.delay((keys[0],), 101.0) == 0.0
        assert throttle.delay(keys, 101.0) == 1.0
    finally:
        throttle.close()


def test_a_full_set_of_the_throttle_forgets_its_oldest_failure() -> None:
    throttle = SharedLoginThrottle()
    try:
        # Keys that fall into one set of the table: more of them than it has ways.
        target = SharedLoginThrottle._digest(b"alice") % SETS
        same_set = [key for key in (f"u{n}".encode() for n in range(200_000))
                    if SharedLoginThrottle._digest(key) % SETS == target][:WAYS]
        assert len(same_set) == WAYS
        throttle.failed((b"alice",), 1.0)
        for when, key in enumerate(same_set, start=2):
            throttle.failed((key,), float(when))
        assert throttle.delay((b"alice",), 10.0) == 0.0  # the oldest, forgotten
        assert all(throttle.delay((key,), 10.0) == 0.25 for key in same_set)
        assert len(throttle) == WAYS
    finally:
        throttle.close()
