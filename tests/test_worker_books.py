"""Association counts shared by the processes of ``serve --workers``
(:mod:`dicomnet.worker_books`): bounds for the whole server, a dead worker's share
given back, and a lock that a dead holder cannot keep."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator

import pytest

from dicomnet.admission import ASSOCIATION_ADDRESS_LIMIT, ASSOCIATION_LIMIT, Admission
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
